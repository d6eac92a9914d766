//! Customers and their attribution.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::customer::Customer;
use crate::domain::time::Timestamp;

/// The columns of a new customer. Attribution is recorded separately ([`attribute`]).
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
}

/// Inserts a customer and opens their wallet, points balance and membership.
pub async fn insert(conn: &mut PgConnection, new: &NewCustomer) -> sqlx::Result<Customer> {
    let customer = sqlx::query_as!(
        Customer,
        r#"insert into customers
               (name, last_name, email, phone, password_hash, is_guest, customer_type, district, address)
           values ($1, $2, $3, $4, $5, $5::text is null, $6, $7, $8)
           returning id, uuid, name, last_name, email, phone, is_guest, customer_type, district,
                     address, referred_by_customer_id, referred_by_code, referred_by_partner_id,
                     referred_channel, referred_at as "referred_at: Timestamp", referral_campaign_id,
                     created_at, updated_at"#,
        new.name,
        new.last_name,
        new.email,
        new.phone,
        new.password_hash,
        new.customer_type,
        new.district,
        new.address,
    )
    .fetch_one(&mut *conn)
    .await?;
    // Every customer has exactly one wallet, points balance and membership, opened with
    // them, so that reads never have to create rows (TrustCart D22).
    sqlx::query!(
        "with wallet as (insert into customer_wallets (customer_id) values ($1)),
              points as (insert into customer_points (customer_id) values ($1))
         insert into customer_memberships (customer_id) values ($1)",
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

/// What login needs to know about a customer account.
#[derive(Debug)]
pub struct CustomerLogin {
    /// Customer id.
    pub id: i32,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: String,
    /// First name.
    pub name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// argon2id hash; `None` for guests, who cannot log in.
    pub password_hash: Option<String>,
}

/// The live customer with this email or phone.
pub async fn find_for_login(
    db: impl PgExecutor<'_>,
    email: Option<&str>,
    phone: Option<&str>,
) -> sqlx::Result<Option<CustomerLogin>> {
    sqlx::query_as!(
        CustomerLogin,
        "select id, email, phone, name, last_name, password_hash
         from customers
         where not is_deleted and (email = $1 or phone = $2)
         order by id limit 1",
        email,
        phone
    )
    .fetch_optional(db)
    .await
}

/// Live customer `id`.
pub async fn find(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<Option<Customer>> {
    sqlx::query_as!(
        Customer,
        r#"select id, uuid, name, last_name, email, phone, is_guest, customer_type, district, address,
                referred_by_customer_id, referred_by_code, referred_by_partner_id, referred_channel,
                referred_at as "referred_at: Timestamp", referral_campaign_id, created_at, updated_at
         from customers where id = $1 and not is_deleted"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// A live customer found by phone, with whether they are a guest (for the guest upgrade).
#[derive(Debug)]
pub struct PhoneOwner {
    /// Customer id.
    pub id: i32,
    /// Whether the customer has no password yet.
    pub is_guest: bool,
    /// Their email, if any.
    pub email: Option<String>,
}

/// The live customer with `phone`, locked for update.
pub async fn lock_by_phone(
    db: impl PgExecutor<'_>,
    phone: &str,
) -> sqlx::Result<Option<PhoneOwner>> {
    sqlx::query_as!(
        PhoneOwner,
        "select id, is_guest, email from customers where phone = $1 and not is_deleted for update",
        phone
    )
    .fetch_optional(db)
    .await
}

/// Turns guest `id` into an account: password, and the details given (kept where not given);
/// `phone_verified` when the caller proved the phone by a code.
pub async fn upgrade_guest(
    db: impl PgExecutor<'_>,
    id: i32,
    new: &NewCustomer,
    phone_verified: bool,
) -> sqlx::Result<Customer> {
    sqlx::query_as!(
        Customer,
        r#"update customers
         set password_hash = $2, is_guest = false,
             name = coalesce($3, name), last_name = coalesce($4, last_name), email = coalesce($5, email),
             customer_type = coalesce($6, customer_type), district = coalesce($7, district),
             address = coalesce($8, address),
             phone_verified_at = case when $9 then now() else phone_verified_at end,
             updated_at = now()
         where id = $1 and is_guest
         returning id, uuid, name, last_name, email, phone, is_guest, customer_type, district, address,
                   referred_by_customer_id, referred_by_code, referred_by_partner_id, referred_channel,
                   referred_at as "referred_at: Timestamp", referral_campaign_id, created_at, updated_at"#,
        id,
        new.password_hash,
        new.name,
        new.last_name,
        new.email,
        new.customer_type,
        new.district,
        new.address,
        phone_verified,
    )
    .fetch_one(db)
    .await
}

/// Attribution to record on a customer who has none yet.
#[derive(Debug, Default)]
pub struct Attribution {
    /// The referring customer.
    pub referred_by_customer_id: Option<i32>,
    /// The code, canonical spelling.
    pub referred_by_code: Option<String>,
    /// The partner.
    pub referred_by_partner_id: Option<Uuid>,
    /// The channel.
    pub referred_channel: String,
    /// The campaign the referral carries.
    pub referral_campaign_id: Option<Uuid>,
}

/// Copies a referral's attribution onto customer `id` (TrustCart's `referred_by_*`
/// columns). Called right after the referral was written: the referral's unique index
/// decided that this customer had none, so nothing is compared here.
pub async fn attribute(
    db: impl PgExecutor<'_>,
    id: i32,
    attribution: &Attribution,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update customers
         set referred_by_customer_id = $2, referred_by_code = $3, referred_by_partner_id = $4,
             referred_channel = $5, referred_at = now(), referral_campaign_id = $6, updated_at = now()
         where id = $1",
        id,
        attribution.referred_by_customer_id,
        attribution.referred_by_code,
        attribution.referred_by_partner_id,
        attribution.referred_channel,
        attribution.referral_campaign_id,
    )
    .execute(db)
    .await?;
    Ok(())
}
