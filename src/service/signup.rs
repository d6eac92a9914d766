//! Signing up, or checking out as a guest, possibly with a referral code.

use sqlx::PgPool;

use crate::db;
use crate::db::customers::NewCustomer;
use crate::domain::channel::Channel;
use crate::domain::customer::{Customer, normalise_email};
use crate::domain::fraud::normalise_address;
use crate::domain::phone::Phone;
use crate::domain::phone_code::{PhoneCodeCheck, PhoneCodePurpose};
use crate::domain::utm::Utm;
use crate::error::{Code, Error, Problems, Result};
use crate::service::attribution;
use crate::service::fraud::{self, ClientSignals};
use crate::service::phone_verification::{self, Otp};

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password (argon2 cost grows with it).
pub const MAX_PASSWORD_LEN: usize = 128;

/// What is wrong with a new password (customers' and partners' alike), if anything: its
/// length must be [`MIN_PASSWORD_LEN`] to [`MAX_PASSWORD_LEN`] characters.
pub fn password_problem(password: &str) -> Option<String> {
    let len = password.chars().count();
    (!(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len))
        .then(|| format!("must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters long"))
}
/// Longest accepted name, district or customer type.
const MAX_TEXT_LEN: usize = 100;

/// What a signup form carries, after the compatibility layer picked TrustCart's aliases.
#[derive(Debug, Default)]
pub struct SignupForm {
    /// First name.
    pub name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Email, as typed.
    pub email: Option<String>,
    /// Phone, as typed (required).
    pub phone: Option<String>,
    /// Password; none makes a guest (checkout without an account).
    pub password: Option<String>,
    /// As the shop sends it.
    pub customer_type: Option<String>,
    /// Delivery district.
    pub district: Option<String>,
    /// Delivery address.
    pub address: Option<String>,
    /// The referral or partner code, as typed.
    pub code: Option<String>,
    /// The channel the code came through.
    pub channel: Option<String>,
    /// The UTM tags of the link the customer came through (passed on by the landing).
    pub utm: Utm,
    /// The code sent to the phone by `POST /api/auth/phone-verification`: required to
    /// register the phone of a guest who gave no email, or another one. Ignored otherwise.
    pub phone_verification_code: Option<String>,
    /// The client's device and hashed address, recorded as fraud signals.
    pub client: ClientSignals,
}

/// Creates a customer (an account with a password, or a guest), or turns a guest into an
/// account, and records where they came from. Attribution never blocks signup: an
/// unknown code is logged and ignored.
///
/// A guest is claimed only by someone who proves it is theirs: with the email the guest
/// gave, or with a code sent to the phone (which also marks the phone verified).
pub async fn sign_up(pool: &PgPool, otp: &Otp, form: SignupForm) -> Result<Customer> {
    let mut problems = Problems::default();
    let phone = match form
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => {
            problems.add("phone", "Phone number is required");
            None
        }
        Some(raw) => Phone::parse(raw)
            .map_err(|e| problems.add("phone", e.to_string()))
            .ok(),
    };
    let email = normalise_email(form.email.as_deref().unwrap_or_default())
        .map_err(|e| problems.add("email", e.to_string()))
        .ok()
        .flatten();
    let password = form.password.filter(|p| !p.is_empty());
    if let Some(password) = &password
        && let Some(problem) = password_problem(password)
    {
        problems.add("password", problem);
    }
    let text = |field: &'static str, value: Option<String>, max: usize, problems: &mut Problems| {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        problems.check(
            value.as_ref().is_none_or(|v| v.chars().count() <= max),
            field,
            &format!("must be at most {max} characters"),
        );
        value
    };
    let name = text("name", form.name, MAX_TEXT_LEN, &mut problems);
    let last_name = text("lastName", form.last_name, MAX_TEXT_LEN, &mut problems);
    let customer_type = text("customerType", form.customer_type, 30, &mut problems);
    let district = text("district", form.district, MAX_TEXT_LEN, &mut problems);
    let address = text("address", form.address, 1000, &mut problems);
    let verification_code = form
        .phone_verification_code
        .filter(|c| !c.trim().is_empty())
        .and_then(|c| {
            phone_verification::parse_code(&c)
                .map_err(|_| {
                    problems.add(
                        "phoneVerificationCode",
                        "must be the 6 digits sent to the phone",
                    )
                })
                .ok()
        });
    let (Some(phone), true) = (phone, problems.is_empty()) else {
        return Err(problems.into_error(Code::ValidationFailed));
    };

    let password_hash = match password {
        Some(password) => Some(crate::auth::password::hash(password).await?),
        None => None,
    };
    let code = form
        .code
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let raw_channel = form
        .channel
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let new = NewCustomer {
        name,
        last_name,
        email,
        phone: phone.as_str().to_owned(),
        password_hash,
        customer_type,
        district,
        address,
    };

    let mut tx = pool.begin().await?;
    let mut upgraded = false;
    let customer = match db::customers::lock_by_phone(&mut *tx, &new.phone).await? {
        None => db::customers::insert(&mut tx, &new).await?,
        // A guest (who checked out without an account) registers: the same customer, now
        // with a password. Their orders, wallet and attribution stay theirs.
        Some(owner) if owner.is_guest && new.password_hash.is_some() => {
            // Knowing a guest's phone proves nothing: the guest is claimed with the email
            // they gave, or with a code sent to the phone.
            let email_matches = owner.email.is_some() && owner.email == new.email;
            let phone_verified = if email_matches {
                false
            } else {
                let Some(code) = &verification_code else {
                    return Err(if owner.email.is_some() {
                        Error::new(
                            Code::GuestEmailMismatch,
                            "This phone number belongs to a guest: register with the email used at checkout, or verify the phone (POST /api/auth/phone-verification) and send phoneVerificationCode",
                        )
                    } else {
                        Error::new(
                            Code::PhoneNotVerified,
                            "This phone number belongs to a guest: verify it first (POST /api/auth/phone-verification) and send the code as phoneVerificationCode",
                        )
                        .for_field("phoneVerificationCode")
                    });
                };
                let outcome = phone_verification::check(
                    &mut tx,
                    otp,
                    &phone,
                    PhoneCodePurpose::GuestUpgrade,
                    code,
                )
                .await?;
                if let Some(refusal) = phone_verification::refusal(outcome) {
                    // The attempt is counted (committed); nothing else was written.
                    tx.commit().await?;
                    return Err(refusal.for_field("phoneVerificationCode"));
                }
                outcome == PhoneCodeCheck::Verified
            };
            upgraded = true;
            db::customers::upgrade_guest(&mut *tx, owner.id, &new, phone_verified).await?
        }
        Some(_) => {
            return Err(Error::new(Code::PhoneTaken, "Phone number already exists"));
        }
    };
    let address = new.address.as_deref().and_then(normalise_address);
    let mut referral_id = None;
    if let Some(code) = &code {
        let outcome = attribution::attribute(
            &mut tx,
            attribution::Customer {
                id: customer.id,
                phone: &customer.phone,
                email: customer.email.as_deref(),
                screen: fraud::Screen {
                    device: form.client.device.as_deref(),
                    address: address.as_deref(),
                },
            },
            attribution::Capture {
                code,
                raw_channel: raw_channel.as_deref(),
                default_channel: Channel::Web,
                at: None,
                utm: &form.utm,
            },
        )
        .await?;
        if let attribution::Outcome::Referred { referral_id: id } = outcome {
            referral_id = Some(id);
        }
    }
    fraud::record_signup(
        &mut tx,
        customer.id,
        referral_id,
        &form.client,
        &customer.phone,
        new.email.as_deref(),
        address.as_deref(),
    )
    .await?;
    // Re-read: attribution may have filled the customer's referral columns.
    let mut customer = db::customers::find(&mut *tx, customer.id)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "customer {} vanished inside its own transaction",
                customer.id
            )
        })?;
    tx.commit().await?;
    if upgraded {
        // The caller proved nothing about the guest: answer with what they sent, never
        // with what the guest had stored (their address, their attribution).
        customer = Customer {
            name: new.name,
            last_name: new.last_name,
            email: new.email,
            district: new.district,
            address: new.address,
            ..customer.redacted()
        };
    }

    tracing::info!(
        customer.id = customer.id,
        customer.phone = %phone.masked(),
        guest = customer.is_guest,
        "customer signed up"
    );
    Ok(customer)
}
