//! The event relay: publishes the event outbox to NATS JetStream, in every instance at once
//! (the protocol of [`crate::service::outbox`]), for shops that want a stream rather than
//! webhooks (docs/EVENTS.md).
//!
//! While the relay is on (`event_relay` has its row: [`EventRelay::enable`] at start-up),
//! `emit_event` writes a publication record beside every event, in the event's
//! transaction. One round:
//! 1. **Claim** (one statement): up to [`BATCH`] due records, `FOR UPDATE SKIP LOCKED`,
//!    marked `publishing` under a lease with one attempt more; committed at once.
//! 2. **Publish**, with no transaction open, all at once and in event order: the event's
//!    envelope (the bytes a webhook gets) to `{prefix}.{type}`, with `Nats-Msg-Id` = the
//!    event id; then await every acknowledgement (`EVENTS_NATS_PUBLISH_TIMEOUT_SECS`).
//! 3. **Record** in one statement per outcome, fenced by the attempt number: acknowledged
//!    ones `published` at their stream sequence; failed ones `queued` again after
//!    [`Backoff::delay`] (from 1 s, at most [`MAX_BACKOFF`]). A relay retries for ever: an
//!    event waits, it is never given up.
//!
//! A relay that dies between 2 and 3 leaves its records `publishing`; when the lease ends
//! another publishes them again with the same message id, and JetStream, which remembers
//! ids for the stream's duplicate window (`EVENTS_NATS_DUPLICATE_WINDOW_SECS`, longer than
//! a lease plus a backoff), stores nothing new and answers with the first copy's sequence.
//! So the relay is at least once, and the stream holds each event once unless a record
//! stays unrecorded for longer than the window.
//!
//! While the client is not connected, a round claims nothing: events wait in the outbox
//! (the depth and lag metrics grow) and go out once it reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::connection::State;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use async_nats::{ConnectOptions, Event, ServerAddr};
use chrono::Utc;
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::config::{EventStreamConfig, NatsAuth};
use crate::db;
use crate::db::event_publications::{Claimed, Failed, Published};
use crate::domain::event::EventEnvelope;
use crate::domain::webhook::DomainEventType;
use crate::service::outbox::{self, Backoff, RoundCounts, lease_secs};
use crate::telemetry::metrics;

/// Records claimed per round.
pub const BATCH: i64 = 100;

/// The first retry's delay.
pub const RETRY_BASE: Duration = Duration::from_secs(1);

/// The longest wait between two attempts: well inside the smallest duplicate window
/// (120 s), so a retry of a publication JetStream did store is still recognised.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The lease beyond the publish timeout: a live relay never loses a record it is
/// publishing; a crashed one's go out again after it.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The header that carries the event's type (as webhooks have it), beside `Nats-Msg-Id`.
pub const EVENT_TYPE_HEADER: &str = "Bondhu-Event-Type";

/// Why a round failed as a whole (a single event's failure is recorded, not returned).
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database: claiming or recording.
    #[error("the event relay's database work failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The stream could not be found or created.
    #[error("the event stream {stream} could not be made ready: {reason}")]
    Stream {
        /// The stream's name.
        stream: String,
        /// What JetStream said.
        reason: String,
    },
}

/// What a round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayRound {
    /// Stored in the stream by this round.
    pub published: u32,
    /// Already in the stream (a repeat within the duplicate window, after a crash or a lost
    /// acknowledgement): recorded with the first copy's sequence.
    pub duplicates: u32,
    /// To be tried again later.
    pub failed: u32,
}

impl RoundCounts for RelayRound {
    /// Records the round dealt with.
    fn total(&self) -> u32 {
        self.published + self.duplicates + self.failed
    }

    fn add(&mut self, other: Self) {
        self.published += other.published;
        self.duplicates += other.duplicates;
        self.failed += other.failed;
    }
}

/// A connection to NATS and everything a relay needs. Cloning shares the connection.
#[derive(Clone)]
pub struct EventRelay {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    stream: String,
    subject_prefix: String,
    duplicate_window: Duration,
    /// The wait before a retry.
    pub backoff: Backoff,
    /// How long a claim lasts.
    pub lease: Duration,
    /// Whether this connection has seen the stream (found or created it).
    stream_ready: Arc<AtomicBool>,
}

impl EventRelay {
    /// Connects to `config`'s servers in the background: this returns at once, NATS being
    /// down or not (money paths never wait for it), and the client reconnects for ever.
    /// Fails only on a credentials file it cannot read.
    pub async fn connect(config: &EventStreamConfig) -> anyhow::Result<Self> {
        let servers = config
            .servers
            .iter()
            .map(|url| url.expose_secret().parse::<ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .context("EVENTS_NATS_URL")?;
        let options = ConnectOptions::new()
            .name("bondhu-event-relay")
            .retry_on_initial_connect()
            .max_reconnects(None)
            // Back within 2 s of the server's return (the default waits up to 4 s).
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64).saturating_mul(100).min(2000))
            })
            .event_callback(|event| async move {
                match event {
                    Event::Connected => tracing::info!("the event relay is connected to NATS"),
                    Event::Disconnected => tracing::warn!(
                        "the event relay lost NATS; events wait in the outbox until it is back"
                    ),
                    other => tracing::warn!(event = %other, "the event relay's NATS connection"),
                }
            });
        let options = match &config.auth {
            NatsAuth::None => options,
            NatsAuth::Token(token) => options.token(token.expose_secret().to_owned()),
            NatsAuth::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.expose_secret().to_owned())
            }
            NatsAuth::CredsFile(path) => options
                .credentials_file(path)
                .await
                .context("reading EVENTS_NATS_CREDS_FILE")?,
        };
        let client = options
            .connect(servers)
            .await
            .context("starting the NATS client")?;
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(config.publish_timeout)
            .build(client.clone());
        Ok(Self {
            client,
            jetstream,
            stream: config.stream.clone(),
            subject_prefix: config.subject_prefix.clone(),
            duplicate_window: config.duplicate_window,
            backoff: Backoff {
                base: RETRY_BASE,
                max: MAX_BACKOFF,
            },
            lease: config.publish_timeout + LEASE_MARGIN,
            stream_ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Turns the relay on in the database: from now on every event gets a publication
    /// record (events committed before are not published). Every instance calls it at
    /// start-up; the first one logs it.
    pub async fn enable(&self, pool: &PgPool) -> sqlx::Result<()> {
        if db::event_publications::enable(pool, &self.stream).await? {
            tracing::info!(
                stream = %self.stream,
                "the event relay is on: events from now on are published to NATS"
            );
        }
        Ok(())
    }

    /// Whether the client is connected to a server now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// The subject event type `event_type` is published to.
    pub fn subject(&self, event_type: DomainEventType) -> String {
        format!("{}.{}", self.subject_prefix, event_type.as_str())
    }

    /// Finds the stream, or creates it: file storage, capturing `{prefix}.>`, with the
    /// configured duplicate window. An existing stream is left as its operator configured
    /// it; a duplicate window shorter than ours, or subjects that miss ours, are logged.
    pub async fn ensure_stream(&self) -> Result<(), RelayError> {
        let subjects = format!("{}.>", self.subject_prefix);
        let wanted = stream::Config {
            name: self.stream.clone(),
            subjects: vec![subjects.clone()],
            duplicate_window: self.duplicate_window,
            storage: stream::StorageType::File,
            description: Some("Bondhu's domain events (docs/EVENTS.md)".to_owned()),
            ..Default::default()
        };
        let found = self
            .jetstream
            .get_or_create_stream(wanted)
            .await
            .map_err(|err| RelayError::Stream {
                stream: self.stream.clone(),
                reason: err.to_string(),
            })?;
        let config = &found.cached_info().config;
        if config.duplicate_window < self.duplicate_window {
            tracing::warn!(
                stream = %self.stream,
                stream_window_secs = config.duplicate_window.as_secs(),
                wanted_secs = self.duplicate_window.as_secs(),
                "the stream's duplicate window is shorter than EVENTS_NATS_DUPLICATE_WINDOW_SECS: \
                 a publication repeated after a crash may be stored twice"
            );
        }
        if !config.subjects.iter().any(|s| s == &subjects || s == ">") {
            tracing::warn!(
                stream = %self.stream,
                subjects = ?config.subjects,
                wanted = %subjects,
                "the stream may not capture every event subject"
            );
        }
        self.stream_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Runs one round: claims, publishes and records up to [`BATCH`] events. Claims
    /// nothing while the client is not connected.
    pub async fn round(&self, pool: &PgPool) -> Result<RelayRound, RelayError> {
        let connected = self.is_connected();
        metrics::event_relay_connected(connected);
        if !connected {
            return Ok(RelayRound::default());
        }
        if !self.stream_ready.load(Ordering::Acquire) {
            self.ensure_stream().await?;
        }
        let claimed = db::event_publications::claim(pool, BATCH, lease_secs(self.lease)).await?;
        if claimed.is_empty() {
            return Ok(RelayRound::default());
        }
        let (published, failed, round) = self.publish(claimed).await;
        db::event_publications::mark_published(pool, &published).await?;
        db::event_publications::mark_failed(pool, &failed).await?;
        metrics::events_relayed(&round);
        Ok(round)
    }

    /// Runs rounds until nothing is due (at most `max_rounds`).
    pub async fn drain(&self, pool: &PgPool, max_rounds: u32) -> Result<RelayRound, RelayError> {
        outbox::drain(max_rounds, || self.round(pool)).await
    }

    /// Step 2: sends every claimed event in order, then awaits their acknowledgements
    /// together (each within the publish timeout).
    async fn publish(&self, claimed: Vec<Claimed>) -> (Vec<Published>, Vec<Failed>, RelayRound) {
        let mut round = RelayRound::default();
        let mut published = Vec::with_capacity(claimed.len());
        let mut failed = Vec::new();
        let mut acks = tokio::task::JoinSet::new();
        let mut stream_missing = false;
        for event in &claimed {
            let body = EventEnvelope {
                id: event.event_id,
                event_type: event.event_type,
                created_at: event.created_at.into(),
                data: &event.payload,
            }
            .to_bytes();
            let message = jetstream::message::PublishMessage::build()
                .message_id(event.event_id.to_string())
                .header(EVENT_TYPE_HEADER, event.event_type.as_str())
                .payload(body.into());
            let (id, attempt) = (event.outbox_event_id, event.attempts);
            match self
                .jetstream
                .send_publish(self.subject(event.event_type), message)
                .await
            {
                Ok(ack) => {
                    acks.spawn(async move { (id, attempt, ack.await) });
                }
                Err(err) => failed.push(self.failure(id, attempt, &err.to_string())),
            }
        }
        while let Some(joined) = acks.join_next().await {
            let Ok((id, attempt, ack)) = joined else {
                // An acknowledgement task panicked: the lease ends and the event is
                // published again (deduplicated by its id).
                continue;
            };
            match ack {
                Ok(ack) => {
                    if ack.duplicate {
                        round.duplicates += 1;
                    } else {
                        round.published += 1;
                    }
                    published.push(Published {
                        outbox_event_id: id,
                        attempt,
                        sequence: i64::try_from(ack.sequence).unwrap_or(i64::MAX),
                    });
                }
                Err(err) => {
                    stream_missing |= err.kind() == PublishErrorKind::StreamNotFound;
                    failed.push(self.failure(id, attempt, &err.to_string()));
                }
            }
        }
        if stream_missing {
            // Deleted behind our back: look for it (or create it) again next round.
            self.stream_ready.store(false, Ordering::Release);
        }
        round.failed = u32::try_from(failed.len()).unwrap_or(u32::MAX);
        if let Some(first) = failed.first() {
            tracing::warn!(
                failed = failed.len(),
                error = %first.error,
                "publishing events to NATS failed; retrying later"
            );
        }
        (published, failed, round)
    }

    /// A failed attempt, due again after the backoff.
    fn failure(&self, id: i64, attempt: i32, error: &str) -> Failed {
        let wait = self.backoff.delay(attempt, None);
        Failed {
            outbox_event_id: id,
            attempt,
            next_attempt_at: Utc::now()
                + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
            error: error.chars().take(300).collect(),
        }
    }
}
