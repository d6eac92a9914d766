//! Withdrawals: asking for a payout (which holds the amount), and staff deciding it.
//!
//! Who may ask, and to which account, is decided here: the customer's phone must be
//! verified, and a mobile-money account must be that phone, unless a staff user enters
//! another one (recorded in `createdBy`, and `accountIsVerifiedPhone` is false). How much
//! may be held, and each transition, are decided in SQL under the wallet's lock.

use sqlx::PgPool;

use crate::config::Config;
use crate::db;
use crate::db::withdrawals::NewWithdrawal;
use crate::domain::money::Money;
use crate::domain::phone::Phone;
use crate::domain::wallet::IdempotencyKey;
use crate::domain::withdrawal::{
    WithdrawalMethod, WithdrawalOutcome, WithdrawalRequest, WithdrawalStatus,
};
use crate::error::{Code, Error, Result};
use crate::failpoint::failpoint;

/// Longest accepted bank account text (the column is varchar(80)).
pub const MAX_ACCOUNT_LEN: usize = 80;
/// Longest accepted note.
pub const MAX_NOTES_LEN: usize = 500;
/// Longest accepted payout reference (the column is varchar(100)).
pub const MAX_PAYOUT_REFERENCE_LEN: usize = 100;

/// What a withdrawal request asks for.
#[derive(Debug)]
pub struct WithdrawalInput {
    /// Taka.
    pub amount: Money,
    /// How it is paid out.
    pub method: WithdrawalMethod,
    /// A mobile number (bKash, Nagad, Rocket) or bank account details.
    pub account: String,
    /// Free text.
    pub notes: Option<String>,
    /// Optional: the same key returns the same request instead of holding twice.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Who is asking: the customer themself, or staff on their behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requester {
    /// The customer: a mobile-money account must be their verified phone.
    Customer,
    /// A staff user or API key (route 16): may enter another account, which is recorded.
    Staff,
}

/// The request, and whether it is new (`false` on an idempotent replay).
#[derive(Debug)]
pub struct Requested {
    /// The request.
    pub request: WithdrawalRequest,
    /// Whether this call created it.
    pub created: bool,
}

fn trimmed(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Asks for a payout of `customer_id`'s wallet money, holding the amount.
pub async fn request(
    pool: &PgPool,
    config: &Config,
    customer_id: i32,
    input: WithdrawalInput,
    requester: Requester,
    actor: &str,
) -> Result<Requested> {
    let min = config.withdrawal_min_amount;
    if input.amount < min {
        return Err(Error::invalid_field(
            "amount",
            format!("must be at least {min} taka"),
        ));
    }
    let notes = trimmed(input.notes);
    if notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTES_LEN)
    {
        return Err(Error::invalid_field(
            "notes",
            format!("must be at most {MAX_NOTES_LEN} characters"),
        ));
    }
    let customer = db::phone_codes::customer_phone(pool, customer_id)
        .await?
        .ok_or_else(Error::customer_not_found)?;
    if customer.phone_verified_at.is_none() {
        return Err(Error::new(
            Code::PhoneNotVerified,
            "Verify the phone number first: a code is sent by POST /api/loyalty/me/phone-verification",
        ));
    }
    let account = input.account.trim();
    let (account, account_is_verified_phone) = if input.method.is_mobile_money() {
        let phone =
            Phone::parse(account).map_err(|e| Error::invalid_field("account", e.to_string()))?;
        let is_verified_phone = phone.as_str() == customer.phone;
        if !is_verified_phone && requester == Requester::Customer {
            return Err(Error::invalid_field(
                "account",
                format!(
                    "must be your verified phone number for {}",
                    input.method.as_str()
                ),
            ));
        }
        (phone.as_str().to_owned(), is_verified_phone)
    } else {
        let len = account.chars().count();
        if len == 0 || len > MAX_ACCOUNT_LEN {
            return Err(Error::invalid_field(
                "account",
                format!("is required, at most {MAX_ACCOUNT_LEN} characters"),
            ));
        }
        (account.to_owned(), false)
    };

    let new = NewWithdrawal {
        customer_id,
        amount: input.amount.get(),
        method: input.method,
        account: &account,
        notes: notes.as_deref(),
        account_is_verified_phone,
        created_by: actor,
        idempotency_key: input.idempotency_key.as_ref().map(IdempotencyKey::as_str),
        max_per_day: config.withdrawal_max_per_day.get(),
    };
    let (outcome, id) =
        db::retry_transient(|| async { Ok(db::withdrawals::request(pool, &new).await?) }).await?;
    let created = match outcome {
        WithdrawalOutcome::Created => true,
        WithdrawalOutcome::Replayed => false,
        WithdrawalOutcome::KeyConflict => {
            return Err(Error::new(
                Code::IdempotencyKeyReused,
                "This idempotency key was already used for a different withdrawal",
            ));
        }
        WithdrawalOutcome::InsufficientFunds => {
            return Err(Error::new(
                Code::InsufficientBalance,
                "Insufficient wallet balance (money held for other withdrawals cannot be used)",
            )
            .for_field("amount"));
        }
        WithdrawalOutcome::DailyLimitExceeded => {
            return Err(Error::new(
                Code::WithdrawalLimitExceeded,
                format!(
                    "At most {} taka can be withdrawn in 24 hours",
                    config.withdrawal_max_per_day
                ),
            )
            .for_field("amount"));
        }
        WithdrawalOutcome::AccountNotFound => return Err(Error::customer_not_found()),
        other => {
            return Err(anyhow::anyhow!("request_withdrawal answered {other}").into());
        }
    };
    let id =
        id.ok_or_else(|| anyhow::anyhow!("request_withdrawal answered {outcome} without an id"))?;
    let request = db::withdrawals::find(pool, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("withdrawal {id} vanished"))?;
    if created {
        tracing::info!(
            withdrawal.id = id,
            customer.id = customer_id,
            method = %request.method,
            verified_account = account_is_verified_phone,
            actor,
            "withdrawal requested"
        );
    }
    Ok(Requested { request, created })
}

/// A staff decision on a request.
#[derive(Debug)]
pub struct Decision {
    /// The new status.
    pub status: WithdrawalStatus,
    /// Required to mark it paid: the payout's transaction id.
    pub payout_reference: Option<String>,
    /// Free text (kept when absent).
    pub notes: Option<String>,
}

/// Moves request `id` to a new status: approve, pay (debits the held amount once) or
/// reject (releases the hold).
pub async fn decide(
    pool: &PgPool,
    id: i64,
    decision: Decision,
    actor: &str,
) -> Result<WithdrawalRequest> {
    let payout_reference = trimmed(decision.payout_reference);
    if payout_reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_PAYOUT_REFERENCE_LEN)
    {
        return Err(Error::invalid_field(
            "payoutReference",
            format!("must be at most {MAX_PAYOUT_REFERENCE_LEN} characters"),
        ));
    }
    if decision.status == WithdrawalStatus::Paid && payout_reference.is_none() {
        return Err(Error::invalid_field(
            "payoutReference",
            "is required to mark a withdrawal paid (the bKash, Nagad, Rocket or bank transaction id)",
        ));
    }
    let notes = trimmed(decision.notes);
    if notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTES_LEN)
    {
        return Err(Error::invalid_field(
            "notes",
            format!("must be at most {MAX_NOTES_LEN} characters"),
        ));
    }
    failpoint!("withdrawal.before_decide");
    let outcome = db::retry_transient(|| async {
        Ok(db::withdrawals::decide(
            pool,
            id,
            decision.status,
            actor,
            payout_reference.as_deref(),
            notes.as_deref(),
        )
        .await?)
    })
    .await?;
    failpoint!("withdrawal.after_commit");
    let request = db::withdrawals::find(pool, id).await?;
    match (outcome, request) {
        (WithdrawalOutcome::Applied, Some(request)) => {
            tracing::info!(withdrawal.id = id, status = %request.status, actor, "withdrawal decided");
            Ok(request)
        }
        (WithdrawalOutcome::NotFound, _) | (_, None) => Err(not_found()),
        (WithdrawalOutcome::AccountNotFound, _) => Err(Error::customer_not_found()),
        (WithdrawalOutcome::InvalidTransition, Some(request)) => Err(Error::new(
            Code::InvalidTransition,
            format!(
                "A {} withdrawal cannot become {}",
                request.status, decision.status
            ),
        )),
        (other, _) => Err(anyhow::anyhow!("decide_withdrawal answered {other}").into()),
    }
}

fn not_found() -> Error {
    Error::new(Code::WithdrawalNotFound, "Withdrawal request not found")
}

/// A page of a customer's requests, newest first.
pub async fn list(
    pool: &PgPool,
    customer_id: i32,
    status: Option<WithdrawalStatus>,
    limit: i64,
    before_id: Option<i64>,
) -> Result<Vec<WithdrawalRequest>> {
    let rows = db::withdrawals::list(pool, customer_id, status, limit, before_id).await?;
    super::customer_page(pool, customer_id, rows).await
}
