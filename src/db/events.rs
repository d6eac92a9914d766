//! The referral event log (append-only).

use serde_json::Value;
use sqlx::PgExecutor;

/// A row for `referral_events`.
#[derive(Debug, Default)]
pub struct NewEvent<'a> {
    /// What happened (`registered`, `partner_attributed`, `unknown_code`, …).
    pub event_type: &'a str,
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

/// Appends an event.
pub async fn record(db: impl PgExecutor<'_>, event: NewEvent<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into referral_events
             (event_type, referral_id, referrer_customer_id, referred_customer_id, order_id,
              share_code_used, partner_code, source_channel, payload)
         values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, '{}'::jsonb))",
        event.event_type,
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
