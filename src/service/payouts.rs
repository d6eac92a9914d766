//! Paying partners: payout batches of released commissions, their bulk-disbursement file,
//! and the providers' answers (docs/PAYOUTS.md).
//!
//! What a batch takes and what an answer does are decided in SQL (`create_payout_batch`,
//! `settle_payout_line`), under row locks, so concurrent builds never take one commission
//! twice and concurrent answers never pay one line twice. Here: the input's rules, one
//! transaction per request, and the file's layout.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::db::payouts::Settlement;
use crate::domain::commission::{PayoutBatch, PayoutBatchSummary, PayoutLineStatus, SettleOutcome};
use crate::domain::partner::PayoutMethod;
use crate::domain::phone::Phone;
use crate::error::{Code, Error, Problems, Result};

/// Longest accepted transaction id (the column is varchar(100)).
pub const MAX_TRANSACTION_ID_LEN: usize = 100;
/// Longest accepted rejection reason (the column is varchar(200)).
pub const MAX_REASON_LEN: usize = 200;
/// Most answers one request may carry.
pub const MAX_ANSWERS: usize = 1000;

/// The 404 of a batch id that names no batch.
fn batch_not_found() -> Error {
    Error::new(Code::PayoutBatchNotFound, "Payout batch not found")
}

/// Builds a payout batch of every released, unpaid commission released in `[from, to)`
/// of the partners paid by `method`. Nothing to pay is 422 `payout_batch_empty`, and no
/// empty batch is written.
pub async fn create(
    pool: &PgPool,
    method: PayoutMethod,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    actor: &str,
) -> Result<PayoutBatch> {
    if to <= from {
        return Err(Error::invalid_field("to", "must be after from"));
    }
    let id = db::retry_transient(|| async {
        let mut tx = pool.begin().await?;
        let id = db::payouts::create_batch(&mut *tx, method, from, to, actor).await?;
        if id.is_some() {
            tx.commit().await?;
        }
        Ok(id)
    })
    .await?;
    let Some(id) = id else {
        return Err(Error::new(
            Code::PayoutBatchEmpty,
            "No released, unpaid commission of a partner paid by this method was released in this window",
        ));
    };
    tracing::info!(batch.id = id, %method, actor, "payout batch built");
    get(pool, id).await
}

/// Batch `id` with its lines.
pub async fn get(pool: &PgPool, id: i64) -> Result<PayoutBatch> {
    let batch = db::payouts::find_batch(pool, id)
        .await?
        .ok_or_else(batch_not_found)?;
    let lines = db::payouts::lines(pool, id).await?;
    Ok(PayoutBatch { batch, lines })
}

/// Batches, newest first.
pub async fn list(
    pool: &PgPool,
    limit: i64,
    before_id: Option<i64>,
) -> Result<Vec<PayoutBatchSummary>> {
    Ok(db::payouts::list_batches(pool, limit, before_id).await?)
}

/// The provider's answer for one partner's transfer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Paid, with the provider's transaction id.
    Paid {
        /// bKash/Nagad TrxID, or the bank's reference.
        transaction_id: String,
    },
    /// Refused (a closed wallet, a wrong number): the commissions go back to unpaid.
    Rejected {
        /// Why, if known.
        reason: Option<String>,
    },
}

/// One answer as a client sends it, before its rules are checked.
#[derive(Debug, Clone)]
pub struct AnswerInput {
    /// The partner whose line it is.
    pub partner_id: Uuid,
    /// Paid with this transaction id…
    pub transaction_id: Option<String>,
    /// …or rejected.
    pub rejected: bool,
    /// Why it was rejected.
    pub reason: Option<String>,
}

/// Checks the answers: at least one, at most [`MAX_ANSWERS`], one per partner, each paid
/// with a transaction id (1–100 printable characters) or rejected, never both.
fn check_answers(inputs: Vec<AnswerInput>) -> Result<Vec<(Uuid, Answer)>> {
    let mut problems = Problems::default();
    if inputs.is_empty() || inputs.len() > MAX_ANSWERS {
        problems.add("body", format!("must hold 1 to {MAX_ANSWERS} answers"));
    }
    let mut answers = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let field = |name: &str| format!("[{index}].{name}");
        if answers.iter().any(|(id, _)| *id == input.partner_id) {
            problems.add(field("partnerId"), "is answered twice");
        }
        let transaction_id = input
            .transaction_id
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let reason = input
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        let answer = match (transaction_id, input.rejected) {
            (Some(_), true) => {
                problems.add(
                    field("transactionId"),
                    "a rejected transfer has no transaction id",
                );
                continue;
            }
            (None, false) => {
                problems.add(field("transactionId"), "is required (or rejected: true)");
                continue;
            }
            (Some(transaction_id), false) => {
                if transaction_id.chars().count() > MAX_TRANSACTION_ID_LEN
                    || transaction_id.chars().any(char::is_control)
                {
                    problems.add(
                        field("transactionId"),
                        format!("must be 1 to {MAX_TRANSACTION_ID_LEN} printable characters"),
                    );
                }
                if reason.is_some() {
                    problems.add(field("reason"), "is only for a rejected transfer");
                }
                Answer::Paid { transaction_id }
            }
            (None, true) => {
                if reason.as_ref().is_some_and(|r| {
                    r.chars().count() > MAX_REASON_LEN || r.chars().any(char::is_control)
                }) {
                    problems.add(
                        field("reason"),
                        format!("must be at most {MAX_REASON_LEN} printable characters"),
                    );
                }
                Answer::Rejected { reason }
            }
        };
        answers.push((input.partner_id, answer));
    }
    problems.finish(Code::ValidationFailed)?;
    // Lines are locked in partner order, so concurrent requests never deadlock.
    answers.sort_by_key(|(id, _)| *id);
    Ok(answers)
}

/// Records the provider's answers for batch `id`, all or none, and returns the batch.
/// The same answers again change nothing and return the same batch; a partner without a
/// line in the batch is 422 `partner_not_in_batch`; another transaction id for a paid line
/// is 409 `payout_transaction_mismatch`; paying a rejected line (or rejecting a paid one)
/// is 409 `invalid_transition`.
pub async fn settle(
    pool: &PgPool,
    id: i64,
    inputs: Vec<AnswerInput>,
    actor: &str,
) -> Result<PayoutBatch> {
    let answers = check_answers(inputs)?;
    db::payouts::find_batch(pool, id)
        .await?
        .ok_or_else(batch_not_found)?;
    db::retry_transient(|| async {
        let mut tx = pool.begin().await?;
        for (partner_id, answer) in &answers {
            let settlement = match answer {
                Answer::Paid { transaction_id } => Settlement {
                    batch_id: id,
                    partner_id: *partner_id,
                    transaction_id: Some(transaction_id),
                    reason: None,
                    by: actor,
                },
                Answer::Rejected { reason } => Settlement {
                    batch_id: id,
                    partner_id: *partner_id,
                    transaction_id: None,
                    reason: reason.as_deref(),
                    by: actor,
                },
            };
            match db::payouts::settle(&mut *tx, &settlement).await? {
                SettleOutcome::Paid | SettleOutcome::Rejected | SettleOutcome::Replayed => {}
                SettleOutcome::NotInBatch => {
                    return Err(Error::new(
                        Code::PartnerNotInBatch,
                        format!("Partner {partner_id} has no transfer in this batch"),
                    )
                    .for_field("partnerId"));
                }
                SettleOutcome::TransactionMismatch => {
                    return Err(Error::new(
                        Code::PayoutTransactionMismatch,
                        format!(
                            "Partner {partner_id}'s transfer was already paid with another transaction id"
                        ),
                    )
                    .for_field("transactionId"));
                }
                SettleOutcome::InvalidTransition => {
                    return Err(Error::new(
                        Code::InvalidTransition,
                        format!(
                            "Partner {partner_id}'s transfer was already {}",
                            match answer {
                                Answer::Paid { .. } => "rejected",
                                Answer::Rejected { .. } => "paid",
                            }
                        ),
                    ));
                }
            }
        }
        tx.commit().await?;
        Ok(())
    })
    .await?;
    tracing::info!(
        batch.id = id,
        answers = answers.len(),
        actor,
        "payout answers recorded"
    );
    get(pool, id).await
}

/// The columns of the bulk-disbursement file (docs/PAYOUTS.md): a wallet file for bKash
/// and Nagad, an account file for banks.
pub fn csv_header(method: PayoutMethod) -> [&'static str; 5] {
    [
        "SL",
        if method.is_wallet() {
            "Wallet Number"
        } else {
            "Account"
        },
        "Amount",
        "Reference",
        "Name",
    ]
}

/// A text cell a spreadsheet could read as a formula (`=`, `+`, `-`, `@`, a tab or a
/// carriage return first) is written with a leading `'`, which spreadsheets show as text
/// (OWASP's advice on CSV injection). Wallet numbers, amounts and references are digits
/// and letters of our own and never need it.
fn text_cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

/// A wallet number as the providers' bulk files write it: the national 11 digits
/// (`01712345678`). A stored account that is not a wallet number is written as it is.
fn wallet_number(account: &str) -> String {
    match Phone::parse(account) {
        Ok(phone) => format!("0{}", &phone.digits()[3..]),
        Err(_) => text_cell(account),
    }
}

/// Taka with exactly two decimals, no thousands separator, no currency sign.
fn amount_cell(amount: Decimal) -> String {
    format!("{:.2}", amount.round_dp(2))
}

/// The bulk-disbursement file of batch `id`: one row per transfer still to be made (its
/// line pending), so a file downloaded again after some answers never pays a partner
/// twice. Returns the method (for the file name) and the bytes.
pub async fn csv(pool: &PgPool, id: i64) -> Result<(PayoutMethod, Vec<u8>)> {
    let batch = get(pool, id).await?;
    let method = batch.batch.method;
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    let write = |e: csv::Error| Error::from(anyhow::Error::new(e));
    writer.write_record(csv_header(method)).map_err(write)?;
    let pending = batch
        .lines
        .iter()
        .filter(|line| line.status == PayoutLineStatus::Pending);
    for (n, line) in pending.enumerate() {
        let account = if method.is_wallet() {
            wallet_number(&line.account)
        } else {
            text_cell(&line.account)
        };
        writer
            .write_record([
                (n + 1).to_string(),
                account,
                amount_cell(line.amount),
                line.reference.clone(),
                text_cell(line.partner_name.as_deref().unwrap_or(&line.partner_code)),
            ])
            .map_err(write)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::from(anyhow::anyhow!("writing the payout file: {e}")))?;
    Ok((method, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_written_as_text() {
        for (raw, cell) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+8801", "'+8801"),
            ("-1+1", "'-1+1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tTab", "'\tTab"),
            ("Rahim", "Rahim"),
            ("রহিম", "রহিম"),
        ] {
            assert_eq!(text_cell(raw), cell);
        }
    }

    #[test]
    fn wallets_are_the_national_eleven_digits() {
        assert_eq!(wallet_number("+8801712345678"), "01712345678");
    }

    #[test]
    fn amounts_have_two_decimals() {
        assert_eq!(amount_cell(Decimal::new(125, 0)), "125.00");
        assert_eq!(amount_cell(Decimal::new(12505, 2)), "125.05");
    }
}
