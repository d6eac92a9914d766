//! Recording orders from the shop's system; delivery completes referrals.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};

use crate::db;
use crate::db::orders::{OrderChange, OrderOutcome};
use crate::domain::channel::Channel;
use crate::domain::courier::ParcelLink;
use crate::telemetry::metrics;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::fraud::{MAX_ADDRESS_LEN, normalise_address};
use crate::domain::money::{Money, OrderTotal};
use crate::domain::order::{Order, OrderLine, OrderStatus, RefundOutcome};
use crate::domain::wallet::IdempotencyKey;
use crate::error::{Code, Error, Problems, Result};
use crate::failpoint::failpoint;
use crate::service::couriers::{self, LinkedParcel};
use crate::service::{attribution, fraud};

/// How far in the future an order's `createdAt` may be (clock skew between systems).
const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// The shop's view of an order.
#[derive(Debug, Default)]
pub struct OrderReport {
    /// The customer.
    pub customer_id: Option<i32>,
    /// The total in taka.
    pub total_amount: Option<OrderTotal>,
    /// The shop's order number.
    pub sales_order_number: Option<String>,
    /// When it was placed.
    pub created_at: Option<DateTime<Utc>>,
    /// A referral or partner code typed at checkout.
    pub referral_code: Option<String>,
    /// A coupon (or free product) code applied to the order.
    pub coupon_code: Option<String>,
    /// Where the order is delivered, as the shop wrote it.
    pub delivery_address: Option<String>,
    /// The order's lines; when given, they replace the lines recorded before.
    pub items: Option<Vec<OrderLine>>,
    /// The parcel the courier carries it in (checked at the edge).
    pub parcel: Option<ParcelLink>,
}

/// The order after a change, and the referral it completed.
#[derive(Debug)]
pub struct Recorded {
    /// The order.
    pub order: Order,
    /// Its status before the change (`None` if it was new).
    pub previous_status: Option<OrderStatus>,
    /// The referral completed by this change.
    pub completed_referral_id: Option<i32>,
    /// The parcel, when this change linked one (with the courier events it settled).
    pub parcel: Option<LinkedParcel>,
}

/// Moves existing order `order_id` to `status`, in the caller's connection or
/// transaction: the order transition of `POST /api/orders/:id/status`, which the
/// couriers' webhooks use too (one statement, `apply_order_status`).
pub async fn transition(
    conn: &mut PgConnection,
    order_id: i32,
    status: OrderStatus,
) -> Result<Recorded> {
    let change = OrderChange {
        order_id,
        status,
        upsert: false,
        customer_id: None,
        total_amount: None,
        sales_order_number: None,
        created_at: None,
        referral_code: None,
        coupon_code: None,
    };
    recorded(db::orders::apply(conn, &change).await?)
}

/// Creates or updates an order (`upsert`), or only moves an existing order's status.
pub async fn record(
    pool: &PgPool,
    order_id: i32,
    status: OrderStatus,
    report: Option<OrderReport>,
) -> Result<Recorded> {
    if order_id <= 0 || order_id == db::orders::SIMULATION_ORDER_ID {
        return Err(Error::new(
            Code::InvalidPathParameter,
            "orderId must be a positive integer below 2147483647",
        ));
    }
    let Some(report) = report else {
        // Only the status: the transition alone, one statement.
        failpoint!("order.before_apply");
        let recorded = db::retry_transient(|| async {
            let mut conn = pool.acquire().await?;
            transition(&mut conn, order_id, status).await
        })
        .await?;
        failpoint!("order.after_commit");
        return Ok(recorded);
    };
    if report.customer_id.is_some_and(|id| id <= 0) {
        return Err(Error::invalid_field(
            "customerId",
            "must be a positive integer",
        ));
    }
    let number = report
        .sales_order_number
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if number.is_some_and(|n| n.chars().count() > 50) {
        return Err(Error::invalid_field(
            "salesOrderNumber",
            "must be at most 50 characters",
        ));
    }
    if report
        .created_at
        .is_some_and(|at| at > Utc::now() + MAX_CLOCK_SKEW)
    {
        return Err(Error::invalid_field(
            "createdAt",
            "must not be in the future",
        ));
    }
    let referral_code = report
        .referral_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if referral_code.is_some_and(|c| c.chars().count() > 50) {
        return Err(Error::invalid_field(
            "referralCode",
            "must be at most 50 characters",
        ));
    }
    let coupon_code = report
        .coupon_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if coupon_code.is_some_and(|c| c.chars().count() > 20) {
        return Err(Error::invalid_field(
            "couponCode",
            "must be at most 20 characters",
        ));
    }
    let delivery_address = match report.delivery_address.as_deref().map(str::trim) {
        Some(raw) if raw.chars().count() > MAX_ADDRESS_LEN => {
            return Err(Error::invalid_field(
                "deliveryAddress",
                "must be at most 500 characters",
            ));
        }
        Some(raw) => normalise_address(raw),
        None => None,
    };
    let mut items = report.items;
    if let Some(lines) = items.as_mut() {
        let mut problems = Problems::default();
        problems.check(
            lines.len() <= OrderLine::MAX_LINES,
            "items",
            "must have at most 500 lines",
        );
        for (index, line) in lines.iter_mut().enumerate() {
            line.check(index, &mut problems);
        }
        problems.finish(Code::ValidationFailed)?;
    }
    let change = OrderChange {
        order_id,
        status,
        upsert: true,
        customer_id: report.customer_id,
        total_amount: report.total_amount.map(OrderTotal::get),
        sales_order_number: number,
        created_at: report.created_at,
        referral_code,
        coupon_code,
    };
    let parcel = report.parcel.as_ref();
    failpoint!("order.before_apply");
    let (outcome, linked) = db::retry_transient(|| async {
        match (
            referral_code,
            report.customer_id,
            delivery_address.as_deref(),
            items.as_deref(),
            parcel,
        ) {
            // Otherwise the order is one statement: the hot path stays one round trip.
            (None, _, None, None, None) | (Some(_), None, None, None, None) => {
                Ok((db::orders::apply(pool, &change).await?, None))
            }
            // A code typed at checkout, a delivery address or the order's lines: the
            // attribution, the address signal, the order and its lines in one
            // transaction, so a refused order (another customer's, say) leaves nothing
            // behind, a delivered order completes the referral its own code creates, and
            // the fraud verdict that runs inside the delivery sees this order's address.
            // A parcel is linked in the same transaction, after the order is recorded,
            // and the courier events waiting for its consignment are settled with it
            // (the consignment's lock first: the webhooks' lock order).
            (code, customer_id, address, lines, parcel) => {
                let mut tx = pool.begin().await?;
                if let Some(parcel) = parcel {
                    couriers::lock_parcel(&mut tx, parcel).await?;
                }
                if let Some(address) = address {
                    let customer = match customer_id {
                        Some(id) => Some(id),
                        None => db::orders::customer_of(&mut *tx, order_id).await?.flatten(),
                    };
                    fraud::record_order_address(&mut *tx, order_id, customer, address).await?;
                }
                if let (Some(code), Some(customer_id)) = (code, customer_id) {
                    let placed_at = match db::orders::created_at(&mut *tx, order_id).await? {
                        Some(stored) => Some(stored),
                        None => report.created_at,
                    };
                    attribute_checkout_code(&mut tx, customer_id, code, placed_at, address).await?;
                }
                let outcome = db::orders::apply(&mut *tx, &change).await?;
                let mut linked = None;
                if matches!(outcome, OrderOutcome::Applied { .. }) {
                    if let Some(lines) = lines {
                        db::orders::replace_lines(&mut tx, order_id, lines).await?;
                    }
                    if let Some(parcel) = parcel {
                        linked = Some(couriers::link(&mut tx, order_id, parcel).await?);
                    }
                    failpoint!("order.before_commit");
                    tx.commit().await?;
                }
                Ok((outcome, linked))
            }
        }
    })
    .await?;
    failpoint!("order.after_commit");
    let mut recorded = recorded(outcome)?;
    if let Some(linked) = linked {
        if let Some(order) = linked.order {
            recorded.order = order;
        }
        recorded.completed_referral_id = recorded
            .completed_referral_id
            .or(linked.completed_referral_id);
        recorded.parcel = Some(linked.parcel);
    }
    Ok(recorded)
}

/// The order after a change, or the error its outcome stands for.
fn recorded(outcome: OrderOutcome) -> Result<Recorded> {
    match outcome {
        OrderOutcome::Applied {
            order,
            previous_status,
            completed_referral_id,
        } => {
            if let Some(referral_id) = completed_referral_id {
                metrics::referral_completed();
                tracing::info!(
                    order.id = order.id,
                    referral.id = referral_id,
                    "referral completed by delivery"
                );
            }
            Ok(Recorded {
                order,
                previous_status,
                completed_referral_id,
                parcel: None,
            })
        }
        OrderOutcome::NotFound => Err(Error::new(Code::OrderNotFound, "Order not found")),
        OrderOutcome::CustomerNotFound => Err(Error::customer_not_found().for_field("customerId")),
        OrderOutcome::CustomerConflict => Err(Error::new(
            Code::OrderCustomerConflict,
            "This order already belongs to another customer",
        )),
    }
}

/// Attributes the order's customer to the code typed at checkout, if they have no
/// attribution yet, in the caller's transaction. The referral counts from when the order
/// was placed.
async fn attribute_checkout_code(
    conn: &mut sqlx::PgConnection,
    customer_id: i32,
    code: &str,
    placed_at: Option<DateTime<Utc>>,
    address: Option<&str>,
) -> Result<()> {
    let customer = db::customers::find_contact(&mut *conn, customer_id)
        .await?
        .ok_or_else(|| Error::new(Code::CustomerNotFound, "Customer not found"))?;
    attribution::attribute(
        conn,
        attribution::Customer {
            id: customer.id,
            phone: &customer.phone,
            email: customer.email.as_deref(),
            screen: fraud::Screen {
                device: None,
                address,
            },
        },
        attribution::Capture {
            code,
            raw_channel: None,
            default_channel: Channel::Checkout,
            at: placed_at,
            // The shop reports an order's code, not the link its customer came through.
            utm: &crate::domain::utm::Utm::default(),
        },
    )
    .await?;
    Ok(())
}

/// A refund the shop made on an order.
#[derive(Debug)]
pub struct RefundRequest {
    /// Taka refunded.
    pub amount: Money,
    /// Why (1–500 characters after trimming).
    pub reason: String,
    /// Makes retries safe: the same key and body replay the original.
    pub idempotency_key: IdempotencyKey,
}

/// A recorded refund.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundRecorded {
    /// The refund.
    pub refund_id: i32,
    /// The order.
    pub order_id: i32,
    /// Everything refunded on the order so far, in taka.
    #[schema(value_type = f64)]
    pub refunded_amount: Decimal,
    /// The referral this refund reversed (it left the order below the campaign's
    /// minimum, or refunded all of it): its held rewards voided, released ones clawed back.
    pub reversed_referral_id: Option<i32>,
    /// `false` when this is the original of a replayed request.
    #[serde(skip)]
    pub created: bool,
}

/// Records a refund the shop made. When it leaves the order that completed a referral
/// below the campaign's minimum, or refunds all of it, the referral is reversed.
pub async fn refund(
    pool: &PgPool,
    order_id: i32,
    request: RefundRequest,
    actor: &str,
) -> Result<RefundRecorded> {
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid_field(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    let refund = db::holds::Refund {
        order_id,
        amount: request.amount.get(),
        reason,
        idempotency_key: request.idempotency_key.as_str(),
        created_by: actor,
    };
    failpoint!("refund.before_apply");
    let result =
        db::retry_transient(|| async { Ok(db::holds::refund(pool, &refund).await?) }).await?;
    failpoint!("refund.after_commit");
    let created = match result.outcome {
        RefundOutcome::Refunded => {
            if result.reversed_referral_id.is_some() {
                metrics::refund_reversal();
            }
            true
        }
        RefundOutcome::Replayed => false,
        RefundOutcome::KeyConflict => {
            return Err(Error::new(
                Code::IdempotencyKeyReused,
                "This idempotency key was already used for a different refund",
            ));
        }
        RefundOutcome::OrderNotFound => {
            return Err(Error::new(Code::OrderNotFound, "Order not found"));
        }
        RefundOutcome::ExceedsTotal => {
            return Err(Error::new(
                Code::RefundExceedsTotal,
                "Refunds cannot exceed the order's total",
            )
            .for_field("amount"));
        }
    };
    let missing = || sqlx::Error::Protocol("refund_order answered without its refund".into());
    Ok(RefundRecorded {
        refund_id: result.refund_id.ok_or_else(missing)?,
        order_id,
        refunded_amount: result.refunded_amount.ok_or_else(missing)?,
        reversed_referral_id: result.reversed_referral_id,
        created,
    })
}
