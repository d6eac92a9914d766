//! The pure text of messages: the customer's language, Bengali digits, taka amounts and
//! SMS segment counts.
//!
//! **Grouping.** Amounts use the South Asian grouping Bangladesh writes money in, in both
//! languages: the last three digits, then pairs (`৳১,০০,০০০` and `৳1,00,000` for one lakh,
//! `৳1,23,45,678` for 1.23 crore). It is what Bangladesh Bank, the banks and bKash show,
//! so an English message reads the same number a Bangla one does.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

super::sql_enum! {
    /// The language a customer gets messages in (`language` on the customer, default `bn`).
    pub enum Language = "message_language" {
        /// Bangla: Bengali digits, the default.
        Bn = "bn",
        /// English: ASCII digits.
        En = "en",
    }
}

#[expect(
    clippy::derivable_impls,
    reason = "sql_enum! declares the enum and derives no Default"
)]
impl Default for Language {
    fn default() -> Self {
        Self::Bn
    }
}

impl Language {
    /// The language code WhatsApp templates are approved under (`bn`, `en`).
    pub fn whatsapp_code(self) -> &'static str {
        match self {
            Self::Bn => "bn",
            Self::En => "en",
        }
    }
}

/// Why a string is not a [`Language`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be `bn` or `en`")]
pub struct LanguageError;

impl FromStr for Language {
    type Err = LanguageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or(LanguageError)
    }
}

/// `text` with the ASCII digits 0–9 written as Bengali digits ০–৯; nothing else changes.
pub fn bengali_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32('০' as u32 + (c as u32 - '0' as u32)).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// `text` in `language`'s digits: Bengali for Bangla, unchanged for English.
pub fn localize_digits(text: &str, language: Language) -> String {
    match language {
        Language::Bn => bengali_digits(text),
        Language::En => text.to_owned(),
    }
}

/// A taka amount as a message shows it: `৳`, lakh grouping (see the module
/// documentation), two decimals unless the amount is whole (`৳১০০`, `৳১,২৫০.৫০`;
/// `৳100`, `৳1,250.50`). Amounts are rounded to the poisha, half away from zero; a
/// negative one starts with `-`.
pub fn format_taka(amount: Decimal, language: Language) -> String {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.2}", rounded.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, "00"));
    let mut out = String::with_capacity(text.len() + 8);
    if rounded.is_sign_negative() && !rounded.is_zero() {
        out.push('-');
    }
    out.push('৳');
    out.push_str(&group_lakh(whole));
    if fraction != "00" {
        out.push('.');
        out.push_str(fraction);
    }
    localize_digits(&out, language)
}

/// ASCII digits grouped as 12,34,567: three digits, then pairs.
fn group_lakh(digits: &str) -> String {
    if digits.len() <= 3 {
        return digits.to_owned();
    }
    let (head, last_three) = digits.split_at(digits.len() - 3);
    let mut out = String::with_capacity(digits.len() + digits.len() / 2);
    // Pairs from the left: an odd-length head starts with a single digit.
    let first = head.len() % 2;
    if first == 1 {
        out.push_str(&head[..1]);
    }
    for pair in head.as_bytes()[first..].chunks(2) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(std::str::from_utf8(pair).unwrap_or_default());
    }
    out.push(',');
    out.push_str(last_three);
    out
}

/// How an SMS is encoded on the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The GSM 03.38 7-bit alphabet: 160 septets in one SMS, 153 per part when split.
    Gsm7,
    /// UTF-16 (UCS-2 on the handset): 70 code units in one SMS, 67 per part.
    Ucs2,
}

impl Encoding {
    /// The stored name: `gsm7` or `ucs2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Ucs2 => "ucs2",
        }
    }

    /// Units in a message that fits one SMS.
    pub fn single_limit(self) -> usize {
        match self {
            Self::Gsm7 => 160,
            Self::Ucs2 => 70,
        }
    }

    /// Units per part of a split (concatenated) message: the rest is the part header.
    pub fn part_limit(self) -> usize {
        match self {
            Self::Gsm7 => 153,
            Self::Ucs2 => 67,
        }
    }
}

/// What a text costs as SMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Segments {
    /// The encoding it needs: GSM-7 when every character is in the GSM 03.38 basic set or
    /// its extension table, UCS-2 otherwise.
    pub encoding: Encoding,
    /// Its length in the encoding's units: septets (an extension character takes two), or
    /// UTF-16 code units (a character outside the BMP, such as an emoji, takes two).
    pub units: usize,
    /// How many SMS it is sent as (an empty text still is one).
    pub count: usize,
}

/// The GSM 03.38 basic character set (without the escape itself).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
    ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table: each is an escape plus one septet.
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// The septets `c` takes in GSM-7, or `None` if it is not in the alphabet.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding, length and SMS count of `text`. A split message packs whole characters
/// into parts: an extension character's two septets, or a surrogate pair, never straddle
/// two parts, as handsets and gateways split them.
pub fn sms_segments(text: &str) -> Segments {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_septets).collect();
    let (encoding, costs) = match gsm {
        Some(costs) => (Encoding::Gsm7, costs),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect::<Vec<_>>(),
        ),
    };
    let units = costs.iter().sum();
    let count = if units <= encoding.single_limit() {
        1
    } else {
        let mut parts = 1;
        let mut used = 0;
        for cost in costs {
            if used + cost > encoding.part_limit() {
                parts += 1;
                used = 0;
            }
            used += cost;
        }
        parts
    };
    Segments {
        encoding,
        units,
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taka(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn bengali_digits_change_only_digits() {
        assert_eq!(bengali_digits("0123456789"), "০১২৩৪৫৬৭৮৯");
        assert_eq!(
            bengali_digits("Code ABC123, ৳50 (2x)"),
            "Code ABC১২৩, ৳৫০ (২x)"
        );
        assert_eq!(bengali_digits("কোনো সংখ্যা নেই"), "কোনো সংখ্যা নেই");
        assert_eq!(bengali_digits(""), "");
    }

    #[test]
    fn taka_golden() {
        let cases = [
            ("100", "৳১০০", "৳100"),
            ("1250.5", "৳১,২৫০.৫০", "৳1,250.50"),
            ("1250.50", "৳১,২৫০.৫০", "৳1,250.50"),
            ("1250.00", "৳১,২৫০", "৳1,250"),
            ("0", "৳০", "৳0"),
            ("0.5", "৳০.৫০", "৳0.50"),
            ("999", "৳৯৯৯", "৳999"),
            ("1000", "৳১,০০০", "৳1,000"),
            ("99999.99", "৳৯৯,৯৯৯.৯৯", "৳99,999.99"),
            ("100000", "৳১,০০,০০০", "৳1,00,000"),
            ("1234567", "৳১২,৩৪,৫৬৭", "৳12,34,567"),
            ("12345678.9", "৳১,২৩,৪৫,৬৭৮.৯০", "৳1,23,45,678.90"),
            ("10.005", "৳১০.০১", "৳10.01"),
            ("10.004", "৳১০", "৳10"),
            ("-250", "-৳২৫০", "-৳250"),
            ("-0.001", "৳০", "৳0"),
        ];
        for (amount, bn, en) in cases {
            assert_eq!(format_taka(taka(amount), Language::Bn), bn, "{amount}");
            assert_eq!(format_taka(taka(amount), Language::En), en, "{amount}");
        }
    }

    #[test]
    fn language_names() {
        assert_eq!(Language::default(), Language::Bn);
        assert_eq!(serde_json::to_string(&Language::En).unwrap(), r#""en""#);
        assert_eq!(
            serde_json::from_str::<Language>(r#""bn""#).unwrap(),
            Language::Bn
        );
        assert!(serde_json::from_str::<Language>(r#""BN""#).is_err());
        assert_eq!("en".parse::<Language>(), Ok(Language::En));
        assert_eq!("fr".parse::<Language>(), Err(LanguageError));
        assert_eq!(Language::Bn.whatsapp_code(), "bn");
        assert_eq!(Language::En.as_str(), "en");
        assert_eq!(Language::Bn.to_string(), "bn");
    }

    fn segments(encoding: Encoding, units: usize, count: usize) -> Segments {
        Segments {
            encoding,
            units,
            count,
        }
    }

    #[test]
    fn segments_golden() {
        // A Bangla share message: UCS-2, one unit per Bengali character.
        let bangla =
            "আপনার কোড RAHIM50। বন্ধুকে পাঠান, প্রথম অর্ডারে ৳১০০ ছাড়: https://bondhu.example/r/RAHIM50";
        assert_eq!(sms_segments(bangla), segments(Encoding::Ucs2, 91, 2));
        // English with extension characters: €, { and [ cost two septets each.
        let english = "Your code RAHIM50 {VIP} [new]: get €5 off";
        assert_eq!(sms_segments(english), segments(Encoding::Gsm7, 46, 1));
        // The OTP in English.
        let otp = "482913 is your Bondhu code. It expires in 10 minutes. Never share it.";
        assert_eq!(sms_segments(otp), segments(Encoding::Gsm7, 69, 1));
        // One character over a single SMS.
        let long = "a".repeat(161);
        assert_eq!(sms_segments(&long), segments(Encoding::Gsm7, 161, 2));
        assert_eq!(sms_segments(&"a".repeat(160)).count, 1);
        assert_eq!(sms_segments(&"a".repeat(306)).count, 2);
        assert_eq!(sms_segments(&"a".repeat(307)).count, 3);
        // 71 Bangla characters: one over a single UCS-2 SMS.
        let bangla_71 = "ক".repeat(71);
        assert_eq!(sms_segments(&bangla_71), segments(Encoding::Ucs2, 71, 2));
        assert_eq!(sms_segments(&"ক".repeat(70)).count, 1);
        assert_eq!(sms_segments(&"ক".repeat(134)).count, 2);
        assert_eq!(sms_segments(&"ক".repeat(135)).count, 3);
        // An empty text is still one SMS.
        assert_eq!(sms_segments(""), segments(Encoding::Gsm7, 0, 1));
    }

    #[test]
    fn one_foreign_character_forces_ucs2() {
        assert_eq!(sms_segments("Hello ৳"), segments(Encoding::Ucs2, 7, 1));
        // An emoji is a surrogate pair: two UTF-16 units.
        assert_eq!(sms_segments("Hi 😀"), segments(Encoding::Ucs2, 5, 1));
        // ç is not GSM-7 (only Ç is).
        assert_eq!(sms_segments("façade").encoding, Encoding::Ucs2);
        assert_eq!(sms_segments("Ç@£¥èÅΔ_ΦΩ¡¿§äöñüà").encoding, Encoding::Gsm7);
    }

    #[test]
    fn split_parts_never_cut_a_character() {
        // 152 + € (2) + 152 = 306 septets: naive division says 2 parts, but the € does not
        // fit the first part's last septet, so it opens the second, and one septet spills.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(sms_segments(&text), segments(Encoding::Gsm7, 306, 3));
        // The same with a surrogate pair in UCS-2: 66 + 2 + 66 = 134 units.
        let text = format!("{}😀{}", "ক".repeat(66), "ক".repeat(66));
        assert_eq!(sms_segments(&text), segments(Encoding::Ucs2, 134, 3));
        // 160 septets with extension characters still fit one SMS.
        let text = format!("{}{}", "€".repeat(10), "a".repeat(140));
        assert_eq!(sms_segments(&text), segments(Encoding::Gsm7, 160, 1));
    }
}
