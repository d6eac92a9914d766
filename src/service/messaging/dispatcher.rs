//! The dispatcher: sends what the outbox holds, in every instance at once.
//!
//! One round:
//! 1. **Claim** (one short transaction): lock up to [`BATCH`] due messages with
//!    `FOR UPDATE SKIP LOCKED` (two dispatchers never take the same row), decide each one
//!    on its first claim (opted out, the daily cap, the share-nudge interval: see
//!    [`Policy`]), render it in the recipient's language, choose the channel, and mark it
//!    `sending` under a lease. Commit.
//! 2. **Send**, with no transaction open: every claimed message at once, each through its
//!    provider, with the provider's own timeout.
//! 3. **Record** each answer in its own statement: `sent`; `queued` again after a backoff
//!    with jitter for a retryable error; `dead` for a final one or after
//!    `MESSAGE_MAX_ATTEMPTS`.
//!
//! A dispatcher that crashes between 2 and 3 leaves its rows `sending`; when the lease
//! ends another claims and sends them again with the same stable id, which providers
//! that deduplicate (SSL Wireless's `csms_id`) recognise: at most one duplicate, and none
//! there. Recording is fenced by the attempt number, so a dispatcher that lost its lease
//! cannot overwrite the newer attempt's outcome.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::db;
use crate::db::messages::{Claimed, TemplateRow};
use crate::domain::channel::Channel;
use crate::domain::message::{
    self, MessageChannel, MessageKind, SuppressedReason, Value, Values, Variable,
};
use crate::domain::message_text::{Language, sms_segments};
use crate::domain::phone::Phone;
use crate::domain::referral_code::share_code;
use crate::domain::share::landing_url;
use crate::failpoint::failpoint;
use crate::providers::{Outgoing, Provider, Providers, SendError, WhatsappTemplate};
use crate::service::outbox::{self, Backoff, RoundCounts, lease_secs};

/// Messages claimed per round.
pub const BATCH: i64 = 32;

/// How long a claimed message is the claimer's: far longer than a provider's timeout, so a
/// live dispatcher never loses a message it is sending; a crashed one's messages go out
/// again after it.
pub const LEASE: Duration = Duration::from_secs(120);

/// The rules that decide whether a message goes out at all, applied once, on its first
/// claim, under a lock on the recipient's phone (so two dispatchers count alike), and when
/// a failed one is tried again.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Messages a phone may receive per day in Dhaka, verification codes aside
    /// (`MESSAGE_DAILY_CAP`).
    pub daily_cap: i64,
    /// Days between two share nudges to one customer (`SHARE_NUDGE_DAYS`).
    pub share_nudge_days: i64,
    /// Attempts before a message is dead-lettered (`MESSAGE_MAX_ATTEMPTS`).
    pub max_attempts: i32,
    /// The wait before a retry: `MESSAGE_RETRY_BASE_SECS`, doubled per attempt, up to
    /// [`MAX_BACKOFF`], never sooner than the provider's `Retry-After`.
    pub backoff: Backoff,
}

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

/// The channel and provider for a message of `kind`: its preferred channels in order,
/// WhatsApp only when the kind has an approved template, the first with a real provider;
/// when none has one, the first allowed channel's stand-in (the log).
fn choose(
    providers: &Providers,
    kind: MessageKind,
    whatsapp_template: Option<&str>,
) -> (MessageChannel, Arc<dyn Provider>) {
    let allowed: Vec<MessageChannel> = kind
        .preferred_channels()
        .into_iter()
        .filter(|channel| *channel != MessageChannel::Whatsapp || whatsapp_template.is_some())
        .collect();
    let channel = allowed
        .iter()
        .copied()
        .find(|channel| !providers.for_channel(*channel).is_stand_in())
        .or_else(|| allowed.first().copied())
        .unwrap_or(MessageChannel::Sms);
    (channel, providers.for_channel(channel).clone())
}

/// Everything a dispatcher needs.
#[derive(Clone)]
pub struct Dispatcher {
    /// The providers of each channel.
    pub providers: Providers,
    /// The rules.
    pub policy: Policy,
    /// `PUBLIC_URL`, for the links messages carry.
    pub public_url: String,
    /// How long a claim lasts: longer than any send can take.
    pub lease: Duration,
}

/// What a round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Accepted by a provider.
    pub sent: u32,
    /// To be tried again later.
    pub retried: u32,
    /// Dead-lettered.
    pub dead: u32,
    /// Not sent, for a recorded reason.
    pub suppressed: u32,
}

impl RoundCounts for Round {
    /// Messages the round dealt with.
    fn total(&self) -> u32 {
        self.sent + self.retried + self.dead + self.suppressed
    }

    fn add(&mut self, other: Self) {
        self.sent += other.sent;
        self.retried += other.retried;
        self.dead += other.dead;
        self.suppressed += other.suppressed;
    }
}

/// A claimed message, ready to send.
struct Ready {
    id: i64,
    attempt: i32,
    message_id: uuid::Uuid,
    phone: Phone,
    text: String,
    whatsapp: Option<(String, Language, Vec<String>)>,
    provider: Arc<dyn Provider>,
}

impl Dispatcher {
    /// The dispatcher of `config`, sending through `providers`.
    pub fn new(config: &crate::config::Config, providers: Providers) -> Self {
        let messaging = &config.messaging;
        Self {
            providers,
            policy: Policy {
                daily_cap: messaging.daily_cap,
                share_nudge_days: messaging.share_nudge_days,
                max_attempts: messaging.max_attempts,
                backoff: Backoff {
                    base: messaging.retry_base,
                    max: MAX_BACKOFF,
                },
            },
            public_url: config.public_url.clone(),
            lease: LEASE,
        }
    }

    /// Runs one round: claims, sends and records up to [`BATCH`] messages.
    pub async fn round(&self, pool: &PgPool) -> sqlx::Result<Round> {
        let mut round = Round::default();
        let ready = self.claim(pool, &mut round).await?;
        if !ready.is_empty() {
            failpoint!("message.claimed");
        }
        let mut sends = tokio::task::JoinSet::new();
        for message in ready {
            sends.spawn(async move {
                let outgoing = Outgoing {
                    id: message.message_id,
                    to: &message.phone,
                    text: &message.text,
                    whatsapp: message.whatsapp.as_ref().map(|(name, language, params)| {
                        WhatsappTemplate {
                            name,
                            language: language.whatsapp_code(),
                            body_parameters: params,
                        }
                    }),
                };
                let answer = message.provider.send(&outgoing).await;
                (message.id, message.attempt, answer)
            });
        }
        while let Some(joined) = sends.join_next().await {
            let Ok((id, attempt, answer)) = joined else {
                // A provider panicked: the lease ends and the message is retried.
                continue;
            };
            failpoint!("message.answered");
            self.record(pool, id, attempt, answer, &mut round).await?;
        }
        Ok(round)
    }

    /// Runs rounds until the outbox has nothing due (at most `max_rounds`).
    pub async fn drain(&self, pool: &PgPool, max_rounds: u32) -> sqlx::Result<Round> {
        outbox::drain(max_rounds, || self.round(pool)).await
    }

    /// Step 1: claims, decides, renders and leases, in one transaction.
    async fn claim(&self, pool: &PgPool, round: &mut Round) -> sqlx::Result<Vec<Ready>> {
        let mut tx = pool.begin().await?;
        let claimed = db::messages::claim(&mut tx, BATCH).await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut addressed = Vec::with_capacity(claimed.len());
        for message in claimed {
            match address(&mut tx, message).await? {
                Ok(message) => addressed.push(message),
                Err(message) => {
                    db::messages::mark_suppressed(
                        &mut *tx,
                        message.id,
                        None,
                        SuppressedReason::RecipientGone,
                    )
                    .await?;
                    round.suppressed += 1;
                }
            }
        }
        // Recipient locks are taken in one order, so two dispatchers cannot deadlock.
        addressed.sort_by(|a, b| {
            a.to.as_str()
                .cmp(b.to.as_str())
                .then(a.claimed.id.cmp(&b.claimed.id))
        });
        let templates = db::messages::templates(&mut *tx).await?;
        let mut ready = Vec::with_capacity(addressed.len());
        for message in addressed {
            match self.prepare(&mut tx, &templates, message).await? {
                Prepared::Suppressed { id, phone, reason } => {
                    db::messages::mark_suppressed(&mut *tx, id, Some(&phone), reason).await?;
                    round.suppressed += 1;
                }
                Prepared::Ready(message) => ready.push(message),
            }
        }
        failpoint!("message.claim_before_commit");
        tx.commit().await?;
        Ok(ready)
    }

    /// Decides and renders one addressed message, and leases it.
    async fn prepare(
        &self,
        conn: &mut PgConnection,
        templates: &[TemplateRow],
        addressed: Addressed,
    ) -> sqlx::Result<Prepared> {
        let Addressed {
            claimed: message,
            to,
            name,
            language,
        } = addressed;
        let phone = to.as_str().to_owned();
        let suppress = |reason| {
            Ok(Prepared::Suppressed {
                id: message.id,
                phone: phone.clone(),
                reason,
            })
        };
        // The policy decides once, on the first claim; a retry keeps that decision.
        if message.attempts == 0
            && let Some(reason) = self.decide(conn, message.kind, &phone).await?
        {
            return suppress(reason);
        }
        let Some(template) = templates.iter().find(|t| t.kind == message.kind) else {
            return suppress(SuppressedReason::Superseded);
        };
        let (channel, provider) = choose(
            &self.providers,
            message.kind,
            template.whatsapp_template_name.as_deref(),
        );
        let Some(values) = self.values(conn, &message, name, channel).await? else {
            return suppress(SuppressedReason::Superseded);
        };
        let text = message::render(
            match language {
                Language::Bn => &template.bn,
                Language::En => &template.en,
            },
            language,
            &values,
        );
        let segments = sms_segments(&text);
        db::messages::mark_sending(
            &mut *conn,
            &db::messages::Sending {
                id: message.id,
                phone: &phone,
                channel,
                provider: provider.name(),
                language,
                body: &text,
                segments: i32::try_from(segments.count).unwrap_or(i32::MAX),
                encoding: segments.encoding.as_str(),
                lease_secs: lease_secs(self.lease),
            },
        )
        .await?;
        let whatsapp = match (channel, &template.whatsapp_template_name) {
            (MessageChannel::Whatsapp, Some(name)) => Some((
                name.clone(),
                language,
                message::whatsapp_parameters(message.kind, language, &values),
            )),
            _ => None,
        };
        Ok(Prepared::Ready(Ready {
            id: message.id,
            attempt: message.attempts + 1,
            message_id: message.message_id,
            phone: to,
            text,
            whatsapp,
            provider,
        }))
    }

    /// The policy: `Some(reason)` when the message must not go out.
    async fn decide(
        &self,
        conn: &mut PgConnection,
        kind: MessageKind,
        phone: &str,
    ) -> sqlx::Result<Option<SuppressedReason>> {
        if kind.is_requested() {
            return Ok(None);
        }
        db::messages::lock_recipient(&mut *conn, phone).await?;
        let history = db::messages::history(&mut *conn, phone).await?;
        let nudge_window = chrono::Duration::days(self.policy.share_nudge_days);
        Ok(if history.opted_out {
            Some(SuppressedReason::OptedOut)
        } else if kind == MessageKind::ShareNudge
            && history
                .last_nudge_at
                .is_some_and(|at| at > Utc::now() - nudge_window)
        {
            Some(SuppressedReason::NudgedRecently)
        } else if history.sent_today >= self.policy.daily_cap {
            Some(SuppressedReason::DailyCap)
        } else {
            None
        })
    }

    /// The values of a message's variables, read now; `None` when it has nothing left to
    /// tell (a reward refused or reversed meanwhile).
    async fn values(
        &self,
        conn: &mut PgConnection,
        message: &Claimed,
        name: Option<String>,
        channel: MessageChannel,
    ) -> sqlx::Result<Option<Values>> {
        let link_channel = match channel {
            MessageChannel::Whatsapp => Channel::Whatsapp,
            MessageChannel::Sms => Channel::Sms,
        };
        let first_name = |name: Option<String>| {
            Value::Verbatim(
                name.and_then(|n| n.split_whitespace().next().map(str::to_owned))
                    .unwrap_or_default(),
            )
        };
        Ok(match message.kind {
            MessageKind::ShareNudge => message.customer_id.map(|customer_id| {
                let code = share_code(customer_id);
                let link = landing_url(&self.public_url, &code, link_channel);
                Values::default()
                    .with(Variable::Code, Value::Verbatim(code))
                    .with(Variable::Name, first_name(name))
                    .with(Variable::Link, Value::Verbatim(link))
            }),
            MessageKind::VerificationCode => {
                let code = message.params.get("code").and_then(|c| c.as_str());
                let minutes = message.params.get("minutes").and_then(|m| m.as_i64());
                code.map(|code| {
                    Values::default()
                        .with(Variable::Code, Value::Verbatim(code.to_owned()))
                        .with(Variable::Minutes, Value::Number(minutes.unwrap_or(5)))
                })
            }
            MessageKind::ReferralCompleted
            | MessageKind::RewardReleased
            | MessageKind::AgentInvitation => {
                let Some(referral_id) = message.referral_id else {
                    return Ok(None);
                };
                let Some(facts) = db::messages::referral_facts(&mut *conn, referral_id).await?
                else {
                    return Ok(None);
                };
                let code = share_code(facts.referrer_customer_id);
                match message.kind {
                    MessageKind::ReferralCompleted => {
                        // Already released (a hold of "0"): the release message says it all.
                        let amount = facts.referrer_amount.filter(|a| !a.is_zero());
                        match (facts.completed && !facts.released, amount) {
                            (true, Some(amount)) => Some(
                                Values::default()
                                    .with(Variable::Code, Value::Verbatim(code))
                                    .with(
                                        Variable::Friend,
                                        match facts.friend_name {
                                            Some(name) => first_name(Some(name)),
                                            None => Value::Verbatim(
                                                facts
                                                    .friend_phone
                                                    .as_deref()
                                                    .and_then(|p| Phone::parse(p).ok())
                                                    .map(|p| p.masked())
                                                    .unwrap_or_default(),
                                            ),
                                        },
                                    )
                                    .with(Variable::Amount, Value::Money(amount)),
                            ),
                            _ => None,
                        }
                    }
                    MessageKind::RewardReleased => facts
                        .referrer_amount
                        .filter(|a| facts.released && !a.is_zero())
                        .map(|amount| {
                            Values::default()
                                .with(Variable::Code, Value::Verbatim(code))
                                .with(Variable::Amount, Value::Money(amount))
                        }),
                    _ => {
                        // The invitation's own code, not the referrer's share code: signing
                        // up with it claims this referral (the agent's), where the share
                        // code would make a second one and leave this one pending.
                        let code = facts.invite_code;
                        let link = landing_url(&self.public_url, &code, Channel::AgentReferral);
                        Some(
                            Values::default()
                                .with(Variable::Code, Value::Verbatim(code))
                                .with(Variable::Referrer, first_name(facts.referrer_name))
                                .with(Variable::Offer, Value::Money(facts.friend_offer))
                                .with(Variable::Link, Value::Verbatim(link)),
                        )
                    }
                }
            }
            MessageKind::ShareMessage => None,
        })
    }

    /// Step 3: records a provider's answer.
    async fn record(
        &self,
        pool: &PgPool,
        id: i64,
        attempt: i32,
        answer: Result<crate::providers::Sent, SendError>,
        round: &mut Round,
    ) -> sqlx::Result<()> {
        match answer {
            Ok(sent) => {
                db::messages::mark_sent(pool, id, attempt, sent.provider_message_id.as_deref())
                    .await?;
                round.sent += 1;
            }
            Err(SendError::Retryable {
                reason,
                retry_after,
            }) if attempt < self.policy.max_attempts => {
                let wait = self.policy.backoff.delay(attempt, retry_after);
                let at: DateTime<Utc> =
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                db::messages::mark_retry(pool, id, attempt, at, &reason).await?;
                tracing::info!(message.id = id, attempt, %reason, "message send failed; retrying later");
                round.retried += 1;
            }
            Err(SendError::Retryable { reason, .. } | SendError::Final { reason }) => {
                db::messages::mark_dead(pool, id, attempt, &reason).await?;
                tracing::warn!(message.id = id, attempt, %reason, "message dead-lettered");
                round.dead += 1;
            }
        }
        Ok(())
    }
}

/// The decision about one claimed message.
enum Prepared {
    Suppressed {
        id: i64,
        phone: String,
        reason: SuppressedReason,
    },
    Ready(Ready),
}

/// A claimed message with its recipient.
struct Addressed {
    claimed: Claimed,
    to: Phone,
    name: Option<String>,
    language: Language,
}

/// Finds who a claimed message goes to, and in which language: the customer (their own
/// phone unless the message names another), or the phone it names (a friend, in Bangla
/// unless the phone is a customer's who chose English). `Err` when there is nobody (the customer was deleted).
async fn address(
    conn: &mut PgConnection,
    message: Claimed,
) -> sqlx::Result<Result<Addressed, Claimed>> {
    let (phone, name, language) = match message.customer_id {
        Some(customer_id) => match db::messages::recipient(&mut *conn, customer_id).await? {
            Some(recipient) => (
                message.phone.clone().unwrap_or(recipient.phone),
                recipient.name,
                recipient.language,
            ),
            None => return Ok(Err(message)),
        },
        None => {
            let Some(phone) = message.phone.clone() else {
                return Ok(Err(message));
            };
            let language = db::messages::language_of_phone(&mut *conn, &phone)
                .await?
                .unwrap_or_default();
            (phone, None, language)
        }
    };
    match Phone::parse(&phone) {
        Ok(to) => Ok(Ok(Addressed {
            claimed: message,
            to,
            name,
            language,
        })),
        // Stored phones are E.164 (a CHECK), so this is only a safeguard.
        Err(_) => Ok(Err(message)),
    }
}
