//! Reading customers: the caller's own record, the checkout's lookup, and customers named
//! by UUID.

use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::domain::customer::{Customer, normalise_email};
use crate::domain::phone::Phone;
use crate::error::{Code, Error, Result};

/// The caller's own record. The token of a customer deleted since finds none: that is
/// an authentication failure, not a missing resource.
pub async fn me(pool: &PgPool, id: i32) -> Result<Customer> {
    db::customers::find(pool, id).await?.ok_or_else(|| {
        Error::new(
            Code::AccountUnavailable,
            "This account no longer exists or is inactive",
        )
    })
}

/// The id of the live customer with this phone (any common spelling) or email, as
/// TrustCart's checkout asks before creating a guest. Blank values count as absent; at
/// least one must be given.
pub async fn lookup(
    pool: &PgPool,
    phone: Option<&str>,
    email: Option<&str>,
) -> Result<Option<i32>> {
    let phone = match phone.map(str::trim).filter(|p| !p.is_empty()) {
        Some(raw) => {
            Some(Phone::parse(raw).map_err(|e| Error::invalid_field("phone", e.to_string()))?)
        }
        None => None,
    };
    let email = normalise_email(email.unwrap_or_default())
        .map_err(|e| Error::invalid_field("email", e.to_string()))?;
    if phone.is_none() && email.is_none() {
        return Err(Error::invalid_field("phone", "give a phone or an email"));
    }
    Ok(
        db::customers::id_for_contact(pool, phone.as_ref().map(Phone::as_str), email.as_deref())
            .await?,
    )
}

/// The id of the live customer with `uuid`.
pub async fn id_for_uuid(pool: &PgPool, uuid: Uuid) -> Result<i32> {
    db::customers::id_for_uuid(pool, uuid)
        .await?
        .ok_or_else(|| Error::new(Code::CustomerNotFound, "Customer not found"))
}
