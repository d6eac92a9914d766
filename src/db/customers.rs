//! Customers and their attribution.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::customer::Customer;

/// The columns of a new customer. Attribution columns are set only when a code matched.
#[derive(Debug, Default)]
pub struct NewCustomer {
    /// First name.
    pub name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Normalised email.
    pub email: Option<String>,
    /// E.164 phone.
    pub phone: String,
    /// argon2id hash; `None` makes a guest.
    pub password_hash: Option<String>,
    /// As sent by the shop.
    pub customer_type: Option<String>,
    /// Delivery district.
    pub district: Option<String>,
    /// Delivery address.
    pub address: Option<String>,
    /// Attribution to a referring customer.
    pub referred_by_customer_id: Option<i32>,
    /// The code that attributed the customer.
    pub referred_by_code: Option<String>,
    /// Attribution to a partner.
    pub referred_by_partner_id: Option<Uuid>,
    /// The channel the code came through.
    pub referred_channel: Option<String>,
    /// When attribution was recorded.
    pub referred_at: Option<DateTime<Utc>>,
    /// The campaign the customer's referral carries.
    pub referral_campaign_id: Option<Uuid>,
}

/// Inserts a customer and opens their wallet (every customer has exactly one).
pub async fn insert(conn: &mut PgConnection, new: &NewCustomer) -> sqlx::Result<Customer> {
    let customer = sqlx::query_as!(
        Customer,
        r#"insert into customers
               (name, last_name, email, phone, password_hash, is_guest, customer_type, district,
                address, referred_by_customer_id, referred_by_code, referred_by_partner_id,
                referred_channel, referred_at, referral_campaign_id)
           values ($1, $2, $3, $4, $5, $5::text is null, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           returning id, uuid, name, last_name, email, phone, is_guest, customer_type, district,
                     address, referred_by_customer_id, referred_by_code, referred_by_partner_id,
                     referred_channel, referred_at, referral_campaign_id, created_at, updated_at"#,
        new.name,
        new.last_name,
        new.email,
        new.phone,
        new.password_hash,
        new.customer_type,
        new.district,
        new.address,
        new.referred_by_customer_id,
        new.referred_by_code,
        new.referred_by_partner_id,
        new.referred_channel,
        new.referred_at,
        new.referral_campaign_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into customer_wallets (customer_id) values ($1)",
        customer.id
    )
    .execute(&mut *conn)
    .await?;
    Ok(customer)
}

/// A live (not deleted) customer's contact details.
#[derive(Debug)]
pub struct Contact {
    /// Customer id.
    pub id: i32,
    /// E.164 phone.
    pub phone: String,
    /// Email, if any.
    pub email: Option<String>,
}

/// The contact details of live customer `id`.
pub async fn find_contact(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<Option<Contact>> {
    sqlx::query_as!(
        Contact,
        "select id, phone, email from customers where id = $1 and not is_deleted",
        id
    )
    .fetch_optional(db)
    .await
}

/// Whether live customer `id` exists.
pub async fn exists(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from customers where id = $1 and not is_deleted) as "exists!""#,
        id
    )
    .fetch_one(db)
    .await
}

/// The id of the live customer with this public UUID.
pub async fn id_for_uuid(db: impl PgExecutor<'_>, uuid: Uuid) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "select id from customers where uuid = $1 and not is_deleted",
        uuid
    )
    .fetch_optional(db)
    .await
}

/// The id of a live customer with this phone or email, if any.
pub async fn id_for_contact(
    db: impl PgExecutor<'_>,
    phone: Option<&str>,
    email: Option<&str>,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "select id from customers
         where not is_deleted and (phone = $1 or email = $2)
         order by id limit 1",
        phone,
        email
    )
    .fetch_optional(db)
    .await
}
