//! Fraud signals, rules, the blocklist and the verdict (see
//! `migrations/20261202000030_fraud.sql`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;

use crate::domain::fraud::{
    BlocklistEntry, BlocklistKind, FraudAction, FraudRules, MaskedSignal, SignalContext,
    SignalKind, Verdict, mask,
};
use crate::domain::time::Timestamp;

/// A signal to record.
#[derive(Clone, Debug)]
pub struct NewSignal {
    /// Whose signal it is (`None` at the landing).
    pub customer_id: Option<i32>,
    /// The referral it was recorded with.
    pub referral_id: Option<i32>,
    /// At the landing: the owner of the code visited.
    pub referrer_customer_id: Option<i32>,
    /// The order it came with.
    pub order_id: Option<i32>,
    /// What it is.
    pub kind: SignalKind,
    /// Where it was recorded.
    pub context: SignalContext,
    /// The canonical value (already normalised, hashed for addresses of clients).
    pub value: String,
}

/// Records signals, one statement for all of them. An order's signal already recorded
/// (same order, kind and value) is kept once.
pub async fn insert_signals(db: impl PgExecutor<'_>, signals: &[NewSignal]) -> sqlx::Result<()> {
    if signals.is_empty() {
        return Ok(());
    }
    let customers: Vec<Option<i32>> = signals.iter().map(|s| s.customer_id).collect();
    let referrals: Vec<Option<i32>> = signals.iter().map(|s| s.referral_id).collect();
    let referrers: Vec<Option<i32>> = signals.iter().map(|s| s.referrer_customer_id).collect();
    let orders: Vec<Option<i32>> = signals.iter().map(|s| s.order_id).collect();
    let kinds: Vec<SignalKind> = signals.iter().map(|s| s.kind).collect();
    let contexts: Vec<SignalContext> = signals.iter().map(|s| s.context).collect();
    let values: Vec<String> = signals.iter().map(|s| s.value.clone()).collect();
    sqlx::query!(
        "insert into fraud_signals
             (customer_id, referral_id, referrer_customer_id, order_id, kind, context, value)
         select * from unnest($1::integer[], $2::integer[], $3::integer[], $4::integer[],
                              $5::signal_kind[], $6::signal_context[], $7::text[])
         on conflict do nothing",
        &customers as &[Option<i32>],
        &referrals as &[Option<i32>],
        &referrers as &[Option<i32>],
        &orders as &[Option<i32>],
        &kinds as &[SignalKind],
        &contexts as &[SignalContext],
        &values,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The signals behind the verdicts of `referral_ids`, masked for the review queue, by
/// referral: each friend's own (signup, orders) and the referral's (the invitation's),
/// oldest first. One query for a whole page of the queue.
pub async fn masked_signals(
    db: impl PgExecutor<'_>,
    referral_ids: &[i32],
) -> sqlx::Result<HashMap<i32, Vec<MaskedSignal>>> {
    let rows = sqlx::query!(
        r#"select r.id as referral_id, s.kind as "kind: SignalKind",
                  s.context as "context: SignalContext", s.value, s.created_at,
                  coalesce(s.customer_id = r.referred_customer_id, false) as "own!"
           from customer_referrals r
           join fraud_signals s
             on s.referral_id = r.id or s.customer_id = r.referred_customer_id
           where r.id = any($1)
           order by r.id, s.id"#,
        referral_ids
    )
    .fetch_all(db)
    .await?;
    let mut signals: HashMap<i32, Vec<MaskedSignal>> = HashMap::new();
    for row in rows {
        signals
            .entry(row.referral_id)
            .or_default()
            .push(MaskedSignal {
                kind: row.kind,
                context: row.context,
                value: mask(row.kind, &row.value),
                own: row.own,
                created_at: row.created_at.into(),
            });
    }
    Ok(signals)
}

/// The fraud verdict of a referral at the delivery of an order (`fraud_verdict`).
pub async fn verdict(
    db: impl PgExecutor<'_>,
    referral_id: i32,
    order_id: Option<i32>,
) -> sqlx::Result<Verdict> {
    let row = sqlx::query!(
        r#"select action as "action!: FraudAction", reasons as "reasons!", blocked_by
           from fraud_verdict($1, $2)"#,
        referral_id,
        order_id
    )
    .fetch_one(db)
    .await?;
    Ok(Verdict {
        action: row.action,
        reasons: row.reasons,
        blocked_by: row.blocked_by,
    })
}

/// The rules, who last changed them, and when.
pub struct StoredRules {
    /// The rules.
    pub rules: FraudRules,
    /// `system`, `user:{id}`, `api_key:{id}`.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// The rules row.
pub async fn rules(db: impl PgExecutor<'_>) -> sqlx::Result<StoredRules> {
    let row = sqlx::query!(
        r#"select rules as "rules: Json<FraudRules>", updated_by, updated_at from fraud_rules"#
    )
    .fetch_one(db)
    .await?;
    Ok(StoredRules {
        rules: row.rules.0,
        updated_by: row.updated_by,
        updated_at: row.updated_at,
    })
}

/// Replaces the rules.
pub async fn replace_rules(
    db: impl PgExecutor<'_>,
    rules: &FraudRules,
    actor: &str,
) -> sqlx::Result<StoredRules> {
    let row = sqlx::query!(
        r#"update fraud_rules set rules = $1, updated_by = $2, updated_at = now()
           returning rules as "rules: Json<FraudRules>", updated_by, updated_at"#,
        Json(rules) as _,
        actor
    )
    .fetch_one(db)
    .await?;
    Ok(StoredRules {
        rules: row.rules.0,
        updated_by: row.updated_by,
        updated_at: row.updated_at,
    })
}

/// The first kind of blocklist entry the friend matches, in the order phone, email
/// domain, device, address.
pub async fn blocklisted(
    db: impl PgExecutor<'_>,
    phone: &str,
    email_domain: Option<&str>,
    device: Option<&str>,
    address: Option<&str>,
) -> sqlx::Result<Option<BlocklistKind>> {
    sqlx::query_scalar!(
        r#"select kind as "kind: BlocklistKind" from fraud_blocklist
           where (kind = 'phone' and value = $1)
              or (kind = 'email_domain' and value = $2)
              or (kind = 'device' and value = $3)
              or (kind = 'address' and value = $4)
           order by kind limit 1"#,
        phone,
        email_domain,
        device,
        address
    )
    .fetch_optional(db)
    .await
}

/// A page of the blocklist, newest first.
pub async fn list_blocklist(
    db: impl PgExecutor<'_>,
    kind: Option<BlocklistKind>,
    limit: i64,
    before_id: Option<i32>,
) -> sqlx::Result<Vec<BlocklistEntry>> {
    sqlx::query_as!(
        BlocklistEntry,
        r#"select id, kind as "kind: BlocklistKind", value, note, created_by,
                  created_at as "created_at: Timestamp"
           from fraud_blocklist
           where ($1::blocklist_kind is null or kind = $1)
             and ($2::integer is null or id < $2)
           order by id desc limit $3"#,
        kind as Option<BlocklistKind>,
        before_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// Adds an entry (`fraud_blocklist_entry_key` refuses a duplicate).
pub async fn insert_blocklist(
    db: impl PgExecutor<'_>,
    kind: BlocklistKind,
    value: &str,
    note: Option<&str>,
    actor: &str,
) -> sqlx::Result<BlocklistEntry> {
    sqlx::query_as!(
        BlocklistEntry,
        r#"insert into fraud_blocklist (kind, value, note, created_by) values ($1, $2, $3, $4)
           returning id, kind as "kind: BlocklistKind", value, note, created_by,
                     created_at as "created_at: Timestamp""#,
        kind as BlocklistKind,
        value,
        note,
        actor
    )
    .fetch_one(db)
    .await
}

/// Removes an entry; whether it existed.
pub async fn delete_blocklist(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<bool> {
    let done = sqlx::query!("delete from fraud_blocklist where id = $1", id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}
