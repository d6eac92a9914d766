//! Fraud controls: the signals kept about customers, the rules that read them, the
//! blocklist, and the normalisations that make two spellings of one thing compare equal.
//!
//! The verdict itself is the SQL function `fraud_verdict` (migrations/20261202000030_fraud.sql);
//! this module holds the types on both sides of it and the value rules it relies on.

use serde::{Deserialize, Serialize};

use super::time::Timestamp;
use crate::error::Problems;

super::sql_enum! {
    /// What a fraud signal records.
    pub enum SignalKind = "signal_kind" {
        /// A device id (`X-Device-Id` header or `deviceId` body field).
        Device = "device",
        /// The client address, as an HMAC (never the address itself).
        Ip = "ip",
        /// The canonical email ([`canonical_email`]).
        Email = "email",
        /// The E.164 phone.
        Phone = "phone",
        /// A normalised delivery address ([`normalise_address`]).
        Address = "address",
    }
}

super::sql_enum! {
    /// Where a signal was recorded.
    pub enum SignalContext = "signal_context" {
        /// Customer registration or guest creation.
        Signup = "signup",
        /// The landing page of a shared link or QR card.
        Landing = "landing",
        /// A customer sending an invitation.
        Invitation = "invitation",
        /// An order reported by the shop.
        Order = "order",
    }
}

super::sql_enum! {
    /// What a fraud rule does when it fires, weakest first.
    pub enum FraudAction = "fraud_action" {
        /// The rule is not evaluated.
        Off = "off",
        /// The rewards wait for a staff decision.
        Review = "review",
        /// The rewards are skipped (`fraud:<rule>`).
        Block = "block",
    }
}

super::sql_enum! {
    /// What a blocklist entry matches.
    pub enum BlocklistKind = "blocklist_kind" {
        /// An E.164 phone.
        Phone = "phone",
        /// An email domain (`example.com`), also read by the `disposableEmail` rule.
        EmailDomain = "email_domain",
        /// A device id.
        Device = "device",
        /// A normalised address.
        Address = "address",
    }
}

/// A rule with only an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// `off`, `review` or `block`.
    pub action: FraudAction,
}

/// A rule counting per hour and per day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HourlyRule {
    /// `off`, `review` or `block`.
    pub action: FraudAction,
    /// Fires above this many in an hour (1 to 10,000).
    pub per_hour: i32,
    /// Fires above this many in a day (1 to 100,000; at least `perHour`).
    pub per_day: i32,
}

/// A rule counting per day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DailyRule {
    /// `off`, `review` or `block`.
    pub action: FraudAction,
    /// Fires above this many in a day (1 to 100,000).
    pub per_day: i32,
}

/// The refused-orders rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefusalRule {
    /// `off`, `review` or `block`.
    pub action: FraudAction,
    /// Decided orders (delivered or reversed) needed before the rule can fire (1 to 10,000).
    pub min_orders: i32,
    /// Fires when the reversed share is above this percentage (0 to 100).
    pub max_percent: i32,
}

/// Every fraud rule: one object, replaced whole. The defaults (seeded by the migration):
/// `sameDevice` and `sameAddress` block; the others review, with `referrerVelocity`
/// 10 an hour / 30 a day, `deviceVelocity` 3 a day, `ipVelocity` 10 a day, and
/// `refusalRate` above 50 % of at least 5 orders. See `fraud_verdict` in the migrations
/// for exactly what each rule compares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FraudRules {
    /// The friend's device is one of the referrer's.
    pub same_device: Rule,
    /// The friend's delivery address already qualified another account's completed referral.
    pub same_address: Rule,
    /// The friend's phone was seen on an account using the referrer's devices or addresses.
    pub household_phone: Rule,
    /// The referrer made too many referrals in the hour or the day before this one.
    pub referrer_velocity: HourlyRule,
    /// Too many signups from the friend's device in the day before theirs.
    pub device_velocity: DailyRule,
    /// Too many signups from the friend's client address in the day before theirs. At most
    /// `review`: an office or a family shares one address.
    pub ip_velocity: DailyRule,
    /// The friend's email domain is a throwaway one (built-in list or the blocklist).
    pub disposable_email: Rule,
    /// Too many of the referrer's referred customers' orders were refused or returned.
    pub refusal_rate: RefusalRule,
}

impl FraudRules {
    /// Checks every threshold, naming each bad one (`referrerVelocity.perHour`, …).
    pub fn problems(&self) -> Problems {
        let mut problems = Problems::default();
        let mut range = |field: &str, value: i32, min: i32, max: i32| {
            problems.check(
                (min..=max).contains(&value),
                field,
                &format!("must be between {min} and {max}"),
            );
        };
        let v = &self.referrer_velocity;
        range("referrerVelocity.perHour", v.per_hour, 1, 10_000);
        range("referrerVelocity.perDay", v.per_day, 1, 100_000);
        range(
            "deviceVelocity.perDay",
            self.device_velocity.per_day,
            1,
            100_000,
        );
        range("ipVelocity.perDay", self.ip_velocity.per_day, 1, 100_000);
        range(
            "refusalRate.minOrders",
            self.refusal_rate.min_orders,
            1,
            10_000,
        );
        range(
            "refusalRate.maxPercent",
            self.refusal_rate.max_percent,
            0,
            100,
        );
        problems.check(
            v.per_day >= v.per_hour,
            "referrerVelocity.perDay",
            "must be at least perHour",
        );
        problems.check(
            self.ip_velocity.action != FraudAction::Block,
            "ipVelocity.action",
            "a shared address (an office, a family) never blocks on its own: use off or review",
        );
        problems
    }
}

/// What `fraud_verdict` decided for a referral.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `block` if any fired rule blocks, else `review` if any fired, else `off`.
    pub action: FraudAction,
    /// The camelCase names of the rules that fired, in the rules' fixed order.
    pub reasons: Vec<String>,
    /// The first of them that blocks (rewards are skipped as `fraud:<rule>`).
    pub blocked_by: Option<String>,
}

/// A signal as staff may see it in the review queue: the value masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskedSignal {
    /// What it is.
    pub kind: SignalKind,
    /// Where it was recorded.
    pub context: SignalContext,
    /// Enough to compare by eye, not enough to reuse: a device id's first characters,
    /// the address hash's first characters, `r***@gmail.com`, `+88017*****678`, an
    /// address's beginning.
    pub value: String,
    /// Whether it is the friend's own signal (`false`: recorded with the referral, such
    /// as the invitation's).
    pub own: bool,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// A blocklist entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlocklistEntry {
    /// Entry id.
    pub id: i32,
    /// What it matches.
    pub kind: BlocklistKind,
    /// The normalised value.
    pub value: String,
    /// Why it was added.
    pub note: Option<String>,
    /// Who added it (`user:{id}`, `api_key:{id}`).
    pub created_by: String,
    /// When it was added.
    pub created_at: Timestamp,
}

/// Longest device id kept.
pub const MAX_DEVICE_ID_LEN: usize = 128;
/// Longest address read (before normalisation).
pub const MAX_ADDRESS_LEN: usize = 500;

/// Why a value cannot be used as a signal or blocklist entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub &'static str);

/// A device id: trimmed, 1 to [`MAX_DEVICE_ID_LEN`] printable ASCII characters without
/// spaces (what device SDKs send: UUIDs, hex, base64).
pub fn parse_device_id(raw: &str) -> Result<String, ValueError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > MAX_DEVICE_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValueError(
            "must be 1 to 128 printable ASCII characters without spaces",
        ));
    }
    Ok(id.to_owned())
}

/// The canonical form of an already normalised (trimmed, lower-case, checked) email, for
/// comparison only: `+tags` are removed for every domain, and for Gmail
/// (`gmail.com`, `googlemail.com`, one mailbox) the dots of the local part too, with the
/// domain written `gmail.com`. A local part that would become empty is kept as it was.
pub fn canonical_email(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email;
    };
    let mut local = local.split('+').next().unwrap_or(local).to_owned();
    let mut domain = domain.to_owned();
    if domain == "gmail.com" || domain == "googlemail.com" {
        local.retain(|c| c != '.');
        domain = "gmail.com".to_owned();
    }
    if local.is_empty() {
        return email;
    }
    format!("{local}@{domain}")
}

/// An email domain as the blocklist keeps it: lower case, without a leading `@`, labels of
/// letters, digits and `-`, at least one dot.
pub fn normalise_email_domain(raw: &str) -> Result<String, ValueError> {
    let domain = raw.trim().trim_start_matches('@').to_lowercase();
    let valid = (3..=253).contains(&domain.len())
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(domain)
    } else {
        Err(ValueError("must be a domain such as example.com"))
    }
}

/// Spellings that mean the same word in a Bangladeshi address, and the one kept.
const ADDRESS_WORDS: &[(&str, &str)] = &[
    ("rd", "road"),
    ("sarak", "road"),
    ("sarok", "road"),
    ("রোড", "road"),
    ("সড়ক", "road"),
    ("h", "house"),
    ("hse", "house"),
    ("hno", "house"),
    ("bari", "house"),
    ("basa", "house"),
    ("বাড়ি", "house"),
    ("বাসা", "house"),
    ("হাউস", "house"),
    ("st", "street"),
    ("ln", "lane"),
    ("লেন", "lane"),
    ("ave", "avenue"),
    ("apt", "flat"),
    ("apartment", "flat"),
    ("ফ্ল্যাট", "flat"),
    ("blk", "block"),
    ("ব্লক", "block"),
    ("sec", "sector"),
    ("সেক্টর", "sector"),
    ("no", ""),
    ("নং", ""),
];

/// A delivery address normalised for comparison (never for display):
///
/// - lower case, Bangla digits as ASCII digits;
/// - every character that is not a letter or digit (Latin or Bangla) is a separator, so
///   punctuation and repeated spaces collapse to one space;
/// - common abbreviations become one word: `rd`/`রোড`/`সড়ক` → `road`, `h#`/`h`/`hse`/`বাড়ি`/`বাসা`
///   → `house`, `st` → `street`, `ln` → `lane`, `apt` → `flat`, `blk` → `block`,
///   `sec` → `sector`; `no`/`নং` ("number") is dropped.
///
/// So `H#12, Rd 5, Dhanmondi` and `house 12 road 5 dhanmondi` are the same address.
/// `None` when nothing is left.
pub fn normalise_address(raw: &str) -> Option<String> {
    let text = fold_nukta(&raw.to_lowercase());
    let mut spaced = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '০'..='৯' => {
                let digit = u32::from(c) - u32::from('০');
                spaced.push(char::from_digit(digit, 10).unwrap_or('0'));
            }
            c if c.is_alphanumeric() || ('\u{0980}'..='\u{09FF}').contains(&c) => spaced.push(c),
            _ => spaced.push(' '),
        }
    }
    let words: Vec<&str> = spaced
        .split_whitespace()
        .map(|word| {
            ADDRESS_WORDS
                .iter()
                .find(|(from, _)| fold_nukta(from) == word)
                .map_or(word, |(_, to)| *to)
        })
        .filter(|word| !word.is_empty())
        .collect();
    let normalised: String = words.join(" ").chars().take(300).collect();
    let normalised = normalised.trim_end().to_owned();
    (!normalised.is_empty()).then_some(normalised)
}

/// One spelling of ড়, ঢ় and য়: the letter with a nukta (their canonical, NFC form), not
/// the precomposed code point some keyboards type.
fn fold_nukta(text: &str) -> String {
    text.replace('\u{09DC}', "\u{09A1}\u{09BC}")
        .replace('\u{09DD}', "\u{09A2}\u{09BC}")
        .replace('\u{09DF}', "\u{09AF}\u{09BC}")
}

/// A signal's value masked for staff eyes.
pub fn mask(kind: SignalKind, value: &str) -> String {
    fn prefix(value: &str, n: usize) -> String {
        if value.chars().count() <= n {
            value.to_owned()
        } else {
            format!("{}…", value.chars().take(n).collect::<String>())
        }
    }
    match kind {
        SignalKind::Device => prefix(value, 6),
        SignalKind::Ip => prefix(value, 8),
        SignalKind::Address => prefix(value, 12),
        SignalKind::Email => match value.rsplit_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        },
        SignalKind::Phone => {
            let chars: Vec<char> = value.chars().collect();
            if chars.len() > 9 {
                let head: String = chars[..6].iter().collect();
                let tail: String = chars[chars.len() - 3..].iter().collect();
                format!("{head}{}{tail}", "*".repeat(chars.len() - 9))
            } else {
                "***".to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_canonical_for_comparison() {
        assert_eq!(
            canonical_email("r.a.h.i.m+promo@gmail.com"),
            "rahim@gmail.com"
        );
        assert_eq!(
            canonical_email("Rahim.Uddin@GoogleMail.com"),
            "rahimuddin@gmail.com"
        );
        assert_eq!(
            canonical_email("rahim.uddin+x@yahoo.com"),
            "rahim.uddin@yahoo.com"
        );
        assert_eq!(canonical_email("rahim@example.com"), "rahim@example.com");
        assert_eq!(canonical_email("+only@example.com"), "+only@example.com");
        assert_eq!(canonical_email("a+b+c@outlook.com"), "a@outlook.com");
    }

    #[test]
    fn addresses_compare_across_spellings() {
        let a = normalise_address("H#12, Rd. 5,  Dhanmondi");
        assert_eq!(a.as_deref(), Some("house 12 road 5 dhanmondi"));
        assert_eq!(normalise_address("house 12 road 5 dhanmondi"), a);
        assert_eq!(normalise_address("House No. 12, Road-5, DHANMONDI"), a);
        assert_eq!(
            normalise_address("বাড়ি ১২, রোড ৫, ধানমন্ডি").as_deref(),
            Some("house 12 road 5 ধানমন্ডি")
        );
        assert_eq!(normalise_address(" ,.;# "), None);
        assert_ne!(normalise_address("house 12 road 6"), a);
        // Both spellings of ড় are one.
        assert_eq!(
            normalise_address("\u{09AC}\u{09BE}\u{09DC}\u{09BF} 1"),
            normalise_address("\u{09AC}\u{09BE}\u{09A1}\u{09BC}\u{09BF} 1")
        );
        assert_eq!(
            normalise_address("\u{09AC}\u{09BE}\u{09DC}\u{09BF} 1").as_deref(),
            Some("house 1")
        );
    }

    #[test]
    fn device_ids_are_bounded_and_printable() {
        assert_eq!(parse_device_id(" abc-123 ").unwrap(), "abc-123");
        assert!(parse_device_id("").is_err());
        assert!(parse_device_id("with space").is_err());
        assert!(parse_device_id("ümlaut").is_err());
        assert!(parse_device_id(&"x".repeat(129)).is_err());
        assert!(parse_device_id(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn email_domains_are_checked() {
        assert_eq!(
            normalise_email_domain("@MailinaTor.com").unwrap(),
            "mailinator.com"
        );
        for bad in ["", "com", "a..b", "-a.com", "a b.com", "a@b.com"] {
            assert!(normalise_email_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_masked() {
        assert_eq!(mask(SignalKind::Phone, "+8801712345678"), "+88017*****678");
        assert_eq!(mask(SignalKind::Email, "rahim@gmail.com"), "r***@gmail.com");
        assert_eq!(mask(SignalKind::Device, "abcdef123456"), "abcdef…");
        assert_eq!(mask(SignalKind::Ip, &"f".repeat(64)), "ffffffff…");
        assert_eq!(
            mask(SignalKind::Address, "house 12 road 5 dhanmondi"),
            "house 12 roa…"
        );
    }

    #[test]
    fn ip_velocity_never_blocks() {
        let mut rules: FraudRules = serde_json::from_value(serde_json::json!({
            "sameDevice": {"action": "block"}, "sameAddress": {"action": "block"},
            "householdPhone": {"action": "review"},
            "referrerVelocity": {"action": "review", "perHour": 10, "perDay": 30},
            "deviceVelocity": {"action": "review", "perDay": 3},
            "ipVelocity": {"action": "review", "perDay": 10},
            "disposableEmail": {"action": "review"},
            "refusalRate": {"action": "review", "minOrders": 5, "maxPercent": 50}
        }))
        .unwrap();
        assert!(rules.problems().is_empty());
        rules.ip_velocity.action = FraudAction::Block;
        rules.referrer_velocity.per_day = 2;
        let problems = rules.problems();
        assert!(!problems.is_empty());
    }
}
