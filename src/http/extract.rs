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
use crate::auth::{Principal, TokenSubject};
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
            Ok(value) => {
                refuse_nul_in_json(&bytes)?;
                Ok(Self(value))
            }
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

/// What every NUL refusal says about the field.
const NUL_MESSAGE: &str = "must not contain a NUL character (U+0000)";

/// Refuses a body with a NUL (U+0000) in any string or key: Postgres cannot store one in
/// text. serde_json refuses raw control characters, so a NUL can only come as the escape
/// `\u0000`; bodies without that byte sequence (nearly all) are not walked at all.
pub(crate) fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), Error> {
    const ESCAPE: &[u8] = b"\\u0000";
    if !bytes.windows(ESCAPE.len()).any(|window| window == ESCAPE) {
        return Ok(());
    }
    // The sequence may be an escaped backslash followed by `u0000` (`"\\u0000"` in the body), which is
    // no NUL: only the parsed strings can tell.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match nul_path(&value, String::new()) {
        Some(path) => Err(Error::invalid_field(field_name(&path), NUL_MESSAGE)),
        None => Ok(()),
    }
}

/// The path (`items[0].name`, as serde_path_to_error writes it) of the first string or
/// key under `value` that holds a NUL; `body` when it is the whole body.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(if path.is_empty() {
            "body".to_owned()
        } else {
            path
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let key_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(key_path)
            } else {
                nul_path(item, key_path)
            }
        }),
        _ => None,
    }
}

/// `name` as a field name of an error: a NUL is written `\u0000`, and a name longer than
/// 64 bytes (a client's own key) is reported as `request`.
fn field_name(name: &str) -> String {
    let name = name.replace('\0', "\\u0000");
    if name.len() > 64 {
        "request".to_owned()
    } else {
        name
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

/// Path parameters. A malformed one, or one with a NUL (`%00`), is a 400
/// `invalid_path_parameter` whose message starts with the parameter's name.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A NUL can only arrive percent-encoded; only then are the parameters decoded twice.
        if parts.uri.path().contains("%00")
            && let Ok(params) = axum::extract::RawPathParams::from_request_parts(parts, state).await
            && let Some((name, _)) = params.iter().find(|(_, value)| value.contains('\0'))
        {
            return Err(
                Error::new(Code::InvalidPathParameter, format!("{name}: {NUL_MESSAGE}"))
                    .for_field(name),
            );
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Query parameters. A NUL (`%00`) in a key or value is a 422 `validation_failed` naming
/// the key in `fields`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(|query| query.contains("%00"))
            && let Ok(axum::extract::Query(pairs)) =
                axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            && let Some((key, _)) = pairs
                .iter()
                .find(|(key, value)| key.contains('\0') || value.contains('\0'))
        {
            return Err(Error::invalid_field(field_name(key), NUL_MESSAGE));
        }
        let axum::extract::Query(value) = axum::extract::Query::<T>::try_from_uri(&parts.uri)?;
        Ok(Self(value))
    }
}

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
        let span = tracing::Span::current();
        match subject {
            TokenSubject::Customer(id) => {
                span.record("user.kind", "customer").record("user.id", id)
            }
            TokenSubject::User(id) => span.record("user.kind", "staff").record("user.id", id),
            TokenSubject::Partner(id) => span
                .record("user.kind", "partner")
                .record("user.id", tracing::field::display(id)),
        };
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
