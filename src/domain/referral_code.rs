//! Referral codes: customers' stable share codes and per-referral invite codes.

use rand::Rng;

/// The prefix of every share code.
const SHARE_PREFIX: &str = "REF";
/// The prefix of every invite code. It differs from the share prefix, so an invite code
/// can never be read as another customer's share code (TrustCart D17).
const INVITE_PREFIX: &str = "INV";
/// Characters of generated codes: no 0/O, 1/I/L or U, which people misread or mistype.
const UNAMBIGUOUS: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Random characters in an invite code: 30^8 ≈ 6.6 × 10^11 possibilities.
const INVITE_RANDOM_LEN: usize = 8;

/// A customer's share code: `REF` and the id zero-padded to six digits (`REF000123`).
/// It is derived from the id, never stored, and so never changes.
pub fn share_code(customer_id: i32) -> String {
    format!("{SHARE_PREFIX}{customer_id:06}")
}

/// Reads a share code, case-insensitively and tolerant of extra leading zeros
/// (`ref123`, `REF0000123` and `REF000123` are all customer 123). Returns the customer id.
pub fn parse_share_code(raw: &str) -> Option<i32> {
    let code = raw.trim();
    let digits = code
        .get(..SHARE_PREFIX.len())
        .filter(|prefix| prefix.eq_ignore_ascii_case(SHARE_PREFIX))
        .map(|_| &code[SHARE_PREFIX.len()..])?;
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i32>().ok().filter(|id| *id > 0)
}

/// A fresh invite code for one referral, such as `INV7K3QXM2P`, from the OS-seeded CSPRNG.
pub fn new_invite_code() -> String {
    let mut rng = rand::rng();
    let mut code = String::with_capacity(INVITE_PREFIX.len() + INVITE_RANDOM_LEN);
    code.push_str(INVITE_PREFIX);
    for _ in 0..INVITE_RANDOM_LEN {
        code.push(char::from(
            UNAMBIGUOUS[rng.random_range(0..UNAMBIGUOUS.len())],
        ));
    }
    code
}

/// Normalises an invite code as typed (trimmed, upper-case), if it looks like one.
pub fn parse_invite_code(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    let random = code.strip_prefix(INVITE_PREFIX)?;
    (random.len() == INVITE_RANDOM_LEN && random.bytes().all(|b| UNAMBIGUOUS.contains(&b)))
        .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_codes_are_padded_and_stable() {
        assert_eq!(share_code(123), "REF000123");
        assert_eq!(share_code(1_000_000), "REF1000000");
    }

    #[test]
    fn share_codes_parse_leniently() {
        for raw in ["REF000123", "ref123", "REF0000123", " Ref000123 "] {
            assert_eq!(parse_share_code(raw), Some(123), "{raw}");
        }
        for raw in [
            "REF",
            "REF0",
            "REF-1",
            "REF12a",
            "XREF1",
            "REF99999999999",
            "REF１２３",
            "INV7K3QXM2P",
        ] {
            assert_eq!(parse_share_code(raw), None, "{raw}");
        }
    }

    #[test]
    fn invite_codes_are_unambiguous_and_never_share_codes() {
        for _ in 0..1000 {
            let code = new_invite_code();
            assert_eq!(code.len(), 11);
            assert!(parse_share_code(&code).is_none());
            assert_eq!(parse_invite_code(&code.to_lowercase()), Some(code.clone()));
            assert!(!code[3..].contains(['0', 'O', '1', 'I', 'L', 'U']));
        }
    }
}
