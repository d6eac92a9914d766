//! What couriers report back: Steadfast's and Pathao's webhooks, and the events no order
//! claimed yet.
//!
//! The webhooks carry no Bondhu token: each authenticates by its courier's secret
//! (compared in constant time), and fails closed: with no secret configured the route
//! answers 503 `webhook_not_configured` and keeps nothing; a wrong secret is 401
//! `invalid_signature`, and nothing is kept either.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::page_limit;
use crate::auth::{Permission, Principal, constant_time_eq};
use crate::db::couriers::UnmatchedEvent;
use crate::domain::courier::{Courier, PathaoNotice, parse_pathao, parse_steadfast};
use crate::error::{Code, Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Query, refuse_nul_in_json};
use crate::service::couriers::{self, Receipt};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// The header Pathao's panel asks every answer to carry.
const PATHAO_INTEGRATION_HEADER: HeaderName =
    HeaderName::from_static("x-pathao-merchant-webhook-integration-secret");

/// The courier routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(steadfast_webhook))
        .routes(routes!(pathao_webhook))
        .routes(routes!(list_unmatched_events))
}

/// The answer couriers read: Steadfast documents `{"status":"success","message":"Webhook
/// received successfully."}`; `outcome` says what Bondhu did with the event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CourierAck {
    /// `success`.
    #[schema(example = "success")]
    status: &'static str,
    /// `Webhook received successfully.`
    #[schema(example = "Webhook received successfully.")]
    message: &'static str,
    /// What became of the event (absent for Pathao's handshake).
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Receipt>,
}

impl CourierAck {
    fn new(outcome: Option<Receipt>) -> Self {
        Self {
            status: "success",
            message: "Webhook received successfully.",
            outcome,
        }
    }
}

/// Steadfast's webhook: `delivery_status` and `tracking_update` notifications. Needs
/// `Authorization: Bearer <STEADFAST_WEBHOOK_TOKEN>` (the token set in Steadfast's webhook
/// form). A repeated delivery is answered the same and changes nothing.
#[utoipa::path(post, path = "/api/webhooks/couriers/steadfast", tag = "couriers",
    request_body(content = Object, description = "Steadfast's notification (JSON)", content_type = "application/json"),
    responses((status = 200, body = CourierAck),
              (status = 401, body = ErrorBody, description = "invalid_signature: the bearer token is missing or wrong; nothing kept"),
              (status = 422, body = ErrorBody, description = "validation_failed: a field the event needs is missing; nothing kept"),
              (status = 503, body = ErrorBody, description = "webhook_not_configured (no STEADFAST_WEBHOOK_TOKEN), or the database is unavailable; nothing kept")))]
async fn steadfast_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<CourierAck>> {
    let Some(token) = &state.config.couriers.steadfast_token else {
        return Err(not_configured("STEADFAST_WEBHOOK_TOKEN"));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map(|(_, token)| token.trim());
    if !secret_matches(token, given) {
        return Err(Error::new(
            Code::InvalidSignature,
            "The Authorization bearer token is missing or does not match",
        ));
    }
    let payload = read_payload(body)?;
    let delivery = parse_steadfast(&payload).map_err(|p| p.into_error(Code::ValidationFailed))?;
    let received =
        couriers::receive(&state.db, &delivery, &payload, &kept_headers(&headers)).await?;
    Ok(Json(CourierAck::new(Some(received.receipt))))
}

/// Pathao's webhook: the integration handshake (`{"event":"webhook_integration"}`) and
/// the order events. `X-PATHAO-Signature` must equal `PATHAO_WEBHOOK_SECRET` (Pathao sends
/// the secret set in its webhook form verbatim). Every accepted request is answered 202
/// with `X-Pathao-Merchant-Webhook-Integration-Secret`, as Pathao's panel asks.
#[utoipa::path(post, path = "/api/webhooks/couriers/pathao", tag = "couriers",
    request_body(content = Object, description = "Pathao's event (JSON)", content_type = "application/json"),
    responses((status = 202, body = CourierAck,
               headers(("X-Pathao-Merchant-Webhook-Integration-Secret" = String, description = "PATHAO_WEBHOOK_INTEGRATION_SECRET"))),
              (status = 401, body = ErrorBody, description = "invalid_signature: X-PATHAO-Signature is missing or wrong; nothing kept"),
              (status = 422, body = ErrorBody, description = "validation_failed: a field the event needs is missing; nothing kept"),
              (status = 503, body = ErrorBody, description = "webhook_not_configured (no PATHAO_WEBHOOK_SECRET), or the database is unavailable; nothing kept")))]
async fn pathao_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse> {
    let config = &state.config.couriers;
    let Some(secret) = &config.pathao_secret else {
        return Err(not_configured("PATHAO_WEBHOOK_SECRET"));
    };
    let given = headers
        .get("x-pathao-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if !secret_matches(secret, given) {
        return Err(Error::new(
            Code::InvalidSignature,
            "X-PATHAO-Signature is missing or does not match",
        ));
    }
    let payload = read_payload(body)?;
    let outcome = match parse_pathao(&payload).map_err(|p| p.into_error(Code::ValidationFailed))? {
        // The handshake is no event: nothing is kept.
        PathaoNotice::Integration => None,
        PathaoNotice::Event(delivery) => Some(
            couriers::receive(&state.db, &delivery, &payload, &kept_headers(&headers))
                .await?
                .receipt,
        ),
    };
    let integration = HeaderValue::from_str(config.pathao_integration_secret.expose_secret())
        .map_err(|e| Error::Internal(anyhow::Error::new(e)))?;
    Ok((
        StatusCode::ACCEPTED,
        [(PATHAO_INTEGRATION_HEADER, integration)],
        Json(CourierAck::new(outcome)),
    ))
}

/// Which unmatched events, and a page of them.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnmatchedParams {
    /// `steadfast` or `pathao`; both when absent.
    courier: Option<Courier>,
    /// How many (1–500, default 50).
    limit: Option<i64>,
    /// Only events with a smaller id than this (the previous page's last `id`).
    before_id: Option<i64>,
}

/// Courier events whose consignment no order has yet, newest first. Each is settled, in
/// the courier's time order, when `PUT /api/orders/:id` links the consignment. Needs
/// `edit-sales-orders` (who links parcels).
#[utoipa::path(get, path = "/api/webhooks/couriers/unmatched", tag = "couriers", security(("bearer" = []), ("api_key" = [])),
    params(UnmatchedParams),
    responses((status = 200, body = Vec<UnmatchedEvent>), (status = 403, body = ErrorBody)))]
async fn list_unmatched_events(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<UnmatchedParams>,
) -> Result<Json<Vec<UnmatchedEvent>>> {
    principal.require(Permission::EditSalesOrders)?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(
        couriers::list_unmatched(&state.db, params.courier, limit, params.before_id).await?,
    ))
}

fn not_configured(variable: &str) -> Error {
    Error::new(
        Code::WebhookNotConfigured,
        format!("{variable} is not configured: the webhook refuses every request"),
    )
}

/// Whether the caller's secret is the configured one. Both are hashed first, so the
/// comparison takes the same time whatever their lengths and wherever they differ.
fn secret_matches(expected: &SecretString, given: Option<&str>) -> bool {
    let Some(given) = given else {
        return false;
    };
    let expected = Sha256::digest(expected.expose_secret().as_bytes());
    let given = Sha256::digest(given.as_bytes());
    constant_time_eq(&expected, &given)
}

/// The body as JSON: an object, without NULs (the inbox keeps it as `jsonb`).
fn read_payload(body: std::result::Result<Bytes, BytesRejection>) -> Result<Value> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::new(Code::PayloadTooLarge, "The request body is too large")
        } else {
            Error::new(Code::UnreadableBody, rejection.body_text())
        }
    })?;
    let payload: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            Code::MalformedJson,
            format!("The request body is not valid JSON: {e}"),
        )
    })?;
    refuse_nul_in_json(&bytes)?;
    if !payload.is_object() {
        return Err(Error::new(
            Code::InvalidBody,
            "The body must be a JSON object",
        ));
    }
    Ok(payload)
}

/// Names of headers that carry credentials, never kept.
const SECRET_HEADER_WORDS: [&str; 6] = [
    "authorization",
    "cookie",
    "signature",
    "secret",
    "token",
    "key",
];

/// The request's headers as a JSON object, without any that could carry a credential.
fn kept_headers(headers: &HeaderMap) -> Value {
    let mut kept = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if SECRET_HEADER_WORDS.iter().any(|word| name.contains(word)) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).replace('\0', "");
        match kept.get_mut(name) {
            Some(Value::String(first)) => {
                first.push_str(", ");
                first.push_str(&value);
            }
            _ => {
                kept.insert(name.to_owned(), Value::String(value));
            }
        }
    }
    Value::Object(kept)
}
