//! Couriers that say "delivered" themselves: their webhook deliveries, kept in the inbox
//! and settled against orders, and the parcels the shop links to orders.
//!
//! Every delivery is settled in one transaction: the consignment's advisory lock, the
//! inbox row (a duplicate stops there and writes nothing), the order found by consignment
//! or claimed by the shop's reference, then every unmatched event of the consignment in
//! the courier's time order, each through [`decide`] and, when it applies, through
//! [`orders::transition`], the very transition of `POST /api/orders/:id/status`. Linking
//! a consignment on `PUT /api/orders/:id` settles the consignment's unmatched events the
//! same way, in the PUT's transaction. No HTTP call is ever made here.

use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::db;
use crate::db::couriers::{InboxEvent, UnmatchedEvent};
use crate::domain::courier::{
    Class, Courier, Decision, Delivery, EventOutcome, EventReason, Meaning, Parcel, ParcelLink,
    Standing, decide, meaning,
};
use crate::domain::order::{Order, OrderStatus};
use crate::error::Result;
use crate::service::orders::{self, Recorded};

/// What receiving a delivery did, as the webhook answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Receipt {
    /// The same (courier, consignment, status, time) was received before: nothing changed.
    Duplicate,
    /// Kept; no order has the consignment yet.
    Unmatched,
    /// The order moved to the mapped status.
    Applied,
    /// Kept; too late to change the order (out of order, or after a reversal or delivery).
    Stale,
    /// Kept; tracking-only or informational.
    Ignored,
}

impl From<EventOutcome> for Receipt {
    fn from(outcome: EventOutcome) -> Self {
        match outcome {
            EventOutcome::Unmatched => Self::Unmatched,
            EventOutcome::Applied => Self::Applied,
            EventOutcome::Stale => Self::Stale,
            EventOutcome::Ignored => Self::Ignored,
        }
    }
}

/// What became of one delivery.
#[derive(Debug)]
pub struct Received {
    /// Its outcome.
    pub receipt: Receipt,
    /// The order it matched.
    pub order_id: Option<i32>,
}

/// Receives one webhook delivery (already authenticated and read): keeps it, once, and
/// settles it. `payload` is the body as received, `headers` the request's headers
/// without credentials.
pub async fn receive(
    pool: &PgPool,
    delivery: &Delivery,
    payload: &Value,
    headers: &Value,
) -> Result<Received> {
    let received = db::retry_transient(|| async {
        let mut tx = pool.begin().await?;
        let Some(consignment) = delivery.consignment_id.as_deref() else {
            // About no parcel (a Pathao store event): kept, and that is all.
            let reason = match meaning(delivery.courier, &delivery.event) {
                Meaning::Ignored(reason) => reason,
                Meaning::Moves(_) => EventReason::Informational,
            };
            let kept = db::couriers::insert_event(
                &mut *tx,
                delivery,
                payload,
                headers,
                EventOutcome::Ignored,
                Some(reason),
            )
            .await?;
            tx.commit().await?;
            return Ok(Received {
                receipt: if kept.is_some() {
                    Receipt::Ignored
                } else {
                    Receipt::Duplicate
                },
                order_id: None,
            });
        };
        db::couriers::lock_consignment(&mut tx, delivery.courier, consignment).await?;
        let Some(id) = db::couriers::insert_event(
            &mut *tx,
            delivery,
            payload,
            headers,
            EventOutcome::Unmatched,
            None,
        )
        .await?
        else {
            // Under the consignment's lock, so the original has committed: nothing to do.
            return Ok(Received {
                receipt: Receipt::Duplicate,
                order_id: None,
            });
        };
        let order_id =
            match db::couriers::order_of_consignment(&mut tx, delivery.courier, consignment).await?
            {
                Some(order_id) => Some(order_id),
                None => match delivery.reference.as_deref() {
                    Some(reference) => {
                        claim_by_reference(&mut tx, delivery.courier, consignment, reference)
                            .await?
                    }
                    None => None,
                },
            };
        let Some(order_id) = order_id else {
            tx.commit().await?;
            return Ok(Received {
                receipt: Receipt::Unmatched,
                order_id: None,
            });
        };
        // This event and any that waited for the order (they arrived before it was
        // linked), in the courier's time order.
        let settled = settle_pending(&mut tx, order_id, delivery.courier, consignment).await?;
        tx.commit().await?;
        let receipt = settled
            .iter()
            .find(|s| s.event_id == id)
            .map_or(Receipt::Unmatched, |s| s.outcome.into());
        Ok(Received {
            receipt,
            order_id: Some(order_id),
        })
    })
    .await?;
    tracing::info!(
        courier = %delivery.courier,
        event = %delivery.event,
        receipt = ?received.receipt,
        order.id = received.order_id,
        "courier event received"
    );
    Ok(received)
}

/// The order a courier named by the shop's reference (Steadfast's `invoice`, Pathao's
/// `merchant_order_id`), linked to the consignment and locked. The rule: the one order
/// whose `sales_order_number` is the reference; if none has it and the reference is a
/// number, the order with that id. Only an order with no consignment yet (and no other
/// courier) is claimed; two orders with the number are ambiguous and claim nothing.
async fn claim_by_reference(
    conn: &mut PgConnection,
    courier: Courier,
    consignment: &str,
    reference: &str,
) -> Result<Option<i32>> {
    let numbered = db::couriers::orders_numbered(&mut *conn, reference).await?;
    let candidate = match numbered.as_slice() {
        [one] => Some(*one),
        [] => reference.parse::<i32>().ok().filter(|id| *id > 0),
        _ => None,
    };
    let Some(order_id) = candidate else {
        return Ok(None);
    };
    let claimed = db::couriers::claim_for_consignment(conn, order_id, courier, consignment).await?;
    Ok(claimed.then_some(order_id))
}

/// One settled event.
#[derive(Debug)]
struct Settled {
    event_id: i64,
    outcome: EventOutcome,
    recorded: Option<Recorded>,
}

/// Settles every unmatched event of the consignment against order `order_id` (locked by
/// the caller), oldest first.
async fn settle_pending(
    conn: &mut PgConnection,
    order_id: i32,
    courier: Courier,
    consignment: &str,
) -> Result<Vec<Settled>> {
    let pending = db::couriers::unmatched_of(&mut *conn, courier, consignment).await?;
    let mut settled = Vec::with_capacity(pending.len());
    for event in pending {
        settled.push(settle(conn, &event, order_id).await?);
    }
    Ok(settled)
}

/// Decides one event against the order as it stands now, and records the outcome.
async fn settle(conn: &mut PgConnection, event: &InboxEvent, order_id: i32) -> Result<Settled> {
    let target = match meaning(event.courier, &event.event) {
        Meaning::Moves(target) => target,
        Meaning::Ignored(reason) => {
            return finish(conn, event, order_id, Outcome::Ignored(reason)).await;
        }
    };
    let standing = db::couriers::standing(&mut *conn, order_id, target)
        .await?
        .ok_or_else(|| sqlx::Error::Protocol("a matched order vanished".into()))?;
    let standing = Standing {
        current: Class::of(standing.is_success, standing.is_reversal),
        target: Class::of(standing.target_is_success, standing.target_is_reversal),
        last_applied_at: standing.courier_event_at,
    };
    match decide(standing, event.event_at) {
        Decision::Stale(reason) => finish(conn, event, order_id, Outcome::Stale(reason)).await,
        Decision::Apply => {
            let recorded = orders::transition(&mut *conn, order_id, target).await?;
            db::couriers::record_courier_event(&mut *conn, order_id, event).await?;
            let mut settled = finish(conn, event, order_id, Outcome::Applied(target)).await?;
            if let Some(referral_id) = recorded.completed_referral_id {
                tracing::info!(
                    order.id = order_id,
                    referral.id = referral_id,
                    "referral completed by a courier's delivery"
                );
            }
            settled.recorded = Some(recorded);
            Ok(settled)
        }
    }
}

/// How an event that found its order ends.
enum Outcome {
    Applied(OrderStatus),
    Stale(EventReason),
    Ignored(EventReason),
}

async fn finish(
    conn: &mut PgConnection,
    event: &InboxEvent,
    order_id: i32,
    outcome: Outcome,
) -> Result<Settled> {
    let (kind, reason, status) = match outcome {
        Outcome::Applied(status) => (EventOutcome::Applied, None, Some(status)),
        Outcome::Stale(reason) => (EventOutcome::Stale, Some(reason), None),
        Outcome::Ignored(reason) => (EventOutcome::Ignored, Some(reason), None),
    };
    db::couriers::settle_event(&mut *conn, event.id, kind, reason, Some(order_id), status).await?;
    Ok(Settled {
        event_id: event.id,
        outcome: kind,
        recorded: None,
    })
}

/// An order's parcel after `PUT /api/orders/:id` linked it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkedParcel {
    /// The parcel, with what the courier said so far.
    #[serde(flatten)]
    pub parcel: Parcel,
    /// Courier events that were waiting for this consignment (unmatched) and were settled
    /// by this request, in the courier's time order.
    pub matched_events: usize,
}

/// What linking a parcel did.
#[derive(Debug)]
pub struct Linked {
    /// The parcel.
    pub parcel: LinkedParcel,
    /// The order after the waiting events, when one of them moved it.
    pub order: Option<Order>,
    /// A referral completed by one of the waiting events.
    pub completed_referral_id: Option<i32>,
}

/// Takes the consignment's lock before the order's (the webhooks' lock order), when the
/// PUT names a consignment. Called first in the PUT's transaction.
pub async fn lock_parcel(conn: &mut PgConnection, parcel: &ParcelLink) -> Result<()> {
    if let Some(consignment) = parcel.consignment_id.as_deref() {
        db::couriers::lock_consignment(conn, parcel.courier, consignment).await?;
    }
    Ok(())
}

/// Links order `order_id` (recorded, locked, in the caller's transaction) to its parcel,
/// then settles the courier events that were waiting for the consignment.
pub async fn link(conn: &mut PgConnection, order_id: i32, parcel: &ParcelLink) -> Result<Linked> {
    let missing = || sqlx::Error::Protocol("the order to link vanished".into());
    let mut linked = db::couriers::link(&mut *conn, order_id, parcel)
        .await?
        .ok_or_else(missing)?;
    let mut result = Linked {
        parcel: LinkedParcel {
            parcel: linked.clone(),
            matched_events: 0,
        },
        order: None,
        completed_referral_id: None,
    };
    let Some(consignment) = parcel.consignment_id.as_deref() else {
        return Ok(result);
    };
    let settled = settle_pending(conn, order_id, parcel.courier, consignment).await?;
    if settled.is_empty() {
        return Ok(result);
    }
    for recorded in settled.iter().filter_map(|s| s.recorded.as_ref()) {
        result.order = Some(recorded.order.clone());
        result.completed_referral_id = result
            .completed_referral_id
            .or(recorded.completed_referral_id);
    }
    linked = db::couriers::parcel_of(&mut *conn, order_id)
        .await?
        .ok_or_else(missing)?;
    result.parcel = LinkedParcel {
        parcel: linked,
        matched_events: settled.len(),
    };
    Ok(result)
}

/// Unmatched courier events, newest first.
pub async fn list_unmatched(
    pool: &PgPool,
    courier: Option<Courier>,
    limit: i64,
    before_id: Option<i64>,
) -> Result<Vec<UnmatchedEvent>> {
    Ok(db::couriers::list_unmatched(pool, courier, limit, before_id).await?)
}
