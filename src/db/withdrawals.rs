//! Withdrawal requests (the hold and the transitions are SQL functions; see
//! `migrations/20261202000050_withdrawals.sql`).

use rust_decimal::Decimal;
use sqlx::PgExecutor;

use crate::domain::time::Timestamp;
use crate::domain::withdrawal::{
    WithdrawalMethod, WithdrawalOutcome, WithdrawalRequest, WithdrawalStatus,
};

/// A request to create.
#[derive(Debug)]
pub struct NewWithdrawal<'a> {
    /// Whose wallet.
    pub customer_id: i32,
    /// Taka, validated.
    pub amount: Decimal,
    /// How it is paid out.
    pub method: WithdrawalMethod,
    /// Normalised account.
    pub account: &'a str,
    /// Free text.
    pub notes: Option<&'a str>,
    /// Whether the account is the customer's verified phone.
    pub account_is_verified_phone: bool,
    /// Who asks (`customer:7`, `user:3`).
    pub created_by: &'a str,
    /// Makes a retry return the same request.
    pub idempotency_key: Option<&'a str>,
    /// The customer's maximum for 24 hours.
    pub max_per_day: Decimal,
}

/// Creates a request and holds its amount, atomically (see `request_withdrawal`).
pub async fn request(
    db: impl PgExecutor<'_>,
    new: &NewWithdrawal<'_>,
) -> sqlx::Result<(WithdrawalOutcome, Option<i64>)> {
    let row = sqlx::query!(
        r#"select outcome as "outcome!: WithdrawalOutcome", request_id
           from request_withdrawal($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
        new.customer_id,
        new.amount,
        new.method as WithdrawalMethod,
        new.account,
        new.notes,
        new.account_is_verified_phone,
        new.created_by,
        new.idempotency_key,
        new.max_per_day,
    )
    .fetch_one(db)
    .await?;
    Ok((row.outcome, row.request_id))
}

/// Moves request `id` to `status` (see `decide_withdrawal`).
pub async fn decide(
    db: impl PgExecutor<'_>,
    id: i64,
    status: WithdrawalStatus,
    actor: &str,
    payout_reference: Option<&str>,
    notes: Option<&str>,
) -> sqlx::Result<WithdrawalOutcome> {
    sqlx::query_scalar!(
        r#"select decide_withdrawal($1, $2, $3, $4, $5) as "outcome!: WithdrawalOutcome""#,
        id,
        status as WithdrawalStatus,
        actor,
        payout_reference,
        notes,
    )
    .fetch_one(db)
    .await
}

/// Request `id`.
pub async fn find(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<WithdrawalRequest>> {
    sqlx::query_as!(
        WithdrawalRequest,
        r#"select id, customer_id, amount, method as "method: _", account, status as "status: _",
                  notes, account_is_verified_phone, created_by,
                  approved_by, approved_at as "approved_at: Timestamp",
                  rejected_by, rejected_at as "rejected_at: Timestamp",
                  paid_by, paid_at as "paid_at: Timestamp",
                  payout_reference, paid_transaction_id, created_at, updated_at
           from wallet_withdrawal_requests where id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// A customer's requests, newest first, at most `limit`, older than `before_id` if given,
/// in `status` if given.
pub async fn list(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    status: Option<WithdrawalStatus>,
    limit: i64,
    before_id: Option<i64>,
) -> sqlx::Result<Vec<WithdrawalRequest>> {
    sqlx::query_as!(
        WithdrawalRequest,
        r#"select id, customer_id, amount, method as "method: _", account, status as "status: _",
                  notes, account_is_verified_phone, created_by,
                  approved_by, approved_at as "approved_at: Timestamp",
                  rejected_by, rejected_at as "rejected_at: Timestamp",
                  paid_by, paid_at as "paid_at: Timestamp",
                  payout_reference, paid_transaction_id, created_at, updated_at
           from wallet_withdrawal_requests
           where customer_id = $1
             and ($2::withdrawal_status is null or status = $2)
             and ($4::bigint is null or id < $4)
           order by id desc
           limit $3"#,
        customer_id,
        status as Option<WithdrawalStatus>,
        limit,
        before_id,
    )
    .fetch_all(db)
    .await
}
