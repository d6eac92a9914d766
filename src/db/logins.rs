//! Login lock-out, one home for customers and staff (`login_attempts`).
//!
//! Every login attempt on a known account is counted as a failure *before* its password is
//! checked, in one statement; a correct password then clears the count. So N parallel
//! attempts take N slots, and at most `max_failures` of them in a row reach password
//! verification before the account is locked.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub use crate::domain::customer::LoginAccountKind;

/// The answer to [`reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt is counted; its password may be checked.
    Admitted,
    /// The account is locked until then; the password must not be checked.
    Locked(DateTime<Utc>),
}

/// Counts one login attempt on the account as a failure, unless it is locked. Reaching
/// `max_failures` locks the account for `lockout`; a lock that has ended starts a fresh
/// window. Concurrent calls for one account queue on its row, so each sees the others'
/// counts.
pub async fn reserve(
    db: impl PgExecutor<'_>,
    kind: LoginAccountKind,
    id: i32,
    max_failures: i32,
    lockout: Duration,
) -> sqlx::Result<Attempt> {
    let row = sqlx::query!(
        r#"insert into login_attempts as a (account_kind, account_id, failures, locked_until)
           values ($1, $2, 1, case when $3::int4 <= 1 then now() + make_interval(secs => $4::float8) end)
           on conflict (account_kind, account_id) do update set
               failures = case
                   when a.locked_until <= now() then 1
                   when a.locked_until is not null then $3 + 1
                   else least(a.failures + 1, $3 + 1)
               end,
               locked_until = case
                   when a.locked_until <= now() then
                       case when $3 <= 1 then now() + make_interval(secs => $4) end
                   when a.locked_until is not null then a.locked_until
                   when a.failures + 1 >= $3 then now() + make_interval(secs => $4)
               end
           returning failures, locked_until"#,
        kind as LoginAccountKind,
        id,
        max_failures,
        lockout.as_secs_f64()
    )
    .fetch_one(db)
    .await?;
    if row.failures <= max_failures {
        return Ok(Attempt::Admitted);
    }
    // A refused attempt always finds the lock it was refused for.
    let until = row
        .locked_until
        .unwrap_or_else(|| Utc::now() + chrono::Duration::from_std(lockout).unwrap_or_default());
    Ok(Attempt::Locked(until))
}

/// Clears the account's count and lock after a correct password.
pub async fn clear(db: impl PgExecutor<'_>, kind: LoginAccountKind, id: i32) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from login_attempts where account_kind = $1 and account_id = $2",
        kind as LoginAccountKind,
        id
    )
    .execute(db)
    .await?;
    Ok(())
}
