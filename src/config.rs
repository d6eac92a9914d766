//! Typed configuration, read once from the environment (and an optional `.env` file).
//!
//! Every variable has a working default for a developer's machine, so `cargo run` with no
//! configuration starts a server against the local PostgreSQL. A variable that is set but
//! cannot be used stops start-up with a message naming it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::domain::money::Money;

/// Where a fresh checkout finds its database.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/bondhu";

/// The shortest `JWT_SECRET` accepted: HS256 keys shorter than the hash are weak.
pub const MIN_JWT_SECRET_LEN: usize = 32;

/// The server's configuration.
#[derive(Clone)]
pub struct Config {
    /// PostgreSQL connection URL (`DATABASE_URL`). May hold a password: never logged.
    pub database_url: SecretString,
    /// Largest number of pooled database connections (`DATABASE_MAX_CONNECTIONS`).
    pub database_max_connections: u32,
    /// How long a request waits for a pooled connection before it gets a 503
    /// (`DATABASE_ACQUIRE_TIMEOUT_SECS`).
    pub database_acquire_timeout: Duration,
    /// Largest number of connections of the lean pool that serves the customer's hottest
    /// single-statement reads (own wallet, referral stats) without sqlx's release ping
    /// (`DATABASE_LEAN_MAX_CONNECTIONS`); opened on demand, beside the main pool.
    pub database_lean_max_connections: u32,
    /// A read replica (a streaming standby of `DATABASE_URL`) that the report and KPI
    /// routes read instead of the primary (`DATABASE_READ_URL`). Unset: they read the
    /// primary. Never created or migrated; may hold a password: never logged.
    pub database_read_url: Option<SecretString>,
    /// Largest number of pooled connections to the read replica
    /// (`DATABASE_READ_MAX_CONNECTIONS`); only with `DATABASE_READ_URL`.
    pub database_read_max_connections: u32,
    /// How far the read replica's replay may fall behind before the reports read the
    /// primary instead, until it catches up (`DATABASE_READ_MAX_LAG_SECS`; 0: no limit, the
    /// reports always read the replica). Only with `DATABASE_READ_URL`.
    pub database_read_max_lag: Duration,
    /// How long a session may sit idle inside a transaction before PostgreSQL ends it
    /// (`DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECS`, PostgreSQL's
    /// `idle_in_transaction_session_timeout`; 0 turns it off): a task that stalls between
    /// two statements of a transaction must not hold its row locks, and the vacuum horizon,
    /// for ever.
    pub database_idle_in_transaction_timeout: Duration,
    /// Address to listen on (`HOST`).
    pub host: IpAddr,
    /// Port to listen on (`PORT`); 0 picks a free one.
    pub port: u16,
    /// Where Prometheus metrics are served (`METRICS_ADDR`, `host:port`; port 0 picks a
    /// free one). Unset: no metrics listener, so several instances on one machine never
    /// collide. The public listener never serves metrics.
    pub metrics_addr: Option<SocketAddr>,
    /// HS256 signing key for access tokens (`JWT_SECRET`). When unset the server
    /// generates one and keeps it in the database, so restarts and the CLI agree.
    pub jwt_secret: Option<SecretString>,
    /// Longest time a request may take before it is answered with 408 (`REQUEST_TIMEOUT_SECS`).
    pub request_timeout: Duration,
    /// Largest accepted request body in bytes (`BODY_LIMIT_BYTES`).
    pub body_limit_bytes: usize,
    /// Log line format (`LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Browser origins allowed to call the API, matched exactly (`CORS_ALLOWED_ORIGINS`,
    /// comma-separated).
    pub cors_allowed_origins: Vec<String>,
    /// The shop's public web address (`SHOP_URL`): `/r/:code` redirects to its
    /// registration page.
    pub shop_url: String,
    /// Bondhu's own public base URL (`PUBLIC_URL`): shared links and printed QR codes point
    /// at its landing, `{PUBLIC_URL}/r/CODE?ch=…`.
    pub public_url: String,
    /// The shop's name as printed on rider and parcel cards (`SHOP_NAME`, 1 to 40
    /// characters; Bangla is fine).
    pub shop_name: String,
    /// HMAC-SHA256 key for the client addresses kept as fraud signals
    /// (`FRAUD_HASH_SECRET`, at least 32 characters). When unset the server generates one
    /// and keeps it in the database, like the JWT secret, so every instance hashes alike.
    pub fraud_hash_secret: Option<SecretString>,
    /// Whether to take the client's address from the last `X-Forwarded-For` hop
    /// (`TRUST_PROXY_HEADERS`); only behind a proxy that sets it.
    pub trust_proxy_headers: bool,
    /// Requests per minute per client address on public routes, counted across every
    /// instance (`PUBLIC_RATE_LIMIT_PER_MINUTE`; 0: unlimited, for trusted networks).
    pub public_rate_limit_per_minute: u32,
    /// Login attempts per minute per client address, counted across every instance
    /// (`LOGIN_RATE_LIMIT_PER_MINUTE`; 0: unlimited).
    pub login_rate_limit_per_minute: u32,
    /// Failed logins in a row that lock an account (`LOGIN_MAX_FAILURES`).
    pub login_max_failures: i32,
    /// How long a locked account stays locked (`LOGIN_LOCKOUT_SECS`).
    pub login_lockout: Duration,
    /// How long a token's or API key's account check is reused before the database is
    /// asked again (`AUTH_CACHE_TTL_SECS`; 0 checks every request).
    pub auth_cache_ttl: Duration,
    /// The key of the HMAC under which phone verification codes are stored
    /// (`OTP_SECRET`). When unset the server generates one and keeps it in the database.
    pub otp_secret: Option<SecretString>,
    /// The smallest withdrawal a customer may ask for (`WITHDRAWAL_MIN_AMOUNT`, taka).
    pub withdrawal_min_amount: Money,
    /// The most a customer may ask to withdraw in 24 hours, counting every request that
    /// was not rejected (`WITHDRAWAL_MAX_PER_DAY`, taka).
    pub withdrawal_max_per_day: Money,
    /// How often every instance runs the background jobs, such as releasing rewards
    /// whose hold ended (`JOBS_INTERVAL_SECS`).
    pub jobs_interval: Duration,
    /// How often reconciliation runs, with repairs, on one instance at a time
    /// (`RECONCILE_INTERVAL_SECS`).
    pub reconcile_interval: Duration,
    /// The WhatsApp Business Cloud API sender, when `WHATSAPP_ACCESS_TOKEN` and
    /// `WHATSAPP_PHONE_NUMBER_ID` are both set; otherwise WhatsApp messages are only logged.
    pub whatsapp: Option<WhatsappConfig>,
    /// The app secret that signs inbound WhatsApp webhooks (`WHATSAPP_APP_SECRET`). Unset,
    /// the webhook refuses every notification (it fails closed).
    pub whatsapp_app_secret: Option<SecretString>,
    /// The token Meta echoes in the webhook subscription handshake
    /// (`WHATSAPP_VERIFY_TOKEN`). Unset, the handshake is refused.
    pub whatsapp_verify_token: Option<SecretString>,
    /// The SSL Wireless SMS gateway, when `SMS_API_TOKEN` and `SMS_SID` are both set;
    /// otherwise SMS messages are only logged.
    pub sms: Option<SslWirelessConfig>,
    /// The longest a provider call may take, connecting included, before it counts as a
    /// retryable failure (`MESSAGE_SEND_TIMEOUT_SECS`).
    pub message_send_timeout: Duration,
    /// How messages are sent: attempts, caps, the dispatcher's pace.
    pub messaging: MessagingConfig,
    /// How webhooks are delivered: the SSRF guard's exception, timeouts, retries.
    pub webhooks: WebhookConfig,
    /// The couriers' webhook secrets.
    pub couriers: CourierWebhooks,
    /// The relay of the event outbox to NATS JetStream, when `EVENTS_NATS_URL` is set;
    /// otherwise the relay is off.
    pub events_nats: Option<EventStreamConfig>,
}

/// The stream of Bondhu's events on NATS JetStream (docs/EVENTS.md).
#[derive(Clone)]
pub struct EventStreamConfig {
    /// The servers, `nats://` or `tls://` URLs, comma-separated (`EVENTS_NATS_URL`). A URL may
    /// carry a user and password: never logged.
    pub servers: Vec<SecretString>,
    /// The JetStream stream (`EVENTS_NATS_STREAM`, default `BONDHU_EVENTS`), created at
    /// start-up when missing.
    pub stream: String,
    /// The subjects' first tokens (`EVENTS_NATS_SUBJECT_PREFIX`, default `bondhu.events`): an
    /// event is published to `{prefix}.{type}`, and the stream captures `{prefix}.>`.
    pub subject_prefix: String,
    /// How the relay authenticates, besides a user and password in a URL.
    pub auth: NatsAuth,
    /// The longest wait for a publication's acknowledgement, and for a JetStream API call
    /// (`EVENTS_NATS_PUBLISH_TIMEOUT_SECS`, default 5); longer is a failure, retried.
    pub publish_timeout: Duration,
    /// How long JetStream remembers a message id, so a publication repeated within it is
    /// stored once (`EVENTS_NATS_DUPLICATE_WINDOW_SECS`, default 600): the stream is created
    /// with it, and it must cover the relay's retries (a lease of the timeout + 30 s, then
    /// at most 60 s of backoff).
    pub duplicate_window: Duration,
    /// How often every instance looks for events to publish (`EVENTS_NATS_POLL_MILLIS`,
    /// default 1000).
    pub poll_interval: Duration,
}

/// How the relay authenticates to NATS: at most one way, each never logged.
#[derive(Clone, Default)]
pub enum NatsAuth {
    /// No credentials, or a user and password in `EVENTS_NATS_URL`.
    #[default]
    None,
    /// `EVENTS_NATS_TOKEN`.
    Token(SecretString),
    /// `EVENTS_NATS_USER` and `EVENTS_NATS_PASSWORD`.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: SecretString,
    },
    /// A `.creds` file (a user JWT and its NKey seed): `EVENTS_NATS_CREDS_FILE`.
    CredsFile(std::path::PathBuf),
}

impl fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Token(_) => f.write_str("Token([redacted])"),
            Self::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"[redacted]")
                .finish(),
            Self::CredsFile(path) => f.debug_tuple("CredsFile").field(path).finish(),
        }
    }
}

impl fmt::Debug for EventStreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers: Vec<String> = self
            .servers
            .iter()
            .map(|url| redact_userinfo(url.expose_secret()))
            .collect();
        f.debug_struct("EventStreamConfig")
            .field("servers", &servers)
            .field("stream", &self.stream)
            .field("subject_prefix", &self.subject_prefix)
            .field("auth", &self.auth)
            .field("publish_timeout", &self.publish_timeout)
            .field("duplicate_window", &self.duplicate_window)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// The stream the relay publishes to when `EVENTS_NATS_STREAM` is unset.
pub const DEFAULT_EVENTS_NATS_STREAM: &str = "BONDHU_EVENTS";

/// The subjects' prefix when `EVENTS_NATS_SUBJECT_PREFIX` is unset.
pub const DEFAULT_EVENTS_NATS_SUBJECT_PREFIX: &str = "bondhu.events";

/// The outbound webhooks' settings.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Whether subscription URLs may reach private, loopback and unspecified addresses
    /// (`WEBHOOK_ALLOW_PRIVATE`, default false; tests and a receiver inside the shop's own
    /// network set it). Link-local and cloud-metadata addresses are refused regardless.
    pub allow_private: bool,
    /// The longest one delivery attempt may take, redirects included
    /// (`WEBHOOK_TIMEOUT_SECS`, default 10).
    pub timeout: Duration,
    /// The first retry's delay, doubled on each further attempt
    /// (`WEBHOOK_RETRY_BASE_SECS`, default 30).
    pub retry_base: Duration,
    /// How often every instance looks for deliveries that are due (`WEBHOOK_POLL_MILLIS`,
    /// default 1000).
    pub poll_interval: Duration,
}

/// The secrets the couriers' webhooks authenticate with. A courier without its secret
/// has its webhook refused (503, nothing kept): it fails closed.
#[derive(Clone)]
pub struct CourierWebhooks {
    /// The bearer token configured in Steadfast's webhook form
    /// (`STEADFAST_WEBHOOK_TOKEN`, at least 16 characters).
    pub steadfast_token: Option<SecretString>,
    /// The secret configured in Pathao's webhook form, which Pathao sends verbatim as
    /// `X-PATHAO-Signature` (`PATHAO_WEBHOOK_SECRET`, at least 16 characters).
    pub pathao_secret: Option<SecretString>,
    /// The value Pathao's merchant panel asks the webhook to return in the
    /// `X-Pathao-Merchant-Webhook-Integration-Secret` header
    /// (`PATHAO_WEBHOOK_INTEGRATION_SECRET`; the panel's value by default).
    pub pathao_integration_secret: SecretString,
}

impl fmt::Debug for CourierWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<SecretString>| secret.as_ref().map(|_| "[redacted]");
        f.debug_struct("CourierWebhooks")
            .field("steadfast_token", &redacted(&self.steadfast_token))
            .field("pathao_secret", &redacted(&self.pathao_secret))
            .field("pathao_integration_secret", &"[redacted]")
            .finish()
    }
}

/// The shortest courier webhook secret accepted.
pub const MIN_WEBHOOK_SECRET_LEN: usize = 16;

/// What Pathao's merchant panel (Developer API → Webhook) asks every webhook to answer in
/// `X-Pathao-Merchant-Webhook-Integration-Secret`.
pub const DEFAULT_PATHAO_INTEGRATION_SECRET: &str = "f3992ecc-59da-4cbe-a049-a13da2018d51";

/// The outbox's settings.
#[derive(Clone, Debug)]
pub struct MessagingConfig {
    /// Attempts before a message is dead-lettered (`MESSAGE_MAX_ATTEMPTS`, default 8).
    pub max_attempts: i32,
    /// Messages a phone may receive per day in Dhaka, verification codes aside
    /// (`MESSAGE_DAILY_CAP`, default 5).
    pub daily_cap: i64,
    /// Days between two share nudges to one customer (`SHARE_NUDGE_DAYS`, default 30).
    pub share_nudge_days: i64,
    /// How often every instance looks for messages to send (`MESSAGE_POLL_MILLIS`,
    /// default 1000); a message queued by the instance itself is sent at once.
    pub poll_interval: Duration,
    /// The first retry's delay, doubled on each further attempt
    /// (`MESSAGE_RETRY_BASE_SECS`, default 30).
    pub retry_base: Duration,
}

/// Where and as whom WhatsApp template messages are sent.
#[derive(Clone)]
pub struct WhatsappConfig {
    /// The Graph API base URL with its version, without a trailing slash (`WHATSAPP_API_URL`).
    pub api_url: String,
    /// A system user's access token (`WHATSAPP_ACCESS_TOKEN`). Never logged.
    pub access_token: SecretString,
    /// The business phone number's id, digits only (`WHATSAPP_PHONE_NUMBER_ID`).
    pub phone_number_id: String,
}

impl fmt::Debug for WhatsappConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsappConfig")
            .field("api_url", &self.api_url)
            .field("access_token", &"[redacted]")
            .field("phone_number_id", &self.phone_number_id)
            .finish()
    }
}

/// The SSL Wireless ISMS v3 account that sends SMS.
#[derive(Clone)]
pub struct SslWirelessConfig {
    /// The gateway's base URL, without a trailing slash (`SMS_API_URL`); the client adds
    /// `/api/v3/send-sms`.
    pub api_url: String,
    /// The account's API token (`SMS_API_TOKEN`). Never logged.
    pub api_token: SecretString,
    /// The sender (masking) id SSL Wireless assigned, at most 20 characters (`SMS_SID`).
    pub sid: String,
}

impl fmt::Debug for SslWirelessConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslWirelessConfig")
            .field("api_url", &self.api_url)
            .field("api_token", &"[redacted]")
            .field("sid", &self.sid)
            .finish()
    }
}

/// The Graph API version the WhatsApp client is written against.
pub const DEFAULT_WHATSAPP_API_URL: &str = "https://graph.facebook.com/v21.0";

/// SSL Wireless's ISMS host (their "smsplus" gateway).
pub const DEFAULT_SMS_API_URL: &str = "https://smsplus.sslwireless.com";

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object per line, for a log collector.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pretty" | "text" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err("expected `pretty` or `json`".to_owned()),
        }
    }
}

/// A configuration variable that is set to something unusable.
#[derive(Debug, thiserror::Error)]
#[error("configuration variable {name} is invalid: {reason}")]
pub struct ConfigError {
    /// The variable's name.
    pub name: &'static str,
    /// What is wrong with its value (never the value itself: it may be a secret).
    pub reason: String,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, which returns a variable's value if set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let jwt_secret = match get("JWT_SECRET") {
            Some(secret) if secret.len() < MIN_JWT_SECRET_LEN => {
                return Err(ConfigError {
                    name: "JWT_SECRET",
                    reason: format!("must be at least {MIN_JWT_SECRET_LEN} characters long"),
                });
            }
            other => other.map(SecretString::from),
        };

        let fraud_hash_secret = match get("FRAUD_HASH_SECRET") {
            Some(secret) if secret.len() < MIN_JWT_SECRET_LEN => {
                return Err(ConfigError {
                    name: "FRAUD_HASH_SECRET",
                    reason: format!("must be at least {MIN_JWT_SECRET_LEN} characters long"),
                });
            }
            other => other.map(SecretString::from),
        };
        let otp_secret = match get("OTP_SECRET") {
            Some(secret) if secret.len() < MIN_JWT_SECRET_LEN => {
                return Err(ConfigError {
                    name: "OTP_SECRET",
                    reason: format!("must be at least {MIN_JWT_SECRET_LEN} characters long"),
                });
            }
            other => other.map(SecretString::from),
        };
        let withdrawal_min_amount = parse(
            &get,
            "WITHDRAWAL_MIN_AMOUNT",
            Money::new(rust_decimal::Decimal::ONE_HUNDRED).map_err(|e| ConfigError {
                name: "WITHDRAWAL_MIN_AMOUNT",
                reason: e.to_string(),
            })?,
            |_| true,
        )?;
        let withdrawal_max_per_day = parse(
            &get,
            "WITHDRAWAL_MAX_PER_DAY",
            Money::new(rust_decimal::Decimal::new(5000, 0)).map_err(|e| ConfigError {
                name: "WITHDRAWAL_MAX_PER_DAY",
                reason: e.to_string(),
            })?,
            |max| *max >= withdrawal_min_amount,
        )?;

        let database_read_url = match get("DATABASE_READ_URL") {
            None => None,
            Some(url) => {
                let url = url.trim().to_owned();
                let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
                if !postgres || url.parse::<sqlx::postgres::PgConnectOptions>().is_err() {
                    return Err(ConfigError {
                        name: "DATABASE_READ_URL",
                        reason: "must be a PostgreSQL URL such as \
                                 postgres://user@replica:5432/bondhu"
                            .to_owned(),
                    });
                }
                Some(SecretString::from(url))
            }
        };
        if database_read_url.is_none() && get("DATABASE_READ_MAX_CONNECTIONS").is_some() {
            return Err(ConfigError {
                name: "DATABASE_READ_MAX_CONNECTIONS",
                reason: "only applies with DATABASE_READ_URL, which is not set".to_owned(),
            });
        }
        let database_read_max_connections = parse(&get, "DATABASE_READ_MAX_CONNECTIONS", 8, |n| {
            (1..=1000).contains(n)
        })?;

        let whatsapp_api_url = http_url(
            "WHATSAPP_API_URL",
            get("WHATSAPP_API_URL"),
            DEFAULT_WHATSAPP_API_URL,
        )?;
        let whatsapp = match both(&get, "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID")? {
            None => None,
            Some((access_token, phone_number_id)) => {
                let phone_number_id = phone_number_id.trim().to_owned();
                // It becomes a path segment of every request: digits only, as Meta issues it.
                if phone_number_id.len() > 32
                    || !phone_number_id.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(ConfigError {
                        name: "WHATSAPP_PHONE_NUMBER_ID",
                        reason: "must be the numeric id Meta shows for the business number"
                            .to_owned(),
                    });
                }
                Some(WhatsappConfig {
                    api_url: whatsapp_api_url,
                    access_token: access_token.trim().to_owned().into(),
                    phone_number_id,
                })
            }
        };
        let sms_api_url = http_url("SMS_API_URL", get("SMS_API_URL"), DEFAULT_SMS_API_URL)?;
        let sms = match both(&get, "SMS_API_TOKEN", "SMS_SID")? {
            None => None,
            Some((api_token, sid)) => {
                let sid = sid.trim().to_owned();
                if sid.chars().count() > 20 || sid.contains(char::is_whitespace) {
                    return Err(ConfigError {
                        name: "SMS_SID",
                        reason: "must be the sender id SSL Wireless assigned (at most 20 \
                                 characters, no spaces)"
                            .to_owned(),
                    });
                }
                Some(SslWirelessConfig {
                    api_url: sms_api_url,
                    api_token: api_token.trim().to_owned().into(),
                    sid,
                })
            }
        };

        let couriers = CourierWebhooks {
            steadfast_token: webhook_secret(&get, "STEADFAST_WEBHOOK_TOKEN")?,
            pathao_secret: webhook_secret(&get, "PATHAO_WEBHOOK_SECRET")?,
            pathao_integration_secret: {
                let value = get("PATHAO_WEBHOOK_INTEGRATION_SECRET")
                    .map_or(DEFAULT_PATHAO_INTEGRATION_SECRET.to_owned(), |v| {
                        v.trim().to_owned()
                    });
                // It is sent back as a header value.
                if value.parse::<axum::http::HeaderValue>().is_err() || value.len() > 200 {
                    return Err(ConfigError {
                        name: "PATHAO_WEBHOOK_INTEGRATION_SECRET",
                        reason: "must be the printable value Pathao's panel shows".to_owned(),
                    });
                }
                value.into()
            },
        };

        Ok(Self {
            database_url: get("DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
                .into(),
            database_max_connections: parse(&get, "DATABASE_MAX_CONNECTIONS", 16, |n| {
                (1..=1000).contains(n)
            })?,
            database_acquire_timeout: Duration::from_secs(parse(
                &get,
                "DATABASE_ACQUIRE_TIMEOUT_SECS",
                5,
                |n| (1..=300).contains(n),
            )?),
            database_lean_max_connections: parse(&get, "DATABASE_LEAN_MAX_CONNECTIONS", 8, |n| {
                (1..=1000).contains(n)
            })?,
            database_read_url,
            database_read_max_connections,
            database_read_max_lag: Duration::from_secs(parse(
                &get,
                "DATABASE_READ_MAX_LAG_SECS",
                30,
                |n| (0..=86_400).contains(n),
            )?),
            database_idle_in_transaction_timeout: Duration::from_secs(parse(
                &get,
                "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECS",
                60,
                |n| (0..=86_400).contains(n),
            )?),
            host: parse(&get, "HOST", IpAddr::from([127, 0, 0, 1]), |_| true)?,
            port: parse(&get, "PORT", 3001, |_| true)?,
            metrics_addr: get("METRICS_ADDR")
                .map(|addr| {
                    addr.trim().parse().map_err(|_| ConfigError {
                        name: "METRICS_ADDR",
                        reason: "expected host:port, such as 127.0.0.1:9090".to_owned(),
                    })
                })
                .transpose()?,
            jwt_secret,
            request_timeout: Duration::from_secs(parse(&get, "REQUEST_TIMEOUT_SECS", 15, |n| {
                (1..=600).contains(n)
            })?),
            body_limit_bytes: parse(&get, "BODY_LIMIT_BYTES", 64 * 1024, |n| {
                (1024..=16 * 1024 * 1024).contains(n)
            })?,
            log_format: parse(&get, "LOG_FORMAT", LogFormat::Pretty, |_| true)?,
            cors_allowed_origins: cors_origins(get("CORS_ALLOWED_ORIGINS"))?,
            shop_url: http_url("SHOP_URL", get("SHOP_URL"), DEFAULT_ORIGIN)?,
            public_url: http_url("PUBLIC_URL", get("PUBLIC_URL"), DEFAULT_PUBLIC_URL)?,
            shop_name: shop_name(get("SHOP_NAME"))?,
            fraud_hash_secret,
            trust_proxy_headers: parse(&get, "TRUST_PROXY_HEADERS", false, |_| true)?,
            public_rate_limit_per_minute: parse(&get, "PUBLIC_RATE_LIMIT_PER_MINUTE", 60, |n| {
                *n <= 1_000_000
            })?,
            login_rate_limit_per_minute: parse(&get, "LOGIN_RATE_LIMIT_PER_MINUTE", 10, |n| {
                *n <= 1_000_000
            })?,
            login_max_failures: parse(&get, "LOGIN_MAX_FAILURES", 5, |n| (1..=100).contains(n))?,
            login_lockout: Duration::from_secs(parse(&get, "LOGIN_LOCKOUT_SECS", 900, |n| {
                (1..=86_400).contains(n)
            })?),
            auth_cache_ttl: Duration::from_secs(parse(&get, "AUTH_CACHE_TTL_SECS", 5, |n| {
                *n <= 300
            })?),
            otp_secret,
            withdrawal_min_amount,
            withdrawal_max_per_day,
            jobs_interval: Duration::from_secs(parse(&get, "JOBS_INTERVAL_SECS", 30, |n| {
                (1..=86_400).contains(n)
            })?),
            reconcile_interval: Duration::from_secs(parse(
                &get,
                "RECONCILE_INTERVAL_SECS",
                86_400,
                |n| (60..=30 * 86_400).contains(n),
            )?),
            whatsapp,
            whatsapp_app_secret: get("WHATSAPP_APP_SECRET").map(SecretString::from),
            whatsapp_verify_token: get("WHATSAPP_VERIFY_TOKEN").map(SecretString::from),
            sms,
            message_send_timeout: Duration::from_secs(parse(
                &get,
                "MESSAGE_SEND_TIMEOUT_SECS",
                10,
                |n| (1..=120).contains(n),
            )?),
            messaging: MessagingConfig {
                max_attempts: parse(&get, "MESSAGE_MAX_ATTEMPTS", 8, |n| (1..=50).contains(n))?,
                daily_cap: parse(&get, "MESSAGE_DAILY_CAP", 5, |n| (1..=1000).contains(n))?,
                share_nudge_days: parse(&get, "SHARE_NUDGE_DAYS", 30, |n| (0..=3650).contains(n))?,
                poll_interval: Duration::from_millis(parse(
                    &get,
                    "MESSAGE_POLL_MILLIS",
                    1000,
                    |n| (50..=600_000).contains(n),
                )?),
                retry_base: Duration::from_secs(parse(&get, "MESSAGE_RETRY_BASE_SECS", 30, |n| {
                    (1..=3600).contains(n)
                })?),
            },
            webhooks: WebhookConfig {
                allow_private: parse(&get, "WEBHOOK_ALLOW_PRIVATE", false, |_| true)?,
                timeout: Duration::from_secs(parse(&get, "WEBHOOK_TIMEOUT_SECS", 10, |n| {
                    (1..=60).contains(n)
                })?),
                retry_base: Duration::from_secs(parse(&get, "WEBHOOK_RETRY_BASE_SECS", 30, |n| {
                    (1..=3600).contains(n)
                })?),
                poll_interval: Duration::from_millis(parse(
                    &get,
                    "WEBHOOK_POLL_MILLIS",
                    1000,
                    |n| (50..=600_000).contains(n),
                )?),
            },
            couriers,
            events_nats: events_nats(&get)?,
        })
    }

    /// The database URL, for the pool and the CLI.
    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// The read replica's URL, when one is configured.
    pub fn database_read_url(&self) -> Option<&str> {
        self.database_read_url
            .as_ref()
            .map(|url| url.expose_secret())
    }
}

/// The `EVENTS_NATS_*` variables: the relay's configuration when `EVENTS_NATS_URL` is
/// set. Any of the others without it is a mistake worth stopping for (the operator meant
/// to turn the relay on).
fn events_nats(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<EventStreamConfig>, ConfigError> {
    const OTHERS: [&str; 9] = [
        "EVENTS_NATS_STREAM",
        "EVENTS_NATS_SUBJECT_PREFIX",
        "EVENTS_NATS_TOKEN",
        "EVENTS_NATS_USER",
        "EVENTS_NATS_PASSWORD",
        "EVENTS_NATS_CREDS_FILE",
        "EVENTS_NATS_PUBLISH_TIMEOUT_SECS",
        "EVENTS_NATS_DUPLICATE_WINDOW_SECS",
        "EVENTS_NATS_POLL_MILLIS",
    ];
    let Some(urls) = get("EVENTS_NATS_URL") else {
        return match OTHERS.into_iter().find(|name| get(name).is_some()) {
            Some(name) => Err(ConfigError {
                name,
                reason: "only applies with EVENTS_NATS_URL, which is not set".to_owned(),
            }),
            None => Ok(None),
        };
    };
    let mut servers = Vec::new();
    for url in urls.split(',').map(str::trim).filter(|url| !url.is_empty()) {
        let scheme_ok = url.starts_with("nats://") || url.starts_with("tls://");
        if !scheme_ok || url.parse::<async_nats::ServerAddr>().is_err() {
            return Err(ConfigError {
                name: "EVENTS_NATS_URL",
                // The URL itself may hold a password: only its position is named.
                reason: format!(
                    "server {} must be a URL such as nats://127.0.0.1:4222 or tls://nats.example:4222",
                    servers.len() + 1
                ),
            });
        }
        servers.push(SecretString::from(url.to_owned()));
    }
    if servers.is_empty() {
        return Err(ConfigError {
            name: "EVENTS_NATS_URL",
            reason: "names no server".to_owned(),
        });
    }

    let stream = get("EVENTS_NATS_STREAM").map_or(DEFAULT_EVENTS_NATS_STREAM.to_owned(), |s| {
        s.trim().to_owned()
    });
    // JetStream's rule for stream names, and ours for a readable one.
    if stream.is_empty()
        || stream.len() > 64
        || !stream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ConfigError {
            name: "EVENTS_NATS_STREAM",
            reason: "must be 1 to 64 letters, digits, `_` or `-`, such as BONDHU_EVENTS".to_owned(),
        });
    }

    let subject_prefix = get("EVENTS_NATS_SUBJECT_PREFIX")
        .map_or(DEFAULT_EVENTS_NATS_SUBJECT_PREFIX.to_owned(), |s| {
            s.trim().to_owned()
        });
    // Tokens separated by dots, none empty and none a wildcard: the event type is appended
    // as further tokens, and the stream captures `{prefix}.>`.
    let token_ok = |token: &str| {
        !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if subject_prefix.len() > 100 || !subject_prefix.split('.').all(token_ok) {
        return Err(ConfigError {
            name: "EVENTS_NATS_SUBJECT_PREFIX",
            reason: "must be dot-separated tokens of letters, digits, `_` or `-` (no wildcards), \
                     such as bondhu.events"
                .to_owned(),
        });
    }

    let token = get("EVENTS_NATS_TOKEN");
    let user = get("EVENTS_NATS_USER");
    let password = get("EVENTS_NATS_PASSWORD");
    let creds = get("EVENTS_NATS_CREDS_FILE");
    let chosen = [
        token.is_some(),
        user.is_some() || password.is_some(),
        creds.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count();
    if chosen > 1 {
        return Err(ConfigError {
            name: "EVENTS_NATS_TOKEN",
            reason: "set at most one of EVENTS_NATS_TOKEN, EVENTS_NATS_USER with \
                     EVENTS_NATS_PASSWORD, and EVENTS_NATS_CREDS_FILE"
                .to_owned(),
        });
    }
    let auth = match (
        token,
        both(get, "EVENTS_NATS_USER", "EVENTS_NATS_PASSWORD")?,
        creds,
    ) {
        (Some(token), _, _) => NatsAuth::Token(token.trim().to_owned().into()),
        (_, Some((user, password)), _) => NatsAuth::UserPassword {
            user: user.trim().to_owned(),
            password: password.into(),
        },
        (_, _, Some(path)) => NatsAuth::CredsFile(path.trim().into()),
        _ => NatsAuth::None,
    };

    let publish_timeout =
        Duration::from_secs(parse(get, "EVENTS_NATS_PUBLISH_TIMEOUT_SECS", 5, |n| {
            (1..=60).contains(n)
        })?);
    let duplicate_window =
        Duration::from_secs(parse(get, "EVENTS_NATS_DUPLICATE_WINDOW_SECS", 600, |n| {
            (120..=86_400).contains(n)
        })?);
    // A reclaimed publication goes out again one lease (the timeout + 30 s) after the
    // attempt it repeats, a retried one at most 60 s after: both must be deduplicated.
    if duplicate_window < publish_timeout + Duration::from_secs(90) {
        return Err(ConfigError {
            name: "EVENTS_NATS_DUPLICATE_WINDOW_SECS",
            reason: "must be at least EVENTS_NATS_PUBLISH_TIMEOUT_SECS + 90 seconds".to_owned(),
        });
    }
    Ok(Some(EventStreamConfig {
        servers,
        stream,
        subject_prefix,
        auth,
        publish_timeout,
        duplicate_window,
        poll_interval: Duration::from_millis(parse(get, "EVENTS_NATS_POLL_MILLIS", 1000, |n| {
            (50..=600_000).contains(n)
        })?),
    }))
}

/// A courier's webhook secret: unset, or at least [`MIN_WEBHOOK_SECRET_LEN`] characters
/// (a short one is guessable, and the webhook moves money).
fn webhook_secret(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<SecretString>, ConfigError> {
    match get(name) {
        Some(secret) if secret.trim().chars().count() < MIN_WEBHOOK_SECRET_LEN => {
            Err(ConfigError {
                name,
                reason: format!("must be at least {MIN_WEBHOOK_SECRET_LEN} characters long"),
            })
        }
        other => Ok(other.map(|secret| secret.trim().to_owned().into())),
    }
}

/// Two variables that only work together: both set, or neither. One without the other
/// is a mistake worth stopping for, not a silent fallback to the log provider.
fn both(
    get: &impl Fn(&str) -> Option<String>,
    first: &'static str,
    second: &'static str,
) -> Result<Option<(String, String)>, ConfigError> {
    match (get(first), get(second)) {
        (None, None) => Ok(None),
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (Some(_), None) => Err(ConfigError {
            name: second,
            reason: format!("must be set when {first} is"),
        }),
        (None, Some(_)) => Err(ConfigError {
            name: first,
            reason: format!("must be set when {second} is"),
        }),
    }
}

/// Parses variable `name` as a `T`, or returns `default` when it is unset.
fn parse<T, E>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    in_range: impl Fn(&T) -> bool,
) -> Result<T, ConfigError>
where
    T: FromStr<Err = E> + fmt::Debug,
    E: fmt::Display,
{
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    let value = raw.trim().parse::<T>().map_err(|e| ConfigError {
        name,
        reason: e.to_string(),
    })?;
    if in_range(&value) {
        Ok(value)
    } else {
        Err(ConfigError {
            name,
            reason: format!("{value:?} is out of range"),
        })
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(self.database_url()))
            .field("database_max_connections", &self.database_max_connections)
            .field("database_acquire_timeout", &self.database_acquire_timeout)
            .field(
                "database_lean_max_connections",
                &self.database_lean_max_connections,
            )
            .field(
                "database_read_url",
                &self.database_read_url().map(redact_url),
            )
            .field(
                "database_read_max_connections",
                &self.database_read_max_connections,
            )
            .field("database_read_max_lag", &self.database_read_max_lag)
            .field(
                "database_idle_in_transaction_timeout",
                &self.database_idle_in_transaction_timeout,
            )
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("request_timeout", &self.request_timeout)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("log_format", &self.log_format)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("shop_url", &self.shop_url)
            .field("public_url", &self.public_url)
            .field("shop_name", &self.shop_name)
            .field(
                "fraud_hash_secret",
                &self.fraud_hash_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("trust_proxy_headers", &self.trust_proxy_headers)
            .field(
                "public_rate_limit_per_minute",
                &self.public_rate_limit_per_minute,
            )
            .field(
                "login_rate_limit_per_minute",
                &self.login_rate_limit_per_minute,
            )
            .field("login_max_failures", &self.login_max_failures)
            .field("login_lockout", &self.login_lockout)
            .field("auth_cache_ttl", &self.auth_cache_ttl)
            .field(
                "otp_secret",
                &self.otp_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("withdrawal_min_amount", &self.withdrawal_min_amount)
            .field("withdrawal_max_per_day", &self.withdrawal_max_per_day)
            .field("jobs_interval", &self.jobs_interval)
            .field("reconcile_interval", &self.reconcile_interval)
            .field("whatsapp", &self.whatsapp)
            .field(
                "whatsapp_app_secret",
                &self.whatsapp_app_secret.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "whatsapp_verify_token",
                &self.whatsapp_verify_token.as_ref().map(|_| "[redacted]"),
            )
            .field("sms", &self.sms)
            .field("message_send_timeout", &self.message_send_timeout)
            .field("messaging", &self.messaging)
            .field("webhooks", &self.webhooks)
            .field("couriers", &self.couriers)
            .field("events_nats", &self.events_nats)
            .finish()
    }
}

/// Where the TrustCart frontend runs in development.
const DEFAULT_ORIGIN: &str = "http://localhost:3000";

/// Where Bondhu answers by default (`HOST`, `PORT`), as seen from a browser.
const DEFAULT_PUBLIC_URL: &str = "http://localhost:3001";

/// The shop's name printed on cards when `SHOP_NAME` is unset.
const DEFAULT_SHOP_NAME: &str = "TrustCart";

/// The longest `SHOP_NAME`: it is printed in large type across a card 85 mm wide.
const MAX_SHOP_NAME_CHARS: usize = 40;

/// `SHOP_NAME`, trimmed: 1 to 40 characters, no control characters, and only characters
/// the card fonts have (Bangla, Latin and their punctuation): a card is never printed
/// with a box for a letter, so a name that would be is refused at start-up.
fn shop_name(raw: Option<String>) -> Result<String, ConfigError> {
    let name = raw.as_deref().map_or(DEFAULT_SHOP_NAME, str::trim);
    if name.chars().count() > MAX_SHOP_NAME_CHARS || name.contains(char::is_control) {
        return Err(ConfigError {
            name: "SHOP_NAME",
            reason: format!("must be 1 to {MAX_SHOP_NAME_CHARS} printable characters"),
        });
    }
    let missing = crate::render::text::missing_glyphs(name);
    if !missing.is_empty() {
        return Err(ConfigError {
            name: "SHOP_NAME",
            reason: format!(
                "the card fonts cannot draw {}",
                missing
                    .iter()
                    .map(|c| format!("U+{:04X}", u32::from(*c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(name.to_owned())
}

/// Exact origins (`scheme://host[:port]`, no path): a prefix match would let
/// `https://shop.com.evil.example` in (TrustCart's CORS check did).
fn cors_origins(raw: Option<String>) -> Result<Vec<String>, ConfigError> {
    let raw = raw.unwrap_or_else(|| DEFAULT_ORIGIN.to_owned());
    raw.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && origin.matches('/').count() == 2
                && origin.parse::<axum::http::HeaderValue>().is_ok();
            if valid {
                Ok(origin.to_owned())
            } else {
                Err(ConfigError {
                    name: "CORS_ALLOWED_ORIGINS",
                    reason: format!("{origin:?} is not an origin such as https://shop.example"),
                })
            }
        })
        .collect()
}

/// Variable `name` as an http(s) base URL without a trailing slash or a query, or
/// `default`.
fn http_url(name: &'static str, raw: Option<String>, default: &str) -> Result<String, ConfigError> {
    let url = raw.unwrap_or_else(|| default.to_owned());
    let url = url.trim().trim_end_matches('/');
    if (url.starts_with("http://") || url.starts_with("https://"))
        && !url.contains(char::is_whitespace)
        && !url.contains(['?', '#'])
    {
        Ok(url.to_owned())
    } else {
        Err(ConfigError {
            name,
            reason: "must be an http(s) URL without a query, such as https://shop.example"
                .to_owned(),
        })
    }
}

/// The URL with whatever precedes `@` in its authority (a user and password, or a token)
/// replaced, for logs.
pub fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_owned(),
    }
}

/// The URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:[redacted]{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = config(&[]).unwrap();
        assert_eq!(config.database_url(), DEFAULT_DATABASE_URL);
        assert_eq!(config.port, 3001);
        assert_eq!(config.host.to_string(), "127.0.0.1");
        assert!(config.jwt_secret.is_none());
        assert_eq!(config.shop_name, "TrustCart");
        assert!(config.database_read_url().is_none());
    }

    #[test]
    fn a_read_replica_has_its_own_pool_size() {
        let config = config(&[("DATABASE_READ_URL", "postgres://r@replica:5432/bondhu")]).unwrap();
        assert_eq!(
            config.database_read_url(),
            Some("postgres://r@replica:5432/bondhu")
        );
        assert_eq!(config.database_read_max_connections, 8);
        assert_eq!(config.database_read_max_lag, Duration::from_secs(30));
    }

    #[test]
    fn sessions_idle_in_a_transaction_end_after_a_minute_unless_configured() {
        let default = config(&[]).unwrap();
        assert_eq!(
            default.database_idle_in_transaction_timeout,
            Duration::from_secs(60)
        );
        let off = config(&[("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECS", "0")]).unwrap();
        assert_eq!(off.database_idle_in_transaction_timeout, Duration::ZERO);
        let err = config(&[("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECS", "-1")]).unwrap_err();
        assert_eq!(err.name, "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECS");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.name, "PORT");
        let err = config(&[("DATABASE_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert_eq!(err.name, "DATABASE_MAX_CONNECTIONS");
        let err = config(&[("DATABASE_READ_URL", "replica:5432")]).unwrap_err();
        assert_eq!(err.name, "DATABASE_READ_URL");
        let err = config(&[("DATABASE_READ_MAX_CONNECTIONS", "4")]).unwrap_err();
        assert_eq!(err.name, "DATABASE_READ_MAX_CONNECTIONS");
        let err = config(&[
            ("DATABASE_READ_URL", "postgres://r@replica/bondhu"),
            ("DATABASE_READ_MAX_CONNECTIONS", "0"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "DATABASE_READ_MAX_CONNECTIONS");
        let err = config(&[("CORS_ALLOWED_ORIGINS", "https://shop.example/")]).unwrap_err();
        assert_eq!(err.name, "CORS_ALLOWED_ORIGINS");
        let err = config(&[("SHOP_URL", "javascript:alert(1)")]).unwrap_err();
        assert_eq!(err.name, "SHOP_URL");
        let long_name = "x".repeat(41);
        let err = config(&[("SHOP_NAME", long_name.as_str())]).unwrap_err();
        assert_eq!(err.name, "SHOP_NAME");
        let err = config(&[("SHOP_NAME", "百货")]).unwrap_err();
        assert_eq!(err.name, "SHOP_NAME");
        assert!(config(&[("SHOP_NAME", "বন্ধু বাজার")]).is_ok());
        let err = config(&[("WITHDRAWAL_MIN_AMOUNT", "10.001")]).unwrap_err();
        assert_eq!(err.name, "WITHDRAWAL_MIN_AMOUNT");
        let err = config(&[
            ("WITHDRAWAL_MIN_AMOUNT", "600"),
            ("WITHDRAWAL_MAX_PER_DAY", "500"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "WITHDRAWAL_MAX_PER_DAY");
        let err = config(&[("JWT_SECRET", "short")]).unwrap_err();
        assert_eq!(err.name, "JWT_SECRET");
        assert!(
            !err.to_string().contains("short"),
            "the secret must not be echoed"
        );
    }

    #[test]
    fn courier_webhooks_fail_closed_and_are_never_printed() {
        let none = config(&[]).unwrap();
        assert!(none.couriers.steadfast_token.is_none() && none.couriers.pathao_secret.is_none());
        assert_eq!(
            none.couriers.pathao_integration_secret.expose_secret(),
            DEFAULT_PATHAO_INTEGRATION_SECRET
        );
        let err = config(&[("STEADFAST_WEBHOOK_TOKEN", "short")]).unwrap_err();
        assert_eq!(err.name, "STEADFAST_WEBHOOK_TOKEN");
        let err = config(&[("PATHAO_WEBHOOK_SECRET", "short")]).unwrap_err();
        assert_eq!(err.name, "PATHAO_WEBHOOK_SECRET");
        let set = config(&[
            ("STEADFAST_WEBHOOK_TOKEN", "steadfast-token-0123456789"),
            ("PATHAO_WEBHOOK_SECRET", "pathao-secret-0123456789"),
        ])
        .unwrap();
        let printed = format!("{set:?}");
        assert!(!printed.contains("steadfast-token") && !printed.contains("pathao-secret"));
        assert!(!printed.contains(DEFAULT_PATHAO_INTEGRATION_SECRET));
    }

    #[test]
    fn providers_are_configured_in_pairs() {
        let none = config(&[]).unwrap();
        assert!(none.whatsapp.is_none() && none.sms.is_none());
        assert_eq!(none.message_send_timeout, Duration::from_secs(10));

        let err = config(&[("WHATSAPP_ACCESS_TOKEN", "EAAG-secret")]).unwrap_err();
        assert_eq!(err.name, "WHATSAPP_PHONE_NUMBER_ID");
        let err = config(&[("WHATSAPP_PHONE_NUMBER_ID", "106540352242922")]).unwrap_err();
        assert_eq!(err.name, "WHATSAPP_ACCESS_TOKEN");
        let err = config(&[("SMS_API_TOKEN", "token")]).unwrap_err();
        assert_eq!(err.name, "SMS_SID");
        let err = config(&[
            ("WHATSAPP_ACCESS_TOKEN", "EAAG-secret"),
            ("WHATSAPP_PHONE_NUMBER_ID", "1065/../me"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "WHATSAPP_PHONE_NUMBER_ID");
        let err = config(&[
            ("SMS_API_TOKEN", "t"),
            ("SMS_SID", "A SID THAT IS FAR TOO LONG"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "SMS_SID");
        let err = config(&[("MESSAGE_SEND_TIMEOUT_SECS", "0")]).unwrap_err();
        assert_eq!(err.name, "MESSAGE_SEND_TIMEOUT_SECS");
        assert!(!none.webhooks.allow_private);
        assert_eq!(none.webhooks.timeout, Duration::from_secs(10));
        let err = config(&[("WEBHOOK_ALLOW_PRIVATE", "yes please")]).unwrap_err();
        assert_eq!(err.name, "WEBHOOK_ALLOW_PRIVATE");
        let err = config(&[("WEBHOOK_TIMEOUT_SECS", "0")]).unwrap_err();
        assert_eq!(err.name, "WEBHOOK_TIMEOUT_SECS");
        let err = config(&[("WHATSAPP_API_URL", "graph.facebook.com")]).unwrap_err();
        assert_eq!(err.name, "WHATSAPP_API_URL");

        let both = config(&[
            ("WHATSAPP_ACCESS_TOKEN", "EAAG-secret"),
            ("WHATSAPP_PHONE_NUMBER_ID", "106540352242922"),
            ("SMS_API_TOKEN", "ssl-secret"),
            ("SMS_SID", "BONDHU"),
            ("SMS_API_URL", "https://sms.example/"),
        ])
        .unwrap();
        let whatsapp = both.whatsapp.unwrap();
        assert_eq!(whatsapp.api_url, DEFAULT_WHATSAPP_API_URL);
        assert_eq!(whatsapp.phone_number_id, "106540352242922");
        let sms = both.sms.unwrap();
        assert_eq!(sms.api_url, "https://sms.example");
        assert_eq!(sms.sid, "BONDHU");
    }

    #[test]
    fn the_event_relay_is_off_unless_its_url_is_set_and_checked_when_it_is() {
        let off = config(&[]).unwrap();
        assert!(off.events_nats.is_none());
        let err = config(&[("EVENTS_NATS_STREAM", "EVENTS")]).unwrap_err();
        assert_eq!(err.name, "EVENTS_NATS_STREAM");
        assert!(err.reason.contains("EVENTS_NATS_URL"), "{err}");

        let on = config(&[("EVENTS_NATS_URL", "nats://127.0.0.1:4222")])
            .unwrap()
            .events_nats
            .unwrap();
        assert_eq!(on.stream, DEFAULT_EVENTS_NATS_STREAM);
        assert_eq!(on.subject_prefix, DEFAULT_EVENTS_NATS_SUBJECT_PREFIX);
        assert_eq!(on.publish_timeout, Duration::from_secs(5));
        assert_eq!(on.duplicate_window, Duration::from_secs(600));
        assert_eq!(on.poll_interval, Duration::from_secs(1));
        assert!(matches!(on.auth, NatsAuth::None));

        let two = config(&[(
            "EVENTS_NATS_URL",
            "nats://a.example:4222, tls://b.example:4222",
        )])
        .unwrap();
        assert_eq!(two.events_nats.unwrap().servers.len(), 2);

        let url = ("EVENTS_NATS_URL", "nats://127.0.0.1:4222");
        for (name, value) in [
            ("EVENTS_NATS_URL", "http://127.0.0.1:4222"),
            ("EVENTS_NATS_URL", "127.0.0.1:4222"),
            ("EVENTS_NATS_URL", ","),
            ("EVENTS_NATS_STREAM", "bondhu.events"),
            ("EVENTS_NATS_STREAM", "has space"),
            ("EVENTS_NATS_SUBJECT_PREFIX", "bondhu.>"),
            ("EVENTS_NATS_SUBJECT_PREFIX", "bondhu..events"),
            ("EVENTS_NATS_SUBJECT_PREFIX", "bondhu.events."),
            ("EVENTS_NATS_PUBLISH_TIMEOUT_SECS", "0"),
            ("EVENTS_NATS_DUPLICATE_WINDOW_SECS", "60"),
            ("EVENTS_NATS_POLL_MILLIS", "10"),
            ("EVENTS_NATS_PASSWORD", "secret-password"),
        ] {
            let vars = if name == "EVENTS_NATS_URL" {
                vec![(name, value)]
            } else {
                vec![url, (name, value)]
            };
            let err = config(&vars).unwrap_err();
            let expected = if name == "EVENTS_NATS_PASSWORD" {
                "EVENTS_NATS_USER"
            } else {
                name
            };
            assert_eq!(err.name, expected, "{name}={value}");
        }
        let err = config(&[
            url,
            ("EVENTS_NATS_PUBLISH_TIMEOUT_SECS", "60"),
            ("EVENTS_NATS_DUPLICATE_WINDOW_SECS", "120"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "EVENTS_NATS_DUPLICATE_WINDOW_SECS");
        let err = config(&[
            url,
            ("EVENTS_NATS_TOKEN", "a-token"),
            ("EVENTS_NATS_CREDS_FILE", "/etc/bondhu/nats.creds"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "EVENTS_NATS_TOKEN");
    }

    #[test]
    fn nats_credentials_are_never_printed() {
        let with_token = config(&[
            (
                "EVENTS_NATS_URL",
                "nats://url-user:url-password@nats.example:4222",
            ),
            ("EVENTS_NATS_TOKEN", "the-nats-token"),
        ])
        .unwrap();
        let printed = format!("{with_token:?}");
        assert!(!printed.contains("url-password") && !printed.contains("the-nats-token"));
        assert!(
            printed.contains("nats://[redacted]@nats.example:4222"),
            "{printed}"
        );
        let token_in_url =
            config(&[("EVENTS_NATS_URL", "nats://s3cr3t-token@nats.example:4222")]).unwrap();
        assert!(!format!("{token_in_url:?}").contains("s3cr3t"));
        let with_password = config(&[
            ("EVENTS_NATS_URL", "nats://nats.example:4222"),
            ("EVENTS_NATS_USER", "bondhu"),
            ("EVENTS_NATS_PASSWORD", "the-nats-password"),
        ])
        .unwrap();
        let printed = format!("{with_password:?}");
        assert!(!printed.contains("the-nats-password") && printed.contains("bondhu"));
        let err = config(&[("EVENTS_NATS_URL", "nats://user:pass word@host:4222 x")]).unwrap_err();
        assert!(!err.to_string().contains("pass"), "{err}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = config(&[
            ("DATABASE_URL", "postgres://bondhu:hunter2@db:5432/bondhu"),
            (
                "DATABASE_READ_URL",
                "postgres://bondhu:swordfish@replica:5432/bondhu",
            ),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("WHATSAPP_ACCESS_TOKEN", "EAAG-whatsapp-secret"),
            ("WHATSAPP_PHONE_NUMBER_ID", "106540352242922"),
            ("WHATSAPP_APP_SECRET", "app-secret-value"),
            ("WHATSAPP_VERIFY_TOKEN", "verify-token-value"),
            ("SMS_API_TOKEN", "ssl-sms-secret"),
            ("SMS_SID", "BONDHU"),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("swordfish"));
        assert!(debug.contains("bondhu:[redacted]@replica"));
        assert!(!debug.contains("0123456789abcdef"));
        for secret in [
            "whatsapp-secret",
            "app-secret-value",
            "verify-token-value",
            "ssl-sms-secret",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked");
        }
        assert!(debug.contains("106540352242922"));
        assert!(debug.contains("bondhu:[redacted]@db"));
    }
}
