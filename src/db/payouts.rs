//! Partner commissions and payout batches (the SQL functions of
//! `migrations/20261204000120_partner_commission_functions.sql`).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::commission::{
    BatchStatus, PayoutBatchSummary, PayoutLine, PayoutLineStatus, SettleOutcome,
};
use crate::domain::partner::PayoutMethod;
use crate::domain::time::Timestamp;

/// Claims up to `limit` commissions whose hold is over (skipping those another instance or
/// a reversal holds) and releases them, in one transaction. Returns how many.
pub async fn release_due_commissions(db: impl PgExecutor<'_>, limit: i32) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        r#"select release_due_partner_commissions($1) as "released!""#,
        limit
    )
    .fetch_one(db)
    .await
}

/// Builds a payout batch (`create_payout_batch`); `None` when there was nothing to pay.
pub async fn create_batch(
    db: impl PgExecutor<'_>,
    method: PayoutMethod,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    created_by: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"select create_payout_batch($1, $2, $3, $4) as "id""#,
        method as PayoutMethod,
        from,
        to,
        created_by
    )
    .fetch_one(db)
    .await
}

/// A batch's row with what its lines say now.
struct SummaryRow {
    id: i64,
    method: PayoutMethod,
    released_from: DateTime<Utc>,
    released_to: DateTime<Utc>,
    gross_amount: rust_decimal::Decimal,
    netted_amount: rust_decimal::Decimal,
    total_amount: rust_decimal::Decimal,
    paid_amount: rust_decimal::Decimal,
    rejected_amount: rust_decimal::Decimal,
    partner_count: i32,
    commission_count: i32,
    pending_lines: i64,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl From<SummaryRow> for PayoutBatchSummary {
    fn from(row: SummaryRow) -> Self {
        Self {
            id: row.id,
            method: row.method,
            released_from: row.released_from.into(),
            released_to: row.released_to.into(),
            status: if row.pending_lines > 0 {
                BatchStatus::Open
            } else {
                BatchStatus::Settled
            },
            gross_amount: row.gross_amount,
            netted_amount: row.netted_amount,
            total_amount: row.total_amount,
            paid_amount: row.paid_amount,
            rejected_amount: row.rejected_amount,
            partner_count: row.partner_count,
            commission_count: row.commission_count,
            pending_lines: row.pending_lines,
            created_by: row.created_by,
            created_at: row.created_at.into(),
        }
    }
}

/// Batch `id` without its lines.
pub async fn find_batch(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<PayoutBatchSummary>> {
    Ok(summaries(db, Some(id), None, 1).await?.pop())
}

/// Batches, newest first: `limit` of them with an id below `before_id`.
pub async fn list_batches(
    db: impl PgExecutor<'_>,
    limit: i64,
    before_id: Option<i64>,
) -> sqlx::Result<Vec<PayoutBatchSummary>> {
    summaries(db, None, before_id, limit).await
}

/// Batches with what their lines say now (paid, rejected, still pending), newest first:
/// batch `only_id` if given, else those below `before_id`; at most `limit`. The one
/// statement that sums a batch's lines.
async fn summaries(
    db: impl PgExecutor<'_>,
    only_id: Option<i64>,
    before_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<PayoutBatchSummary>> {
    let rows = sqlx::query_as!(
        SummaryRow,
        r#"select b.id, b.method as "method: PayoutMethod", b.released_from, b.released_to,
                  b.gross_amount, b.netted_amount, b.total_amount,
                  coalesce(s.paid_amount, 0) as "paid_amount!", coalesce(s.rejected_amount, 0) as "rejected_amount!",
                  b.partner_count, b.commission_count, coalesce(s.pending_lines, 0) as "pending_lines!",
                  b.created_by, b.created_at
           from payout_batches b
           left join lateral (
               select sum(l.amount) filter (where l.status = 'paid') as paid_amount,
                      sum(l.amount) filter (where l.status = 'rejected') as rejected_amount,
                      count(*) filter (where l.status = 'pending') as pending_lines
               from payout_batch_lines l where l.batch_id = b.id) s on true
           where ($1::bigint is null or b.id = $1) and ($2::bigint is null or b.id < $2)
           order by b.id desc
           limit $3"#,
        only_id,
        before_id,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The lines of batch `batch_id`, by partner id, with the commissions each carries.
pub async fn lines(db: impl PgExecutor<'_>, batch_id: i64) -> sqlx::Result<Vec<PayoutLine>> {
    let rows = sqlx::query!(
        r#"select l.partner_id, p.code as partner_code, l.partner_name, l.account, l.reference,
                  l.gross_amount, l.netted_amount, l.amount, l.commission_count,
                  coalesce((select array_agg(i.commission_id order by i.commission_id)
                            from payout_batch_items i where i.line_id = l.id), '{}') as "commission_ids!",
                  l.status as "status: PayoutLineStatus", l.transaction_id, l.rejection_reason,
                  l.decided_by, l.decided_at
           from payout_batch_lines l
           join referral_partners p on p.id = l.partner_id
           where l.batch_id = $1
           order by l.partner_id"#,
        batch_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| PayoutLine {
            partner_id: row.partner_id,
            partner_code: row.partner_code,
            partner_name: row.partner_name,
            account: row.account,
            reference: row.reference,
            gross_amount: row.gross_amount,
            netted_amount: row.netted_amount,
            amount: row.amount,
            commission_count: row.commission_count,
            commission_ids: row.commission_ids,
            status: row.status,
            transaction_id: row.transaction_id,
            rejection_reason: row.rejection_reason,
            decided_by: row.decided_by,
            decided_at: row.decided_at.map(Timestamp::from),
        })
        .collect())
}

/// One provider answer for a partner's line.
#[derive(Debug)]
pub struct Settlement<'a> {
    /// The batch.
    pub batch_id: i64,
    /// The partner whose line it is.
    pub partner_id: Uuid,
    /// Paid: the provider's transaction id. `None`: rejected.
    pub transaction_id: Option<&'a str>,
    /// Why it was rejected.
    pub reason: Option<&'a str>,
    /// Who answers: `user:3`.
    pub by: &'a str,
}

/// Settles one line (`settle_payout_line`): a compare-and-set on its status.
pub async fn settle(
    db: impl PgExecutor<'_>,
    settlement: &Settlement<'_>,
) -> sqlx::Result<SettleOutcome> {
    sqlx::query_scalar!(
        r#"select settle_payout_line($1, $2, $3, $4, $5, $6) as "outcome!: SettleOutcome""#,
        settlement.batch_id,
        settlement.partner_id,
        settlement.transaction_id,
        settlement.transaction_id.is_none(),
        settlement.reason,
        settlement.by
    )
    .fetch_one(db)
    .await
}
