//! Price locks (TrustCart routes 51–53) and a member's benefits summary (route 25).

use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

async fn set_tier(app: &TestApp, customer: i32, tier: &str) {
    let response = app
        .put(
            &format!("/api/loyalty/membership/{customer}/tier"),
            &app.admin_token(),
            json!({ "tier": tier }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

async fn order(app: &TestApp, id: i32, customer: i32, status: &str, items: Value) {
    let response = app
        .put(
            &format!("/api/orders/{id}"),
            &app.admin_token(),
            json!({ "customerId": customer, "status": status, "totalAmount": 2000, "items": items }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

fn line(product: i32, quantity: i32, price: &str) -> Value {
    let unit_price: Value = serde_json::from_str(price).unwrap();
    json!({ "productId": product, "productName": format!("P{product}"), "quantity": quantity,
            "unitPrice": unit_price })
}

fn lock_body(customer: i32, product: i64, price: Value) -> Value {
    json!({ "customerId": customer, "productId": product, "lockedPrice": price })
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn only_gold_and_permanent_members_lock_one_price_per_product(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let member = app.customer("01711900001", None).await;
    let silver = app.customer("01711900002", None).await;
    let permanent = app.customer("01711900003", None).await;
    let plain = app.customer("01711900004", None).await;
    set_tier(&app, member, "gold").await;
    set_tier(&app, silver, "silver").await;
    set_tier(&app, permanent, "permanent").await;

    let before = app.snapshot().await;
    for customer in [silver, plain] {
        app.post(
            "/api/loyalty/price-lock",
            &admin,
            lock_body(customer, 11, json!(400)),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "price_lock_not_allowed");
    }
    app.post(
        "/api/loyalty/price-lock",
        &admin,
        lock_body(999_999, 11, json!(400)),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    for price in [json!(0), json!(-5), json!(10.001), json!("abc")] {
        let response = app
            .post(
                "/api/loyalty/price-lock",
                &admin,
                lock_body(member, 11, price),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            response.body
        );
    }
    app.post(
        "/api/loyalty/price-lock",
        &admin,
        lock_body(member, 0, json!(400)),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused lock wrote something"
    );

    let lock = app
        .post(
            "/api/loyalty/price-lock",
            &admin,
            lock_body(member, 11, json!(400)),
        )
        .await;
    assert_eq!(lock.status, StatusCode::CREATED, "{}", lock.body);
    let mut keys: Vec<&str> = lock
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "createdAt",
            "customerId",
            "id",
            "isActive",
            "lockedPrice",
            "productId",
            "updatedAt"
        ]
    );
    assert_eq!(lock.body["lockedPrice"], "400.00");
    assert_eq!(lock.body["isActive"], true);
    let permanent_lock = app
        .post(
            "/api/loyalty/price-lock",
            &admin,
            lock_body(permanent, 11, json!("380.5")),
        )
        .await;
    assert_eq!(
        permanent_lock.status,
        StatusCode::CREATED,
        "{}",
        permanent_lock.body
    );

    // One active lock per customer and product.
    app.post(
        "/api/loyalty/price-lock",
        &admin,
        lock_body(member, 11, json!(390)),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "price_lock_exists");
    // Two concurrent requests for a new product: exactly one lock is made.
    let (first, second) = tokio::join!(
        app.post(
            "/api/loyalty/price-lock",
            &admin,
            lock_body(member, 12, json!(100))
        ),
        app.post(
            "/api/loyalty/price-lock",
            &admin,
            lock_body(member, 12, json!(101))
        ),
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{} {}",
        first.body,
        second.body
    );

    let locks = app
        .get(&format!("/api/loyalty/price-locks/{member}"), &admin)
        .await;
    assert_eq!(locks.status, StatusCode::OK);
    let products: Vec<i64> = locks
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["productId"].as_i64().unwrap())
        .collect();
    assert_eq!(products, vec![12, 11], "newest first");
    app.get("/api/loyalty/price-locks/999999", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn savings_count_delivered_lines_above_the_lock_after_it_was_made(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let member = app.customer("01711900011", None).await;
    let stranger = app.customer("01711900012", None).await;
    set_tier(&app, member, "gold").await;

    let path = format!("/api/loyalty/price-locks/{member}/savings");
    let none = app.get(&path, &admin).await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.body);
    assert_eq!(
        none.body,
        json!({ "total_locked_products": "0", "total_savings": "0.00" })
    );

    // Before the lock: does not count.
    order(&app, 8001, member, "delivered", json!([line(11, 5, "900")])).await;
    for (product, price) in [(11, 400), (12, 100)] {
        let response = app
            .post(
                "/api/loyalty/price-lock",
                &admin,
                lock_body(member, product, json!(price)),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    }
    // 2 × (450 − 400) = 100; oil below its lock and an unlocked product save nothing.
    order(
        &app,
        8002,
        member,
        "delivered",
        json!([line(11, 2, "450"), line(12, 3, "90"), line(13, 1, "500")]),
    )
    .await;
    // Not delivered: nothing yet.
    order(&app, 8003, member, "pending", json!([line(11, 1, "500")])).await;
    // Someone else's order.
    order(
        &app,
        8004,
        stranger,
        "delivered",
        json!([line(11, 1, "600")]),
    )
    .await;
    // 1 × (420.25 − 400) = 20.25, and 4 × (100.10 − 100) = 0.40.
    order(
        &app,
        8005,
        member,
        "delivered",
        json!([line(11, 1, "420.25"), line(12, 4, "100.10")]),
    )
    .await;

    let savings = app.get(&path, &admin).await;
    assert_eq!(savings.status, StatusCode::OK, "{}", savings.body);
    assert_eq!(
        savings.body,
        json!({ "total_locked_products": "2", "total_savings": "120.65" })
    );
    // Delivering the pending order adds it: (500 − 400) × 1.
    let delivered = app.order_status(8003, "delivered").await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    let savings = app.get(&path, &admin).await;
    assert_eq!(dec(&savings.body["total_savings"]).to_string(), "220.65");
    app.get("/api/loyalty/price-locks/999999/savings", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_benefits_summary(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let member = app.customer("01711900021", None).await;
    let plain = app.customer("01711900022", None).await;

    let empty = app
        .get(&format!("/api/loyalty/benefits/{plain}"), &admin)
        .await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body, json!({}));
    app.get("/api/loyalty/benefits/999999", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");

    set_tier(&app, member, "gold").await;
    let credit = app
        .post(
            &format!("/api/loyalty/wallet/{member}/credit"),
            &admin,
            json!({ "amount": 150.5, "source": "bonus", "idempotencyKey": "benefits-test" }),
        )
        .await;
    assert_eq!(credit.status, StatusCode::CREATED, "{}", credit.body);
    let lock = app
        .post(
            "/api/loyalty/price-lock",
            &admin,
            lock_body(member, 11, json!(400)),
        )
        .await;
    assert_eq!(lock.status, StatusCode::CREATED, "{}", lock.body);

    let benefits = app
        .get(&format!("/api/loyalty/benefits/{member}"), &admin)
        .await;
    assert_eq!(benefits.status, StatusCode::OK, "{}", benefits.body);
    let body = &benefits.body;
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "active_price_locks",
            "completed_referrals",
            "customer_id",
            "discount_percentage",
            "free_deliveries_left",
            "free_delivery_count",
            "free_delivery_used",
            "membership_tier",
            "permanent_card_number",
            "price_lock_enabled",
            "wallet_balance",
        ]
    );
    assert_eq!(body["customer_id"], member);
    assert_eq!(body["membership_tier"], "gold");
    assert_eq!(body["discount_percentage"], "10.00");
    assert_eq!(body["free_delivery_count"], 1);
    assert_eq!(body["free_delivery_used"], 0);
    assert_eq!(body["free_deliveries_left"], 1);
    assert_eq!(body["price_lock_enabled"], true);
    assert_eq!(body["active_price_locks"], "1");
    assert_eq!(body["wallet_balance"], "150.50");
    assert_eq!(body["completed_referrals"], "0");
    app.check_invariants().await;
}
