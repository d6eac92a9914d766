//! How an [`Error`] becomes a response: the one JSON error envelope.
//!
//! ```json
//! {"statusCode":422,"error":"Unprocessable Entity","code":"validation_failed",
//!  "message":"amount: must be greater than 0","fields":{"amount":["must be greater than 0"]}}
//! ```
//! `statusCode`, `error` and `message` are the keys NestJS (and so TrustCart's frontend)
//! reads; `code` is what clients branch on. The request id is in the `x-request-id` header.

use std::collections::BTreeMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{Code, Error};

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status, repeated.
    pub status_code: u16,
    /// The status's reason phrase.
    pub error: String,
    /// Machine-readable code (`insufficient_balance`, `phone_taken`, …).
    pub code: String,
    /// Human-readable explanation, safe to show.
    pub message: String,
    /// Per-field messages, for validation failures.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Vec<String>>,
}

impl ErrorBody {
    /// The envelope for `code` (and so its status) with `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        let status = code.status();
        Self {
            status_code: status.as_u16(),
            error: status.canonical_reason().unwrap_or("Error").to_owned(),
            code: code.as_str().to_owned(),
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            // Logged once, here, with the whole cause chain; never sent.
            Self::Internal(err) => tracing::error!(error = format!("{err:#}"), "request failed"),
            Self::Unavailable(err) => tracing::warn!(error = %err, "database unavailable"),
            Self::Api { .. } => {}
        }
        let message = match &self {
            Self::Internal(_) => "Internal server error".to_owned(),
            other => other.to_string(),
        };
        let mut body = ErrorBody::new(self.code(), message);
        let retry_after = match &self {
            Self::Api { retry_after, .. } => retry_after.map(|wait| wait.as_secs().max(1)),
            Self::Unavailable(_) => Some(1),
            Self::Internal(_) => None,
        };
        if let Self::Api { fields, .. } = self {
            body.fields = fields;
        }
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// serde's message without axum's preamble, e.g. `amount: must be greater than 0 at line 1 column 15`.
fn serde_detail(body_text: &str) -> String {
    body_text
        .split_once(": ")
        .map_or(body_text, |(_, detail)| detail)
        .to_owned()
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Self::new(Code::InvalidPathParameter, rejection.body_text())
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(Code::InvalidQuery, serde_detail(&rejection.body_text()))
    }
}
