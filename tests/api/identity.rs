//! Accounts and tokens: login, lock-out, `me`, lookup, guest upgrade, API keys, CORS and
//! rate limits.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures::future::join_all;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, test_config};

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn customers_log_in_by_phone_or_email_and_see_themselves(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app
        .sign_up(json!({ "name": "Nasrin", "lastName": "Akter", "phone": "01911800001", "email": "nasrin@example.com", "password": "shorshe-ilish" }))
        .await;
    let id = created.body["id"].clone();

    // The frontend sends {identifier, email: identifier, password}.
    for identifier in ["01911800001", "+880 1911-800001", "NASRIN@example.com"] {
        let login = app
            .request(Method::POST, "/api/auth/login", None, Some(json!({ "identifier": identifier, "email": identifier, "password": "shorshe-ilish" })))
            .await;
        assert_eq!(
            login.status,
            StatusCode::CREATED,
            "{identifier}: {}",
            login.body
        );
        assert_eq!(login.body["user"]["id"], id);
        assert_eq!(login.body["user"]["roleSlug"], "customer-account");
        let token = login.body["accessToken"].as_str().unwrap().to_owned();

        let me = app.get("/api/auth/me", &token).await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["user"]["id"], id);
        assert_eq!(me.body["roles"], json!([]));
        assert_eq!(me.body["permissions"], json!([]));
        let customer = app.get("/api/customers/me", &token).await;
        assert_eq!(customer.body["lastName"], "Akter");
        assert_eq!(
            app.get("/api/loyalty/me/wallet", &token).await.status,
            StatusCode::OK
        );
    }
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn wrong_passwords_lock_the_account_and_guests_cannot_log_in(pool: PgPool) {
    let app = TestApp::with_config(
        pool,
        test_config(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_LOCKOUT_SECS", "600")]),
    )
    .await;
    app.sign_up(json!({ "phone": "01911800011", "password": "correct horse" }))
        .await;
    app.sign_up(json!({ "phone": "01911800012" })).await; // a guest
    let login = |identifier: &'static str, password: &'static str| {
        let app = app.clone();
        async move {
            app.request(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({ "identifier": identifier, "password": password })),
            )
            .await
        }
    };

    login("01911800012", "anything at all")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    login("01911800013", "nobody has it")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    login("not a phone", "x")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");

    for _ in 0..3 {
        login("01911800011", "battery staple")
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // Locked now, even with the right password.
    let locked = login("01911800011", "correct horse").await;
    locked.assert_error(StatusCode::TOO_MANY_REQUESTS, "account_locked");
    let retry_after: u64 = locked.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((500..=600).contains(&retry_after), "{retry_after}");

    // When the lock-out ends, the right password works and the count starts again.
    sqlx::query!("update login_attempts set locked_until = now() - interval '1 second' where account_kind = 'customer' and account_id = (select id from customers where phone = '+8801911800011')")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        login("01911800011", "correct horse").await.status,
        StatusCode::CREATED
    );
    let missing = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "identifier": "01911800011" })),
        )
        .await;
    missing.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.check_invariants().await;
}

/// Fires `attempts` logins at once at `identifier` with a wrong password; returns how many
/// were answered 401 `invalid_credentials` (their password was checked) and how many 429
/// `account_locked` (refused before any check).
async fn parallel_wrong_passwords(
    app: &TestApp,
    identifier: &str,
    attempts: usize,
) -> (usize, usize) {
    let answers = join_all((0..attempts).map(|i| {
        app.request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "identifier": identifier, "password": format!("wrong guess {i}") })),
        )
    }))
    .await;
    let (mut checked, mut locked) = (0, 0);
    for answer in answers {
        match (answer.status, answer.body["code"].as_str()) {
            (StatusCode::UNAUTHORIZED, Some("invalid_credentials")) => checked += 1,
            (StatusCode::TOO_MANY_REQUESTS, Some("account_locked")) => locked += 1,
            other => panic!("{identifier}: unexpected answer {other:?}: {}", answer.body),
        }
    }
    (checked, locked)
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn parallel_wrong_passwords_check_at_most_the_limit_for_customers_and_staff(pool: PgPool) {
    const MAX_FAILURES: usize = 3;
    const LOCKOUT_SECS: u64 = 10;
    let app = TestApp::with_config(
        pool,
        test_config(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_LOCKOUT_SECS", "10")]),
    )
    .await;
    let hash = bondhu::auth::password::hash("staff passphrase".into())
        .await
        .unwrap();
    for email in ["ten@staff.example", "twenty@staff.example"] {
        bondhu::db::users::insert(&app.pool, email, None, &hash, "support-agent")
            .await
            .unwrap()
            .unwrap();
    }
    for phone in ["01911800021", "01911800022"] {
        app.sign_up(json!({ "phone": phone, "password": "correct horse" }))
            .await;
    }
    // Four accounts, ten or twenty attempts each, all at the same time.
    let accounts = [
        ("01911800021", 10, "correct horse"),
        ("ten@staff.example", 10, "staff passphrase"),
        ("01911800022", 20, "correct horse"),
        ("twenty@staff.example", 20, "staff passphrase"),
    ];
    let started = std::time::Instant::now();
    let results =
        join_all(accounts.iter().map(|&(identifier, attempts, _)| {
            parallel_wrong_passwords(&app, identifier, attempts)
        }))
        .await;
    let elapsed = started.elapsed();
    for (&(identifier, attempts, _), &(checked, locked)) in accounts.iter().zip(&results) {
        assert_eq!(
            (checked, locked),
            (MAX_FAILURES, attempts - MAX_FAILURES),
            "{identifier}: password checks and refusals out of {attempts} (in {elapsed:?})"
        );
    }
    // The lock cannot have ended during the burst or the refusals below (a machine this
    // slow would need a longer lock-out here).
    assert!(elapsed.as_secs() < LOCKOUT_SECS / 2, "{elapsed:?}");

    let login = |identifier: &'static str, password: &'static str| {
        let app = app.clone();
        async move {
            app.request(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({ "identifier": identifier, "password": password })),
            )
            .await
        }
    };
    // Locked: even the right password is refused, without being checked.
    let mut wait = 0;
    for &(identifier, _, password) in &accounts {
        let refused = login(identifier, password).await;
        refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "account_locked");
        let retry_after: u64 = refused.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=LOCKOUT_SECS).contains(&retry_after), "{retry_after}");
        wait = wait.max(retry_after);
    }

    // After the lock, the right password opens the account again...
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 200)).await;
    for &(identifier, _, password) in &accounts {
        assert_eq!(
            login(identifier, password).await.status,
            StatusCode::CREATED,
            "{identifier}"
        );
    }
    // ...and clears the count: a new run of wrong passwords is checked again, up to the limit.
    let (checked, locked) = parallel_wrong_passwords(&app, "01911800021", 5).await;
    assert_eq!((checked, locked), (MAX_FAILURES, 5 - MAX_FAILURES));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_ended_lock_starts_a_fresh_window(pool: PgPool) {
    let app = TestApp::with_config(
        pool,
        test_config(&[("LOGIN_MAX_FAILURES", "2"), ("LOGIN_LOCKOUT_SECS", "3")]),
    )
    .await;
    app.sign_up(json!({ "phone": "01911800031", "password": "correct horse" }))
        .await;
    let started = std::time::Instant::now();
    assert_eq!(
        parallel_wrong_passwords(&app, "01911800031", 4).await,
        (2, 2)
    );
    assert!(started.elapsed().as_secs() < 3, "{:?}", started.elapsed());
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    // The lock ended without a correct password: the next wrong ones count from zero.
    assert_eq!(
        parallel_wrong_passwords(&app, "01911800031", 4).await,
        (2, 2)
    );
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn staff_log_in_and_see_their_role_and_permissions(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let hash = bondhu::auth::password::hash("orders-desk-pass".into())
        .await
        .unwrap();
    bondhu::db::users::insert(
        &app.pool,
        "desk@trustcart.example",
        Some("Desk"),
        &hash,
        "support-agent",
    )
    .await
    .unwrap()
    .unwrap();
    let login = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "identifier": "Desk@TrustCart.example", "password": "orders-desk-pass" })),
        )
        .await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.body);
    assert_eq!(login.body["user"]["roleSlug"], "support-agent");
    assert!(login.body["user"]["roleId"].is_number());
    let token = login.body["accessToken"].as_str().unwrap().to_owned();

    let me = app.get("/api/auth/me", &token).await;
    assert_eq!(me.body["roles"][0]["slug"], "support-agent");
    let slugs: Vec<&str> = me.body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["view-mlm-reports"]);
    assert_eq!(
        app.get("/api/loyalty/kpis", &token).await.status,
        StatusCode::OK
    );
    app.post(
        "/api/loyalty/wallet/1/credit",
        &token,
        json!({ "amount": 1, "source": "bonus", "idempotencyKey": "x" }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    let admin_me = app.get("/api/auth/me", &app.admin_token()).await;
    assert!(
        admin_me.body["permissions"].as_array().unwrap().len() >= 5,
        "{}",
        admin_me.body
    );

    // Deactivated staff can no longer log in.
    sqlx::query!("update users set status = 'inactive' where email = 'desk@trustcart.example'")
        .execute(&app.pool)
        .await
        .unwrap();
    let inactive = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "identifier": "desk@trustcart.example", "password": "orders-desk-pass" })),
        )
        .await;
    inactive.assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn api_keys_record_orders_and_nothing_else(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = bondhu::auth::api_key::generate();
    let id = bondhu::db::api_keys::insert(
        &app.pool,
        "pathao-bridge",
        &key.prefix,
        &key.hash,
        &["edit-sales-orders".to_owned()],
    )
    .await
    .unwrap();
    let stored: Vec<u8> = sqlx::query_scalar!("select key_hash from api_keys where id = $1", id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_ne!(stored, key.key.as_bytes(), "only the hash is stored");

    let recorded = app
        .raw_with_api_key(
            Method::PUT,
            "/api/orders/31",
            &key.key,
            Some(json!({ "status": "pending" })),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::OK, "{}", recorded.body);
    let moved = app
        .raw_with_api_key(
            Method::POST,
            "/api/orders/31/status",
            &key.key,
            Some(json!({ "status": "shipped" })),
        )
        .await;
    assert_eq!(moved.body["status"], "shipped");
    app.raw_with_api_key(Method::GET, "/api/loyalty/kpis", &key.key, None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.raw_with_api_key(
        Method::PUT,
        "/api/orders/31",
        "bk_not-a-real-key",
        Some(json!({ "status": "pending" })),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_api_key");

    assert!(bondhu::db::api_keys::revoke(&app.pool, id).await.unwrap());
    app.raw_with_api_key(
        Method::PUT,
        "/api/orders/31",
        &key.key,
        Some(json!({ "status": "pending" })),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_api_key");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn lookup_finds_customers_by_any_spelling(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app
        .sign_up(json!({ "phone": "01911800021", "email": "shop@example.com" }))
        .await
        .body["id"]
        .clone();
    for query in [
        "phone=01911800021",
        "phone=%2B880%201911-800021",
        "email=SHOP%40example.com",
        "phone=01911800099&email=shop%40example.com",
    ] {
        let found = app
            .request(
                Method::GET,
                &format!("/api/customers/lookup?{query}"),
                None,
                None,
            )
            .await;
        assert_eq!(found.status, StatusCode::OK);
        assert_eq!(found.body, json!({ "id": id }), "{query}");
    }
    let missing = app
        .request(
            Method::GET,
            "/api/customers/lookup?phone=01911800022",
            None,
            None,
        )
        .await;
    assert_eq!(missing.body, json!({ "id": null }));
    app.request(Method::GET, "/api/customers/lookup", None, None)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.request(Method::GET, "/api/customers/lookup?phone=123", None, None)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_guest_who_registers_becomes_an_account(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01911800031", None).await;
    // Checkout as a guest with a friend's code; then an order.
    let guest = app
        .sign_up(json!({ "name": "Guest", "phone": "01911800032", "ref": format!("REF{referrer}"), "referralChannel": "checkout" }))
        .await;
    let guest_id = guest.body["id"].as_i64().unwrap() as i32;
    assert_eq!(guest.body["isGuest"], true);

    // Registering with the same phone, a password and a code sent to the phone (the guest
    // gave no email): same customer, now an account; the first touch (the friend's code)
    // is kept even though another code is sent now.
    let other = app.customer("01911800033", None).await;
    let code = app.signup_code("01911800032", "+8801911800032").await;
    let registered = app
        .sign_up(json!({ "name": "Shirin", "phone": "+8801911800032", "email": "shirin@example.com", "password": "new password", "ref": format!("REF{other}"), "phoneVerificationCode": code }))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    assert_eq!(registered.body["id"], guest_id);
    assert_eq!(registered.body["isGuest"], false);
    assert_eq!(registered.body["name"], "Shirin");
    // The answer to an unauthenticated upgrade carries only what the caller sent.
    assert_eq!(registered.body["referredByCustomerId"], json!(null));
    assert_eq!(registered.body["district"], json!(null));
    assert_eq!(app.events("attribution_ignored").await, 1);

    // An account cannot be "registered" again, and a guest without a password stays a guest.
    app.sign_up(json!({ "phone": "01911800032", "password": "another one" }))
        .await
        .assert_error(StatusCode::CONFLICT, "phone_taken");
    app.sign_up(json!({ "phone": "01911800033" }))
        .await
        .assert_error(StatusCode::CONFLICT, "phone_taken");
    let login = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "identifier": "shirin@example.com", "password": "new password" })),
        )
        .await;
    assert_eq!(login.status, StatusCode::CREATED);
    let token = login.body["accessToken"].as_str().unwrap().to_owned();
    let me = app.get("/api/customers/me", &token).await;
    assert_eq!(me.body["referredByCustomerId"], referrer);

    // A guest with an email can only be claimed under that email: not another, not none.
    app.sign_up(json!({ "phone": "01911800034", "email": "rina@example.com" }))
        .await;
    app.sign_up(
        json!({ "phone": "01911800034", "email": "thief@example.com", "password": "let me in!" }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "guest_email_mismatch");
    app.sign_up(json!({ "phone": "01911800034", "password": "let me in!" }))
        .await
        .assert_error(StatusCode::CONFLICT, "guest_email_mismatch");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn public_routes_are_rate_limited_with_retry_after(pool: PgPool) {
    let app = TestApp::with_config(
        pool,
        test_config(&[
            ("PUBLIC_RATE_LIMIT_PER_MINUTE", "3"),
            ("LOGIN_RATE_LIMIT_PER_MINUTE", "2"),
        ]),
    )
    .await;
    for _ in 0..3 {
        let response = app
            .request(Method::GET, "/api/referral-codes/REF000001", None, None)
            .await;
        assert_eq!(response.status, StatusCode::OK);
    }
    for path in [
        "/api/referral-codes/REF000001",
        "/api/customers/lookup?phone=01911800041",
        "/r/REF000001",
    ] {
        let limited = app.request(Method::GET, path, None, None).await;
        limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert!(limited.headers.contains_key(header::RETRY_AFTER));
    }
    app.sign_up(json!({ "phone": "01911800041" }))
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    let body = json!({ "identifier": "01911800041", "password": "whatever1" });
    for _ in 0..2 {
        let response = app
            .request(Method::POST, "/api/auth/login", None, Some(body.clone()))
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    app.request(Method::POST, "/api/auth/login", None, Some(body))
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // Authenticated routes are not limited by the public quota.
    assert_eq!(
        app.get("/api/loyalty/kpis", &app.admin_token())
            .await
            .status,
        StatusCode::OK
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn cors_allows_only_the_configured_origins_exactly(pool: PgPool) {
    let app = TestApp::with_config(
        pool,
        test_config(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://trustcart.example,http://localhost:3000",
        )]),
    )
    .await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/loyalty/me/wallet")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .unwrap()
    };
    for allowed in ["https://trustcart.example", "http://localhost:3000"] {
        let response = app.router.clone().oneshot_raw(preflight(allowed)).await;
        assert_eq!(
            response
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .unwrap(),
            allowed
        );
        assert_eq!(
            response
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .unwrap(),
            "true"
        );
    }
    for refused in [
        "https://trustcart.example.evil.example",
        "https://evil.example",
        "http://localhost:30000",
        "null",
    ] {
        let response = app.router.clone().oneshot_raw(preflight(refused)).await;
        assert!(
            response
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none(),
            "{refused}"
        );
    }
    app.check_invariants().await;
}

/// `oneshot` for raw responses (headers only).
trait OneshotRaw {
    async fn oneshot_raw(self, request: Request<Body>) -> axum::response::Response;
}

impl OneshotRaw for axum::Router {
    async fn oneshot_raw(self, request: Request<Body>) -> axum::response::Response {
        tower::ServiceExt::oneshot(self, request).await.unwrap()
    }
}
