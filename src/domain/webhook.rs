//! Domain events and the webhooks that carry them out: the event types a shop can subscribe
//! to, a delivery's states, and the shapes a subscription's URL and secret must have.
//!
//! Events themselves are written by SQL (`emit_event`, in
//! `migrations/20261204000400_event_outbox.sql`); Rust only reads them.

use secrecy::{ExposeSecret, SecretString};

super::sql_enum! {
    /// A domain event's type: the stream's closed set of names, which is also what a
    /// webhook subscription lists (`events`) and what `Bondhu-Event-Type` carries.
    pub enum DomainEventType = "domain_event_type" {
        /// A friend joined with a referral code (or claimed an invitation).
        ReferralRegistered = "referral.registered",
        /// A friend's order completed the referral (once per completion).
        ReferralCompleted = "referral.completed",
        /// A reward was decided and is held until its `releaseAt`.
        RewardPending = "reward.pending",
        /// A reward was paid (credited, or its coupon issued).
        RewardReleased = "reward.released",
        /// A held reward was taken back before it was paid (a return, a cancellation).
        RewardVoided = "reward.voided",
        /// A paid reward was taken back (a return after the hold).
        RewardClawedBack = "reward.clawed_back",
        /// A withdrawal was paid out.
        WithdrawalPaid = "withdrawal.paid",
        /// A partner earned a commission on a delivered order.
        PartnerCommissionEarned = "partner.commission_earned",
    }
}

super::sql_enum! {
    /// Where a webhook delivery is.
    pub enum DeliveryStatus = "webhook_delivery_status" {
        /// Waiting for its next attempt.
        Queued = "queued",
        /// A dispatcher is sending it (under a lease).
        Sending = "sending",
        /// The receiver answered 2xx.
        Delivered = "delivered",
        /// Given up: the retry window ended, or the receiver answered 410 Gone.
        Dead = "dead",
        /// Its subscription was deactivated before it was delivered.
        Cancelled = "cancelled",
    }
}

impl DeliveryStatus {
    /// Whether an operator may send it again: it is finished (delivered, dead or
    /// cancelled), not waiting or in flight.
    pub fn can_resend(self) -> bool {
        matches!(self, Self::Delivered | Self::Dead | Self::Cancelled)
    }
}

/// The shortest signing secret accepted.
pub const MIN_SECRET_CHARS: usize = 16;
/// The longest signing secret accepted.
pub const MAX_SECRET_CHARS: usize = 200;
/// The longest subscription URL accepted.
pub const MAX_URL_CHARS: usize = 2000;

/// A subscription's signing secret, checked: 16 to 200 characters, printable, no spaces
/// at either end. Never `Debug`-printed or logged.
#[derive(Clone)]
pub struct SigningSecret(SecretString);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

impl SigningSecret {
    /// Checks `raw`. The message never repeats the secret.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&chars) {
            return Err("must be 16 to 200 characters long");
        }
        if raw.chars().any(char::is_control) || raw.trim() != raw {
            return Err("must be printable, without spaces at either end");
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// A stored secret (checked when it was saved).
    pub fn stored(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The secret, to sign with or to store.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// What the API shows of it: its last four characters.
    pub fn hint(&self) -> String {
        hint(self.expose())
    }
}

/// `…` and the last four characters of `secret`: enough to tell secrets apart, too little
/// to sign with.
pub fn hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// Reads a list of event type names; the unknown ones are returned as the error, in
/// order. Duplicates are kept once, in the order first given.
pub fn parse_event_types(names: &[String]) -> Result<Vec<DomainEventType>, Vec<String>> {
    let mut types = Vec::with_capacity(names.len());
    let mut unknown = Vec::new();
    for name in names {
        match DomainEventType::from_name(name) {
            Some(t) if !types.contains(&t) => types.push(t),
            Some(_) => {}
            None => unknown.push(name.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(types)
    } else {
        Err(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_checked_and_never_printed() {
        assert!(SigningSecret::parse("short").is_err());
        assert!(SigningSecret::parse(&"x".repeat(201)).is_err());
        assert!(SigningSecret::parse(" leading-space-secret").is_err());
        assert!(SigningSecret::parse("tab\tinside-the-secret").is_err());
        let secret = SigningSecret::parse("whsec_0123456789abcdef").unwrap();
        assert_eq!(secret.hint(), "…cdef");
        assert!(!format!("{secret:?}").contains("0123"));
    }

    #[test]
    fn event_names_are_the_documented_ones() {
        let names: Vec<String> = ["reward.released", "reward.released", "referral.completed"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(
            parse_event_types(&names).unwrap(),
            vec![
                DomainEventType::RewardReleased,
                DomainEventType::ReferralCompleted
            ]
        );
        let bad = vec!["reward.released".to_owned(), "reward.paid".to_owned()];
        assert_eq!(parse_event_types(&bad).unwrap_err(), vec!["reward.paid"]);
    }
}
