//! Where a shared code leads: the one place that spells Bondhu's landing URL, so links,
//! QR codes and printed cards always agree with the `/r/:code` route.

use super::channel::Channel;

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

#[cfg(test)]
mod tests {
    use super::*;

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
