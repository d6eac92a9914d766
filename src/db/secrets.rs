//! Secrets the server generated for itself.

use secrecy::SecretString;
use sqlx::PgPool;

/// Returns the secret called `name`, storing `candidate` first if there is none yet.
/// Concurrent callers all get the one that was stored first.
pub async fn get_or_insert(
    pool: &PgPool,
    name: &str,
    candidate: &str,
) -> sqlx::Result<SecretString> {
    sqlx::query!(
        "insert into app_secrets (name, value) values ($1, $2) on conflict (name) do nothing",
        name,
        candidate
    )
    .execute(pool)
    .await?;
    let value = sqlx::query_scalar!("select value from app_secrets where name = $1", name)
        .fetch_one(pool)
        .await?;
    Ok(value.into())
}
