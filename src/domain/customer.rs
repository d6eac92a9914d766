//! Customers and the attribution recorded when they joined.

use serde::Serialize;
use uuid::Uuid;

use super::time::Timestamp;

super::sql_enum! {
    /// Which table an account that logs in lives in.
    pub enum LoginAccountKind = "login_account_kind" {
        /// `customers`.
        Customer = "customer",
        /// `users` (staff).
        Staff = "staff",
        /// `partner_logins` (a referral partner's self-service login).
        Partner = "partner",
    }
}

/// A customer, in TrustCart's entity shape (never with the password hash).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// Customer id.
    pub id: i32,
    /// Stable public identifier.
    pub uuid: Uuid,
    /// First name.
    pub name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Lower-case email.
    pub email: Option<String>,
    /// E.164 Bangladeshi mobile number.
    pub phone: String,
    /// A guest has no password and cannot log in.
    pub is_guest: bool,
    /// As sent by the shop (`new`, …).
    pub customer_type: Option<String>,
    /// District, for delivery.
    pub district: Option<String>,
    /// Address, for delivery.
    pub address: Option<String>,
    /// The customer whose share code brought this one.
    pub referred_by_customer_id: Option<i32>,
    /// The code that brought this customer (canonical spelling for partner codes).
    pub referred_by_code: Option<String>,
    /// The partner whose code brought this customer.
    pub referred_by_partner_id: Option<Uuid>,
    /// Where the code was captured.
    pub referred_channel: Option<String>,
    /// When attribution was recorded.
    pub referred_at: Option<Timestamp>,
    /// The campaign whose terms this customer's referral carries.
    pub referral_campaign_id: Option<Uuid>,
    /// When the customer was created.
    pub created_at: Timestamp,
    /// When the customer was last changed.
    pub updated_at: Timestamp,
}

impl Customer {
    /// The record without what only the customer should see: delivery details and
    /// where they came from.
    pub fn redacted(self) -> Self {
        Self {
            district: None,
            address: None,
            referred_by_customer_id: None,
            referred_by_code: None,
            referred_by_partner_id: None,
            referred_channel: None,
            referred_at: None,
            referral_campaign_id: None,
            ..self
        }
    }
}

/// Why a string is not a usable email address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be an email address such as name@example.com")]
pub struct EmailError;

/// Normalises an email address (trimmed, lower-case) and checks its shape. Empty is `None`.
pub fn normalise_email(raw: &str) -> Result<Option<String>, EmailError> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Ok(None);
    }
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                && !domain.starts_with('.') && !domain.ends_with('.'));
    if valid {
        Ok(Some(email))
    } else {
        Err(EmailError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalise_email("  Rahim@Example.COM ").unwrap().as_deref(),
            Some("rahim@example.com")
        );
        assert_eq!(normalise_email("   ").unwrap(), None);
        for bad in [
            "rahim",
            "rahim@",
            "@example.com",
            "a b@example.com",
            "a@b@c.com",
            "a@example.",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }
}
