//! Public code checks and the landing page of shared links and printed QR cards.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::db;
use crate::db::events::NewEvent;
use crate::domain::channel::Channel;
use crate::domain::money::parse_decimal;
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::http::rate_limit::PublicRateLimit;
use crate::service::attribution::{self, CodeMatch};

/// The code routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_code))
        .routes(routes!(land))
}

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
    reward_type: Option<String>,
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
    /// Fills the reward fields from a referral's (or campaign's) terms.
    fn with_terms(mut self, terms: &serde_json::Value) -> Self {
        let decimal = |key: &str| {
            terms
                .get(key)
                .filter(|v| !v.is_null())
                .and_then(|v| parse_decimal(&v.to_string()))
        };
        let integer = |key: &str| terms.get(key).and_then(serde_json::Value::as_i64);
        self.reward_type = terms
            .get("reward_type")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        self.referred_reward_percent = decimal("reward_referred_percent");
        self.referrer_reward_percent = decimal("reward_referrer_percent");
        if self.referred_reward_percent.is_none() {
            self.referred_reward = decimal("reward_referred_amount");
        }
        if self.referrer_reward_percent.is_none() {
            self.referrer_reward = decimal("reward_referrer_amount");
        }
        self.referred_points = integer("reward_referred_points");
        self.referrer_points = integer("reward_referrer_points");
        self.min_order_amount = decimal("min_order_amount");
        self
    }
}

/// Checks a share, partner or invite code. Public, rate-limited; writes nothing.
#[utoipa::path(get, path = "/api/referral-codes/{code}", tag = "referrals",
    params(("code" = String, Path)),
    responses((status = 200, body = CodeCheckResponse), (status = 429, body = ErrorBody)))]
async fn check_code(
    _limit: PublicRateLimit,
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<CodeCheckResponse>> {
    let mut tx = state.db.begin().await?;
    let matched = attribution::match_code(&mut tx, &code).await?;
    let (campaign, subject) = match &matched {
        CodeMatch::Share { referrer_id } => (None, Some(referrer_id.to_string())),
        CodeMatch::Partner { id, .. } => (Some(*id), Some(id.to_string())),
        CodeMatch::Invite { .. } | CodeMatch::Unknown { .. } => (None, None),
    };
    let terms = match (&matched, subject) {
        (CodeMatch::Invite { referral }, _) => Some(referral.reward_terms.clone()),
        (_, Some(subject)) => {
            match attribution::choose_campaign(&mut tx, campaign, Channel::ShareLink, &subject)
                .await?
            {
                (Some(campaign_id), variant_id) => {
                    Some(db::referrals::campaign_terms(&mut *tx, campaign_id, variant_id).await?)
                }
                (None, _) => None,
            }
        }
        _ => None,
    };
    // Read-only: release the invitation row that matching locked.
    tx.rollback().await?;
    let valid = !matches!(matched, CodeMatch::Unknown { .. });
    let response = CodeCheckResponse {
        valid,
        kind: valid.then(|| matched.kind()),
        code: matched.canonical_code(),
        ..CodeCheckResponse::default()
    };
    Ok(Json(match terms {
        Some(terms) => response.with_terms(&terms),
        None => response,
    }))
}

/// `?ch=`: the channel the link was shared through.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LandingParams {
    /// `qr`, `whatsapp`, `facebook`, `sms`, `delivery_card`, … (default `share_link`).
    ch: Option<String>,
}

/// The landing page of shared links and printed QR cards (`/r/REF000123?ch=qr`): records
/// a `clicked` event with its channel, then redirects to the shop's registration page
/// with the code and the channel, so the QR channel is not lost. Public, rate-limited.
#[utoipa::path(get, path = "/r/{code}", tag = "referrals",
    params(("code" = String, Path), LandingParams),
    responses((status = 302, description = "To the shop's registration page"), (status = 429, body = ErrorBody)))]
async fn land(
    _limit: PublicRateLimit,
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(params): Query<LandingParams>,
) -> Result<Response> {
    let channel = params
        .ch
        .as_deref()
        .map_or(Channel::ShareLink, Channel::parse_lenient);
    let mut tx = state.db.begin().await?;
    let matched = attribution::match_code(&mut tx, &code).await?;
    let typed: String = code.chars().take(50).collect();
    let canonical = matched.canonical_code();
    let (event_type, referrer, partner_code) = match &matched {
        CodeMatch::Share { referrer_id } => ("clicked", Some(*referrer_id), None),
        CodeMatch::Invite { referral } => ("clicked", referral.referrer_customer_id, None),
        CodeMatch::Partner { code, .. } => ("clicked", None, Some(code.as_str())),
        CodeMatch::Unknown { .. } => ("unknown_code", None, None),
    };
    let mut payload = json!({ "via": "landing", "kind": matched.kind() });
    if let (Channel::Other, Some(raw)) = (channel, params.ch.as_deref()) {
        payload["rawChannel"] = json!(raw.chars().take(50).collect::<String>());
    }
    db::events::record(
        &mut *tx,
        NewEvent {
            event_type,
            referral_id: match &matched {
                CodeMatch::Invite { referral } => Some(referral.id),
                _ => None,
            },
            referrer_customer_id: referrer,
            share_code_used: Some(&typed),
            partner_code,
            source_channel: Some(channel.as_str()),
            payload: Some(payload),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;

    let target = match canonical {
        // Canonical codes are ASCII letters, digits, `_` and `-`: safe in a query string.
        Some(code) => format!(
            "{}/register?ref={code}&referralChannel={}",
            state.config.shop_url,
            channel.as_str()
        ),
        None => format!("{}/register", state.config.shop_url),
    };
    let location =
        HeaderValue::try_from(target).map_err(|e| anyhow::anyhow!("redirect target: {e}"))?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}
