//! Orders from the shop's system. The first delivery of a referred customer's first order
//! completes the referral and pays its rewards in the same transaction.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Permission, Principal};
use crate::domain::money::OrderTotal;
use crate::domain::order::{Order, OrderStatus};
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path};
use crate::service::orders::{self, OrderReport, Recorded};

/// The order routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_order))
        .routes(routes!(post_order_status))
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
    /// The referral this change completed (its rewards were credited with it).
    completed_referral_id: Option<i32>,
}

impl From<Recorded> for OrderResponse {
    fn from(recorded: Recorded) -> Self {
        Self {
            order: recorded.order,
            previous_status: recorded.previous_status,
            completed_referral_id: recorded.completed_referral_id,
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
              (status = 409, body = ErrorBody, description = "The order belongs to another customer"),
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
    let report = OrderReport {
        customer_id: body.customer_id,
        total_amount,
        sales_order_number: body.sales_order_number,
        created_at: body.created_at,
        referral_code: body.referral_code,
        coupon_code: body.coupon_code,
        delivery_address: body.delivery_address,
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
