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
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use uuid::Uuid;

use crate::domain::wallet::IdempotencyKey;
use crate::error::{Code, Error, Result};
use crate::http::AppState;
use crate::service;

// Pagination. Every list route answers one page, of at most the route's maximum rows
// (`DEFAULT` when `limit` is absent), and takes the cursor of its order: the previous page's
// last row, named by the keys the list is sorted by. The page types carry their route's
// bounds as const parameters, so that each route's OpenAPI parameters state them
// (`minimum`, `maximum`, `default`) and no handler repeats them.

/// `?limit=&beforeId=`: a page of a newest-first list. `beforeId` is the last id of the
/// previous page (seek pagination: stable while new rows arrive). `Id` is the list's id
/// type (`i32`, or `Uuid` for campaigns and partners, whose lists the service sorts by
/// `(created_at, id)` from the row that id names).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageParams<const DEFAULT: i64, const MAX: i64, Id = i32> {
    /// How many rows.
    limit: Option<i64>,
    /// Only rows after this one in the list's order (older).
    pub before_id: Option<Id>,
}

impl<const DEFAULT: i64, const MAX: i64, Id> PageParams<DEFAULT, MAX, Id> {
    /// The validated limit: `DEFAULT` when absent, 400 `invalid_query` outside `1..=MAX`.
    pub fn limit(&self) -> Result<i64> {
        bounded_limit::<DEFAULT, MAX>(self.limit)
    }
}

impl<const DEFAULT: i64, const MAX: i64, Id: CursorValue> IntoParams
    for PageParams<DEFAULT, MAX, Id>
{
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            limit_parameter(DEFAULT, MAX),
            cursor_parameter::<Id>(
                "beforeId",
                "Only rows after this one in the list's order: the last `id` of the previous page.",
            ),
        ]
    }
}

/// `?limit=&afterId=`: a page of an oldest-first list (lists in the order their rows were
/// made: grocery lists and their items, consumption profiles). `afterId` is the last id of
/// the previous page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AfterPageParams<const DEFAULT: i64, const MAX: i64> {
    /// How many rows.
    limit: Option<i64>,
    /// Only rows with a greater id.
    pub after_id: Option<i32>,
}

impl<const DEFAULT: i64, const MAX: i64> AfterPageParams<DEFAULT, MAX> {
    /// The validated limit: `DEFAULT` when absent, 400 `invalid_query` outside `1..=MAX`.
    pub fn limit(&self) -> Result<i64> {
        bounded_limit::<DEFAULT, MAX>(self.limit)
    }
}

impl<const DEFAULT: i64, const MAX: i64> IntoParams for AfterPageParams<DEFAULT, MAX> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            limit_parameter(DEFAULT, MAX),
            cursor_parameter::<i32>(
                "afterId",
                "Only rows with a greater id: the last `id` of the previous page.",
            ),
        ]
    }
}

/// `?limit=&afterDate=&afterId=`: a page of a list due soonest first (subscriptions due,
/// reminders due), sorted by `(due date, id)`. The cursor is the previous page's last row:
/// its due date and its id, both or neither.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuePageParams<const DEFAULT: i64, const MAX: i64> {
    /// How many rows.
    limit: Option<i64>,
    /// The due date of the previous page's last row.
    after_date: Option<NaiveDate>,
    /// The id of the previous page's last row.
    after_id: Option<i32>,
}

impl<const DEFAULT: i64, const MAX: i64> DuePageParams<DEFAULT, MAX> {
    /// The validated limit: `DEFAULT` when absent, 400 `invalid_query` outside `1..=MAX`.
    pub fn limit(&self) -> Result<i64> {
        bounded_limit::<DEFAULT, MAX>(self.limit)
    }

    /// The cursor, `(due date, id)`; 400 `invalid_query` when only one half is given.
    pub fn cursor(&self) -> Result<Option<(NaiveDate, i32)>> {
        both_or_neither(self.after_date, self.after_id, "afterDate", "afterId")
    }
}

impl<const DEFAULT: i64, const MAX: i64> IntoParams for DuePageParams<DEFAULT, MAX> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            limit_parameter(DEFAULT, MAX),
            cursor_parameter::<NaiveDate>(
                "afterDate",
                "With `afterId`: only rows due after the previous page's last row. Its due date.",
            ),
            cursor_parameter::<i32>(
                "afterId",
                "With `afterDate`: the `id` of the previous page's last row.",
            ),
        ]
    }
}

/// `?limit=&afterSpend=&afterCustomerId=`: a page of memberships, the highest current-month
/// spend first (ties by customer id). The cursor is the previous page's last row: its
/// `currentMonthSpend` and its `customerId`, both or neither. Spend is computed at each
/// request, so a customer whose spend changes between two pages can move across the cursor.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendPageParams<const DEFAULT: i64, const MAX: i64> {
    /// How many rows.
    limit: Option<i64>,
    /// The `currentMonthSpend` of the previous page's last row.
    after_spend: Option<Decimal>,
    /// The `customerId` of the previous page's last row.
    after_customer_id: Option<i32>,
}

impl<const DEFAULT: i64, const MAX: i64> SpendPageParams<DEFAULT, MAX> {
    /// The validated limit: `DEFAULT` when absent, 400 `invalid_query` outside `1..=MAX`.
    pub fn limit(&self) -> Result<i64> {
        bounded_limit::<DEFAULT, MAX>(self.limit)
    }

    /// The cursor, `(spend, customer id)`; 400 `invalid_query` when only one half is given.
    pub fn cursor(&self) -> Result<Option<(Decimal, i32)>> {
        both_or_neither(
            self.after_spend,
            self.after_customer_id,
            "afterSpend",
            "afterCustomerId",
        )
    }
}

impl<const DEFAULT: i64, const MAX: i64> IntoParams for SpendPageParams<DEFAULT, MAX> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            limit_parameter(DEFAULT, MAX),
            cursor_parameter::<Decimal>(
                "afterSpend",
                "With `afterCustomerId`: the `currentMonthSpend` of the previous page's last row.",
            ),
            cursor_parameter::<i32>(
                "afterCustomerId",
                "With `afterSpend`: the `customerId` of the previous page's last row.",
            ),
        ]
    }
}

/// `limit` of a page type, checked at compile time to be a sane pair.
fn bounded_limit<const DEFAULT: i64, const MAX: i64>(limit: Option<i64>) -> Result<i64> {
    const {
        assert!(
            1 <= DEFAULT && DEFAULT <= MAX,
            "a page's default must be 1..=MAX"
        )
    };
    page_limit(limit, DEFAULT, MAX)
}

/// Both halves of a composite cursor, or neither; one alone is 400 `invalid_query`.
fn both_or_neither<A, B>(
    a: Option<A>,
    b: Option<B>,
    a_name: &str,
    b_name: &str,
) -> Result<Option<(A, B)>> {
    match (a, b) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        _ => Err(Error::new(
            Code::InvalidQuery,
            format!("{a_name} and {b_name} go together: the previous page's last row"),
        )),
    }
}

/// The OpenAPI parameter `limit` of a page: 1 to `max`, `default` when absent.
fn limit_parameter(default: i64, max: i64) -> Parameter {
    ParameterBuilder::new()
        .name("limit")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(format!(
            "How many rows: 1 to {max} (default {default})."
        )))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1))
                .maximum(Some(max))
                .default(Some(default.into())),
        ))
        .build()
}

/// A type a cursor parameter holds, with its OpenAPI schema (utoipa knows `Uuid`,
/// `NaiveDate` and `Decimal` only inside its derive macros).
pub trait CursorValue {
    /// The parameter's schema.
    fn schema() -> Schema;
}

impl CursorValue for i32 {
    fn schema() -> Schema {
        typed(Type::Integer, KnownFormat::Int32)
    }
}

impl CursorValue for Uuid {
    fn schema() -> Schema {
        typed(Type::String, KnownFormat::Uuid)
    }
}

impl CursorValue for NaiveDate {
    fn schema() -> Schema {
        typed(Type::String, KnownFormat::Date)
    }
}

impl CursorValue for Decimal {
    fn schema() -> Schema {
        typed(Type::Number, KnownFormat::Double)
    }
}

fn typed(schema_type: Type, format: KnownFormat) -> Schema {
    ObjectBuilder::new()
        .schema_type(schema_type)
        .format(Some(SchemaFormat::KnownFormat(format)))
        .into()
}

/// An optional cursor parameter of type `T`.
fn cursor_parameter<T: CursorValue>(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(T::schema()))
        .build()
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
