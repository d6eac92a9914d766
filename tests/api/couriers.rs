//! Couriers that say "delivered" themselves: Steadfast's and Pathao's webhooks through the
//! real router, settled against orders through the order transition, kept once in the
//! inbox, out of order, unmatched until the order is linked, and under concurrency.

use axum::http::{Method, StatusCode};
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, TestResponse, dec, test_config};

const STEADFAST_TOKEN: &str = "steadfast-webhook-token-0123456789";
const PATHAO_SECRET: &str = "pathao-webhook-secret-0123456789";
/// What Pathao's merchant panel asks the integration header to hold.
const PATHAO_INTEGRATION: &str = "f3992ecc-59da-4cbe-a049-a13da2018d51";

/// An app with both couriers' secrets configured.
async fn couriers_app(pool: PgPool) -> TestApp {
    TestApp::with_config(
        pool,
        test_config(&[
            ("STEADFAST_WEBHOOK_TOKEN", STEADFAST_TOKEN),
            ("PATHAO_WEBHOOK_SECRET", PATHAO_SECRET),
        ]),
    )
    .await
}

async fn post_steadfast(app: &TestApp, authorization: Option<&str>, body: &Value) -> TestResponse {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("user-agent", "Steadfast-Webhook"),
    ];
    if let Some(value) = authorization {
        headers.push(("authorization", value));
    }
    app.raw_with_headers(
        Method::POST,
        "/api/webhooks/couriers/steadfast",
        &headers,
        body.to_string(),
    )
    .await
}

/// Steadfast's webhook with the configured token.
async fn steadfast(app: &TestApp, body: &Value) -> TestResponse {
    post_steadfast(app, Some(&format!("Bearer {STEADFAST_TOKEN}")), body).await
}

async fn post_pathao(app: &TestApp, signature: Option<&str>, body: &Value) -> TestResponse {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(value) = signature {
        headers.push(("x-pathao-signature", value));
    }
    app.raw_with_headers(
        Method::POST,
        "/api/webhooks/couriers/pathao",
        &headers,
        body.to_string(),
    )
    .await
}

/// Pathao's webhook with the configured secret.
async fn pathao(app: &TestApp, body: &Value) -> TestResponse {
    post_pathao(app, Some(PATHAO_SECRET), body).await
}

/// A Steadfast `delivery_status` notification.
fn steadfast_status(consignment: i64, invoice: &str, status: &str, at: &str, cod: f64) -> Value {
    json!({
        "notification_type": "delivery_status",
        "consignment_id": consignment,
        "invoice": invoice,
        "cod_amount": cod,
        "status": status,
        "delivery_charge": 100.00,
        "tracking_message": format!("Consignment status has been updated as {status}"),
        "updated_at": at,
    })
}

/// A Pathao order event at `timestamp` (UTC).
fn pathao_event(event: &str, consignment: &str, order: &str, timestamp: &str) -> Value {
    json!({
        "consignment_id": consignment,
        "merchant_order_id": order,
        "updated_at": "2026-03-01 12:00:00",
        "timestamp": timestamp,
        "store_id": 130820,
        "event": event,
    })
}

/// One inbox row, as the tests read it.
#[derive(Debug, PartialEq)]
struct InboxRow {
    event: String,
    outcome: String,
    reason: Option<String>,
    order_id: Option<i32>,
    order_status: Option<String>,
}

async fn inbox(app: &TestApp) -> Vec<InboxRow> {
    sqlx::query_as!(
        InboxRow,
        r#"select event, outcome::text as "outcome!", reason::text as reason, order_id,
                  order_status::text as order_status
           from courier_inbox order by id"#
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// An order's status and what its courier reported.
#[derive(Debug)]
struct OrderRow {
    status: String,
    courier_status: Option<String>,
    cash_collected_amount: Option<Decimal>,
    consignment_id: Option<String>,
}

async fn order_row(app: &TestApp, id: i32) -> OrderRow {
    sqlx::query_as!(
        OrderRow,
        r#"select status::text as "status!", courier_status, cash_collected_amount, consignment_id
           from sales_orders where id = $1"#,
        id
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// The referral of `friend`: its status and the status of each of its rewards.
async fn referral_of(app: &TestApp, friend: i32) -> (String, Vec<String>) {
    let status: String = sqlx::query_scalar!(
        r#"select status::text as "status!" from customer_referrals where referred_customer_id = $1"#,
        friend
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let rewards = sqlx::query_scalar!(
        r#"select rr.status::text as "status!" from referral_rewards rr
           join customer_referrals r on r.id = rr.referral_id
           where r.referred_customer_id = $1 and rr.kind = 'wallet' and rr.side = 'referrer'
           order by rr.id"#,
        friend
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    (status, rewards)
}

/// The referrer's held (pending) money.
async fn pending_balance(app: &TestApp, referrer: i32) -> Decimal {
    let wallet = app
        .get("/api/loyalty/me/wallet", &app.customer_token(referrer))
        .await;
    assert_eq!(wallet.status, StatusCode::OK, "{}", wallet.body);
    dec(&wallet.body["pendingBalance"])
}

/// Records order `id` of `customer`, shipped with `courier`'s consignment.
async fn shipped(app: &TestApp, id: i32, customer: i32, courier: &str, consignment: &str) -> Value {
    let put = app
        .put(
            &format!("/api/orders/{id}"),
            &app.admin_token(),
            json!({ "customerId": customer, "status": "shipped", "totalAmount": 1060,
                    "salesOrderNumber": format!("SO-{id}"),
                    "courier": courier, "consignmentId": consignment, "trackingCode": "SFR-TRACK-1" }),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    put.body
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_steadfast_delivery_completes_the_referral_through_the_order_transition(pool: PgPool) {
    let app = couriers_app(pool).await;
    let (referrer, friend) = app.referrer_and_friend(1).await;
    let put = shipped(&app, 8001, friend, "steadfast", "1424107").await;
    assert_eq!(put["parcel"]["courier"], "steadfast");
    assert_eq!(put["parcel"]["consignmentId"], "1424107");
    assert_eq!(put["parcel"]["trackingCode"], "SFR-TRACK-1");
    assert_eq!(put["parcel"]["matchedEvents"], 0);

    let delivered = steadfast(
        &app,
        &steadfast_status(
            1424107,
            "SO-8001",
            "Delivered",
            "2026-03-01 12:45:30",
            1060.00,
        ),
    )
    .await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    assert_eq!(
        delivered.body,
        json!({ "status": "success", "message": "Webhook received successfully.", "outcome": "applied" })
    );
    let order = order_row(&app, 8001).await;
    assert_eq!(order.status, "delivered");
    assert_eq!(order.courier_status.as_deref(), Some("delivered"));
    assert_eq!(order.cash_collected_amount, Some(Decimal::new(106000, 2)));
    // The normal path: completed, the reward pending for the campaign's hold.
    assert_eq!(
        referral_of(&app, friend).await,
        ("completed".to_owned(), vec!["pending".to_owned()])
    );
    assert_eq!(pending_balance(&app, referrer).await, Decimal::from(100));
    let completed_at: Option<i32> = sqlx::query_scalar!(
        "select qualifying_order_id from customer_referrals where referred_customer_id = $1",
        friend
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(completed_at, Some(8001));

    // A tracking update is kept and changes nothing.
    let tracking = steadfast(
        &app,
        &json!({ "notification_type": "tracking_update", "consignment_id": 1424107,
                 "invoice": "SO-8001", "tracking_message": "Returned to the hub.",
                 "updated_at": "2026-03-01 13:15:00" }),
    )
    .await;
    assert_eq!(tracking.body["outcome"], "ignored", "{}", tracking.body);
    assert_eq!(order_row(&app, 8001).await.status, "delivered");

    let rows = inbox(&app).await;
    assert_eq!(
        rows,
        [
            InboxRow {
                event: "delivered".into(),
                outcome: "applied".into(),
                reason: None,
                order_id: Some(8001),
                order_status: Some("delivered".into()),
            },
            InboxRow {
                event: "tracking_update".into(),
                outcome: "ignored".into(),
                reason: Some("tracking_only".into()),
                order_id: Some(8001),
                order_status: None,
            },
        ]
    );
    // The raw payload and the headers are kept, never the token.
    let kept = sqlx::query!(r#"select payload, headers from courier_inbox order by id limit 1"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept.payload["status"], "Delivered");
    assert_eq!(kept.payload["cod_amount"].to_string(), "1060.0");
    assert_eq!(kept.headers["user-agent"], "Steadfast-Webhook");
    assert!(kept.headers.get("authorization").is_none());
    assert!(!kept.headers.to_string().contains(STEADFAST_TOKEN));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_partial_delivery_is_a_delivery_and_records_the_cash(pool: PgPool) {
    let app = couriers_app(pool).await;
    let (referrer, friend) = app.referrer_and_friend(2).await;
    shipped(&app, 8002, friend, "steadfast", "254192002").await;
    let partial = steadfast(
        &app,
        &steadfast_status(
            254192002,
            "SO-8002",
            "partial_delivered",
            "2026-03-02 12:00:00",
            770.0,
        ),
    )
    .await;
    assert_eq!(partial.body["outcome"], "applied", "{}", partial.body);
    let order = order_row(&app, 8002).await;
    assert_eq!(order.status, "partial_delivered");
    assert_eq!(order.courier_status.as_deref(), Some("partial_delivered"));
    assert_eq!(order.cash_collected_amount, Some(Decimal::new(770, 0)));
    assert_eq!(referral_of(&app, friend).await.0, "completed");
    assert_eq!(pending_balance(&app, referrer).await, Decimal::from(100));

    // Pathao's partial delivery, likewise.
    let (_, friend) = app.referrer_and_friend(3).await;
    shipped(&app, 8003, friend, "pathao", "DL121224VS8TTJ").await;
    let mut event = pathao_event(
        "order.partial-delivery",
        "DL121224VS8TTJ",
        "SO-8003",
        "2026-03-02T06:00:00+00:00",
    );
    event["collected_amount"] = json!(60);
    event["reason"] = json!("The customer kept one of two items.");
    let partial = pathao(&app, &event).await;
    assert_eq!(partial.status, StatusCode::ACCEPTED, "{}", partial.body);
    let order = order_row(&app, 8003).await;
    assert_eq!(order.status, "partial_delivered");
    assert_eq!(
        order.courier_status.as_deref(),
        Some("order.partial-delivery")
    );
    assert_eq!(order.cash_collected_amount, Some(Decimal::from(60)));
    assert_eq!(referral_of(&app, friend).await.0, "completed");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_pathao_return_reverses_the_delivery(pool: PgPool) {
    let app = couriers_app(pool).await;
    let (referrer, friend) = app.referrer_and_friend(4).await;
    shipped(&app, 8004, friend, "pathao", "DL0001").await;
    for event in ["order.picked", "order.in-transit", "order.delivered"] {
        let at = match event {
            "order.picked" => "2026-03-01T08:00:00+00:00",
            "order.in-transit" => "2026-03-01T09:00:00+00:00",
            _ => "2026-03-01T10:00:00+00:00",
        };
        let answer = pathao(&app, &pathao_event(event, "DL0001", "SO-8004", at)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        assert_eq!(
            answer.headers["x-pathao-merchant-webhook-integration-secret"],
            PATHAO_INTEGRATION
        );
        assert_eq!(
            answer.body["outcome"], "applied",
            "{event}: {}",
            answer.body
        );
    }
    assert_eq!(order_row(&app, 8004).await.status, "delivered");
    assert_eq!(pending_balance(&app, referrer).await, Decimal::from(100));

    let returned = pathao(
        &app,
        &pathao_event(
            "order.returned",
            "DL0001",
            "SO-8004",
            "2026-03-02T10:00:00+00:00",
        ),
    )
    .await;
    assert_eq!(returned.body["outcome"], "applied", "{}", returned.body);
    assert_eq!(order_row(&app, 8004).await.status, "returned");
    // Reversed exactly as a shop's return would: the held reward voided.
    assert_eq!(
        referral_of(&app, friend).await,
        ("registered".to_owned(), vec!["voided".to_owned()])
    );
    assert_eq!(pending_balance(&app, referrer).await, Decimal::ZERO);
    assert_eq!(app.events("qualifying_order_reversed").await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_duplicate_delivery_changes_nothing(pool: PgPool) {
    let app = couriers_app(pool).await;
    let (referrer, friend) = app.referrer_and_friend(5).await;
    shipped(&app, 8005, friend, "steadfast", "5005").await;
    let payload = steadfast_status(5005, "SO-8005", "delivered", "2026-03-01 12:00:00", 1060.0);
    assert_eq!(steadfast(&app, &payload).await.body["outcome"], "applied");
    let before = app.snapshot().await;
    let again = steadfast(&app, &payload).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["outcome"], "duplicate");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(inbox(&app).await.len(), 1);
    assert_eq!(app.events("completed").await, 1);
    assert_eq!(pending_balance(&app, referrer).await, Decimal::from(100));

    // Pathao's retry likewise.
    shipped(&app, 8006, friend, "pathao", "DL0006").await;
    let event = pathao_event(
        "order.picked",
        "DL0006",
        "SO-8006",
        "2026-03-01T08:00:00+00:00",
    );
    assert_eq!(pathao(&app, &event).await.body["outcome"], "applied");
    let again = pathao(&app, &event).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["outcome"], "duplicate");
    assert_eq!(inbox(&app).await.len(), 2);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn out_of_order_never_resurrects_a_delivery(pool: PgPool) {
    let app = couriers_app(pool).await;
    let (referrer, friend) = app.referrer_and_friend(6).await;
    shipped(&app, 8007, friend, "pathao", "DL0007").await;
    // The return arrives first; the delivery it undid arrives late, with its older time.
    let returned = pathao(
        &app,
        &pathao_event(
            "order.returned",
            "DL0007",
            "SO-8007",
            "2026-03-02T10:00:00+00:00",
        ),
    )
    .await;
    assert_eq!(returned.body["outcome"], "applied", "{}", returned.body);
    let mut delivered = pathao_event(
        "order.delivered",
        "DL0007",
        "SO-8007",
        "2026-03-01T10:00:00+00:00",
    );
    delivered["collected_amount"] = json!(1060);
    let late = pathao(&app, &delivered).await;
    assert_eq!(late.status, StatusCode::ACCEPTED);
    assert_eq!(late.body["outcome"], "stale", "{}", late.body);
    // Even a delivery with a newer time cannot bring a returned parcel back.
    delivered["timestamp"] = json!("2026-03-03T10:00:00+00:00");
    assert_eq!(pathao(&app, &delivered).await.body["outcome"], "stale");

    let order = order_row(&app, 8007).await;
    assert_eq!(order.status, "returned");
    assert_eq!(order.cash_collected_amount, None);
    assert_eq!(
        referral_of(&app, friend).await,
        ("registered".to_owned(), vec![])
    );
    assert_eq!(pending_balance(&app, referrer).await, Decimal::ZERO);
    let reasons: Vec<Option<String>> = inbox(&app).await.into_iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        [
            None,
            Some("older_than_applied".into()),
            Some("after_reversal".into())
        ]
    );

    // Steadfast: delivered, then an older "pending" (in transit) arrives late: stale; a
    // newer in-transit status after the delivery is stale too.
    let (_, friend) = app.referrer_and_friend(7).await;
    shipped(&app, 8008, friend, "steadfast", "8008").await;
    let delivered = steadfast_status(8008, "SO-8008", "delivered", "2026-03-01 12:00:00", 1060.0);
    assert_eq!(steadfast(&app, &delivered).await.body["outcome"], "applied");
    let older = steadfast_status(8008, "SO-8008", "pending", "2026-03-01 09:00:00", 0.0);
    assert_eq!(steadfast(&app, &older).await.body["outcome"], "stale");
    let newer = steadfast_status(8008, "SO-8008", "hold", "2026-03-01 15:00:00", 0.0);
    assert_eq!(steadfast(&app, &newer).await.body["outcome"], "stale");
    assert_eq!(order_row(&app, 8008).await.status, "delivered");
    assert_eq!(
        inbox(&app).await.last().unwrap().reason.as_deref(),
        Some("after_delivery")
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_bad_token_or_signature_is_refused_and_nothing_is_kept(pool: PgPool) {
    let app = couriers_app(pool).await;
    let (_, friend) = app.referrer_and_friend(8).await;
    shipped(&app, 8009, friend, "steadfast", "9009").await;
    let before = app.snapshot().await;
    let payload = steadfast_status(9009, "SO-8009", "delivered", "2026-03-01 12:00:00", 1060.0);
    let wrong = format!("Bearer {STEADFAST_TOKEN}x");
    let basic = format!("Basic {STEADFAST_TOKEN}");
    for authorization in [
        None,
        Some("Bearer nope"),
        Some(wrong.as_str()),
        Some(basic.as_str()),
    ] {
        post_steadfast(&app, authorization, &payload)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    let event = pathao_event(
        "order.delivered",
        "9009",
        "SO-8009",
        "2026-03-01T10:00:00+00:00",
    );
    for signature in [None, Some("nope"), Some(STEADFAST_TOKEN)] {
        post_pathao(&app, signature, &event)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    post_pathao(
        &app,
        Some("nope"),
        &json!({ "event": "webhook_integration" }),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_signature");
    assert_eq!(app.snapshot().await, before);
    assert!(inbox(&app).await.is_empty());
    assert_eq!(order_row(&app, 8009).await.status, "shipped");

    // Authenticated but unreadable: the JSON envelope, nothing kept.
    let broken = app
        .raw_with_headers(
            Method::POST,
            "/api/webhooks/couriers/steadfast",
            &[("authorization", &format!("Bearer {STEADFAST_TOKEN}"))],
            "{not json".into(),
        )
        .await;
    broken.assert_error(StatusCode::BAD_REQUEST, "malformed_json");
    let incomplete = steadfast(
        &app,
        &json!({ "notification_type": "delivery_status", "consignment_id": 9009 }),
    )
    .await;
    incomplete.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        incomplete.body["fields"]["status"].is_array(),
        "{}",
        incomplete.body
    );
    assert!(incomplete.body["fields"]["updated_at"].is_array());
    assert!(inbox(&app).await.is_empty());
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn with_no_secret_the_webhooks_fail_closed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (_, friend) = app.referrer_and_friend(9).await;
    shipped(&app, 8010, friend, "steadfast", "1010").await;
    let before = app.snapshot().await;
    let payload = steadfast_status(1010, "SO-8010", "delivered", "2026-03-01 12:00:00", 1060.0);
    // Even with a bearer token that would be right, and with none at all.
    for authorization in [Some(format!("Bearer {STEADFAST_TOKEN}")), None] {
        let refused = post_steadfast(&app, authorization.as_deref(), &payload).await;
        refused.assert_error(StatusCode::SERVICE_UNAVAILABLE, "webhook_not_configured");
    }
    for body in [
        pathao_event(
            "order.delivered",
            "1010",
            "SO-8010",
            "2026-03-01T10:00:00+00:00",
        ),
        json!({ "event": "webhook_integration" }),
    ] {
        let refused = post_pathao(&app, Some(PATHAO_SECRET), &body).await;
        refused.assert_error(StatusCode::SERVICE_UNAVAILABLE, "webhook_not_configured");
        assert!(
            refused
                .headers
                .get("x-pathao-merchant-webhook-integration-secret")
                .is_none()
        );
    }
    assert_eq!(app.snapshot().await, before);
    assert!(inbox(&app).await.is_empty());
    assert_eq!(order_row(&app, 8010).await.status, "shipped");
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn pathaos_handshake_answers_202_with_the_integration_header(pool: PgPool) {
    let app = couriers_app(pool).await;
    let handshake = pathao(&app, &json!({ "event": "webhook_integration" })).await;
    assert_eq!(handshake.status, StatusCode::ACCEPTED, "{}", handshake.body);
    assert_eq!(
        handshake.headers["x-pathao-merchant-webhook-integration-secret"],
        PATHAO_INTEGRATION
    );
    assert_eq!(
        handshake.body,
        json!({ "status": "success", "message": "Webhook received successfully." })
    );
    // The handshake is no event: nothing is kept.
    assert!(inbox(&app).await.is_empty());

    // A store event has no parcel: kept, ignored.
    let store = pathao(
        &app,
        &json!({ "store_id": 1, "store_name": "Test Store", "event": "store.updated",
                 "updated_at": "2026-03-01 23:55:34", "timestamp": "2026-03-01T17:55:34+00:00" }),
    )
    .await;
    assert_eq!(store.status, StatusCode::ACCEPTED);
    assert_eq!(store.body["outcome"], "ignored");
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_integration_header_can_be_configured(pool: PgPool) {
    // Pathao's panel shows the value to return; it can be set.
    let configured = TestApp::with_config(
        pool,
        test_config(&[
            ("PATHAO_WEBHOOK_SECRET", PATHAO_SECRET),
            (
                "PATHAO_WEBHOOK_INTEGRATION_SECRET",
                "0f1e2d3c-my-panel-value",
            ),
        ]),
    )
    .await;
    let handshake = pathao(&configured, &json!({ "event": "webhook_integration" })).await;
    assert_eq!(
        handshake.headers["x-pathao-merchant-webhook-integration-secret"],
        "0f1e2d3c-my-panel-value"
    );
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_unknown_consignment_is_listed_then_applied_in_time_order_when_linked(pool: PgPool) {
    let app = couriers_app(pool).await;
    let admin = app.admin_token();
    let (referrer, friend) = app.referrer_and_friend(10).await;
    // Steadfast reports a parcel the shop has not linked yet: the delivery first, then
    // the older "pending" that was held up somewhere.
    let delivered = steadfast_status(
        777001,
        "INV-NOBODY",
        "delivered",
        "2026-03-01 15:00:00",
        1060.0,
    );
    let answer = steadfast(&app, &delivered).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["outcome"], "unmatched");
    let pending = steadfast_status(777001, "INV-NOBODY", "pending", "2026-03-01 09:00:00", 0.0);
    assert_eq!(steadfast(&app, &pending).await.body["outcome"], "unmatched");
    let other = pathao_event(
        "order.picked",
        "DL-ELSEWHERE",
        "X-1",
        "2026-03-01T08:00:00+00:00",
    );
    assert_eq!(pathao(&app, &other).await.body["outcome"], "unmatched");

    // Listed for the order desk, newest first, paginated.
    let listed = app.get("/api/webhooks/couriers/unmatched", &admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let events = listed.body.as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["courier"], "pathao");
    assert_eq!(events[1]["consignmentId"], "777001");
    assert_eq!(events[1]["event"], "pending");
    assert_eq!(events[2]["event"], "delivered");
    assert_eq!(events[2]["eventAt"], "2026-03-01T09:00:00.000Z");
    assert_eq!(events[2]["reference"], "INV-NOBODY");
    assert_eq!(dec(&events[2]["cashAmount"]), Decimal::from(1060));
    assert_eq!(events[2]["payload"]["invoice"], "INV-NOBODY");
    let steadfast_only = app
        .get(
            "/api/webhooks/couriers/unmatched?courier=steadfast&limit=1",
            &admin,
        )
        .await;
    assert_eq!(steadfast_only.body.as_array().unwrap().len(), 1);
    let next = steadfast_only.body[0]["id"].as_i64().unwrap();
    let page = app
        .get(
            &format!("/api/webhooks/couriers/unmatched?courier=steadfast&beforeId={next}"),
            &admin,
        )
        .await;
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    assert_eq!(page.body[0]["event"], "delivered");
    app.get("/api/webhooks/couriers/unmatched?limit=0", &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.get(
        "/api/webhooks/couriers/unmatched",
        &app.staff_token("support-agent"),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.request(Method::GET, "/api/webhooks/couriers/unmatched", None, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let exists: bool = sqlx::query_scalar!(
        r#"select exists (select 1 from sales_orders where id = 8011) as "e!""#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!exists);

    // The shop links the consignment: both events are applied in the courier's time
    // order (pending, then delivered), in the PUT itself.
    let put = app
        .put(
            "/api/orders/8011",
            &app.staff_token("order-desk"),
            json!({ "customerId": friend, "status": "shipped", "totalAmount": 1060,
                    "courier": "steadfast", "consignmentId": "777001" }),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["parcel"]["matchedEvents"], 2);
    assert_eq!(put.body["status"], "delivered");
    assert_eq!(put.body["previousStatus"], Value::Null);
    assert_eq!(put.body["parcel"]["courierStatus"], "delivered");
    assert_eq!(
        put.body["parcel"]["courierUpdatedAt"],
        "2026-03-01T09:00:00.000Z"
    );
    assert_eq!(
        dec(&put.body["parcel"]["cashCollectedAmount"]),
        Decimal::from(1060)
    );
    assert!(put.body["completedReferralId"].is_i64(), "{}", put.body);
    let rows = inbox(&app).await;
    assert_eq!(
        rows.iter()
            .map(|r| (r.event.as_str(), r.outcome.as_str(), r.order_id))
            .collect::<Vec<_>>(),
        [
            ("delivered", "applied", Some(8011)),
            ("pending", "applied", Some(8011)),
            ("order.picked", "unmatched", None),
        ]
    );
    assert_eq!(pending_balance(&app, referrer).await, Decimal::from(100));
    let listed = app.get("/api/webhooks/couriers/unmatched", &admin).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    // Linking again settles nothing more.
    let again = app
        .put(
            "/api/orders/8011",
            &admin,
            json!({ "status": "delivered", "courier": "steadfast", "consignmentId": "777001" }),
        )
        .await;
    assert_eq!(again.body["parcel"]["matchedEvents"], 0);
    assert_eq!(app.events("completed").await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_webhook_finds_the_order_by_the_shops_reference(pool: PgPool) {
    let app = couriers_app(pool).await;
    let admin = app.admin_token();
    let (_, friend) = app.referrer_and_friend(11).await;
    // No consignment linked: the invoice is the shop's order number.
    let put = app
        .put(
            "/api/orders/8012",
            &admin,
            json!({ "customerId": friend, "status": "shipped", "totalAmount": 500,
                    "salesOrderNumber": "TC-2026-0042" }),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert!(put.body.get("parcel").is_none(), "{}", put.body);
    let answer = steadfast(
        &app,
        &steadfast_status(
            4242,
            "TC-2026-0042",
            "delivered",
            "2026-03-01 12:00:00",
            500.0,
        ),
    )
    .await;
    assert_eq!(answer.body["outcome"], "applied", "{}", answer.body);
    let order = order_row(&app, 8012).await;
    assert_eq!(order.status, "delivered");
    // The courier's consignment is linked from now on.
    assert_eq!(order.consignment_id.as_deref(), Some("4242"));

    // Or the order's numeric id, when no order has the reference as its number.
    let (_, friend) = app.referrer_and_friend(12).await;
    app.order(8013, friend, "shipped").await;
    let answer = pathao(
        &app,
        &pathao_event(
            "order.delivered",
            "DL8013",
            "8013",
            "2026-03-01T10:00:00+00:00",
        ),
    )
    .await;
    assert_eq!(answer.body["outcome"], "applied", "{}", answer.body);
    assert_eq!(
        order_row(&app, 8013).await.consignment_id.as_deref(),
        Some("DL8013")
    );

    // An order already linked to another consignment is not claimed by its reference.
    let (_, friend) = app.referrer_and_friend(13).await;
    shipped(&app, 8014, friend, "steadfast", "8014").await;
    let answer = steadfast(
        &app,
        &steadfast_status(99999, "SO-8014", "delivered", "2026-03-01 12:00:00", 500.0),
    )
    .await;
    assert_eq!(answer.body["outcome"], "unmatched", "{}", answer.body);
    assert_eq!(order_row(&app, 8014).await.status, "shipped");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_consignment_belongs_to_one_order(pool: PgPool) {
    let app = couriers_app(pool).await;
    let admin = app.admin_token();
    let (_, friend) = app.referrer_and_friend(14).await;
    shipped(&app, 8015, friend, "pathao", "DL-SHARED").await;
    let before = app.snapshot().await;
    let taken = app
        .put(
            "/api/orders/8016",
            &admin,
            json!({ "customerId": friend, "status": "shipped", "courier": "pathao",
                    "consignmentId": "DL-SHARED" }),
        )
        .await;
    taken.assert_error(StatusCode::CONFLICT, "consignment_taken");
    assert!(taken.body["fields"]["consignmentId"].is_array());
    assert_eq!(
        app.snapshot().await,
        before,
        "the refused order was not recorded"
    );
    // The same id at another courier is another parcel.
    let other = app
        .put(
            "/api/orders/8016",
            &admin,
            json!({ "customerId": friend, "status": "shipped", "courier": "steadfast",
                    "consignmentId": "DL-SHARED" }),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);

    let missing_courier = app
        .put(
            "/api/orders/8017",
            &admin,
            json!({ "status": "shipped", "consignmentId": "123" }),
        )
        .await;
    missing_courier.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(missing_courier.body["fields"]["courier"].is_array());
    let unknown_courier = app
        .put(
            "/api/orders/8017",
            &admin,
            json!({ "status": "shipped", "courier": "redx", "consignmentId": "123" }),
        )
        .await;
    unknown_courier.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let spaced = app
        .put(
            "/api/orders/8017",
            &admin,
            json!({ "status": "shipped", "courier": "pathao", "consignmentId": "has space" }),
        )
        .await;
    spaced.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // A new consignment for the same order (re-shipped) starts the parcel afresh.
    let reshipped = app
        .put(
            "/api/orders/8015",
            &admin,
            json!({ "status": "shipped", "courier": "pathao", "consignmentId": "DL-AGAIN" }),
        )
        .await;
    assert_eq!(reshipped.body["parcel"]["consignmentId"], "DL-AGAIN");
    assert_eq!(reshipped.body["parcel"]["trackingCode"], Value::Null);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn concurrent_duplicate_deliveries_make_one_row_and_one_transition(pool: PgPool) {
    let app = couriers_app(pool).await;
    let (referrer, friend) = app.referrer_and_friend(15).await;
    shipped(&app, 8018, friend, "steadfast", "181818").await;
    let payload = steadfast_status(
        181818,
        "SO-8018",
        "delivered",
        "2026-03-01 12:00:00",
        1060.0,
    );
    let answers = join_all((0..16).map(|_| steadfast(&app, &payload))).await;
    let mut outcomes: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            a.body["outcome"].as_str().unwrap().to_owned()
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "applied").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "duplicate").count(),
        15,
        "{outcomes:?}"
    );
    assert_eq!(inbox(&app).await.len(), 1);
    assert_eq!(app.events("completed").await, 1);
    assert_eq!(
        referral_of(&app, friend).await,
        ("completed".to_owned(), vec!["pending".to_owned()])
    );
    assert_eq!(pending_balance(&app, referrer).await, Decimal::from(100));

    // Many different events of one unmatched consignment at once, then the link: each
    // kept once, all settled once.
    let (_, friend) = app.referrer_and_friend(16).await;
    let events = [
        ("order.picked", "2026-03-01T08:00:00+00:00"),
        ("order.in-transit", "2026-03-01T09:00:00+00:00"),
        ("order.delivered", "2026-03-01T10:00:00+00:00"),
    ];
    let bodies: Vec<Value> = events
        .iter()
        .flat_map(|(event, at)| {
            let body = pathao_event(event, "DL-RACE", "R-1", at);
            [body.clone(), body]
        })
        .collect();
    let answers = join_all(bodies.iter().map(|b| pathao(&app, b))).await;
    assert!(answers.iter().all(|a| a.status == StatusCode::ACCEPTED));
    let put = shipped(&app, 8019, friend, "pathao", "DL-RACE").await;
    assert_eq!(put["parcel"]["matchedEvents"], 3, "{put}");
    assert_eq!(put["status"], "delivered");
    assert_eq!(inbox(&app).await.len(), 4);
    assert_eq!(app.events("completed").await, 2);
    app.check_invariants().await;
}
