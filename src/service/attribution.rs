//! Attribution: turning a code, wherever it was captured, into "who brought this
//! customer". Signup, guest checkout, a code typed on an order and the landing page all
//! come through here, so the rules are the same everywhere:
//!
//! - a partner code (active, case-insensitive) wins over a share code;
//! - a share code must name another live customer; an invite code a pending invitation;
//! - self-referral is refused (by id, phone and email) and logged;
//! - a friend on the blocklist (phone, email domain, device, address) gets no referral
//!   (`referral_refused`, reason `blocklisted`), though they still register;
//! - the first touch wins: an attributed customer is never re-attributed;
//! - every step writes a `referral_events` row, so the funnel can be counted.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::db;
use crate::db::customers::Attribution;
use crate::db::events::NewEvent;
use crate::db::referrals::NewReferral;
use crate::domain::channel::Channel;
use crate::domain::referral::EventType;
use crate::domain::referral_code::{parse_invite_code, parse_share_code, share_code};
use crate::domain::utm::Utm;
use crate::error::Result;

/// Longest code kept in an event, as typed.
const MAX_LOGGED_CODE: usize = 50;

/// What a typed code is.
#[derive(Debug, Clone)]
pub enum CodeMatch {
    /// An active partner's code.
    Partner {
        /// Partner id.
        id: Uuid,
        /// The code's canonical spelling.
        code: String,
    },
    /// A live customer's share code.
    Share {
        /// The customer it belongs to.
        referrer_id: i32,
    },
    /// A pending invitation's code.
    Invite {
        /// The invitation.
        referral: Box<crate::domain::referral::Referral>,
    },
    /// Nothing Bondhu knows.
    Unknown {
        /// Why: `no_such_code`, `referrer_not_found`, `invite_not_pending`.
        reason: &'static str,
    },
}

impl CodeMatch {
    /// `partner`, `share`, `invite` or `unknown`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Partner { .. } => "partner",
            Self::Share { .. } => "share",
            Self::Invite { .. } => "invite",
            Self::Unknown { .. } => "unknown",
        }
    }

    /// The code's canonical spelling, for known codes.
    pub fn canonical_code(&self) -> Option<String> {
        match self {
            Self::Partner { code, .. } => Some(code.clone()),
            Self::Share { referrer_id } => Some(share_code(*referrer_id)),
            Self::Invite { referral } => Some(referral.referral_code.clone()),
            Self::Unknown { .. } => None,
        }
    }
}

/// Whether matching a code locks a pending invitation it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// The caller will claim the invitation in this transaction: lock it.
    ForClaim,
    /// The caller only reads.
    No,
}

/// Decides what a typed code is. Codes are ASCII: a look-alike from another script
/// (Cyrillic `Е`, full-width digits) matches nothing.
pub async fn match_code(db: &mut PgConnection, code: &str, lock: Lock) -> Result<CodeMatch> {
    let code = code.trim();
    if code.is_empty() || code.len() > MAX_LOGGED_CODE || !code.is_ascii() {
        return Ok(CodeMatch::Unknown {
            reason: "no_such_code",
        });
    }
    if let Some(partner) = db::partners::find_active_by_code(&mut *db, code).await? {
        return Ok(CodeMatch::Partner {
            id: partner.id,
            code: partner.code,
        });
    }
    if let Some(referrer_id) = parse_share_code(code) {
        return Ok(if db::customers::exists(&mut *db, referrer_id).await? {
            CodeMatch::Share { referrer_id }
        } else {
            CodeMatch::Unknown {
                reason: "referrer_not_found",
            }
        });
    }
    if let Some(invite) = parse_invite_code(code) {
        return Ok(
            match db::referrals::find_pending_invite(&mut *db, &invite, lock == Lock::ForClaim)
                .await?
            {
                Some(referral) => CodeMatch::Invite {
                    referral: Box::new(referral),
                },
                None => CodeMatch::Unknown {
                    reason: "invite_not_pending",
                },
            },
        );
    }
    Ok(CodeMatch::Unknown {
        reason: "no_such_code",
    })
}

/// The customer being attributed.
#[derive(Debug, Clone, Copy)]
pub struct Customer<'a> {
    /// Customer id.
    pub id: i32,
    /// E.164 phone.
    pub phone: &'a str,
    /// Email.
    pub email: Option<&'a str>,
    /// What the blocklist is checked against besides the phone and email: the device
    /// and the (normalised) address the customer came with.
    pub screen: crate::service::fraud::Screen<'a>,
}

/// Where and how a code arrived.
#[derive(Debug, Clone, Copy)]
pub struct Capture<'a> {
    /// The code as typed.
    pub code: &'a str,
    /// The channel as the client named it (`None`: `default_channel`).
    pub raw_channel: Option<&'a str>,
    /// The channel when the client named none (`web` at signup, `checkout` on an order).
    pub default_channel: Channel,
    /// When the referral counts as made: the order's time for a code typed on an order.
    pub at: Option<DateTime<Utc>>,
    /// The UTM tags the customer arrived with (kept on the referral and its events).
    pub utm: &'a Utm,
}

/// What attribution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A referral now links the customer to their referrer (share or invite code).
    Referred {
        /// The referral.
        referral_id: i32,
    },
    /// The customer is attributed to a partner.
    Partner,
    /// The customer already had attribution; nothing changed.
    AlreadyAttributed,
    /// The code was the customer's own.
    SelfReferral,
    /// The customer matches the blocklist: no referral was made.
    Blocklisted,
    /// Nothing known matched.
    Unknown,
}

/// Attributes `customer` to `capture.code`, in the caller's transaction.
pub async fn attribute(
    conn: &mut PgConnection,
    customer: Customer<'_>,
    capture: Capture<'_>,
) -> Result<Outcome> {
    let channel = capture
        .raw_channel
        .map_or(capture.default_channel, Channel::parse_lenient);
    let mut payload = json!({});
    if let Some(raw) = capture.raw_channel.filter(|_| channel == Channel::Other) {
        payload["rawChannel"] = json!(truncate(raw));
    }
    if !capture.utm.is_empty() {
        payload["utm"] = capture.utm.to_json();
    }
    let typed = truncate(capture.code);
    let event = |event_type| NewEvent {
        referred_customer_id: Some(customer.id),
        share_code_used: Some(&typed),
        source_channel: Some(channel.as_str()),
        ..NewEvent::new(event_type)
    };

    let matched = match_code(conn, capture.code, Lock::ForClaim).await?;
    if let CodeMatch::Unknown { reason } = matched {
        payload["reason"] = json!(reason);
        db::events::record(
            &mut *conn,
            NewEvent {
                payload: Some(payload),
                ..event(EventType::UnknownCode)
            },
        )
        .await?;
        return Ok(Outcome::Unknown);
    }
    if let Some(referrer_id) = referrer_of(&matched)
        && is_self_referral(&mut *conn, customer, referrer_id).await?
    {
        db::events::record(
            &mut *conn,
            NewEvent {
                referrer_customer_id: Some(referrer_id),
                payload: Some(payload),
                ..event(EventType::SelfReferralBlocked)
            },
        )
        .await?;
        return Ok(Outcome::SelfReferral);
    }
    if let Some(kind) = crate::service::fraud::blocklisted(
        &mut *conn,
        customer.phone,
        customer.email,
        customer.screen,
    )
    .await?
    {
        payload["reason"] = json!("blocklisted");
        payload["blocklist"] = json!(kind.as_str());
        payload["kind"] = json!(matched.kind());
        db::events::record(
            &mut *conn,
            NewEvent {
                referrer_customer_id: referrer_of(&matched),
                payload: Some(payload),
                ..event(EventType::ReferralRefused)
            },
        )
        .await?;
        return Ok(Outcome::Blocklisted);
    }

    // The campaign is decided now and kept on the referral: the partner's campaign, the
    // channel's, or the default one. A/B variants are sticky per referrer (or partner).
    // An invitation carries the terms snapshotted when it was sent.
    let (campaign_id, variant_id) = match &matched {
        CodeMatch::Invite { referral } => (referral.campaign_id, referral.variant_id),
        CodeMatch::Partner { id, .. } => {
            choose_campaign(conn, Some(*id), channel, &id.to_string()).await?
        }
        CodeMatch::Share { referrer_id } => {
            choose_campaign(conn, None, channel, &referrer_id.to_string()).await?
        }
        CodeMatch::Unknown { .. } => (None, None),
    };
    let attribution = Attribution {
        referred_by_customer_id: referrer_of(&matched),
        referred_by_code: matched.canonical_code(),
        referred_by_partner_id: match &matched {
            CodeMatch::Partner { id, .. } => Some(*id),
            _ => None,
        },
        referred_channel: channel.as_str().to_owned(),
        referral_campaign_id: campaign_id,
    };

    // The referral is written first: the unique index on its referred customer is the one
    // judge of "one referrer per customer", and the customer's attribution columns are
    // only a copy of the referral that won.
    let new_referral = NewReferral {
        referred_customer_id: Some(customer.id),
        referred_email: customer.email,
        referred_phone: Some(customer.phone),
        share_code_used: Some(&typed),
        source_channel: Some(channel.as_str()),
        campaign_id,
        variant_id,
        created_at: capture.at,
        utm: Some(capture.utm),
        ..NewReferral::default()
    };
    let partner_code = match &matched {
        CodeMatch::Partner { code, .. } => Some(code.clone()),
        _ => None,
    };
    let kind = matched.kind();
    let referral = match matched {
        CodeMatch::Partner { id, .. } => {
            db::referrals::insert(
                conn,
                &NewReferral {
                    partner_id: Some(id),
                    ..new_referral
                },
            )
            .await?
        }
        CodeMatch::Share { referrer_id } => {
            db::referrals::insert(
                conn,
                &NewReferral {
                    referrer_customer_id: Some(referrer_id),
                    ..new_referral
                },
            )
            .await?
        }
        CodeMatch::Invite { referral } => {
            if db::referrals::find_by_referred(&mut *conn, customer.id)
                .await?
                .is_some()
            {
                None
            } else {
                // `match_code` locked the pending invitation, so the claim cannot miss.
                Some(
                    db::referrals::claim_invite(
                        &mut *conn,
                        &referral.referral_code,
                        customer.id,
                        channel.as_str(),
                        capture.utm,
                    )
                    .await?
                    .ok_or_else(|| {
                        anyhow::anyhow!("invitation {} vanished while locked", referral.id)
                    })?,
                )
            }
        }
        CodeMatch::Unknown { .. } => return Ok(Outcome::Unknown),
    };
    let Some(referral) = referral else {
        payload["kind"] = json!(kind);
        db::events::record(
            &mut *conn,
            NewEvent {
                payload: Some(payload),
                ..event(EventType::AttributionIgnored)
            },
        )
        .await?;
        return Ok(Outcome::AlreadyAttributed);
    };
    db::customers::attribute(&mut *conn, customer.id, &attribution).await?;
    if let Some(code) = &partner_code {
        db::events::record(
            &mut *conn,
            NewEvent {
                referral_id: Some(referral.id),
                partner_code: Some(code),
                payload: Some(payload.clone()),
                ..event(EventType::PartnerAttributed)
            },
        )
        .await?;
    }
    payload["campaignId"] = json!(referral.campaign_id);
    payload["variantId"] = json!(referral.variant_id);
    db::events::record(
        &mut *conn,
        NewEvent {
            referral_id: Some(referral.id),
            referrer_customer_id: referral.referrer_customer_id,
            referred_customer_id: referral.referred_customer_id,
            share_code_used: referral.share_code_used.as_deref(),
            source_channel: referral.source_channel.as_deref(),
            payload: Some(payload),
            ..NewEvent::new(EventType::Registered)
        },
    )
    .await?;
    db::referrals::issue_welcome_rewards(&mut *conn, referral.id).await?;
    Ok(
        if referral.partner_id.is_some() && referral.referrer_customer_id.is_none() {
            Outcome::Partner
        } else {
            Outcome::Referred {
                referral_id: referral.id,
            }
        },
    )
}

/// The campaign (and variant, sticky per `subject`) for a referral made now.
pub async fn choose_campaign(
    conn: &mut PgConnection,
    partner_id: Option<Uuid>,
    channel: Channel,
    subject: &str,
) -> Result<(Option<Uuid>, Option<i32>)> {
    Ok(
        db::referrals::resolve_campaign(conn, partner_id, channel.as_str())
            .await?
            .map_or((None, None), |choice| {
                (Some(choice.campaign_id), choice.variant_for(subject))
            }),
    )
}

fn referrer_of(matched: &CodeMatch) -> Option<i32> {
    match matched {
        CodeMatch::Share { referrer_id } => Some(*referrer_id),
        CodeMatch::Invite { referral } => referral.referrer_customer_id,
        _ => None,
    }
}

/// Same customer, or the referrer's phone or email is the customer's.
async fn is_self_referral(
    db: impl PgExecutor<'_>,
    customer: Customer<'_>,
    referrer_id: i32,
) -> Result<bool> {
    if referrer_id == customer.id {
        return Ok(true);
    }
    Ok(db::customers::find_contact(db, referrer_id)
        .await?
        .is_some_and(|referrer| {
            referrer.phone == customer.phone
                || (referrer.email.is_some() && referrer.email.as_deref() == customer.email)
        }))
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_LOGGED_CODE).collect()
}
