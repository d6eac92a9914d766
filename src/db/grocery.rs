//! Grocery lists and their items. `owner` (when given) restricts a statement to one
//! customer's lists: a customer's `/me` routes pass their own id, so another customer's
//! list or item is simply not found.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgExecutor;

use crate::domain::grocery::{GroceryList, GroceryListItem};

/// A page of a live customer's lists, oldest first, after list `after_id` if given (a
/// range of `grocery_lists_customer_idx`).
pub async fn lists_of(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    limit: i64,
    after_id: Option<i32>,
) -> sqlx::Result<Vec<GroceryList>> {
    sqlx::query_as!(
        GroceryList,
        r#"select l.id, l.customer_id, l.list_name, l.is_subscription, l.subscription_day,
                  l.next_order_date, l.total_orders_placed, l.is_active, l.created_at, l.updated_at
           from grocery_lists l join customers c on c.id = l.customer_id and not c.is_deleted
           where l.customer_id = $1 and ($3::integer is null or l.id > $3)
           order by l.id
           limit $2"#,
        customer_id,
        limit,
        after_id
    )
    .fetch_all(db)
    .await
}

/// List `id` of a live customer (of `owner`, when given).
pub async fn list(
    db: impl PgExecutor<'_>,
    id: i32,
    owner: Option<i32>,
) -> sqlx::Result<Option<GroceryList>> {
    sqlx::query_as!(
        GroceryList,
        r#"select l.id, l.customer_id, l.list_name, l.is_subscription, l.subscription_day,
                  l.next_order_date, l.total_orders_placed, l.is_active, l.created_at, l.updated_at
           from grocery_lists l join customers c on c.id = l.customer_id and not c.is_deleted
           where l.id = $1 and ($2::integer is null or l.customer_id = $2)"#,
        id,
        owner
    )
    .fetch_optional(db)
    .await
}

/// A new list.
pub async fn insert_list(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    list_name: &str,
    subscription: Option<(i32, NaiveDate)>,
) -> sqlx::Result<GroceryList> {
    let (day, next) = subscription.unzip();
    sqlx::query_as!(
        GroceryList,
        r#"insert into grocery_lists (customer_id, list_name, is_subscription, subscription_day, next_order_date)
           values ($1, $2, $3::integer is not null, $3, $4)
           returning id, customer_id, list_name, is_subscription, subscription_day,
                     next_order_date, total_orders_placed, is_active, created_at, updated_at"#,
        customer_id,
        list_name,
        day,
        next
    )
    .fetch_one(db)
    .await
}

/// Makes list `id` a subscription on `day` next due `next`, or (`None`) a plain list that
/// keeps its day for a later restart. The caller checked the list is reachable.
pub async fn set_subscription(
    db: impl PgExecutor<'_>,
    id: i32,
    subscription: Option<(i32, NaiveDate)>,
) -> sqlx::Result<Option<GroceryList>> {
    let (day, next) = subscription.unzip();
    sqlx::query_as!(
        GroceryList,
        r#"update grocery_lists
           set is_subscription = $2::integer is not null,
               subscription_day = coalesce($2, subscription_day),
               next_order_date = $3,
               updated_at = now()
           where id = $1
           returning id, customer_id, list_name, is_subscription, subscription_day,
                     next_order_date, total_orders_placed, is_active, created_at, updated_at"#,
        id,
        day,
        next
    )
    .fetch_optional(db)
    .await
}

/// A page of the active subscriptions of live customers due on or before `date`, the most
/// overdue first (next order date, then id), after `after` (the previous page's last
/// `(next order date, id)`) when given (a range of `grocery_lists_due_list_idx`).
pub async fn due_on(
    db: impl PgExecutor<'_>,
    date: NaiveDate,
    after: Option<(NaiveDate, i32)>,
    limit: i64,
) -> sqlx::Result<Vec<GroceryList>> {
    let (after_date, after_id) = after.unzip();
    sqlx::query_as!(
        GroceryList,
        r#"select l.id, l.customer_id, l.list_name, l.is_subscription, l.subscription_day,
                  l.next_order_date, l.total_orders_placed, l.is_active, l.created_at, l.updated_at
           from grocery_lists l join customers c on c.id = l.customer_id and not c.is_deleted
           where l.is_subscription and l.is_active and l.next_order_date <= $1
             and ($2::date is null or (l.next_order_date, l.id) > ($2, $3::integer))
           order by l.next_order_date, l.id
           limit $4"#,
        date,
        after_date,
        after_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// A page of the items of list `list_id`, in the order they were added, after item
/// `after_id` if given (a range of `grocery_list_items_list_idx`).
pub async fn items(
    db: impl PgExecutor<'_>,
    list_id: i32,
    limit: i64,
    after_id: Option<i32>,
) -> sqlx::Result<Vec<GroceryListItem>> {
    sqlx::query_as!(
        GroceryListItem,
        r#"select id, list_id as grocery_list_id, product_id, quantity, last_purchase_price,
                  created_at, updated_at
           from grocery_list_items where list_id = $1 and ($3::integer is null or id > $3)
           order by id
           limit $2"#,
        list_id,
        limit,
        after_id
    )
    .fetch_all(db)
    .await
}

/// A new item on list `list_id` (the caller checked the list is reachable).
pub async fn insert_item(
    db: impl PgExecutor<'_>,
    list_id: i32,
    product_id: i32,
    quantity: i32,
    last_purchase_price: Option<Decimal>,
) -> sqlx::Result<GroceryListItem> {
    sqlx::query_as!(
        GroceryListItem,
        r#"insert into grocery_list_items (list_id, product_id, quantity, last_purchase_price)
           values ($1, $2, $3, $4)
           returning id, list_id as grocery_list_id, product_id, quantity, last_purchase_price,
                     created_at, updated_at"#,
        list_id,
        product_id,
        quantity,
        last_purchase_price
    )
    .fetch_one(db)
    .await
}

/// Sets item `id`'s quantity, if the item is on a live customer's list (`owner`'s, when
/// given).
pub async fn update_item_quantity(
    db: impl PgExecutor<'_>,
    id: i32,
    owner: Option<i32>,
    quantity: i32,
) -> sqlx::Result<Option<GroceryListItem>> {
    sqlx::query_as!(
        GroceryListItem,
        r#"update grocery_list_items i set quantity = $3, updated_at = now()
           from grocery_lists l, customers c
           where i.id = $1 and l.id = i.list_id and c.id = l.customer_id and not c.is_deleted
             and ($2::integer is null or l.customer_id = $2)
           returning i.id, i.list_id as grocery_list_id, i.product_id, i.quantity,
                     i.last_purchase_price, i.created_at, i.updated_at"#,
        id,
        owner,
        quantity
    )
    .fetch_optional(db)
    .await
}

/// Removes item `id`, if it is on a live customer's list (`owner`'s, when given).
pub async fn delete_item(
    db: impl PgExecutor<'_>,
    id: i32,
    owner: Option<i32>,
) -> sqlx::Result<Option<GroceryListItem>> {
    sqlx::query_as!(
        GroceryListItem,
        r#"delete from grocery_list_items i
           using grocery_lists l, customers c
           where i.id = $1 and l.id = i.list_id and c.id = l.customer_id and not c.is_deleted
             and ($2::integer is null or l.customer_id = $2)
           returning i.id, i.list_id as grocery_list_id, i.product_id, i.quantity,
                     i.last_purchase_price, i.created_at, i.updated_at"#,
        id,
        owner
    )
    .fetch_optional(db)
    .await
}
