//! Grocery lists and subscriptions (TrustCart routes 43–50), the customer's own lists
//! under `/me`, and the dashboard's `active_subscriptions`.

use axum::http::{Method, StatusCode};
use bondhu::domain::grocery::{SubscriptionDay, next_order_date};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::TestApp;

/// The keys of a list entity, as TrustCart's admin member page reads them (contract §4.4)
/// plus the rest of the entity.
const LIST_KEYS: &[&str] = &[
    "id",
    "customerId",
    "listName",
    "isSubscription",
    "subscriptionDay",
    "nextOrderDate",
    "totalOrdersPlaced",
    "isActive",
    "createdAt",
    "updatedAt",
];

const ITEM_KEYS: &[&str] = &[
    "id",
    "groceryListId",
    "productId",
    "quantity",
    "lastPurchasePrice",
    "createdAt",
    "updatedAt",
];

#[track_caller]
fn assert_keys(value: &Value, keys: &[&str]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"));
    let mut got: Vec<&str> = object.keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut want = keys.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{value}");
}

/// Today in Dhaka (UTC+6 all year), computed here independently of the server.
fn dhaka_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(6)).date_naive()
}

fn expected_next(day: i64) -> String {
    next_order_date(SubscriptionDay::new(day).unwrap(), dhaka_today()).to_string()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn staff_manage_a_customers_lists_and_items(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711800001", None).await;

    // The member page's call answers an empty array before any list exists.
    let empty = app
        .get(&format!("/api/loyalty/grocery-lists/{customer}"), &admin)
        .await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body, json!([]));

    let plain = app
        .post(
            "/api/loyalty/grocery-list",
            &admin,
            json!({ "customerId": customer, "listName": "  Weekly basics " }),
        )
        .await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.body);
    assert_keys(&plain.body, LIST_KEYS);
    assert_eq!(plain.body["listName"], "Weekly basics");
    assert_eq!(plain.body["isSubscription"], false);
    assert_eq!(plain.body["subscriptionDay"], Value::Null);
    assert_eq!(plain.body["nextOrderDate"], Value::Null);
    assert_eq!(plain.body["totalOrdersPlaced"], 0);
    assert_eq!(plain.body["isActive"], true);
    assert_eq!(plain.body["customerId"], customer);

    let monthly = app
        .post(
            "/api/loyalty/grocery-list",
            &admin,
            json!({ "customerId": customer, "listName": "Monthly", "isSubscription": true, "subscriptionDay": 5 }),
        )
        .await;
    assert_eq!(monthly.status, StatusCode::CREATED, "{}", monthly.body);
    assert_eq!(monthly.body["subscriptionDay"], 5);
    assert_eq!(monthly.body["nextOrderDate"], expected_next(5));

    let lists = app
        .get(&format!("/api/loyalty/grocery-lists/{customer}"), &admin)
        .await;
    assert_eq!(lists.body.as_array().unwrap().len(), 2);
    for list in lists.body.as_array().unwrap() {
        assert_keys(list, LIST_KEYS);
    }

    let list_id = plain.body["id"].as_i64().unwrap();
    let rice = app
        .post(
            &format!("/api/loyalty/grocery-list/{list_id}/item"),
            &admin,
            json!({ "productId": 11, "quantity": 2, "lastPurchasePrice": 450.5 }),
        )
        .await;
    assert_eq!(rice.status, StatusCode::CREATED, "{}", rice.body);
    assert_keys(&rice.body, ITEM_KEYS);
    assert_eq!(rice.body["groceryListId"], list_id);
    assert_eq!(rice.body["lastPurchasePrice"], "450.50");
    let oil = app
        .post(
            &format!("/api/loyalty/grocery-list/{list_id}/item"),
            &admin,
            json!({ "productId": 12, "quantity": 1 }),
        )
        .await;
    assert_eq!(oil.status, StatusCode::CREATED, "{}", oil.body);
    assert_eq!(oil.body["lastPurchasePrice"], Value::Null);

    // The same product twice is a conflict: its quantity is changed instead.
    app.post(
        &format!("/api/loyalty/grocery-list/{list_id}/item"),
        &admin,
        json!({ "productId": 11, "quantity": 1 }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "grocery_list_item_exists");

    let rice_id = rice.body["id"].as_i64().unwrap();
    let updated = app
        .put(
            &format!("/api/loyalty/grocery-list/item/{rice_id}"),
            &admin,
            json!({ "quantity": 3 }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["quantity"], 3);

    let items = app
        .get(
            &format!("/api/loyalty/grocery-list/{list_id}/items"),
            &admin,
        )
        .await;
    assert_eq!(items.status, StatusCode::OK);
    let items = items.body.as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["quantity"], 3);
    for item in &items {
        assert_keys(item, ITEM_KEYS);
    }

    let oil_id = oil.body["id"].as_i64().unwrap();
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/api/loyalty/grocery-list/item/{oil_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["id"], oil_id);
    app.request(
        Method::DELETE,
        &format!("/api/loyalty/grocery-list/item/{oil_id}"),
        Some(&admin),
        None,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "grocery_list_item_not_found");
    let items = app
        .get(
            &format!("/api/loyalty/grocery-list/{list_id}/items"),
            &admin,
        )
        .await;
    assert_eq!(items.body.as_array().unwrap().len(), 1);

    // Unknown ids are 404 with their codes.
    app.get("/api/loyalty/grocery-lists/999999", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.get("/api/loyalty/grocery-list/999999/items", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "grocery_list_not_found");
    app.post(
        "/api/loyalty/grocery-list/999999/item",
        &admin,
        json!({ "productId": 1, "quantity": 1 }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "grocery_list_not_found");
    app.put(
        "/api/loyalty/grocery-list/item/999999",
        &admin,
        json!({ "quantity": 1 }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "grocery_list_item_not_found");
    app.put(
        "/api/loyalty/grocery-list/999999/subscription",
        &admin,
        json!({ "isSubscription": true, "subscriptionDay": 3 }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "grocery_list_not_found");
    app.post(
        "/api/loyalty/grocery-list",
        &admin,
        json!({ "customerId": 999999, "listName": "Ghost" }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bad_lists_and_items_are_422_with_fields_and_write_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711800011", None).await;
    let list = app
        .post(
            "/api/loyalty/grocery-list",
            &admin,
            json!({ "customerId": customer, "listName": "Basics" }),
        )
        .await;
    let list_id = list.body["id"].as_i64().unwrap();
    let before = app.snapshot().await;

    let bad_lists = [
        (
            json!({ "customerId": customer, "listName": "   " }),
            "listName",
        ),
        (
            json!({ "customerId": customer, "listName": "x".repeat(101) }),
            "listName",
        ),
        (
            json!({ "customerId": customer, "listName": "M", "isSubscription": true }),
            "subscriptionDay",
        ),
        (
            json!({ "customerId": customer, "listName": "M", "isSubscription": true, "subscriptionDay": 29 }),
            "subscriptionDay",
        ),
        (
            json!({ "customerId": customer, "listName": "M", "isSubscription": true, "subscriptionDay": 0 }),
            "subscriptionDay",
        ),
        (
            json!({ "customerId": customer, "listName": "M", "subscriptionDay": 31 }),
            "subscriptionDay",
        ),
    ];
    for (body, field) in bad_lists {
        let response = app.post("/api/loyalty/grocery-list", &admin, body).await;
        response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            response.body["fields"][field].is_array(),
            "{}",
            response.body
        );
    }
    let item_path = format!("/api/loyalty/grocery-list/{list_id}/item");
    for (body, field) in [
        (json!({ "productId": 1, "quantity": 0 }), "quantity"),
        (json!({ "productId": 1, "quantity": -3 }), "quantity"),
        (json!({ "productId": 1, "quantity": 10001 }), "quantity"),
        (json!({ "productId": 0, "quantity": 1 }), "productId"),
        (
            json!({ "productId": 9_999_999_999_i64, "quantity": 1 }),
            "productId",
        ),
    ] {
        let response = app.post(&item_path, &admin, body).await;
        response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            response.body["fields"][field].is_array(),
            "{}",
            response.body
        );
    }
    // The wrong JSON shape (a negative price, a string quantity) is 422 too.
    for body in [
        json!({ "productId": 1, "quantity": 1, "lastPurchasePrice": -1 }),
        json!({ "productId": 1, "quantity": "two" }),
        json!({ "quantity": 1 }),
    ] {
        let response = app.post(&item_path, &admin, body).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            response.body
        );
    }
    let item = app
        .post(&item_path, &admin, json!({ "productId": 5, "quantity": 1 }))
        .await;
    let item_id = item.body["id"].as_i64().unwrap();
    let with_item = app.snapshot().await;
    app.put(
        &format!("/api/loyalty/grocery-list/item/{item_id}"),
        &admin,
        json!({ "quantity": 0 }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.put(
        &format!("/api/loyalty/grocery-list/{list_id}/subscription"),
        &admin,
        json!({ "isSubscription": true }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.snapshot().await, with_item);
    assert_eq!(
        before, with_item,
        "the snapshot does not cover grocery lists"
    );
    // Only the one valid item was written, with its quantity unchanged.
    let items = app
        .get(
            &format!("/api/loyalty/grocery-list/{list_id}/items"),
            &admin,
        )
        .await;
    assert_eq!(items.body.as_array().unwrap().len(), 1);
    assert_eq!(items.body[0]["quantity"], 1);
    let list = app
        .get(&format!("/api/loyalty/grocery-lists/{customer}"), &admin)
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["isSubscription"], false);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn subscriptions_start_stop_and_fall_due(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711800021", None).await;
    let other = app.customer("01711800022", None).await;
    let create = |customer: i32, name: &str| {
        app.post(
            "/api/loyalty/grocery-list",
            &admin,
            json!({ "customerId": customer, "listName": name }),
        )
    };
    let a = create(customer, "A").await.body["id"].as_i64().unwrap();
    let b = create(customer, "B").await.body["id"].as_i64().unwrap();
    let c = create(other, "C").await.body["id"].as_i64().unwrap();

    let started = app
        .put(
            &format!("/api/loyalty/grocery-list/{a}/subscription"),
            &admin,
            json!({ "isSubscription": true, "subscriptionDay": 28 }),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.body["isSubscription"], true);
    assert_eq!(started.body["subscriptionDay"], 28);
    assert_eq!(started.body["nextOrderDate"], expected_next(28));
    for (id, day) in [(b, 1), (c, 15)] {
        let response = app
            .put(
                &format!("/api/loyalty/grocery-list/{id}/subscription"),
                &admin,
                json!({ "isSubscription": true, "subscriptionDay": day }),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
    let dashboard = app.get("/api/loyalty/dashboard", &admin).await;
    assert_eq!(dashboard.body["active_subscriptions"], 3);

    // Stopping keeps the day; restarting without a day reuses it.
    let stopped = app
        .put(
            &format!("/api/loyalty/grocery-list/{b}/subscription"),
            &admin,
            json!({ "isSubscription": false }),
        )
        .await;
    assert_eq!(stopped.body["isSubscription"], false);
    assert_eq!(stopped.body["nextOrderDate"], Value::Null);
    assert_eq!(stopped.body["subscriptionDay"], 1);
    let dashboard = app.get("/api/loyalty/dashboard", &admin).await;
    assert_eq!(dashboard.body["active_subscriptions"], 2);
    let restarted = app
        .put(
            &format!("/api/loyalty/grocery-list/{b}/subscription"),
            &admin,
            json!({ "isSubscription": true }),
        )
        .await;
    assert_eq!(restarted.status, StatusCode::OK, "{}", restarted.body);
    assert_eq!(restarted.body["nextOrderDate"], expected_next(1));

    // Due today: next order date today or past, in Dhaka dates. Move the dates to known
    // ones relative to today.
    let today = dhaka_today();
    let set_next = |id: i64, days: i64| {
        let date = today + chrono::Duration::days(days);
        sqlx::query!(
            "update grocery_lists set next_order_date = $2 where id = $1",
            id as i32,
            date
        )
        .execute(&app.pool)
    };
    set_next(a, -3).await.unwrap();
    set_next(b, 0).await.unwrap();
    set_next(c, 1).await.unwrap();
    let due = app
        .get("/api/loyalty/subscriptions/due-today", &admin)
        .await;
    assert_eq!(due.status, StatusCode::OK, "{}", due.body);
    let ids: Vec<i64> = due
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![a, b],
        "the most overdue first; tomorrow's is not due"
    );
    for list in due.body.as_array().unwrap() {
        assert_keys(list, LIST_KEYS);
    }
    let tomorrow = (today + chrono::Duration::days(1)).to_string();
    let due_tomorrow = app
        .get(
            &format!("/api/loyalty/subscriptions/due-today?date={tomorrow}"),
            &admin,
        )
        .await;
    assert_eq!(due_tomorrow.body.as_array().unwrap().len(), 3);
    app.get("/api/loyalty/subscriptions/due-today?date=tomorrow", &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");

    // An inactive list, or a deleted customer's, is never due and not counted.
    sqlx::query!(
        "update grocery_lists set is_active = false where id = $1",
        a as i32
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query!(
        "update customers set is_deleted = true where id = $1",
        other
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let due = app
        .get(
            &format!("/api/loyalty/subscriptions/due-today?date={tomorrow}"),
            &admin,
        )
        .await;
    assert_eq!(due.body.as_array().unwrap().len(), 1);
    assert_eq!(due.body[0]["id"], b);
    let dashboard = app.get("/api/loyalty/dashboard", &admin).await;
    assert_eq!(dashboard.body["active_subscriptions"], 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_customer_reaches_only_their_own_lists(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let a = app.customer("01711800031", None).await;
    let b = app.customer("01711800032", None).await;
    let a_token = app.customer_token(a);
    let b_token = app.customer_token(b);

    let created = app
        .post(
            "/api/loyalty/me/grocery-lists",
            &a_token,
            json!({ "listName": "Mine", "isSubscription": true, "subscriptionDay": 10 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_keys(&created.body, LIST_KEYS);
    assert_eq!(created.body["customerId"], a);
    assert_eq!(created.body["nextOrderDate"], expected_next(10));
    let list = created.body["id"].as_i64().unwrap();
    // A customerId in the body cannot redirect the list to someone else.
    let sneaky = app
        .post(
            "/api/loyalty/me/grocery-lists",
            &a_token,
            json!({ "listName": "Sneaky", "customerId": b }),
        )
        .await;
    assert_eq!(sneaky.status, StatusCode::CREATED, "{}", sneaky.body);
    assert_eq!(sneaky.body["customerId"], a);

    let item = app
        .post(
            &format!("/api/loyalty/me/grocery-lists/{list}/items"),
            &a_token,
            json!({ "productId": 7, "quantity": 2, "lastPurchasePrice": "99.5" }),
        )
        .await;
    assert_eq!(item.status, StatusCode::CREATED, "{}", item.body);
    assert_eq!(item.body["lastPurchasePrice"], "99.50");
    let item_id = item.body["id"].as_i64().unwrap();
    let updated = app
        .put(
            &format!("/api/loyalty/me/grocery-lists/items/{item_id}"),
            &a_token,
            json!({ "quantity": 4 }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["quantity"], 4);
    let mine = app.get("/api/loyalty/me/grocery-lists", &a_token).await;
    assert_eq!(mine.body.as_array().unwrap().len(), 2);
    let items = app
        .get(
            &format!("/api/loyalty/me/grocery-lists/{list}/items"),
            &a_token,
        )
        .await;
    assert_eq!(items.body.as_array().unwrap().len(), 1);

    // B sees none of it and can change none of it: 404, as for ids that do not exist.
    let theirs = app.get("/api/loyalty/me/grocery-lists", &b_token).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert_eq!(theirs.body, json!([]));
    let before = app.snapshot().await;
    app.get(
        &format!("/api/loyalty/me/grocery-lists/{list}/items"),
        &b_token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "grocery_list_not_found");
    app.post(
        &format!("/api/loyalty/me/grocery-lists/{list}/items"),
        &b_token,
        json!({ "productId": 8, "quantity": 1 }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "grocery_list_not_found");
    app.put(
        &format!("/api/loyalty/me/grocery-lists/items/{item_id}"),
        &b_token,
        json!({ "quantity": 9 }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "grocery_list_item_not_found");
    app.request(
        Method::DELETE,
        &format!("/api/loyalty/me/grocery-lists/items/{item_id}"),
        Some(&b_token),
        None,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "grocery_list_item_not_found");
    app.put(
        &format!("/api/loyalty/me/grocery-lists/{list}/subscription"),
        &b_token,
        json!({ "isSubscription": false }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "grocery_list_not_found");
    assert_eq!(app.snapshot().await, before, "B changed A's data");
    let a_items = app
        .get(
            &format!("/api/loyalty/me/grocery-lists/{list}/items"),
            &a_token,
        )
        .await;
    assert_eq!(a_items.body[0]["quantity"], 4);

    // A customer never reaches the staff routes, even for their own list.
    app.get(&format!("/api/loyalty/grocery-lists/{a}"), &a_token)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // A stops their own subscription and deletes their own item.
    let stopped = app
        .put(
            &format!("/api/loyalty/me/grocery-lists/{list}/subscription"),
            &a_token,
            json!({ "isSubscription": false }),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    assert_eq!(stopped.body["isSubscription"], false);
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/api/loyalty/me/grocery-lists/items/{item_id}"),
            Some(&a_token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    app.check_invariants().await;
}
