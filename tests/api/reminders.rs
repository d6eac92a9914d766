//! Repeat-purchase reminders (TrustCart routes 37–42): profiles, the generation
//! arithmetic on a known data set, idempotence, the once-a-day job across instances, the
//! due list's keys and filters, and marking sent.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::TestApp;

/// The keys of a profile (TrustCart's entity, camelCase).
const PROFILE_KEYS: &[&str] = &[
    "avgConsumptionDays",
    "bufferDays",
    "categoryId",
    "createdAt",
    "id",
    "isActive",
    "maxDays",
    "minDays",
    "productId",
    "updatedAt",
];

/// The keys of a due reminder (contract §1.2 row 41, snake_case).
const REMINDER_KEYS: &[&str] = &[
    "customer_id",
    "first_name",
    "id",
    "last_name",
    "last_order_date",
    "phone",
    "product_id",
    "product_name",
    "reminder_channel",
    "reminder_due_date",
    "reminder_sent",
];

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Creates a profile through the API; returns its JSON.
async fn profile(app: &TestApp, body: Value) -> Value {
    let response = app
        .post(
            "/api/loyalty/consumption-profiles",
            &app.admin_token(),
            body,
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body
}

/// Records order `id` of `customer` with `status` and `items` (`(product, category)`),
/// then, when `delivered` is given, sets its delivery to that instant (the shop reports
/// orders now; the data set needs known dates).
async fn order(
    app: &TestApp,
    id: i32,
    customer: i32,
    status: &str,
    items: &[(i32, Option<i32>)],
    delivered: Option<&str>,
) {
    let items: Vec<Value> = items
        .iter()
        .map(|(product, category)| {
            json!({ "productId": product, "productName": format!("Product {product}"),
                    "categoryId": category, "quantity": 1, "unitPrice": 100 })
        })
        .collect();
    let response = app
        .put(
            &format!("/api/orders/{id}"),
            &app.admin_token(),
            json!({ "customerId": customer, "status": status, "totalAmount": 1000, "items": items }),
        )
        .await;
    assert!(response.status.is_success(), "{}", response.body);
    if let Some(at) = delivered {
        sqlx::query("update sales_orders set delivered_at = $2::text::timestamptz where id = $1")
            .bind(id)
            .bind(at)
            .execute(&app.pool)
            .await
            .unwrap();
    }
}

async fn generate(app: &TestApp, date: &str) -> Value {
    let response = app
        .post(
            &format!("/api/loyalty/reminders/generate?date={date}"),
            &app.admin_token(),
            Value::Null,
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body
}

async fn due(app: &TestApp, date: &str) -> Value {
    let response = app
        .get(
            &format!("/api/loyalty/reminders/due?date={date}&limit=2000"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["asOfDate"], date);
    assert_eq!(
        response.body["count"].as_u64().unwrap() as usize,
        response.body["reminders"].as_array().unwrap().len()
    );
    response.body
}

/// `(customer, product) → (last_order_date, reminder_due_date)` of the due list.
fn dates(due: &Value) -> Vec<(i64, i64, String, String)> {
    due["reminders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["customer_id"].as_i64().unwrap(),
                r["product_id"].as_i64().unwrap(),
                r["last_order_date"].as_str().unwrap().to_owned(),
                r["reminder_due_date"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every reminder row, with its `updated_at`, as text.
async fn reminder_rows(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar::<_, String>("select r::text from customer_product_reminders r order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn profiles_are_created_replaced_listed_and_deleted(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let rice = profile(
        &app,
        json!({ "productId": 11, "avgConsumptionDays": 30, "bufferDays": 5, "minDays": 7, "maxDays": 60 }),
    )
    .await;
    assert_eq!(keys(&rice), PROFILE_KEYS);
    assert_eq!(rice["productId"], 11);
    assert_eq!(rice["categoryId"], Value::Null);
    assert_eq!(rice["avgConsumptionDays"], 30);
    assert_eq!(rice["bufferDays"], 5);
    assert_eq!(rice["isActive"], true);
    // The snake_case spellings, and the defaults.
    let oil = profile(&app, json!({ "category_id": 3, "avgConsumptionDays": 20 })).await;
    assert_eq!(oil["categoryId"], 3);
    assert_eq!(oil["productId"], Value::Null);
    assert_eq!(
        (&oil["bufferDays"], &oil["minDays"], &oil["maxDays"]),
        (&json!(0), &json!(1), &json!(365))
    );
    let by_snake = profile(&app, json!({ "product_id": 12, "avgConsumptionDays": 9 })).await;
    assert_eq!(by_snake["productId"], 12);
    // A second profile for the same product replaces the first.
    let replaced = profile(
        &app,
        json!({ "productId": 11, "avgConsumptionDays": 40, "isActive": false }),
    )
    .await;
    assert_eq!(replaced["id"], rice["id"]);
    assert_eq!(replaced["avgConsumptionDays"], 40);
    assert_eq!(replaced["isActive"], false);

    let list = app.get("/api/loyalty/consumption-profiles", &admin).await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.body.as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    for p in &list {
        assert_eq!(keys(p), PROFILE_KEYS);
    }

    let path = format!("/api/loyalty/consumption-profiles/{}", oil["id"]);
    let deleted = app.request(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body, json!({ "raw": [], "affected": 1 }));
    let again = app.request(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(again.body, json!({ "raw": [], "affected": 0 }));
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_bad_profile_is_a_422_naming_each_field_and_writes_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let cases = [
        (
            json!({ "productId": 1, "categoryId": 2, "avgConsumptionDays": 10 }),
            "productId",
        ),
        (json!({ "avgConsumptionDays": 10 }), "productId"),
        (
            json!({ "productId": 0, "avgConsumptionDays": 10 }),
            "productId",
        ),
        (
            json!({ "categoryId": -3, "avgConsumptionDays": 10 }),
            "categoryId",
        ),
        (json!({ "productId": 1 }), "avgConsumptionDays"),
        (
            json!({ "productId": 1, "avgConsumptionDays": 0 }),
            "avgConsumptionDays",
        ),
        (
            json!({ "productId": 1, "avgConsumptionDays": 10, "bufferDays": 10 }),
            "bufferDays",
        ),
        (
            json!({ "productId": 1, "avgConsumptionDays": 10, "bufferDays": -1 }),
            "bufferDays",
        ),
        (
            json!({ "productId": 1, "avgConsumptionDays": 10, "minDays": 20, "maxDays": 5 }),
            "minDays",
        ),
        (
            json!({ "productId": 1, "avgConsumptionDays": 10, "maxDays": 0 }),
            "maxDays",
        ),
        (
            json!({ "productId": 1, "avgConsumptionDays": 4000 }),
            "avgConsumptionDays",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .post("/api/loyalty/consumption-profiles", &admin, body.clone())
            .await;
        response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            response.body["fields"][field].is_array(),
            "{body}: {}",
            response.body
        );
    }
    // A string where a number belongs is a JSON error, not a 500.
    let response = app
        .post(
            "/api/loyalty/consumption-profiles",
            &admin,
            json!({ "productId": "x", "avgConsumptionDays": 10 }),
        )
        .await;
    assert!(response.status.is_client_error(), "{}", response.body);
    let count: i64 = sqlx::query_scalar("select count(*) from consumption_profiles")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

/// The known data set: profiles by product and by category, a product's own profile
/// winning over its category's, the buffer, both clamps, a product without a profile, a
/// deleted customer and an undelivered order.
async fn data_set(app: &TestApp) -> (i32, i32, i32) {
    profile(
        app,
        json!({ "productId": 101, "avgConsumptionDays": 30, "bufferDays": 5 }),
    )
    .await; // 25 days
    profile(
        app,
        json!({ "categoryId": 7, "avgConsumptionDays": 20, "bufferDays": 2 }),
    )
    .await; // 18 days
    profile(app, json!({ "productId": 102, "avgConsumptionDays": 10 })).await; // wins over category 7
    profile(
        app,
        json!({ "productId": 104, "avgConsumptionDays": 5, "minDays": 7 }),
    )
    .await; // clamped up to 7
    profile(
        app,
        json!({ "productId": 105, "avgConsumptionDays": 400, "bufferDays": 10, "maxDays": 60 }),
    )
    .await; // clamped down to 60
    let alice = app.customer("01711400001", None).await;
    let deleted = app.customer("01711400002", None).await;
    let pending = app.customer("01711400003", None).await;
    // 00:30 in Dhaka on 1 January is still 31 December in UTC: the Dhaka date counts.
    order(
        app,
        8001,
        alice,
        "delivered",
        &[
            (101, None),
            (102, Some(7)),
            (103, Some(7)),
            (104, None),
            (105, None),
            (106, Some(9)),
        ],
        Some("2026-01-01 00:30:00+06"),
    )
    .await;
    order(
        app,
        8002,
        deleted,
        "delivered",
        &[(101, None)],
        Some("2026-01-01 12:00:00+06"),
    )
    .await;
    sqlx::query("update customers set is_deleted = true where id = $1")
        .bind(deleted)
        .execute(&app.pool)
        .await
        .unwrap();
    order(app, 8003, pending, "shipped", &[(101, None)], None).await;
    (alice, deleted, pending)
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn generation_follows_the_profiles_arithmetic(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (alice, _, _) = data_set(&app).await;
    let answer = generate(&app, "2026-03-01").await;
    assert_eq!(answer, json!({ "success": true, "asOfDate": "2026-03-01" }));

    let all = due(&app, "2026-12-31").await;
    let a = i64::from(alice);
    let d = |s: &str| s.to_owned();
    assert_eq!(
        dates(&all),
        vec![
            (a, 104, d("2026-01-01"), d("2026-01-08")), // 5 days, clamped up to min 7
            (a, 102, d("2026-01-01"), d("2026-01-11")), // the product's 10 beats the category's 18
            (a, 103, d("2026-01-01"), d("2026-01-19")), // category 7: 20 − 2
            (a, 101, d("2026-01-01"), d("2026-01-26")), // 30 − 5
            (a, 105, d("2026-01-01"), d("2026-03-02")), // 400 − 10, clamped down to max 60
        ]
    );
    let first = &all["reminders"][0];
    assert_eq!(keys(first), REMINDER_KEYS);
    assert_eq!(first["reminder_sent"], false);
    assert_eq!(first["reminder_channel"], Value::Null);
    assert_eq!(first["first_name"], "Test");
    assert_eq!(first["phone"], "+8801711400001");
    assert_eq!(first["product_name"], "Product 104");

    // Only what is due on or before the date.
    let on_the_tenth = due(&app, "2026-01-10").await;
    assert_eq!(
        dates(&on_the_tenth).iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![104]
    );
    // Generating as of a date before the delivery finds nothing to remind.
    let rows = reminder_rows(&app).await;
    generate(&app, "2025-12-31").await;
    assert_eq!(reminder_rows(&app).await, rows);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn generating_twice_on_a_date_changes_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    data_set(&app).await;
    generate(&app, "2026-03-01").await;
    let rows = reminder_rows(&app).await;
    assert_eq!(rows.len(), 5);
    generate(&app, "2026-03-01").await;
    assert_eq!(
        reminder_rows(&app).await,
        rows,
        "a second run rewrote reminders"
    );
    // The SQL function says so too.
    let (created, updated): (i32, i32) =
        sqlx::query_as("select created, updated from generate_reminders('2026-03-01')")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((created, updated), (0, 0));
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_reorder_supersedes_the_reminder_and_a_sent_one_is_not_resent(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let (alice, _, _) = data_set(&app).await;
    generate(&app, "2026-03-01").await;
    let all = due(&app, "2026-12-31").await;
    let rice = all["reminders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["product_id"] == 101)
        .unwrap()["id"]
        .clone();
    let sent = app
        .put(
            &format!("/api/loyalty/reminders/{rice}/sent"),
            &admin,
            json!({ "channel": "whatsapp" }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);

    // Alice orders product 102 again; not delivered yet: its reminder is no longer due.
    order(&app, 8010, alice, "confirmed", &[(102, Some(7))], None).await;
    let products: Vec<i64> = dates(&due(&app, "2026-12-31").await)
        .iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(products, vec![104, 103, 105]);
    // Delivered on 1 February, and rice re-ordered and delivered on 10 February: the next
    // generation counts from the newest orders.
    order(
        &app,
        8010,
        alice,
        "delivered",
        &[(102, Some(7))],
        Some("2026-02-01 10:00:00+06"),
    )
    .await;
    order(
        &app,
        8011,
        alice,
        "delivered",
        &[(101, None)],
        Some("2026-02-10 10:00:00+06"),
    )
    .await;
    // Generating as of a date before the re-orders changes nothing.
    let before = reminder_rows(&app).await;
    generate(&app, "2026-01-31").await;
    assert_eq!(reminder_rows(&app).await, before);
    generate(&app, "2026-03-01").await;
    let a = i64::from(alice);
    let d = |s: &str| s.to_owned();
    assert_eq!(
        dates(&due(&app, "2026-12-31").await),
        vec![
            (a, 104, d("2026-01-01"), d("2026-01-08")),
            (a, 103, d("2026-01-01"), d("2026-01-19")),
            (a, 102, d("2026-02-01"), d("2026-02-11")),
            (a, 105, d("2026-01-01"), d("2026-03-02")),
            (a, 101, d("2026-02-10"), d("2026-03-07")),
        ]
    );
    // The sent reminder for the first rice order is gone, not resent: the one left is
    // the new order's, unsent.
    let rice_rows: Vec<(i32, bool)> = sqlx::query_as(
        "select last_order_id, reminder_sent from customer_product_reminders where product_id = 101",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rice_rows, vec![(8011, false)]);
    // The rice re-order is returned: its reminder leaves the due list at once, and the
    // next run does not fall back on the first order, whose reminder was sent.
    order(&app, 8011, alice, "returned", &[(101, None)], None).await;
    let listed = |due: Value| dates(&due).iter().map(|r| r.1).collect::<Vec<_>>();
    assert_eq!(
        listed(due(&app, "2026-12-31").await),
        vec![104, 103, 102, 105]
    );
    generate(&app, "2026-03-01").await;
    assert_eq!(
        listed(due(&app, "2026-12-31").await),
        vec![104, 103, 102, 105]
    );
    let rice_rows: Vec<(i32, bool)> = sqlx::query_as(
        "select last_order_id, reminder_sent from customer_product_reminders where product_id = 101",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rice_rows, vec![(8011, false)]);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_deleted_customer_or_a_dropped_profile_gets_no_reminder(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (alice, _, _) = data_set(&app).await;
    generate(&app, "2026-03-01").await;
    assert_eq!(dates(&due(&app, "2026-12-31").await).len(), 5);
    // Deactivating product 104's profile and deleting category 7's takes their reminders
    // off the due list at once (102 keeps its own profile), and generation brings none back.
    profile(
        &app,
        json!({ "productId": 104, "avgConsumptionDays": 5, "isActive": false }),
    )
    .await;
    let category: i32 =
        sqlx::query_scalar("select id from consumption_profiles where category_id = 7")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    app.request(
        Method::DELETE,
        &format!("/api/loyalty/consumption-profiles/{category}"),
        Some(&app.admin_token()),
        None,
    )
    .await;
    let listed = |due: Value| dates(&due).iter().map(|r| r.1).collect::<Vec<_>>();
    assert_eq!(listed(due(&app, "2026-12-31").await), vec![102, 101, 105]);
    generate(&app, "2026-03-01").await;
    assert_eq!(listed(due(&app, "2026-12-31").await), vec![102, 101, 105]);
    // Alice is deleted: nothing is listed for her, before or after the next run.
    sqlx::query("update customers set is_deleted = true where id = $1")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(due(&app, "2026-12-31").await["count"], 0);
    generate(&app, "2026-03-01").await;
    assert_eq!(due(&app, "2026-12-31").await["count"], 0);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_daily_job_generates_once_a_day_across_instances(pool: PgPool) {
    let app = TestApp::new(pool).await;
    profile(&app, json!({ "productId": 101, "avgConsumptionDays": 30 })).await;
    let alice = app.customer("01711400011", None).await;
    order(&app, 8101, alice, "delivered", &[(101, None)], None).await;
    let today: chrono::NaiveDate = sqlx::query_scalar("select dhaka_today()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let expected_today = (chrono::Utc::now() + chrono::Duration::hours(6)).date_naive();
    assert_eq!(today, expected_today, "dhaka_today is UTC+6");

    // Two instances at once: one generates, the other is turned away.
    let (one, two) = tokio::join!(
        bondhu::service::reminders::generate_daily(&app.pool),
        bondhu::service::reminders::generate_daily(&app.pool),
    );
    let mut runs = vec![one.unwrap(), two.unwrap()];
    runs.sort();
    assert_eq!(runs, vec![None, Some(today)]);
    // Later the same day: nothing.
    assert_eq!(
        bondhu::service::reminders::generate_daily(&app.pool)
            .await
            .unwrap(),
        None
    );
    let recorded: Vec<chrono::NaiveDate> =
        sqlx::query_scalar("select run_date from reminder_generation_runs")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(recorded, vec![today]);
    assert_eq!(reminder_rows(&app).await.len(), 1);
    // Generation with no date is today's too.
    let answer = app
        .post(
            "/api/loyalty/reminders/generate",
            &app.admin_token(),
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.body["asOfDate"], today.to_string());
    let listed = app
        .get("/api/loyalty/reminders/due?limit=20", &app.admin_token())
        .await;
    assert_eq!(listed.body["asOfDate"], today.to_string());
    assert_eq!(listed.body["count"], 0, "due in 30 days");
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn marking_sent_takes_only_the_four_channels(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    data_set(&app).await;
    generate(&app, "2026-03-01").await;
    let first = due(&app, "2026-12-31").await["reminders"][0].clone();
    let path = format!("/api/loyalty/reminders/{}/sent", first["id"]);
    for bad in [json!({ "channel": "fax" }), json!({ "channel": "" })] {
        let response = app.put(&path, &admin, bad).await;
        response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let response = app.put(&path, &admin, json!({})).await;
    assert!(response.status.is_client_error(), "{}", response.body);
    app.put(
        "/api/loyalty/reminders/999999/sent",
        &admin,
        json!({ "channel": "sms" }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "reminder_not_found");

    let sent = app.put(&path, &admin, json!({ "channel": "SMS" })).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(keys(&sent.body), REMINDER_KEYS);
    assert_eq!(sent.body["reminder_sent"], true);
    assert_eq!(sent.body["reminder_channel"], "sms");
    // The same channel again: nothing changes. Another channel: 409.
    let rows = reminder_rows(&app).await;
    let again = app.put(&path, &admin, json!({ "channel": "sms" })).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, sent.body);
    app.put(&path, &admin, json!({ "channel": "call" }))
        .await
        .assert_error(StatusCode::CONFLICT, "reminder_already_sent");
    assert_eq!(reminder_rows(&app).await, rows);
    // A sent reminder is no longer due.
    let ids: Vec<Value> = due(&app, "2026-12-31").await["reminders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert!(!ids.contains(&first["id"]));
    assert_eq!(ids.len(), 4);
    for (id, channel) in ids.iter().zip(["whatsapp", "call", "email"]) {
        let response = app
            .put(
                &format!("/api/loyalty/reminders/{id}/sent"),
                &admin,
                json!({ "channel": channel }),
            )
            .await;
        assert_eq!(response.body["reminder_channel"], channel);
    }
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bad_dates_and_limits_are_400s(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    for path in [
        "/api/loyalty/reminders/due?date=2026-13-01",
        "/api/loyalty/reminders/due?date=yesterday",
        "/api/loyalty/reminders/due?limit=0",
        "/api/loyalty/reminders/due?limit=2001",
    ] {
        app.get(path, &admin)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    }
    app.post(
        "/api/loyalty/reminders/generate?date=2026-02-30",
        &admin,
        Value::Null,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    let most = app
        .get("/api/loyalty/reminders/due?limit=2000", &admin)
        .await;
    assert_eq!(most.status, StatusCode::OK);
}
