//! Access tokens, API keys, passwords and permissions, compatible with TrustCart's.
//!
//! Tokens are HS256 JWTs with TrustCart's payloads: `{id, email, phone,
//! roleSlug: "customer-account", type: "customer"}` for customers and `{id, email, roleId,
//! roleSlug, type: "user"}` for staff; Bondhu's partner tokens (partner self-service) are
//! `{partnerId, roleSlug: "partner", type: "partner"}`. Only HS256 is accepted (never
//! `none`), and `exp` is required. A valid signature is not enough: the account behind it is checked too (see
//! [`crate::service::auth`]), so a deleted customer's or inactive user's token stops working.

pub mod api_key;
pub mod cache;
pub mod password;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Code, Error, Result};

/// How long an access token lives, as in TrustCart.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Role slugs that pass every permission check.
pub const SUPERUSER_ROLES: [&str; 2] = ["admin", "super-admin"];
/// The role slug of every customer token.
pub const CUSTOMER_ROLE: &str = "customer-account";
/// The role slug of every partner token (Bondhu).
pub const PARTNER_ROLE: &str = "partner";

/// Who a token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A shop customer (`customers.id`).
    Customer,
    /// A staff user (`users.id`).
    User,
    /// A referral partner (`referral_partners.id`, a UUID): partner self-service only.
    Partner,
}

/// A token's payload.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    /// `customers.id` or `users.id`, depending on `kind` (absent from partner tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i32>,
    /// `referral_partners.id`, in partner tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<Uuid>,
    /// Email at issue time.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone at issue time (customers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The role: `customer-account` for customers, `partner` for partners, the staff role's
    /// slug otherwise.
    pub role_slug: String,
    /// The staff role's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<i32>,
    /// Customer, staff or partner.
    #[serde(rename = "type")]
    pub kind: TokenKind,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
}

/// Byte equality whose time does not depend on where the inputs differ: for comparing a
/// secret a caller sent with the configured one (webhook tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// TrustCart's permission slugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// `view-mlm-reports`: admin reads.
    ViewMlmReports,
    /// `manage-mlm-settings`: admin writes.
    ManageMlmSettings,
    /// `view-own-wallet`: a customer's own wallet.
    ViewOwnWallet,
    /// `share-referral-link`: a customer's own referrals.
    ShareReferralLink,
    /// `edit-sales-orders`: recording orders and their statuses.
    EditSalesOrders,
    /// `capture-referrals` (Bondhu): a call agent captures referrals on the phone and
    /// works their own follow-up tasks.
    CaptureReferrals,
    /// `manage-crm-tasks` (Bondhu): a call-centre manager sees and edits every task and
    /// reads the agents' report.
    ManageCrmTasks,
    /// `manage-payouts` (Bondhu): builds partner payout batches, exports their files and
    /// records the providers' answers. Money leaves the shop, so it is a duty of its own,
    /// not part of `manage-mlm-settings`; only admins hold it unless granted.
    ManagePayouts,
}

impl Permission {
    /// The slug, as TrustCart names it.
    pub fn slug(self) -> &'static str {
        match self {
            Self::ViewMlmReports => "view-mlm-reports",
            Self::ManageMlmSettings => "manage-mlm-settings",
            Self::ViewOwnWallet => "view-own-wallet",
            Self::ShareReferralLink => "share-referral-link",
            Self::EditSalesOrders => "edit-sales-orders",
            Self::CaptureReferrals => "capture-referrals",
            Self::ManageCrmTasks => "manage-crm-tasks",
            Self::ManagePayouts => "manage-payouts",
        }
    }
}

/// The authenticated caller of a request, after its account was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A customer, acting on their own data.
    Customer {
        /// `customers.id`.
        id: i32,
    },
    /// A staff user.
    Staff {
        /// `users.id`.
        id: i32,
        /// The staff role's slug, as it is now (not as it was when the token was issued).
        role_slug: String,
        /// The permission slugs the role grants.
        permissions: Arc<[String]>,
    },
    /// A machine client holding an API key.
    ApiKey {
        /// `api_keys.id`.
        id: i32,
        /// The permission slugs the key was created with.
        permissions: Arc<[String]>,
    },
    /// A referral partner, reaching only their own report: they pass no permission, so
    /// every route but `/api/partners/me/*` refuses them.
    Partner {
        /// `referral_partners.id`.
        id: Uuid,
    },
}

impl Principal {
    /// Checks a permission, in TrustCart's order: superuser roles pass everything;
    /// customers pass the two self-service permissions; other staff roles and API keys
    /// need the permission granted; partners pass none.
    pub fn require(&self, permission: Permission) -> Result<()> {
        let granted = |permissions: &[String]| permissions.iter().any(|p| p == permission.slug());
        let allowed = match self {
            Self::Staff {
                role_slug,
                permissions,
                ..
            } => SUPERUSER_ROLES.contains(&role_slug.as_str()) || granted(permissions),
            Self::ApiKey { permissions, .. } => granted(permissions),
            Self::Customer { .. } => matches!(
                permission,
                Permission::ViewOwnWallet | Permission::ShareReferralLink
            ),
            Self::Partner { .. } => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "Missing required permission: {}",
                permission.slug()
            )))
        }
    }

    /// Who this is, for audit columns: `customer:7`, `user:3`, `api_key:2` or
    /// `partner:<uuid>`.
    pub fn actor(&self) -> String {
        match self {
            Self::Customer { id } => format!("customer:{id}"),
            Self::Staff { id, .. } => format!("user:{id}"),
            Self::ApiKey { id, .. } => format!("api_key:{id}"),
            Self::Partner { id } => format!("partner:{id}"),
        }
    }

    /// The caller's staff user id, after checking `permission`: for decisions a person
    /// must make and answer for (reviews), never an API key or a customer.
    pub fn staff_user_id(&self, permission: Permission) -> Result<i32> {
        self.require(permission)?;
        match self {
            Self::Staff { id, .. } => Ok(*id),
            Self::Customer { .. } | Self::ApiKey { .. } | Self::Partner { .. } => {
                Err(Error::forbidden("Only a staff user can decide this"))
            }
        }
    }

    /// Checks that the caller may reach customer `customer_id`'s data on a route that
    /// names the customer: a customer only their own (another customer's id is a 403),
    /// staff users and API keys with `staff_permission`.
    pub fn reach_customer(&self, customer_id: i32, staff_permission: Permission) -> Result<()> {
        match self {
            Self::Customer { id } if *id == customer_id => Ok(()),
            Self::Customer { .. } => {
                Err(Error::forbidden("A customer can only reach their own data"))
            }
            Self::Staff { .. } | Self::ApiKey { .. } | Self::Partner { .. } => {
                self.require(staff_permission)
            }
        }
    }

    /// The caller's own customer id, for `/me` routes, after checking `permission`.
    pub fn own_customer_id(&self, permission: Permission) -> Result<i32> {
        self.require(permission)?;
        match self {
            Self::Customer { id } => Ok(*id),
            Self::Staff { .. } | Self::ApiKey { .. } | Self::Partner { .. } => {
                Err(Error::forbidden("This route is for customer accounts"))
            }
        }
    }

    /// The caller's own partner id, for `/api/partners/me/*`: only a partner's token
    /// reaches these routes (staff read any partner's report on the admin routes).
    pub fn own_partner_id(&self) -> Result<Uuid> {
        match self {
            Self::Partner { id } => Ok(*id),
            Self::Customer { .. } | Self::Staff { .. } | Self::ApiKey { .. } => {
                Err(Error::forbidden("This route is for partner accounts"))
            }
        }
    }
}

/// Who a token claims to be, before the account is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenSubject {
    /// `customers.id`.
    Customer(i32),
    /// `users.id`.
    User(i32),
    /// `referral_partners.id`.
    Partner(Uuid),
}

impl TokenSubject {
    /// The subject's kind, as the token's `type` names it.
    pub fn kind(self) -> TokenKind {
        match self {
            Self::Customer(_) => TokenKind::Customer,
            Self::User(_) => TokenKind::User,
            Self::Partner(_) => TokenKind::Partner,
        }
    }
}

/// The keys that sign and verify access tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    /// Keys for an HS256 secret.
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        }
    }

    /// Signs a token for `kind` (a customer or a staff user) `id`, valid for
    /// [`TOKEN_LIFETIME`]. Partners' tokens are [`issue_partner`](Self::issue_partner)'s.
    pub fn issue(
        &self,
        kind: TokenKind,
        id: i32,
        role_slug: &str,
        email: Option<String>,
        phone: Option<String>,
    ) -> Result<String> {
        self.issue_with_role_id(kind, id, role_slug, None, email, phone)
    }

    /// As [`issue`](Self::issue), with the staff role's id in the payload (TrustCart's
    /// staff tokens carry `roleId`).
    pub fn issue_with_role_id(
        &self,
        kind: TokenKind,
        id: i32,
        role_slug: &str,
        role_id: Option<i32>,
        email: Option<String>,
        phone: Option<String>,
    ) -> Result<String> {
        if kind == TokenKind::Partner {
            return Err(Error::Internal(anyhow::anyhow!(
                "a partner token names a partner id: use issue_partner"
            )));
        }
        self.sign(Claims {
            id: Some(id),
            partner_id: None,
            email,
            phone,
            role_slug: role_slug.to_owned(),
            role_id,
            kind,
            iat: 0,
            exp: 0,
        })
    }

    /// Signs a token for partner `partner_id` (partner self-service), valid for
    /// [`TOKEN_LIFETIME`].
    pub fn issue_partner(&self, partner_id: Uuid) -> Result<String> {
        self.sign(Claims {
            id: None,
            partner_id: Some(partner_id),
            email: None,
            phone: None,
            role_slug: PARTNER_ROLE.to_owned(),
            role_id: None,
            kind: TokenKind::Partner,
            iat: 0,
            exp: 0,
        })
    }

    /// Signs `claims`, issued now and expiring after [`TOKEN_LIFETIME`].
    fn sign(&self, mut claims: Claims) -> Result<String> {
        let now = chrono::Utc::now().timestamp();
        claims.iat = now;
        claims.exp = now + TOKEN_LIFETIME.as_secs() as i64;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::Error::new(e).context("signing a token")))
    }

    /// Verifies a bearer token's signature and expiry and returns whom it names.
    pub fn verify(&self, token: &str) -> Result<TokenSubject> {
        self.verify_with_expiry(token).map(|(subject, _)| subject)
    }

    /// As [`verify`](Self::verify), with the token's expiry (seconds since the epoch).
    pub fn verify_with_expiry(&self, token: &str) -> Result<(TokenSubject, i64)> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    Error::new(Code::TokenExpired, "The access token has expired")
                }
                _ => Error::new(Code::InvalidToken, "The access token is not valid"),
            })?
            .claims;
        // Each kind names its account one way only: a token mixing them is not ours.
        let subject = match (claims.kind, claims.id, claims.partner_id) {
            (TokenKind::Customer, Some(id), None) if id > 0 => TokenSubject::Customer(id),
            (TokenKind::User, Some(id), None) if id > 0 => TokenSubject::User(id),
            (TokenKind::Partner, None, Some(id)) => TokenSubject::Partner(id),
            _ => {
                return Err(Error::new(
                    Code::InvalidToken,
                    "The access token is not valid",
                ));
            }
        };
        Ok((subject, claims.exp))
    }
}

/// A new random signing secret: 32 bytes from the OS-seeded CSPRNG, hex-encoded.
pub fn generate_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    fn keys() -> JwtKeys {
        JwtKeys::new(&"0123456789abcdef0123456789abcdef".to_owned().into())
    }

    #[test]
    fn tokens_round_trip() {
        let keys = keys();
        let token = keys
            .issue(TokenKind::Customer, 7, CUSTOMER_ROLE, None, None)
            .unwrap();
        assert_eq!(keys.verify(&token).unwrap(), TokenSubject::Customer(7));
        let token = keys.issue(TokenKind::User, 1, "admin", None, None).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), TokenSubject::User(1));
        let partner = Uuid::new_v4();
        let token = keys.issue_partner(partner).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), TokenSubject::Partner(partner));
        assert!(
            keys.issue(TokenKind::Partner, 1, PARTNER_ROLE, None, None)
                .is_err()
        );
    }

    #[test]
    fn a_token_naming_its_account_the_wrong_way_is_refused() {
        use jsonwebtoken::{EncodingKey, encode};
        let secret = "0123456789abcdef0123456789abcdef";
        let partner = Uuid::new_v4();
        for claims in [
            // A partner token with a customer's id, a customer token with a partner's.
            serde_json::json!({ "id": 3, "roleSlug": "partner", "type": "partner", "exp": 4102444800i64, "iat": 1 }),
            serde_json::json!({ "id": 3, "partnerId": partner, "roleSlug": "partner", "type": "partner", "exp": 4102444800i64, "iat": 1 }),
            serde_json::json!({ "partnerId": partner, "roleSlug": "admin", "type": "user", "exp": 4102444800i64, "iat": 1 }),
            serde_json::json!({ "id": 3, "partnerId": partner, "roleSlug": "customer-account", "type": "customer", "exp": 4102444800i64, "iat": 1 }),
        ] {
            let token = encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .unwrap();
            assert_eq!(
                keys().verify(&token).unwrap_err().code(),
                Code::InvalidToken,
                "{claims}"
            );
        }
    }

    #[test]
    fn forged_and_unsigned_tokens_are_refused() {
        let other = JwtKeys::new(&"another-secret-another-secret-12".to_owned().into());
        let forged = other
            .issue(TokenKind::User, 1, "admin", None, None)
            .unwrap();
        assert_eq!(
            keys().verify(&forged).unwrap_err().code(),
            Code::InvalidToken
        );

        // alg: none, with a valid-looking payload.
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let payload = "eyJpZCI6MSwicm9sZVNsdWciOiJhZG1pbiIsInR5cGUiOiJ1c2VyIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9";
        let unsigned = format!("{header}.{payload}.");
        assert_eq!(
            keys().verify(&unsigned).unwrap_err().code(),
            Code::InvalidToken
        );
    }

    #[test]
    fn permissions_follow_trustcart() {
        let customer = Principal::Customer { id: 3 };
        assert!(customer.require(Permission::ViewOwnWallet).is_ok());
        assert!(customer.require(Permission::ViewMlmReports).is_err());
        assert_eq!(
            customer
                .own_customer_id(Permission::ShareReferralLink)
                .unwrap(),
            3
        );

        let admin = Principal::Staff {
            id: 1,
            role_slug: "super-admin".into(),
            permissions: Arc::from([]),
        };
        assert!(admin.require(Permission::ManageMlmSettings).is_ok());
        assert!(admin.own_customer_id(Permission::ViewOwnWallet).is_err());

        let support = Principal::Staff {
            id: 2,
            role_slug: "support-agent".into(),
            permissions: Arc::from(["view-mlm-reports".to_owned()]),
        };
        assert!(support.require(Permission::ViewMlmReports).is_ok());
        assert!(support.require(Permission::ManageMlmSettings).is_err());

        let courier = Principal::ApiKey {
            id: 1,
            permissions: Arc::from(["edit-sales-orders".to_owned()]),
        };
        assert!(courier.require(Permission::EditSalesOrders).is_ok());
        assert!(courier.require(Permission::ViewMlmReports).is_err());
        assert!(courier.own_customer_id(Permission::ViewOwnWallet).is_err());
        assert!(courier.own_partner_id().is_err());
    }

    #[test]
    fn a_partner_passes_no_permission_and_reaches_only_itself() {
        let id = Uuid::new_v4();
        let partner = Principal::Partner { id };
        for permission in [
            Permission::ViewMlmReports,
            Permission::ManageMlmSettings,
            Permission::ViewOwnWallet,
            Permission::ShareReferralLink,
            Permission::EditSalesOrders,
            Permission::CaptureReferrals,
            Permission::ManageCrmTasks,
            Permission::ManagePayouts,
        ] {
            assert!(partner.require(permission).is_err(), "{permission:?}");
            assert!(partner.staff_user_id(permission).is_err());
            assert!(partner.reach_customer(1, permission).is_err());
            assert!(partner.own_customer_id(permission).is_err());
        }
        assert_eq!(partner.own_partner_id().unwrap(), id);
        assert_eq!(partner.actor(), format!("partner:{id}"));
        let admin = Principal::Staff {
            id: 1,
            role_slug: "admin".into(),
            permissions: Arc::from([]),
        };
        assert!(admin.own_partner_id().is_err());
        assert!(Principal::Customer { id: 1 }.own_partner_id().is_err());
    }

    #[test]
    fn a_customer_reaches_only_their_own_customer_routes() {
        let customer = Principal::Customer { id: 3 };
        assert!(
            customer
                .reach_customer(3, Permission::ViewMlmReports)
                .is_ok()
        );
        assert!(
            customer
                .reach_customer(4, Permission::ViewMlmReports)
                .is_err()
        );
        let support = Principal::Staff {
            id: 2,
            role_slug: "support-agent".into(),
            permissions: Arc::from(["view-mlm-reports".to_owned()]),
        };
        assert!(
            support
                .reach_customer(4, Permission::ViewMlmReports)
                .is_ok()
        );
        assert!(
            support
                .reach_customer(4, Permission::ManageMlmSettings)
                .is_err()
        );
    }
}
