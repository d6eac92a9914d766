//! Reading wallets and moving money by hand (operators' credits and debits).

use sqlx::{PgExecutor, PgPool};

use crate::db;
use crate::db::wallets::{PostOutcome, Posting};
use crate::domain::money::Money;
use crate::domain::wallet::{Direction, IdempotencyKey, Wallet, WalletSource, WalletTransaction};
use crate::error::{Code, Error, Result};
use crate::telemetry::metrics;

/// Longest accepted description.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// Validates the optional description and reference every ledger movement may carry.
/// Returns the trimmed description. (The key was checked at the edge: [`IdempotencyKey`].)
pub(crate) fn check_movement(
    description: Option<&str>,
    reference_id: Option<i32>,
) -> Result<Option<&str>> {
    let description = description.map(str::trim).filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN) {
        return Err(Error::invalid_field(
            "description",
            format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    if reference_id.is_some_and(|id| id <= 0) {
        return Err(Error::invalid_field(
            "referenceId",
            "must be a positive integer",
        ));
    }
    Ok(description)
}

/// A customer's wallet.
pub async fn wallet(db: impl PgExecutor<'_>, customer_id: i32) -> Result<Wallet> {
    db::wallets::find_by_customer(db, customer_id)
        .await?
        .ok_or_else(Error::customer_not_found)
}

/// The caller's own wallet. A token of a customer deleted since finds none, answered as
/// TrustCart answers it.
pub async fn own_wallet(db: impl PgExecutor<'_>, customer_id: i32) -> Result<Wallet> {
    db::wallets::find_by_customer(db, customer_id)
        .await?
        .ok_or_else(|| {
            Error::new(
                Code::CustomerNotFound,
                "Customer profile not found for current user",
            )
        })
}

/// A page of a customer's ledger, newest first.
pub async fn transactions(
    pool: &PgPool,
    customer_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> Result<Vec<WalletTransaction>> {
    let rows = db::wallets::transactions(pool, customer_id, limit, before_id).await?;
    super::customer_page(pool, customer_id, rows).await
}

/// An operator's credit or debit.
#[derive(Debug)]
pub struct Movement {
    /// Taka.
    pub amount: Money,
    /// Why.
    pub source: WalletSource,
    /// Statement text.
    pub description: Option<String>,
    /// The referral, order or request it belongs to.
    pub reference_id: Option<i32>,
    /// Required: makes retries safe.
    pub idempotency_key: IdempotencyKey,
}

/// The posted (or, on a replay, the original) transaction, and whether it is new.
#[derive(Debug)]
pub struct Posted {
    /// The ledger row.
    pub transaction: WalletTransaction,
    /// `false` when the key had been used before for the same movement.
    pub created: bool,
}

/// Posts an operator's credit or debit, exactly once per (wallet, key).
pub async fn post(
    pool: &PgPool,
    customer_id: i32,
    direction: Direction,
    movement: Movement,
    actor: &str,
) -> Result<Posted> {
    let description = check_movement(movement.description.as_deref(), movement.reference_id)?;
    let posting = Posting {
        customer_id,
        direction,
        amount: movement.amount.get(),
        source: movement.source,
        reference_id: movement.reference_id,
        description,
        idempotency_key: movement.idempotency_key.as_str(),
        created_by: actor,
    };
    let outcome =
        db::retry_transient(|| async { Ok(db::wallets::post(pool, &posting).await?) }).await?;
    let (id, created) = match outcome {
        PostOutcome::Posted(id) => {
            metrics::wallet_posting(true);
            (id, true)
        }
        PostOutcome::Replayed(id) => {
            metrics::wallet_posting(false);
            (id, false)
        }
        PostOutcome::KeyConflict => {
            return Err(Error::new(
                Code::IdempotencyKeyReused,
                "This idempotency key was already used for a different movement",
            ));
        }
        PostOutcome::InsufficientFunds => {
            return Err(Error::new(
                Code::InsufficientBalance,
                "Insufficient wallet balance",
            ));
        }
        PostOutcome::AccountNotFound => return Err(Error::customer_not_found()),
    };
    let transaction = db::wallets::find_transaction(pool, id).await?;
    Ok(Posted {
        transaction,
        created,
    })
}
