//! Messages to customers and their friends: queueing them with the business change that
//! causes them, the operators' view of the outbox, templates, opting out, and what
//! providers report back. Sending is the [`dispatcher`]'s.

pub mod dispatcher;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::db;
use crate::db::messages::{MessageRow, NewRow, TemplateRow};
use crate::domain::message::{
    self, MessageChannel, MessageKind, MessageStatus, NewMessage, Value, Values, Variable,
};
use crate::domain::message_text::{Language, sms_segments};
use crate::domain::phone::Phone;
use crate::domain::time::Timestamp;
use crate::error::{Code, Error, Result};

/// Queues `message` in the caller's transaction: it is sent if, and only if, the change
/// that causes it commits. Returns the message's row id (`None`: the same fact was queued
/// before).
pub async fn enqueue(conn: &mut PgConnection, message: &NewMessage<'_>) -> Result<Option<i64>> {
    let (customer_id, phone, referral_id, params, dedupe_key) = match message {
        NewMessage::VerificationCode {
            to,
            customer_id,
            code,
            valid_minutes,
        } => (
            *customer_id,
            to.as_str(),
            None,
            json!({ "code": code, "minutes": valid_minutes }),
            None,
        ),
        NewMessage::AgentInvitation { to, referral_id } => (
            None,
            to.as_str(),
            Some(*referral_id),
            json!({}),
            Some(format!("agent_invitation:{referral_id}")),
        ),
    };
    Ok(db::messages::enqueue(
        conn,
        &NewRow {
            kind: message.kind(),
            customer_id,
            phone: Some(phone),
            referral_id,
            params,
            dedupe_key: dedupe_key.as_deref(),
        },
    )
    .await?)
}

/// The text customer `customer_id` shares, with `code` and `link`, in their language
/// (the `share_message` template).
pub async fn share_message(
    db: impl PgExecutor<'_> + Copy,
    customer_id: i32,
    code: &str,
    link: &str,
) -> Result<(String, Language)> {
    let language = db::messages::recipient(db, customer_id)
        .await?
        .ok_or_else(Error::customer_not_found)?
        .language;
    let template = db::messages::template(db, MessageKind::ShareMessage)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the share_message template is missing"))?;
    let values = Values::default()
        .with(Variable::Code, Value::Verbatim(code.to_owned()))
        .with(Variable::Link, Value::Verbatim(link.to_owned()));
    let text = message::render(template.text(language), language, &values);
    Ok((text, language))
}

impl TemplateRow {
    /// The text in `language`.
    pub fn text(&self, language: Language) -> &str {
        match language {
            Language::Bn => &self.bn,
            Language::En => &self.en,
        }
    }
}

/// A message as operators see it: the phone masked, a verification code's text never.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// Row id (the `beforeId` of the next page).
    pub id: i64,
    /// The stable id providers receive.
    pub message_id: uuid::Uuid,
    /// What it is for.
    pub kind: MessageKind,
    /// Where it is.
    pub status: MessageStatus,
    /// The customer it goes to.
    pub customer_id: Option<i32>,
    /// The recipient, all but the last three digits hidden.
    pub phone: Option<String>,
    /// The order it is about.
    pub order_id: Option<i32>,
    /// The referral it is about.
    pub referral_id: Option<i32>,
    /// The channel chosen.
    pub channel: Option<MessageChannel>,
    /// The provider (`whatsapp_cloud`, `ssl_wireless`, `log`).
    pub provider: Option<String>,
    /// The provider's id (`wamid…`, a reference id).
    pub provider_message_id: Option<String>,
    /// The language rendered.
    pub language: Option<Language>,
    /// The text (null for verification codes, and before the first claim).
    pub body: Option<String>,
    /// SMS segments the text takes.
    pub segments: Option<i32>,
    /// `gsm7` or `ucs2`.
    pub encoding: Option<String>,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (queued messages).
    pub next_attempt_at: Timestamp,
    /// The provider's last error.
    pub last_error: Option<String>,
    /// Why it was not sent (`opted_out`, `daily_cap`, `nudged_recently`, `superseded`,
    /// `recipient_gone`).
    pub suppressed_reason: Option<String>,
    /// Queued.
    pub created_at: Timestamp,
    /// Accepted by the provider.
    pub sent_at: Option<Timestamp>,
    /// Delivered, as the provider reported.
    pub delivered_at: Option<Timestamp>,
    /// Read, as the provider reported.
    pub read_at: Option<Timestamp>,
    /// Reported undeliverable.
    pub failed_at: Option<Timestamp>,
}

impl From<MessageRow> for MessageView {
    fn from(row: MessageRow) -> Self {
        Self {
            id: row.id,
            message_id: row.message_id,
            kind: row.kind,
            status: row.status,
            customer_id: row.customer_id,
            phone: row
                .phone
                .as_deref()
                .and_then(|p| Phone::parse(p).ok())
                .map(|p| p.masked()),
            order_id: row.order_id,
            referral_id: row.referral_id,
            channel: row.channel,
            provider: row.provider,
            provider_message_id: row.provider_message_id,
            language: row.language,
            body: row.body,
            segments: row.segments,
            encoding: row.encoding,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.into(),
            last_error: row.last_error,
            suppressed_reason: row.suppressed_reason,
            created_at: row.created_at.into(),
            sent_at: row.sent_at.map(Into::into),
            delivered_at: row.delivered_at.map(Into::into),
            read_at: row.read_at.map(Into::into),
            failed_at: row.failed_at.map(Into::into),
        }
    }
}

/// A page of the outbox, newest first.
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    limit: i64,
    before_id: Option<i64>,
) -> Result<Vec<MessageView>> {
    let status = match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(MessageStatus::from_name(raw).ok_or_else(|| {
            Error::new(
                Code::InvalidQuery,
                format!(
                    "status must be one of {}",
                    MessageStatus::ALL
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?),
    };
    let rows = db::messages::list(pool, status, limit, before_id).await?;
    Ok(rows.into_iter().map(MessageView::from).collect())
}

/// Sends dead message `id` again: queued now, with a fresh set of attempts.
pub async fn retry(pool: &PgPool, id: i64) -> Result<()> {
    if db::messages::requeue_dead(pool, id).await? {
        return Ok(());
    }
    match db::messages::status_of(pool, id).await? {
        None => Err(Error::new(Code::MessageNotFound, "No such message")),
        Some(status) => Err(Error::new(
            Code::MessageNotRetryable,
            format!(
                "Only dead messages can be retried; this one is {}",
                status.as_str()
            ),
        )),
    }
}

/// A template as operators see and edit it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView {
    /// The kind (`share_nudge`, …): the `:key` of the route.
    pub key: MessageKind,
    /// Bangla text.
    pub bn: String,
    /// English text.
    pub en: String,
    /// The approved WhatsApp template's name (null: not sent on WhatsApp).
    pub whatsapp_template_name: Option<String>,
    /// The variables the text may use, in the order of the WhatsApp template's body
    /// parameters.
    pub variables: Vec<&'static str>,
    /// The Bangla and English texts rendered with sample values, as a customer reads them.
    pub preview: Preview,
    /// SMS segments of the previews.
    pub sample_segments: SampleSegments,
    /// Last saved.
    pub updated_at: Timestamp,
    /// Who saved it (null: the built-in default).
    pub updated_by_user_id: Option<i32>,
}

/// A template's two texts, rendered with typical values.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// In Bangla.
    pub bn: String,
    /// In English.
    pub en: String,
}

/// SMS segments of a template's two texts, rendered with typical values.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SampleSegments {
    /// The Bangla text.
    pub bn: usize,
    /// The English text.
    pub en: usize,
}

impl From<TemplateRow> for TemplateView {
    fn from(row: TemplateRow) -> Self {
        let values = sample_values(row.kind);
        let preview = Preview {
            bn: message::render(&row.bn, Language::Bn, &values),
            en: message::render(&row.en, Language::En, &values),
        };
        Self {
            key: row.kind,
            variables: row.kind.variables().iter().map(|v| v.name()).collect(),
            sample_segments: SampleSegments {
                bn: sms_segments(&preview.bn).count,
                en: sms_segments(&preview.en).count,
            },
            preview,
            bn: row.bn,
            en: row.en,
            whatsapp_template_name: row.whatsapp_template_name,
            updated_at: row.updated_at.into(),
            updated_by_user_id: row.updated_by_user_id,
        }
    }
}

/// Typical values of `kind`, to show a template and count its segments before it is used.
fn sample_values(kind: MessageKind) -> Values {
    let code = match kind {
        MessageKind::VerificationCode => "493817",
        _ => "REF012345",
    };
    Values::default()
        .with(Variable::Code, Value::Verbatim(code.into()))
        .with(
            Variable::Link,
            Value::Verbatim("https://bondhu.example/r/REF012345?ch=whatsapp".into()),
        )
        .with(Variable::Name, Value::Verbatim("Rahim".into()))
        .with(Variable::Friend, Value::Verbatim("Karim".into()))
        .with(Variable::Referrer, Value::Verbatim("Rahim".into()))
        .with(
            Variable::Amount,
            Value::Money(rust_decimal::Decimal::new(100, 0)),
        )
        .with(
            Variable::Offer,
            Value::Money(rust_decimal::Decimal::new(50, 0)),
        )
        .with(Variable::Minutes, Value::Number(5))
}

/// Every template.
pub async fn templates(pool: &PgPool) -> Result<Vec<TemplateView>> {
    let rows = db::messages::templates(pool).await?;
    Ok(rows.into_iter().map(TemplateView::from).collect())
}

/// `PUT /api/message-templates/:key`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateInput {
    /// Bangla text.
    pub bn: String,
    /// English text.
    pub en: String,
    /// The approved WhatsApp template's name (lower case, digits, `_`); null or absent: the
    /// kind is not sent on WhatsApp.
    #[serde(default)]
    pub whatsapp_template_name: Option<String>,
}

/// Checks and saves the template of `key`.
pub async fn save_template(
    pool: &PgPool,
    key: &str,
    input: TemplateInput,
    user_id: Option<i32>,
) -> Result<TemplateView> {
    let kind = MessageKind::from_name(key).ok_or_else(|| {
        Error::new(
            Code::TemplateNotFound,
            format!(
                "No template {key:?}; the keys are {}",
                MessageKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let mut problems = crate::error::Problems::default();
    for (field, text) in [("bn", &input.bn), ("en", &input.en)] {
        if let Err(err) = message::check_template(kind, text) {
            problems.add(field, err.to_string());
        }
    }
    let whatsapp = input
        .whatsapp_template_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if let Some(name) = whatsapp {
        let valid = name.len() <= 512
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            problems.add(
                "whatsappTemplateName",
                "must be a WhatsApp template name: lower-case letters, digits and _",
            );
        }
        if kind == MessageKind::ShareMessage {
            problems.add(
                "whatsappTemplateName",
                "share_message is the text customers share themselves: it is never sent",
            );
        }
    }
    problems.finish(Code::InvalidTemplate)?;
    let row = db::messages::save_template(
        pool,
        kind,
        input.bn.trim(),
        input.en.trim(),
        whatsapp,
        user_id,
    )
    .await?;
    Ok(row.into())
}

/// A customer's messaging settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagingPreference {
    /// No messages are sent to the customer's phone (verification codes they ask for
    /// aside).
    pub opt_out: bool,
    /// Since when.
    pub opted_out_at: Option<Timestamp>,
    /// The language messages are written in: `bn` (the default) or `en`.
    pub language: Language,
}

/// `POST /api/loyalty/me/messaging`: either field, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreferenceInput {
    /// `true` stops messages to the customer's phone; `false` allows them again.
    #[serde(default)]
    pub opt_out: Option<bool>,
    /// `bn` or `en`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub language: Option<Language>,
}

/// Changes customer `customer_id`'s messaging settings: opting their phone out of
/// messages or back in, and their language.
pub async fn set_preference(
    pool: &PgPool,
    customer_id: i32,
    input: PreferenceInput,
) -> Result<MessagingPreference> {
    if input.opt_out.is_none() && input.language.is_none() {
        return Err(Error::invalid_field(
            "optOut",
            "send optOut, language, or both",
        ));
    }
    let mut tx = pool.begin().await?;
    let mut customer = db::messages::recipient(&mut *tx, customer_id)
        .await?
        .ok_or_else(Error::customer_not_found)?;
    match input.opt_out {
        Some(true) => db::messages::opt_out(&mut *tx, &customer.phone, "customer").await?,
        Some(false) => db::messages::opt_in(&mut *tx, &customer.phone).await?,
        None => {}
    }
    if let Some(language) = input.language {
        db::messages::set_language(&mut *tx, customer_id, language).await?;
        customer.language = language;
    }
    let opted_out_at = db::messages::opted_out_at(&mut *tx, &customer.phone).await?;
    tx.commit().await?;
    Ok(MessagingPreference {
        opt_out: opted_out_at.is_some(),
        opted_out_at: opted_out_at.map(Into::into),
        language: customer.language,
    })
}

/// What a batch of provider events changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InboundOutcome {
    /// Statuses recorded on messages this server sent.
    pub statuses: usize,
    /// Phones opted out by a STOP.
    pub opted_out: usize,
    /// Events about nothing this server knows.
    pub ignored: usize,
}

/// The words that opt a phone out when a customer sends one back (case and spaces aside).
const STOP_WORDS: [&str; 4] = ["stop", "unsubscribe", "বন্ধ", "স্টপ"];

/// Records WhatsApp's events: each status on the message it is about (statuses only move
/// forward, as Meta may deliver them out of order or twice), and a STOP as an opt-out of
/// the sender's phone.
pub async fn record_whatsapp_events(
    pool: &PgPool,
    events: &[crate::providers::whatsapp::InboundEvent],
) -> Result<InboundOutcome> {
    use crate::providers::whatsapp::{DeliveryStatus, InboundEvent};
    let mut outcome = InboundOutcome::default();
    for event in events {
        match event {
            InboundEvent::Status {
                provider_message_id,
                status,
                error,
                at,
            } => {
                let status = match status {
                    DeliveryStatus::Sent => MessageStatus::Sent,
                    DeliveryStatus::Delivered => MessageStatus::Delivered,
                    DeliveryStatus::Read => MessageStatus::Read,
                    DeliveryStatus::Failed => MessageStatus::Failed,
                };
                let found = db::messages::record_report(
                    pool,
                    crate::providers::whatsapp::NAME,
                    provider_message_id,
                    status,
                    at.get(),
                    error.as_deref(),
                )
                .await?;
                if found {
                    outcome.statuses += 1;
                } else {
                    outcome.ignored += 1;
                }
            }
            InboundEvent::Text { from, text, .. } => {
                let word = text.trim().to_lowercase();
                if STOP_WORDS.contains(&word.as_str()) {
                    db::messages::opt_out(pool, from.as_str(), "inbound_stop").await?;
                    tracing::info!(phone = %from.masked(), "opted out by STOP");
                    outcome.opted_out += 1;
                } else {
                    outcome.ignored += 1;
                }
            }
        }
    }
    Ok(outcome)
}
