//! Couriers that report deliveries themselves: Steadfast and Pathao.
//!
//! Pure functions, no I/O: reading their webhook payloads ([`parse_steadfast`],
//! [`parse_pathao`]), what a courier's status means for Bondhu's order
//! ([`meaning`], the mapping tables of `docs/ARCHITECTURE.md`, "Couriers"), and whether an
//! event may still change the order ([`decide`], the ordering rule). Whether a status is
//! a success or a reversal is not decided here: that is `order_status_is_success` /
//! `order_status_is_reversal` in SQL, which the caller asks ([`Class`]).

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use serde_json::Value;

use super::money::MAX_ORDER_TOTAL;
use super::order::OrderStatus;
use super::time::Timestamp;
use crate::error::Problems;

super::sql_enum! {
    /// A courier that reports to Bondhu (`courier`).
    pub enum Courier = "courier" {
        /// Steadfast Courier (packzy): `POST /api/webhooks/couriers/steadfast`.
        Steadfast = "steadfast",
        /// Pathao Courier: `POST /api/webhooks/couriers/pathao`.
        Pathao = "pathao",
    }
}

super::sql_enum! {
    /// What became of one courier event (`courier_event_outcome`).
    pub enum EventOutcome = "courier_event_outcome" {
        /// No order has its consignment yet; matched when the order is linked to it.
        Unmatched = "unmatched",
        /// The order moved to the mapped status.
        Applied = "applied",
        /// Too late to change anything (see [`decide`]); kept.
        Stale = "stale",
        /// Tracking-only or informational; kept.
        Ignored = "ignored",
    }
}

super::sql_enum! {
    /// Why an event was stale or ignored (`courier_event_reason`).
    pub enum EventReason = "courier_event_reason" {
        /// Older than the newest event already applied for the consignment.
        OlderThanApplied = "older_than_applied",
        /// The order was returned or cancelled: nothing but another reversal moves it.
        AfterReversal = "after_reversal",
        /// The order was delivered: an in-transit or hold status cannot take it back.
        AfterDelivery = "after_delivery",
        /// A tracking message without a status (Steadfast's `tracking_update`).
        TrackingOnly = "tracking_only",
        /// An event that says nothing about delivery (created, pickup requested, paid…).
        Informational = "informational",
        /// A status this server does not know; kept raw for an operator.
        UnknownStatus = "unknown_status",
    }
}

/// The longest consignment id or tracking code accepted (the column's width).
pub const MAX_PARCEL_ID_LEN: usize = 64;
/// The longest invoice / merchant order id kept.
pub const MAX_REFERENCE_LEN: usize = 100;
/// The longest status or event name kept.
pub const MAX_EVENT_LEN: usize = 64;

/// Pathao's handshake event, answered 202 with the integration header.
pub const PATHAO_INTEGRATION_EVENT: &str = "webhook_integration";

/// Bangladesh's offset (no daylight saving since 2009): the couriers' local times
/// (`YYYY-MM-DD HH:MM:SS`) are in it.
const DHAKA_OFFSET_SECS: i32 = 6 * 3600;

/// The parcel the shop reports on `PUT /api/orders/:id` (`courier`, `consignmentId`,
/// `trackingCode`), checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParcelLink {
    /// The courier.
    pub courier: Courier,
    /// The consignment id the courier gave the parcel (Steadfast's number, Pathao's
    /// `DL…` id), trimmed.
    pub consignment_id: Option<String>,
    /// The courier's tracking code, trimmed.
    pub tracking_code: Option<String>,
}

impl ParcelLink {
    /// Checks the three fields of a PUT: a consignment id or tracking code needs its
    /// courier; each is 1–64 printable characters without spaces. `None` when none is
    /// given.
    pub fn from_request(
        courier: Option<Courier>,
        consignment_id: Option<&str>,
        tracking_code: Option<&str>,
    ) -> Result<Option<Self>, Problems> {
        let mut problems = Problems::default();
        let mut field = |name: &str, raw: Option<&str>| {
            let value = raw.map(str::trim)?;
            if value.is_empty()
                || value.chars().count() > MAX_PARCEL_ID_LEN
                || !value.chars().all(|c| c.is_ascii_graphic())
            {
                problems.add(name, "must be 1 to 64 printable characters without spaces");
                return None;
            }
            Some(value.to_owned())
        };
        let consignment_id = field("consignmentId", consignment_id);
        let tracking_code = field("trackingCode", tracking_code);
        let given = consignment_id.is_some() || tracking_code.is_some();
        if courier.is_none() && given {
            problems.add("courier", "is required with consignmentId or trackingCode");
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(courier.map(|courier| Self {
            courier,
            consignment_id,
            tracking_code,
        }))
    }
}

/// An order's parcel as recorded: what the shop linked and what the courier last said.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Parcel {
    /// The courier.
    pub courier: Courier,
    /// The courier's consignment id.
    pub consignment_id: Option<String>,
    /// The courier's tracking code.
    pub tracking_code: Option<String>,
    /// The courier's own name of the last status applied (`partial_delivered`,
    /// `order.returned`, …).
    pub courier_status: Option<String>,
    /// When the courier says that status happened.
    pub courier_updated_at: Option<Timestamp>,
    /// Cash the courier collected, in taka (delivered and partial deliveries; Pathao's
    /// paid returns).
    #[schema(value_type = Option<f64>)]
    pub cash_collected_amount: Option<Decimal>,
    /// The courier's charge, in taka.
    #[schema(value_type = Option<f64>)]
    pub delivery_charge: Option<Decimal>,
}

/// One webhook delivery, read from the courier's payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Who sent it.
    pub courier: Courier,
    /// The parcel it is about (`None` only for Pathao's store events).
    pub consignment_id: Option<String>,
    /// The courier's status or event name, lower case (with Steadfast's `-` and spaces
    /// read as `_`): part of the deduplication key, and what [`meaning`] maps.
    pub event: String,
    /// When the courier says it happened.
    pub event_at: DateTime<Utc>,
    /// What the shop sent the courier as its own reference: Steadfast's `invoice`,
    /// Pathao's `merchant_order_id`.
    pub reference: Option<String>,
    /// Cash collected, in taka, when the event says so.
    pub cash_collected: Option<Decimal>,
    /// The courier's charge, in taka.
    pub delivery_charge: Option<Decimal>,
    /// The courier's message (`tracking_message`, `reason`).
    pub message: Option<String>,
}

/// What a Pathao webhook is.
#[derive(Clone, Debug, PartialEq)]
pub enum PathaoNotice {
    /// The integration handshake (`{"event": "webhook_integration"}`).
    Integration,
    /// An event about a parcel (or a store).
    Event(Delivery),
}

/// Reads a Steadfast webhook: `notification_type` `delivery_status` (`consignment_id`,
/// `invoice`, `cod_amount`, `status`, `delivery_charge`, `tracking_message`,
/// `updated_at`) or `tracking_update` (no status: its event is `tracking_update`); any
/// other notification type is kept under its own name. `cod_amount` counts as cash
/// collected only on a delivered or partially delivered status (Steadfast sends the
/// parcel's COD amount on a cancellation too).
pub fn parse_steadfast(payload: &Value) -> Result<Delivery, Problems> {
    let mut problems = Problems::default();
    let kind = match text(payload, "notification_type") {
        Some(kind) => kind.to_ascii_lowercase(),
        None => {
            problems.add("notification_type", "is required");
            String::new()
        }
    };
    let event = if kind == "delivery_status" {
        match text(payload, "status") {
            Some(status) => normalise_status(&status),
            None => {
                problems.add("status", "is required for a delivery_status notification");
                String::new()
            }
        }
    } else {
        kind
    };
    check_event(&event, "status", &mut problems);
    let consignment_id = consignment(payload, &mut problems);
    if consignment_id.is_none() {
        problems.add("consignment_id", "is required");
    }
    let event_at = timestamp(payload, &["updated_at"], &mut problems);
    let reference = reference(payload, "invoice", &mut problems);
    let cod = amount(payload.get("cod_amount"));
    let delivered = matches!(
        meaning(Courier::Steadfast, &event),
        Meaning::Moves(OrderStatus::Delivered | OrderStatus::PartialDelivered)
    );
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Delivery {
        courier: Courier::Steadfast,
        consignment_id,
        event,
        event_at: event_at.unwrap_or_default(),
        reference,
        cash_collected: cod.filter(|_| delivered),
        delivery_charge: amount(payload.get("delivery_charge")),
        message: text(payload, "tracking_message"),
    })
}

/// Reads a Pathao webhook: the handshake, or an event (`event`, `consignment_id`,
/// `merchant_order_id`, `timestamp` (RFC 3339, preferred) or `updated_at` (Dhaka time),
/// `collected_amount`, `delivery_fee`, `reason`). Store events carry no consignment;
/// every other event needs one.
pub fn parse_pathao(payload: &Value) -> Result<PathaoNotice, Problems> {
    let mut problems = Problems::default();
    let event = match text(payload, "event") {
        Some(event) => event.to_ascii_lowercase(),
        None => {
            problems.add("event", "is required");
            String::new()
        }
    };
    if event == PATHAO_INTEGRATION_EVENT {
        return Ok(PathaoNotice::Integration);
    }
    check_event(&event, "event", &mut problems);
    let consignment_id = consignment(payload, &mut problems);
    if consignment_id.is_none() && !event.starts_with("store.") && !event.is_empty() {
        problems.add("consignment_id", "is required");
    }
    let event_at = timestamp(payload, &["timestamp", "updated_at"], &mut problems);
    let reference = reference(payload, "merchant_order_id", &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(PathaoNotice::Event(Delivery {
        courier: Courier::Pathao,
        consignment_id,
        event,
        event_at: event_at.unwrap_or_default(),
        reference,
        cash_collected: amount(payload.get("collected_amount")),
        delivery_charge: amount(payload.get("delivery_fee")),
        message: text(payload, "reason"),
    }))
}

/// What a courier's status means for Bondhu's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meaning {
    /// The order moves to this status (through the order transition).
    Moves(OrderStatus),
    /// Nothing about the order changes; kept with this reason.
    Ignored(EventReason),
}

/// The mapping tables (`docs/ARCHITECTURE.md`, "Couriers"). `event` is as
/// [`Delivery::event`] holds it.
pub fn meaning(courier: Courier, event: &str) -> Meaning {
    use Meaning::{Ignored, Moves};
    use OrderStatus as S;
    match courier {
        Courier::Steadfast => match event {
            "delivered" => Moves(S::Delivered),
            "partial_delivered" => Moves(S::PartialDelivered),
            "cancelled" => Moves(S::Cancelled),
            // Steadfast's own hold.
            "hold" => Moves(S::CourierHold),
            // A rider's delivery, partial delivery or cancellation waiting for Steadfast's
            // approval, a status under review, or Steadfast's "placed, waiting to be
            // reviewed": not final, so never a delivery.
            "in_review"
            | "delivered_approval_pending"
            | "partial_delivered_approval_pending"
            | "cancelled_approval_pending"
            | "unknown_approval_pending" => Moves(S::InReview),
            // "Not delivered or cancelled yet": the parcel is with the courier.
            "pending" => Moves(S::InTransit),
            "unknown" => Moves(S::Unknown),
            "tracking_update" => Ignored(EventReason::TrackingOnly),
            "return_status" => Ignored(EventReason::Informational),
            _ => Ignored(EventReason::UnknownStatus),
        },
        Courier::Pathao => match event {
            "order.picked" => Moves(S::Picked),
            "order.pickup-failed" => Moves(S::PickupFailed),
            "order.pickup-cancelled" => Moves(S::Cancelled),
            "order.at-the-sorting-hub"
            | "order.at-sorting-hub"
            | "order.in-transit"
            | "order.received-at-last-mile-hub"
            | "order.assigned-for-delivery" => Moves(S::InTransit),
            "order.delivered" => Moves(S::Delivered),
            "order.partial-delivery" => Moves(S::PartialDelivered),
            // A failed attempt: the parcel waits at the hub for another try or a return.
            "order.delivery-failed" | "order.on-hold" => Moves(S::CourierHold),
            // A paid return is a return whose delivery charge the customer paid.
            "order.returned" | "order.paid-return" => Moves(S::Returned),
            "order.created"
            | "order.updated"
            | "order.pickup-requested"
            | "order.assigned-for-pickup"
            | "order.paid"
            | "order.exchanged"
            | "order.return-id-created"
            | "order.return-in-transit"
            | "order.returned-to-merchant"
            | "store.created"
            | "store.updated" => Ignored(EventReason::Informational),
            _ => Ignored(EventReason::UnknownStatus),
        },
    }
}

/// Where a status stands for a delivery, as SQL's `order_status_is_success` and
/// `order_status_is_reversal` say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Delivered (fully or partly) or completed.
    Success,
    /// Returned or cancelled.
    Reversal,
    /// Anything before: confirmed, in transit, on hold…
    Open,
}

impl Class {
    /// The class from SQL's two answers.
    pub fn of(is_success: bool, is_reversal: bool) -> Self {
        match (is_success, is_reversal) {
            (true, _) => Self::Success,
            (false, true) => Self::Reversal,
            (false, false) => Self::Open,
        }
    }
}

/// The order as an event finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The order's status now, whoever set it (the shop or a courier).
    pub current: Class,
    /// The status the event maps to.
    pub target: Class,
    /// The event time of the newest event applied for the order's consignment.
    pub last_applied_at: Option<DateTime<Utc>>,
}

/// Whether an event that maps to a status changes the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Move the order to the mapped status.
    Apply,
    /// Keep the event, change nothing.
    Stale(EventReason),
}

/// The ordering rule, per consignment, so that out of order never resurrects a delivery:
///
/// 1. an event older than the newest one applied for the consignment is stale (equal
///    times are not: two statuses of the same second are applied in arrival order, under
///    rules 2 and 3);
/// 2. once the order is returned or cancelled (by the courier or by the shop), only
///    another reversal moves it: a delivered, partial or in-transit event is stale;
/// 3. once the order is delivered, an in-transit or hold status is stale (a return, or a
///    correction between delivered and partially delivered, still applies);
/// 4. anything else applies.
pub fn decide(standing: Standing, event_at: DateTime<Utc>) -> Decision {
    if standing.last_applied_at.is_some_and(|last| event_at < last) {
        return Decision::Stale(EventReason::OlderThanApplied);
    }
    match (standing.current, standing.target) {
        (Class::Reversal, Class::Reversal) => Decision::Apply,
        (Class::Reversal, _) => Decision::Stale(EventReason::AfterReversal),
        (Class::Success, Class::Open) => Decision::Stale(EventReason::AfterDelivery),
        _ => Decision::Apply,
    }
}

/// Steadfast's statuses come as `delivered`, `Delivered` or `Partial Delivered`.
fn normalise_status(status: &str) -> String {
    status.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

fn check_event(event: &str, field: &str, problems: &mut Problems) {
    if event.chars().count() > MAX_EVENT_LEN {
        problems.add(field, "must be at most 64 characters");
    }
}

/// A string field, trimmed; numbers are read as their digits. Empty is absent.
fn text(payload: &Value, key: &str) -> Option<String> {
    let value = match payload.get(key)? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!value.is_empty()).then_some(value)
}

/// `consignment_id`: Steadfast sends a number, Pathao a string.
fn consignment(payload: &Value, problems: &mut Problems) -> Option<String> {
    let id = text(payload, "consignment_id")?;
    if id.chars().count() > MAX_PARCEL_ID_LEN || !id.chars().all(|c| c.is_ascii_graphic()) {
        problems.add(
            "consignment_id",
            "must be 1 to 64 printable characters without spaces",
        );
        return None;
    }
    Some(id)
}

fn reference(payload: &Value, key: &str, problems: &mut Problems) -> Option<String> {
    let reference = text(payload, key)?;
    if reference.chars().count() > MAX_REFERENCE_LEN {
        problems.add(key, "must be at most 100 characters");
        return None;
    }
    Some(reference)
}

/// The first of `keys` present, as an instant; required.
fn timestamp(payload: &Value, keys: &[&str], problems: &mut Problems) -> Option<DateTime<Utc>> {
    let Some((key, raw)) = keys
        .iter()
        .find_map(|key| text(payload, key).map(|raw| (*key, raw)))
    else {
        problems.add(keys[0], "is required");
        return None;
    };
    let parsed = parse_time(&raw);
    if parsed.is_none() {
        problems.add(
            key,
            "must be RFC 3339 or YYYY-MM-DD HH:MM:SS (Asia/Dhaka time)",
        );
    }
    parsed
}

/// An RFC 3339 instant, or the couriers' local `YYYY-MM-DD HH:MM:SS` in Dhaka time.
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let dhaka = FixedOffset::east_opt(DHAKA_OFFSET_SECS)?;
    dhaka
        .from_local_datetime(&local)
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// A courier's amount (a JSON number, or a numeric string), rounded to the poisha. A
/// negative, absurd or unreadable amount is left out: it stays in the raw payload, and
/// a delivery is never refused for it.
fn amount(value: Option<&Value>) -> Option<Decimal> {
    let text = match value? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    let amount = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()?
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    (amount >= Decimal::ZERO && amount <= MAX_ORDER_TOTAL).then_some(amount)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        parse_time(raw).unwrap()
    }

    #[test]
    fn steadfast_statuses_map_to_order_statuses() {
        use OrderStatus as S;
        let cases = [
            ("delivered", Meaning::Moves(S::Delivered)),
            ("partial_delivered", Meaning::Moves(S::PartialDelivered)),
            ("cancelled", Meaning::Moves(S::Cancelled)),
            ("hold", Meaning::Moves(S::CourierHold)),
            ("in_review", Meaning::Moves(S::InReview)),
            ("delivered_approval_pending", Meaning::Moves(S::InReview)),
            (
                "partial_delivered_approval_pending",
                Meaning::Moves(S::InReview),
            ),
            ("cancelled_approval_pending", Meaning::Moves(S::InReview)),
            ("unknown_approval_pending", Meaning::Moves(S::InReview)),
            ("pending", Meaning::Moves(S::InTransit)),
            ("unknown", Meaning::Moves(S::Unknown)),
            (
                "tracking_update",
                Meaning::Ignored(EventReason::TrackingOnly),
            ),
            ("teleported", Meaning::Ignored(EventReason::UnknownStatus)),
        ];
        for (status, expected) in cases {
            assert_eq!(meaning(Courier::Steadfast, status), expected, "{status}");
        }
    }

    #[test]
    fn pathao_events_map_to_order_statuses() {
        use OrderStatus as S;
        let cases = [
            ("order.delivered", Meaning::Moves(S::Delivered)),
            (
                "order.partial-delivery",
                Meaning::Moves(S::PartialDelivered),
            ),
            ("order.returned", Meaning::Moves(S::Returned)),
            ("order.paid-return", Meaning::Moves(S::Returned)),
            ("order.delivery-failed", Meaning::Moves(S::CourierHold)),
            ("order.on-hold", Meaning::Moves(S::CourierHold)),
            ("order.pickup-cancelled", Meaning::Moves(S::Cancelled)),
            ("order.pickup-failed", Meaning::Moves(S::PickupFailed)),
            ("order.picked", Meaning::Moves(S::Picked)),
            ("order.at-the-sorting-hub", Meaning::Moves(S::InTransit)),
            ("order.in-transit", Meaning::Moves(S::InTransit)),
            (
                "order.received-at-last-mile-hub",
                Meaning::Moves(S::InTransit),
            ),
            ("order.assigned-for-delivery", Meaning::Moves(S::InTransit)),
            (
                "order.created",
                Meaning::Ignored(EventReason::Informational),
            ),
            ("order.paid", Meaning::Ignored(EventReason::Informational)),
            (
                "store.updated",
                Meaning::Ignored(EventReason::Informational),
            ),
            (
                "order.teleported",
                Meaning::Ignored(EventReason::UnknownStatus),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(meaning(Courier::Pathao, event), expected, "{event}");
        }
    }

    #[test]
    fn a_steadfast_delivery_is_read_with_dhaka_time_and_its_cash() {
        let payload = json!({
            "notification_type": "delivery_status", "consignment_id": 12345,
            "invoice": "INV-67890", "cod_amount": 1500.00, "status": "Delivered",
            "delivery_charge": 100.00, "tracking_message": "Delivered.",
            "updated_at": "2025-03-02 12:45:30"
        });
        let delivery = parse_steadfast(&payload).unwrap();
        assert_eq!(delivery.consignment_id.as_deref(), Some("12345"));
        assert_eq!(delivery.event, "delivered");
        assert_eq!(delivery.event_at, at("2025-03-02T06:45:30Z"));
        assert_eq!(delivery.reference.as_deref(), Some("INV-67890"));
        assert_eq!(delivery.cash_collected, Some(Decimal::new(150000, 2)));
        assert_eq!(delivery.delivery_charge, Some(Decimal::new(10000, 2)));

        // A cancellation carries the parcel's COD amount, which nobody collected.
        let mut cancelled = payload.clone();
        cancelled["status"] = json!("cancelled");
        assert_eq!(parse_steadfast(&cancelled).unwrap().cash_collected, None);

        let tracking = json!({
            "notification_type": "tracking_update", "consignment_id": 12345,
            "invoice": "INV-67890", "tracking_message": "At the sorting centre.",
            "updated_at": "2025-03-02 13:15:00"
        });
        let tracking = parse_steadfast(&tracking).unwrap();
        assert_eq!(tracking.event, "tracking_update");
        assert_eq!(
            meaning(Courier::Steadfast, &tracking.event),
            Meaning::Ignored(EventReason::TrackingOnly)
        );
    }

    #[test]
    fn a_steadfast_payload_without_what_it_needs_names_the_fields() {
        let problems = parse_steadfast(&json!({ "notification_type": "delivery_status" }))
            .unwrap_err()
            .into_error(crate::error::Code::ValidationFailed);
        let message = problems.to_string();
        for field in ["consignment_id", "status", "updated_at"] {
            assert!(message.contains(field), "{message}");
        }
        assert!(
            parse_steadfast(&json!({
                "notification_type": "delivery_status", "consignment_id": 1,
                "status": "delivered", "updated_at": "yesterday"
            }))
            .is_err()
        );
    }

    #[test]
    fn pathao_prefers_its_utc_timestamp_and_knows_the_handshake() {
        let payload = json!({
            "consignment_id": "DL121224VS8TTJ", "merchant_order_id": "TS-123",
            "updated_at": "2024-12-27 23:53:23", "timestamp": "2024-12-27T17:53:23+00:00",
            "store_id": 130820, "event": "order.delivered", "collected_amount": 60
        });
        let PathaoNotice::Event(delivery) = parse_pathao(&payload).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(delivery.event_at, at("2024-12-27T17:53:23Z"));
        assert_eq!(delivery.cash_collected, Some(Decimal::new(60, 0)));
        assert_eq!(delivery.reference.as_deref(), Some("TS-123"));
        // The local time alone reads the same instant.
        let mut local = payload.clone();
        local.as_object_mut().unwrap().remove("timestamp");
        let PathaoNotice::Event(local) = parse_pathao(&local).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(local.event_at, delivery.event_at);

        assert_eq!(
            parse_pathao(&json!({ "event": "webhook_integration" })).unwrap(),
            PathaoNotice::Integration
        );
        // A store event has no parcel; an order event must have one.
        let store = json!({ "store_id": 1, "event": "store.updated",
                            "updated_at": "2024-12-27 23:55:34" });
        assert!(
            matches!(parse_pathao(&store), Ok(PathaoNotice::Event(d)) if d.consignment_id.is_none())
        );
        assert!(
            parse_pathao(
                &json!({ "event": "order.delivered", "timestamp": "2024-12-27T17:53:23+00:00" })
            )
            .is_err()
        );
    }

    #[test]
    fn amounts_are_exact_and_never_negative() {
        assert_eq!(amount(Some(&json!("83.456"))), Some(Decimal::new(8346, 2)));
        assert_eq!(amount(Some(&json!(-1))), None);
        assert_eq!(amount(Some(&json!("lots"))), None);
        assert_eq!(amount(None), None);
    }

    #[test]
    fn the_ordering_rule_never_resurrects_a_delivery() {
        let t1 = at("2026-01-01T10:00:00Z");
        let t2 = at("2026-01-01T11:00:00Z");
        let standing = |current, target, last| Standing {
            current,
            target,
            last_applied_at: last,
        };
        use Class::{Open, Reversal, Success};
        // Older than what was applied: stale, whatever it says.
        assert_eq!(
            decide(standing(Open, Success, Some(t2)), t1),
            Decision::Stale(EventReason::OlderThanApplied)
        );
        // Returned, then a newer delivered: still no resurrection.
        assert_eq!(
            decide(standing(Reversal, Success, Some(t1)), t2),
            Decision::Stale(EventReason::AfterReversal)
        );
        assert_eq!(
            decide(standing(Reversal, Open, None), t2),
            Decision::Stale(EventReason::AfterReversal)
        );
        assert_eq!(
            decide(standing(Reversal, Reversal, Some(t1)), t2),
            Decision::Apply
        );
        // Delivered, then in transit: stale; then returned: applied.
        assert_eq!(
            decide(standing(Success, Open, Some(t1)), t2),
            Decision::Stale(EventReason::AfterDelivery)
        );
        assert_eq!(
            decide(standing(Success, Reversal, Some(t1)), t2),
            Decision::Apply
        );
        // The same second is not older.
        assert_eq!(
            decide(standing(Open, Success, Some(t1)), t1),
            Decision::Apply
        );
        assert_eq!(decide(standing(Open, Open, None), t1), Decision::Apply);
    }

    #[test]
    fn a_parcel_link_needs_its_courier() {
        assert_eq!(ParcelLink::from_request(None, None, None).unwrap(), None);
        assert!(ParcelLink::from_request(None, Some("123"), None).is_err());
        assert!(ParcelLink::from_request(Some(Courier::Pathao), Some("has space"), None).is_err());
        assert_eq!(
            ParcelLink::from_request(Some(Courier::Pathao), Some(" DL1 "), None).unwrap(),
            Some(ParcelLink {
                courier: Courier::Pathao,
                consignment_id: Some("DL1".into()),
                tracking_code: None,
            })
        );
    }
}
