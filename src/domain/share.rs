//! Where a shared code leads: the one place that spells Bondhu's landing URL, so links,
//! QR codes and printed cards always agree with the `/r/:code` route; the share buttons'
//! URLs (WhatsApp, Facebook, SMS, email), each carrying its own channel's link; and the
//! shop's register URL the landing sends visitors on to.

use serde::Serialize;

use super::channel::Channel;
use super::message_text::Language;
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

/// The channels a share page offers, besides the copied link: each button's URL carries
/// the landing link of its own channel, so the landing counts which button was used.
pub const SHARE_CHANNELS: [Channel; 4] = [
    Channel::Whatsapp,
    Channel::Facebook,
    Channel::Sms,
    Channel::Email,
];

/// A link shared through one channel, with the text that goes with it (the customer's
/// `share_message` template rendered with this very link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// The landing URL with this channel.
    pub link: String,
    /// The text, in the customer's language; it always holds the link.
    pub message: String,
}

impl Shared {
    /// `link` with `message`. A text without the link (an operator's template that left
    /// out `{link}`) gets it appended: a share button that sends no link brings nobody.
    pub fn new(link: String, message: String) -> Self {
        let message = if message.contains(&link) {
            message
        } else {
            format!("{} {link}", message.trim_end())
        };
        Self { link, message }
    }
}

/// What a customer shares: their code, the link to copy and the share buttons' URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareLinks {
    /// The share code.
    pub code: String,
    /// The landing URL to copy (`ch=share_link`, or `ch=review_share` after a review).
    pub link: String,
    /// The text to copy with it, in `language`: the code first (previews cut the end),
    /// then the link.
    pub message: String,
    /// `https://wa.me/?text=…`: the message with the WhatsApp link (`ch=whatsapp`).
    pub whatsapp_url: String,
    /// `https://www.facebook.com/sharer/sharer.php?u=…`: Facebook's sharer takes only a
    /// URL (it ignores text), so it gets the Facebook link (`ch=facebook`).
    pub facebook_url: String,
    /// `sms:?&body=…`: the message with the SMS link (`ch=sms`).
    pub sms_url: String,
    /// `mailto:?subject=…&body=…`: the message with the email link (`ch=email`).
    pub email_url: String,
    /// The language of the messages (`bn` or `en`: the customer's).
    pub language: Language,
}

impl ShareLinks {
    /// The share page of `code`: `copied` is what the page copies (its link's channel is
    /// the page's: `share_link`, `review_share`), and `whatsapp`, `sms` and `email` the
    /// links and texts of those buttons; `facebook_link` is the Facebook button's link
    /// (Facebook takes no text); `subject` is the email's subject line.
    pub fn new(
        code: String,
        copied: Shared,
        channels: ChannelTexts,
        subject: &str,
        language: Language,
    ) -> Self {
        let ChannelTexts {
            whatsapp,
            facebook_link,
            sms,
            email,
        } = channels;
        Self {
            code,
            whatsapp_url: format!("https://wa.me/?text={}", encode(&whatsapp.message)),
            facebook_url: format!(
                "https://www.facebook.com/sharer/sharer.php?u={}",
                encode(&facebook_link)
            ),
            // RFC 5724 puts the body in the query (`?body=`), which Android reads; iOS
            // (since 8) reads `&body=` after the recipients. With no recipient,
            // `sms:?&body=` is both: a query whose first parameter is empty.
            sms_url: format!("sms:?&body={}", encode(&sms.message)),
            // RFC 6068: line breaks in a mailto body are CRLF, percent-encoded.
            email_url: format!(
                "mailto:?subject={}&body={}",
                encode(subject),
                encode(&email.message.replace("\r\n", "\n").replace('\n', "\r\n"))
            ),
            link: copied.link,
            message: copied.message,
            language,
        }
    }
}

/// The share buttons' links and texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelTexts {
    /// The WhatsApp button.
    pub whatsapp: Shared,
    /// The Facebook button's link.
    pub facebook_link: String,
    /// The SMS button.
    pub sms: Shared,
    /// The email button.
    pub email: Shared,
}

/// Percent-encodes `text` for a URL's query: everything but the unreserved characters
/// (RFC 3986), so a space is `%20` (never `+`, which mailto and sms do not read as a
/// space), `&` and `=` cannot break the query, and Bangla travels as UTF-8 bytes.
fn encode(text: &str) -> String {
    urlencoding::encode(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(channel: Channel) -> Shared {
        let link = landing_url("https://bondhu.example", "REF000007", channel);
        Shared {
            message: format!("REF000007 কোডটি দিয়ে নিবন্ধন করুন & পুরস্কার পান: {link}"),
            link,
        }
    }

    #[test]
    fn a_text_always_holds_its_link() {
        let link = landing_url("https://bondhu.example", "REF000007", Channel::Sms);
        let bare = Shared::new(link.clone(), "Join with REF000007 ".to_owned());
        assert_eq!(bare.message, format!("Join with REF000007 {link}"));
        let full = Shared::new(link.clone(), format!("REF000007: {link} today"));
        assert_eq!(full.message, format!("REF000007: {link} today"));
    }

    #[test]
    fn share_urls_carry_their_own_channel_and_encoded_text() {
        let links = ShareLinks::new(
            "REF000007".to_owned(),
            shared(Channel::ShareLink),
            ChannelTexts {
                whatsapp: shared(Channel::Whatsapp),
                facebook_link: landing_url(
                    "https://bondhu.example",
                    "REF000007",
                    Channel::Facebook,
                ),
                sms: shared(Channel::Sms),
                email: Shared {
                    message: "line one\nline two".to_owned(),
                    ..shared(Channel::Email)
                },
            },
            "TrustCart: REF000007",
            Language::Bn,
        );
        assert_eq!(
            links.link,
            "https://bondhu.example/r/REF000007?ch=share_link"
        );
        assert!(
            links
                .whatsapp_url
                .starts_with("https://wa.me/?text=REF000007%20")
        );
        assert!(links.whatsapp_url.ends_with("%3Fch%3Dwhatsapp"));
        assert!(
            links.whatsapp_url.contains("%26%20"),
            "{}",
            links.whatsapp_url
        );
        assert_eq!(
            links.facebook_url,
            "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fbondhu.example%2Fr%2FREF000007%3Fch%3Dfacebook"
        );
        assert!(links.sms_url.starts_with("sms:?&body=REF000007%20"));
        assert!(links.sms_url.ends_with("%3Fch%3Dsms"));
        assert_eq!(
            links.email_url,
            "mailto:?subject=TrustCart%3A%20REF000007&body=line%20one%0D%0Aline%20two"
        );
    }

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
