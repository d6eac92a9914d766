//! Phone verification codes (only their HMACs) and customers' verified phones.

use sqlx::PgExecutor;

use crate::domain::phone_code::{PhoneCodeCheck, PhoneCodePurpose};
use crate::domain::time::Timestamp;

/// What `issue_phone_code` answered.
#[derive(Debug)]
pub struct Issued {
    /// Whether the code was recorded (false: the phone's hourly limit was reached).
    pub sent: bool,
    /// When not sent: seconds until another code may be sent.
    pub retry_after_secs: Option<i32>,
    /// When sent: when the code expires.
    pub expires_at: Option<Timestamp>,
}

/// Records a new code's hash for `phone`, unless `max_per_hour` codes were sent to it in
/// the last hour (see `issue_phone_code`).
pub async fn issue(
    db: impl PgExecutor<'_>,
    phone: &str,
    purpose: PhoneCodePurpose,
    customer_id: Option<i32>,
    code_hash: &[u8],
    ttl_secs: f64,
    max_per_hour: i32,
) -> sqlx::Result<Issued> {
    sqlx::query_as!(
        Issued,
        r#"select sent as "sent!", retry_after_secs, expires_at as "expires_at: Timestamp"
           from issue_phone_code($1, $2, $3, $4, make_interval(secs => $5), $6)"#,
        phone,
        purpose as PhoneCodePurpose,
        customer_id,
        code_hash,
        ttl_secs,
        max_per_hour,
    )
    .fetch_one(db)
    .await
}

/// Checks a code's hash against the newest live code of `phone` for `purpose`, counting
/// the attempt (see `check_phone_code`).
pub async fn check(
    db: impl PgExecutor<'_>,
    phone: &str,
    purpose: PhoneCodePurpose,
    code_hash: &[u8],
    max_attempts: i32,
) -> sqlx::Result<PhoneCodeCheck> {
    sqlx::query_scalar!(
        r#"select check_phone_code($1, $2, $3, $4) as "outcome!: PhoneCodeCheck""#,
        phone,
        purpose as PhoneCodePurpose,
        code_hash,
        max_attempts,
    )
    .fetch_one(db)
    .await
}

/// A live customer's phone and when it was verified.
#[derive(Debug)]
pub struct CustomerPhone {
    /// E.164 phone.
    pub phone: String,
    /// When a code sent to it was last confirmed; `None` if never.
    pub phone_verified_at: Option<Timestamp>,
}

/// Live customer `id`'s phone and its verification.
pub async fn customer_phone(
    db: impl PgExecutor<'_>,
    id: i32,
) -> sqlx::Result<Option<CustomerPhone>> {
    sqlx::query_as!(
        CustomerPhone,
        r#"select phone, phone_verified_at as "phone_verified_at: Timestamp"
           from customers where id = $1 and not is_deleted"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// Marks live customer `id`'s phone verified now, if it still is `phone`; returns when.
pub async fn mark_verified(
    db: impl PgExecutor<'_>,
    id: i32,
    phone: &str,
) -> sqlx::Result<Option<Timestamp>> {
    sqlx::query_scalar!(
        r#"update customers set phone_verified_at = now(), updated_at = now()
           where id = $1 and phone = $2 and not is_deleted
           returning phone_verified_at as "phone_verified_at!: Timestamp""#,
        id,
        phone
    )
    .fetch_optional(db)
    .await
}
