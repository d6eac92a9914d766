//! Extractors whose rejections are the JSON error envelope, and the caller's identity.
//!
//! axum's own `Json`, `Path` and `Query` answer bad input with plain text; clippy.toml bans
//! them everywhere but here.
#![expect(
    clippy::disallowed_types,
    reason = "this module wraps axum's extractors"
)]

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use crate::auth::{Principal, TokenKind};
use crate::error::{Code, Error};
use crate::service;

/// A JSON body (request or response).
///
/// As a request body it must be declared `application/json` (else 415), fit the body
/// limit (else 413), be valid JSON (else 400 `malformed_json`) and have the expected
/// shape (else 422 `invalid_body`, naming the field).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|mime| {
                mime.type_() == "application"
                    && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
            });
        if !is_json {
            return Err(Error::new(
                Code::UnsupportedMediaType,
                "The request body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Error::new(Code::PayloadTooLarge, "The request body is too large")
                } else {
                    Error::new(Code::UnreadableBody, rejection.body_text())
                }
            })?;
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(deserializer) {
            Ok(value) => Ok(Self(value)),
            // serde_json can call a well-formed body of the wrong shape a syntax error;
            // only a body that does not parse as any JSON at all is malformed.
            Err(err) if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() => {
                Err(Error::new(
                    Code::MalformedJson,
                    format!("The request body is not valid JSON: {}", err.inner()),
                ))
            }
            Err(err) => Err(Error::new(Code::InvalidBody, describe(&err))),
        }
    }
}

/// `amount: invalid type: string "5", expected a JSON number at line 1 column 13`.
fn describe(err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = err.path().to_string();
    if path == "." {
        err.inner().to_string()
    } else {
        format!("{path}: {}", err.inner())
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

/// Query parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

impl FromRequestParts<AppState> for Principal {
    type Rejection = Error;

    /// Reads `X-Api-Key: <key>` (machine clients) or `Authorization: Bearer <token>`,
    /// verifies it and checks the account behind it.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(key) = parts.headers.get("x-api-key") {
            let key = key
                .to_str()
                .map_err(|_| Error::new(Code::InvalidApiKey, "The API key is not valid"))?;
            let principal =
                service::auth::resolve_api_key(&state.db, &state.principals, key).await?;
            if let Principal::ApiKey { id, .. } = &principal {
                tracing::Span::current()
                    .record("user.kind", "api_key")
                    .record("user.id", id);
            }
            return Ok(principal);
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| Error::new(Code::Unauthenticated, "Authentication required"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                Error::new(Code::Unauthenticated, "Use Authorization: Bearer <token>")
            })?;
        let subject = match state.principals.verified(token) {
            Some(subject) => subject,
            None => {
                let (subject, exp) = state.jwt.verify_with_expiry(token)?;
                state.principals.remember_verified(token, subject, exp);
                subject
            }
        };
        let principal = service::auth::resolve_token(&state.db, &state.principals, subject).await?;
        let kind = match subject.kind {
            TokenKind::Customer => "customer",
            TokenKind::User => "staff",
        };
        tracing::Span::current()
            .record("user.kind", kind)
            .record("user.id", subject.id);
        Ok(principal)
    }
}

/// A JSON body that may be absent altogether (an empty body is `None`), for routes whose
/// body is optional in TrustCart. A present body must be JSON.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let empty = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|len| len == "0")
            || (request
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .is_none()
                && request
                    .headers()
                    .get(axum::http::header::TRANSFER_ENCODING)
                    .is_none()
                && request
                    .headers()
                    .get(axum::http::header::CONTENT_LENGTH)
                    .is_none());
        if empty {
            return Ok(Self(None));
        }
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(Self(Some(value)))
    }
}
