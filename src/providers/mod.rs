//! The clients that deliver messages: one [`Provider`] trait, one implementation per
//! service, chosen by configuration ([`Providers::from_config`]).
//!
//! - [`whatsapp::WhatsappCloud`]: approved template messages through the WhatsApp Business
//!   Cloud API, plus the pure functions for its inbound webhook;
//! - [`ssl_wireless::SslWireless`]: SMS through SSL Wireless ISMS v3, deduplicated by the
//!   message's stable id;
//! - [`log::LogProvider`]: the stand-in when a channel is not configured.
//!
//! A provider only sends: it never touches the database, and the dispatcher calls it with
//! no transaction open. Every failure is classified once, here, as
//! [`SendError::Retryable`] (the dispatcher backs off and tries again) or
//! [`SendError::Final`] (it dead-letters the message). The helpers below (the shared HTTP
//! client, [`send_request`], [`transport_error`], [`for_status`], [`sanitize`]) are what a
//! second gateway reuses, so adding one is one more file with its request and its error
//! table.

pub mod log;
pub mod ssl_wireless;
pub mod whatsapp;

use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
pub use crate::domain::message::MessageChannel;
use crate::domain::phone::Phone;

/// A message ready to leave: rendered, addressed, with its stable id.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The outbox message's stable id. Providers that deduplicate get it (SSL Wireless's
    /// `csms_id`), so a resend after a crash is not delivered twice.
    pub id: uuid::Uuid,
    /// The recipient.
    pub to: &'a Phone,
    /// The rendered text: the SMS body, and what the log provider logs (at `debug` only).
    pub text: &'a str,
    /// The approved template to use on WhatsApp; without one WhatsApp cannot send.
    pub whatsapp: Option<WhatsappTemplate<'a>>,
}

/// An approved WhatsApp template and the values of its body variables.
#[derive(Clone, Copy, Debug)]
pub struct WhatsappTemplate<'a> {
    /// The template's name as approved in WhatsApp Manager.
    pub name: &'a str,
    /// The language code it was approved in (`bn` or `en`).
    pub language: &'a str,
    /// The values of `{{1}}`, `{{2}}`, … in the template's body, in order.
    pub body_parameters: &'a [String],
}

/// A message the provider accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for it (`wamid.…` on WhatsApp, SSL Wireless's `reference_id`),
    /// when it gave one: delivery statuses refer to it.
    pub provider_message_id: Option<String>,
}

/// Why a message was not sent. The `reason` is stored with the message and shown to
/// operators: short, the provider's code and message, never a token or a full phone number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: timeouts, dropped connections, 5xx, rate limits (with the
    /// provider's hint when it gives one), and account-level problems an operator can fix
    /// (see `docs/ARCHITECTURE.md`).
    #[error("retryable: {reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help: invalid number, unknown template, a malformed request, …
    #[error("final: {reason}")]
    Final {
        /// What happened.
        reason: String,
    },
}

impl SendError {
    /// A retryable failure without a hint.
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// A final failure.
    pub fn final_(reason: impl Into<String>) -> Self {
        Self::Final {
            reason: reason.into(),
        }
    }

    /// Whether the dispatcher should try again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }

    /// The stored, operator-facing reason.
    pub fn reason(&self) -> &str {
        match self {
            Self::Retryable { reason, .. } | Self::Final { reason } => reason,
        }
    }

    /// The provider's own wait hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. } => *retry_after,
            Self::Final { .. } => None,
        }
    }
}

/// The future a [`Provider::send`] returns (boxed, so the trait is object-safe).
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Sent, SendError>> + Send + 'a>>;

/// A service that delivers messages over one channel.
pub trait Provider: Send + Sync + 'static {
    /// The provider's stored name: `whatsapp_cloud`, `ssl_wireless`, `log`.
    fn name(&self) -> &'static str;

    /// What it delivers over.
    fn channel(&self) -> MessageChannel;

    /// Sends one message. Called at least once per message: a provider that can
    /// deduplicate on [`Outgoing::id`] does.
    fn send<'a>(&'a self, message: &'a Outgoing<'a>) -> SendFuture<'a>;

    /// True for a stand-in that reaches nobody (the log provider).
    fn is_stand_in(&self) -> bool {
        false
    }
}

/// The provider for each channel, built once at start-up and shared.
#[derive(Clone)]
pub struct Providers {
    whatsapp: Arc<dyn Provider>,
    sms: Arc<dyn Provider>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("whatsapp", &self.whatsapp.name())
            .field("sms", &self.sms.name())
            .finish()
    }
}

impl Providers {
    /// The configured providers: WhatsApp Cloud when its token and phone number id are
    /// set, SSL Wireless when its token and sender id are set, and a [`log::LogProvider`]
    /// for a channel that is not. Both real clients share one HTTP client with the
    /// `MESSAGE_SEND_TIMEOUT_SECS` timeout. (Half a configuration never gets here:
    /// [`Config`] refuses it.)
    pub fn from_config(config: &Config) -> Result<Self, reqwest::Error> {
        let client = http_client(config.message_send_timeout)?;
        let whatsapp: Arc<dyn Provider> = match &config.whatsapp {
            Some(whatsapp) => Arc::new(whatsapp::WhatsappCloud::new(client.clone(), whatsapp)),
            None => Arc::new(log::LogProvider::new(MessageChannel::Whatsapp)),
        };
        let sms: Arc<dyn Provider> = match &config.sms {
            Some(sms) => Arc::new(ssl_wireless::SslWireless::new(client, sms)),
            None => Arc::new(log::LogProvider::new(MessageChannel::Sms)),
        };
        Ok(Self::new(whatsapp, sms))
    }

    /// Chosen providers (tests inject fakes here).
    pub fn new(whatsapp: Arc<dyn Provider>, sms: Arc<dyn Provider>) -> Self {
        Self { whatsapp, sms }
    }

    /// The provider for `channel`.
    pub fn for_channel(&self, channel: MessageChannel) -> &Arc<dyn Provider> {
        match channel {
            MessageChannel::Whatsapp => &self.whatsapp,
            MessageChannel::Sms => &self.sms,
        }
    }
}

/// The longest a connection attempt may take, within the total timeout: a provider that
/// does not accept a connection in this long is down, and waiting longer only delays the
/// retry.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The one HTTP client the providers share (connection pool, TLS): `timeout` bounds a
/// whole call, connecting, sending and reading the answer.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        // A provider's API does not redirect; following one could forward a token.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("bondhu/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A provider's HTTP answer, read in full.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// The `Retry-After` hint, in seconds, when present.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends `request` and reads the whole answer; any failure on the way (no connection, a
/// timeout, a connection closed before the answer) is a [`transport_error`].
pub async fn send_request(
    provider: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<Answer, SendError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, &e))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(provider, &e))?;
    Ok(Answer {
        status,
        retry_after,
        body: body.to_vec(),
    })
}

/// The longest `Retry-After` taken at its word: a provider asking for more is down, and
/// the dispatcher's own backoff takes over.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The `Retry-After` header in seconds (the HTTP-date form is rare from APIs and ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// A call that got no answer: always retryable. Whether the provider acted on it is
/// unknown, which is why messages carry a stable id. The reason names what happened and
/// the lowest cause, never the URL.
pub fn transport_error(provider: &'static str, err: &reqwest::Error) -> SendError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut cause: &dyn std::error::Error = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let detail = if err.source().is_some() && !err.is_timeout() {
        format!(": {cause}")
    } else {
        String::new()
    };
    SendError::retryable(sanitize(&format!("{provider}: {what}{detail}"), &[]))
}

/// The classification by HTTP status alone, for answers a provider's own error table
/// does not cover: 408, 429 and 5xx are retryable, everything else is final.
pub fn for_status(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    reason: String,
) -> SendError {
    if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        SendError::Retryable {
            reason,
            retry_after,
        }
    } else {
        SendError::final_(reason)
    }
}

/// An integer a provider sent as a JSON number or as a string of digits (some send
/// codes one way, some the other).
pub fn json_integer(value: &serde_json::Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The longest stored reason, in characters.
pub const REASON_MAX_CHARS: usize = 200;

/// A provider's text made fit to store and show: each of `secrets` replaced, every run of
/// eight or more digits (a phone number, whatever the provider echoed) replaced, white
/// space collapsed, and cut to [`REASON_MAX_CHARS`].
pub fn sanitize(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    let mut out = String::with_capacity(text.len().min(REASON_MAX_CHARS * 4));
    let mut digits = String::new();
    let mut last_space = true;
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            out.push_str(if digits.len() >= 8 {
                "[number]"
            } else {
                &digits
            });
            digits.clear();
            last_space = false;
        }
        if c.is_whitespace() || c.is_control() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    let out = out.trim_end();
    if out.chars().count() > REASON_MAX_CHARS {
        let mut cut: String = out.chars().take(REASON_MAX_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        out.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_secrets_and_numbers() {
        assert_eq!(
            sanitize(
                "bad token EAAGsecret for\n 8801712345678,  code 4023",
                &["EAAGsecret"]
            ),
            "bad token [redacted] for [number], code 4023"
        );
        let long = "x".repeat(500);
        let cut = sanitize(&long, &[]);
        assert_eq!(cut.chars().count(), REASON_MAX_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(sanitize("", &[""]), "");
    }

    #[test]
    fn status_alone_classifies() {
        use reqwest::StatusCode;
        for status in [500, 502, 503, 429, 408] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(
                for_status(status, None, "r".into()).is_retryable(),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 302] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(
                !for_status(status, None, "r".into()).is_retryable(),
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_is_seconds_and_capped() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "30".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(30)));
        headers.insert(reqwest::header::RETRY_AFTER, "999999".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn unconfigured_channels_are_logged() {
        let config = Config::from_lookup(|_| None).unwrap();
        let providers = Providers::from_config(&config).unwrap();
        for channel in [MessageChannel::Whatsapp, MessageChannel::Sms] {
            let provider = providers.for_channel(channel);
            assert_eq!(provider.name(), "log");
            assert_eq!(provider.channel(), channel);
            assert!(provider.is_stand_in());
        }
    }

    #[test]
    fn configured_channels_get_their_clients() {
        let config = Config::from_lookup(|name| {
            match name {
                "WHATSAPP_ACCESS_TOKEN" => Some("EAAG"),
                "WHATSAPP_PHONE_NUMBER_ID" => Some("106540352242922"),
                "SMS_API_TOKEN" => Some("token"),
                "SMS_SID" => Some("BONDHU"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap();
        let providers = Providers::from_config(&config).unwrap();
        let whatsapp = providers.for_channel(MessageChannel::Whatsapp);
        assert_eq!(whatsapp.name(), "whatsapp_cloud");
        assert_eq!(whatsapp.channel(), MessageChannel::Whatsapp);
        assert!(!whatsapp.is_stand_in());
        let sms = providers.for_channel(MessageChannel::Sms);
        assert_eq!(sms.name(), "ssl_wireless");
        assert_eq!(sms.channel(), MessageChannel::Sms);
        assert_eq!(
            format!("{providers:?}"),
            r#"Providers { whatsapp: "whatsapp_cloud", sms: "ssl_wireless" }"#
        );
    }
}
