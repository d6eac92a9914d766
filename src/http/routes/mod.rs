//! One module per resource. TrustCart-compatible handlers keep TrustCart's paths, methods
//! and JSON keys; every handler only parses, authorises and calls [`crate::service`].

pub mod auth;
pub mod benefits;
pub mod campaigns;
pub mod cards;
pub mod codes;
pub mod couriers;
pub mod crm;
pub mod customers;
pub mod fraud;
pub mod grocery;
pub mod health;
pub mod kpis;
pub mod loyalty;
pub mod messages;
pub mod orders;
pub mod partner_portal;
pub mod partners;
pub mod payouts;
pub mod phone_verification;
pub mod reconciliation;
pub mod referrals;
pub mod reminders;
pub mod reviews;
pub mod share;
pub mod wallets;
pub mod webhook_subscriptions;
pub mod webhooks;
pub mod withdrawals;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::domain::wallet::IdempotencyKey;
use crate::error::{Code, Error, Result};
use crate::http::AppState;
use crate::service;

/// `?limit=&beforeId=`: a page of a newest-first list. `beforeId` is the last id of the
/// previous page (seek pagination: stable while new rows arrive).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many rows (1 to the route's maximum).
    pub limit: Option<i64>,
    /// Only rows with a smaller id than this.
    pub before_id: Option<i32>,
}

impl PageParams {
    /// The validated limit: `default` when absent, an error outside `1..=max`.
    pub fn limit(&self, default: i64, max: i64) -> Result<i64> {
        page_limit(self.limit, default, max)
    }
}

/// A `?limit=` of any list: `default` when absent, an error outside `1..=max`.
pub fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(_) => Err(Error::new(
            Code::InvalidQuery,
            format!("limit must be between 1 and {max}"),
        )),
    }
}

/// A customer named in a path: the integer id, or the customer's UUID (as TrustCart allows).
#[derive(Debug, Clone, Copy)]
pub enum CustomerKey {
    /// `customers.id`.
    Id(i32),
    /// `customers.uuid`.
    Uuid(Uuid),
}

impl<'de> Deserialize<'de> for CustomerKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        if let Ok(id) = raw.parse::<i32>() {
            return Ok(Self::Id(id));
        }
        raw.parse::<Uuid>()
            .map(Self::Uuid)
            .map_err(|_| serde::de::Error::custom("customerId must be an integer id or a UUID"))
    }
}

impl CustomerKey {
    /// The customer's id.
    pub async fn resolve(self, state: &AppState) -> Result<i32> {
        match self {
            Self::Id(id) => Ok(id),
            Self::Uuid(uuid) => service::customers::id_for_uuid(&state.db, uuid).await,
        }
    }
}

/// Header on a response that replays an earlier movement with the same idempotency key.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The idempotency key of a money-moving request: `idempotencyKey` in the body or the
/// `Idempotency-Key` header (refused when both are sent and differ), checked here, at the
/// edge, into an [`IdempotencyKey`].
pub fn idempotency_key(headers: &HeaderMap, body_key: Option<String>) -> Result<IdempotencyKey> {
    let header_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match (body_key, header_key) {
        (Some(body_key), Some(header_key)) if body_key != header_key => Err(Error::invalid_field(
            "idempotencyKey",
            "differs from the Idempotency-Key header; send one key",
        )),
        (body_key, header_key) => {
            IdempotencyKey::parse(&body_key.or(header_key).unwrap_or_default())
                .map_err(|e| Error::invalid_field("idempotencyKey", e.to_string()))
        }
    }
}

/// 201 with the ledger row, and `Idempotent-Replayed: true` when it is the original of a
/// replayed request.
pub fn posted_response<T: Serialize>(row: T, created: bool) -> impl IntoResponse {
    let replayed = HeaderValue::from_static(if created { "false" } else { "true" });
    (
        StatusCode::CREATED,
        [(REPLAYED, replayed)],
        crate::http::extract::Json(row),
    )
}
