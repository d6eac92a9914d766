//! The referral event log (append-only).

use serde_json::Value;
use sqlx::PgExecutor;

use crate::domain::referral::EventType;

/// A row for `referral_events`.
#[derive(Debug)]
pub struct NewEvent<'a> {
    /// What happened.
    pub event_type: EventType,
    /// The referral concerned.
    pub referral_id: Option<i32>,
    /// The referrer concerned.
    pub referrer_customer_id: Option<i32>,
    /// The referred customer concerned.
    pub referred_customer_id: Option<i32>,
    /// The order concerned.
    pub order_id: Option<i32>,
    /// The share or invite code used.
    pub share_code_used: Option<&'a str>,
    /// The partner code used (canonical spelling).
    pub partner_code: Option<&'a str>,
    /// The channel name.
    pub source_channel: Option<&'a str>,
    /// Anything else worth keeping.
    pub payload: Option<Value>,
}

impl<'a> NewEvent<'a> {
    /// An event of `event_type` with nothing else filled in.
    pub fn new(event_type: EventType) -> Self {
        Self {
            event_type,
            referral_id: None,
            referrer_customer_id: None,
            referred_customer_id: None,
            order_id: None,
            share_code_used: None,
            partner_code: None,
            source_channel: None,
            payload: None,
        }
    }
}

/// Appends an event, through `log_referral_event`: the SQL functions and the server write
/// the log the same way.
pub async fn record(db: impl PgExecutor<'_>, event: NewEvent<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "select log_referral_event($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, '{}'::jsonb))",
        event.event_type as EventType,
        event.referral_id,
        event.referrer_customer_id,
        event.referred_customer_id,
        event.order_id,
        event.share_code_used,
        event.partner_code,
        event.source_channel,
        event.payload,
    )
    .execute(db)
    .await?;
    Ok(())
}
