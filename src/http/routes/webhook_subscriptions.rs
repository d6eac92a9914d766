//! Outbound webhooks for operators: subscriptions to Bondhu's events, secret rotation,
//! the delivery log and re-sends. Every route needs `manage-mlm-settings`.
//! (Inbound webhooks, from providers, are in [`super::webhooks`].)

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
use crate::service::webhooks::{self, DeliveryView, NewSubscription, SubscriptionView};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// The outbound webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_subscription, list_subscriptions))
        .routes(routes!(get_subscription, delete_subscription))
        .routes(routes!(rotate_subscription_secret))
        .routes(routes!(list_subscription_deliveries))
        .routes(routes!(resend_delivery))
}

/// A new subscription. (No `Debug`: it holds the secret.)
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    /// Where to POST events: http or https, no user name or password, no fragment. Its
    /// host must not be (or resolve to) a link-local or cloud-metadata address, nor,
    /// unless `WEBHOOK_ALLOW_PRIVATE`, a private or loopback one.
    url: String,
    /// Event types: `referral.registered`, `referral.completed`, `reward.pending`,
    /// `reward.released`, `reward.voided`, `reward.clawed_back`, `withdrawal.paid`,
    /// `partner.commission_earned`.
    events: Vec<String>,
    /// The signing secret, 16 to 200 characters. Never returned.
    secret: String,
}

/// A new signing secret. (No `Debug`: it holds the secret.)
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// The new secret, 16 to 200 characters; the current one keeps signing for 24 hours.
    secret: String,
}

/// `?limit=&beforeId=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionParams {
    /// How many (1–200, default 50).
    limit: Option<i64>,
    /// Only subscriptions with a smaller id (the previous page's last `id`).
    before_id: Option<i64>,
}

/// `?status=&limit=&beforeId=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// `queued`, `sending`, `delivered`, `dead` or `cancelled`; all when absent.
    status: Option<String>,
    /// How many (1–200, default 50).
    limit: Option<i64>,
    /// Only deliveries with a smaller id (the previous page's last `id`).
    before_id: Option<i64>,
}

/// Subscribes a URL to events. It receives every event of those types committed from now
/// on, signed with the secret (docs/WEBHOOKS.md).
#[utoipa::path(post, path = "/api/webhooks/subscriptions", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateSubscriptionRequest,
    responses((status = 201, body = SubscriptionView), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "validation_failed (url, events, secret), webhook_url_refused, webhook_url_unresolvable")))]
async fn create_subscription(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateSubscriptionRequest>,
) -> Result<(StatusCode, Json<SubscriptionView>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let created = webhooks::create(
        &state.db,
        NewSubscription {
            url: body.url,
            events: body.events,
            secret: body.secret,
        },
        state.config.webhooks.allow_private,
        &principal.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The subscriptions, newest first, active and inactive.
#[utoipa::path(get, path = "/api/webhooks/subscriptions", tag = "webhooks", security(("bearer" = [])),
    params(SubscriptionParams),
    responses((status = 200, body = Vec<SubscriptionView>), (status = 403, body = ErrorBody)))]
async fn list_subscriptions(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<SubscriptionParams>,
) -> Result<Json<Vec<SubscriptionView>>> {
    principal.require(Permission::ManageMlmSettings)?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(
        webhooks::list(&state.db, limit, params.before_id).await?,
    ))
}

/// One subscription.
#[utoipa::path(get, path = "/api/webhooks/subscriptions/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The subscription's id")),
    responses((status = 200, body = SubscriptionView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "webhook_subscription_not_found")))]
async fn get_subscription(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<SubscriptionView>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(webhooks::get(&state.db, id).await?))
}

/// Deactivates a subscription: no more events, its queued deliveries cancelled; its log
/// stays. Deleting it again answers the same.
#[utoipa::path(delete, path = "/api/webhooks/subscriptions/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The subscription's id")),
    responses((status = 200, body = SubscriptionView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "webhook_subscription_not_found")))]
async fn delete_subscription(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<SubscriptionView>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(webhooks::deactivate(&state.db, id).await?))
}

/// Replaces the signing secret. For 24 hours deliveries carry two signatures, the new
/// secret's first, so receivers can switch without losing an event.
#[utoipa::path(post, path = "/api/webhooks/subscriptions/{id}/rotate", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The subscription's id")),
    request_body = RotateSecretRequest,
    responses((status = 200, body = SubscriptionView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "webhook_subscription_not_found"),
              (status = 409, body = ErrorBody, description = "webhook_subscription_inactive"),
              (status = 422, body = ErrorBody, description = "validation_failed (secret)")))]
async fn rotate_subscription_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Json(body): Json<RotateSecretRequest>,
) -> Result<Json<SubscriptionView>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(webhooks::rotate(&state.db, id, &body.secret).await?))
}

/// A subscription's delivery log, newest first: each event's delivery, its attempts and
/// the last answer.
#[utoipa::path(get, path = "/api/webhooks/subscriptions/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The subscription's id"), DeliveryParams),
    responses((status = 200, body = Vec<DeliveryView>), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "webhook_subscription_not_found")))]
async fn list_subscription_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Query(params): Query<DeliveryParams>,
) -> Result<Json<Vec<DeliveryView>>> {
    principal.require(Permission::ManageMlmSettings)?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(
        webhooks::deliveries(
            &state.db,
            id,
            params.status.as_deref(),
            limit,
            params.before_id,
        )
        .await?,
    ))
}

/// Sends a delivered, dead or cancelled delivery again, now, with the same
/// `Bondhu-Event-Id` and a fresh 24-hour retry window.
#[utoipa::path(post, path = "/api/webhooks/deliveries/{id}/resend", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The delivery's id")),
    responses((status = 202, body = DeliveryView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "webhook_delivery_not_found"),
              (status = 409, body = ErrorBody, description = "webhook_delivery_not_resendable, webhook_subscription_inactive")))]
async fn resend_delivery(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<DeliveryView>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let queued = webhooks::resend(&state.db, id).await?;
    state.webhooks.notify_one();
    Ok((StatusCode::ACCEPTED, Json(queued)))
}
