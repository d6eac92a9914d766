//! Fraud signals, rules, the verdict and the blocklist, built through the HTTP API and
//! judged by `select * from fraud_verdict(..)`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, TestResponse, test_config};

/// The default rules, as the migration seeds them.
fn default_rules() -> Value {
    json!({
        "sameDevice": {"action": "block"},
        "sameAddress": {"action": "block"},
        "householdPhone": {"action": "review"},
        "referrerVelocity": {"action": "review", "perHour": 10, "perDay": 30},
        "deviceVelocity": {"action": "review", "perDay": 3},
        "ipVelocity": {"action": "review", "perDay": 10},
        "disposableEmail": {"action": "review"},
        "refusalRate": {"action": "review", "minOrders": 5, "maxPercent": 50}
    })
}

/// An app that trusts `X-Forwarded-For`, so tests can choose the client address.
async fn app(pool: PgPool) -> TestApp {
    TestApp::with_config(pool, test_config(&[("TRUST_PROXY_HEADERS", "true")])).await
}

/// Signs up with extra headers; returns the response.
async fn sign_up_with(app: &TestApp, body: Value, headers: &[(&str, &str)]) -> TestResponse {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri("/api/customers/public")
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    app.send(builder.body(Body::from(body.to_string())).unwrap())
        .await
}

/// Signs up a customer with `phone`, an optional code and extra body fields and headers;
/// returns the id.
async fn customer(
    app: &TestApp,
    phone: &str,
    code: Option<i32>,
    extra: Value,
    headers: &[(&str, &str)],
) -> i32 {
    let mut body = json!({ "name": "Test", "phone": phone });
    if let Some(referrer) = code {
        body["ref"] = json!(format!("REF{referrer}"));
    }
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    let response = sign_up_with(app, body, headers).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body["id"].as_i64().unwrap() as i32
}

async fn referral_of(app: &TestApp, friend: i32) -> i32 {
    sqlx::query_scalar!(
        "select id from customer_referrals where referred_customer_id = $1",
        friend
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// `(action, reasons)` of `fraud_verdict`.
async fn verdict(app: &TestApp, referral: i32, order: Option<i32>) -> (String, Vec<String>) {
    let row = sqlx::query!(
        r#"select action::text as "action!", reasons as "reasons!" from fraud_verdict($1, $2)"#,
        referral,
        order
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    (row.action, row.reasons)
}

/// Puts the default rules with `changes` merged into them (rule by rule).
async fn set_rules(app: &TestApp, changes: Value) {
    let mut rules = default_rules();
    for (rule, value) in changes.as_object().unwrap() {
        rules[rule] = value.clone();
    }
    let response = app
        .put("/api/loyalty/fraud-rules", &app.admin_token(), rules)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

async fn signals(app: &TestApp, customer: i32) -> Vec<(String, String, String)> {
    sqlx::query!(
        r#"select kind::text as "kind!", context::text as "context!", value
           from fraud_signals where customer_id = $1 order by id"#,
        customer
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.kind, r.context, r.value))
    .collect()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn signup_records_signals_from_header_and_body(pool: PgPool) {
    let app = app(pool).await;
    let a = customer(
        &app,
        "01712000001",
        None,
        json!({ "email": "R.Ahim+shop@GoogleMail.com", "address": "H#12, Rd. 5, Dhanmondi" }),
        &[
            ("x-device-id", "dev-header-1"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    )
    .await;
    let stored = signals(&app, a).await;
    let kinds: Vec<&str> = stored.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(kinds, ["device", "ip", "phone", "email", "address"]);
    assert!(stored.iter().all(|s| s.1 == "signup"));
    assert_eq!(stored[0].2, "dev-header-1");
    // The client address is an HMAC, never the address.
    assert_eq!(stored[1].2.len(), 64);
    assert!(stored[1].2.bytes().all(|b| b.is_ascii_hexdigit()));
    let clear: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from fraud_signals where value like '%203.0.113%'"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(clear, 0);
    assert_eq!(stored[2].2, "+8801712000001");
    assert_eq!(stored[3].2, "rahim@gmail.com");
    assert_eq!(stored[4].2, "house 12 road 5 dhanmondi");

    // The body's deviceId wins over the header; the same address hashes the same.
    let b = customer(
        &app,
        "01712000002",
        Some(a),
        json!({ "deviceId": "dev-body-2" }),
        &[
            ("x-device-id", "dev-header-2"),
            ("x-forwarded-for", "10.0.0.1, 203.0.113.9"),
        ],
    )
    .await;
    let stored_b = signals(&app, b).await;
    assert_eq!(
        stored_b[0],
        ("device".into(), "signup".into(), "dev-body-2".into())
    );
    assert_eq!(stored_b[1].2, stored[1].2);
    let referral = referral_of(&app, b).await;
    let with_referral: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from fraud_signals where referral_id = $1"#,
        referral
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(with_referral, 3, "device, ip and phone carry the referral");

    // Bad device ids are refused, naming where they came from; nothing is written.
    let before = app.snapshot().await;
    let bad = sign_up_with(
        &app,
        json!({ "phone": "01712000003" }),
        &[("x-device-id", "has space")],
    )
    .await;
    bad.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(bad.body["fields"]["X-Device-Id"].is_array(), "{}", bad.body);
    let bad = sign_up_with(
        &app,
        json!({ "phone": "01712000003", "deviceId": "x".repeat(129) }),
        &[],
    )
    .await;
    bad.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(bad.body["fields"]["deviceId"].is_array(), "{}", bad.body);
    assert_eq!(app.snapshot().await, before);

    let ips: i64 =
        sqlx::query_scalar!(r#"select count(*) as "n!" from fraud_signals where kind = 'ip'"#)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(ips, 2);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn forwarded_for_is_ignored_without_a_trusted_proxy(pool: PgPool) {
    // A request that came through no socket has no address to record either.
    let app = TestApp::new(pool).await;
    let response = sign_up_with(
        &app,
        json!({ "phone": "01712000005" }),
        &[("x-forwarded-for", "198.51.100.1")],
    )
    .await;
    let id = response.body["id"].as_i64().unwrap() as i32;
    let kinds: Vec<String> = signals(&app, id).await.into_iter().map(|s| s.0).collect();
    assert_eq!(kinds, ["phone"]);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn invitations_landings_and_orders_record_signals(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    let a = customer(&app, "01712100001", None, json!({}), &[]).await;

    // An invitation: the inviter's device and address, with the invitation.
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/loyalty/me/referral")
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", app.customer_token(a)),
        )
        .header("x-device-id", "inviter-phone")
        .header("x-forwarded-for", "192.0.2.7");
    let invite = app
        .send(
            request
                .body(Body::from(
                    json!({ "referredPhone": "01712100009" }).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.body);
    let invitation = invite.body["id"].as_i64().unwrap() as i32;
    let rows = sqlx::query!(
        r#"select kind::text as "kind!", context::text as "context!", customer_id, value
           from fraud_signals where referral_id = $1 order by id"#,
        invitation
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.context == "invitation" && r.customer_id == Some(a))
    );
    assert_eq!(rows[0].value, "inviter-phone");

    // The landing: the visitor's device, with the code's owner.
    request = Request::builder()
        .method(Method::GET)
        .uri(format!("/r/REF{a}?ch=qr"))
        .header("x-device-id", "visitor-1");
    let landing = app.send(request.body(Body::empty()).unwrap()).await;
    assert_eq!(landing.status, StatusCode::FOUND);
    let landed = sqlx::query!(
        r#"select customer_id, referrer_customer_id, value from fraud_signals
           where context = 'landing' and kind = 'device'"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (
            landed.customer_id,
            landed.referrer_customer_id,
            landed.value.as_str()
        ),
        (None, Some(a), "visitor-1")
    );

    // An order's delivery address, normalised, once however often it is reported.
    for status in ["pending", "shipped"] {
        let order = app
            .put(
                "/api/orders/900",
                &admin,
                json!({ "customerId": a, "status": status, "totalAmount": 500,
                        "deliveryAddress": "House No. 7, Road-3, Mirpur" }),
            )
            .await;
        assert_eq!(order.status, StatusCode::OK, "{}", order.body);
    }
    let addresses = sqlx::query!(
        r#"select customer_id, order_id, value from fraud_signals where context = 'order'"#
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(addresses.len(), 1);
    assert_eq!(addresses[0].customer_id, Some(a));
    assert_eq!(addresses[0].order_id, Some(900));
    assert_eq!(addresses[0].value, "house 7 road 3 mirpur");

    // A refused order leaves no signal behind; a bad address is a 422.
    let other = customer(&app, "01712100002", None, json!({}), &[]).await;
    let conflict = app
        .put(
            "/api/orders/900",
            &admin,
            json!({ "customerId": other, "status": "pending", "deliveryAddress": "Elsewhere 1" }),
        )
        .await;
    conflict.assert_error(StatusCode::CONFLICT, "order_customer_conflict");
    let missing = app
        .put(
            "/api/orders/901",
            &admin,
            json!({ "customerId": 999999, "status": "pending", "deliveryAddress": "Elsewhere 2" }),
        )
        .await;
    missing.assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    let long = app
        .put(
            "/api/orders/902",
            &admin,
            json!({ "customerId": a, "status": "pending", "deliveryAddress": "x".repeat(501) }),
        )
        .await;
    long.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let count: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from fraud_signals where context = 'order'"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(count, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn same_device_blocks_unless_off(pool: PgPool) {
    let app = app(pool).await;
    let a = customer(
        &app,
        "01712200001",
        None,
        json!({}),
        &[("x-device-id", "shared-dev")],
    )
    .await;
    let f = customer(
        &app,
        "01712200002",
        Some(a),
        json!({ "deviceId": "shared-dev" }),
        &[],
    )
    .await;
    let g = customer(
        &app,
        "01712200003",
        Some(a),
        json!({ "deviceId": "own-dev" }),
        &[],
    )
    .await;
    let rf = referral_of(&app, f).await;
    assert_eq!(
        verdict(&app, rf, None).await,
        ("block".into(), vec!["sameDevice".into()])
    );
    assert_eq!(
        verdict(&app, referral_of(&app, g).await, None).await,
        ("off".into(), vec![])
    );
    set_rules(&app, json!({ "sameDevice": {"action": "review"} })).await;
    assert_eq!(
        verdict(&app, rf, None).await,
        ("review".into(), vec!["sameDevice".into()])
    );
    set_rules(&app, json!({ "sameDevice": {"action": "off"} })).await;
    assert_eq!(verdict(&app, rf, None).await, ("off".into(), vec![]));
    // Unknown referrals, and referrals nobody registered through, have no verdict.
    assert_eq!(verdict(&app, 999999, None).await, ("off".into(), vec![]));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn same_address_blocks_a_second_reward_to_one_address(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    let a = customer(&app, "01712300001", None, json!({}), &[]).await;
    let b = customer(&app, "01712300002", None, json!({}), &[]).await;
    let f1 = customer(&app, "01712300003", Some(a), json!({}), &[]).await;
    let f2 = customer(&app, "01712300004", Some(b), json!({}), &[]).await;
    let f3 = customer(&app, "01712300005", Some(b), json!({}), &[]).await;
    // f1's first order, delivered to the address, completes f1's referral.
    let first = app
        .put(
            "/api/orders/310",
            &admin,
            json!({ "customerId": f1, "status": "delivered", "totalAmount": 800,
                    "deliveryAddress": "Flat 4B, House 9, Road 2, Gulshan" }),
        )
        .await;
    assert!(
        first.body["completedReferralId"].is_number(),
        "{}",
        first.body
    );
    let r1 = referral_of(&app, f1).await;
    assert_eq!(verdict(&app, r1, Some(310)).await, ("off".into(), vec![]));
    // Another account (another referrer's friend) ships to the same address, spelt
    // differently: its reward would be a second one for that address.
    let second = app
        .put(
            "/api/orders/311",
            &admin,
            json!({ "customerId": f2, "status": "pending", "totalAmount": 800,
                    "deliveryAddress": "flat 4b h# 9 rd 2 GULSHAN" }),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let r2 = referral_of(&app, f2).await;
    assert_eq!(
        verdict(&app, r2, Some(311)).await,
        ("block".into(), vec!["sameAddress".into()])
    );
    // Another address is fine.
    app.put(
        "/api/orders/312",
        &admin,
        json!({ "customerId": f3, "status": "pending", "deliveryAddress": "House 10, Road 2, Gulshan" }),
    )
    .await;
    let r3 = referral_of(&app, f3).await;
    assert_eq!(verdict(&app, r3, Some(312)).await, ("off".into(), vec![]));
    set_rules(&app, json!({ "sameAddress": {"action": "off"} })).await;
    assert_eq!(verdict(&app, r2, Some(311)).await, ("off".into(), vec![]));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn household_phone_reviews_a_friend_at_the_referrers_address(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    let a = customer(&app, "01712400001", None, json!({}), &[]).await;
    app.put(
        "/api/orders/410",
        &admin,
        json!({ "customerId": a, "status": "delivered", "deliveryAddress": "House 3, Road 8, Uttara" }),
    )
    .await;
    let f = customer(
        &app,
        "01712400002",
        Some(a),
        json!({ "address": "house 3 road 8 uttara" }),
        &[],
    )
    .await;
    let g = customer(
        &app,
        "01712400003",
        Some(a),
        json!({ "address": "Road 9, Uttara" }),
        &[],
    )
    .await;
    let rf = referral_of(&app, f).await;
    assert_eq!(
        verdict(&app, rf, None).await,
        ("review".into(), vec!["householdPhone".into()])
    );
    assert_eq!(
        verdict(&app, referral_of(&app, g).await, None).await,
        ("off".into(), vec![])
    );
    set_rules(&app, json!({ "householdPhone": {"action": "off"} })).await;
    assert_eq!(verdict(&app, rf, None).await, ("off".into(), vec![]));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn velocity_rules_respect_their_thresholds(pool: PgPool) {
    let app = app(pool).await;
    set_rules(
        &app,
        json!({ "referrerVelocity": {"action": "review", "perHour": 2, "perDay": 20},
                "ipVelocity": {"action": "review", "perDay": 3} }),
    )
    .await;
    let a = customer(&app, "01712500001", None, json!({}), &[]).await;
    let mut referrals = Vec::new();
    for i in 0..3 {
        // Each from its own device and address, so only the referrer's pace counts.
        let ip = format!("198.51.100.{i}");
        let f = customer(
            &app,
            &format!("0171250001{i}"),
            Some(a),
            json!({ "deviceId": format!("dev-{i}") }),
            &[("x-forwarded-for", ip.as_str())],
        )
        .await;
        referrals.push(referral_of(&app, f).await);
    }
    assert_eq!(
        verdict(&app, referrals[1], None).await,
        ("off".into(), vec![])
    );
    assert_eq!(
        verdict(&app, referrals[2], None).await,
        ("review".into(), vec!["referrerVelocity".into()])
    );
    // perDay counts too: the first two referrals move two hours back, out of the hour.
    sqlx::query!(
        "update customer_referrals set created_at = created_at - interval '2 hours' where id = any($1)",
        &referrals[..2]
    )
    .execute(&app.pool)
    .await
    .unwrap();
    set_rules(
        &app,
        json!({ "referrerVelocity": {"action": "review", "perHour": 1, "perDay": 3} }),
    )
    .await;
    assert_eq!(
        verdict(&app, referrals[2], None).await,
        ("off".into(), vec![])
    );
    set_rules(
        &app,
        json!({ "referrerVelocity": {"action": "review", "perHour": 1, "perDay": 2} }),
    )
    .await;
    assert_eq!(
        verdict(&app, referrals[2], None).await,
        ("review".into(), vec!["referrerVelocity".into()])
    );
    set_rules(
        &app,
        json!({ "referrerVelocity": {"action": "off", "perHour": 1, "perDay": 1} }),
    )
    .await;
    assert_eq!(
        verdict(&app, referrals[2], None).await,
        ("off".into(), vec![])
    );

    // deviceVelocity (default 3 a day): the fourth signup from one device fires.
    let b = customer(&app, "01712500002", None, json!({}), &[]).await;
    let mut on_device = Vec::new();
    for i in 0..4 {
        let f = customer(
            &app,
            &format!("0171250002{i}"),
            Some(if i % 2 == 0 { a } else { b }),
            json!({ "deviceId": "farm-phone" }),
            &[],
        )
        .await;
        on_device.push(referral_of(&app, f).await);
    }
    assert_eq!(
        verdict(&app, on_device[2], None).await,
        ("off".into(), vec![])
    );
    assert_eq!(
        verdict(&app, on_device[3], None).await,
        ("review".into(), vec!["deviceVelocity".into()])
    );

    // ipVelocity (3 a day here): the fourth signup from one address fires, as review.
    set_rules(
        &app,
        json!({ "referrerVelocity": {"action": "off", "perHour": 1, "perDay": 1},
                "ipVelocity": {"action": "review", "perDay": 3} }),
    )
    .await;
    let mut on_ip = Vec::new();
    for i in 0..4 {
        let f = customer(
            &app,
            &format!("0171250003{i}"),
            Some(b),
            json!({ "deviceId": format!("office-{i}") }),
            &[("x-forwarded-for", "203.0.113.50")],
        )
        .await;
        on_ip.push(referral_of(&app, f).await);
    }
    assert_eq!(verdict(&app, on_ip[2], None).await, ("off".into(), vec![]));
    assert_eq!(
        verdict(&app, on_ip[3], None).await,
        ("review".into(), vec!["ipVelocity".into()])
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn disposable_email_and_refusal_rate(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    let a = customer(&app, "01712600001", None, json!({}), &[]).await;
    let f1 = customer(
        &app,
        "01712600002",
        Some(a),
        json!({ "email": "x@mailinator.com" }),
        &[],
    )
    .await;
    let f2 = customer(
        &app,
        "01712600003",
        Some(a),
        json!({ "email": "y@example.org" }),
        &[],
    )
    .await;
    let f3 = customer(
        &app,
        "01712600004",
        Some(a),
        json!({ "email": "z@example.net" }),
        &[],
    )
    .await;
    let r1 = referral_of(&app, f1).await;
    let r2 = referral_of(&app, f2).await;
    let r3 = referral_of(&app, f3).await;
    assert_eq!(
        verdict(&app, r1, None).await,
        ("review".into(), vec!["disposableEmail".into()])
    );
    assert_eq!(verdict(&app, r2, None).await, ("off".into(), vec![]));
    // The blocklist's email domains count as disposable (for friends who joined before
    // the entry was added; later ones are refused at attribution).
    let entry = app
        .post(
            "/api/loyalty/blocklist",
            &admin,
            json!({ "kind": "email_domain", "value": "@Example.ORG" }),
        )
        .await;
    assert_eq!(entry.status, StatusCode::CREATED, "{}", entry.body);
    assert_eq!(
        verdict(&app, r2, None).await,
        ("review".into(), vec!["disposableEmail".into()])
    );

    // refusalRate: 2 of 3 decided orders of a's friends came back.
    set_rules(
        &app,
        json!({ "refusalRate": {"action": "block", "minOrders": 3, "maxPercent": 50} }),
    )
    .await;
    app.order(601, f1, "delivered").await;
    app.order(602, f2, "returned").await;
    assert_eq!(
        verdict(&app, r3, None).await,
        ("off".into(), vec![]),
        "below minOrders"
    );
    app.order(603, f3, "cancelled").await;
    app.order(604, f3, "pending").await; // undecided: not counted
    assert_eq!(
        verdict(&app, r3, None).await,
        ("block".into(), vec!["refusalRate".into()])
    );
    // Several rules: the strongest action, the reasons in their fixed order.
    assert_eq!(
        verdict(&app, r1, None).await,
        (
            "block".into(),
            vec!["disposableEmail".into(), "refusalRate".into()]
        )
    );
    set_rules(
        &app,
        json!({ "refusalRate": {"action": "review", "minOrders": 3, "maxPercent": 70} }),
    )
    .await;
    assert_eq!(
        verdict(&app, r3, None).await,
        ("off".into(), vec![]),
        "66% is not above 70%"
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn masked_signals_for_the_review_queue(pool: PgPool) {
    let app = app(pool).await;
    let a = customer(&app, "01712700001", None, json!({}), &[]).await;
    let f = customer(
        &app,
        "01712700002",
        Some(a),
        json!({ "email": "rahim@gmail.com", "deviceId": "abcdef123456", "address": "House 1, Road 2" }),
        &[("x-forwarded-for", "203.0.113.1")],
    )
    .await;
    let referral = referral_of(&app, f).await;
    let masked = bondhu::service::fraud::masked_signals(&app.pool, referral)
        .await
        .unwrap();
    let values: Vec<(String, String)> = masked
        .iter()
        .map(|s| (s.kind.as_str().to_owned(), s.value.clone()))
        .collect();
    assert_eq!(values[0], ("device".into(), "abcdef…".into()));
    assert_eq!(values[1].0, "ip");
    assert_eq!(values[1].1.chars().count(), 9);
    assert_eq!(values[2], ("phone".into(), "+88017*****002".into()));
    assert_eq!(values[3], ("email".into(), "r***@gmail.com".into()));
    assert_eq!(values[4], ("address".into(), "house 1 road…".into()));
    assert!(masked.iter().all(|s| s.own));
    let json = serde_json::to_value(&masked[0]).unwrap();
    assert_eq!(json["kind"], "device");
    assert_eq!(json["context"], "signup");
    assert!(json["createdAt"].is_string());
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn fraud_rules_are_validated_and_need_the_permission(pool: PgPool) {
    let app = app(pool).await;
    let path = "/api/loyalty/fraud-rules";
    let got = app.get(path, &app.admin_token()).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["rules"], default_rules());
    assert_eq!(got.body["updatedBy"], "system");

    let marketing = app.staff_token("marketing-manager");
    let mut rules = default_rules();
    rules["deviceVelocity"]["perDay"] = json!(7);
    let put = app.put(path, &marketing, rules.clone()).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["rules"], rules);
    let marketing_id = app
        .staff
        .iter()
        .find(|(role, _)| role == "marketing-manager")
        .unwrap()
        .1;
    assert_eq!(put.body["updatedBy"], format!("user:{marketing_id}"));
    assert_eq!(app.get(path, &marketing).await.body, put.body);

    // Bad values: 422 with every field named, nothing changed.
    let mut bad = default_rules();
    bad["ipVelocity"]["action"] = json!("block");
    bad["referrerVelocity"] = json!({"action": "review", "perHour": 0, "perDay": 20});
    bad["refusalRate"]["maxPercent"] = json!(101);
    let refused = app.put(path, &marketing, bad).await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields = refused.body["fields"].as_object().unwrap();
    for field in [
        "ipVelocity.action",
        "referrerVelocity.perHour",
        "refusalRate.maxPercent",
    ] {
        assert!(fields.contains_key(field), "{field}: {}", refused.body);
    }
    let mut bad = default_rules();
    bad["referrerVelocity"] = json!({"action": "review", "perHour": 10, "perDay": 5});
    let refused = app.put(path, &marketing, bad).await;
    assert!(
        refused.body["fields"]["referrerVelocity.perDay"].is_array(),
        "{}",
        refused.body
    );
    // The object is replaced whole: a missing rule, an unknown one or an unknown action
    // is refused.
    let mut partial = default_rules();
    partial.as_object_mut().unwrap().remove("sameAddress");
    app.put(path, &marketing, partial)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let mut extra = default_rules();
    extra["newRule"] = json!({"action": "off"});
    app.put(path, &marketing, extra)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let mut unknown = default_rules();
    unknown["sameDevice"]["action"] = json!("maybe");
    app.put(path, &marketing, unknown)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert_eq!(app.get(path, &marketing).await.body, put.body);

    // Permissions: customers and roles without manage-mlm-settings get 403.
    let c = customer(&app, "01712800001", None, json!({}), &[]).await;
    for token in [
        app.customer_token(c),
        app.staff_token("support-agent"),
        app.staff_token("order-desk"),
    ] {
        app.get(path, &token)
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
        app.put(path, &token, default_rules())
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
        app.get("/api/loyalty/blocklist", &token)
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
        app.request(
            Method::DELETE,
            "/api/loyalty/blocklist/1",
            Some(&token),
            None,
        )
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    app.request(Method::GET, path, None, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_blocklist_crud(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    let path = "/api/loyalty/blocklist";
    let phone = app
        .post(
            path,
            &admin,
            json!({ "kind": "phone", "value": "01712 900001", "note": "chargebacks" }),
        )
        .await;
    assert_eq!(phone.status, StatusCode::CREATED, "{}", phone.body);
    assert_eq!(phone.body["value"], "+8801712900001");
    assert_eq!(phone.body["note"], "chargebacks");
    assert!(
        phone.body["createdBy"]
            .as_str()
            .unwrap()
            .starts_with("user:")
    );
    // The same phone in another spelling is a duplicate.
    app.post(
        path,
        &admin,
        json!({ "kind": "phone", "value": "+8801712900001" }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "blocklist_entry_exists");
    let device = app
        .post(
            path,
            &admin,
            json!({ "kind": "device", "value": "bad-device" }),
        )
        .await;
    assert_eq!(device.status, StatusCode::CREATED);
    let address = app
        .post(
            path,
            &admin,
            json!({ "kind": "address", "value": "H# 5, Rd 1, Banani" }),
        )
        .await;
    assert_eq!(address.body["value"], "house 5 road 1 banani");

    // Bad values and kinds.
    for (body, code) in [
        (
            json!({ "kind": "phone", "value": "12345" }),
            "validation_failed",
        ),
        (
            json!({ "kind": "email_domain", "value": "not a domain" }),
            "validation_failed",
        ),
        (
            json!({ "kind": "device", "value": "" }),
            "validation_failed",
        ),
        (
            json!({ "kind": "address", "value": "  ,, " }),
            "validation_failed",
        ),
        (json!({ "kind": "ip", "value": "1.2.3.4" }), "invalid_body"),
        (json!({ "kind": "phone" }), "invalid_body"),
        (
            json!({ "kind": "device", "value": "ok-device", "note": "n".repeat(501) }),
            "validation_failed",
        ),
    ] {
        app.post(path, &admin, body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, code);
    }

    // Newest first, filtered by kind, paged by id.
    let all = app.get(path, &admin).await;
    assert_eq!(all.body.as_array().unwrap().len(), 3);
    assert_eq!(all.body[0]["kind"], "address");
    let phones = app.get(&format!("{path}?kind=phone"), &admin).await;
    assert_eq!(phones.body.as_array().unwrap().len(), 1);
    assert_eq!(phones.body[0]["kind"], "phone");
    let page = app.get(&format!("{path}?limit=1"), &admin).await;
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    let next = app
        .get(
            &format!("{path}?limit=5&beforeId={}", page.body[0]["id"]),
            &admin,
        )
        .await;
    assert_eq!(next.body.as_array().unwrap().len(), 2);
    app.get(&format!("{path}?kind=ip"), &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.get(&format!("{path}?limit=0"), &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");

    let id = device.body["id"].as_i64().unwrap();
    let deleted = app
        .request(Method::DELETE, &format!("{path}/{id}"), Some(&admin), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.request(Method::DELETE, &format!("{path}/{id}"), Some(&admin), None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "blocklist_entry_not_found");
    assert_eq!(
        app.get(path, &admin).await.body.as_array().unwrap().len(),
        2
    );
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_blocked_friend_registers_without_a_referral(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    let a = customer(&app, "01712950001", None, json!({}), &[]).await;
    for (kind, value) in [
        ("phone", "01712950002"),
        ("device", "stolen-phone"),
        ("email_domain", "spam.example"),
        ("address", "House 66, Road 6, Badda"),
    ] {
        let added = app
            .post(
                "/api/loyalty/blocklist",
                &admin,
                json!({ "kind": kind, "value": value }),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    }
    let cases = [
        ("01712950002", json!({}), vec![], "phone"),
        (
            "01712950003",
            json!({}),
            vec![("x-device-id", "stolen-phone")],
            "device",
        ),
        (
            "01712950004",
            json!({ "email": "me@Spam.example" }),
            vec![],
            "email_domain",
        ),
        (
            "01712950005",
            json!({ "address": "h#66 rd 6 badda" }),
            vec![],
            "address",
        ),
    ];
    for (phone, extra, headers, kind) in cases {
        let mut body = json!({ "name": "Blocked", "phone": phone, "ref": format!("REF{a}") });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = sign_up_with(&app, body, &headers).await;
        // The customer registers, as after a self-referral: no referral, no reason given.
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        assert_eq!(response.body["referredByCustomerId"], Value::Null);
        let id = response.body["id"].as_i64().unwrap() as i32;
        let referrals: i64 = sqlx::query_scalar!(
            r#"select count(*) as "n!" from customer_referrals where referred_customer_id = $1"#,
            id
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(referrals, 0, "{kind}");
        let event = sqlx::query!(
            r#"select referrer_customer_id, payload from referral_events
               where event_type = 'referral_refused' and referred_customer_id = $1"#,
            id
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(event.referrer_customer_id, Some(a));
        assert_eq!(event.payload["reason"], "blocklisted");
        assert_eq!(event.payload["blocklist"], kind);
    }
    // A friend not on the list is referred as usual.
    let fine = customer(
        &app,
        "01712950006",
        Some(a),
        json!({ "email": "me@fine.example" }),
        &[],
    )
    .await;
    referral_of(&app, fine).await;

    // Checkout attribution: an order with the code, delivered to a blocked address.
    let guest = customer(&app, "01712950007", None, json!({}), &[]).await;
    let order = app
        .put(
            "/api/orders/950",
            &admin,
            json!({ "customerId": guest, "status": "delivered", "totalAmount": 900,
                    "referralCode": format!("REF{a}"), "deliveryAddress": "House 66 Road 6 Badda" }),
        )
        .await;
    assert_eq!(order.status, StatusCode::OK, "{}", order.body);
    assert_eq!(order.body["completedReferralId"], Value::Null);
    assert_eq!(app.events("referral_refused").await, 5);
    assert_eq!(app.balance(a).await, rust_decimal::Decimal::ZERO);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn every_rule_fires_in_order_and_none_when_off(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    set_rules(
        &app,
        json!({ "referrerVelocity": {"action": "review", "perHour": 1, "perDay": 1},
                "deviceVelocity": {"action": "review", "perDay": 1},
                "ipVelocity": {"action": "review", "perDay": 1},
                "refusalRate": {"action": "review", "minOrders": 1, "maxPercent": 0} }),
    )
    .await;
    let a = customer(
        &app,
        "01712990001",
        None,
        json!({ "deviceId": "family-tab" }),
        &[("x-forwarded-for", "203.0.113.77")],
    )
    .await;
    app.put(
        "/api/orders/990",
        &admin,
        json!({ "customerId": a, "status": "delivered", "deliveryAddress": "House 1, Road 1, Khulna" }),
    )
    .await;
    // A first friend, whose delivery completes at another address; a later order of
    // theirs comes back.
    let f0 = customer(
        &app,
        "01712990002",
        Some(a),
        json!({ "deviceId": "f0-phone" }),
        &[],
    )
    .await;
    let done = app
        .put(
            "/api/orders/991",
            &admin,
            json!({ "customerId": f0, "status": "delivered", "totalAmount": 600,
                    "deliveryAddress": "House 2, Road 2, Khulna" }),
        )
        .await;
    assert!(
        done.body["completedReferralId"].is_number(),
        "{}",
        done.body
    );
    app.order(992, f0, "returned").await;
    // The second friend: the referrer's tablet and address, a throwaway email, and an
    // order to the first friend's address.
    let f = customer(
        &app,
        "01712990003",
        Some(a),
        json!({ "deviceId": "family-tab", "email": "f@yopmail.com", "address": "house 1 road 1 khulna" }),
        &[("x-forwarded-for", "203.0.113.77")],
    )
    .await;
    app.put(
        "/api/orders/993",
        &admin,
        json!({ "customerId": f, "status": "pending", "deliveryAddress": "H# 2 Rd 2 Khulna" }),
    )
    .await;
    let referral = referral_of(&app, f).await;
    let all = [
        "sameDevice",
        "sameAddress",
        "householdPhone",
        "referrerVelocity",
        "deviceVelocity",
        "ipVelocity",
        "disposableEmail",
        "refusalRate",
    ];
    assert_eq!(
        verdict(&app, referral, Some(993)).await,
        ("block".into(), all.iter().map(|r| r.to_string()).collect())
    );

    // Every rule off: nothing fires.
    let mut off = default_rules();
    for rule in all {
        off[rule]["action"] = json!("off");
    }
    let put = app.put("/api/loyalty/fraud-rules", &admin, off).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(
        verdict(&app, referral, Some(993)).await,
        ("off".into(), vec![])
    );
    // The verdict only reads.
    let before = app.snapshot().await;
    verdict(&app, referral, Some(993)).await;
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}
