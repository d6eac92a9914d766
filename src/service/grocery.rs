//! Grocery lists and monthly subscriptions (TrustCart routes 43–50 and their `/me` twins).
//!
//! Every use case on a list or an item takes `owner`: `None` for staff (any live
//! customer's list), `Some(me)` for a customer's `/me` route. Another customer's list or
//! item is then *not found* (404), never *forbidden* (403), so ids reveal nothing about
//! other customers' lists.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::db;
use crate::domain::grocery::{
    GroceryList, GroceryListItem, MAX_LIST_NAME, SubscriptionDay, check_quantity, next_order_date,
};
use crate::error::{Code, Error, Problems, Result};

/// A new list, as the caller sends it.
#[derive(Debug)]
pub struct NewList {
    /// 1–100 characters (trimmed).
    pub list_name: String,
    /// A monthly subscription (default false).
    pub is_subscription: bool,
    /// Day of the month, 1–28; required for a subscription.
    pub subscription_day: Option<i64>,
}

/// A new item, as the caller sends it.
#[derive(Debug)]
pub struct NewItem {
    /// The shop's product id (positive).
    pub product_id: i64,
    /// Units, 1–10000.
    pub quantity: i64,
    /// What the customer last paid for one unit, if known.
    pub last_purchase_price: Option<Decimal>,
}

fn list_not_found() -> Error {
    Error::new(Code::GroceryListNotFound, "Grocery list not found")
}

fn item_not_found() -> Error {
    Error::new(Code::GroceryListItemNotFound, "Grocery list item not found")
}

/// The subscription a request asks for: `Some((day, next order date))` when it is one.
/// `day` is the request's day, or the list's `existing` day when it sends none.
fn subscription(
    problems: &mut Problems,
    is_subscription: bool,
    day: Option<i64>,
    existing: Option<i32>,
    today: NaiveDate,
) -> Option<(i32, NaiveDate)> {
    let day = match day {
        Some(raw) => match SubscriptionDay::new(raw) {
            Some(day) => Some(day),
            None => {
                problems.add("subscriptionDay", "must be a day of the month from 1 to 28");
                return None;
            }
        },
        None => existing.and_then(|d| SubscriptionDay::new(d.into())),
    };
    if !is_subscription {
        return None;
    }
    match day {
        Some(day) => Some((day.get(), next_order_date(day, today))),
        None => {
            problems.add("subscriptionDay", "is required for a subscription");
            None
        }
    }
}

async fn live_customer(pool: &PgPool, customer_id: i32) -> Result<()> {
    if db::customers::exists(pool, customer_id).await? {
        Ok(())
    } else {
        Err(Error::customer_not_found())
    }
}

/// A page of a live customer's lists, oldest first, after list `after_id` if given.
pub async fn lists(
    pool: &PgPool,
    customer_id: i32,
    limit: i64,
    after_id: Option<i32>,
) -> Result<Vec<GroceryList>> {
    live_customer(pool, customer_id).await?;
    Ok(db::grocery::lists_of(pool, customer_id, limit, after_id).await?)
}

/// Creates a list for a live customer.
pub async fn create_list(pool: &PgPool, customer_id: i32, request: NewList) -> Result<GroceryList> {
    let mut problems = Problems::default();
    let name = request.list_name.trim();
    problems.check(
        !name.is_empty() && name.chars().count() <= MAX_LIST_NAME,
        "listName",
        "must be 1 to 100 characters",
    );
    let today = db::dhaka_today(pool).await?;
    let subscription = subscription(
        &mut problems,
        request.is_subscription,
        request.subscription_day,
        None,
        today,
    );
    problems.finish(Code::ValidationFailed)?;
    live_customer(pool, customer_id).await?;
    Ok(db::grocery::insert_list(pool, customer_id, name, subscription).await?)
}

/// A page of a reachable list's items, in the order they were added, after item
/// `after_id` if given.
pub async fn items(
    pool: &PgPool,
    list_id: i32,
    owner: Option<i32>,
    limit: i64,
    after_id: Option<i32>,
) -> Result<Vec<GroceryListItem>> {
    db::grocery::list(pool, list_id, owner)
        .await?
        .ok_or_else(list_not_found)?;
    Ok(db::grocery::items(pool, list_id, limit, after_id).await?)
}

/// Adds a product to a reachable list (once: a second time is 409).
pub async fn add_item(
    pool: &PgPool,
    list_id: i32,
    owner: Option<i32>,
    request: NewItem,
) -> Result<GroceryListItem> {
    let mut problems = Problems::default();
    let product_id = i32::try_from(request.product_id)
        .ok()
        .filter(|id| *id > 0)
        .unwrap_or_else(|| {
            problems.add("productId", "must be a positive product id");
            0
        });
    let quantity = check_quantity(&mut problems, request.quantity);
    problems.finish(Code::ValidationFailed)?;
    db::grocery::list(pool, list_id, owner)
        .await?
        .ok_or_else(list_not_found)?;
    Ok(db::grocery::insert_item(
        pool,
        list_id,
        product_id,
        quantity,
        request.last_purchase_price,
    )
    .await?)
}

/// Changes a reachable item's quantity.
pub async fn update_item(
    pool: &PgPool,
    item_id: i32,
    owner: Option<i32>,
    quantity: i64,
) -> Result<GroceryListItem> {
    let mut problems = Problems::default();
    let quantity = check_quantity(&mut problems, quantity);
    problems.finish(Code::ValidationFailed)?;
    db::grocery::update_item_quantity(pool, item_id, owner, quantity)
        .await?
        .ok_or_else(item_not_found)
}

/// Removes a reachable item; returns what was removed.
pub async fn delete_item(
    pool: &PgPool,
    item_id: i32,
    owner: Option<i32>,
) -> Result<GroceryListItem> {
    db::grocery::delete_item(pool, item_id, owner)
        .await?
        .ok_or_else(item_not_found)
}

/// Starts or stops a reachable list's subscription. Starting one without a day uses the
/// day the list had before; its next order date is recomputed from today (Dhaka).
pub async fn set_subscription(
    pool: &PgPool,
    list_id: i32,
    owner: Option<i32>,
    is_subscription: bool,
    day: Option<i64>,
) -> Result<GroceryList> {
    let list = db::grocery::list(pool, list_id, owner)
        .await?
        .ok_or_else(list_not_found)?;
    let mut problems = Problems::default();
    let today = db::dhaka_today(pool).await?;
    let subscription = subscription(
        &mut problems,
        is_subscription,
        day,
        list.subscription_day,
        today,
    );
    problems.finish(Code::ValidationFailed)?;
    db::grocery::set_subscription(pool, list_id, subscription)
        .await?
        .ok_or_else(list_not_found)
}

/// A page of the active subscriptions due on or before `date` (today in Dhaka by default),
/// after `after` (the previous page's last `(next order date, id)`) when given: the date
/// used and the lists.
pub async fn due(
    pool: &PgPool,
    date: Option<NaiveDate>,
    after: Option<(NaiveDate, i32)>,
    limit: i64,
) -> Result<(NaiveDate, Vec<GroceryList>)> {
    let date = match date {
        Some(date) => date,
        None => db::dhaka_today(pool).await?,
    };
    Ok((date, db::grocery::due_on(pool, date, after, limit).await?))
}
