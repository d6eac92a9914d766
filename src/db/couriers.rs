//! Parcels on orders and the couriers' inbox (`courier_inbox`).
//!
//! Lock order, shared by the webhooks and `PUT /api/orders/:id`: the consignment's
//! advisory lock ([`lock_consignment`]), then the order's row, then inbox rows.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

use crate::domain::courier::{Courier, Delivery, EventOutcome, EventReason, Parcel, ParcelLink};
use crate::domain::order::OrderStatus;
use crate::domain::time::Timestamp;

/// Serialises everything about one consignment (its webhooks, and linking it to an order)
/// until the caller's transaction ends: a duplicate waits for the original and then sees
/// it, and an event cannot slip between "no order has it" and the order being linked.
pub async fn lock_consignment(
    conn: &mut PgConnection,
    courier: Courier,
    consignment_id: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('courier:' || $1::text || ':' || $2, 0))",
        courier as Courier,
        consignment_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Keeps a delivery in the inbox with `outcome`, unless the same (courier, consignment,
/// event, time) is there already: `None` then (a duplicate, nothing written).
pub async fn insert_event(
    db: impl PgExecutor<'_>,
    delivery: &Delivery,
    payload: &Value,
    headers: &Value,
    outcome: EventOutcome,
    reason: Option<EventReason>,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "insert into courier_inbox
             (courier, consignment_id, event, event_at, reference, cash_amount, delivery_charge,
              message, payload, headers, outcome, reason, processed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                 case when $11 <> 'unmatched'::courier_event_outcome then now() end)
         on conflict on constraint courier_inbox_dedupe_key do nothing
         returning id",
        delivery.courier as Courier,
        delivery.consignment_id.as_deref(),
        delivery.event,
        delivery.event_at,
        delivery.reference.as_deref(),
        delivery.cash_collected,
        delivery.delivery_charge,
        delivery.message.as_deref(),
        payload,
        headers,
        outcome as EventOutcome,
        reason as Option<EventReason>,
    )
    .fetch_optional(db)
    .await
}

/// An inbox event, as settling it needs it.
#[derive(Debug, Clone)]
pub struct InboxEvent {
    /// The row.
    pub id: i64,
    /// Who sent it.
    pub courier: Courier,
    /// The courier's status or event name.
    pub event: String,
    /// When the courier says it happened.
    pub event_at: DateTime<Utc>,
    /// Cash collected, when the event says so.
    pub cash_amount: Option<Decimal>,
    /// The courier's charge.
    pub delivery_charge: Option<Decimal>,
}

/// The unmatched events of a consignment, oldest first (by the courier's time, then by
/// arrival), locked.
pub async fn unmatched_of(
    conn: &mut PgConnection,
    courier: Courier,
    consignment_id: &str,
) -> sqlx::Result<Vec<InboxEvent>> {
    sqlx::query_as!(
        InboxEvent,
        r#"select id, courier as "courier: Courier", event, event_at, cash_amount, delivery_charge
           from courier_inbox
           where courier = $1 and consignment_id = $2 and outcome = 'unmatched'
           order by event_at, id
           for update"#,
        courier as Courier,
        consignment_id
    )
    .fetch_all(conn)
    .await
}

/// Records what became of inbox event `id`.
pub async fn settle_event(
    db: impl PgExecutor<'_>,
    id: i64,
    outcome: EventOutcome,
    reason: Option<EventReason>,
    order_id: Option<i32>,
    order_status: Option<OrderStatus>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update courier_inbox
         set outcome = $2, reason = $3, order_id = $4, order_status = $5, processed_at = now()
         where id = $1",
        id,
        outcome as EventOutcome,
        reason as Option<EventReason>,
        order_id,
        order_status as Option<OrderStatus>,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The order linked to `consignment_id` of `courier`, locked.
pub async fn order_of_consignment(
    conn: &mut PgConnection,
    courier: Courier,
    consignment_id: &str,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "select id from sales_orders where courier = $1 and consignment_id = $2
         for no key update",
        courier as Courier,
        consignment_id
    )
    .fetch_optional(conn)
    .await
}

/// The orders whose `sales_order_number` is `number` (at most two: more than one is
/// ambiguous).
pub async fn orders_numbered(db: impl PgExecutor<'_>, number: &str) -> sqlx::Result<Vec<i32>> {
    sqlx::query_scalar!(
        "select id from sales_orders where sales_order_number = $1 order by id limit 2",
        number
    )
    .fetch_all(db)
    .await
}

/// Links order `order_id` to `consignment_id` of `courier` when the order has no
/// consignment yet (and no other courier): the courier named the order by the shop's
/// reference. Locks the order; `false` when it was not linked.
pub async fn claim_for_consignment(
    conn: &mut PgConnection,
    order_id: i32,
    courier: Courier,
    consignment_id: &str,
) -> sqlx::Result<bool> {
    let claimed = sqlx::query_scalar!(
        "update sales_orders set courier = $2, consignment_id = $3
         where id = $1 and consignment_id is null and (courier is null or courier = $2)
         returning id",
        order_id,
        courier as Courier,
        consignment_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(claimed.is_some())
}

/// Where order `order_id` stands for an event that maps to `target`: SQL's own answers to
/// "successful?" and "reversed?" for its status and for `target`, and the time of the
/// newest courier event applied. Locks the order.
#[derive(Debug)]
pub struct OrderStanding {
    /// Its status is a success (`order_status_is_success`).
    pub is_success: bool,
    /// Its status is a reversal (`order_status_is_reversal`).
    pub is_reversal: bool,
    /// `target` is a success.
    pub target_is_success: bool,
    /// `target` is a reversal.
    pub target_is_reversal: bool,
    /// The event time of the newest courier event applied for its consignment.
    pub courier_event_at: Option<DateTime<Utc>>,
}

/// See [`OrderStanding`].
pub async fn standing(
    conn: &mut PgConnection,
    order_id: i32,
    target: OrderStatus,
) -> sqlx::Result<Option<OrderStanding>> {
    sqlx::query_as!(
        OrderStanding,
        r#"select order_status_is_success(status) as "is_success!",
                  order_status_is_reversal(status) as "is_reversal!",
                  order_status_is_success($2) as "target_is_success!",
                  order_status_is_reversal($2) as "target_is_reversal!",
                  courier_event_at
           from sales_orders where id = $1
           for no key update"#,
        order_id,
        target as OrderStatus,
    )
    .fetch_optional(conn)
    .await
}

/// Records on order `order_id` what the courier said in an applied event (after the
/// order transition moved its status).
pub async fn record_courier_event(
    db: impl PgExecutor<'_>,
    order_id: i32,
    event: &InboxEvent,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update sales_orders
         set courier_status = $2, courier_event_at = $3,
             cash_collected_amount = coalesce($4, cash_collected_amount),
             delivery_charge = coalesce($5, delivery_charge)
         where id = $1",
        order_id,
        event.event,
        event.event_at,
        event.cash_amount,
        event.delivery_charge,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Links order `order_id` to the parcel the shop reported. Another parcel than the one
/// recorded (another courier, or another consignment) starts afresh: what the courier
/// said about the old one is cleared. A consignment of another order is refused by
/// `sales_orders_consignment_key`.
pub async fn link(
    db: impl PgExecutor<'_>,
    order_id: i32,
    parcel: &ParcelLink,
) -> sqlx::Result<Option<Parcel>> {
    sqlx::query_as!(
        Parcel,
        r#"update sales_orders o
           set courier        = $2,
               consignment_id = case when o.courier = $2 then coalesce($3::varchar, o.consignment_id)
                                     else $3::varchar end,
               tracking_code  = case when o.courier = $2 and ($3::varchar is null or o.consignment_id = $3)
                                     then coalesce($4::varchar, o.tracking_code) else $4::varchar end,
               courier_status        = case when old.same then o.courier_status end,
               courier_event_at      = case when old.same then o.courier_event_at end,
               cash_collected_amount = case when old.same then o.cash_collected_amount end,
               delivery_charge       = case when old.same then o.delivery_charge end
           from (select s.id,
                        coalesce(s.courier = $2 and ($3::varchar is null or s.consignment_id = $3), false) as same
                 from sales_orders s where s.id = $1) as old
           where o.id = old.id
           returning o.courier as "courier!: Courier", o.consignment_id, o.tracking_code,
                     o.courier_status, o.courier_event_at as "courier_updated_at: Timestamp",
                     o.cash_collected_amount, o.delivery_charge"#,
        order_id,
        parcel.courier as Courier,
        parcel.consignment_id.as_deref(),
        parcel.tracking_code.as_deref(),
    )
    .fetch_optional(db)
    .await
}

/// Order `order_id`'s parcel, if it has a courier.
pub async fn parcel_of(db: impl PgExecutor<'_>, order_id: i32) -> sqlx::Result<Option<Parcel>> {
    sqlx::query_as!(
        Parcel,
        r#"select courier as "courier!: Courier", consignment_id, tracking_code, courier_status,
                  courier_event_at as "courier_updated_at: Timestamp",
                  cash_collected_amount, delivery_charge
           from sales_orders where id = $1 and courier is not null"#,
        order_id
    )
    .fetch_optional(db)
    .await
}

/// An unmatched courier event, as operators see it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedEvent {
    /// The inbox row (pass as `beforeId` for the next page).
    pub id: i64,
    /// Who sent it.
    pub courier: Courier,
    /// The consignment no order is linked to.
    pub consignment_id: Option<String>,
    /// The courier's status or event name.
    pub event: String,
    /// When the courier says it happened.
    pub event_at: Timestamp,
    /// The invoice / merchant order id the courier echoed.
    pub reference: Option<String>,
    /// Cash collected, in taka, when the event says so.
    #[schema(value_type = Option<f64>)]
    pub cash_amount: Option<Decimal>,
    /// The courier's message.
    pub message: Option<String>,
    /// The payload as received.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// When Bondhu received it.
    pub received_at: Timestamp,
}

/// Unmatched events, newest first, of one courier or all, before inbox id `before_id`.
pub async fn list_unmatched(
    db: impl PgExecutor<'_>,
    courier: Option<Courier>,
    limit: i64,
    before_id: Option<i64>,
) -> sqlx::Result<Vec<UnmatchedEvent>> {
    sqlx::query_as!(
        UnmatchedEvent,
        r#"select id, courier as "courier: Courier", consignment_id, event, event_at,
                  reference, cash_amount, message, payload, received_at
           from courier_inbox
           where outcome = 'unmatched'
             and ($1::courier is null or courier = $1)
             and ($2::bigint is null or id < $2)
           order by id desc
           limit $3"#,
        courier as Option<Courier>,
        before_id,
        limit,
    )
    .fetch_all(db)
    .await
}
