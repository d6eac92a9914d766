//! Extractors whose rejections are the JSON error envelope, and the caller's identity.
//!
//! axum's own `Json`, `Path` and `Query` answer bad input with plain text; clippy.toml bans
//! them everywhere but here.
#![expect(clippy::disallowed_types, reason = "this module wraps axum's extractors")]

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use crate::auth::Principal;
use crate::error::Error;

/// A JSON body (request or response).
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct Json<T>(pub T);

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

    /// Reads `Authorization: Bearer <token>` and verifies the token.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| Error::unauthorized("unauthenticated", "Authentication required"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| Error::unauthorized("unauthenticated", "Use Authorization: Bearer <token>"))?;
        let principal = state.jwt.verify(token)?;
        let (kind, id) = match &principal {
            Principal::Customer { id } => ("customer", *id),
            Principal::Staff { id, .. } => ("staff", *id),
        };
        tracing::Span::current().record("user.kind", kind).record("user.id", id);
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

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|len| len == "0")
            || (request.headers().get(axum::http::header::CONTENT_TYPE).is_none()
                && request.headers().get(axum::http::header::TRANSFER_ENCODING).is_none()
                && request.headers().get(axum::http::header::CONTENT_LENGTH).is_none());
        if empty {
            return Ok(Self(None));
        }
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(Self(Some(value)))
    }
}
