//! Orders from the shop's system, and exactly-once completion under retries and races.

use axum::http::StatusCode;
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

/// How many referral rewards have `status`.
async fn rewards(app: &TestApp, status: &str) -> i64 {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from referral_rewards where status::text = $1"#,
        status
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_hundred_concurrent_identical_deliveries_pay_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711200001", None).await;
    let friend = app
        .customer("01711200002", Some(&format!("REF{referrer}")))
        .await;
    app.order(7001, friend, "shipped").await;

    let responses = join_all((0..100).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { app.order_status(7001, "delivered").await })
    }))
    .await;
    let mut completions = 0;
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["status"], "delivered");
        if response.body["completedReferralId"].is_number() {
            completions += 1;
        }
    }
    assert_eq!(completions, 1);
    // One reward decided, held for the return window: nothing paid yet.
    assert_eq!(rewards(&app, "pending").await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    assert_eq!(app.ledger_rows(referrer).await, 1);
    assert_eq!(app.events("completed").await, 1);
    assert_eq!(app.events("reward_credited").await, 1);
    assert_eq!(rewards(&app, "released").await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn concurrent_upserts_of_a_new_delivered_order_pay_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711200011", None).await;
    let friend = app
        .customer("01711200012", Some(&format!("REF{referrer}")))
        .await;

    // The order was never seen as pending: the first message about it says delivered.
    let responses = join_all((0..40).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { app.order(7002, friend, "delivered").await })
    }))
    .await;
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
    assert_eq!(rewards(&app, "pending").await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    assert_eq!(app.ledger_rows(referrer).await, 1);
    assert_eq!(app.events("completed").await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn two_orders_delivered_at_once_complete_the_referral_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711200021", None).await;
    let friend = app
        .customer("01711200022", Some(&format!("REF{referrer}")))
        .await;
    for order in 7100..7110 {
        app.order(order, friend, "shipped").await;
    }
    let responses = join_all((7100..7110).map(|order| {
        let app = app.clone();
        tokio::spawn(async move { app.order_status(order, "delivered").await })
    }))
    .await;
    let completions = responses
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|r| {
            assert_eq!(r.status, StatusCode::OK);
            r.body["completedReferralId"].is_number()
        })
        .count();
    assert_eq!(completions, 1);
    assert_eq!(rewards(&app, "pending").await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    assert_eq!(app.ledger_rows(referrer).await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn many_friends_of_one_referrer_delivered_at_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    // Twenty friends in a minute is what referrerVelocity exists to catch; this test is
    // about concurrent deliveries, so the rule is off.
    app.set_fraud_rule(
        "referrerVelocity",
        json!({ "action": "off", "perHour": 10, "perDay": 30 }),
    )
    .await;
    let referrer = app.customer("01711200031", None).await;
    let mut friends = Vec::new();
    for i in 0..20 {
        let friend = app
            .customer(&format!("017112001{i:02}"), Some(&format!("REF{referrer}")))
            .await;
        app.order(7200 + i, friend, "in_transit").await;
        friends.push(7200 + i);
    }
    let responses = join_all(friends.iter().map(|&order| {
        let app = app.clone();
        tokio::spawn(async move { app.order_status(order, "delivered").await })
    }))
    .await;
    for response in responses {
        assert_eq!(response.unwrap().status, StatusCode::OK);
    }
    assert_eq!(rewards(&app, "pending").await, 20);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    // Four instances run the release job at once: each referral is released by one. (The
    // holds are ended once, before: four bulk updates of the same rows in no set order
    // would deadlock each other, which is the test's own doing, not the job's.)
    app.expire_holds().await;
    let released: u32 = join_all((0..4).map(|_| {
        let pool = app.pool.clone();
        tokio::spawn(async move { bondhu::jobs::release_due(&pool, None).await.unwrap() })
    }))
    .await
    .into_iter()
    .map(|n| n.unwrap())
    .sum();
    assert_eq!(released, 20);
    assert_eq!(rewards(&app, "released").await, 20);
    assert_eq!(app.balance(referrer).await, Decimal::from(2000));
    assert_eq!(app.ledger_rows(referrer).await, 20);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn orders_are_recorded_as_the_shop_knows_them(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711200041", None).await;
    let other = app.customer("01711200042", None).await;

    let created = app
        .put(
            "/api/orders/8001",
            &admin,
            json!({ "customerId": customer, "status": "Pending", "totalAmount": 1250.75, "salesOrderNumber": "TC-8001", "createdAt": "2026-11-01T10:00:00+06:00" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["status"], "pending");
    assert_eq!(created.body["salesOrderNumber"], "TC-8001");
    assert_eq!(created.body["createdAt"], "2026-11-01T04:00:00.000Z");
    assert_eq!(dec(&created.body["totalAmount"]), Decimal::new(125075, 2));
    assert_eq!(created.body["previousStatus"], json!(null));

    // The customer of an order is set once.
    let stolen = app
        .put(
            "/api/orders/8001",
            &admin,
            json!({ "customerId": other, "status": "pending" }),
        )
        .await;
    stolen.assert_error(StatusCode::CONFLICT, "order_customer_conflict");
    let kept = app
        .put("/api/orders/8001", &admin, json!({ "status": "confirmed" }))
        .await;
    assert_eq!(kept.body["customerId"], customer);
    assert_eq!(kept.body["salesOrderNumber"], "TC-8001");
    assert_eq!(kept.body["createdAt"], "2026-11-01T04:00:00.000Z");

    let guest_order = app
        .put("/api/orders/8002", &admin, json!({ "status": "delivered" }))
        .await;
    assert_eq!(guest_order.status, StatusCode::OK);
    assert_eq!(guest_order.body["customerId"], json!(null));
    assert!(guest_order.body["deliveredAt"].is_string());
    assert_eq!(guest_order.body["salesOrderNumber"], "SO-8002");

    let before = app.snapshot().await;
    app.order_status(9999, "delivered")
        .await
        .assert_error(StatusCode::NOT_FOUND, "order_not_found");
    app.order_status(8001, "teleported")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    // One code, one status (the error registry): an unknown customer is a 404 wherever
    // its id was given, and the field is named.
    let unknown = app
        .put(
            "/api/orders/8003",
            &admin,
            json!({ "customerId": 424242, "status": "pending" }),
        )
        .await;
    unknown.assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    assert!(
        unknown.body["fields"]["customerId"].is_array(),
        "{}",
        unknown.body
    );
    app.put(
        "/api/orders/8003",
        &admin,
        json!({ "status": "pending", "totalAmount": -1 }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.put(
        "/api/orders/8003",
        &admin,
        json!({ "status": "pending", "totalAmount": 1.001 }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.put(
        "/api/orders/8003",
        &admin,
        json!({ "status": "pending", "createdAt": "2999-01-01T00:00:00Z" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.put(
        "/api/orders/8003",
        &admin,
        json!({ "status": "pending", "discount": 5 }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.put("/api/orders/0", &admin, json!({ "status": "pending" }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    app.put("/api/orders/abc", &admin, json!({ "status": "pending" }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn orders_carry_their_lines_and_an_update_replaces_them(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711300001", None).await;
    let lines = || async {
        sqlx::query!(
            r#"select line_no, product_id, product_name, category_id, quantity, unit_price
               from sales_order_lines where order_id = 9100 order by line_no"#
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            (
                l.line_no,
                l.product_id,
                l.product_name,
                l.category_id,
                l.quantity,
                l.unit_price,
            )
        })
        .collect::<Vec<_>>()
    };
    let put = |items: serde_json::Value| {
        let app = app.clone();
        let admin = admin.clone();
        async move {
            app.put(
                "/api/orders/9100",
                &admin,
                json!({ "customerId": customer, "status": "pending", "totalAmount": 1250, "items": items }),
            )
            .await
        }
    };
    let first = put(json!([
        { "productId": 11, "productName": " Miniket rice 5kg ", "categoryId": 3, "quantity": 2, "unitPrice": 450 },
        { "productId": 12, "productName": "সয়াবিন তেল ১ লি", "quantity": 1, "unitPrice": 350.50 }
    ]))
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        lines().await,
        [
            (
                1,
                11,
                "Miniket rice 5kg".to_owned(),
                Some(3),
                2,
                Decimal::from(450)
            ),
            (
                2,
                12,
                "সয়াবিন তেল ১ লি".to_owned(),
                None,
                1,
                Decimal::new(35050, 2)
            ),
        ]
    );

    // Bad lines: every problem named, nothing written.
    let before = app.snapshot().await;
    let bad = put(json!([
        { "productId": 0, "productName": "", "quantity": 0, "unitPrice": 1 },
        { "productId": 5, "productName": "x", "categoryId": -1, "quantity": 1, "unitPrice": 1 }
    ]))
    .await;
    bad.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    for field in [
        "items[0].productId",
        "items[0].productName",
        "items[0].quantity",
        "items[1].categoryId",
    ] {
        assert!(
            bad.body["fields"][field].is_array(),
            "{field}: {}",
            bad.body
        );
    }
    put(json!([{ "productId": 5, "productName": "x", "quantity": 1, "unitPrice": -1 }]))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    put(json!([{ "productId": 5, "productName": "x", "quantity": 1, "unitPrice": 1, "colour": "red" }]))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert_eq!(before, app.snapshot().await);

    // An update with items replaces them; one without keeps them; [] clears them.
    let replaced = put(
        json!([{ "productId": 13, "productName": "Eggs (12)", "quantity": 3, "unitPrice": 150 }]),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(lines().await.len(), 1);
    let status_only = app.order_status(9100, "shipped").await;
    assert_eq!(status_only.status, StatusCode::OK);
    assert_eq!(lines().await[0].1, 13);
    assert_eq!(put(json!([])).await.status, StatusCode::OK);
    assert!(lines().await.is_empty());
    app.check_invariants().await;
}
