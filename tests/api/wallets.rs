//! Operators' credits and debits: idempotency, balances, validation, concurrency.

use axum::http::StatusCode;
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn credit_then_debit_moves_the_balance_and_the_ledger(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711100001", None).await;

    let credit = app
        .post(
            &format!("/api/loyalty/wallet/{customer}/credit"),
            &admin,
            json!({ "amount": 250, "source": "refund", "description": "Order 77 refund", "referenceId": 77, "idempotencyKey": "refund-order-77" }),
        )
        .await;
    assert_eq!(credit.status, StatusCode::CREATED, "{}", credit.body);
    assert_eq!(credit.headers["idempotent-replayed"], "false");
    assert_eq!(dec(&credit.body["amount"]), Decimal::from(250));
    assert_eq!(dec(&credit.body["balanceAfter"]), Decimal::from(250));
    assert_eq!(credit.body["status"], "posted");
    assert_eq!(credit.body["referenceId"], 77);

    let debit = app
        .post(
            &format!("/api/loyalty/wallet/{customer}/debit"),
            &admin,
            json!({ "amount": 120.5, "source": "purchase", "idempotencyKey": "order-78" }),
        )
        .await;
    assert_eq!(debit.status, StatusCode::CREATED, "{}", debit.body);
    assert_eq!(dec(&debit.body["balanceAfter"]), Decimal::new(12950, 2));

    let wallet = app
        .get(&format!("/api/loyalty/wallet/{customer}"), &admin)
        .await;
    assert_eq!(wallet.status, StatusCode::OK);
    assert_eq!(dec(&wallet.body["balance"]), Decimal::new(12950, 2));
    assert_eq!(dec(&wallet.body["totalEarned"]), Decimal::from(250));
    assert_eq!(dec(&wallet.body["totalSpent"]), Decimal::new(12050, 2));
    assert!(wallet.body["balance"].is_number(), "money is a JSON number");

    // Spending down to exactly zero is allowed; one poisha more is not.
    let to_zero = app
        .post(
            &format!("/api/loyalty/wallet/{customer}/debit"),
            &admin,
            json!({ "amount": 129.50, "source": "purchase", "idempotencyKey": "order-79" }),
        )
        .await;
    assert_eq!(to_zero.status, StatusCode::CREATED);
    let before = app.snapshot().await;
    let overdraw = app
        .post(
            &format!("/api/loyalty/wallet/{customer}/debit"),
            &admin,
            json!({ "amount": 0.01, "source": "purchase", "idempotencyKey": "order-80" }),
        )
        .await;
    overdraw.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "insufficient_balance");
    assert_eq!(app.snapshot().await, before);

    let history = app
        .get(
            &format!("/api/loyalty/wallet/{customer}/transactions?limit=2"),
            &admin,
        )
        .await;
    let ids: Vec<i64> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let older = app
        .get(
            &format!(
                "/api/loyalty/wallet/{customer}/transactions?beforeId={}",
                ids[1]
            ),
            &admin,
        )
        .await;
    assert_eq!(older.body.as_array().unwrap().len(), 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_same_key_replays_and_a_different_body_conflicts(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711100011", None).await;
    let path = format!("/api/loyalty/wallet/{customer}/credit");
    let body = json!({ "amount": 250, "source": "bonus", "description": "first call", "idempotencyKey": "k" });

    let first = app.post(&path, &admin, body.clone()).await;
    let replay = app.post(&path, &admin, body).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body, first.body);

    let before = app.snapshot().await;
    let changed = app
        .post(&path, &admin, json!({ "amount": 999, "source": "bonus", "description": "second call", "idempotencyKey": "k" }))
        .await;
    changed.assert_error(StatusCode::CONFLICT, "idempotency_key_reused");
    // The same key for a debit is a different movement, too.
    let debit = app
        .post(&format!("/api/loyalty/wallet/{customer}/debit"), &admin, json!({ "amount": 250, "source": "bonus", "description": "first call", "idempotencyKey": "k" }))
        .await;
    debit.assert_error(StatusCode::CONFLICT, "idempotency_key_reused");
    assert_eq!(app.snapshot().await, before);

    // Keys are per wallet: another customer's identical key is another movement.
    let other = app.customer("01711100012", None).await;
    let theirs = app
        .post(
            &format!("/api/loyalty/wallet/{other}/credit"),
            &admin,
            json!({ "amount": 5, "source": "bonus", "idempotencyKey": "k" }),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.body["id"], first.body["id"]);

    // Without a key in the body or the Idempotency-Key header, nothing moves.
    let via_header = app
        .raw(
            axum::http::Method::POST,
            &path,
            Some(&admin),
            Some(r#"{"amount": 1, "source": "bonus"}"#),
            Some("application/json"),
        )
        .await;
    via_header.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.balance(customer).await, Decimal::from(250));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn concurrent_duplicates_post_once_and_all_get_the_original(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711100021", None).await;
    let path = format!("/api/loyalty/wallet/{customer}/credit");
    let body = json!({ "amount": 100, "source": "bonus", "idempotencyKey": "promo-eid" });

    let responses = join_all((0..50).map(|_| {
        let app = app.clone();
        let (path, admin, body) = (path.clone(), admin.clone(), body.clone());
        tokio::spawn(async move { app.post(&path, &admin, body).await })
    }))
    .await;
    let ids: std::collections::BTreeSet<i64> = responses
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "every response is the one original transaction"
    );
    assert_eq!(app.balance(customer).await, Decimal::from(100));
    assert_eq!(app.ledger_rows(customer).await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn concurrent_debits_never_overdraw(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711100031", None).await;
    app.post(
        &format!("/api/loyalty/wallet/{customer}/credit"),
        &admin,
        json!({ "amount": 100, "source": "bonus", "idempotencyKey": "seed" }),
    )
    .await;

    let responses = join_all((0..30).map(|i| {
        let app = app.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            app.post(
                &format!("/api/loyalty/wallet/{customer}/debit"),
                &admin,
                json!({ "amount": 10, "source": "purchase", "idempotencyKey": format!("spend-{i}") }),
            )
            .await
        })
    }))
    .await;
    let mut accepted = 0;
    for response in responses {
        let response = response.unwrap();
        match response.status {
            StatusCode::CREATED => accepted += 1,
            _ => response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "insufficient_balance"),
        }
    }
    assert_eq!(accepted, 10);
    assert_eq!(app.balance(customer).await, Decimal::ZERO);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bad_amounts_and_sources_are_refused_without_writing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711100041", None).await;
    let path = format!("/api/loyalty/wallet/{customer}/credit");
    let before = app.snapshot().await;
    let cases = [
        (
            json!({ "amount": 0, "source": "bonus", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "amount": -50, "source": "bonus", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "amount": 0.001, "source": "bonus", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "amount": 10.994, "source": "bonus", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "amount": 1e300, "source": "bonus", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "amount": 1000000.01, "source": "bonus", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "amount": "100", "source": "bonus", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "amount": null, "source": "bonus", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "source": "bonus", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "amount": 10, "source": "lottery", "idempotencyKey": "a" }),
            "invalid_body",
        ),
        (
            json!({ "amount": 10, "source": "bonus" }),
            "validation_failed",
        ),
        (
            json!({ "amount": 10, "source": "bonus", "idempotencyKey": "   " }),
            "validation_failed",
        ),
        (
            json!({ "amount": 10, "source": "bonus", "idempotencyKey": "x".repeat(101) }),
            "validation_failed",
        ),
        (
            json!({ "amount": 10, "source": "bonus", "idempotencyKey": "a", "referenceId": -1 }),
            "validation_failed",
        ),
        (
            json!({ "amount": 10, "source": "bonus", "idempotencyKey": "a", "description": "d".repeat(501) }),
            "validation_failed",
        ),
    ];
    for (body, code) in cases {
        let response = app.post(&path, &admin, body.clone()).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            response.body
        );
        assert_eq!(response.body["code"], code, "{body}: {}", response.body);
    }
    let unknown = app
        .post(
            "/api/loyalty/wallet/999999/credit",
            &admin,
            json!({ "amount": 10, "source": "bonus", "idempotencyKey": "a" }),
        )
        .await;
    unknown.assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.get("/api/loyalty/wallet/999999", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.get("/api/loyalty/wallet/999999/transactions", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.get(
        &format!("/api/loyalty/wallet/{customer}/transactions?limit=201"),
        &admin,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.get(
        &format!("/api/loyalty/wallet/{customer}/transactions?limit=abc"),
        &admin,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.get("/api/loyalty/wallet/not-a-customer", &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn wallets_are_reachable_by_uuid_too(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let created = app.sign_up(json!({ "phone": "01711100051" })).await;
    let uuid = created.body["uuid"].as_str().unwrap();
    let wallet = app
        .get(&format!("/api/loyalty/wallet/{uuid}"), &admin)
        .await;
    assert_eq!(wallet.status, StatusCode::OK);
    assert_eq!(wallet.body["customerId"], created.body["id"]);
    let credit = app
        .post(
            &format!("/api/loyalty/wallet/{uuid}/credit"),
            &admin,
            json!({ "amount": 5, "source": "bonus", "idempotencyKey": "u" }),
        )
        .await;
    assert_eq!(credit.status, StatusCode::CREATED);
    let missing = app
        .get(
            &format!("/api/loyalty/wallet/{}", uuid::Uuid::new_v4()),
            &admin,
        )
        .await;
    missing.assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.check_invariants().await;
}
