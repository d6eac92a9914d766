//! Bad input of every kind gets a JSON 4xx with a code, and changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn malformed_bodies_are_json_errors(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711600001", None).await;
    let before = app.snapshot().await;

    let writes = [
        (
            Method::POST,
            format!("/api/loyalty/wallet/{customer}/credit"),
        ),
        (
            Method::POST,
            format!("/api/loyalty/wallet/{customer}/debit"),
        ),
        (Method::POST, "/api/loyalty/referral".to_owned()),
        (Method::POST, "/api/customers/public".to_owned()),
        (Method::PUT, "/api/orders/1".to_owned()),
        (Method::POST, "/api/orders/1/status".to_owned()),
        (Method::PUT, "/api/loyalty/referral/1/complete".to_owned()),
    ];
    for (method, path) in &writes {
        let cases = [
            (
                Some("{\"amount\": 10,"),
                Some("application/json"),
                StatusCode::BAD_REQUEST,
                "malformed_json",
            ),
            (
                Some("not json at all"),
                Some("application/json"),
                StatusCode::BAD_REQUEST,
                "malformed_json",
            ),
            (
                Some("[1, 2, 3]"),
                Some("application/json"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
            (
                Some("{\"amount\": 10}"),
                Some("text/plain"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
        ];
        for (body, content_type, status, code) in cases {
            let response = app
                .raw(method.clone(), path, Some(&admin), body, content_type)
                .await;
            assert_eq!(
                response.status, status,
                "{method} {path} {body:?}: {}",
                response.body
            );
            assert_eq!(
                response.body["code"], code,
                "{method} {path} {body:?}: {}",
                response.body
            );
        }
    }

    // Wrong types in otherwise valid bodies.
    let typed = [
        (
            format!("/api/loyalty/wallet/{customer}/credit"),
            json!({ "amount": 10, "source": 5, "idempotencyKey": "t" }),
        ),
        (
            format!("/api/loyalty/wallet/{customer}/credit"),
            json!({ "amount": [10], "source": "bonus", "idempotencyKey": "t" }),
        ),
        (
            format!("/api/loyalty/wallet/{customer}/credit"),
            json!({ "amount": 10, "source": "bonus", "idempotencyKey": 7 }),
        ),
        (
            "/api/loyalty/referral".to_owned(),
            json!({ "referrerCustomerId": "one", "referredEmail": "a@b.co" }),
        ),
        (
            "/api/loyalty/referral".to_owned(),
            json!({ "referrerCustomerId": 1e10, "referredEmail": "a@b.co" }),
        ),
        ("/api/orders/1/status".to_owned(), json!({ "status": 3 })),
        ("/api/orders/1/status".to_owned(), json!({})),
    ];
    for (path, body) in typed {
        let response = app.post(&path, &admin, body.clone()).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {}",
            response.body
        );
        assert_eq!(response.body["code"], "invalid_body");
    }
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn oversized_bodies_unknown_routes_and_methods_are_json(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let before = app.snapshot().await;

    let huge = format!(
        "{{\"phone\": \"01711600011\", \"name\": \"{}\"}}",
        "x".repeat(5 * 1024 * 1024)
    );
    let response = app
        .raw(
            Method::POST,
            "/api/customers/public",
            None,
            Some(&huge),
            Some("application/json"),
        )
        .await;
    response.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    app.get("/api/loyalty/nothing-here", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "route_not_found");
    let wrong_method = app
        .request(Method::DELETE, "/api/loyalty/kpis", Some(&admin), None)
        .await;
    wrong_method.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let id_overflow = app.get("/api/loyalty/referrals/99999999999", &admin).await;
    id_overflow.assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    let negative = app.get("/api/loyalty/referral-code/-5", &admin).await;
    negative.assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    let sql = app.get("/api/loyalty/referrals/1%20OR%201=1", &admin).await;
    sql.assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_request_that_times_out_gets_a_json_408_and_changes_nothing(pool: PgPool) {
    let app = TestApp::with_config(
        pool,
        crate::helpers::test_config(&[("REQUEST_TIMEOUT_SECS", "1")]),
    )
    .await;
    let customer = app.customer("01711600021", None).await;
    let before = app.snapshot().await;
    // Another transaction holds the wallet, so the credit waits past the timeout.
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query!(
        "select id from customer_wallets where customer_id = $1 for update",
        customer
    )
    .fetch_one(&mut *blocker)
    .await
    .unwrap();
    let response = app
        .post(
            &format!("/api/loyalty/wallet/{customer}/credit"),
            &app.admin_token(),
            json!({ "amount": 10, "source": "bonus", "idempotencyKey": "slow" }),
        )
        .await;
    response.assert_error(StatusCode::REQUEST_TIMEOUT, "request_timeout");
    blocker.rollback().await.unwrap();
    // The abandoned statement may still complete once the wallet is free. A retry with the
    // same key is then answered with that credit, or posts it: once, either way.
    let retry = app
        .post(
            &format!("/api/loyalty/wallet/{customer}/credit"),
            &app.admin_token(),
            json!({ "amount": 10, "source": "bonus", "idempotencyKey": "slow" }),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(app.ledger_rows(customer).await, 1);
    assert_ne!(app.snapshot().await, before);
    app.check_invariants().await;
}

/// A NUL (U+0000) cannot be stored in Postgres text: it is refused at the edge, in every
/// body, path and query, naming the field, before anything is written.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_nul_character_anywhere_is_refused_naming_the_field(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711600031", None).await;
    let before = app.snapshot().await;

    let bodies: [(Option<&str>, &str, &str, &str); 7] = [
        (
            None,
            "/api/customers/public",
            r#"{"phone":"01711600032","name":"Ra\u0000him"}"#,
            "name",
        ),
        (
            Some(&admin),
            "/api/loyalty/referral-partners",
            r#"{"code":"AB\u0000C","name":"Partner","partnerType":"influencer"}"#,
            "code",
        ),
        (
            Some(&admin),
            "/api/loyalty/referral-partners",
            r#"{"code":"ABC","name":"Par\u0000tner","partnerType":"influencer"}"#,
            "name",
        ),
        (
            Some(&admin),
            "/api/loyalty/referral-partners",
            r#"{"code":"ABC","name":"Partner","partnerType":"\u0000"}"#,
            "partnerType",
        ),
        (
            Some(&admin),
            "/api/loyalty/referral-partners",
            r#"{"code":"ABC","name":"Partner","partner_type":"x\u0000"}"#,
            "partner_type",
        ),
        // A NUL in a key, even one the route ignores.
        (
            None,
            "/api/customers/public",
            r#"{"phone":"01711600033","name":"Rahim","ex\u0000tra":1}"#,
            "ex\\u0000tra",
        ),
        // Nested strings are named by their path.
        (
            Some(&admin),
            &format!("/api/loyalty/wallet/{customer}/credit"),
            r#"{"amount":10,"source":"bonus","idempotencyKey":"k","meta":{"tags":["a","b\u0000"]}}"#,
            "meta.tags[1]",
        ),
    ];
    for (token, path, body, field) in bodies {
        let response = app
            .raw(
                Method::POST,
                path,
                token,
                Some(body),
                Some("application/json"),
            )
            .await;
        response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            response.body["fields"][field].is_array(),
            "{path} {body}: {}",
            response.body
        );
    }

    // A path parameter: 400, the parameter named in the message.
    let response = app
        .raw(Method::GET, "/api/referral-codes/AB%00C", None, None, None)
        .await;
    response.assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    assert!(
        response.body["message"]
            .as_str()
            .unwrap()
            .starts_with("code: "),
        "{}",
        response.body
    );

    // A query value and a query key: 422, the key named.
    let queries = [
        ("/r/REF000001?ch=what%00sapp", "ch"),
        (
            "/api/loyalty/me/wallet/transactions?li%00mit=5",
            "li\\u0000mit",
        ),
    ];
    let customer_token = app.customer_token(customer);
    for (path, field) in queries {
        let response = app.get(path, &customer_token).await;
        response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            response.body["fields"][field].is_array(),
            "{path}: {}",
            response.body
        );
    }

    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}

/// `"\\u0000"` in JSON is a backslash followed by `u0000`, not a NUL: it is accepted.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_escaped_backslash_before_u0000_is_not_a_nul(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let response = app
        .raw(
            Method::POST,
            "/api/customers/public",
            None,
            Some(r#"{"phone":"01711600041","name":"Ra\\u0000him"}"#),
            Some("application/json"),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    app.check_invariants().await;
}
