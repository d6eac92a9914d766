//! Webhook subscriptions and their deliveries (`migrations/20261204000400_event_outbox.sql`):
//! events are written by SQL (`emit_event`, called by triggers) and fanned out there to one
//! delivery per active subscription; this module saves subscriptions, and claims and
//! records deliveries for the dispatcher.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::webhook::{DeliveryStatus, DomainEventType};

/// A subscription as the API shows it: never its secret, only a hint of it.
#[derive(Debug)]
pub struct SubscriptionRow {
    /// Row id.
    pub id: i64,
    /// Where deliveries go.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<DomainEventType>,
    /// `…` and the secret's last four characters.
    pub secret_hint: String,
    /// Until when the secret replaced by the last rotation still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Receiving events.
    pub active: bool,
    /// `deleted` or `gone`, once inactive.
    pub deactivation_reason: Option<String>,
    /// When it stopped receiving.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Saves a new, active subscription.
pub async fn insert_subscription(
    db: impl PgExecutor<'_>,
    url: &str,
    events: &[DomainEventType],
    secret: &str,
    created_by: &str,
) -> sqlx::Result<SubscriptionRow> {
    sqlx::query_as!(
        SubscriptionRow,
        r#"insert into webhook_subscriptions (url, events, secret, created_by)
           values ($1, $2, $3, $4)
           returning id, url, events as "events: Vec<DomainEventType>",
                     '…' || right(secret, 4) as "secret_hint!", previous_secret_expires_at,
                     active, deactivation_reason, deactivated_at, created_by, created_at,
                     updated_at"#,
        url,
        events as &[DomainEventType],
        secret,
        created_by,
    )
    .fetch_one(db)
    .await
}

/// Subscription `id`.
pub async fn subscription(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<SubscriptionRow>> {
    sqlx::query_as!(
        SubscriptionRow,
        r#"select id, url, events as "events: Vec<DomainEventType>",
                  '…' || right(secret, 4) as "secret_hint!", previous_secret_expires_at,
                  active, deactivation_reason, deactivated_at, created_by, created_at,
                  updated_at
           from webhook_subscriptions where id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// A page of subscriptions, newest first.
pub async fn list_subscriptions(
    db: impl PgExecutor<'_>,
    limit: i64,
    before_id: Option<i64>,
) -> sqlx::Result<Vec<SubscriptionRow>> {
    sqlx::query_as!(
        SubscriptionRow,
        r#"select id, url, events as "events: Vec<DomainEventType>",
                  '…' || right(secret, 4) as "secret_hint!", previous_secret_expires_at,
                  active, deactivation_reason, deactivated_at, created_by, created_at,
                  updated_at
           from webhook_subscriptions
           where $2::bigint is null or id < $2
           order by id desc
           limit $1"#,
        limit,
        before_id,
    )
    .fetch_all(db)
    .await
}

/// Deactivates subscription `id` for `reason` (`deleted`, `gone`) unless it is inactive
/// already; true when it was active.
pub async fn deactivate(db: impl PgExecutor<'_>, id: i64, reason: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update webhook_subscriptions
         set active = false, deactivation_reason = $2, deactivated_at = now(), updated_at = now()
         where id = $1 and active",
        id,
        reason,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels the deliveries of subscription `id` still waiting for an attempt.
pub async fn cancel_queued(db: impl PgExecutor<'_>, subscription_id: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update webhook_deliveries set status = 'cancelled', updated_at = now()
         where subscription_id = $1 and status = 'queued'",
        subscription_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Replaces the active subscription `id`'s secret with `secret`; the one it replaces
/// keeps signing for `overlap_secs`. `None` when there is no such active subscription.
pub async fn rotate_secret(
    db: impl PgExecutor<'_>,
    id: i64,
    secret: &str,
    overlap_secs: f64,
) -> sqlx::Result<Option<SubscriptionRow>> {
    sqlx::query_as!(
        SubscriptionRow,
        r#"update webhook_subscriptions
           set previous_secret = secret,
               previous_secret_expires_at = now() + make_interval(secs => $3),
               secret = $2, updated_at = now()
           where id = $1 and active
           returning id, url, events as "events: Vec<DomainEventType>",
                     '…' || right(secret, 4) as "secret_hint!", previous_secret_expires_at,
                     active, deactivation_reason, deactivated_at, created_by, created_at,
                     updated_at"#,
        id,
        secret,
        overlap_secs,
    )
    .fetch_optional(db)
    .await
}

/// A delivery as its log shows it.
#[derive(Debug)]
pub struct DeliveryRow {
    /// Row id.
    pub id: i64,
    /// Its subscription.
    pub subscription_id: i64,
    /// The event's id (`Bondhu-Event-Id`).
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: DomainEventType,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// When it is tried next (while queued).
    pub next_attempt_at: DateTime<Utc>,
    /// The last attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status the receiver last answered.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// How long the receiver took to answer, the last time.
    pub last_response_ms: Option<i32>,
    /// When the receiver accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Created (with its event).
    pub created_at: DateTime<Utc>,
}

/// A page of subscription `subscription_id`'s deliveries, newest first, optionally of
/// one status.
pub async fn list_deliveries(
    db: impl PgExecutor<'_>,
    subscription_id: i64,
    status: Option<DeliveryStatus>,
    limit: i64,
    before_id: Option<i64>,
) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query_as!(
        DeliveryRow,
        r#"select d.id, d.subscription_id, e.event_id, e.type as "event_type: DomainEventType",
                  d.status as "status: DeliveryStatus", d.attempts, d.next_attempt_at,
                  d.last_attempt_at, d.last_status_code, d.last_error, d.last_response_ms,
                  d.delivered_at, d.created_at
           from webhook_deliveries d
           join outbox_events e on e.id = d.outbox_event_id
           where d.subscription_id = $1
             and ($2::webhook_delivery_status is null or d.status = $2)
             and ($4::bigint is null or d.id < $4)
           order by d.id desc
           limit $3"#,
        subscription_id,
        status as Option<DeliveryStatus>,
        limit,
        before_id,
    )
    .fetch_all(db)
    .await
}

/// Delivery `id`.
pub async fn delivery(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<DeliveryRow>> {
    sqlx::query_as!(
        DeliveryRow,
        r#"select d.id, d.subscription_id, e.event_id, e.type as "event_type: DomainEventType",
                  d.status as "status: DeliveryStatus", d.attempts, d.next_attempt_at,
                  d.last_attempt_at, d.last_status_code, d.last_error, d.last_response_ms,
                  d.delivered_at, d.created_at
           from webhook_deliveries d
           join outbox_events e on e.id = d.outbox_event_id
           where d.id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// Queues finished delivery `id` (delivered, dead or cancelled) of an active
/// subscription again, due now, with a fresh retry window; its attempts keep counting.
/// `None` when it is not finished or its subscription is inactive.
pub async fn requeue(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<DeliveryRow>> {
    sqlx::query_as!(
        DeliveryRow,
        r#"with queued as (
               update webhook_deliveries d
               set status = 'queued', next_attempt_at = now(), window_started_at = now(),
                   delivered_at = null, updated_at = now()
               from webhook_subscriptions s
               where d.id = $1 and s.id = d.subscription_id and s.active
                 and d.status in ('delivered', 'dead', 'cancelled')
               returning d.*
           )
           select d.id, d.subscription_id, e.event_id, e.type as "event_type: DomainEventType",
                  d.status as "status: DeliveryStatus", d.attempts, d.next_attempt_at,
                  d.last_attempt_at, d.last_status_code, d.last_error, d.last_response_ms,
                  d.delivered_at, d.created_at
           from queued d join outbox_events e on e.id = d.outbox_event_id"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// A delivery a dispatcher claimed.
#[derive(Debug)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// `sending` (claimed), or `cancelled` (its subscription was deactivated meanwhile).
    pub status: DeliveryStatus,
    /// This attempt's number.
    pub attempts: i32,
    /// Its retry window's start.
    pub window_started_at: DateTime<Utc>,
    /// Its subscription.
    pub subscription_id: i64,
    /// Where it goes.
    pub url: String,
    /// The current secret. Never logged.
    pub secret: String,
    /// The previous secret while it is still valid. Never logged.
    pub previous_secret: Option<String>,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: DomainEventType,
    /// The event's payload.
    pub payload: Json,
    /// When the event happened.
    pub event_created_at: DateTime<Utc>,
}

/// Claims up to `limit` deliveries that are due, or whose sender's lease ended (it
/// crashed), skipping rows another dispatcher holds, in one statement: each becomes
/// `sending` under a lease of `lease_secs`, one attempt more; one whose subscription was
/// deactivated becomes `cancelled` instead.
pub async fn claim(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease_secs: f64,
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as!(
        Claimed,
        r#"with due as (
               select d.id from webhook_deliveries d
               where (d.status = 'queued' and d.next_attempt_at <= now())
                  or (d.status = 'sending' and d.locked_until < now())
               order by d.id
               limit $1
               for update skip locked
           )
           update webhook_deliveries d
           set status = case when s.active then 'sending' else 'cancelled' end::webhook_delivery_status,
               attempts = d.attempts + case when s.active then 1 else 0 end,
               locked_until = case when s.active then now() + make_interval(secs => $2) end,
               last_attempt_at = case when s.active then now() else d.last_attempt_at end,
               updated_at = now()
           from due, webhook_subscriptions s, outbox_events e
           where d.id = due.id and s.id = d.subscription_id and e.id = d.outbox_event_id
           returning d.id, d.status as "status: DeliveryStatus", d.attempts,
                     d.window_started_at, s.id as subscription_id, s.url, s.secret,
                     case when s.previous_secret_expires_at > now() then s.previous_secret end
                         as previous_secret,
                     e.event_id, e.type as "event_type: DomainEventType", e.payload,
                     e.created_at as event_created_at"#,
        limit,
        lease_secs,
    )
    .fetch_all(db)
    .await
}

/// What an attempt got back.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    /// Why it failed (none when delivered).
    pub error: Option<&'a str>,
    /// How long it took, in milliseconds.
    pub response_ms: Option<i32>,
}

/// Attempt `attempt` of delivery `id` was accepted. Ignored (false) when the lease was
/// lost and another attempt has the delivery.
pub async fn mark_delivered(
    db: impl PgExecutor<'_>,
    id: i64,
    attempt: i32,
    outcome: &Outcome<'_>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update webhook_deliveries
         set status = 'delivered', delivered_at = now(), locked_until = null,
             last_status_code = $3, last_error = null, last_response_ms = $4, updated_at = now()
         where id = $1 and status = 'sending' and attempts = $2",
        id,
        attempt,
        outcome.status_code,
        outcome.response_ms,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Attempt `attempt` failed: tried again at `next_attempt_at`, or, when that is `None`,
/// given up (`dead`). Ignored (false) when the lease was lost.
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: i64,
    attempt: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    outcome: &Outcome<'_>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update webhook_deliveries
         set status = case when $3::timestamptz is null then 'dead' else 'queued' end::webhook_delivery_status,
             next_attempt_at = coalesce($3, next_attempt_at), locked_until = null,
             last_status_code = $4, last_error = left($5, 300), last_response_ms = $6,
             updated_at = now()
         where id = $1 and status = 'sending' and attempts = $2",
        id,
        attempt,
        next_attempt_at,
        outcome.status_code,
        outcome.error,
        outcome.response_ms,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
