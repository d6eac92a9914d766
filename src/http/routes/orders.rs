//! Orders from the shop's system. The first delivery of a referred customer's first order
//! completes the referral and pays its rewards in the same transaction.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{idempotency_key, posted_response};
use crate::auth::{Permission, Principal};
use crate::domain::courier::{Courier, ParcelLink};
use crate::domain::money::{Money, OrderTotal};
use crate::domain::order::{Order, OrderLine, OrderStatus};
use crate::error::{Code, Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path};
use crate::service::couriers::LinkedParcel;
use crate::service::orders::{self, OrderReport, Recorded, RefundRecorded, RefundRequest};

/// The order routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_order))
        .routes(routes!(post_order_status))
        .routes(routes!(post_order_refund))
}

/// An order after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderResponse {
    /// The order.
    #[serde(flatten)]
    order: Order,
    /// Its status before this change (`null` when the order is new).
    previous_status: Option<OrderStatus>,
    /// The referral this change completed (its rewards were credited with it), or that a
    /// courier event settled by this change completed.
    completed_referral_id: Option<i32>,
    /// The parcel, when the request named one (`courier`, `consignmentId`,
    /// `trackingCode`), with what the courier reported so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    parcel: Option<LinkedParcel>,
}

impl From<Recorded> for OrderResponse {
    fn from(recorded: Recorded) -> Self {
        Self {
            order: recorded.order,
            previous_status: recorded.previous_status,
            completed_referral_id: recorded.completed_referral_id,
            parcel: recorded.parcel,
        }
    }
}

/// The order as the shop's system knows it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutOrderRequest {
    /// The customer (can be set once; never changed).
    customer_id: Option<i32>,
    /// Any `order_status_enum` value, case-insensitive.
    #[schema(value_type = String, example = "delivered")]
    status: OrderStatus,
    /// Total in taka (a JSON number, at most 2 decimals).
    #[schema(value_type = Option<f64>)]
    total_amount: Option<serde_json::Number>,
    /// The shop's order number (defaults to `SO-{id}`).
    sales_order_number: Option<String>,
    /// When it was placed (RFC 3339); fixed when the order is first recorded.
    #[schema(value_type = Option<String>, format = DateTime)]
    created_at: Option<DateTime<Utc>>,
    /// A referral or partner code typed at checkout: attributes the customer if they have
    /// no attribution yet (channel `checkout`).
    referral_code: Option<String>,
    /// A coupon or free-product code applied at checkout: redeemed, once, when the order
    /// is delivered.
    coupon_code: Option<String>,
    /// Where the order is delivered (up to 500 characters): kept, normalised, as a fraud
    /// signal (`sameAddress`, `householdPhone`) and checked against the blocklist when the
    /// order carries a referral code.
    delivery_address: Option<String>,
    /// The order's lines (at most 500); when given, they replace the lines recorded
    /// before (`[]` clears them). Repeat-purchase reminders and price locks read them.
    items: Option<Vec<OrderLine>>,
    /// The courier carrying the parcel: `steadfast` or `pathao`. Needed with
    /// `consignmentId` or `trackingCode`; another courier than before starts the parcel
    /// afresh.
    courier: Option<Courier>,
    /// The consignment id the courier gave the parcel (1–64 characters, no spaces): the
    /// courier's webhooks find the order by it. One order per consignment (409
    /// `consignment_taken`). Courier events that arrived before the link are applied
    /// now, in the courier's time order.
    consignment_id: Option<String>,
    /// The courier's tracking code (1–64 characters, no spaces).
    tracking_code: Option<String>,
}

/// A status change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderStatusRequest {
    /// Any `order_status_enum` value, case-insensitive.
    #[schema(value_type = String, example = "delivered")]
    status: OrderStatus,
}

/// Creates or updates an order. Needs `edit-sales-orders` (a staff role or an API key).
#[utoipa::path(put, path = "/api/orders/{orderId}", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("orderId" = i32, Path, description = "The shop's order id")),
    request_body = PutOrderRequest,
    responses((status = 200, body = OrderResponse),
              (status = 409, body = ErrorBody, description = "order_customer_conflict: the order belongs to another customer; consignment_taken: the consignment is another order's"),
              (status = 422, body = ErrorBody)))]
async fn put_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(order_id): Path<i32>,
    Json(body): Json<PutOrderRequest>,
) -> Result<Json<OrderResponse>> {
    principal.require(Permission::EditSalesOrders)?;
    let total_amount = body
        .total_amount
        .map(|number| number.to_string().parse::<OrderTotal>())
        .transpose()
        .map_err(|e| Error::invalid_field("totalAmount", e.to_string()))?;
    let parcel = ParcelLink::from_request(
        body.courier,
        body.consignment_id.as_deref(),
        body.tracking_code.as_deref(),
    )
    .map_err(|problems| problems.into_error(Code::ValidationFailed))?;
    let report = OrderReport {
        customer_id: body.customer_id,
        total_amount,
        sales_order_number: body.sales_order_number,
        created_at: body.created_at,
        referral_code: body.referral_code,
        coupon_code: body.coupon_code,
        delivery_address: body.delivery_address,
        items: body.items,
        parcel,
    };
    Ok(Json(
        orders::record(&state.db, order_id, body.status, Some(report))
            .await?
            .into(),
    ))
}

/// Moves an existing order to a new status. Needs `edit-sales-orders` (a staff role or an API key).
#[utoipa::path(post, path = "/api/orders/{orderId}/status", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("orderId" = i32, Path, description = "The shop's order id")),
    request_body = OrderStatusRequest,
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_order_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(order_id): Path<i32>,
    Json(body): Json<OrderStatusRequest>,
) -> Result<Json<OrderResponse>> {
    principal.require(Permission::EditSalesOrders)?;
    Ok(Json(
        orders::record(&state.db, order_id, body.status, None)
            .await?
            .into(),
    ))
}

/// A refund the shop made on an order.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundBody {
    /// Taka refunded: a JSON number > 0 with at most 2 decimals; all refunds of an order
    /// together at most its total.
    amount: Money,
    /// Why (1–500 characters).
    reason: String,
    /// Required (here or as the `Idempotency-Key` header): the same key and body replay
    /// the original refund; the same key with another body is a 409.
    idempotency_key: Option<String>,
}

/// Records a refund of an order. When it leaves the order that completed a referral below
/// the campaign's minimum (or refunds all of it), the referral is reversed: rewards in
/// their hold are voided, released ones clawed back. Needs `edit-sales-orders`.
#[utoipa::path(post, path = "/api/orders/{orderId}/refund", tag = "orders", security(("bearer" = []), ("api_key" = [])),
    params(("orderId" = i32, Path, description = "The shop's order id")),
    request_body = RefundBody,
    responses((status = 201, body = RefundRecorded, description = "Recorded, or the original on a replay (header Idempotent-Replayed: true)"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Key reused for another refund"),
              (status = 422, body = ErrorBody, description = "Invalid amount or reason, or refund_exceeds_total")))]
async fn post_order_refund(
    State(state): State<AppState>,
    principal: Principal,
    Path(order_id): Path<i32>,
    headers: HeaderMap,
    Json(body): Json<RefundBody>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::EditSalesOrders)?;
    let request = RefundRequest {
        amount: body.amount,
        reason: body.reason,
        idempotency_key: idempotency_key(&headers, body.idempotency_key)?,
    };
    let refund = orders::refund(&state.db, order_id, request, &principal.actor()).await?;
    let created = refund.created;
    Ok(posted_response(refund, created))
}
