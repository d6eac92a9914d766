//! Logging in, and checking the account behind every token and API key.

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::cache::{PrincipalCache, Subject};
use crate::auth::{
    CUSTOMER_ROLE, JwtKeys, Principal, SUPERUSER_ROLES, TokenKind, TokenSubject, api_key, password,
};
use crate::config::Config;
use crate::db;
use crate::db::logins::{Attempt, LoginAccountKind};
use crate::domain::account::{
    LoginResponse, LoginUser, MeResponse, PartnerAccount, PartnerLoginResponse, PartnerPasswordSet,
    RoleRow,
};
use crate::domain::customer::normalise_email;
use crate::domain::phone::Phone;
use crate::error::{Code, Error, Result};

fn account_unavailable() -> Error {
    Error::new(
        Code::AccountUnavailable,
        "This account no longer exists or is inactive",
    )
}

/// The account behind a verified token, checked against the database (or the short
/// cache): a deleted customer's or an inactive user's token stops working.
pub async fn resolve_token(
    pool: &PgPool,
    cache: &PrincipalCache,
    subject: TokenSubject,
) -> Result<Principal> {
    let key = Subject::Token(subject);
    let principal = match cache.get(&key) {
        Some(cached) => cached,
        None => {
            let principal = match subject {
                TokenSubject::Customer(id) => db::customers::exists(pool, id)
                    .await?
                    .then_some(Principal::Customer { id }),
                TokenSubject::User(id) => {
                    db::users::find_active_access(pool, id)
                        .await?
                        .map(|access| Principal::Staff {
                            id,
                            role_slug: access.role_slug,
                            permissions: Arc::from(access.permissions),
                        })
                }
                // A deactivated partner's tokens stop working, as an inactive user's do.
                TokenSubject::Partner(id) => db::partners::find(pool, id)
                    .await?
                    .filter(|partner| partner.is_active)
                    .map(|_| Principal::Partner { id }),
            };
            cache.put(key, principal.clone());
            principal
        }
    };
    principal.ok_or_else(account_unavailable)
}

/// The machine client holding `key`.
pub async fn resolve_api_key(
    pool: &PgPool,
    cache: &PrincipalCache,
    key: &str,
) -> Result<Principal> {
    let hash = api_key::hash(key.trim());
    let subject = Subject::ApiKey(hash);
    let principal = match cache.get(&subject) {
        Some(cached) => cached,
        None => {
            let principal =
                db::api_keys::find_active(pool, &hash)
                    .await?
                    .map(|key| Principal::ApiKey {
                        id: key.id,
                        permissions: Arc::from(key.permissions),
                    });
            cache.put(subject, principal.clone());
            principal
        }
    };
    principal.ok_or_else(|| Error::new(Code::InvalidApiKey, "The API key is not valid"))
}

/// Why a login failed, before the password was even checked.
fn locked(until: chrono::DateTime<chrono::Utc>) -> Error {
    // Rounded up: a client that waits `Retry-After` must find the lock ended.
    let millis = u64::try_from((until - chrono::Utc::now()).num_milliseconds()).unwrap_or(0);
    let seconds = millis.div_ceil(1000).max(1);
    Error::too_many(
        Code::AccountLocked,
        "Too many failed logins; try again later",
        std::time::Duration::from_secs(seconds),
    )
}

fn invalid_credentials() -> Error {
    Error::new(Code::InvalidCredentials, "Invalid credentials")
}

/// Counts the attempt on the account, then checks its password: the lock-out is decided
/// before the hash is, so parallel attempts cannot all get past it. A correct password
/// clears the count.
async fn check_password(
    pool: &PgPool,
    config: &Config,
    kind: LoginAccountKind,
    id: i32,
    password: String,
    hash: Option<String>,
) -> Result<()> {
    let attempt = db::logins::reserve(
        pool,
        kind,
        id,
        config.login_max_failures,
        config.login_lockout,
    )
    .await?;
    if let Attempt::Locked(until) = attempt {
        return Err(locked(until));
    }
    if !password::verify(password, hash).await? {
        return Err(invalid_credentials());
    }
    db::logins::clear(pool, kind, id).await?;
    Ok(())
}

/// Logs in a staff user (by email) or a customer (by email or phone). After
/// `LOGIN_MAX_FAILURES` wrong passwords in a row the account is locked for
/// `LOGIN_LOCKOUT_SECS`. Unknown accounts take as long to refuse as wrong passwords.
pub async fn login(
    pool: &PgPool,
    keys: &JwtKeys,
    config: &Config,
    identifier: &str,
    password: String,
) -> Result<LoginResponse> {
    let identifier = identifier.trim();
    let email = if identifier.contains('@') {
        normalise_email(identifier).ok().flatten()
    } else {
        None
    };
    let phone = if email.is_none() {
        Phone::parse(identifier).ok()
    } else {
        None
    };

    if let Some(email) = &email
        && let Some(staff) = db::users::find_for_login(pool, email).await?
    {
        let hash = Some(staff.password_hash.clone());
        check_password(
            pool,
            config,
            LoginAccountKind::Staff,
            staff.id,
            password,
            hash,
        )
        .await?;
        if staff.status != "active" {
            return Err(Error::forbidden("This staff account is inactive"));
        }
        let token = keys.issue_with_role_id(
            TokenKind::User,
            staff.id,
            &staff.role_slug,
            Some(staff.role_id),
            Some(staff.email.clone()),
            None,
        )?;
        return Ok(LoginResponse {
            access_token: token,
            user: LoginUser::staff(
                staff.id,
                staff.email,
                staff.name,
                staff.role_slug,
                staff.role_id,
            ),
        });
    }

    let customer = match (&email, &phone) {
        (None, None) => None,
        (email, phone) => {
            db::customers::find_for_login(pool, email.as_deref(), phone.as_ref().map(Phone::as_str))
                .await?
        }
    };
    let Some(customer) = customer else {
        // Spend the same time as a real check, so response times do not reveal accounts.
        password::verify(password, None).await?;
        return Err(invalid_credentials());
    };
    let hash = customer.password_hash.clone();
    check_password(
        pool,
        config,
        LoginAccountKind::Customer,
        customer.id,
        password,
        hash,
    )
    .await?;
    let token = keys.issue(
        TokenKind::Customer,
        customer.id,
        CUSTOMER_ROLE,
        customer.email.clone(),
        Some(customer.phone.clone()),
    )?;
    Ok(LoginResponse {
        access_token: token,
        user: LoginUser::customer(
            customer.id,
            customer.email,
            customer.name,
            customer.last_name,
            customer.phone,
        ),
    })
}

/// Logs in a referral partner by its code (case-insensitive) and the password an admin set
/// (partner self-service). The same lock-out as customers' and staff's counts the attempt
/// first; an unknown code, or a partner without a password, takes as long to refuse as a
/// wrong password. An inactive partner's correct password is 403.
pub async fn partner_login(
    pool: &PgPool,
    keys: &JwtKeys,
    config: &Config,
    code: &str,
    password: String,
) -> Result<PartnerLoginResponse> {
    let Some(login) = db::partner_logins::find_by_code(pool, code.trim()).await? else {
        password::verify(password, None).await?;
        return Err(invalid_credentials());
    };
    let hash = Some(login.password_hash.clone());
    check_password(
        pool,
        config,
        LoginAccountKind::Partner,
        login.login_id,
        password,
        hash,
    )
    .await?;
    if !login.is_active {
        return Err(Error::forbidden("This partner is inactive"));
    }
    Ok(PartnerLoginResponse {
        access_token: keys.issue_partner(login.partner_id)?,
        partner: PartnerAccount {
            id: login.partner_id,
            code: login.code,
            name: login.name,
        },
    })
}

/// Sets partner `partner_id`'s self-service password (an admin's act) and clears its
/// lock-out, in one transaction. Only the argon2id hash is stored.
pub async fn set_partner_password(
    pool: &PgPool,
    partner_id: uuid::Uuid,
    new_password: String,
) -> Result<PartnerPasswordSet> {
    if let Some(problem) = super::signup::password_problem(&new_password) {
        return Err(Error::invalid_field("password", problem));
    }
    let hash = password::hash(new_password).await?;
    let mut tx = pool.begin().await?;
    // The lock keeps a concurrent deletion of the partner from racing the insert.
    let partner = db::partners::lock(&mut *tx, partner_id)
        .await?
        .ok_or_else(super::partners::partner_not_found)?;
    let login_id = db::partner_logins::set_password(&mut *tx, partner.id, &hash).await?;
    db::logins::clear(&mut *tx, LoginAccountKind::Partner, login_id).await?;
    tx.commit().await?;
    Ok(PartnerPasswordSet {
        partner_id: partner.id,
        code: partner.code,
    })
}

/// Who the caller is, with their roles and permissions.
pub async fn me(pool: &PgPool, principal: &Principal) -> Result<MeResponse> {
    match principal {
        Principal::Customer { id } => {
            let customer = super::customers::me(pool, *id).await?;
            Ok(MeResponse {
                user: LoginUser::customer(
                    customer.id,
                    customer.email,
                    customer.name,
                    customer.last_name,
                    customer.phone,
                ),
                roles: Vec::new(),
                permissions: Vec::new(),
            })
        }
        Principal::Staff { id, .. } => {
            let access = db::users::find_active_access(pool, *id)
                .await?
                .ok_or_else(account_unavailable)?;
            let superuser = SUPERUSER_ROLES.contains(&access.role_slug.as_str());
            let permissions = db::users::permissions(pool, &access.permissions, superuser).await?;
            Ok(MeResponse {
                user: LoginUser::staff(
                    *id,
                    access.email,
                    access.name,
                    access.role_slug.clone(),
                    access.role_id,
                ),
                roles: vec![RoleRow {
                    id: access.role_id,
                    name: access.role_name,
                    slug: access.role_slug,
                }],
                permissions,
            })
        }
        Principal::ApiKey { .. } => Err(Error::forbidden("API keys have no user profile")),
        Principal::Partner { .. } => Err(Error::forbidden(
            "Partner tokens reach only /api/partners/me routes",
        )),
    }
}
