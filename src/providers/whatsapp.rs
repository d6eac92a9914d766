//! The WhatsApp Business Cloud API: approved template messages out; delivery statuses and
//! customers' replies in, through the webhook.
//!
//! Sending POSTs `{WHATSAPP_API_URL}/{phone_number_id}/messages` with the access token as a
//! bearer token and stores the `wamid` it answers. Failures are classified by the Graph API
//! error `code` ([`classify_code`]), then by `is_transient`, then by HTTP status:
//!
//! - **rate limits** (4, 17, 32, 613, 80007, 130429, 131048, 131056) and **transient
//!   failures** (1, 2, 131000, 131016, 131057, 133004) are retryable;
//! - **account problems** (0, 3, 10, 190, 200–299, 368, 131031, 131042, 131045, 133010) are
//!   retryable too, on purpose: an expired token or a locked account says nothing about the
//!   message, and once an operator fixes the account every queued message goes out on its
//!   next attempt. Were they final, one expired token would dead-letter everything queued
//!   while it lasted. The dispatcher's backoff bounds the cost, and a message still failing
//!   after `MESSAGE_MAX_ATTEMPTS` is dead-lettered with the account error as its reason;
//! - **message problems** are final: invalid parameters (100, 131008, 131009), recipients
//!   that cannot get it (131021, 131026, 131030, 131047, 131049, 131050, 130472, 130497),
//!   unsupported content (131051–131053, 135000) and template errors (132000–132016,
//!   132068, 132069).
//!
//! The webhook side is pure: [`verify_signature`] checks `X-Hub-Signature-256`,
//! [`verify_subscription`] answers the `hub.challenge` handshake and [`parse_webhook`]
//! turns a notification into [`InboundEvent`]s. The lead's route calls them.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{
    MessageChannel, Outgoing, Provider, SendError, SendFuture, Sent, WhatsappTemplate, for_status,
    json_integer, sanitize, send_request,
};
use crate::config::WhatsappConfig;
use crate::domain::phone::Phone;
use crate::domain::time::Timestamp;

/// The provider's stored name.
pub const NAME: &str = "whatsapp_cloud";

/// The header Meta signs webhook bodies in.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The WhatsApp Business Cloud API client.
pub struct WhatsappCloud {
    client: reqwest::Client,
    messages_url: String,
    access_token: SecretString,
}

impl WhatsappCloud {
    /// A client for the business number in `config`, over the shared HTTP `client`.
    pub fn new(client: reqwest::Client, config: &WhatsappConfig) -> Self {
        Self {
            client,
            messages_url: format!("{}/{}/messages", config.api_url, config.phone_number_id),
            access_token: config.access_token.clone(),
        }
    }

    async fn deliver(&self, message: &Outgoing<'_>) -> Result<Sent, SendError> {
        let Some(template) = message.whatsapp else {
            return Err(SendError::final_("no WhatsApp template"));
        };
        let request = self
            .client
            .post(&self.messages_url)
            .bearer_auth(self.access_token.expose_secret())
            .json(&request_body(message.to, &template));
        let answer = send_request(NAME, request).await?;
        let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
        if answer.status.is_success() {
            let wamid = body
                .as_ref()
                .and_then(|b| b.pointer("/messages/0/id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if wamid.is_none() {
                // Accepted all the same: sending again would only duplicate it.
                tracing::warn!(message_id = %message.id, "WhatsApp accepted a message without giving its id");
            }
            return Ok(Sent {
                provider_message_id: wamid,
            });
        }
        let secret = self.access_token.expose_secret();
        let Some(error) = body.as_ref().and_then(|b| b.get("error")) else {
            return Err(for_status(
                answer.status,
                answer.retry_after,
                format!("whatsapp: HTTP {}", answer.status.as_u16()),
            ));
        };
        tracing::debug!(
            message_id = %message.id,
            fbtrace_id = error.get("fbtrace_id").and_then(serde_json::Value::as_str),
            "WhatsApp refused a message"
        );
        Err(classify_error(
            answer.status,
            answer.retry_after,
            error,
            secret,
        ))
    }
}

impl Provider for WhatsappCloud {
    fn name(&self) -> &'static str {
        NAME
    }

    fn channel(&self) -> MessageChannel {
        MessageChannel::Whatsapp
    }

    fn send<'a>(&'a self, message: &'a Outgoing<'a>) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }
}

/// The `messages` request for a template message to `to`.
pub fn request_body(to: &Phone, template: &WhatsappTemplate<'_>) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.digits(),
        "type": "template",
        "template": {
            "name": template.name,
            "language": { "code": template.language },
        },
    });
    // A template without variables takes no components: an empty parameter list would be
    // a parameter-count mismatch (132000).
    if !template.body_parameters.is_empty() {
        let parameters: Vec<Value> = template
            .body_parameters
            .iter()
            .map(|text| json!({ "type": "text", "text": text }))
            .collect();
        body["template"]["components"] = json!([{ "type": "body", "parameters": parameters }]);
    }
    body
}

/// How a Graph API error code is treated (see the module documentation for why).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Too many messages: retry after a while.
    RateLimited,
    /// Meta's side failed: retry.
    Transient,
    /// The sending account (token, permissions, business account) is at fault: retry, so
    /// the message goes out once an operator fixes it.
    Account,
    /// The message cannot be sent as it is.
    Final,
    /// A code this client does not know: decided by `is_transient` and the HTTP status.
    Unknown,
}

/// The class of a Graph API error `code`.
pub fn classify_code(code: i64) -> ErrorClass {
    match code {
        4 | 17 | 32 | 613 | 80007 | 130429 | 131048 | 131056 => ErrorClass::RateLimited,
        1 | 2 | 131000 | 131016 | 131057 | 133004 => ErrorClass::Transient,
        0 | 3 | 10 | 190 | 200..=299 | 368 | 131031 | 131042 | 131045 | 133010 => {
            ErrorClass::Account
        }
        100
        | 131008
        | 131009
        | 131021
        | 131026
        | 131030
        | 131047
        | 131049
        | 131050
        | 131051..=131053
        | 130472
        | 130497
        | 135000
        | 132000..=132016
        | 132068
        | 132069 => ErrorClass::Final,
        _ => ErrorClass::Unknown,
    }
}

/// A Graph API `error` object as a [`SendError`] whose reason is `whatsapp <code>: <message>
/// (<details>)`, without `secret`.
fn classify_error(
    status: reqwest::StatusCode,
    retry_after: Option<std::time::Duration>,
    error: &Value,
    secret: &str,
) -> SendError {
    let code = error.get("code").and_then(json_integer);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(strip_code_prefix)
        .unwrap_or("");
    let details = error
        .pointer("/error_data/details")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty() && *d != message);
    let class = code.map_or(ErrorClass::Unknown, classify_code);
    let code_text = code.map_or_else(|| format!("HTTP {}", status.as_u16()), |c| c.to_string());
    let account = if class == ErrorClass::Account {
        " (account)"
    } else {
        ""
    };
    let text = match details {
        Some(details) => format!("whatsapp {code_text}{account}: {message} ({details})"),
        None => format!("whatsapp {code_text}{account}: {message}"),
    };
    let reason = sanitize(&text, &[secret]);
    let is_transient = error.get("is_transient").and_then(Value::as_bool) == Some(true);
    match class {
        ErrorClass::RateLimited | ErrorClass::Transient | ErrorClass::Account => {
            SendError::Retryable {
                reason,
                retry_after,
            }
        }
        ErrorClass::Final => SendError::final_(reason),
        ErrorClass::Unknown if is_transient => SendError::Retryable {
            reason,
            retry_after,
        },
        ErrorClass::Unknown => for_status(status, retry_after, reason),
    }
}

/// `(#131056) (Business Account, Consumer Account) pair rate limit hit` without its
/// `(#131056) `: the reason already starts with the code.
fn strip_code_prefix(message: &str) -> &str {
    match message.strip_prefix("(#") {
        Some(rest) => rest
            .split_once(") ")
            .filter(|(code, _)| code.bytes().all(|b| b.is_ascii_digit()))
            .map_or(message, |(_, text)| text),
        None => message,
    }
}

/// Whether `header` (`X-Hub-Signature-256: sha256=<hex>`) is the HMAC-SHA256 of `body`
/// under `app_secret`, compared in constant time. No secret, no header, or a malformed
/// one: false (the webhook fails closed).
pub fn verify_signature(app_secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    if app_secret.is_empty() {
        return false;
    }
    let Some(expected) = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .and_then(decode_hex)
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Hex digits (either case) as bytes; `None` unless every pair is hex.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// The `hub.challenge` to echo when the subscription handshake is genuine:
/// `hub.mode=subscribe` and `hub.verify_token` equal (in constant time) to the configured
/// `WHATSAPP_VERIFY_TOKEN`. No configured token, anything else, or a challenge that is not
/// a short token (it is echoed): `None`, and the route answers 403.
pub fn verify_subscription<'q>(
    verify_token: Option<&str>,
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'q str>,
) -> Option<&'q str> {
    let expected = verify_token.filter(|t| !t.is_empty())?;
    if mode != Some("subscribe")
        || !crate::auth::constant_time_eq(expected.as_bytes(), token?.as_bytes())
    {
        return None;
    }
    challenge.filter(|c| {
        (1..=128).contains(&c.len())
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    })
}

/// A delivery status WhatsApp reports for a message we sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Left Meta for the recipient's phone.
    Sent,
    /// Reached the phone.
    Delivered,
    /// Opened (only when the recipient shares read receipts).
    Read,
    /// Could not be delivered; the event's `error` says why.
    Failed,
}

impl DeliveryStatus {
    /// The name WhatsApp uses, and the one stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Something a webhook notification reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundEvent {
    /// A status of a message we sent. Statuses may arrive out of order and more than once.
    Status {
        /// The `wamid` [`Sent::provider_message_id`] holds.
        provider_message_id: String,
        /// The new status.
        status: DeliveryStatus,
        /// For `failed`: the code and title, e.g. `131026: Message undeliverable`.
        error: Option<String>,
        /// When it happened, by WhatsApp's clock.
        at: Timestamp,
    },
    /// A text a customer wrote, or the text of a quick-reply button they tapped (how a
    /// template's "Stop" button answers).
    Text {
        /// The inbound message's `wamid`: Meta redelivers notifications, so handle each
        /// once.
        provider_message_id: String,
        /// Who wrote it.
        from: Phone,
        /// What they wrote.
        text: String,
        /// When.
        at: Timestamp,
    },
}

/// Why a webhook body could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("not a WhatsApp webhook notification: {0}")]
pub struct WebhookError(String);

/// The events in a webhook notification body. Anything this server does not act on (other
/// fields, other message types, statuses it does not know, senders that are not
/// Bangladeshi mobiles, unknown keys) is skipped, not an error: Meta adds fields, and an
/// error would make it redeliver forever. Only a body that is not a JSON object is an
/// error.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<InboundEvent>, WebhookError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError(format!("not JSON: {e}")))?;
    if !root.is_object() {
        return Err(WebhookError("not a JSON object".to_owned()));
    }
    if root
        .get("object")
        .and_then(Value::as_str)
        .is_some_and(|o| o != "whatsapp_business_account")
    {
        return Ok(Vec::new());
    }
    let mut events = Vec::new();
    for change in array(&root, "entry").flat_map(|entry| array(entry, "changes")) {
        if change.get("field").and_then(Value::as_str) != Some("messages") {
            continue;
        }
        let Some(value) = change.get("value") else {
            continue;
        };
        events.extend(array(value, "statuses").filter_map(status_event));
        events.extend(array(value, "messages").filter_map(text_event));
    }
    Ok(events)
}

/// The elements of `value[key]` when it is an array (none otherwise).
fn array<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Unix seconds, as a string (what Meta sends) or a number.
fn unix_time(value: Option<&Value>) -> Option<Timestamp> {
    let seconds = json_integer(value?)?;
    chrono::DateTime::from_timestamp(seconds, 0).map(Timestamp::from)
}

fn status_event(status: &Value) -> Option<InboundEvent> {
    let provider_message_id = status.get("id")?.as_str()?.to_owned();
    let delivery = DeliveryStatus::from_name(status.get("status")?.as_str()?)?;
    let at = unix_time(status.get("timestamp"))?;
    let error = status
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
        .map(|error| {
            let code = error.get("code").and_then(json_integer);
            let title = error
                .get("title")
                .or_else(|| error.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            let text = match code {
                Some(code) => format!("{code}: {title}"),
                None => title.to_owned(),
            };
            sanitize(&text, &[])
        });
    Some(InboundEvent::Status {
        provider_message_id,
        status: delivery,
        error,
        at,
    })
}

fn text_event(message: &Value) -> Option<InboundEvent> {
    let text = match message.get("type")?.as_str()? {
        "text" => message.pointer("/text/body"),
        "button" => message.pointer("/button/text"),
        "interactive" => message
            .pointer("/interactive/button_reply/title")
            .or_else(|| message.pointer("/interactive/list_reply/title")),
        _ => None,
    }?
    .as_str()?
    .to_owned();
    Some(InboundEvent::Text {
        provider_message_id: message.get("id")?.as_str()?.to_owned(),
        from: Phone::parse(message.get("from")?.as_str()?).ok()?,
        text,
        at: unix_time(message.get("timestamp"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An access token as long as real ones are.
    const TOKEN: &str = "EAAGm0PX4ZCpsBAtesttoken";

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify_code(130429), ErrorClass::RateLimited);
        assert_eq!(classify_code(131056), ErrorClass::RateLimited);
        assert_eq!(classify_code(131000), ErrorClass::Transient);
        assert_eq!(classify_code(190), ErrorClass::Account);
        assert_eq!(classify_code(250), ErrorClass::Account);
        assert_eq!(classify_code(131026), ErrorClass::Final);
        assert_eq!(classify_code(132001), ErrorClass::Final);
        assert_eq!(classify_code(132016), ErrorClass::Final);
        assert_eq!(classify_code(100), ErrorClass::Final);
        assert_eq!(classify_code(999_999), ErrorClass::Unknown);
    }

    #[test]
    fn unknown_codes_fall_back_to_is_transient_and_status() {
        let ok = reqwest::StatusCode::BAD_REQUEST;
        let error = json!({ "message": "new", "code": 999_999, "is_transient": true });
        assert!(classify_error(ok, None, &error, TOKEN).is_retryable());
        let error = json!({ "message": "new", "code": 999_999 });
        assert!(!classify_error(ok, None, &error, TOKEN).is_retryable());
        let server = reqwest::StatusCode::SERVICE_UNAVAILABLE;
        assert!(classify_error(server, None, &error, TOKEN).is_retryable());
    }

    #[test]
    fn reasons_are_short_and_clean() {
        let error = json!({
            "message": "(#131030) Recipient phone number not in allowed list",
            "type": "OAuthException",
            "code": 131030,
            "error_data": { "messaging_product": "whatsapp", "details": "Recipient 8801712345678 is not in the list; token EAAGsecret" },
            "fbtrace_id": "AbCdEf"
        });
        let err = classify_error(reqwest::StatusCode::BAD_REQUEST, None, &error, "EAAGsecret");
        assert_eq!(
            err,
            SendError::final_(
                "whatsapp 131030: Recipient phone number not in allowed list (Recipient [number] is not in the list; token [redacted])"
            )
        );
        let error = json!({ "message": "Error validating access token: Session has expired", "code": 190, "error_subcode": 463 });
        let err = classify_error(reqwest::StatusCode::UNAUTHORIZED, None, &error, TOKEN);
        assert_eq!(
            err.reason(),
            "whatsapp 190 (account): Error validating access token: Session has expired"
        );
        assert!(err.is_retryable());
        assert_eq!(strip_code_prefix("(#abc) x"), "(#abc) x");
    }

    #[test]
    fn template_without_variables_has_no_components() {
        let phone = Phone::parse("01712345678").unwrap();
        let body = request_body(
            &phone,
            &WhatsappTemplate {
                name: "hello",
                language: "en",
                body_parameters: &[],
            },
        );
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "8801712345678",
                "type": "template",
                "template": { "name": "hello", "language": { "code": "en" } },
            })
        );
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00ffA0"), Some(vec![0, 255, 160]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex(""), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é1"), None);
    }

    #[test]
    fn subscription_handshake() {
        let ok = verify_subscription(
            Some("tok"),
            Some("subscribe"),
            Some("tok"),
            Some("1158201444"),
        );
        assert_eq!(ok, Some("1158201444"));
        assert_eq!(
            verify_subscription(None, Some("subscribe"), Some("tok"), Some("1")),
            None
        );
        assert_eq!(
            verify_subscription(Some(""), Some("subscribe"), Some(""), Some("1")),
            None
        );
        assert_eq!(
            verify_subscription(Some("tok"), Some("subscribe"), Some("tak"), Some("1")),
            None
        );
        assert_eq!(
            verify_subscription(Some("tok"), Some("unsubscribe"), Some("tok"), Some("1")),
            None
        );
        assert_eq!(
            verify_subscription(
                Some("tok"),
                Some("subscribe"),
                Some("tok"),
                Some("<script>")
            ),
            None
        );
        assert_eq!(
            verify_subscription(Some("tok"), Some("subscribe"), None, Some("1")),
            None
        );
    }

    #[test]
    fn webhook_errors_only_for_non_objects() {
        assert!(parse_webhook(b"not json").is_err());
        assert!(parse_webhook(b"[1]").is_err());
        assert_eq!(parse_webhook(b"{}").unwrap(), vec![]);
        assert_eq!(
            parse_webhook(br#"{"object":"page","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"x","status":"sent","timestamp":"1"}]}}]}]}"#).unwrap(),
            vec![]
        );
        assert_eq!(
            parse_webhook(br#"{"entry":"weird","other":[1,2]}"#).unwrap(),
            vec![]
        );
    }
}
