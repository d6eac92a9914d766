//! Where a shared code leads: the one place that spells Bondhu's landing URL, so links,
//! QR codes and printed cards always agree with the `/r/:code` route, and the shop's
//! register URL the landing sends visitors on to.

use super::channel::Channel;
use super::utm::Utm;

/// The landing URL of `code` shared through `channel`: `{public_url}/r/{code}?ch={channel}`.
///
/// `public_url` is `PUBLIC_URL` (checked at start-up: http(s), no trailing slash, no
/// query). Share and partner codes are ASCII letters, digits, `_` and `-`, and channel
/// names are snake_case, so neither needs escaping; a code that would is escaped anyway.
pub fn landing_url(public_url: &str, code: &str, channel: Channel) -> String {
    format!(
        "{public_url}/r/{}?ch={}",
        urlencoding::encode(code),
        channel.as_str()
    )
}

/// The shop's registration page a landing redirects to:
/// `{shop_url}/register?ref={code}&referralChannel={channel}&utm_source=…`, every value
/// percent-encoded. Without a (known) code only the UTM values are passed on.
pub fn register_url(shop_url: &str, code: Option<&str>, channel: Channel, utm: &Utm) -> String {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(code) = code {
        query.extend([("ref", code), ("referralChannel", channel.as_str())]);
    }
    query.extend(utm.pairs());
    let query = query
        .iter()
        .map(|(name, value)| format!("{name}={}", urlencoding::encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    if query.is_empty() {
        format!("{shop_url}/register")
    } else {
        format!("{shop_url}/register?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_register_url_carries_the_code_the_channel_and_the_tags() {
        let utm = Utm::new(Some("fb group"), None, Some("ঈদ&৫০"), None);
        assert_eq!(
            register_url(
                "https://shop.example",
                Some("NILOY10"),
                Channel::Community,
                &utm
            ),
            "https://shop.example/register?ref=NILOY10&referralChannel=community\
             &utm_source=fb%20group&utm_campaign=%E0%A6%88%E0%A6%A6%26%E0%A7%AB%E0%A7%A6"
        );
        assert_eq!(
            register_url("https://shop.example", None, Channel::Qr, &Utm::default()),
            "https://shop.example/register"
        );
        assert_eq!(
            register_url("https://shop.example", None, Channel::Qr, &utm),
            "https://shop.example/register?utm_source=fb%20group&utm_campaign=%E0%A6%88%E0%A6%A6%26%E0%A7%AB%E0%A7%A6"
        );
    }

    #[test]
    fn a_landing_url_names_the_code_and_the_channel() {
        assert_eq!(
            landing_url("https://bondhu.example", "REF000123", Channel::DeliveryCard),
            "https://bondhu.example/r/REF000123?ch=delivery_card"
        );
        assert_eq!(
            landing_url("http://localhost:3001", "a b", Channel::Qr),
            "http://localhost:3001/r/a%20b?ch=qr"
        );
    }
}
