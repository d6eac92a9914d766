//! Messages to customers and their friends: the kinds, the variables each kind's template
//! may use, checking a template when it is saved, and rendering it in Bangla or English.
//!
//! A template is text with `{variable}` placeholders (`{{` and `}}` for literal braces).
//! Every kind has a fixed list of variables ([`MessageKind::variables`]); a template that
//! names another is refused when it is saved, so rendering never meets an unknown one.
//! Codes and links are printed as they are (a customer types them back); amounts and
//! counts follow the language: `৳১,২৫০` in Bangla, `৳1,250` in English.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::message_text::{Language, bengali_digits, format_taka};
use super::phone::Phone;

super::sql_enum! {
    /// What a message is for. Its name is also the template's key in
    /// `/api/message-templates/:key`.
    pub enum MessageKind = "message_kind" {
        /// After a delivered order: the customer's share code and link (guide 4.1).
        ShareNudge = "share_nudge",
        /// To the referrer: a friend's first order completed the referral.
        ReferralCompleted = "referral_completed",
        /// To the referrer: the reward's hold ended and the money is theirs.
        RewardReleased = "reward_released",
        /// A phone verification code (OTP).
        VerificationCode = "verification_code",
        /// A call-centre agent's invitation to a friend, with the friend's offer.
        AgentInvitation = "agent_invitation",
        /// The text a customer shares from the Refer & Earn page: a template, never queued.
        ShareMessage = "share_message",
    }
}

impl MessageKind {
    /// The variables this kind's templates may use. The order is also the order of a
    /// WhatsApp template's body parameters (`{{1}}`, `{{2}}`, …). `code` comes first in
    /// every kind, because message previews cut the end.
    pub fn variables(self) -> &'static [Variable] {
        use Variable::*;
        match self {
            Self::ShareNudge => &[Code, Name, Link],
            Self::ReferralCompleted => &[Code, Friend, Amount],
            Self::RewardReleased => &[Code, Amount],
            Self::VerificationCode => &[Code, Minutes],
            Self::AgentInvitation => &[Code, Referrer, Offer, Link],
            Self::ShareMessage => &[Code, Link],
        }
    }

    /// Whether the customer asked for this very message just now (a verification code):
    /// it is sent even to a phone that opted out of messages, and does not count towards
    /// the daily cap, or a customer who opted out could never withdraw.
    pub fn is_requested(self) -> bool {
        matches!(self, Self::VerificationCode)
    }

    /// The channels to try, best first: a code goes by SMS (it arrives on any phone, with
    /// no app), everything else by WhatsApp where the kind has an approved template.
    pub fn preferred_channels(self) -> [MessageChannel; 2] {
        if self.is_requested() {
            [MessageChannel::Sms, MessageChannel::Whatsapp]
        } else {
            [MessageChannel::Whatsapp, MessageChannel::Sms]
        }
    }
}

super::sql_enum! {
    /// How a message travels, and what a provider delivers over. (Not `Channel`: that name
    /// is the referral channel, [`super::channel::Channel`].)
    pub enum MessageChannel = "message_channel" {
        /// WhatsApp Business Cloud API, with an approved template.
        Whatsapp = "whatsapp",
        /// A Bangladeshi SMS gateway.
        Sms = "sms",
    }
}

super::sql_enum! {
    /// Where a message is in its life.
    pub enum MessageStatus = "message_status" {
        /// Waiting for its next attempt.
        Queued = "queued",
        /// Claimed by a dispatcher; reclaimed if its lease ends first.
        Sending = "sending",
        /// The provider accepted it.
        Sent = "sent",
        /// The provider reported it delivered.
        Delivered = "delivered",
        /// The provider reported it read.
        Read = "read",
        /// The provider accepted it, then reported it undeliverable.
        Failed = "failed",
        /// Given up: a final error, or `MESSAGE_MAX_ATTEMPTS` reached. An operator may retry
        /// it.
        Dead = "dead",
        /// Not sent, for the recorded reason.
        Suppressed = "suppressed",
    }
}

/// Why a message was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressedReason {
    /// The phone opted out of messages.
    OptedOut,
    /// The customer already had `MESSAGE_DAILY_CAP` messages today (Dhaka time).
    DailyCap,
    /// The customer had a share nudge within `SHARE_NUDGE_DAYS`.
    NudgedRecently,
    /// Nothing to tell any more (the reward was refused, or already released).
    Superseded,
    /// The customer or referral it was about no longer exists.
    RecipientGone,
}

impl SuppressedReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptedOut => "opted_out",
            Self::DailyCap => "daily_cap",
            Self::NudgedRecently => "nudged_recently",
            Self::Superseded => "superseded",
            Self::RecipientGone => "recipient_gone",
        }
    }
}

/// A placeholder a template may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variable {
    /// A share or verification code, printed as it is.
    Code,
    /// A landing link, printed as it is.
    Link,
    /// The recipient's first name.
    Name,
    /// The referred friend's first name (or masked phone).
    Friend,
    /// The referrer's name, in an invitation.
    Referrer,
    /// An amount of money (the referrer's reward).
    Amount,
    /// The friend's offer, an amount of money.
    Offer,
    /// Minutes a code stays valid.
    Minutes,
}

impl Variable {
    /// The name written between braces.
    pub fn name(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Link => "link",
            Self::Name => "name",
            Self::Friend => "friend",
            Self::Referrer => "referrer",
            Self::Amount => "amount",
            Self::Offer => "offer",
            Self::Minutes => "minutes",
        }
    }
}

/// A variable's value for one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Text printed as it is (codes, links, names).
    Verbatim(String),
    /// Money, in taka: `৳১০০` or `৳100`.
    Money(Decimal),
    /// A count: Bengali digits in Bangla.
    Number(i64),
}

impl Value {
    /// The value as the reader of `language` sees it.
    pub fn render(&self, language: Language) -> String {
        match self {
            Self::Verbatim(text) => text.clone(),
            Self::Money(amount) => format_taka(*amount, language),
            Self::Number(n) => match language {
                Language::Bn => bengali_digits(&n.to_string()),
                Language::En => n.to_string(),
            },
        }
    }
}

/// The values of one message, by variable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Values(Vec<(Variable, Value)>);

impl Values {
    /// Sets `variable` to `value`.
    pub fn with(mut self, variable: Variable, value: Value) -> Self {
        self.0.retain(|(v, _)| *v != variable);
        self.0.push((variable, value));
        self
    }

    /// The value of `variable`, if set.
    pub fn get(&self, variable: Variable) -> Option<&Value> {
        self.0
            .iter()
            .find(|(v, _)| *v == variable)
            .map(|(_, value)| value)
    }
}

/// Why a template cannot be saved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// It names variables its kind does not have.
    #[error("unknown variables {}: this kind may use {}", .unknown.join(", "), .allowed.join(", "))]
    UnknownVariables {
        /// The unknown names, as written.
        unknown: Vec<String>,
        /// The kind's variables.
        allowed: Vec<&'static str>,
    },
    /// A `{` without its `}`, or a stray `}` (write `{{` and `}}` for literal braces).
    #[error("unbalanced braces at character {0}: write {{{{ and }}}} for literal braces")]
    Unbalanced(usize),
    /// The code is missing, or is not the first variable: previews cut the end.
    #[error("must contain {{code}} before any other variable: message previews cut the end")]
    CodeNotFirst,
    /// Empty, or longer than [`MAX_TEMPLATE_CHARS`].
    #[error("must be 1 to {MAX_TEMPLATE_CHARS} characters")]
    Length,
}

/// The longest template: ten SMS segments of Bangla, far beyond any sensible message.
pub const MAX_TEMPLATE_CHARS: usize = 670;

/// A piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Brace(char),
    Variable(&'a str),
}

/// Splits a template into text, literal braces and variable names.
fn parse(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    let mut at = 0;
    while let Some(i) = rest.find(['{', '}']) {
        if i > 0 {
            pieces.push(Piece::Text(&rest[..i]));
        }
        let brace = rest.as_bytes()[i];
        let after = &rest[i + 1..];
        let position = template[..at + i].chars().count();
        if after.as_bytes().first() == Some(&brace) {
            pieces.push(Piece::Brace(char::from(brace)));
            at += i + 2;
            rest = &after[1..];
        } else if brace == b'{' {
            let end = after.find('}').ok_or(TemplateError::Unbalanced(position))?;
            let name = &after[..end];
            if name.contains('{') {
                return Err(TemplateError::Unbalanced(position));
            }
            pieces.push(Piece::Variable(name.trim()));
            at += i + 2 + end;
            rest = &after[end + 1..];
        } else {
            return Err(TemplateError::Unbalanced(position));
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Checks a template of `kind` before it is saved: balanced braces, only the kind's
/// variables, `{code}` first, and a sensible length.
pub fn check_template(kind: MessageKind, template: &str) -> Result<(), TemplateError> {
    let length = template.trim().chars().count();
    if length == 0 || length > MAX_TEMPLATE_CHARS {
        return Err(TemplateError::Length);
    }
    let pieces = parse(template)?;
    let allowed = kind.variables();
    let mut unknown: Vec<String> = Vec::new();
    let mut first = None;
    for piece in &pieces {
        if let Piece::Variable(name) = piece {
            first.get_or_insert(*name);
            if !allowed.iter().any(|v| v.name() == *name) && !unknown.iter().any(|u| u == name) {
                unknown.push((*name).to_owned());
            }
        }
    }
    if !unknown.is_empty() {
        return Err(TemplateError::UnknownVariables {
            unknown,
            allowed: allowed.iter().map(|v| v.name()).collect(),
        });
    }
    if first != Some(Variable::Code.name()) {
        return Err(TemplateError::CodeNotFirst);
    }
    Ok(())
}

/// Renders a template that passed [`check_template`] in `language`. A variable without a
/// value renders as nothing (a checked template of the right kind never has one).
pub fn render(template: &str, language: Language, values: &Values) -> String {
    let Ok(pieces) = parse(template) else {
        // Stored templates were checked when saved; print a broken one as it is rather
        // than lose the message.
        return template.to_owned();
    };
    let mut text = String::with_capacity(template.len() + 32);
    for piece in pieces {
        match piece {
            Piece::Text(part) => text.push_str(part),
            Piece::Brace(brace) => text.push(brace),
            Piece::Variable(name) => {
                let value = Variable::ALL
                    .into_iter()
                    .find(|v| v.name() == name)
                    .and_then(|v| values.get(v));
                if let Some(value) = value {
                    text.push_str(&value.render(language));
                }
            }
        }
    }
    text
}

/// The body parameters of a kind's WhatsApp template: its variables' values, in the
/// kind's order ([`MessageKind::variables`]).
pub fn whatsapp_parameters(kind: MessageKind, language: Language, values: &Values) -> Vec<String> {
    kind.variables()
        .iter()
        .map(|v| {
            values
                .get(*v)
                .map(|value| value.render(language))
                .unwrap_or_default()
        })
        .collect()
}

impl Variable {
    /// Every variable.
    pub const ALL: [Variable; 8] = [
        Self::Code,
        Self::Link,
        Self::Name,
        Self::Friend,
        Self::Referrer,
        Self::Amount,
        Self::Offer,
        Self::Minutes,
    ];
}

/// A message the application queues itself (deliveries, completions and releases are
/// queued by the database's triggers). Only ids and small values: the text is rendered
/// when the message is sent, from the data of that moment.
#[derive(Clone, PartialEq, Eq)]
pub enum NewMessage<'a> {
    /// A phone verification code.
    VerificationCode {
        /// The phone being verified.
        to: &'a Phone,
        /// The customer asking, if known.
        customer_id: Option<i32>,
        /// The code.
        code: &'a str,
        /// Minutes it stays valid.
        valid_minutes: i64,
    },
    /// A call-centre agent's invitation to the friend of referral `referral_id`.
    AgentInvitation {
        /// The friend's phone.
        to: &'a Phone,
        /// The referral the agent captured.
        referral_id: i32,
    },
}

impl NewMessage<'_> {
    /// The kind.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::VerificationCode { .. } => MessageKind::VerificationCode,
            Self::AgentInvitation { .. } => MessageKind::AgentInvitation,
        }
    }
}

/// Never prints a verification code.
impl fmt::Debug for NewMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VerificationCode { to, .. } => f
                .debug_struct("VerificationCode")
                .field("to", &to.masked())
                .field("code", &"[redacted]")
                .finish(),
            Self::AgentInvitation { to, referral_id } => f
                .debug_struct("AgentInvitation")
                .field("to", &to.masked())
                .field("referral_id", referral_id)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_only_their_kinds_variables() {
        assert_eq!(
            check_template(MessageKind::RewardReleased, "{code}: {amount}"),
            Ok(())
        );
        assert_eq!(
            check_template(
                MessageKind::RewardReleased,
                "{code}: {amount} {link} {balance}"
            ),
            Err(TemplateError::UnknownVariables {
                unknown: vec!["link".into(), "balance".into()],
                allowed: vec!["code", "amount"],
            })
        );
        assert_eq!(
            check_template(MessageKind::RewardReleased, "{amount} for {code}"),
            Err(TemplateError::CodeNotFirst)
        );
        assert_eq!(
            check_template(MessageKind::RewardReleased, "{code} {amount"),
            Err(TemplateError::Unbalanced(7))
        );
        assert_eq!(
            check_template(MessageKind::RewardReleased, "{code} }"),
            Err(TemplateError::Unbalanced(7))
        );
        assert_eq!(
            check_template(MessageKind::RewardReleased, "  "),
            Err(TemplateError::Length)
        );
        assert_eq!(
            check_template(MessageKind::RewardReleased, "{code} {{literal}}"),
            Ok(())
        );
    }

    #[test]
    fn rendering_localises_numbers_but_never_codes_or_links() {
        let values = Values::default()
            .with(Variable::Code, Value::Verbatim("REF000123".into()))
            .with(Variable::Amount, Value::Money(Decimal::new(1250, 0)))
            .with(Variable::Minutes, Value::Number(5));
        let template = "{code} {amount} {minutes} {{x}}";
        assert_eq!(
            render(template, Language::En, &values),
            "REF000123 ৳1,250 5 {x}"
        );
        assert_eq!(
            render(template, Language::Bn, &values),
            "REF000123 ৳১,২৫০ ৫ {x}"
        );
    }

    #[test]
    fn a_verification_code_never_prints_in_debug() {
        let phone = Phone::parse("01712000001").unwrap();
        let message = NewMessage::VerificationCode {
            to: &phone,
            customer_id: None,
            code: "493817",
            valid_minutes: 5,
        };
        let debug = format!("{message:?}");
        assert!(!debug.contains("493817"), "{debug}");
        assert!(!debug.contains("1712000001"), "{debug}");
    }
}
