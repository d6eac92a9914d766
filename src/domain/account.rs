//! Who is logged in and what they may do: the answers of TrustCart's login and `me`.

use serde::Serialize;

use crate::auth::{CUSTOMER_ROLE, TokenKind};

/// `POST /api/auth/login`'s answer, as TrustCart's.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// A bearer token valid for 24 hours.
    pub access_token: String,
    /// Who logged in.
    pub user: LoginUser,
}

/// The user part of a login or `me` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginUser {
    /// `customers.id` or `users.id`.
    pub id: i32,
    /// Email.
    pub email: Option<String>,
    /// First (or display) name.
    pub name: Option<String>,
    /// Last name (customers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Phone (customers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `customer-account` or the staff role's slug.
    pub role_slug: String,
    /// The staff role's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_id: Option<i32>,
    /// `customer` or `user`.
    #[serde(rename = "type")]
    pub kind: TokenKind,
}

impl LoginUser {
    /// A customer, as TrustCart's login and `me` describe one.
    pub fn customer(
        id: i32,
        email: Option<String>,
        name: Option<String>,
        last_name: Option<String>,
        phone: String,
    ) -> Self {
        Self {
            id,
            email,
            name,
            last_name,
            phone: Some(phone),
            role_slug: CUSTOMER_ROLE.to_owned(),
            role_id: None,
            kind: TokenKind::Customer,
        }
    }

    /// A staff user.
    pub fn staff(
        id: i32,
        email: String,
        name: Option<String>,
        role_slug: String,
        role_id: i32,
    ) -> Self {
        Self {
            id,
            email: Some(email),
            name,
            last_name: None,
            phone: None,
            role_slug,
            role_id: Some(role_id),
            kind: TokenKind::User,
        }
    }
}

/// `GET /api/auth/me`'s answer, as TrustCart's.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeResponse {
    /// Who is calling.
    pub user: LoginUser,
    /// The staff role (empty for customers).
    pub roles: Vec<RoleRow>,
    /// The permissions it grants (empty for customers).
    pub permissions: Vec<PermissionRow>,
}

/// A role, for `GET /api/auth/me`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleRow {
    /// Role id.
    pub id: i32,
    /// Human name.
    pub name: String,
    /// Slug.
    pub slug: String,
}

/// A permission, for `GET /api/auth/me`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PermissionRow {
    /// Permission id.
    pub id: i32,
    /// Slug, e.g. `view-mlm-reports`.
    pub slug: String,
    /// Human name.
    pub name: String,
}

/// `POST /api/partners/login`'s answer (Bondhu).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerLoginResponse {
    /// A bearer token valid for 24 hours, reaching only `/api/partners/me/*`.
    pub access_token: String,
    /// The partner who logged in.
    pub partner: PartnerAccount,
}

/// A partner as its own login describes it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerAccount {
    /// `referral_partners.id`.
    pub id: uuid::Uuid,
    /// The partner's code, as spelled when created.
    pub code: String,
    /// Display name.
    pub name: Option<String>,
}

/// `PUT /api/partners/:id/password`'s answer (Bondhu): the partner can now log in with
/// the new password (its lock-out is cleared); the password itself is never echoed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerPasswordSet {
    /// `referral_partners.id`.
    pub partner_id: uuid::Uuid,
    /// The partner's code, to log in with.
    pub code: String,
}
