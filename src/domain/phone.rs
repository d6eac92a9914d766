//! Bangladeshi mobile numbers, normalised to E.164 (`+8801[3-9]XXXXXXXX`).

use std::fmt;

/// A Bangladeshi mobile number in E.164 form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Phone(String);

/// Why a string is not a Bangladeshi mobile number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be a Bangladeshi mobile number such as 01712345678 or +8801712345678")]
pub struct PhoneError;

impl Phone {
    /// Parses the ways people write a Bangladeshi mobile number: `01712345678`,
    /// `8801712345678`, `+880 1712-345678`, `00880…`, and the same with Bangla digits.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let mut digits = String::with_capacity(16);
        let mut plus_seen = false;
        for c in raw.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                // Bangla digits ০..৯ (U+09E6..U+09EF).
                '\u{09E6}'..='\u{09EF}' => {
                    digits.push(char::from(b'0' + (c as u32 - 0x09E6) as u8));
                }
                // One leading `+`, possibly inside the brackets of `(+880)`.
                '+' if digits.is_empty() && !plus_seen => plus_seen = true,
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError),
            }
        }
        let national = if let Some(rest) = digits.strip_prefix("00880") {
            rest
        } else if let Some(rest) = digits.strip_prefix("880") {
            rest
        } else if let Some(rest) = digits.strip_prefix('0') {
            rest
        } else {
            &digits
        };
        // 1, an operator digit 3-9, then eight digits. Numbers are portable between
        // operators, so the operator digit tells nothing more than validity.
        let valid = national.len() == 10
            && national.starts_with('1')
            && matches!(national.as_bytes()[1], b'3'..=b'9');
        if valid {
            Ok(Self(format!("+880{national}")))
        } else {
            Err(PhoneError)
        }
    }

    /// The E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The E.164 digits without the `+` (`8801712345678`): how WhatsApp and the
    /// Bangladeshi SMS gateways write an MSISDN.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// The number with all but the last three digits hidden, for logs.
    pub fn masked(&self) -> String {
        format!("+880*******{}", &self.0[self.0.len() - 3..])
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_spellings() {
        for raw in [
            "01712345678",
            "8801712345678",
            "+8801712345678",
            "+880 1712-345678",
            "00880 17 1234 5678",
            "০১৭১২৩৪৫৬৭৮",
            " (+880) 1712.345.678 ",
        ] {
            assert_eq!(
                Phone::parse(raw).unwrap().as_str(),
                "+8801712345678",
                "{raw}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_a_bangladeshi_mobile() {
        for raw in [
            "",
            "12345",
            "01212345678",       // 012 is not a mobile prefix
            "0171234567",        // too short
            "017123456789",      // too long
            "+447911123456",     // not Bangladesh
            "01712345678; drop", // junk
            "0171234567８",      // full-width digit
            "++8801712345678",
        ] {
            assert!(Phone::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn digits_drop_the_plus() {
        assert_eq!(
            Phone::parse("01712345678").unwrap().digits(),
            "8801712345678"
        );
    }

    #[test]
    fn masks_for_logs() {
        assert_eq!(
            Phone::parse("01712345678").unwrap().masked(),
            "+880*******678"
        );
    }
}
