//! Phone verification codes (OTP): the names shared with SQL, and the code a customer
//! types. The rules (length, lifetime, attempts, sending limit) live in
//! `service::phone_verification`.

super::sql_enum! {
    /// Why a code was sent; a code proves the phone for its own purpose only.
    pub enum PhoneCodePurpose = "phone_code_purpose" {
        /// A customer verifies their own phone (`/api/loyalty/me/phone-verification`).
        VerifyPhone = "verify_phone",
        /// Someone registering proves the phone of a guest (`/api/auth/phone-verification`).
        GuestUpgrade = "guest_upgrade",
    }
}

super::sql_enum! {
    /// What checking a code answered (`check_phone_code`).
    pub enum PhoneCodeCheck = "phone_code_check" {
        /// The code matched; it is used up.
        Verified = "verified",
        /// The code did not match; one attempt was counted.
        WrongCode = "wrong_code",
        /// The code's time was up; it was cleared.
        Expired = "expired",
        /// The code did not match on the last allowed attempt; it was cleared.
        TooManyAttempts = "too_many_attempts",
        /// No code is waiting (never sent, used, or cleared).
        NoCode = "no_code",
    }
}
