//! The relay's publication records (`migrations/20261206002000_event_relay.sql`): one per
//! event while the relay is on, written by `emit_event`; this module turns the relay on,
//! claims what is due and records what JetStream answered.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::webhook::DomainEventType;

/// Turns the relay on (or notes the stream it now publishes to): from this commit on,
/// every event gets a publication record. True when it was off.
pub async fn enable(db: impl PgExecutor<'_>, stream: &str) -> sqlx::Result<bool> {
    let was_off = sqlx::query_scalar!(
        r#"insert into event_relay (stream) values ($1)
           on conflict (singleton) do update set stream = excluded.stream, updated_at = now()
           returning (xmax = 0) as "inserted!""#,
        stream,
    )
    .fetch_one(db)
    .await?;
    Ok(was_off)
}

/// An event a relay claimed, to publish.
#[derive(Debug)]
pub struct Claimed {
    /// The event's row id (the record's key).
    pub outbox_event_id: i64,
    /// This attempt's number.
    pub attempts: i32,
    /// The event's id: the message id.
    pub event_id: Uuid,
    /// The event's type: the subject's last tokens.
    pub event_type: DomainEventType,
    /// The event's payload.
    pub payload: Json,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
}

/// Claims up to `limit` publications that are due, or whose relay's lease ended (it
/// crashed), skipping rows another relay holds, in one statement: each becomes
/// `publishing` under a lease of `lease_secs`, one attempt more. In event order.
pub async fn claim(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease_secs: f64,
) -> sqlx::Result<Vec<Claimed>> {
    let mut claimed = sqlx::query_as!(
        Claimed,
        r#"with due as (
               select p.outbox_event_id from event_publications p
               where p.status <> 'published'
                 and ((p.status = 'queued' and p.next_attempt_at <= now())
                      or (p.status = 'publishing' and p.locked_until < now()))
               order by p.outbox_event_id
               limit $1
               for update skip locked
           )
           update event_publications p
           set status = 'publishing', attempts = p.attempts + 1,
               locked_until = now() + make_interval(secs => $2)
           from due, outbox_events e
           where p.outbox_event_id = due.outbox_event_id and e.id = p.outbox_event_id
           returning p.outbox_event_id, p.attempts, e.event_id,
                     e.type as "event_type: DomainEventType", e.payload, e.created_at"#,
        limit,
        lease_secs,
    )
    .fetch_all(db)
    .await?;
    claimed.sort_by_key(|c| c.outbox_event_id);
    Ok(claimed)
}

/// An acknowledged publication: attempt `attempt` of event `outbox_event_id` is in the
/// stream at `sequence`.
#[derive(Clone, Copy, Debug)]
pub struct Published {
    /// The event's row id.
    pub outbox_event_id: i64,
    /// The attempt that was acknowledged.
    pub attempt: i32,
    /// The message's stream sequence.
    pub sequence: i64,
}

/// Records acknowledged publications, in one statement. Each is fenced by its attempt
/// number: one whose lease was lost meanwhile is left to the attempt that has it. Returns
/// how many were recorded.
pub async fn mark_published(db: impl PgExecutor<'_>, published: &[Published]) -> sqlx::Result<u64> {
    if published.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = published.iter().map(|p| p.outbox_event_id).collect();
    let attempts: Vec<i32> = published.iter().map(|p| p.attempt).collect();
    let sequences: Vec<i64> = published.iter().map(|p| p.sequence).collect();
    let done = sqlx::query!(
        "update event_publications p
         set status = 'published', stream_sequence = r.sequence, published_at = now(),
             locked_until = null, last_error = null
         from unnest($1::bigint[], $2::int[], $3::bigint[]) as r(id, attempt, sequence)
         where p.outbox_event_id = r.id and p.status = 'publishing' and p.attempts = r.attempt",
        &ids,
        &attempts,
        &sequences,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// A failed publication, to try again at `next_attempt_at`.
#[derive(Clone, Debug)]
pub struct Failed {
    /// The event's row id.
    pub outbox_event_id: i64,
    /// The attempt that failed.
    pub attempt: i32,
    /// When to try again.
    pub next_attempt_at: DateTime<Utc>,
    /// Why it failed (cut to 300 characters).
    pub error: String,
}

/// Records failed publications, queued again, in one statement fenced like
/// [`mark_published`]. Returns how many were recorded.
pub async fn mark_failed(db: impl PgExecutor<'_>, failed: &[Failed]) -> sqlx::Result<u64> {
    if failed.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = failed.iter().map(|f| f.outbox_event_id).collect();
    let attempts: Vec<i32> = failed.iter().map(|f| f.attempt).collect();
    let next: Vec<DateTime<Utc>> = failed.iter().map(|f| f.next_attempt_at).collect();
    let errors: Vec<String> = failed.iter().map(|f| f.error.clone()).collect();
    let done = sqlx::query!(
        "update event_publications p
         set status = 'queued', next_attempt_at = r.next_attempt_at, locked_until = null,
             last_error = left(r.error, 300)
         from unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::text[])
             as r(id, attempt, next_attempt_at, error)
         where p.outbox_event_id = r.id and p.status = 'publishing' and p.attempts = r.attempt",
        &ids,
        &attempts,
        &next,
        &errors,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// What the relay has not published yet, database-wide.
#[derive(Clone, Copy, Debug)]
pub struct RelayStats {
    /// Events waiting for the stream (queued or being published).
    pub depth: i64,
    /// How long the oldest of them has waited, in seconds (0 when none).
    pub lag_seconds: f64,
}

/// The relay's depth and lag, from the index of unpublished records.
pub async fn stats(db: impl PgExecutor<'_>) -> sqlx::Result<RelayStats> {
    let row = sqlx::query!(
        r#"select count(*) as "depth!",
                  coalesce(extract(epoch from now() - (
                      select p2.created_at from event_publications p2
                      where p2.status <> 'published'
                      order by p2.outbox_event_id limit 1)), 0)::float8 as "lag_seconds!"
           from event_publications p
           where p.status <> 'published'"#
    )
    .fetch_one(db)
    .await?;
    Ok(RelayStats {
        depth: row.depth,
        lag_seconds: row.lag_seconds.max(0.0),
    })
}
