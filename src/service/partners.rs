//! Referral partners: influencers, communities and shops with their own codes.

use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::domain::money::{Money, Percent};
use crate::domain::partner::{CommissionScope, Partner, PartnerType, PayoutMethod};
use crate::domain::phone::Phone;
use crate::error::{Code, Error, Problems, Result};

/// What an admin asks to set on a partner. `None` keeps the current value (or takes the
/// default on creation); `Some(None)` clears a nullable field.
#[derive(Debug, Default)]
pub struct PartnerChanges {
    /// The code (trimmed here; required on creation).
    pub code: Option<String>,
    /// `influencer`, `community`, `delivery_rider` or `affiliate` (trimmed, any case).
    pub partner_type: Option<String>,
    /// Display name (at most 200 characters; blank clears it).
    pub name: Option<Option<String>>,
    /// Whether the code attributes anyone.
    pub is_active: Option<bool>,
    /// The campaign the partner's customers get.
    pub campaign_id: Option<Option<Uuid>>,
    /// The partner's phone, any Bangladeshi spelling (stored E.164).
    pub contact_phone: Option<Option<String>>,
    /// `bkash`, `nagad` or `bank`.
    pub payout_method: Option<Option<String>>,
    /// A bKash/Nagad wallet number, or the bank account text.
    pub payout_account: Option<Option<String>>,
    /// Fixed taka per delivered order. Setting it clears a percentage.
    pub commission_amount: Option<Option<Money>>,
    /// Percent of the order. Setting it clears a fixed amount.
    pub commission_percent: Option<Option<Percent>>,
    /// The percentage's cap.
    pub commission_cap: Option<Option<Money>>,
    /// `first_order` or `every_order`.
    pub commission_scope: Option<String>,
    /// 1–3650 days; required for `every_order`.
    pub commission_days: Option<Option<i32>>,
    /// The partner's own customer account.
    pub customer_id: Option<Option<i32>>,
}

/// Longest accepted bank account text (the column is varchar(80)).
pub const MAX_BANK_ACCOUNT_LEN: usize = 80;
/// Longest commission window, in days (ten years).
pub const MAX_COMMISSION_DAYS: i32 = 3650;

/// The 404 of a partner id or code that names no partner.
pub(crate) fn partner_not_found() -> Error {
    Error::new(Code::PartnerNotFound, "Partner not found")
}

/// A page of partners, newest first: at most `limit`, after partner `before_id` (the last
/// of the previous page; 400 `invalid_query` when it names no partner).
pub async fn list(
    pool: &PgPool,
    include_inactive: bool,
    before_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Partner>> {
    let before = match before_id {
        None => None,
        Some(id) => Some(
            db::partners::position(pool, id)
                .await?
                .ok_or_else(|| super::unknown_cursor("beforeId", "partner"))?,
        ),
    };
    Ok(db::partners::list(pool, include_inactive, before, limit).await?)
}

/// `new` when given, else `current`: the merge of one nullable field.
fn merged<T>(new: Option<Option<T>>, current: Option<T>) -> Option<T> {
    match new {
        Some(value) => value,
        None => current,
    }
}

/// A name of an enum shared with SQL, read leniently (trimmed, any case); the problem
/// names the allowed values.
fn parse_name<T: Copy>(
    raw: &str,
    field: &str,
    from_name: fn(&str) -> Option<T>,
    all: &[&str],
    problems: &mut Problems,
) -> Option<T> {
    let value = from_name(&raw.trim().to_ascii_lowercase());
    if value.is_none() {
        problems.add(field, format!("must be one of {}", all.join(", ")));
    }
    value
}

/// A payout account for `method`, normalised: a wallet is a Bangladeshi mobile number
/// (E.164), a bank account trimmed text of 1 to [`MAX_BANK_ACCOUNT_LEN`] characters
/// without control characters.
fn payout_account(method: PayoutMethod, raw: &str) -> std::result::Result<String, String> {
    let raw = raw.trim();
    if method.is_wallet() {
        Phone::parse(raw)
            .map(|phone| phone.as_str().to_owned())
            .map_err(|e| format!("a {method} wallet {e}"))
    } else if raw.is_empty()
        || raw.chars().count() > MAX_BANK_ACCOUNT_LEN
        || raw.chars().any(char::is_control)
    {
        Err(format!(
            "must be the bank account, 1 to {MAX_BANK_ACCOUNT_LEN} characters"
        ))
    } else {
        Ok(raw.to_owned())
    }
}

/// Creates (`id` = `None`) or updates a partner. Every field is checked here, and every
/// problem is named in one 422; the table's checks say the same again.
pub async fn save(pool: &PgPool, id: Option<Uuid>, input: PartnerChanges) -> Result<Partner> {
    let mut tx = pool.begin().await?;
    let current = match id {
        Some(id) => Some(
            db::partners::lock(&mut *tx, id)
                .await?
                .ok_or_else(partner_not_found)?,
        ),
        None => None,
    };
    let current = current.as_ref();
    let mut problems = Problems::default();

    let code = match (input.code.map(|c| c.trim().to_owned()), current) {
        (Some(code), _) => code,
        (None, Some(current)) => current.code.clone(),
        (None, None) => return Err(Error::invalid_field("code", "is required")),
    };
    let partner_type = match &input.partner_type {
        Some(raw) => parse_name(
            raw,
            "partner_type",
            PartnerType::from_name,
            &PartnerType::ALL
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>(),
            &mut problems,
        ),
        None => Some(current.map_or(PartnerType::Influencer, |c| c.partner_type)),
    };
    let name = match input.name {
        Some(name) => name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
        None => current.and_then(|c| c.name.clone()),
    };
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        problems.add("name", "must be at most 200 characters");
    }
    let is_active = input
        .is_active
        .or(current.map(|c| c.is_active))
        .unwrap_or(true);
    let campaign_id = merged(input.campaign_id, current.and_then(|c| c.campaign_id));

    let contact_phone = match input.contact_phone {
        Some(Some(raw)) if !raw.trim().is_empty() => match Phone::parse(&raw) {
            Ok(phone) => Some(phone.as_str().to_owned()),
            Err(e) => {
                problems.add("contact_phone", e.to_string());
                None
            }
        },
        Some(_) => None,
        None => current.and_then(|c| c.contact_phone.clone()),
    };

    let method_given = input.payout_method.is_some();
    let payout_method = match input.payout_method {
        Some(Some(raw)) if !raw.trim().is_empty() => parse_name(
            &raw,
            "payout_method",
            PayoutMethod::from_name,
            &PayoutMethod::ALL
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>(),
            &mut problems,
        ),
        Some(_) => None,
        None => current.and_then(|c| c.payout_method),
    };
    let account_raw = match input.payout_account {
        Some(account) => account.filter(|a| !a.trim().is_empty()),
        // Clearing the method clears its account.
        None if method_given && payout_method.is_none() => None,
        None => current.and_then(|c| c.payout_account.clone()),
    };
    let payout_account = match (payout_method, account_raw) {
        (Some(method), Some(raw)) => match payout_account(method, &raw) {
            Ok(account) => Some(account),
            Err(message) => {
                problems.add("payout_account", message);
                None
            }
        },
        (Some(_), None) => {
            problems.add("payout_account", "is required with payout_method");
            None
        }
        (None, Some(_)) => {
            problems.add("payout_method", "is required with payout_account");
            None
        }
        (None, None) => None,
    };

    // One rule: a fixed amount or a percentage. Setting one clears the other.
    let (commission_amount, commission_percent, commission_cap) =
        match (input.commission_amount, input.commission_percent) {
            (Some(Some(_)), Some(Some(_))) => {
                problems.add(
                    "commission_amount",
                    "give a fixed amount or a percentage, not both",
                );
                (None, None, None)
            }
            (Some(Some(amount)), _) => (Some(amount), None, merged(input.commission_cap, None)),
            (_, Some(Some(percent))) => (
                None,
                Some(percent),
                merged(input.commission_cap, current.and_then(|c| c.commission_cap)),
            ),
            (amount, percent) => (
                merged(amount, current.and_then(|c| c.commission_amount)),
                merged(percent, current.and_then(|c| c.commission_percent)),
                merged(input.commission_cap, current.and_then(|c| c.commission_cap)),
            ),
        };
    if commission_cap.is_some() && commission_percent.is_none() {
        problems.add("commission_cap", "is only for a commission_percent");
    }
    let commission_scope = match &input.commission_scope {
        Some(raw) => parse_name(
            raw,
            "commission_scope",
            CommissionScope::from_name,
            &CommissionScope::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            &mut problems,
        ),
        None => Some(current.map_or(CommissionScope::FirstOrder, |c| c.commission_scope)),
    };
    let commission_days = merged(
        input.commission_days,
        current.and_then(|c| c.commission_days),
    );
    if commission_days.is_some_and(|d| !(1..=MAX_COMMISSION_DAYS).contains(&d)) {
        problems.add(
            "commission_days",
            format!("must be between 1 and {MAX_COMMISSION_DAYS}"),
        );
    } else if commission_scope == Some(CommissionScope::EveryOrder) && commission_days.is_none() {
        problems.add("commission_days", "is required for every_order");
    }
    let customer_id = merged(input.customer_id, current.and_then(|c| c.customer_id));
    if customer_id.is_some_and(|id| id <= 0) {
        problems.add("customer_id", "must be a positive integer");
    }
    problems.finish(Code::ValidationFailed)?;
    let (Some(partner_type), Some(commission_scope)) = (partner_type, commission_scope) else {
        return Err(anyhow::anyhow!("a refused name passed validation").into());
    };

    let partner = db::partners::save(
        &mut *tx,
        id,
        &db::partners::PartnerRow {
            code: &code,
            partner_type,
            name: name.as_deref(),
            is_active,
            campaign_id,
            contact_phone: contact_phone.as_deref(),
            payout_method,
            payout_account: payout_account.as_deref(),
            commission_amount,
            commission_percent,
            commission_cap,
            commission_scope,
            commission_days,
            customer_id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(partner)
}
