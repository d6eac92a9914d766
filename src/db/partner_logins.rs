//! Partners' passwords for self-service (`partner_logins`). The row's integer id is the
//! account id of the partner's lock-out in `login_attempts` (kind `partner`).

use sqlx::PgExecutor;
use uuid::Uuid;

/// What a partner's login checks.
#[derive(Debug)]
pub struct PartnerLogin {
    /// `partner_logins.id`: the lock-out's account id.
    pub login_id: i32,
    /// The partner.
    pub partner_id: Uuid,
    /// The partner's code, as spelled when created.
    pub code: String,
    /// Display name.
    pub name: Option<String>,
    /// Inactive partners may not log in.
    pub is_active: bool,
    /// The argon2id hash.
    pub password_hash: String,
}

/// The login of the partner whose code is `code` (case-insensitive), if it has a password.
pub async fn find_by_code(
    db: impl PgExecutor<'_>,
    code: &str,
) -> sqlx::Result<Option<PartnerLogin>> {
    sqlx::query_as!(
        PartnerLogin,
        "select l.id as login_id, p.id as partner_id, p.code, p.name, p.is_active, l.password_hash
         from referral_partners p join partner_logins l on l.partner_id = p.id
         where lower(p.code) = lower($1)",
        code
    )
    .fetch_optional(db)
    .await
}

/// Sets partner `partner_id`'s password hash (creating its login); returns the login id.
pub async fn set_password(
    db: impl PgExecutor<'_>,
    partner_id: Uuid,
    password_hash: &str,
) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        "insert into partner_logins as l (partner_id, password_hash) values ($1, $2)
         on conflict (partner_id) do update set password_hash = excluded.password_hash, updated_at = now()
         returning l.id",
        partner_id,
        password_hash
    )
    .fetch_one(db)
    .await
}
