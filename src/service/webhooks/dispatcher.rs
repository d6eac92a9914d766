//! The webhook dispatcher: delivers what `webhook_deliveries` holds, in every instance at
//! once (the protocol of [`crate::service::outbox`]).
//!
//! One round:
//! 1. **Claim** (one statement): up to [`BATCH`] due deliveries, `FOR UPDATE SKIP LOCKED`,
//!    marked `sending` under a lease with one attempt more (a delivery of a subscription
//!    deactivated meanwhile is cancelled instead).
//! 2. **Send**, with no transaction open, all at once: `POST` the event's JSON, signed
//!    ([`super::signing`]), through the guarded client ([`super::guard`]), with
//!    `WEBHOOK_TIMEOUT_SECS` for the whole attempt, redirects included.
//! 3. **Record** each outcome in one statement fenced by the attempt number:
//!    - 2xx: `delivered`;
//!    - 410 Gone: the receiver says the endpoint is gone for good, so the delivery is
//!      `dead` and the subscription is deactivated (`gone`), its queued deliveries
//!      cancelled;
//!    - anything else (another status, a timeout, no connection, an address the guard
//!      refused): `queued` again after [`Backoff::delay`], or `dead` when that would be
//!      past [`RETRY_WINDOW`] from the delivery's creation (or its last re-send).
//!
//! A dispatcher that crashes between 2 and 3 leaves its rows `sending`; when the lease
//! ends another sends them again with the same `Bondhu-Event-Id`, which receivers
//! deduplicate by (delivery is at least once).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

use super::guard;
use super::signing::{EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signature_header};
use crate::config::WebhookConfig;
use crate::db;
use crate::db::webhooks::{Claimed, Outcome};
use crate::domain::event::EventEnvelope;
use crate::domain::webhook::{DeliveryStatus, DomainEventType};
use crate::failpoint::failpoint;
use crate::providers::{retry_after, sanitize, transport_error};
use crate::service::outbox::{self, Backoff, RoundCounts, lease_secs};

/// Deliveries claimed per round.
pub const BATCH: i64 = 16;

/// How long a delivery is retried: from its creation (or its last re-send).
pub const RETRY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2 * 3600);

/// The lease beyond the attempt's own timeout: a live dispatcher never loses a delivery it
/// is sending; a crashed one's go out again after it.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Everything a webhook dispatcher needs.
#[derive(Clone)]
pub struct WebhookDispatcher {
    client: reqwest::Client,
    /// `WEBHOOK_ALLOW_PRIVATE`.
    pub allow_private: bool,
    /// The wait before a retry.
    pub backoff: Backoff,
    /// How long a delivery is retried.
    pub window: Duration,
    /// How long a claim lasts.
    pub lease: Duration,
}

/// What a round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookRound {
    /// Accepted by the receiver.
    pub delivered: u32,
    /// To be tried again later.
    pub retried: u32,
    /// Given up.
    pub dead: u32,
    /// Not sent: the subscription was deactivated.
    pub cancelled: u32,
}

impl RoundCounts for WebhookRound {
    /// Deliveries the round dealt with.
    fn total(&self) -> u32 {
        self.delivered + self.retried + self.dead + self.cancelled
    }

    fn add(&mut self, other: Self) {
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.dead += other.dead;
        self.cancelled += other.cancelled;
    }
}

/// A claimed delivery, ready to send.
struct Ready {
    id: i64,
    attempt: i32,
    subscription_id: i64,
    window_started_at: DateTime<Utc>,
    url: String,
    secrets: Vec<SecretString>,
    event_id: Uuid,
    event_type: DomainEventType,
    body: Vec<u8>,
}

/// How an attempt ended.
enum Answer {
    Delivered,
    Gone,
    Failed { retry_after: Option<Duration> },
}

/// An attempt's result, before it is recorded.
struct Attempted {
    answer: Answer,
    status_code: Option<i32>,
    error: Option<String>,
    response_ms: Option<i32>,
}

impl WebhookDispatcher {
    /// The dispatcher of `config`.
    pub fn new(config: &WebhookConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: guard::client(config.timeout, config.allow_private)?,
            allow_private: config.allow_private,
            backoff: Backoff {
                base: config.retry_base,
                max: MAX_BACKOFF,
            },
            window: RETRY_WINDOW,
            lease: config.timeout + LEASE_MARGIN,
        })
    }

    /// Runs one round: claims, sends and records up to [`BATCH`] deliveries.
    pub async fn round(&self, pool: &PgPool) -> sqlx::Result<WebhookRound> {
        let mut round = WebhookRound::default();
        let claimed = db::webhooks::claim(pool, BATCH, lease_secs(self.lease)).await?;
        if claimed.iter().any(|d| d.status == DeliveryStatus::Sending) {
            failpoint!("webhook.claimed");
        }
        let mut sends = tokio::task::JoinSet::new();
        for delivery in claimed {
            if delivery.status != DeliveryStatus::Sending {
                round.cancelled += 1;
                continue;
            }
            let ready = ready(delivery);
            let dispatcher = self.clone();
            sends.spawn(async move {
                let attempted = dispatcher.attempt(&ready).await;
                (ready, attempted)
            });
        }
        while let Some(joined) = sends.join_next().await {
            let Ok((ready, attempted)) = joined else {
                // A send panicked: the lease ends and the delivery is tried again.
                continue;
            };
            failpoint!("webhook.answered");
            self.record(pool, &ready, attempted, &mut round).await?;
        }
        Ok(round)
    }

    /// Runs rounds until nothing is due (at most `max_rounds`).
    pub async fn drain(&self, pool: &PgPool, max_rounds: u32) -> sqlx::Result<WebhookRound> {
        outbox::drain(max_rounds, || self.round(pool)).await
    }

    /// Step 2: one signed POST.
    async fn attempt(&self, ready: &Ready) -> Attempted {
        let failed = |error: String| Attempted {
            answer: Answer::Failed { retry_after: None },
            status_code: None,
            error: Some(error),
            response_ms: None,
        };
        // The client resolves names through the guard; an IP literal it never resolves,
        // so that is checked here (the URL was checked when saved; the rule may be
        // stricter now).
        let url = match guard::parse_url(&ready.url)
            .and_then(|url| guard::check_literal(&url, self.allow_private).map(|()| url))
        {
            Ok(url) => url,
            Err(guard::UrlProblem::Refused(refused)) => {
                return failed(format!("refused: {refused}"));
            }
            Err(problem) => return failed(format!("refused: the URL {problem}")),
        };
        let secrets: Vec<&str> = ready.secrets.iter().map(|s| s.expose_secret()).collect();
        let signature = signature_header(Utc::now().timestamp(), &ready.body, &secrets);
        let started = Instant::now();
        let sent = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(EVENT_ID_HEADER, ready.event_id.to_string())
            .header(EVENT_TYPE_HEADER, ready.event_type.as_str())
            .header(SIGNATURE_HEADER, signature)
            .body(ready.body.clone())
            .send()
            .await;
        let response_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        match sent {
            Ok(response) => {
                let status = response.status();
                let hint = retry_after(response.headers());
                // The body is not read: a receiver's answer is its status.
                drop(response);
                let status_code = Some(i32::from(status.as_u16()));
                if status.is_success() {
                    Attempted {
                        answer: Answer::Delivered,
                        status_code,
                        error: None,
                        response_ms: Some(response_ms),
                    }
                } else {
                    Attempted {
                        answer: if status == reqwest::StatusCode::GONE {
                            Answer::Gone
                        } else {
                            Answer::Failed { retry_after: hint }
                        },
                        status_code,
                        error: Some(format!("the receiver answered {status}")),
                        response_ms: Some(response_ms),
                    }
                }
            }
            Err(err) => {
                let reason = guard::guard_reason(&err)
                    .unwrap_or_else(|| transport_error("webhook", &err).reason().to_owned());
                Attempted {
                    response_ms: Some(response_ms),
                    ..failed(reason)
                }
            }
        }
    }

    /// Step 3: records an attempt's outcome, fenced by its number.
    async fn record(
        &self,
        pool: &PgPool,
        ready: &Ready,
        attempted: Attempted,
        round: &mut WebhookRound,
    ) -> sqlx::Result<()> {
        let secrets: Vec<&str> = ready.secrets.iter().map(|s| s.expose_secret()).collect();
        let error = attempted.error.as_deref().map(|e| sanitize(e, &secrets));
        let outcome = Outcome {
            status_code: attempted.status_code,
            error: error.as_deref(),
            response_ms: attempted.response_ms,
        };
        match attempted.answer {
            Answer::Delivered => {
                db::webhooks::mark_delivered(pool, ready.id, ready.attempt, &outcome).await?;
                round.delivered += 1;
            }
            Answer::Gone => {
                let mut tx = pool.begin().await?;
                if db::webhooks::mark_failed(&mut *tx, ready.id, ready.attempt, None, &outcome)
                    .await?
                {
                    db::webhooks::deactivate(&mut *tx, ready.subscription_id, "gone").await?;
                    db::webhooks::cancel_queued(&mut *tx, ready.subscription_id).await?;
                }
                tx.commit().await?;
                tracing::warn!(
                    delivery.id = ready.id,
                    subscription.id = ready.subscription_id,
                    "the receiver answered 410 Gone: subscription deactivated"
                );
                round.dead += 1;
            }
            Answer::Failed { retry_after } => {
                let wait = self.backoff.delay(ready.attempt, retry_after);
                let next =
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                let window_end = ready.window_started_at
                    + chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
                let next = (next <= window_end).then_some(next);
                db::webhooks::mark_failed(pool, ready.id, ready.attempt, next, &outcome).await?;
                let reason = outcome.error.unwrap_or_default();
                if next.is_some() {
                    tracing::info!(delivery.id = ready.id, attempt = ready.attempt, %reason, "webhook delivery failed; retrying later");
                    round.retried += 1;
                } else {
                    tracing::warn!(delivery.id = ready.id, attempt = ready.attempt, %reason, "webhook delivery given up");
                    round.dead += 1;
                }
            }
        }
        Ok(())
    }
}

/// A claimed delivery with its body built and its secrets wrapped.
fn ready(claimed: Claimed) -> Ready {
    // The body of every delivery: the event, as the outbox holds it.
    let body = EventEnvelope {
        id: claimed.event_id,
        event_type: claimed.event_type,
        created_at: claimed.event_created_at.into(),
        data: &claimed.payload,
    }
    .to_bytes();
    let mut secrets = vec![SecretString::from(claimed.secret)];
    secrets.extend(claimed.previous_secret.map(SecretString::from));
    Ready {
        id: claimed.id,
        attempt: claimed.attempts,
        subscription_id: claimed.subscription_id,
        window_started_at: claimed.window_started_at,
        url: claimed.url,
        secrets,
        event_id: claimed.event_id,
        event_type: claimed.event_type,
        body,
    }
}
