//! Wallets and the ledger.

use rust_decimal::Decimal;
use sqlx::PgExecutor;

use crate::domain::time::Timestamp;
use crate::domain::wallet::{Direction, PostingOutcome, Wallet, WalletSource, WalletTransaction};

/// Customer `customer_id`'s wallet, if the customer is live.
pub async fn find_by_customer(
    db: impl PgExecutor<'_>,
    customer_id: i32,
) -> sqlx::Result<Option<Wallet>> {
    sqlx::query_as!(
        Wallet,
        r#"select w.id, w.customer_id, w.balance, w.held_amount as held_balance, w.total_earned,
                  w.total_spent, w.created_at, w.updated_at,
                  (select coalesce(sum(rr.amount), 0) from referral_rewards rr
                   where rr.customer_id = w.customer_id and rr.kind = 'wallet'
                     and rr.status in ('pending', 'in_review')) as "pending_balance!"
         from customer_wallets w
         join customers c on c.id = w.customer_id
         where w.customer_id = $1 and not c.is_deleted"#,
        customer_id
    )
    .fetch_optional(db)
    .await
}

/// A customer's statement, newest first, at most `limit` rows, older than `before_id` if
/// given: the first page starts with the rewards still pending (in their hold or in
/// review), then the ledger.
pub async fn transactions(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> sqlx::Result<Vec<WalletTransaction>> {
    sqlx::query_as!(
        WalletTransaction,
        r#"select id as "id!", wallet_id as "wallet_id!", idempotency_key as "idempotency_key!",
                  status as "status!: _", customer_id as "customer_id!",
                  transaction_type as "transaction_type!: _", amount as "amount!",
                  source as "source!: _", reference_id, description, balance_after as "balance_after!",
                  created_at as "created_at!", release_at as "release_at: Timestamp"
         from (
             select 0 as page_part, rr.id::integer as id, w.id as wallet_id,
                    reward_key(rr.referral_id, rr.completion, rr.side, 'wallet') as idempotency_key,
                    'pending'::wallet_transaction_status as status, rr.customer_id,
                    'credit'::wallet_transaction_type as transaction_type, rr.amount,
                    'referral'::wallet_source as source, rr.referral_id as reference_id,
                    (case rr.side when 'referrer' then 'Referral reward' else 'Referral welcome bonus' end)::text
                        as description,
                    w.balance as balance_after, rr.created_at,
                    case when rr.status = 'pending' then rr.release_at end as release_at
             from referral_rewards rr
             join customer_wallets w on w.customer_id = rr.customer_id
             where rr.customer_id = $1 and rr.kind = 'wallet' and rr.status in ('pending', 'in_review')
               and $3::integer is null
             union all
             select 1, t.id, t.wallet_id, t.idempotency_key, t.status, t.customer_id,
                    t.transaction_type, t.amount, t.source, t.reference_id, t.description,
                    t.balance_after, t.created_at, null
             from wallet_transactions t
             join customer_wallets w on w.id = t.wallet_id
             where w.customer_id = $1 and ($3::integer is null or t.id < $3)
         ) statement
         order by page_part, id desc
         limit $2"#,
        customer_id,
        limit,
        before_id,
    )
    .fetch_all(db)
    .await
}

/// Ledger row `id`.
pub async fn find_transaction(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<WalletTransaction> {
    sqlx::query_as!(
        WalletTransaction,
        r#"select id, wallet_id, idempotency_key, status as "status: _", customer_id,
                  transaction_type as "transaction_type: _", amount, source as "source: _",
                  reference_id, description, balance_after, created_at,
                  null::timestamptz as "release_at: Timestamp"
           from wallet_transactions where id = $1"#,
        id
    )
    .fetch_one(db)
    .await
}

/// One movement to post.
#[derive(Debug)]
pub struct Posting<'a> {
    /// Whose wallet.
    pub customer_id: i32,
    /// In or out.
    pub direction: Direction,
    /// Taka, validated positive.
    pub amount: Decimal,
    /// Why.
    pub source: WalletSource,
    /// The referral, order or request it belongs to.
    pub reference_id: Option<i32>,
    /// Statement text.
    pub description: Option<&'a str>,
    /// Makes the movement happen once per wallet.
    pub idempotency_key: &'a str,
    /// Who posts it (`user:3`, `api_key:2`), kept on the ledger row.
    pub created_by: &'a str,
}

/// What posting did (see `post_wallet_transaction` and `post_points_transaction` in the
/// migrations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostOutcome {
    /// Applied now; the new ledger row.
    Posted(i32),
    /// Applied before under the same key, with the same movement; the original row.
    Replayed(i32),
    /// The key was used before for a different movement; nothing changed.
    KeyConflict,
    /// A debit (or redemption) larger than the balance; nothing changed.
    InsufficientFunds,
    /// No live customer has this account; nothing changed.
    AccountNotFound,
}

impl PostOutcome {
    /// Reads the `(outcome, transaction_id)` the posting functions return.
    pub fn from_sql(outcome: PostingOutcome, transaction_id: Option<i32>) -> sqlx::Result<Self> {
        let row = || {
            transaction_id.ok_or_else(|| {
                sqlx::Error::Protocol(format!("posting answered {outcome} without a row"))
            })
        };
        Ok(match outcome {
            PostingOutcome::Posted => Self::Posted(row()?),
            PostingOutcome::Replayed => Self::Replayed(row()?),
            PostingOutcome::KeyConflict => Self::KeyConflict,
            PostingOutcome::InsufficientFunds => Self::InsufficientFunds,
            PostingOutcome::AccountNotFound => Self::AccountNotFound,
        })
    }
}

/// Posts a movement exactly once (one round trip, atomic).
pub async fn post(db: impl PgExecutor<'_>, posting: &Posting<'_>) -> sqlx::Result<PostOutcome> {
    let row = sqlx::query!(
        r#"select outcome as "outcome!: PostingOutcome", transaction_id
           from post_wallet_transaction($1, $2, $3, $4, $5, $6, $7, $8)"#,
        posting.customer_id,
        posting.direction as Direction,
        posting.amount,
        posting.source as WalletSource,
        posting.reference_id,
        posting.description,
        posting.idempotency_key,
        posting.created_by,
    )
    .fetch_one(db)
    .await?;
    PostOutcome::from_sql(row.outcome, row.transaction_id)
}
