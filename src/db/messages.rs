//! The outbox (`outbound_messages`), its templates and the phones that opted out. See
//! `migrations/20261203000100_messaging.sql`: the triggers there queue the messages of
//! deliveries, completions and releases; [`enqueue`] queues the others.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::message::{MessageChannel, MessageKind, MessageStatus, SuppressedReason};
use crate::domain::message_text::Language;

/// A message to queue.
#[derive(Debug)]
pub struct NewRow<'a> {
    /// What it is for.
    pub kind: MessageKind,
    /// The customer it goes to, if a customer.
    pub customer_id: Option<i32>,
    /// The phone, when it is not the customer's own (or there is no customer).
    pub phone: Option<&'a str>,
    /// The referral it is about.
    pub referral_id: Option<i32>,
    /// The kind's parameters.
    pub params: Json,
    /// One message per business fact.
    pub dedupe_key: Option<&'a str>,
}

/// Queues a message in the caller's transaction (`enqueue_message`); `None` when one with
/// the same dedupe key exists.
pub async fn enqueue(db: impl PgExecutor<'_>, new: &NewRow<'_>) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "select enqueue_message($1, $2, $3, null, $4, $5, $6)",
        new.kind as MessageKind,
        new.customer_id,
        new.phone,
        new.referral_id,
        new.params,
        new.dedupe_key,
    )
    .fetch_one(db)
    .await
}

/// A message a dispatcher claimed.
#[derive(Debug)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// The stable id providers receive.
    pub message_id: Uuid,
    /// What it is for.
    pub kind: MessageKind,
    /// The customer it goes to.
    pub customer_id: Option<i32>,
    /// The phone, once known.
    pub phone: Option<String>,
    /// The order it is about.
    pub order_id: Option<i32>,
    /// The referral it is about.
    pub referral_id: Option<i32>,
    /// The kind's parameters.
    pub params: Json,
    /// Attempts made before this claim (0: its first claim, when the policy decides).
    pub attempts: i32,
}

/// Locks up to `limit` messages that are due, or whose sender's lease ended (it crashed or
/// hung), skipping rows another dispatcher holds. The caller's transaction keeps them
/// until it marks each one sending or suppressed.
pub async fn claim(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as!(
        Claimed,
        r#"select id, message_id, kind as "kind: MessageKind", customer_id, phone, order_id,
                  referral_id, params, attempts
           from outbound_messages
           where (status = 'queued' and next_attempt_at <= now())
              or (status = 'sending' and locked_until < now())
           order by id
           limit $1
           for update skip locked"#,
        limit,
    )
    .fetch_all(conn)
    .await
}

/// Serialises the decisions about one recipient phone (the daily cap, the nudge interval)
/// across dispatchers until the caller's transaction ends.
pub async fn lock_recipient(conn: &mut PgConnection, phone: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('message_recipient:' || $1, 0))",
        phone
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What the policy reads about a recipient.
#[derive(Debug)]
pub struct RecipientHistory {
    /// The phone opted out.
    pub opted_out: bool,
    /// Messages first attempted since midnight in Dhaka, verification codes aside.
    pub sent_today: i64,
    /// When the last share nudge was first attempted (not suppressed).
    pub last_nudge_at: Option<DateTime<Utc>>,
}

/// The recipient's opt-out and recent sends.
pub async fn history(db: impl PgExecutor<'_>, phone: &str) -> sqlx::Result<RecipientHistory> {
    sqlx::query_as!(
        RecipientHistory,
        r#"select exists (select 1 from messaging_opt_outs where phone = $1) as "opted_out!",
                  (select count(*) from outbound_messages
                   where phone = $1 and kind <> 'verification_code'
                     and first_attempt_at >= (dhaka_today()::timestamp at time zone 'Asia/Dhaka')
                  ) as "sent_today!",
                  (select max(first_attempt_at) from outbound_messages
                   where phone = $1 and kind = 'share_nudge' and first_attempt_at is not null
                  ) as last_nudge_at"#,
        phone,
    )
    .fetch_one(db)
    .await
}

/// A customer as a message addresses them.
#[derive(Debug)]
pub struct Recipient {
    /// Their phone.
    pub phone: String,
    /// Their first name.
    pub name: Option<String>,
    /// The language they read.
    pub language: Language,
}

/// Customer `id`, unless deleted.
pub async fn recipient(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<Option<Recipient>> {
    sqlx::query_as!(
        Recipient,
        r#"select phone, name, language as "language: Language"
           from customers where id = $1 and not is_deleted"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// The language of the live customer with `phone` (a friend who is already a customer).
pub async fn language_of_phone(
    db: impl PgExecutor<'_>,
    phone: &str,
) -> sqlx::Result<Option<Language>> {
    sqlx::query_scalar!(
        r#"select language as "language: Language" from customers
           where phone = $1 and not is_deleted"#,
        phone,
    )
    .fetch_optional(db)
    .await
}

/// What a referral's messages tell.
#[derive(Debug)]
pub struct ReferralFacts {
    /// The referrer.
    pub referrer_customer_id: i32,
    /// The referrer's first name.
    pub referrer_name: Option<String>,
    /// The friend's first name.
    pub friend_name: Option<String>,
    /// The friend's phone (masked before it is shown).
    pub friend_phone: Option<String>,
    /// Completed, and not reversed since.
    pub completed: bool,
    /// Released.
    pub released: bool,
    /// The referrer's wallet reward of the current completion, pending or released.
    pub referrer_amount: Option<rust_decimal::Decimal>,
    /// The friend's offer: the campaign's amount for the referred side.
    pub friend_offer: rust_decimal::Decimal,
    /// The referral's own invite code (`INV…`): what an invited friend signs up with.
    pub invite_code: String,
}

/// The facts of referral `id`.
pub async fn referral_facts(
    db: impl PgExecutor<'_>,
    id: i32,
) -> sqlx::Result<Option<ReferralFacts>> {
    sqlx::query_as!(
        ReferralFacts,
        r#"select r.referrer_customer_id as "referrer_customer_id!",
                  referrer.name as referrer_name,
                  friend.name as "friend_name?",
                  coalesce(friend.phone, r.referred_phone) as friend_phone,
                  r.status = 'completed' as "completed!",
                  r.released_at is not null as "released!",
                  (select sum(rr.amount) from referral_rewards rr
                   where rr.referral_id = r.id and rr.side = 'referrer' and rr.kind = 'wallet'
                     and rr.completion = r.completions
                     and rr.status in ('pending', 'in_review', 'released')) as referrer_amount,
                  r.referred_reward_amount as friend_offer,
                  r.referral_code as invite_code
           from customer_referrals r
           join customers referrer on referrer.id = r.referrer_customer_id
           left join customers friend on friend.id = r.referred_customer_id
           where r.id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// A kind's stored template.
#[derive(Debug, Clone)]
pub struct TemplateRow {
    /// The kind.
    pub kind: MessageKind,
    /// Bangla text.
    pub bn: String,
    /// English text.
    pub en: String,
    /// The approved WhatsApp template's name.
    pub whatsapp_template_name: Option<String>,
    /// Last saved.
    pub updated_at: DateTime<Utc>,
    /// Who saved it last (null: the seeded default).
    pub updated_by_user_id: Option<i32>,
}

/// Every template.
pub async fn templates(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<TemplateRow>> {
    sqlx::query_as!(
        TemplateRow,
        r#"select kind as "kind: MessageKind", bn, en, whatsapp_template_name, updated_at,
                  updated_by_user_id
           from message_templates order by kind"#,
    )
    .fetch_all(db)
    .await
}

/// The template of `kind`.
pub async fn template(
    db: impl PgExecutor<'_>,
    kind: MessageKind,
) -> sqlx::Result<Option<TemplateRow>> {
    sqlx::query_as!(
        TemplateRow,
        r#"select kind as "kind: MessageKind", bn, en, whatsapp_template_name, updated_at,
                  updated_by_user_id
           from message_templates where kind = $1"#,
        kind as MessageKind,
    )
    .fetch_optional(db)
    .await
}

/// Saves the template of `kind` (checked by the caller).
pub async fn save_template(
    db: impl PgExecutor<'_>,
    kind: MessageKind,
    bn: &str,
    en: &str,
    whatsapp_template_name: Option<&str>,
    user_id: Option<i32>,
) -> sqlx::Result<TemplateRow> {
    sqlx::query_as!(
        TemplateRow,
        r#"insert into message_templates (kind, bn, en, whatsapp_template_name, updated_by_user_id)
           values ($1, $2, $3, $4, $5)
           on conflict (kind) do update
           set bn = excluded.bn, en = excluded.en,
               whatsapp_template_name = excluded.whatsapp_template_name,
               updated_by_user_id = excluded.updated_by_user_id, updated_at = now()
           returning kind as "kind: MessageKind", bn, en, whatsapp_template_name, updated_at,
                     updated_by_user_id"#,
        kind as MessageKind,
        bn,
        en,
        whatsapp_template_name,
        user_id,
    )
    .fetch_one(db)
    .await
}

/// A claimed message, rendered and addressed, about to be sent.
#[derive(Debug)]
pub struct Sending<'a> {
    /// Row id.
    pub id: i64,
    /// Its phone.
    pub phone: &'a str,
    /// The channel chosen.
    pub channel: MessageChannel,
    /// The provider's name.
    pub provider: &'a str,
    /// The language rendered.
    pub language: Language,
    /// The text.
    pub body: &'a str,
    /// SMS segments.
    pub segments: i32,
    /// `gsm7` or `ucs2`.
    pub encoding: &'a str,
    /// How long the dispatcher may take before another reclaims it.
    pub lease_secs: f64,
}

/// Marks a claimed message sending, under a lease, one attempt more.
pub async fn mark_sending(db: impl PgExecutor<'_>, sending: &Sending<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "update outbound_messages
         set status = 'sending', attempts = attempts + 1,
             locked_until = now() + make_interval(secs => $2),
             first_attempt_at = coalesce(first_attempt_at, now()),
             phone = $3, channel = $4, provider = $5, language = $6, body = $7,
             segments = $8, encoding = $9, updated_at = now()
         where id = $1",
        sending.id,
        sending.lease_secs,
        sending.phone,
        sending.channel as MessageChannel,
        sending.provider,
        sending.language as Language,
        sending.body,
        sending.segments,
        sending.encoding,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a claimed message not sent, for `reason`.
pub async fn mark_suppressed(
    db: impl PgExecutor<'_>,
    id: i64,
    phone: Option<&str>,
    reason: SuppressedReason,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update outbound_messages
         set status = 'suppressed', suppressed_reason = $2, phone = coalesce($3, phone),
             locked_until = null, params = params - 'code', updated_at = now()
         where id = $1",
        id,
        reason.as_str(),
        phone,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The provider accepted attempt `attempt` of message `id`. A verification code is erased
/// from the row: it was kept only until the provider had it. Ignored (false) when the
/// lease was lost and another dispatcher has the message.
pub async fn mark_sent(
    db: impl PgExecutor<'_>,
    id: i64,
    attempt: i32,
    provider_message_id: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update outbound_messages
         set status = 'sent', sent_at = now(), locked_until = null, last_error = null,
             provider_message_id = $3,
             params = params - 'code',
             body = case when kind = 'verification_code' then null else body end,
             updated_at = now()
         where id = $1 and status = 'sending' and attempts = $2",
        id,
        attempt,
        provider_message_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Attempt `attempt` failed and may be retried at `next_attempt_at`.
pub async fn mark_retry(
    db: impl PgExecutor<'_>,
    id: i64,
    attempt: i32,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update outbound_messages
         set status = 'queued', locked_until = null, next_attempt_at = $3, last_error = $4,
             updated_at = now()
         where id = $1 and status = 'sending' and attempts = $2",
        id,
        attempt,
        next_attempt_at,
        error,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Attempt `attempt` failed for good: the message is dead-lettered with the provider's
/// last error, and a verification code is erased.
pub async fn mark_dead(
    db: impl PgExecutor<'_>,
    id: i64,
    attempt: i32,
    error: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update outbound_messages
         set status = 'dead', locked_until = null, last_error = $3, params = params - 'code',
             body = case when kind = 'verification_code' then null else body end,
             updated_at = now()
         where id = $1 and status = 'sending' and attempts = $2",
        id,
        attempt,
        error,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A message as operators list it.
#[derive(Debug)]
pub struct MessageRow {
    /// Row id.
    pub id: i64,
    /// The stable id.
    pub message_id: Uuid,
    /// Kind.
    pub kind: MessageKind,
    /// Status.
    pub status: MessageStatus,
    /// Customer.
    pub customer_id: Option<i32>,
    /// Phone (the customer's until the first claim fixes it; masked before it leaves).
    pub phone: Option<String>,
    /// Order.
    pub order_id: Option<i32>,
    /// Referral.
    pub referral_id: Option<i32>,
    /// Channel.
    pub channel: Option<MessageChannel>,
    /// Provider.
    pub provider: Option<String>,
    /// Provider's id.
    pub provider_message_id: Option<String>,
    /// Language.
    pub language: Option<Language>,
    /// Text (null for a verification code).
    pub body: Option<String>,
    /// Segments.
    pub segments: Option<i32>,
    /// Encoding.
    pub encoding: Option<String>,
    /// Attempts.
    pub attempts: i32,
    /// Next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// Last error.
    pub last_error: Option<String>,
    /// Why not sent.
    pub suppressed_reason: Option<String>,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Accepted by the provider.
    pub sent_at: Option<DateTime<Utc>>,
    /// Delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Read.
    pub read_at: Option<DateTime<Utc>>,
    /// Reported failed.
    pub failed_at: Option<DateTime<Utc>>,
}

/// A page of messages, newest first, optionally of one status.
pub async fn list(
    db: impl PgExecutor<'_>,
    status: Option<MessageStatus>,
    limit: i64,
    before_id: Option<i64>,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as!(
        MessageRow,
        r#"select m.id, m.message_id, m.kind as "kind: MessageKind",
                  m.status as "status: MessageStatus", m.customer_id, coalesce(m.phone, c.phone) as phone, m.order_id, m.referral_id,
                  m.channel as "channel: MessageChannel", m.provider, m.provider_message_id,
                  m.language as "language: Language",
                  case when m.kind = 'verification_code' then null else m.body end as body,
                  m.segments, m.encoding, m.attempts, m.next_attempt_at, m.last_error,
                  m.suppressed_reason, m.created_at, m.sent_at, m.delivered_at, m.read_at,
                  m.failed_at
           from outbound_messages m
           left join customers c on c.id = m.customer_id
           where ($1::message_status is null or m.status = $1)
             and ($2::bigint is null or m.id < $2)
           order by m.id desc
           limit $3"#,
        status as Option<MessageStatus>,
        before_id,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Message `id`'s status, if it exists.
pub async fn status_of(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<MessageStatus>> {
    sqlx::query_scalar!(
        r#"select status as "status: MessageStatus" from outbound_messages where id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// Queues dead message `id` again, with a fresh set of attempts. False when it is not dead.
pub async fn requeue_dead(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update outbound_messages
         set status = 'queued', attempts = 0, next_attempt_at = now(), last_error = null,
             updated_at = now()
         where id = $1 and status = 'dead'",
        id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a provider's status report on the message it sent as `provider_message_id`.
/// Statuses only move forward (`sent` → `delivered` → `read`; `failed` from any of them),
/// since reports arrive out of order. False when no message has that id.
pub async fn record_report(
    db: impl PgExecutor<'_>,
    provider: &str,
    provider_message_id: &str,
    status: MessageStatus,
    at: DateTime<Utc>,
    error: Option<&str>,
) -> sqlx::Result<bool> {
    let found = sqlx::query!(
        r#"update outbound_messages m
           set status = case
                   when m.status = 'failed' then m.status
                   when $3::message_status = 'failed' then 'failed'
                   when m.status in ('sent', 'delivered', 'read')
                        and array_position(array['sent', 'delivered', 'read']::message_status[], $3::message_status)
                            > array_position(array['sent', 'delivered', 'read']::message_status[], m.status)
                   then $3::message_status
                   else m.status end,
               delivered_at = case when $3::message_status in ('delivered', 'read') then coalesce(m.delivered_at, $4) else m.delivered_at end,
               read_at = case when $3::message_status = 'read' then coalesce(m.read_at, $4) else m.read_at end,
               failed_at = case when $3::message_status = 'failed' then coalesce(m.failed_at, $4) else m.failed_at end,
               last_error = case when $3::message_status = 'failed' then coalesce($5, m.last_error) else m.last_error end,
               updated_at = now()
           where m.provider = $1 and m.provider_message_id = $2
           returning m.id"#,
        provider,
        provider_message_id,
        status as MessageStatus,
        at,
        error,
    )
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// Opts `phone` out of messages (`source`: `customer`, `inbound_stop`, `operator`).
pub async fn opt_out(db: impl PgExecutor<'_>, phone: &str, source: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into messaging_opt_outs (phone, source) values ($1, $2)
         on conflict (phone) do nothing",
        phone,
        source,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Opts `phone` back in.
pub async fn opt_in(db: impl PgExecutor<'_>, phone: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from messaging_opt_outs where phone = $1", phone)
        .execute(db)
        .await?;
    Ok(())
}

/// When `phone` opted out, if it did.
pub async fn opted_out_at(
    db: impl PgExecutor<'_>,
    phone: &str,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        "select opted_out_at from messaging_opt_outs where phone = $1",
        phone
    )
    .fetch_optional(db)
    .await
}

/// Sets the language customer `id` reads.
pub async fn set_language(
    db: impl PgExecutor<'_>,
    id: i32,
    language: Language,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update customers set language = $2, updated_at = now() where id = $1",
        id,
        language as Language,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The outbox at a glance, for the metrics page.
#[derive(Debug)]
pub struct OutboxStats {
    /// Messages waiting for an attempt.
    pub queued: i64,
    /// Of those, the ones due now.
    pub due: i64,
    /// Seconds the oldest due message has waited past its attempt time (0 when none).
    pub lag_seconds: f64,
    /// Dead-lettered messages.
    pub dead: i64,
}

/// Counts the outbox (through its partial and status indexes: no table scan).
pub async fn outbox_stats(db: impl PgExecutor<'_>) -> sqlx::Result<OutboxStats> {
    sqlx::query_as!(
        OutboxStats,
        r#"select
             (select count(*) from outbound_messages where status = 'queued') as "queued!",
             (select count(*) from outbound_messages
              where status = 'queued' and next_attempt_at <= now()) as "due!",
             coalesce((select extract(epoch from now() - min(next_attempt_at))::float8
                       from outbound_messages
                       where status = 'queued' and next_attempt_at <= now()), 0) as "lag_seconds!",
             (select count(*) from outbound_messages where status = 'dead') as "dead!""#
    )
    .fetch_one(db)
    .await
}
