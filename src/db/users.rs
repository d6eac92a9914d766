//! Staff users, their roles and permission slugs.

use sqlx::PgExecutor;

use crate::domain::account::PermissionRow;

/// What login needs to know about a staff account.
#[derive(Debug)]
pub struct StaffLogin {
    /// User id.
    pub id: i32,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// argon2id hash.
    pub password_hash: String,
    /// Role id.
    pub role_id: i32,
    /// Role slug.
    pub role_slug: String,
    /// `active` or `inactive`.
    pub status: String,
}

/// The live staff account with this email.
pub async fn find_for_login(
    db: impl PgExecutor<'_>,
    email: &str,
) -> sqlx::Result<Option<StaffLogin>> {
    sqlx::query_as!(
        StaffLogin,
        "select u.id, u.email, u.name, u.password_hash, u.role_id, r.slug as role_slug, u.status
         from users u join roles r on r.id = u.role_id
         where u.email = $1 and not u.is_deleted",
        email
    )
    .fetch_optional(db)
    .await
}

/// An active staff account's role and granted permissions.
#[derive(Debug)]
pub struct StaffAccess {
    /// Role id.
    pub role_id: i32,
    /// Role slug.
    pub role_slug: String,
    /// Role name.
    pub role_name: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Permission slugs granted to the role.
    pub permissions: Vec<String>,
}

/// The role and permissions of user `id`, if the account is live and active.
pub async fn find_active_access(
    db: impl PgExecutor<'_>,
    id: i32,
) -> sqlx::Result<Option<StaffAccess>> {
    sqlx::query_as!(
        StaffAccess,
        r#"select r.id as role_id, r.slug as role_slug, r.name as role_name, u.email, u.name,
                  coalesce(array_agg(p.slug order by p.slug) filter (where p.slug is not null), '{}') as "permissions!"
           from users u
           join roles r on r.id = u.role_id
           left join role_permissions rp on rp.role_id = r.id
           left join permissions p on p.id = rp.permission_id
           where u.id = $1 and not u.is_deleted and u.status = 'active'
           group by r.id, u.id"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// The permissions with these slugs, or every permission when `all` is set.
pub async fn permissions(
    db: impl PgExecutor<'_>,
    slugs: &[String],
    all: bool,
) -> sqlx::Result<Vec<PermissionRow>> {
    sqlx::query_as!(
        PermissionRow,
        "select id, slug, name from permissions where $2 or slug = any($1) order by slug",
        slugs,
        all
    )
    .fetch_all(db)
    .await
}

/// Creates a staff user with role `role_slug`; `None` if there is no such role.
pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    name: Option<&str>,
    password_hash: &str,
    role_slug: &str,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "insert into users (email, name, password_hash, role_id)
         select $1, $2, $3, r.id from roles r where r.slug = $4
         returning id",
        email,
        name,
        password_hash,
        role_slug
    )
    .fetch_optional(db)
    .await
}

/// The live staff user whose phone is `phone` (E.164), if any.
pub async fn with_phone(db: impl PgExecutor<'_>, phone: &str) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "select id from users where phone = $1 and not is_deleted",
        phone
    )
    .fetch_optional(db)
    .await
}

/// Sets user `id`'s phone (E.164); false when there is no such user. A phone another live
/// user has is refused by `users_phone_key`.
pub async fn set_phone(db: impl PgExecutor<'_>, id: i32, phone: &str) -> sqlx::Result<bool> {
    let updated = sqlx::query!(
        "update users set phone = $2, updated_at = now() where id = $1",
        id,
        phone
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}
