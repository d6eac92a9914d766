//! Outbound webhooks: the shop subscribes URLs to Bondhu's domain events and receives
//! each event as a signed POST (docs/WEBHOOKS.md is the receivers' guide).
//!
//! Events are written by SQL triggers in the transaction of their change and fanned out
//! there to one delivery per active subscription (`emit_event`); this module saves
//! subscriptions (checking their URL against the [`guard`]), rotates their secrets, shows
//! the delivery log and re-sends. Sending is the [`dispatcher`]'s.

pub mod dispatcher;
pub mod guard;
pub mod signing;

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::db::webhooks::{DeliveryRow, SubscriptionRow};
use crate::domain::time::Timestamp;
use crate::domain::webhook::{DeliveryStatus, DomainEventType, SigningSecret, parse_event_types};
use crate::error::{Code, Error, Problems, Result};
use guard::UrlProblem;

/// A subscription as the API shows it: its secret never, only a hint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    /// The subscription's id.
    pub id: i64,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<DomainEventType>,
    /// Whether it receives events.
    pub active: bool,
    /// `…` and the last four characters of the current secret.
    pub secret_hint: String,
    /// Until when the secret replaced by the last rotation still signs (a second `v1=`).
    pub previous_secret_expires_at: Option<Timestamp>,
    /// `deleted` or `gone` (the receiver answered 410), once inactive.
    pub deactivation_reason: Option<String>,
    /// When it stopped receiving.
    pub deactivated_at: Option<Timestamp>,
    /// Who created it (`user:{id}`, `api_key:{id}`).
    pub created_by: String,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl From<SubscriptionRow> for SubscriptionView {
    fn from(row: SubscriptionRow) -> Self {
        Self {
            id: row.id,
            url: row.url,
            events: row.events,
            active: row.active,
            secret_hint: row.secret_hint,
            previous_secret_expires_at: row
                .previous_secret_expires_at
                .filter(|at| *at > chrono::Utc::now())
                .map(Into::into),
            deactivation_reason: row.deactivation_reason,
            deactivated_at: row.deactivated_at.map(Into::into),
            created_by: row.created_by,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        }
    }
}

/// One delivery of one event to one subscription, as its log shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The delivery's id (what a re-send names).
    pub id: i64,
    /// Its subscription.
    pub subscription_id: i64,
    /// The event's id: `Bondhu-Event-Id`, the same on every attempt and re-send.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: DomainEventType,
    /// `queued`, `sending`, `delivered`, `dead` or `cancelled`.
    pub status: DeliveryStatus,
    /// Attempts made (a re-send continues the count).
    pub attempts: i32,
    /// When it is tried next; only while queued.
    pub next_attempt_at: Option<Timestamp>,
    /// The last attempt.
    pub last_attempt_at: Option<Timestamp>,
    /// The HTTP status the receiver last answered.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// How long the last attempt took, in milliseconds.
    pub last_response_ms: Option<i32>,
    /// When the receiver accepted it.
    pub delivered_at: Option<Timestamp>,
    /// Created, with its event.
    pub created_at: Timestamp,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(row: DeliveryRow) -> Self {
        Self {
            id: row.id,
            subscription_id: row.subscription_id,
            event_id: row.event_id,
            event_type: row.event_type,
            status: row.status,
            attempts: row.attempts,
            next_attempt_at: (row.status == DeliveryStatus::Queued)
                .then(|| row.next_attempt_at.into()),
            last_attempt_at: row.last_attempt_at.map(Into::into),
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            last_response_ms: row.last_response_ms,
            delivered_at: row.delivered_at.map(Into::into),
            created_at: row.created_at.into(),
        }
    }
}

/// A new subscription, as the route read it.
pub struct NewSubscription {
    /// The URL.
    pub url: String,
    /// Event type names.
    pub events: Vec<String>,
    /// The signing secret.
    pub secret: String,
}

/// The 422 of a URL the guard refuses, naming the field.
fn url_error(problem: UrlProblem) -> Error {
    match problem {
        UrlProblem::Invalid(why) => Error::invalid_field("url", why),
        UrlProblem::Refused(refused) => {
            Error::new(Code::WebhookUrlRefused, format!("url: {refused}")).for_field("url")
        }
        UrlProblem::Unresolvable(host) => Error::new(
            Code::WebhookUrlUnresolvable,
            format!("url: {host} does not resolve to any address"),
        )
        .for_field("url"),
        UrlProblem::TooManyRedirects => Error::invalid_field("url", "redirects too often"),
    }
}

/// Saves a subscription: every field checked (all problems at once), then the URL's
/// addresses (`allow_private`: `WEBHOOK_ALLOW_PRIVATE`). It receives the events committed
/// from now on.
pub async fn create(
    pool: &PgPool,
    new: NewSubscription,
    allow_private: bool,
    actor: &str,
) -> Result<SubscriptionView> {
    let mut problems = Problems::default();
    let url = match guard::parse_url(&new.url) {
        Ok(url) => Some(url),
        Err(problem) => {
            problems.add("url", problem.to_string());
            None
        }
    };
    let events = match parse_event_types(&new.events) {
        Ok(events) if events.is_empty() => {
            problems.add("events", "must name at least one event type");
            Vec::new()
        }
        Ok(events) => events,
        Err(unknown) => {
            problems.add(
                "events",
                format!(
                    "unknown event types: {}; known: {}",
                    unknown.join(", "),
                    DomainEventType::ALL
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            Vec::new()
        }
    };
    let secret = match SigningSecret::parse(&new.secret) {
        Ok(secret) => Some(secret),
        Err(why) => {
            problems.add("secret", why);
            None
        }
    };
    problems.finish(Code::ValidationFailed)?;
    let (Some(url), Some(secret)) = (url, secret) else {
        unreachable!("a missing value was recorded as a problem")
    };
    guard::check_url(&url, allow_private)
        .await
        .map_err(url_error)?;
    let row =
        db::webhooks::insert_subscription(pool, url.as_str(), &events, secret.expose(), actor)
            .await?;
    tracing::info!(subscription.id = row.id, "webhook subscription created");
    Ok(row.into())
}

/// A page of subscriptions, newest first.
pub async fn list(
    pool: &PgPool,
    limit: i64,
    before_id: Option<i64>,
) -> Result<Vec<SubscriptionView>> {
    Ok(db::webhooks::list_subscriptions(pool, limit, before_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

fn not_found() -> Error {
    Error::new(
        Code::WebhookSubscriptionNotFound,
        "Webhook subscription not found",
    )
}

/// Subscription `id`.
pub async fn get(pool: &PgPool, id: i64) -> Result<SubscriptionView> {
    db::webhooks::subscription(pool, id)
        .await?
        .map(Into::into)
        .ok_or_else(not_found)
}

/// Deactivates subscription `id`: it receives no more events and its queued deliveries
/// are cancelled. Deactivating it again changes nothing.
pub async fn deactivate(pool: &PgPool, id: i64) -> Result<SubscriptionView> {
    let mut tx = pool.begin().await?;
    if db::webhooks::deactivate(&mut *tx, id, "deleted").await? {
        db::webhooks::cancel_queued(&mut *tx, id).await?;
    }
    let row = db::webhooks::subscription(&mut *tx, id)
        .await?
        .ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(row.into())
}

/// Replaces subscription `id`'s secret; the one replaced keeps signing for
/// [`signing::ROTATION_OVERLAP`] (deliveries carry both signatures meanwhile). Only the
/// secret just replaced stays valid: rotating twice within the overlap drops the oldest.
pub async fn rotate(pool: &PgPool, id: i64, secret: &str) -> Result<SubscriptionView> {
    let secret = SigningSecret::parse(secret).map_err(|why| Error::invalid_field("secret", why))?;
    match db::webhooks::rotate_secret(
        pool,
        id,
        secret.expose(),
        signing::ROTATION_OVERLAP.as_secs_f64(),
    )
    .await?
    {
        Some(row) => {
            tracing::info!(subscription.id = id, "webhook secret rotated");
            Ok(row.into())
        }
        None => match db::webhooks::subscription(pool, id).await? {
            Some(_) => Err(Error::new(
                Code::WebhookSubscriptionInactive,
                "The subscription is inactive",
            )),
            None => Err(not_found()),
        },
    }
}

/// A page of subscription `id`'s deliveries, newest first.
pub async fn deliveries(
    pool: &PgPool,
    id: i64,
    status: Option<&str>,
    limit: i64,
    before_id: Option<i64>,
) -> Result<Vec<DeliveryView>> {
    let status = status
        .map(|name| {
            DeliveryStatus::from_name(name).ok_or_else(|| {
                Error::new(
                    Code::InvalidQuery,
                    "status must be queued, sending, delivered, dead or cancelled",
                )
            })
        })
        .transpose()?;
    let rows = db::webhooks::list_deliveries(pool, id, status, limit, before_id).await?;
    if rows.is_empty() && db::webhooks::subscription(pool, id).await?.is_none() {
        return Err(not_found());
    }
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Sends delivery `id` again: a delivered, dead or cancelled delivery of an active
/// subscription is queued as a new attempt, due now, with the same event id and a fresh
/// retry window.
pub async fn resend(pool: &PgPool, id: i64) -> Result<DeliveryView> {
    if let Some(row) = db::webhooks::requeue(pool, id).await? {
        tracing::info!(delivery.id = id, "webhook delivery re-sent");
        return Ok(row.into());
    }
    let Some(delivery) = db::webhooks::delivery(pool, id).await? else {
        return Err(Error::new(
            Code::WebhookDeliveryNotFound,
            "Webhook delivery not found",
        ));
    };
    if !delivery.status.can_resend() {
        return Err(Error::new(
            Code::WebhookDeliveryNotResendable,
            "Only a delivered, dead or cancelled delivery can be re-sent",
        ));
    }
    Err(Error::new(
        Code::WebhookSubscriptionInactive,
        "The delivery's subscription is inactive",
    ))
}
