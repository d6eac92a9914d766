//! SSL Wireless ISMS v3, a Bangladeshi SMS gateway: one SMS per call, deduplicated by the
//! client's `csms_id`.
//!
//! It POSTs JSON `{api_token, sid, msisdn, sms, csms_id}` to `{SMS_API_URL}/api/v3/send-sms`
//! and reads `{status, status_code, error_message, smsinfo: [{sms_status, status_message,
//! msisdn, csms_id, reference_id}]}`.
//!
//! **The `csms_id`.** The gateway refuses a `csms_id` it already accepted the same day
//! (4023, "Duplicate CSMS ID"), which is what makes a resend safe: the id is derived from
//! the outbox message's id alone ([`csms_id`]), so a dispatcher that crashed after the
//! gateway accepted a message and before it was marked sent resends it with the same id,
//! and the duplicate answer counts as sent. The documented limit is 20 alphanumeric
//! characters, so the id is the last 20 hex digits of the UUID (its last three groups
//! without dashes): 74 random bits for v4 and v7 UUIDs alike, and an operator finds the
//! message by the suffix. The gateway only remembers a day, so a resend after midnight
//! is delivered a second time: at most one duplicate.
//!
//! **Classification** ([`classify_status_code`]) follows the v3.0.0 error table: rate
//! limits (4029, 4031) and unknown errors (5000 and up) are retryable; account problems
//! (4001 token, 4002 sender id, 4003 IP not allowed, 4004 wrong URL) are retryable for the
//! same reason as WhatsApp's (see [`super::whatsapp`]): fixing the account makes them go
//! out; request and recipient problems (4005, 4020, 4022, 4025–4028, 4030) are final.
//! Some copies of the table number the errors differently, so a duplicate is also
//! recognised by its message ("duplicate" and "csms").

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{
    MessageChannel, Outgoing, Provider, SendError, SendFuture, Sent, for_status, json_integer,
    sanitize, send_request,
};
use crate::config::SslWirelessConfig;

/// The provider's stored name.
pub const NAME: &str = "ssl_wireless";

/// The send endpoint, under `SMS_API_URL`.
pub const SEND_PATH: &str = "/api/v3/send-sms";

/// The longest `csms_id` the gateway accepts.
pub const CSMS_ID_MAX_LEN: usize = 20;

/// The gateway's code for a `csms_id` it already accepted today.
pub const DUPLICATE_CSMS_ID: i64 = 4023;

/// The SSL Wireless client.
pub struct SslWireless {
    client: reqwest::Client,
    send_url: String,
    api_token: SecretString,
    sid: String,
}

impl SslWireless {
    /// A client for the account in `config`, over the shared HTTP `client`.
    pub fn new(client: reqwest::Client, config: &SslWirelessConfig) -> Self {
        Self {
            client,
            send_url: format!("{}{SEND_PATH}", config.api_url),
            api_token: config.api_token.clone(),
            sid: config.sid.clone(),
        }
    }

    async fn deliver(&self, message: &Outgoing<'_>) -> Result<Sent, SendError> {
        let token = self.api_token.expose_secret();
        let request = self.client.post(&self.send_url).json(&json!({
            "api_token": token,
            "sid": self.sid,
            "msisdn": message.to.digits(),
            "sms": message.text,
            "csms_id": csms_id(message.id),
        }));
        let answer = send_request(NAME, request).await?;
        // The gateway answers errors in the JSON body, whatever the HTTP status; a body
        // that is not its JSON (a proxy's error page) is judged by the status alone.
        let Some(body) = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .filter(Value::is_object)
        else {
            return Err(for_status(
                answer.status,
                answer.retry_after,
                format!("ssl_wireless: HTTP {}", answer.status.as_u16()),
            ));
        };
        let outcome = classify_answer(&body, token);
        if let Err(SendError::Retryable { reason, .. }) = outcome {
            return Err(SendError::Retryable {
                reason,
                retry_after: answer.retry_after,
            });
        }
        outcome
    }
}

impl Provider for SslWireless {
    fn name(&self) -> &'static str {
        NAME
    }

    fn channel(&self) -> MessageChannel {
        MessageChannel::Sms
    }

    fn send<'a>(&'a self, message: &'a Outgoing<'a>) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }
}

/// The `csms_id` for outbox message `id`: its last 20 hex digits, the same on every
/// attempt (see the module documentation).
pub fn csms_id(id: uuid::Uuid) -> String {
    let hex = id.simple().to_string();
    hex[hex.len() - CSMS_ID_MAX_LEN..].to_owned()
}

/// How a request-level `status_code` is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// Accepted before: counts as sent.
    Duplicate,
    /// Too many requests, or the gateway failed: retry.
    Retryable,
    /// The account (token, sender id, IP, URL) is at fault: retry once it is fixed.
    Account,
    /// The message cannot be sent as it is.
    Final,
}

/// The class of a request-level `status_code` (the v3.0.0 table).
pub fn classify_status_code(code: i64) -> StatusClass {
    match code {
        DUPLICATE_CSMS_ID => StatusClass::Duplicate,
        4029 | 4031 | 5000.. => StatusClass::Retryable,
        4001..=4004 => StatusClass::Account,
        _ => StatusClass::Final,
    }
}

/// Whether the gateway's text says the `csms_id` was a duplicate.
fn says_duplicate_csms(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("duplicate") && text.contains("csms")
}

/// The outcome a gateway answer body stands for; reasons never hold `token`.
fn classify_answer(body: &Value, token: &str) -> Result<Sent, SendError> {
    let status = body.get("status").and_then(Value::as_str).unwrap_or("");
    let status_code = body.get("status_code").and_then(json_integer);
    let error_message = body
        .get("error_message")
        .and_then(Value::as_str)
        .unwrap_or("");
    let info = body
        .get("smsinfo")
        .and_then(Value::as_array)
        .and_then(|info| info.first());
    let reference_id = info
        .and_then(|i| i.get("reference_id"))
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let sms_status = info
        .and_then(|i| i.get("sms_status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let status_message = info
        .and_then(|i| i.get("status_message"))
        .and_then(Value::as_str)
        .unwrap_or("");

    if status.eq_ignore_ascii_case("success") && status_code.is_none_or(|c| c == 200) {
        // The request succeeded; the one SMS in it may still have been refused.
        if sms_status.is_empty() || sms_status.eq_ignore_ascii_case("success") {
            return Ok(Sent {
                provider_message_id: reference_id,
            });
        }
        if says_duplicate_csms(&format!("{sms_status} {status_message}")) {
            return Ok(Sent {
                provider_message_id: reference_id,
            });
        }
        // Per-SMS refusals are an invalid number, length or id: nothing a retry fixes.
        return Err(SendError::final_(sanitize(
            &format!("ssl_wireless {sms_status}: {status_message}"),
            &[token],
        )));
    }

    let class = match status_code {
        Some(code) => classify_status_code(code),
        None => StatusClass::Final,
    };
    if class == StatusClass::Duplicate
        || says_duplicate_csms(error_message)
        || says_duplicate_csms(status_message)
    {
        return Ok(Sent {
            provider_message_id: reference_id,
        });
    }
    let code_text = status_code.map_or_else(|| "?".to_owned(), |c| c.to_string());
    let account = if class == StatusClass::Account {
        " (account)"
    } else {
        ""
    };
    let message = if error_message.is_empty() {
        status_message
    } else {
        error_message
    };
    let reason = sanitize(
        &format!("ssl_wireless {code_text}{account}: {message}"),
        &[token],
    );
    match class {
        StatusClass::Retryable | StatusClass::Account => Err(SendError::retryable(reason)),
        StatusClass::Final | StatusClass::Duplicate => Err(SendError::final_(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An API token shaped like SSL Wireless's.
    const TOKEN: &str = "1279-98d2bb25-3f7e-49bf";

    #[test]
    fn csms_id_is_stable_short_and_alphanumeric() {
        let id = uuid::Uuid::parse_str("0190f5c2-8a3b-7c4d-9e5f-a1b2c3d4e5f6").unwrap();
        assert_eq!(csms_id(id), "7c4d9e5fa1b2c3d4e5f6");
        assert_eq!(csms_id(id), csms_id(id));
        let fresh = uuid::Uuid::new_v4();
        let csms = csms_id(fresh);
        assert_eq!(csms.len(), CSMS_ID_MAX_LEN);
        assert!(csms.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(fresh.simple().to_string().ends_with(&csms));
    }

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify_status_code(4023), StatusClass::Duplicate);
        assert_eq!(classify_status_code(4029), StatusClass::Retryable);
        assert_eq!(classify_status_code(4031), StatusClass::Retryable);
        assert_eq!(classify_status_code(5000), StatusClass::Retryable);
        assert_eq!(classify_status_code(4001), StatusClass::Account);
        assert_eq!(classify_status_code(4025), StatusClass::Final);
        assert_eq!(classify_status_code(4027), StatusClass::Final);
    }

    #[test]
    fn answers_are_classified() {
        let success = json!({
            "status": "SUCCESS", "status_code": 200, "error_message": "",
            "smsinfo": [{ "sms_status": "SUCCESS", "status_message": "Success", "msisdn": "8801712345678",
                          "sms_type": "EN", "sms_body": "hi", "csms_id": "x", "reference_id": "5da2f0b5ba3a2248110" }]
        });
        assert_eq!(
            classify_answer(&success, TOKEN),
            Ok(Sent {
                provider_message_id: Some("5da2f0b5ba3a2248110".into())
            })
        );
        let refused_sms = json!({
            "status": "SUCCESS", "status_code": 200, "error_message": "",
            "smsinfo": [{ "sms_status": "FAILED", "status_message": "Invalid MSISDN", "msisdn": "8801712345678" }]
        });
        assert_eq!(
            classify_answer(&refused_sms, TOKEN),
            Err(SendError::final_("ssl_wireless FAILED: Invalid MSISDN"))
        );
        let duplicate_by_text = json!({ "status": "FAILED", "status_code": 4012, "error_message": "Duplicate CSMS ID" });
        assert!(classify_answer(&duplicate_by_text, TOKEN).is_ok());
        let bad_token = json!({ "status": "FAILED", "status_code": 4001, "error_message": "Unauthorized: token tok-123 invalid" });
        assert_eq!(
            classify_answer(&bad_token, "tok-123"),
            Err(SendError::retryable(
                "ssl_wireless 4001 (account): Unauthorized: token [redacted] invalid"
            ))
        );
        let string_code = json!({ "status": "FAILED", "status_code": "4029", "error_message": "Too many requests" });
        assert!(
            classify_answer(&string_code, TOKEN)
                .unwrap_err()
                .is_retryable()
        );
        let nothing = json!({});
        assert!(!classify_answer(&nothing, TOKEN).unwrap_err().is_retryable());
    }
}
