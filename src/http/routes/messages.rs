//! The outbox for operators (messages, retries, templates) and a customer's own switch.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::page_limit;
use crate::auth::{Permission, Principal};
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::messaging::{
    self, MessageView, MessagingPreference, PreferenceInput, TemplateInput, TemplateView,
};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// The messaging routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_messages))
        .routes(routes!(retry_message))
        .routes(routes!(list_templates))
        .routes(routes!(save_template))
        .routes(routes!(set_my_preference))
}

/// Which messages, and a page of them.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// `queued`, `sending`, `sent`, `delivered`, `read`, `failed`, `dead` or
    /// `suppressed`; all when absent.
    status: Option<String>,
    /// How many (1–500, default 50).
    limit: Option<i64>,
    /// Only messages with a smaller id than this (the previous page's last `id`).
    before_id: Option<i64>,
}

/// The outbox, newest first; phones masked, verification codes never shown. Needs
/// `view-mlm-reports`.
#[utoipa::path(get, path = "/api/messages", tag = "messages", security(("bearer" = [])),
    params(MessageParams),
    responses((status = 200, body = Vec<MessageView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<MessageParams>,
) -> Result<Json<Vec<MessageView>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(
        messaging::list(&state.db, params.status.as_deref(), limit, params.before_id).await?,
    ))
}

/// Sends a dead message again, with a fresh set of attempts. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/messages/{id}/retry", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message's id")),
    responses((status = 202, description = "Queued"), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "message_not_found"),
              (status = 409, body = ErrorBody, description = "message_not_retryable")))]
async fn retry_message(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    principal.require(Permission::ManageMlmSettings)?;
    messaging::retry(&state.db, id).await?;
    state.outbox.notify_one();
    Ok(StatusCode::ACCEPTED)
}

/// Every message template, with its variables and the SMS segments of its texts. Needs
/// `view-mlm-reports`.
#[utoipa::path(get, path = "/api/message-templates", tag = "messages", security(("bearer" = [])),
    responses((status = 200, body = Vec<TemplateView>), (status = 403, body = ErrorBody)))]
async fn list_templates(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<TemplateView>>> {
    principal.require(Permission::ViewMlmReports)?;
    Ok(Json(messaging::templates(&state.db).await?))
}

/// Replaces a message template. Both texts are checked: only the kind's variables, written
/// `{name}`, and `{code}` before any other. Needs `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/message-templates/{key}", tag = "messages", security(("bearer" = [])),
    params(("key" = String, Path, description = "share_nudge, referral_completed, reward_released, verification_code, agent_invitation or share_message")),
    request_body = TemplateInput,
    responses((status = 200, body = TemplateView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "template_not_found"),
              (status = 422, body = ErrorBody, description = "invalid_template")))]
async fn save_template(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Json(body): Json<TemplateInput>,
) -> Result<Json<TemplateView>> {
    principal.require(Permission::ManageMlmSettings)?;
    let user_id = match &principal {
        Principal::Staff { id, .. } => Some(*id),
        _ => None,
    };
    Ok(Json(
        messaging::save_template(&state.db, &key, body, user_id).await?,
    ))
}

/// The caller opts out of messages (`{optOut: true}`), or back in. A verification code
/// the caller asks for is still sent.
#[utoipa::path(post, path = "/api/loyalty/me/messaging", tag = "messages", security(("bearer" = [])),
    request_body = PreferenceInput,
    responses((status = 200, body = MessagingPreference), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_my_preference(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<PreferenceInput>,
) -> Result<Json<MessagingPreference>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    Ok(Json(messaging::set_preference(&state.db, me, body).await?))
}
