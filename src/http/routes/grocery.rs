//! Grocery lists and monthly subscriptions: TrustCart routes 43–50 (staff) and the
//! customer's own lists under `/api/loyalty/me/grocery-lists`.
//!
//! A customer's `/me` routes pass their own id as the owner of every list and item they
//! name, so another customer's ids answer 404 (`grocery_list_not_found`,
//! `grocery_list_item_not_found`), exactly as ids that do not exist.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AfterPageParams, DuePageParams};
use crate::auth::{Permission, Principal};
use crate::domain::grocery::{GroceryList, GroceryListItem};
use crate::domain::money::{Amount, number_or_string_opt};
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::grocery::{self, NewItem, NewList};

/// A page of a customer's lists: 1 to 500 (default 100).
type ListPage = AfterPageParams<100, 500>;
/// A page of a list's items (one per product): 1 to 1000 (default 500).
type ItemPage = AfterPageParams<500, 1000>;
/// A page of due subscriptions: 1 to 2000 (default 2000, the list's former cap, so that a
/// caller sending no `limit` sees what it saw).
type DuePage = DuePageParams<2000, 2000>;

/// The grocery list routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_lists))
        .routes(routes!(create_list))
        .routes(routes!(list_items))
        .routes(routes!(add_item))
        .routes(routes!(update_item, delete_item))
        .routes(routes!(set_subscription))
        .routes(routes!(due_today))
        .routes(routes!(list_my_lists, create_my_list))
        .routes(routes!(list_my_items, add_my_item))
        .routes(routes!(update_my_item, delete_my_item))
        .routes(routes!(set_my_subscription))
}

/// A new list (staff: for the customer named).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateListRequest {
    /// Whose list.
    pub customer_id: i32,
    /// 1–100 characters.
    pub list_name: String,
    /// A monthly subscription (default false).
    #[serde(default)]
    pub is_subscription: bool,
    /// Day of the month, 1–28; required for a subscription.
    pub subscription_day: Option<i64>,
}

/// A new list of the caller's own.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyListRequest {
    /// 1–100 characters.
    pub list_name: String,
    /// A monthly subscription (default false).
    #[serde(default)]
    pub is_subscription: bool,
    /// Day of the month, 1–28; required for a subscription.
    pub subscription_day: Option<i64>,
}

impl From<MyListRequest> for NewList {
    fn from(body: MyListRequest) -> Self {
        Self {
            list_name: body.list_name,
            is_subscription: body.is_subscription,
            subscription_day: body.subscription_day,
        }
    }
}

/// A product to put on a list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemRequest {
    /// The shop's product id.
    pub product_id: i64,
    /// Units, 1–10000.
    pub quantity: i64,
    /// What the customer last paid for one unit (taka, number or numeric string).
    #[serde(default, deserialize_with = "number_or_string_opt")]
    pub last_purchase_price: Option<Amount>,
}

impl From<ItemRequest> for NewItem {
    fn from(body: ItemRequest) -> Self {
        Self {
            product_id: body.product_id,
            quantity: body.quantity,
            last_purchase_price: body.last_purchase_price.map(Amount::get),
        }
    }
}

/// A new quantity.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct QuantityRequest {
    /// Units, 1–10000.
    pub quantity: i64,
}

/// Start or stop a subscription.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest {
    /// Whether the list is ordered monthly.
    pub is_subscription: bool,
    /// Day of the month, 1–28 (default: the list's previous day).
    pub subscription_day: Option<i64>,
}

/// `?date=`: the Dhaka date to ask for (default today).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueParams {
    /// `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    pub date: Option<NaiveDate>,
}

/// A customer's grocery lists, oldest first, a page at a time (`afterId`: the last id of
/// the previous page). Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/grocery-lists/{customerId}", tag = "grocery", security(("bearer" = [])),
    params(("customerId" = i32, Path), ListPage),
    responses((status = 200, body = Vec<GroceryList>), (status = 404, body = ErrorBody)))]
async fn list_lists(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
    Query(page): Query<ListPage>,
) -> Result<Json<Vec<GroceryList>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    Ok(Json(
        grocery::lists(&state.db, customer_id, limit, page.after_id).await?,
    ))
}

/// Creates a list for a customer. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/grocery-list", tag = "grocery", security(("bearer" = [])),
    request_body = CreateListRequest,
    responses((status = 201, body = GroceryList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_list(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateListRequest>,
) -> Result<(StatusCode, Json<GroceryList>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let request = NewList {
        list_name: body.list_name,
        is_subscription: body.is_subscription,
        subscription_day: body.subscription_day,
    };
    let list = grocery::create_list(&state.db, body.customer_id, request).await?;
    Ok((StatusCode::CREATED, Json(list)))
}

/// A list's items, in the order they were added, a page at a time (`afterId`: the last id
/// of the previous page). Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/grocery-list/{listId}/items", tag = "grocery", security(("bearer" = [])),
    params(("listId" = i32, Path), ItemPage),
    responses((status = 200, body = Vec<GroceryListItem>), (status = 404, body = ErrorBody)))]
async fn list_items(
    State(state): State<AppState>,
    principal: Principal,
    Path(list_id): Path<i32>,
    Query(page): Query<ItemPage>,
) -> Result<Json<Vec<GroceryListItem>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    Ok(Json(
        grocery::items(&state.db, list_id, None, limit, page.after_id).await?,
    ))
}

/// Puts a product on a list. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/grocery-list/{listId}/item", tag = "grocery", security(("bearer" = [])),
    params(("listId" = i32, Path)), request_body = ItemRequest,
    responses((status = 201, body = GroceryListItem), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "grocery_list_item_exists"), (status = 422, body = ErrorBody)))]
async fn add_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(list_id): Path<i32>,
    Json(body): Json<ItemRequest>,
) -> Result<(StatusCode, Json<GroceryListItem>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let item = grocery::add_item(&state.db, list_id, None, body.into()).await?;
    Ok((StatusCode::CREATED, Json(item)))
}

/// Changes an item's quantity. Needs `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/loyalty/grocery-list/item/{itemId}", tag = "grocery", security(("bearer" = [])),
    params(("itemId" = i32, Path)), request_body = QuantityRequest,
    responses((status = 200, body = GroceryListItem), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(item_id): Path<i32>,
    Json(body): Json<QuantityRequest>,
) -> Result<Json<GroceryListItem>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(
        grocery::update_item(&state.db, item_id, None, body.quantity).await?,
    ))
}

/// Removes an item; answers the removed item. Needs `manage-mlm-settings`.
#[utoipa::path(delete, path = "/api/loyalty/grocery-list/item/{itemId}", tag = "grocery", security(("bearer" = [])),
    params(("itemId" = i32, Path)), responses((status = 200, body = GroceryListItem), (status = 404, body = ErrorBody)))]
async fn delete_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(item_id): Path<i32>,
) -> Result<Json<GroceryListItem>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(grocery::delete_item(&state.db, item_id, None).await?))
}

/// Starts or stops a list's monthly subscription. Needs `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/loyalty/grocery-list/{listId}/subscription", tag = "grocery", security(("bearer" = [])),
    params(("listId" = i32, Path)), request_body = SubscriptionRequest,
    responses((status = 200, body = GroceryList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_subscription(
    State(state): State<AppState>,
    principal: Principal,
    Path(list_id): Path<i32>,
    Json(body): Json<SubscriptionRequest>,
) -> Result<Json<GroceryList>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(
        grocery::set_subscription(
            &state.db,
            list_id,
            None,
            body.is_subscription,
            body.subscription_day,
        )
        .await?,
    ))
}

/// Active subscriptions whose next order date is today (Dhaka) or past, the most overdue
/// first (by `nextOrderDate`, then id), a page at a time: the cursor is the previous page's
/// last `nextOrderDate` (`afterDate`) and `id` (`afterId`). Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/subscriptions/due-today", tag = "grocery", security(("bearer" = [])),
    params(DueParams, DuePage),
    responses((status = 200, body = Vec<GroceryList>),
              (status = 400, body = ErrorBody, description = "invalid_query: a limit out of range, or only one of afterDate and afterId")))]
async fn due_today(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<DueParams>,
    Query(page): Query<DuePage>,
) -> Result<Json<Vec<GroceryList>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    let (_, lists) = grocery::due(&state.db, params.date, page.cursor()?, limit).await?;
    Ok(Json(lists))
}

/// The caller's grocery lists, oldest first, a page at a time (`afterId`: the last id of
/// the previous page).
#[utoipa::path(get, path = "/api/loyalty/me/grocery-lists", tag = "grocery", security(("bearer" = [])),
    params(ListPage),
    responses((status = 200, body = Vec<GroceryList>),
              (status = 400, body = ErrorBody, description = "invalid_query: a limit out of range"),
              (status = 403, body = ErrorBody)))]
async fn list_my_lists(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<ListPage>,
) -> Result<Json<Vec<GroceryList>>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let limit = page.limit()?;
    Ok(Json(
        grocery::lists(&state.db, me, limit, page.after_id).await?,
    ))
}

/// Creates a list of the caller's own.
#[utoipa::path(post, path = "/api/loyalty/me/grocery-lists", tag = "grocery", security(("bearer" = [])),
    request_body = MyListRequest, responses((status = 201, body = GroceryList), (status = 422, body = ErrorBody)))]
async fn create_my_list(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<MyListRequest>,
) -> Result<(StatusCode, Json<GroceryList>)> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let list = grocery::create_list(&state.db, me, body.into()).await?;
    Ok((StatusCode::CREATED, Json(list)))
}

/// The items of one of the caller's lists (another customer's list is 404), in the order
/// they were added, a page at a time (`afterId`: the last id of the previous page).
#[utoipa::path(get, path = "/api/loyalty/me/grocery-lists/{listId}/items", tag = "grocery", security(("bearer" = [])),
    params(("listId" = i32, Path), ItemPage),
    responses((status = 200, body = Vec<GroceryListItem>), (status = 404, body = ErrorBody)))]
async fn list_my_items(
    State(state): State<AppState>,
    principal: Principal,
    Path(list_id): Path<i32>,
    Query(page): Query<ItemPage>,
) -> Result<Json<Vec<GroceryListItem>>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let limit = page.limit()?;
    Ok(Json(
        grocery::items(&state.db, list_id, Some(me), limit, page.after_id).await?,
    ))
}

/// Puts a product on one of the caller's lists.
#[utoipa::path(post, path = "/api/loyalty/me/grocery-lists/{listId}/items", tag = "grocery", security(("bearer" = [])),
    params(("listId" = i32, Path)), request_body = ItemRequest,
    responses((status = 201, body = GroceryListItem), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_my_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(list_id): Path<i32>,
    Json(body): Json<ItemRequest>,
) -> Result<(StatusCode, Json<GroceryListItem>)> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let item = grocery::add_item(&state.db, list_id, Some(me), body.into()).await?;
    Ok((StatusCode::CREATED, Json(item)))
}

/// Changes the quantity of an item on one of the caller's lists.
#[utoipa::path(put, path = "/api/loyalty/me/grocery-lists/items/{itemId}", tag = "grocery", security(("bearer" = [])),
    params(("itemId" = i32, Path)), request_body = QuantityRequest,
    responses((status = 200, body = GroceryListItem), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_my_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(item_id): Path<i32>,
    Json(body): Json<QuantityRequest>,
) -> Result<Json<GroceryListItem>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    Ok(Json(
        grocery::update_item(&state.db, item_id, Some(me), body.quantity).await?,
    ))
}

/// Removes an item from one of the caller's lists.
#[utoipa::path(delete, path = "/api/loyalty/me/grocery-lists/items/{itemId}", tag = "grocery", security(("bearer" = [])),
    params(("itemId" = i32, Path)), responses((status = 200, body = GroceryListItem), (status = 404, body = ErrorBody)))]
async fn delete_my_item(
    State(state): State<AppState>,
    principal: Principal,
    Path(item_id): Path<i32>,
) -> Result<Json<GroceryListItem>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    Ok(Json(
        grocery::delete_item(&state.db, item_id, Some(me)).await?,
    ))
}

/// Starts or stops the subscription of one of the caller's lists.
#[utoipa::path(put, path = "/api/loyalty/me/grocery-lists/{listId}/subscription", tag = "grocery", security(("bearer" = [])),
    params(("listId" = i32, Path)), request_body = SubscriptionRequest,
    responses((status = 200, body = GroceryList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_my_subscription(
    State(state): State<AppState>,
    principal: Principal,
    Path(list_id): Path<i32>,
    Json(body): Json<SubscriptionRequest>,
) -> Result<Json<GroceryList>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    Ok(Json(
        grocery::set_subscription(
            &state.db,
            list_id,
            Some(me),
            body.is_subscription,
            body.subscription_day,
        )
        .await?,
    ))
}
