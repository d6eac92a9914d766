//! What a code is worth before signup, and the landing page of shared links and QR cards.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

use crate::db;
use crate::db::events::NewEvent;
use crate::domain::channel::Channel;
use crate::domain::referral::{EventType, RewardKind, RewardTerms};
use crate::domain::utm::Utm;
use crate::error::Result;
use crate::service::attribution::{self, CodeMatch, Lock};
use crate::service::fraud::{self, ClientSignals};

/// What a code is worth, for a page to say "Referral applied: you get ৳100" before signup.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeCheckResponse {
    /// Whether the code will attribute a new customer.
    valid: bool,
    /// `share`, `partner` or `invite`; `null` when not valid.
    kind: Option<&'static str>,
    /// The code's canonical spelling.
    code: Option<String>,
    /// The reward kind a referral made now would carry (`wallet`, `points`, `coupon`, …);
    /// `null` when no campaign is running.
    reward_type: Option<RewardKind>,
    /// Fixed taka for the new customer (for `wallet`, or a fixed `coupon`).
    #[schema(value_type = Option<f64>)]
    referred_reward: Option<Decimal>,
    /// Fixed taka for the referrer.
    #[schema(value_type = Option<f64>)]
    referrer_reward: Option<Decimal>,
    /// The new customer's reward as a % of the first order, when it is a percentage.
    #[schema(value_type = Option<f64>)]
    referred_reward_percent: Option<Decimal>,
    /// The referrer's reward as a % of the friend's first order.
    #[schema(value_type = Option<f64>)]
    referrer_reward_percent: Option<Decimal>,
    /// Points for the new customer (for `points`).
    referred_points: Option<i64>,
    /// Points for the referrer.
    referrer_points: Option<i64>,
    /// The smallest first order that earns the rewards.
    #[schema(value_type = Option<f64>)]
    min_order_amount: Option<Decimal>,
}

impl CodeCheckResponse {
    /// Fills the reward fields from a referral's (or campaign's) terms. The terms already
    /// say whether a side pays a fixed amount or a percentage (see `RewardTerms`), so
    /// they are copied, not interpreted.
    fn with_terms(mut self, terms: &RewardTerms) -> Self {
        self.reward_type = terms.reward_type;
        self.referred_reward_percent = terms.reward_referred_percent;
        self.referrer_reward_percent = terms.reward_referrer_percent;
        self.referred_reward = terms.reward_referred_amount;
        self.referrer_reward = terms.reward_referrer_amount;
        self.referred_points = terms.reward_referred_points.map(i64::from);
        self.referrer_points = terms.reward_referrer_points.map(i64::from);
        self.min_order_amount = terms.min_order_amount;
        self
    }
}

/// What `code` would give a new customer now. Reads only.
pub async fn check(pool: &PgPool, code: &str) -> Result<CodeCheckResponse> {
    let mut conn = pool.acquire().await?;
    let matched = attribution::match_code(&mut conn, code, Lock::No).await?;
    let subject = match &matched {
        CodeMatch::Share { referrer_id } => Some((None, referrer_id.to_string())),
        CodeMatch::Partner { id, .. } => Some((Some(*id), id.to_string())),
        CodeMatch::Invite { .. } | CodeMatch::Unknown { .. } => None,
    };
    let terms = match (&matched, subject) {
        (CodeMatch::Invite { referral }, _) => Some(referral.reward_terms.clone()),
        (_, Some((partner, subject))) => {
            match attribution::choose_campaign(&mut conn, partner, Channel::ShareLink, &subject)
                .await?
            {
                (Some(campaign_id), variant_id) => {
                    Some(db::referrals::campaign_terms(&mut *conn, campaign_id, variant_id).await?)
                }
                (None, _) => None,
            }
        }
        _ => None,
    };
    let valid = !matches!(matched, CodeMatch::Unknown { .. });
    let response = CodeCheckResponse {
        valid,
        kind: valid.then(|| matched.kind()),
        code: matched.canonical_code(),
        ..CodeCheckResponse::default()
    };
    Ok(match terms {
        Some(terms) => response.with_terms(&terms),
        None => response,
    })
}

/// Where a landing sends the visitor: the code's canonical spelling (`None` for an
/// unknown code) and the channel it came through.
pub struct Landing {
    /// The code to pass on.
    pub code: Option<String>,
    /// The channel to pass on.
    pub channel: Channel,
}

/// Records a visit of a shared link or QR card (`clicked`, with its channel and the link's
/// UTM tags). Unknown codes are not recorded: a public URL must not let anyone fill the
/// event log. The visitor's device and hashed address are kept as `landing` signals of
/// the code.
pub async fn land(
    pool: &PgPool,
    code: &str,
    raw_channel: Option<&str>,
    utm: &Utm,
    client: &ClientSignals,
) -> Result<Landing> {
    let channel = raw_channel.map_or(Channel::ShareLink, Channel::parse_lenient);
    let mut conn = pool.acquire().await?;
    let matched = attribution::match_code(&mut conn, code, Lock::No).await?;
    let (referral_id, referrer, partner_code) = match &matched {
        CodeMatch::Share { referrer_id } => (None, Some(*referrer_id), None),
        CodeMatch::Invite { referral } => (Some(referral.id), referral.referrer_customer_id, None),
        CodeMatch::Partner { code, .. } => (None, None, Some(code.as_str())),
        CodeMatch::Unknown { .. } => {
            return Ok(Landing {
                code: None,
                channel,
            });
        }
    };
    let canonical = matched.canonical_code();
    let mut payload = json!({ "via": "landing", "kind": matched.kind() });
    if let (Channel::Other, Some(raw)) = (channel, raw_channel) {
        payload["rawChannel"] = json!(raw.chars().take(50).collect::<String>());
    }
    if !utm.is_empty() {
        payload["utm"] = utm.to_json();
    }
    db::events::record(
        &mut *conn,
        NewEvent {
            referral_id,
            referrer_customer_id: referrer,
            share_code_used: canonical.as_deref(),
            partner_code,
            source_channel: Some(channel.as_str()),
            payload: Some(payload),
            ..NewEvent::new(EventType::Clicked)
        },
    )
    .await?;
    fraud::record_landing(&mut *conn, referrer, referral_id, client).await?;
    Ok(Landing {
        code: canonical,
        channel,
    })
}
