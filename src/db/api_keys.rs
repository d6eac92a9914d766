//! API keys of machine clients.

use sqlx::PgExecutor;

/// Stores a new key's hash; returns its id.
pub async fn insert(
    db: impl PgExecutor<'_>,
    name: &str,
    prefix: &str,
    hash: &[u8],
    permissions: &[String],
) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        "insert into api_keys (name, key_prefix, key_hash, permissions) values ($1, $2, $3, $4) returning id",
        name,
        prefix,
        hash,
        permissions
    )
    .fetch_one(db)
    .await
}

/// A key that is not revoked.
#[derive(Debug)]
pub struct ActiveKey {
    /// Key id.
    pub id: i32,
    /// Its permission slugs.
    pub permissions: Vec<String>,
}

/// The unrevoked key with this hash.
pub async fn find_active(db: impl PgExecutor<'_>, hash: &[u8]) -> sqlx::Result<Option<ActiveKey>> {
    sqlx::query_as!(
        ActiveKey,
        "select id, permissions from api_keys where key_hash = $1 and revoked_at is null",
        hash
    )
    .fetch_optional(db)
    .await
}

/// Revokes key `id`; returns whether it was active.
pub async fn revoke(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<bool> {
    let revoked = sqlx::query!(
        "update api_keys set revoked_at = now() where id = $1 and revoked_at is null",
        id
    )
    .execute(db)
    .await?;
    Ok(revoked.rows_affected() == 1)
}
