//! Proving that a phone is the caller's: a 6-digit code (OTP) sent to it and typed back.
//! The one home of the code rules, for both of its uses: a customer verifying their own
//! phone (before a withdrawal), and someone registering a guest's phone without the
//! guest's email (closing the guest takeover).
//!
//! - A code is 6 random digits from the OS-seeded CSPRNG, valid for [`CODE_TTL`], for at
//!   most [`MAX_ATTEMPTS`] tries; a new code replaces the phone's older one.
//! - It is never logged, and the database keeps its HMAC-SHA256 under a server secret
//!   (`OTP_SECRET`), bound to the phone and the purpose, so a leaked table of codes reveals
//!   none and a code for one phone or purpose fits no other. Its message waits in the
//!   outbox, which erases the code once the provider has it (or gives up).
//! - At most [`MAX_SENDS_PER_HOUR`] codes go to one phone per hour (429 with
//!   `Retry-After`), counted in the database so every instance agrees.
//!
//! The counting and comparing are SQL functions (`issue_phone_code`, `check_phone_code`),
//! each atomic, so parallel guesses cannot exceed the attempts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;

use crate::db;
use crate::domain::message::NewMessage;
use crate::domain::phone::Phone;
use crate::domain::phone_code::{PhoneCodeCheck, PhoneCodePurpose};
use crate::domain::time::Timestamp;
use crate::error::{Code, Error, Result};
use crate::service::messaging;

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;
/// How long a code stays valid.
pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// Tries per code; the last wrong one clears it.
pub const MAX_ATTEMPTS: i32 = 5;
/// Codes sent to one phone per hour, whatever their purpose.
pub const MAX_SENDS_PER_HOUR: i32 = 3;

/// The HMAC key codes are stored under.
#[derive(Clone)]
pub struct CodeKey(Hmac<Sha256>);

impl CodeKey {
    /// The key for `secret`.
    pub fn new(secret: &SecretString) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        Self(
            <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
        )
    }

    /// The stored form of `code` sent to `phone` for `purpose`.
    fn hash(&self, phone: &Phone, purpose: PhoneCodePurpose, code: &str) -> Vec<u8> {
        let mut mac = self.0.clone();
        // Separators keep the fields apart (no field contains a NUL).
        for part in [purpose.as_str(), phone.as_str(), code] {
            mac.update(part.as_bytes());
            mac.update(b"\0");
        }
        mac.finalize().into_bytes().to_vec()
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey([redacted])")
    }
}

/// What the services need to send and check codes.
#[derive(Clone)]
pub struct Otp {
    /// The HMAC key.
    pub key: Arc<CodeKey>,
    /// Wakes this instance's message dispatcher, so a code goes out at once.
    pub outbox: Arc<Notify>,
}

/// A code was sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneCodeResponse {
    /// The phone, all but its last three digits hidden.
    pub phone: String,
    /// When the code stops working.
    pub expires_at: Timestamp,
}

/// Reads a code as typed: 6 digits (ASCII or Bangla), spaces around ignored.
pub fn parse_code(raw: &str) -> Result<String> {
    let code: String = raw
        .trim()
        .chars()
        .map(|c| match c {
            '\u{09E6}'..='\u{09EF}' => char::from(b'0' + (c as u32 - 0x09E6) as u8),
            other => other,
        })
        .collect();
    if code.len() == CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(Error::invalid_field(
            "code",
            format!("must be the {CODE_DIGITS} digits sent to your phone"),
        ))
    }
}

/// Sends a new code to `phone` for `purpose`.
pub async fn send(
    pool: &PgPool,
    otp: &Otp,
    phone: &Phone,
    purpose: PhoneCodePurpose,
    customer_id: Option<i32>,
) -> Result<PhoneCodeResponse> {
    let code = format!(
        "{:0width$}",
        rand::rng().random_range(0..10u32.pow(CODE_DIGITS as u32)),
        width = CODE_DIGITS
    );
    // The code and its message commit together: a code is never stored without its
    // message, and the message is sent by the dispatcher, not inside this transaction.
    let mut tx = pool.begin().await?;
    let issued = db::phone_codes::issue(
        &mut *tx,
        phone.as_str(),
        purpose,
        customer_id,
        &otp.key.hash(phone, purpose, &code),
        CODE_TTL.as_secs_f64(),
        MAX_SENDS_PER_HOUR,
    )
    .await?;
    let (true, Some(expires_at)) = (issued.sent, issued.expires_at) else {
        let wait = issued.retry_after_secs.unwrap_or(60).max(1) as u64;
        return Err(Error::too_many(
            Code::TooManyVerificationCodes,
            format!(
                "At most {MAX_SENDS_PER_HOUR} codes can be sent to a phone per hour; try again later"
            ),
            Duration::from_secs(wait),
        ));
    };
    messaging::enqueue(
        &mut tx,
        &NewMessage::VerificationCode {
            to: phone,
            customer_id,
            code: &code,
            valid_minutes: (CODE_TTL.as_secs() / 60) as i64,
        },
    )
    .await?;
    tx.commit().await?;
    otp.outbox.notify_one();
    tracing::info!(phone = %phone.masked(), purpose = %purpose, "verification code sent");
    Ok(PhoneCodeResponse {
        phone: phone.masked(),
        expires_at,
    })
}

/// Checks `code` for `phone` and `purpose`, counting the attempt. The caller must commit
/// what this wrote whatever the answer (an uncounted wrong guess would be a free one).
pub async fn check(
    conn: &mut PgConnection,
    otp: &Otp,
    phone: &Phone,
    purpose: PhoneCodePurpose,
    code: &str,
) -> Result<PhoneCodeCheck> {
    Ok(db::phone_codes::check(
        conn,
        phone.as_str(),
        purpose,
        &otp.key.hash(phone, purpose, code),
        MAX_ATTEMPTS,
    )
    .await?)
}

/// The error for a check that did not verify (`None` for one that did).
pub fn refusal(check: PhoneCodeCheck) -> Option<Error> {
    Some(match check {
        PhoneCodeCheck::Verified => return None,
        PhoneCodeCheck::WrongCode => {
            Error::new(Code::VerificationCodeInvalid, "The code is not right")
        }
        PhoneCodeCheck::TooManyAttempts => Error::new(
            Code::VerificationAttemptsExceeded,
            "Too many wrong codes: request a new code",
        ),
        PhoneCodeCheck::Expired | PhoneCodeCheck::NoCode => Error::new(
            Code::VerificationCodeExpired,
            "No code is waiting for this phone (it expired or was used): request a new code",
        ),
    })
}

/// The caller's phone, for `/me` routes.
async fn own_phone(pool: &PgPool, customer_id: i32) -> Result<(Phone, Option<Timestamp>)> {
    let found = db::phone_codes::customer_phone(pool, customer_id)
        .await?
        .ok_or_else(|| {
            Error::new(
                Code::CustomerNotFound,
                "Customer profile not found for current user",
            )
        })?;
    let phone = Phone::parse(&found.phone)
        .map_err(|_| anyhow::anyhow!("customer {customer_id} has a malformed stored phone"))?;
    Ok((phone, found.phone_verified_at))
}

/// Sends a code to the caller's own phone.
pub async fn send_own(pool: &PgPool, otp: &Otp, customer_id: i32) -> Result<PhoneCodeResponse> {
    let (phone, _) = own_phone(pool, customer_id).await?;
    send(
        pool,
        otp,
        &phone,
        PhoneCodePurpose::VerifyPhone,
        Some(customer_id),
    )
    .await
}

/// Sends a code to a phone someone is about to register, before the guest upgrade. The
/// answer is the same whether the phone belongs to anyone or not.
pub async fn send_for_signup(
    pool: &PgPool,
    otp: &Otp,
    raw_phone: &str,
) -> Result<PhoneCodeResponse> {
    let phone =
        Phone::parse(raw_phone).map_err(|e| Error::invalid_field("phone", e.to_string()))?;
    send(pool, otp, &phone, PhoneCodePurpose::GuestUpgrade, None).await
}

/// The caller's phone is verified.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneVerifiedResponse {
    /// The phone, all but its last three digits hidden.
    pub phone: String,
    /// Always true.
    pub phone_verified: bool,
    /// When it was verified.
    pub phone_verified_at: Timestamp,
}

/// Confirms the code sent to the caller's phone; on success their phone is verified.
pub async fn confirm_own(
    pool: &PgPool,
    otp: &Otp,
    customer_id: i32,
    raw_code: &str,
) -> Result<PhoneVerifiedResponse> {
    let code = parse_code(raw_code)?;
    let (phone, _) = own_phone(pool, customer_id).await?;
    let mut tx = pool.begin().await?;
    let outcome = check(&mut tx, otp, &phone, PhoneCodePurpose::VerifyPhone, &code).await?;
    let verified_at = if outcome == PhoneCodeCheck::Verified {
        db::phone_codes::mark_verified(&mut *tx, customer_id, phone.as_str()).await?
    } else {
        None
    };
    // Committed whatever the outcome: the attempt counts.
    tx.commit().await?;
    if let Some(error) = refusal(outcome) {
        return Err(error.for_field("code"));
    }
    let phone_verified_at = verified_at.ok_or_else(Error::customer_not_found)?;
    tracing::info!(customer.id = customer_id, phone = %phone.masked(), "phone verified");
    Ok(PhoneVerifiedResponse {
        phone: phone.masked(),
        phone_verified: true,
        phone_verified_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_hash_is_bound_to_its_key_phone_and_purpose() {
        let key = CodeKey::new(&SecretString::from("k".repeat(32)));
        let other_key = CodeKey::new(&SecretString::from("j".repeat(32)));
        let phone = Phone::parse("01712000001").unwrap();
        let other_phone = Phone::parse("01712000002").unwrap();
        let hash = key.hash(&phone, PhoneCodePurpose::VerifyPhone, "123456");
        assert_eq!(hash.len(), 32);
        assert_eq!(
            hash,
            key.hash(&phone, PhoneCodePurpose::VerifyPhone, "123456")
        );
        for different in [
            key.hash(&phone, PhoneCodePurpose::VerifyPhone, "123457"),
            key.hash(&other_phone, PhoneCodePurpose::VerifyPhone, "123456"),
            key.hash(&phone, PhoneCodePurpose::GuestUpgrade, "123456"),
            other_key.hash(&phone, PhoneCodePurpose::VerifyPhone, "123456"),
        ] {
            assert_ne!(hash, different);
        }
        assert_eq!(format!("{key:?}"), "CodeKey([redacted])");
    }

    #[test]
    fn codes_are_six_digits_in_either_script() {
        assert_eq!(parse_code(" 012345 ").unwrap(), "012345");
        assert_eq!(parse_code("০১২৩৪৫").unwrap(), "012345");
        for bad in ["12345", "1234567", "12345a", "", "１２３４５６"] {
            assert!(parse_code(bad).is_err(), "{bad}");
        }
    }
}
