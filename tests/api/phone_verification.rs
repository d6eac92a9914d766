//! Phone verification codes: sending, confirming, expiry, attempts, the hourly limit, and
//! the guest upgrade that needs them.

use axum::http::{Method, StatusCode, header};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

const PHONE: &str = "01712000001";
const E164: &str = "+8801712000001";

fn wrong(code: &str) -> String {
    // Another 6-digit code.
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

async fn confirm(app: &TestApp, id: i32, code: &str) -> crate::helpers::TestResponse {
    app.post(
        "/api/loyalty/me/phone-verification/confirm",
        &app.customer_token(id),
        json!({ "code": code }),
    )
    .await
}

async fn send(app: &TestApp, id: i32) -> crate::helpers::TestResponse {
    app.post(
        "/api/loyalty/me/phone-verification",
        &app.customer_token(id),
        json!({}),
    )
    .await
}

async fn verified_at(app: &TestApp, id: i32) -> Option<chrono::DateTime<chrono::Utc>> {
    sqlx::query_scalar!("select phone_verified_at from customers where id = $1", id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_code_verifies_the_phone_once_and_is_never_stored(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.customer(PHONE, None).await;
    let sent = send(&app, id).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert_eq!(sent.body["phone"], "+880*******001");
    assert!(sent.body["expiresAt"].is_string());
    assert_eq!(app.sms_count(E164).await, 1);
    let code = app.last_code(E164).await;
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));

    // Only an HMAC is stored: nothing in the row holds the code.
    let row = sqlx::query!(
        r#"select code_hash, row_to_json(c)::text as "row!" from phone_verification_codes c"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.code_hash.len(), 32);
    assert!(!row.row.contains(&code));

    confirm(&app, id, &wrong(&code)).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_code_invalid",
    );
    confirm(&app, id, "12345")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(verified_at(&app, id).await, None);
    let confirmed = confirm(&app, id, &code).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(confirmed.body["phoneVerified"], true);
    assert!(verified_at(&app, id).await.is_some());
    // A code works once.
    confirm(&app, id, &code).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_code_expired",
    );

    // A new code replaces the older one.
    send(&app, id).await;
    let older = app.last_code(E164).await;
    send(&app, id).await;
    let newer = app.last_code(E164).await;
    if older != newer {
        confirm(&app, id, &older).await.assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "verification_code_invalid",
        );
    }
    assert_eq!(confirm(&app, id, &newer).await.status, StatusCode::OK);

    // Staff and API keys have no phone of their own here.
    app.post(
        "/api/loyalty/me/phone-verification",
        &app.admin_token(),
        json!({}),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.request(
        Method::POST,
        "/api/loyalty/me/phone-verification",
        None,
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_expired_code_is_cleared(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.customer(PHONE, None).await;
    send(&app, id).await;
    let code = app.last_code(E164).await;
    // Five minutes pass.
    sqlx::query!("update phone_verification_codes set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    confirm(&app, id, &code).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_code_expired",
    );
    let voided = sqlx::query_scalar!(
        r#"select count(*) as "n!" from phone_verification_codes where voided_at is not null"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(voided, 1);
    // Even if the clock went back, the cleared code stays cleared.
    sqlx::query!("update phone_verification_codes set expires_at = now() + interval '5 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    confirm(&app, id, &code).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_code_expired",
    );
    assert_eq!(verified_at(&app, id).await, None);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn five_wrong_attempts_clear_the_code(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.customer(PHONE, None).await;
    send(&app, id).await;
    let code = app.last_code(E164).await;
    for _ in 0..4 {
        confirm(&app, id, &wrong(&code)).await.assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "verification_code_invalid",
        );
    }
    confirm(&app, id, &wrong(&code)).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_attempts_exceeded",
    );
    // The right code is of no use any more.
    confirm(&app, id, &code).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_code_expired",
    );
    assert_eq!(verified_at(&app, id).await, None);

    // Parallel guesses cannot exceed the attempts either.
    send(&app, id).await;
    let code = app.last_code(E164).await;
    let guesses = (0..12).map(|_| {
        let app = app.clone();
        let guess = wrong(&code);
        tokio::spawn(async move { confirm(&app, id, &guess).await })
    });
    let answers: Vec<_> = futures::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.unwrap().body["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        answers
            .iter()
            .filter(|c| *c == "verification_code_invalid")
            .count(),
        4
    );
    assert_eq!(
        answers
            .iter()
            .filter(|c| *c == "verification_attempts_exceeded")
            .count(),
        1
    );
    confirm(&app, id, &code).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_code_expired",
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn at_most_three_codes_per_phone_per_hour(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.customer(PHONE, None).await;
    for _ in 0..2 {
        assert_eq!(send(&app, id).await.status, StatusCode::CREATED);
    }
    // The public route counts against the same phone.
    app.signup_code(PHONE, E164).await;
    let limited = send(&app, id).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "too_many_verification_codes");
    let wait: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&wait), "{wait}");
    app.request(
        Method::POST,
        "/api/auth/phone-verification",
        None,
        Some(json!({ "phone": "+880 1712 000001" })),
    )
    .await
    .assert_error(StatusCode::TOO_MANY_REQUESTS, "too_many_verification_codes");
    assert_eq!(app.sms_count(E164).await, 3);
    // An hour later the oldest code has left the window.
    sqlx::query!(
        "update phone_verification_codes set created_at = now() - interval '61 minutes'
         where id = (select min(id) from phone_verification_codes)"
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(send(&app, id).await.status, StatusCode::CREATED);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_public_route_never_tells_whether_a_phone_is_registered(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.customer(PHONE, None).await;
    let known = app
        .request(
            Method::POST,
            "/api/auth/phone-verification",
            None,
            Some(json!({ "phone": PHONE })),
        )
        .await;
    let unknown = app
        .request(
            Method::POST,
            "/api/auth/phone-verification",
            None,
            Some(json!({ "phone": "01812000009" })),
        )
        .await;
    assert_eq!(known.status, StatusCode::CREATED);
    assert_eq!(unknown.status, StatusCode::CREATED);
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&known.body), keys(&unknown.body));
    app.request(
        Method::POST,
        "/api/auth/phone-verification",
        None,
        Some(json!({ "phone": "123" })),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_guest_without_an_email_is_claimed_only_with_a_code(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let guest = app
        .sign_up(json!({ "name": "Guest", "phone": PHONE, "address": "House 1, Mirpur" }))
        .await;
    assert_eq!(guest.body["isGuest"], true);
    let guest_id = guest.body["id"].clone();
    // Someone who only knows the phone gets nothing, and changes nothing.
    let before = app.snapshot().await;
    let attempt = json!({ "phone": PHONE, "email": "thief@example.com", "password": "let me in!" });
    let refused = app.sign_up(attempt.clone()).await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "phone_not_verified");
    assert!(refused.body["fields"]["phoneVerificationCode"].is_array());
    assert_eq!(app.snapshot().await, before);

    // A wrong code is refused too; the attempt is counted.
    let code = app.signup_code(PHONE, E164).await;
    let mut with_wrong = attempt.clone();
    with_wrong["phoneVerificationCode"] = json!(wrong(&code));
    app.sign_up(with_wrong).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_code_invalid",
    );
    let mut malformed = attempt.clone();
    malformed["phoneVerificationCode"] = json!("abc");
    app.sign_up(malformed)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.snapshot().await, before);
    let attempts = sqlx::query_scalar!("select attempts from phone_verification_codes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 1);

    // A code meant for a customer's own verification does not open a guest upgrade.
    let me_code = {
        app.post(
            "/api/loyalty/me/phone-verification",
            &app.customer_token(guest_id.as_i64().unwrap() as i32),
            json!({}),
        )
        .await;
        app.last_code(E164).await
    };
    let mut with_other_purpose = attempt.clone();
    with_other_purpose["phoneVerificationCode"] = json!(me_code);
    let other_purpose = app.sign_up(with_other_purpose).await;
    if me_code != code {
        other_purpose.assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "verification_code_invalid",
        );
    }
    assert_eq!(app.snapshot().await, before);

    // Whoever holds the phone can claim it: same customer, phone verified.
    let code = app.signup_code(PHONE, E164).await;
    let mut proven = attempt;
    proven["phoneVerificationCode"] = json!(code);
    let registered = app.sign_up(proven.clone()).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    assert_eq!(registered.body["id"], guest_id);
    assert_eq!(registered.body["isGuest"], false);
    assert_eq!(
        registered.body["address"],
        json!(null),
        "the answer never shows the guest's details"
    );
    assert!(
        verified_at(&app, guest_id.as_i64().unwrap() as i32)
            .await
            .is_some()
    );
    // The code is used up, and the phone is an account now.
    app.sign_up(proven)
        .await
        .assert_error(StatusCode::CONFLICT, "phone_taken");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_guest_with_an_email_is_claimed_with_that_email_or_a_code(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.sign_up(json!({ "phone": PHONE, "email": "rina@example.com" }))
        .await;
    app.sign_up(json!({ "phone": PHONE, "email": "thief@example.com", "password": "let me in!" }))
        .await
        .assert_error(StatusCode::CONFLICT, "guest_email_mismatch");
    // The guest's own email needs no code.
    let same = app
        .sign_up(
            json!({ "phone": PHONE, "email": "rina@example.com", "password": "rina's password" }),
        )
        .await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.body);

    // Another email with a code for the phone also works (the phone is proven).
    app.sign_up(json!({ "phone": "01812000009", "email": "karim@example.com" }))
        .await;
    let code = app.signup_code("01812000009", "+8801812000009").await;
    let proven = app
        .sign_up(json!({ "phone": "01812000009", "email": "karim.new@example.com", "password": "karim's password", "phoneVerificationCode": code }))
        .await;
    assert_eq!(proven.status, StatusCode::CREATED, "{}", proven.body);
    assert_eq!(proven.body["email"], "karim.new@example.com");
    app.check_invariants().await;
}

/// A log sink for one test thread.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `logs` show a verification code (the Bangla text: "123456 আপনার যাচাই কোড").
fn shows_a_code(logs: &str) -> bool {
    logs.match_indices(" আপনার যাচাই কোড")
        .any(|(at, _)| at >= 6 && logs.as_bytes()[at - 6..at].iter().all(u8::is_ascii_digit))
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_log_sender_writes_the_code_at_debug_only(pool: PgPool) {
    use tower::ServiceExt;
    // The real state and dispatcher, with no provider configured: the log provider.
    let config = crate::helpers::config_with_secret();
    let dispatcher = bondhu::service::messaging::dispatcher::Dispatcher::new(
        &config,
        bondhu::providers::Providers::from_config(&config).unwrap(),
    );
    let state = bondhu::startup::app_state(pool.clone(), config)
        .await
        .unwrap();
    let router = bondhu::http::router(state);
    let send = |body: serde_json::Value| {
        let router = router.clone();
        async move {
            let request = axum::http::Request::builder()
                .method(Method::POST)
                .uri("/api/auth/phone-verification")
                .header(header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        }
    };
    for (level, phone, code_logged) in [
        (tracing::Level::INFO, PHONE, false),
        (tracing::Level::DEBUG, "01812000009", true),
    ] {
        let sink = Captured::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let status = {
            let _guard = tracing::subscriber::set_default(subscriber);
            let status = send(json!({ "phone": phone })).await;
            assert_eq!(dispatcher.drain(&pool, 5).await.unwrap().sent, 1);
            status
        };
        assert_eq!(status, StatusCode::CREATED);
        let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("verification code sent"), "{logs}");
        assert_eq!(shows_a_code(&logs), code_logged, "{level}: {logs}");
    }
}
