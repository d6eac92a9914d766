//! Fraud signals, rules and the blocklist: recording what a request tells about a
//! customer, screening a friend at attribution, and the staff's settings.
//!
//! The verdict at delivery is the SQL function `fraud_verdict`; [`verdict`] calls it and
//! [`masked_signals`] shows what it looked at, masked, for the review queue.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::db;
use crate::db::fraud::{NewSignal, StoredRules};
use crate::domain::fraud::{
    BlocklistEntry, BlocklistKind, FraudRules, MaskedSignal, SignalContext, SignalKind, Verdict,
    canonical_email, normalise_address, normalise_email_domain, parse_device_id,
};
use crate::domain::phone::Phone;
use crate::error::{Code, Error, Result};

/// Hashes client addresses (HMAC-SHA256 with the server's key), so the signals can tell
/// two signups from one address apart from two from different ones without keeping
/// anyone's address.
pub struct SignalHasher {
    key: SecretString,
}

impl SignalHasher {
    /// A hasher with `key`.
    pub fn new(key: &SecretString) -> Self {
        Self { key: key.clone() }
    }

    /// The hex HMAC of a client address. An IPv6 client counts as its /64 (one household
    /// or phone gets a whole /64), as in the rate limits.
    pub fn hash_ip(&self, ip: IpAddr) -> String {
        let key = crate::http::rate_limit::limit_key(ip);
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(key.to_string().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// What the request itself tells about its client: the device id it declared and the
/// hash of its address (`None` when unknown).
#[derive(Clone, Debug, Default)]
pub struct ClientSignals {
    /// A validated device id.
    pub device: Option<String>,
    /// The client address's HMAC.
    pub ip_hash: Option<String>,
}

impl ClientSignals {
    /// The same, with a device id sent in the body (`deviceId`), which wins over the
    /// header. A bad one is a 422 naming `deviceId`.
    pub fn with_body_device(mut self, device: Option<&str>) -> Result<Self> {
        if let Some(raw) = device.filter(|d| !d.trim().is_empty()) {
            self.device =
                Some(parse_device_id(raw).map_err(|e| Error::invalid_field("deviceId", e.0))?);
        }
        Ok(self)
    }

    /// This client's device and address as signals of `context`.
    fn signals(&self, context: SignalContext, base: &NewSignal) -> Vec<NewSignal> {
        let with = |kind, value: &String| NewSignal {
            kind,
            context,
            value: value.clone(),
            ..base.clone()
        };
        self.device
            .iter()
            .map(|d| with(SignalKind::Device, d))
            .chain(self.ip_hash.iter().map(|h| with(SignalKind::Ip, h)))
            .collect()
    }
}

fn base(customer_id: Option<i32>, referral_id: Option<i32>) -> NewSignal {
    NewSignal {
        customer_id,
        referral_id,
        referrer_customer_id: None,
        order_id: None,
        kind: SignalKind::Device,
        context: SignalContext::Signup,
        value: String::new(),
    }
}

/// What a signup tells: the client's device and address, the canonical email, the phone
/// and the normalised address, for customer `customer_id` (and the referral the signup
/// made), in the caller's transaction.
pub async fn record_signup(
    conn: &mut PgConnection,
    customer_id: i32,
    referral_id: Option<i32>,
    client: &ClientSignals,
    phone: &str,
    email: Option<&str>,
    address: Option<&str>,
) -> Result<()> {
    let base = base(Some(customer_id), referral_id);
    let mut signals = client.signals(SignalContext::Signup, &base);
    let mut push = |kind, value: String| {
        signals.push(NewSignal {
            kind,
            context: SignalContext::Signup,
            value,
            ..base.clone()
        });
    };
    push(SignalKind::Phone, phone.to_owned());
    if let Some(email) = email {
        push(SignalKind::Email, canonical_email(email));
    }
    if let Some(address) = address.and_then(normalise_address) {
        push(SignalKind::Address, address);
    }
    db::fraud::insert_signals(&mut *conn, &signals).await?;
    Ok(())
}

/// The client of an invitation sent by customer `referrer_id` (invitation `referral_id`).
pub async fn record_invitation(
    db: impl PgExecutor<'_>,
    referrer_id: i32,
    referral_id: i32,
    client: &ClientSignals,
) -> Result<()> {
    let signals = client.signals(
        SignalContext::Invitation,
        &base(Some(referrer_id), Some(referral_id)),
    );
    db::fraud::insert_signals(db, &signals).await?;
    Ok(())
}

/// A visit of the landing page of `referrer_id`'s code (or invitation `referral_id`);
/// nothing for a partner's code, which no customer owns.
pub async fn record_landing(
    db: impl PgExecutor<'_>,
    referrer_id: Option<i32>,
    referral_id: Option<i32>,
    client: &ClientSignals,
) -> Result<()> {
    if referrer_id.is_none() && referral_id.is_none() {
        return Ok(());
    }
    let signals = client.signals(
        SignalContext::Landing,
        &NewSignal {
            referrer_customer_id: referrer_id,
            ..base(None, referral_id)
        },
    );
    db::fraud::insert_signals(db, &signals).await?;
    Ok(())
}

/// The delivery address of order `order_id` (already normalised), for its customer.
pub async fn record_order_address(
    db: impl PgExecutor<'_>,
    order_id: i32,
    customer_id: Option<i32>,
    address: &str,
) -> Result<()> {
    let signal = NewSignal {
        order_id: Some(order_id),
        kind: SignalKind::Address,
        context: SignalContext::Order,
        value: address.to_owned(),
        ..base(customer_id, None)
    };
    db::fraud::insert_signals(db, &[signal]).await?;
    Ok(())
}

/// What attribution screens a friend by.
#[derive(Clone, Copy, Debug, Default)]
pub struct Screen<'a> {
    /// The device the friend used.
    pub device: Option<&'a str>,
    /// The friend's (normalised) address.
    pub address: Option<&'a str>,
}

/// Which blocklist entry kind, if any, the friend matches (phone, their email's domain,
/// device, address).
pub async fn blocklisted(
    db: impl PgExecutor<'_>,
    phone: &str,
    email: Option<&str>,
    screen: Screen<'_>,
) -> Result<Option<BlocklistKind>> {
    let domain = email.and_then(|e| e.rsplit_once('@')).map(|(_, d)| d);
    Ok(db::fraud::blocklisted(db, phone, domain, screen.device, screen.address).await?)
}

/// The fraud verdict of referral `referral_id` at the delivery of `order_id`, in the
/// caller's transaction (`fraud_verdict`; it only reads).
pub async fn verdict(
    db: impl PgExecutor<'_>,
    referral_id: i32,
    order_id: Option<i32>,
) -> Result<Verdict> {
    Ok(db::fraud::verdict(db, referral_id, order_id).await?)
}

/// The signals behind referral `referral_id`'s verdict, masked for the review queue: the
/// friend's own (signup, orders) and the referral's (the invitation's), oldest first.
pub async fn masked_signals(
    db: impl PgExecutor<'_>,
    referral_id: i32,
) -> Result<Vec<MaskedSignal>> {
    Ok(db::fraud::masked_signals(db, &[referral_id])
        .await?
        .remove(&referral_id)
        .unwrap_or_default())
}

/// The rules now.
pub async fn rules(pool: &PgPool) -> Result<StoredRules> {
    Ok(db::fraud::rules(pool).await?)
}

/// Replaces the rules after checking every threshold (422 `validation_failed`).
pub async fn replace_rules(pool: &PgPool, rules: &FraudRules, actor: &str) -> Result<StoredRules> {
    rules.problems().finish(Code::ValidationFailed)?;
    Ok(db::fraud::replace_rules(pool, rules, actor).await?)
}

/// Longest note on a blocklist entry.
const MAX_NOTE_LEN: usize = 500;

/// A blocklist value normalised the way signals are, so an entry matches what it names.
pub fn normalise_blocklist_value(kind: BlocklistKind, raw: &str) -> Result<String> {
    let invalid = |message: String| Error::invalid_field("value", message);
    match kind {
        BlocklistKind::Phone => Phone::parse(raw)
            .map(|p| p.as_str().to_owned())
            .map_err(|e| invalid(e.to_string())),
        BlocklistKind::EmailDomain => normalise_email_domain(raw).map_err(|e| invalid(e.0.into())),
        BlocklistKind::Device => parse_device_id(raw).map_err(|e| invalid(e.0.into())),
        BlocklistKind::Address => {
            if raw.chars().count() > crate::domain::fraud::MAX_ADDRESS_LEN {
                return Err(invalid("must be at most 500 characters".into()));
            }
            normalise_address(raw).ok_or_else(|| invalid("must name an address".into()))
        }
    }
}

/// Adds a blocklist entry (409 `blocklist_entry_exists` for one already there).
pub async fn add_to_blocklist(
    pool: &PgPool,
    kind: BlocklistKind,
    value: &str,
    note: Option<&str>,
    actor: &str,
) -> Result<BlocklistEntry> {
    let value = normalise_blocklist_value(kind, value)?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_LEN) {
        return Err(Error::invalid_field(
            "note",
            "must be at most 500 characters",
        ));
    }
    Ok(db::fraud::insert_blocklist(pool, kind, &value, note, actor).await?)
}

/// A page of the blocklist, newest first.
pub async fn blocklist(
    pool: &PgPool,
    kind: Option<BlocklistKind>,
    limit: i64,
    before_id: Option<i32>,
) -> Result<Vec<BlocklistEntry>> {
    Ok(db::fraud::list_blocklist(pool, kind, limit, before_id).await?)
}

/// Removes a blocklist entry (404 `blocklist_entry_not_found`).
pub async fn remove_from_blocklist(pool: &PgPool, id: i32) -> Result<()> {
    if db::fraud::delete_blocklist(pool, id).await? {
        Ok(())
    } else {
        Err(Error::new(
            Code::BlocklistEntryNotFound,
            "Blocklist entry not found",
        ))
    }
}
