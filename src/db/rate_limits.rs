//! Rate limits counted in PostgreSQL, so every instance shares them
//! (`migrations/20261204000500_shared_rate_limits.sql`).

use std::net::IpAddr;

use sqlx::PgExecutor;

use crate::domain::rate_limit::Bucket;

/// Takes one request of `client` from `bucket`, a limit of `per_minute` (at least 1).
/// `None`: admitted; otherwise the seconds until it would be.
pub async fn take(
    db: impl PgExecutor<'_>,
    bucket: Bucket,
    client: IpAddr,
    per_minute: u32,
) -> sqlx::Result<Option<f64>> {
    sqlx::query_scalar!(
        r#"select take_rate_limit($1, $2::text::inet, $3) as "wait""#,
        bucket as Bucket,
        client.to_string(),
        i32::try_from(per_minute).unwrap_or(i32::MAX),
    )
    .fetch_one(db)
    .await
}

/// Forgets clients whose quota has refilled (a passed `tat` is the same as no row).
pub async fn prune(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    Ok(
        sqlx::query!("delete from rate_limit_states where tat < clock_timestamp()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}
