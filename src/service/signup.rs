//! Signing up (or checking out as a guest) with a referral code: the one place where a
//! code turns into attribution.

use std::collections::BTreeMap;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use chrono::Utc;
use sqlx::{PgConnection, PgPool};

use crate::db;
use crate::db::customers::NewCustomer;
use crate::db::events::NewEvent;
use crate::db::referrals::NewReferral;
use crate::domain::channel::Channel;
use crate::domain::customer::{Customer, normalise_email};
use crate::domain::phone::Phone;
use crate::domain::referral_code::{parse_invite_code, parse_share_code, share_code};
use crate::error::{Error, Result};

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password (argon2 cost grows with it).
pub const MAX_PASSWORD_LEN: usize = 128;
/// Longest accepted name, district or customer type.
const MAX_TEXT_LEN: usize = 100;

/// What a signup form carries, after the compatibility layer picked TrustCart's aliases.
#[derive(Debug, Default)]
pub struct SignupForm {
    /// First name.
    pub name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Email, as typed.
    pub email: Option<String>,
    /// Phone, as typed (required).
    pub phone: Option<String>,
    /// Password; none makes a guest (checkout without an account).
    pub password: Option<String>,
    /// As the shop sends it.
    pub customer_type: Option<String>,
    /// Delivery district.
    pub district: Option<String>,
    /// Delivery address.
    pub address: Option<String>,
    /// The referral or partner code, as typed.
    pub code: Option<String>,
    /// The channel the code came through.
    pub channel: Option<String>,
}

/// What a code turned out to be.
enum CodeMatch {
    /// An active partner's code.
    Partner { id: uuid::Uuid, code: String },
    /// A live customer's share code.
    Share { referrer_id: i32 },
    /// A pending invitation's code.
    Invite { code: String },
    /// Nothing we know.
    Unknown { reason: &'static str },
}

/// Creates a customer (an account with a password, or a guest) and records where they
/// came from. Attribution never blocks signup: an unknown code is logged and ignored.
pub async fn sign_up(pool: &PgPool, form: SignupForm) -> Result<Customer> {
    let mut errors: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let phone = match form
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => {
            errors
                .entry("phone")
                .or_default()
                .push("Phone number is required".into());
            None
        }
        Some(raw) => Phone::parse(raw)
            .map_err(|e| errors.entry("phone").or_default().push(e.to_string()))
            .ok(),
    };
    let email = normalise_email(form.email.as_deref().unwrap_or_default())
        .map_err(|e| errors.entry("email").or_default().push(e.to_string()))
        .ok()
        .flatten();
    let password = form.password.filter(|p| !p.is_empty());
    if let Some(password) = &password {
        let len = password.chars().count();
        if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len) {
            errors.entry("password").or_default().push(format!(
                "must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters long"
            ));
        }
    }
    let text = |field: &'static str,
                value: Option<String>,
                max: usize,
                errors: &mut BTreeMap<_, Vec<String>>| {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            errors
                .entry(field)
                .or_default()
                .push(format!("must be at most {max} characters"));
        }
        value
    };
    let name = text("name", form.name, MAX_TEXT_LEN, &mut errors);
    let last_name = text("lastName", form.last_name, MAX_TEXT_LEN, &mut errors);
    let customer_type = text("customerType", form.customer_type, 30, &mut errors);
    let district = text("district", form.district, MAX_TEXT_LEN, &mut errors);
    let address = text("address", form.address, 1000, &mut errors);
    let (Some(phone), true) = (phone, errors.is_empty()) else {
        let message = errors
            .iter()
            .flat_map(|(field, messages)| messages.iter().map(move |m| format!("{field}: {m}")))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::Unprocessable {
            code: "validation_failed",
            message: message.into(),
            fields: errors,
        });
    };

    let password_hash = match password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let code = form
        .code
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let raw_channel = form
        .channel
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let channel = raw_channel
        .as_deref()
        .map_or(Channel::Web, Channel::parse_lenient);

    let mut tx = pool.begin().await?;
    let matched = match &code {
        Some(code) => Some(match_code(&mut tx, code).await?),
        None => None,
    };
    let terms = match matched {
        Some(CodeMatch::Share { .. }) => db::referrals::default_campaign_terms(&mut *tx).await?,
        _ => None,
    };

    let mut new = NewCustomer {
        name,
        last_name,
        email,
        phone: phone.as_str().to_owned(),
        password_hash,
        customer_type,
        district,
        address,
        ..NewCustomer::default()
    };
    let attributed = !matches!(matched, None | Some(CodeMatch::Unknown { .. }));
    if attributed {
        new.referred_channel = Some(channel.as_str().to_owned());
        new.referred_at = Some(Utc::now());
    }
    match &matched {
        Some(CodeMatch::Partner { id, code }) => {
            new.referred_by_partner_id = Some(*id);
            new.referred_by_code = Some(code.clone());
        }
        Some(CodeMatch::Share { referrer_id }) => {
            new.referred_by_customer_id = Some(*referrer_id);
            new.referred_by_code = Some(share_code(*referrer_id));
            new.referral_campaign_id = terms.as_ref().map(|t| t.campaign_id);
        }
        Some(CodeMatch::Invite { code }) => new.referred_by_code = Some(code.clone()),
        None | Some(CodeMatch::Unknown { .. }) => {}
    }
    let customer = db::customers::insert(&mut tx, &new).await?;

    let payload = raw_channel
        .filter(|_| channel == Channel::Other)
        .map(|raw| serde_json::json!({ "rawChannel": truncate(&raw, 50) }));
    record_attribution(
        &mut tx,
        &customer,
        matched,
        code.as_deref(),
        channel,
        terms.as_ref(),
        payload,
    )
    .await?;
    tx.commit().await?;

    tracing::info!(
        customer.id = customer.id,
        customer.phone = %phone.masked(),
        guest = customer.is_guest,
        "customer signed up"
    );
    Ok(customer)
}

/// Decides what a typed code is. A partner code wins over a share code.
async fn match_code(conn: &mut PgConnection, code: &str) -> Result<CodeMatch> {
    if let Some(partner) = db::partners::find_active_by_code(&mut *conn, code).await? {
        return Ok(CodeMatch::Partner {
            id: partner.id,
            code: partner.code,
        });
    }
    if let Some(referrer_id) = parse_share_code(code) {
        return Ok(if db::customers::exists(&mut *conn, referrer_id).await? {
            CodeMatch::Share { referrer_id }
        } else {
            CodeMatch::Unknown {
                reason: "referrer_not_found",
            }
        });
    }
    if let Some(invite) = parse_invite_code(code) {
        return Ok(CodeMatch::Invite { code: invite });
    }
    Ok(CodeMatch::Unknown {
        reason: "no_such_code",
    })
}

/// Writes the referral (for share and invite codes) and the attribution event.
async fn record_attribution(
    conn: &mut PgConnection,
    customer: &Customer,
    matched: Option<CodeMatch>,
    typed_code: Option<&str>,
    channel: Channel,
    terms: Option<&db::referrals::CampaignTerms>,
    extra: Option<serde_json::Value>,
) -> Result<()> {
    let channel_name = channel.as_str();
    let event = match matched {
        None => return Ok(()),
        Some(CodeMatch::Share { referrer_id }) => {
            let referral = db::referrals::insert(
                conn,
                &NewReferral {
                    referrer_customer_id: referrer_id,
                    referred_customer_id: Some(customer.id),
                    referred_email: customer.email.as_deref(),
                    referred_phone: Some(&customer.phone),
                    share_code_used: typed_code,
                    source_channel: Some(channel_name),
                    terms,
                },
            )
            .await?;
            registered_event(&referral, extra)
        }
        Some(CodeMatch::Invite { code }) => {
            match db::referrals::claim_invite(&mut *conn, &code, customer.id, channel_name).await? {
                Some(referral) => registered_event(&referral, extra),
                None => unknown_code_event(customer.id, typed_code, "invite_not_pending", extra),
            }
        }
        Some(CodeMatch::Partner { code, .. }) => OwnedEvent {
            event_type: "partner_attributed",
            referral_id: None,
            referrer_customer_id: None,
            referred_customer_id: Some(customer.id),
            code: None,
            partner_code: Some(code),
            payload: extra,
        },
        Some(CodeMatch::Unknown { reason }) => {
            unknown_code_event(customer.id, typed_code, reason, extra)
        }
    };
    db::events::record(
        &mut *conn,
        NewEvent {
            event_type: event.event_type,
            referral_id: event.referral_id,
            referrer_customer_id: event.referrer_customer_id,
            referred_customer_id: event.referred_customer_id,
            share_code_used: event.code.as_deref(),
            partner_code: event.partner_code.as_deref(),
            source_channel: Some(channel_name),
            payload: event.payload,
            ..NewEvent::default()
        },
    )
    .await?;
    Ok(())
}

/// An event whose strings are owned, built before it is written.
struct OwnedEvent {
    event_type: &'static str,
    referral_id: Option<i32>,
    referrer_customer_id: Option<i32>,
    referred_customer_id: Option<i32>,
    code: Option<String>,
    partner_code: Option<String>,
    payload: Option<serde_json::Value>,
}

fn registered_event(
    referral: &crate::domain::referral::Referral,
    payload: Option<serde_json::Value>,
) -> OwnedEvent {
    let mut payload = payload.unwrap_or_else(|| serde_json::json!({}));
    payload["campaignId"] = serde_json::json!(referral.campaign_id);
    OwnedEvent {
        event_type: "registered",
        referral_id: Some(referral.id),
        referrer_customer_id: Some(referral.referrer_customer_id),
        referred_customer_id: referral.referred_customer_id,
        code: referral.share_code_used.clone(),
        partner_code: None,
        payload: Some(payload),
    }
}

fn unknown_code_event(
    customer_id: i32,
    typed_code: Option<&str>,
    reason: &str,
    payload: Option<serde_json::Value>,
) -> OwnedEvent {
    let mut payload = payload.unwrap_or_else(|| serde_json::json!({}));
    payload["reason"] = serde_json::json!(reason);
    OwnedEvent {
        event_type: "unknown_code",
        referral_id: None,
        referrer_customer_id: None,
        referred_customer_id: Some(customer_id),
        code: typed_code.map(|c| truncate(c, 50)),
        partner_code: None,
        payload: Some(payload),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Hashes a password with argon2id on the blocking pool: it takes tens of milliseconds
/// of CPU, which must not stall the async workers.
async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!("password hashing task failed: {e}"))?
    .map_err(Error::Internal)
}
