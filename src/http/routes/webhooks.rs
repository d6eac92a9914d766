//! What providers report back: WhatsApp's webhook (the subscription handshake, delivery
//! statuses, and a customer's STOP).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{Code, Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Query};
use crate::providers::whatsapp;
use crate::service::messaging;

/// The webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(whatsapp_handshake, whatsapp_notification))
}

/// Meta's subscription handshake.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    /// `subscribe`.
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    mode: Option<String>,
    /// Must equal `WHATSAPP_VERIFY_TOKEN`.
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    verify_token: Option<String>,
    /// Echoed back when the token matches.
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// The subscription handshake: echoes `hub.challenge` when `hub.verify_token` is
/// `WHATSAPP_VERIFY_TOKEN`. Refused (403) when it is not, or when no token is configured.
#[utoipa::path(get, path = "/api/webhooks/whatsapp", tag = "messages",
    params(Handshake),
    responses((status = 200, body = String, description = "The challenge"), (status = 403, body = ErrorBody)))]
async fn whatsapp_handshake(
    State(state): State<AppState>,
    Query(params): Query<Handshake>,
) -> Result<String> {
    let expected = state
        .config
        .whatsapp_verify_token
        .as_ref()
        .map(|t| t.expose_secret());
    whatsapp::verify_subscription(
        expected,
        params.mode.as_deref(),
        params.verify_token.as_deref(),
        params.challenge.as_deref(),
    )
    .map(str::to_owned)
    .ok_or_else(|| Error::new(Code::WebhookRefused, "The verify token does not match"))
}

/// What a notification changed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationOutcome {
    /// Statuses recorded on a message this server sent.
    pub statuses: usize,
    /// Phones that sent STOP and were opted out.
    pub opted_out: usize,
    /// Events about nothing this server knows (another app's messages), ignored.
    pub ignored: usize,
}

/// A notification: delivery statuses (`sent`, `delivered`, `read`, `failed`) are recorded
/// on the message, and a STOP from a customer opts their phone out. The body must carry a
/// valid `X-Hub-Signature-256` under `WHATSAPP_APP_SECRET`; without a configured secret
/// every notification is refused (the route fails closed).
#[utoipa::path(post, path = "/api/webhooks/whatsapp", tag = "messages",
    request_body(content = String, description = "Meta's webhook notification (JSON)", content_type = "application/json"),
    responses((status = 200, body = NotificationOutcome),
              (status = 401, body = ErrorBody, description = "invalid_signature"),
              (status = 403, body = ErrorBody, description = "webhook_refused: no app secret configured"),
              (status = 422, body = ErrorBody)))]
async fn whatsapp_notification(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<NotificationOutcome>> {
    let Some(secret) = &state.config.whatsapp_app_secret else {
        return Err(Error::new(
            Code::WebhookRefused,
            "WHATSAPP_APP_SECRET is not configured: notifications are refused",
        ));
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !whatsapp::verify_signature(secret.expose_secret().as_bytes(), &body, signature) {
        return Err(Error::new(
            Code::InvalidSignature,
            "X-Hub-Signature-256 is missing or does not match the body",
        ));
    }
    let events =
        whatsapp::parse_webhook(&body).map_err(|e| Error::new(Code::InvalidBody, e.to_string()))?;
    let outcome = messaging::record_whatsapp_events(&state.db, &events).await?;
    Ok(Json(NotificationOutcome {
        statuses: outcome.statuses,
        opted_out: outcome.opted_out,
        ignored: outcome.ignored,
    }))
}
