//! Signed webhooks out: subscriptions through the real router, events emitted by the real
//! flows (signup, delivery, release, return), delivered by the real dispatcher to a local
//! receiver that checks every signature with its own implementation of docs/WEBHOOKS.md,
//! under failures, timeouts, redirects, rotation, concurrency, and the SSRF guard.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bondhu::config::Config;
use bondhu::service::outbox::RoundCounts;
use bondhu::service::webhooks::dispatcher::{WebhookDispatcher, WebhookRound};
use futures::future::join_all;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;

use crate::helpers::{TestApp, test_config};

const SECRET: &str = "whsec_receiver_secret_1";
const NEW_SECRET: &str = "whsec_receiver_secret_2";
const ALL_EVENTS: [&str; 8] = [
    "referral.registered",
    "referral.completed",
    "reward.pending",
    "reward.released",
    "reward.voided",
    "reward.clawed_back",
    "withdrawal.paid",
    "partner.commission_earned",
];

// ---------------------------------------------------------------------------------------
// The receiver: a shop's endpoint, played by a local server.

/// How the receiver answers one request.
#[derive(Clone, Debug)]
enum Reply {
    /// This status, empty body.
    Status(u16),
    /// 200, after this long (longer than the dispatcher's timeout: never read).
    Slow(Duration),
    /// 307 to this URL.
    Redirect(String),
}

/// A request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    /// Replies to give, in order; then `otherwise`.
    script: VecDeque<Reply>,
    otherwise: Option<Reply>,
    received: Vec<Received>,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = Router::new().fallback(receive).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{address}"),
            state,
        }
    }

    /// The next replies, in order.
    fn script(&self, replies: &[Reply]) {
        self.state.lock().unwrap().script = replies.iter().cloned().collect();
    }

    /// Every reply from now on.
    fn always(&self, reply: Reply) {
        let mut state = self.state.lock().unwrap();
        state.script.clear();
        state.otherwise = Some(reply);
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut state = state.lock().unwrap();
        state.received.push(Received {
            path: uri.path().to_owned(),
            headers,
            body,
        });
        let next = state.script.pop_front();
        next.or_else(|| state.otherwise.clone())
            .unwrap_or(Reply::Status(200))
    };
    match reply {
        Reply::Status(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            StatusCode::OK.into_response()
        }
        Reply::Redirect(location) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
    }
}

/// The receiver's check, written from docs/WEBHOOKS.md: parse `t=` and every `v1=` of
/// `Bondhu-Signature`, refuse a `t` more than 5 minutes from now, compute
/// HMAC-SHA256(secret, "{t}.{raw body}") and compare it in constant time with each `v1=`.
/// Returns the positions of the `v1=` signatures that verify.
fn verify(header: &str, body: &[u8], secret: &str) -> Vec<usize> {
    let mut timestamp: Option<i64> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value.parse().ok(),
            Some(("v1", value)) => signatures.push(value.to_owned()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Vec::new();
    };
    let now = chrono::Utc::now().timestamp();
    if (now - timestamp).abs() > 300 {
        return Vec::new();
    }
    signatures
        .iter()
        .enumerate()
        .filter(|(_, signature)| {
            let Some(expected) = decode_hex(signature) else {
                return false;
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        })
        .map(|(i, _)| i)
        .collect()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

// ---------------------------------------------------------------------------------------
// The harness.

/// A test app, the dispatcher every instance runs, and a receiver.
struct Hooks {
    app: TestApp,
    config: Config,
    dispatcher: WebhookDispatcher,
    receiver: Receiver,
}

impl Hooks {
    /// With `WEBHOOK_ALLOW_PRIVATE=true` (the receiver is on 127.0.0.1) and a 1 s timeout.
    async fn new(pool: PgPool) -> Self {
        Self::with(pool, &[]).await
    }

    async fn with(pool: PgPool, overrides: &[(&str, &str)]) -> Self {
        let mut vars = vec![
            ("WEBHOOK_ALLOW_PRIVATE", "true"),
            ("WEBHOOK_TIMEOUT_SECS", "1"),
        ];
        vars.extend_from_slice(overrides);
        let config = test_config(&vars);
        let dispatcher = WebhookDispatcher::new(&config.webhooks).unwrap();
        Self {
            app: TestApp::with_config(pool, config.clone()).await,
            config,
            dispatcher,
            receiver: Receiver::start().await,
        }
    }

    fn admin(&self) -> String {
        self.app.admin_token()
    }

    /// Subscribes the receiver's `/hook` to `events`; returns the subscription's JSON.
    async fn subscribe(&self, events: &[&str], secret: &str) -> Value {
        let created = self
            .app
            .post(
                "/api/webhooks/subscriptions",
                &self.admin(),
                json!({ "url": format!("{}/hook", self.receiver.url), "events": events, "secret": secret }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body
    }

    /// Runs the dispatcher until nothing is due.
    async fn deliver(&self) -> WebhookRound {
        self.dispatcher.drain(&self.app.pool, 50).await.unwrap()
    }

    /// Makes every queued delivery due now (as if its backoff had passed).
    async fn make_due(&self) {
        sqlx::query!(
            "update webhook_deliveries set next_attempt_at = now() where status = 'queued'"
        )
        .execute(&self.app.pool)
        .await
        .unwrap();
    }

    /// The delivery log of subscription `id`, through the API.
    async fn log(&self, id: i64) -> Vec<Value> {
        let log = self
            .app
            .get(
                &format!("/api/webhooks/subscriptions/{id}/deliveries"),
                &self.admin(),
            )
            .await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        log.body.as_array().unwrap().clone()
    }

    /// The types of the events recorded, in order.
    async fn event_types(&self) -> Vec<String> {
        sqlx::query_scalar!(r#"select type::text as "t!" from outbox_events order by id"#)
            .fetch_all(&self.app.pool)
            .await
            .unwrap()
    }
}

/// Emits `n` test events of `event_type` directly through the SQL writer.
async fn emit(pool: &PgPool, event_type: &str, keys: std::ops::Range<i32>) {
    for n in keys {
        sqlx::query!(
            "select emit_event($1::text::domain_event_type, $2, jsonb_build_object('n', $3::int))",
            event_type,
            format!("test:{event_type}:{n}"),
            n,
        )
        .fetch_one(pool)
        .await
        .unwrap();
    }
}

fn id_of(subscription: &Value) -> i64 {
    subscription["id"].as_i64().unwrap()
}

// ---------------------------------------------------------------------------------------
// Events from the real flows, and their signed deliveries.

#[sqlx::test]
async fn real_flows_emit_events_that_arrive_signed(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let subscription = hooks.subscribe(&ALL_EVENTS, SECRET).await;
    assert_eq!(subscription["active"], true);
    assert_eq!(subscription["secretHint"], "…et_1");
    assert!(
        !subscription.to_string().contains(SECRET),
        "the secret is never returned"
    );

    // A friend registers with the referrer's code, and their first order is delivered.
    let (referrer, friend) = hooks.app.referrer_and_friend(1).await;
    hooks.app.order(1, friend, "delivered").await;
    // The same fact again (the status re-sent) is no new event.
    hooks.app.order(1, friend, "delivered").await;
    let types = hooks.event_types().await;
    assert_eq!(types[0], "referral.registered");
    assert!(
        types.contains(&"referral.completed".to_owned()),
        "{types:?}"
    );
    assert!(types.contains(&"reward.pending".to_owned()), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| *t == "referral.completed").count(),
        1
    );

    let round = hooks.deliver().await;
    assert_eq!(round.delivered as usize, types.len());
    let received = hooks.receiver.received();
    assert_eq!(received.len(), types.len());
    for request in &received {
        assert_eq!(request.path, "/hook");
        assert_eq!(request.header("content-type"), "application/json");
        let body = request.json();
        assert_eq!(
            request.header("bondhu-event-id"),
            body["id"].as_str().unwrap()
        );
        assert_eq!(
            request.header("bondhu-event-type"),
            body["type"].as_str().unwrap()
        );
        assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            verify(request.header("bondhu-signature"), &request.body, SECRET),
            vec![0],
            "{}",
            request.header("bondhu-signature")
        );
        // A signature is of this body: another body does not verify.
        assert!(verify(request.header("bondhu-signature"), b"{}", SECRET).is_empty());
        // No phone ever leaves in a payload.
        let text = String::from_utf8_lossy(&request.body).into_owned();
        assert!(!text.contains("8801"), "{text}");
    }
    let by_type = |t: &str| {
        received
            .iter()
            .map(Received::json)
            .filter(|b| b["type"] == t)
            .collect::<Vec<_>>()
    };
    let registered = &by_type("referral.registered")[0]["data"];
    assert_eq!(registered["referrerCustomerId"], referrer);
    assert_eq!(registered["referredCustomerId"], friend);
    let completed = &by_type("referral.completed")[0]["data"];
    assert_eq!(completed["orderId"], 1);
    assert_eq!(completed["completion"], 1);
    assert!(completed["holdUntil"].as_str().unwrap().ends_with('Z'));
    let pending = by_type("reward.pending");
    let referrer_reward = pending
        .iter()
        .find(|b| b["data"]["side"] == "referrer")
        .unwrap();
    assert_eq!(referrer_reward["data"]["amount"], "100.00");
    assert_eq!(referrer_reward["data"]["customerId"], referrer);
    assert_eq!(referrer_reward["data"]["kind"], "wallet");

    // The hold ends: released. The order comes back after that: clawed back.
    hooks.app.end_holds().await;
    hooks.app.order_status(1, "returned").await;
    // Another friend's order comes back while held: voided.
    let (_, other_friend) = hooks.app.referrer_and_friend(2).await;
    hooks.app.order(2, other_friend, "delivered").await;
    hooks.app.order_status(2, "returned").await;
    hooks.deliver().await;
    let received: Vec<Value> = hooks
        .receiver
        .received()
        .iter()
        .map(Received::json)
        .collect();
    let reward_id = referrer_reward["data"]["rewardId"].clone();
    let of_reward = |t: &str| {
        received
            .iter()
            .filter(|b| b["type"] == t && b["data"]["rewardId"] == reward_id)
            .count()
    };
    assert_eq!(of_reward("reward.released"), 1);
    assert_eq!(of_reward("reward.clawed_back"), 1);
    let voided: Vec<&Value> = received
        .iter()
        .filter(|b| b["type"] == "reward.voided")
        .collect();
    assert!(!voided.is_empty());
    assert_eq!(voided[0]["data"]["reason"], "returned");
    // The reversal sent the referral back to registered: that is no new registration.
    let registrations = received
        .iter()
        .filter(|b| b["type"] == "referral.registered")
        .count();
    assert_eq!(registrations, 2, "one per friend");

    // Each event was delivered once; the log shows every one delivered with its answer.
    let mut ids: Vec<&str> = received.iter().map(|b| b["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), received.len());
    let log = hooks.log(id_of(&subscription)).await;
    assert_eq!(log.len(), received.len());
    for delivery in &log {
        assert_eq!(delivery["status"], "delivered", "{delivery}");
        assert_eq!(delivery["attempts"], 1);
        assert_eq!(delivery["lastStatusCode"], 200);
        assert!(delivery["lastResponseMs"].is_number());
        assert!(delivery["nextAttemptAt"].is_null());
    }
    hooks.app.check_invariants().await;
}

#[sqlx::test]
async fn a_paid_withdrawal_is_an_event(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    hooks.subscribe(&["withdrawal.paid"], SECRET).await;
    let admin = hooks.admin();
    let customer = hooks.app.customer("01712345678", None).await;
    hooks.app.verify_phone(customer, "+8801712345678").await;
    let credited = hooks
        .app
        .post(
            &format!("/api/loyalty/wallet/{customer}/credit"),
            &admin,
            json!({ "amount": 500, "source": "bonus", "idempotencyKey": "seed" }),
        )
        .await;
    assert!(credited.status.is_success(), "{}", credited.body);
    let requested = hooks
        .app
        .post(
            &format!("/api/loyalty/wallet/{customer}/withdrawals"),
            &admin,
            json!({ "amount": 200, "method": "bkash", "account": "01712345678" }),
        )
        .await;
    assert!(requested.status.is_success(), "{}", requested.body);
    // TrustCart sends a withdrawal's id as a string.
    let id = requested.body["id"].as_str().unwrap().to_owned();
    for body in [
        json!({ "status": "approved" }),
        json!({ "status": "paid", "payoutReference": "BK123" }),
    ] {
        let decided = hooks
            .app
            .put(
                &format!("/api/loyalty/wallet/withdrawals/{id}/status"),
                &admin,
                body,
            )
            .await;
        assert!(decided.status.is_success(), "{}", decided.body);
    }
    assert_eq!(hooks.deliver().await.delivered, 1);
    let body = hooks.receiver.received()[0].json();
    assert_eq!(body["type"], "withdrawal.paid");
    assert_eq!(body["data"]["withdrawalId"].to_string(), id);
    assert_eq!(body["data"]["payoutReference"], "BK123");
    assert_eq!(body["data"]["amount"], "200.00");
    assert_eq!(body["data"]["method"], "bkash");
    assert!(body["data"].get("account").is_none(), "no account number");
    hooks.app.check_invariants().await;
}

#[sqlx::test]
async fn the_same_fact_twice_is_one_event_and_one_delivery(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let subscription = hooks.subscribe(&["reward.released"], SECRET).await;
    let first = sqlx::query_scalar!(
        "select emit_event('reward.released', 'reward:999:released', '{\"rewardId\": 999}')"
    )
    .fetch_one(&hooks.app.pool)
    .await
    .unwrap();
    let second = sqlx::query_scalar!(
        "select emit_event('reward.released', 'reward:999:released', '{\"rewardId\": 999}')"
    )
    .fetch_one(&hooks.app.pool)
    .await
    .unwrap();
    assert!(first.is_some());
    assert_eq!(second, None, "a duplicate answers null");
    assert_eq!(hooks.event_types().await.len(), 1);
    assert_eq!(hooks.deliver().await.delivered, 1);
    assert_eq!(hooks.log(id_of(&subscription)).await.len(), 1);
    assert_eq!(
        hooks.receiver.received()[0].header("bondhu-event-id"),
        first.unwrap().to_string()
    );
}

#[sqlx::test]
async fn only_subscribed_types_go_to_active_subscriptions(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    // No subscription: events are recorded all the same (the stream), nothing is queued.
    emit(&hooks.app.pool, "referral.registered", 0..2).await;
    let released = hooks.subscribe(&["reward.released"], SECRET).await;
    emit(&hooks.app.pool, "referral.registered", 2..4).await;
    emit(&hooks.app.pool, "reward.released", 0..3).await;
    assert_eq!(hooks.event_types().await.len(), 7);
    assert_eq!(hooks.deliver().await.delivered, 3);
    assert!(
        hooks
            .receiver
            .received()
            .iter()
            .all(|r| r.header("bondhu-event-type") == "reward.released")
    );

    // Deleted: what was queued is cancelled, nothing new is queued, the log stays.
    emit(&hooks.app.pool, "reward.released", 3..5).await;
    let admin = hooks.admin();
    let id = id_of(&released);
    let deleted = hooks
        .app
        .request(
            Method::DELETE,
            &format!("/api/webhooks/subscriptions/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["active"], false);
    assert_eq!(deleted.body["deactivationReason"], "deleted");
    let again = hooks
        .app
        .request(
            Method::DELETE,
            &format!("/api/webhooks/subscriptions/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["deactivatedAt"], deleted.body["deactivatedAt"]);
    emit(&hooks.app.pool, "reward.released", 5..6).await;
    assert_eq!(hooks.deliver().await.delivered, 0);
    let log = hooks.log(id).await;
    assert_eq!(log.len(), 5);
    assert_eq!(log.iter().filter(|d| d["status"] == "cancelled").count(), 2);
    let cancelled = log.iter().find(|d| d["status"] == "cancelled").unwrap();
    let resent = hooks
        .app
        .post(
            &format!("/api/webhooks/deliveries/{}/resend", cancelled["id"]),
            &admin,
            json!({}),
        )
        .await;
    resent.assert_error(StatusCode::CONFLICT, "webhook_subscription_inactive");
    let rotated = hooks
        .app
        .post(
            &format!("/api/webhooks/subscriptions/{id}/rotate"),
            &admin,
            json!({ "secret": NEW_SECRET }),
        )
        .await;
    rotated.assert_error(StatusCode::CONFLICT, "webhook_subscription_inactive");
}

// ---------------------------------------------------------------------------------------
// Rotation.

#[sqlx::test]
async fn a_rotated_secret_signs_beside_the_old_one_for_a_day(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let subscription = hooks.subscribe(&["reward.released"], SECRET).await;
    let id = id_of(&subscription);
    let admin = hooks.admin();
    let short = hooks
        .app
        .post(
            &format!("/api/webhooks/subscriptions/{id}/rotate"),
            &admin,
            json!({ "secret": "too-short" }),
        )
        .await;
    short.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(short.body["fields"]["secret"].is_array());
    let rotated = hooks
        .app
        .post(
            &format!("/api/webhooks/subscriptions/{id}/rotate"),
            &admin,
            json!({ "secret": NEW_SECRET }),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["secretHint"], "…et_2");
    let expires: chrono::DateTime<chrono::Utc> = rotated.body["previousSecretExpiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "{hours}");
    assert!(!rotated.body.to_string().contains(NEW_SECRET));
    let fetched = hooks
        .app
        .get(&format!("/api/webhooks/subscriptions/{id}"), &admin)
        .await;
    assert_eq!(fetched.body["secretHint"], "…et_2");
    assert!(!fetched.body.to_string().contains(SECRET));

    emit(&hooks.app.pool, "reward.released", 0..1).await;
    hooks.deliver().await;
    let request = &hooks.receiver.received()[0];
    let signature = request.header("bondhu-signature");
    assert_eq!(signature.matches("v1=").count(), 2, "{signature}");
    // The new secret's signature first; each receiver finds its own.
    assert_eq!(verify(signature, &request.body, NEW_SECRET), vec![0]);
    assert_eq!(verify(signature, &request.body, SECRET), vec![1]);

    // After the overlap only the new secret signs.
    sqlx::query!(
        "update webhook_subscriptions set previous_secret_expires_at = now() - interval '1 second'"
    )
    .execute(&hooks.app.pool)
    .await
    .unwrap();
    emit(&hooks.app.pool, "reward.released", 1..2).await;
    hooks.deliver().await;
    let request = &hooks.receiver.received()[1];
    let signature = request.header("bondhu-signature");
    assert_eq!(signature.matches("v1=").count(), 1, "{signature}");
    assert_eq!(verify(signature, &request.body, NEW_SECRET), vec![0]);
    assert!(verify(signature, &request.body, SECRET).is_empty());
}

// ---------------------------------------------------------------------------------------
// Failures, retries, the window, re-sends.

#[sqlx::test]
async fn errors_and_timeouts_are_retried_with_backoff_until_delivered(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let subscription = hooks.subscribe(&["reward.released"], SECRET).await;
    emit(&hooks.app.pool, "reward.released", 0..1).await;
    hooks
        .receiver
        .script(&[Reply::Status(500), Reply::Slow(Duration::from_secs(3))]);

    assert_eq!(hooks.deliver().await.retried, 1);
    let log = hooks.log(id_of(&subscription)).await;
    assert_eq!(log[0]["status"], "queued");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["lastStatusCode"], 500);
    assert!(
        log[0]["lastError"].as_str().unwrap().contains("500"),
        "{}",
        log[0]
    );
    // Not due again before its backoff (at least half of the 30 s base).
    let next: chrono::DateTime<chrono::Utc> =
        log[0]["nextAttemptAt"].as_str().unwrap().parse().unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::seconds(14));
    assert_eq!(hooks.deliver().await.total(), 0);

    // The receiver takes longer than WEBHOOK_TIMEOUT_SECS: a timeout, retried.
    hooks.make_due().await;
    assert_eq!(hooks.deliver().await.retried, 1);
    let log = hooks.log(id_of(&subscription)).await;
    assert!(
        log[0]["lastError"].as_str().unwrap().contains("timed out"),
        "{}",
        log[0]
    );
    assert!(log[0]["lastStatusCode"].is_null());
    // The second wait is longer than the first could be (base × 2, jittered over its upper
    // half: at least 30 s).
    let next: chrono::DateTime<chrono::Utc> =
        log[0]["nextAttemptAt"].as_str().unwrap().parse().unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::seconds(29));

    hooks.make_due().await;
    assert_eq!(hooks.deliver().await.delivered, 1);
    let log = hooks.log(id_of(&subscription)).await;
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 3);
    assert!(log[0]["lastError"].is_null());
    // Every attempt carried the same event id, each freshly signed.
    let received = hooks.receiver.received();
    assert_eq!(received.len(), 3);
    let event_id = received[0].header("bondhu-event-id").to_owned();
    for request in &received {
        assert_eq!(request.header("bondhu-event-id"), event_id);
        assert_eq!(
            verify(request.header("bondhu-signature"), &request.body, SECRET),
            vec![0]
        );
    }
}

#[sqlx::test]
async fn a_delivery_dies_after_its_window_and_can_be_resent(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let subscription = hooks.subscribe(&["reward.released"], SECRET).await;
    let id = id_of(&subscription);
    emit(&hooks.app.pool, "reward.released", 0..1).await;
    hooks.receiver.always(Reply::Status(503));
    assert_eq!(hooks.deliver().await.retried, 1);
    // A day later it still fails: given up.
    sqlx::query!(
        "update webhook_deliveries set window_started_at = now() - interval '25 hours',
                next_attempt_at = now()"
    )
    .execute(&hooks.app.pool)
    .await
    .unwrap();
    assert_eq!(hooks.deliver().await.dead, 1);
    let dead = &hooks.log(id).await[0];
    assert_eq!(dead["status"], "dead");
    assert_eq!(dead["attempts"], 2);
    assert_eq!(dead["lastStatusCode"], 503);
    let dead_only = hooks
        .app
        .get(
            &format!("/api/webhooks/subscriptions/{id}/deliveries?status=dead"),
            &hooks.admin(),
        )
        .await;
    assert_eq!(dead_only.body.as_array().unwrap().len(), 1);
    let bad_status = hooks
        .app
        .get(
            &format!("/api/webhooks/subscriptions/{id}/deliveries?status=lost"),
            &hooks.admin(),
        )
        .await;
    bad_status.assert_error(StatusCode::BAD_REQUEST, "invalid_query");

    // The shop fixed its endpoint; an operator sends it again: a new attempt, same event.
    hooks.receiver.always(Reply::Status(200));
    let admin = hooks.admin();
    let delivery = dead["id"].as_i64().unwrap();
    let resent = hooks
        .app
        .post(
            &format!("/api/webhooks/deliveries/{delivery}/resend"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(resent.status, StatusCode::ACCEPTED, "{}", resent.body);
    assert_eq!(resent.body["status"], "queued");
    assert_eq!(resent.body["eventId"], dead["eventId"]);
    // Queued: not re-sendable until it is finished.
    let twice = hooks
        .app
        .post(
            &format!("/api/webhooks/deliveries/{delivery}/resend"),
            &admin,
            json!({}),
        )
        .await;
    twice.assert_error(StatusCode::CONFLICT, "webhook_delivery_not_resendable");
    assert_eq!(hooks.deliver().await.delivered, 1);
    let delivered = &hooks.log(id).await[0];
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["attempts"], 3, "the attempts keep counting");
    // A delivered one may be sent again too (a receiver that lost it).
    let again = hooks
        .app
        .post(
            &format!("/api/webhooks/deliveries/{delivery}/resend"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(hooks.deliver().await.delivered, 1);
    let received = hooks.receiver.received();
    assert_eq!(received.len(), 4);
    assert!(
        received
            .iter()
            .all(|r| r.header("bondhu-event-id") == dead["eventId"].as_str().unwrap())
    );
    let unknown = hooks
        .app
        .post("/api/webhooks/deliveries/999999/resend", &admin, json!({}))
        .await;
    unknown.assert_error(StatusCode::NOT_FOUND, "webhook_delivery_not_found");
}

#[sqlx::test]
async fn gone_deactivates_the_subscription(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let subscription = hooks.subscribe(&["reward.released"], SECRET).await;
    let id = id_of(&subscription);
    emit(&hooks.app.pool, "reward.released", 0..1).await;
    hooks.receiver.always(Reply::Status(410));
    assert_eq!(hooks.deliver().await.dead, 1);
    let fetched = hooks
        .app
        .get(&format!("/api/webhooks/subscriptions/{id}"), &hooks.admin())
        .await;
    assert_eq!(fetched.body["active"], false);
    assert_eq!(fetched.body["deactivationReason"], "gone");
    emit(&hooks.app.pool, "reward.released", 1..2).await;
    assert_eq!(hooks.deliver().await.total(), 0);
    assert_eq!(hooks.receiver.received().len(), 1);
}

#[sqlx::test]
async fn several_dispatchers_at_once_deliver_each_delivery_once(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    hooks.subscribe(&["referral.registered"], SECRET).await;
    hooks.subscribe(&["referral.registered"], NEW_SECRET).await;
    emit(&hooks.app.pool, "referral.registered", 0..40).await;
    let rounds = join_all((0..4).map(|_| hooks.deliver())).await;
    let delivered: u32 = rounds.iter().map(|r| r.delivered).sum();
    assert_eq!(delivered, 80);
    let received = hooks.receiver.received();
    assert_eq!(received.len(), 80, "no delivery was sent twice");
    let mut per_event: HashMap<String, usize> = HashMap::new();
    for request in &received {
        *per_event
            .entry(request.header("bondhu-event-id").to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_event.len(), 40);
    assert!(per_event.values().all(|n| *n == 2), "one per subscription");
    let attempts = sqlx::query_scalar!(
        r#"select count(*) as "n!" from webhook_deliveries where attempts <> 1 or status <> 'delivered'"#
    )
    .fetch_one(&hooks.app.pool)
    .await
    .unwrap();
    assert_eq!(attempts, 0);
}

// ---------------------------------------------------------------------------------------
// The SSRF guard.

async fn create(app: &TestApp, url: &str) -> crate::helpers::TestResponse {
    app.post(
        "/api/webhooks/subscriptions",
        &app.admin_token(),
        json!({ "url": url, "events": ["reward.released"], "secret": SECRET }),
    )
    .await
}

#[sqlx::test]
async fn link_local_and_metadata_addresses_are_always_refused(pool: PgPool) {
    let hooks = Hooks::new(pool).await; // WEBHOOK_ALLOW_PRIVATE=true
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.10.1/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://2852039166/hook", // 169.254.169.254 as one number
    ] {
        let refused = create(&hooks.app, url).await;
        refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "webhook_url_refused");
        assert!(refused.body["fields"]["url"].is_array(), "{}", refused.body);
    }
    // A private address is fine here (the receiver is one).
    let allowed = create(&hooks.app, &format!("{}/hook", hooks.receiver.url)).await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.body);
}

#[sqlx::test]
async fn private_and_loopback_addresses_are_refused_unless_allowed(pool: PgPool) {
    let app = TestApp::with_config(pool, test_config(&[("WEBHOOK_ALLOW_PRIVATE", "false")])).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.10/hook",
        "http://100.64.0.1/hook",
        "http://[fd12:3456::1]/hook",
        // A name that resolves to loopback.
        "http://localhost:8080/hook",
        "http://169.254.169.254/",
    ] {
        let refused = create(&app, url).await;
        refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "webhook_url_refused");
    }
    let refused = create(&app, "http://localhost:8080/hook").await;
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("localhost resolves to"), "{message}");
    assert!(message.contains("loopback"), "{message}");
    let unresolvable = create(&app, "http://no-such-host.invalid/hook").await;
    unresolvable.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "webhook_url_unresolvable");
    let count = sqlx::query_scalar!(r#"select count(*) as "n!" from webhook_subscriptions"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing was saved");
}

#[sqlx::test]
async fn a_redirect_to_the_metadata_address_is_refused_at_send_time(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let subscription = hooks.subscribe(&["reward.released"], SECRET).await;
    emit(&hooks.app.pool, "reward.released", 0..1).await;
    hooks.receiver.script(&[Reply::Redirect(
        "http://169.254.169.254/latest/meta-data/iam/".to_owned(),
    )]);
    assert_eq!(hooks.deliver().await.retried, 1);
    assert_eq!(
        hooks.receiver.received().len(),
        1,
        "the redirect was not followed"
    );
    let log = hooks.log(id_of(&subscription)).await;
    let error = log[0]["lastError"].as_str().unwrap();
    assert!(error.contains("refused"), "{error}");
    assert!(error.contains("169.254.169.254"), "{error}");
    assert!(error.contains("always refused"), "{error}");

    // A redirect to an allowed address is followed (here: the receiver itself).
    hooks.make_due().await;
    hooks
        .receiver
        .script(&[Reply::Redirect(format!("{}/moved", hooks.receiver.url))]);
    assert_eq!(hooks.deliver().await.delivered, 1);
    let received = hooks.receiver.received();
    assert_eq!(received.last().unwrap().path, "/moved");
    // 307 keeps the method, the body and its signature.
    let moved = received.last().unwrap();
    assert_eq!(
        verify(moved.header("bondhu-signature"), &moved.body, SECRET),
        vec![0]
    );

    // More than three redirects in a row are not followed.
    hooks
        .receiver
        .always(Reply::Redirect(format!("{}/again", hooks.receiver.url)));
    emit(&hooks.app.pool, "reward.released", 1..2).await;
    assert_eq!(hooks.deliver().await.retried, 1);
    let log = hooks.log(id_of(&subscription)).await;
    assert!(
        log[0]["lastError"].as_str().unwrap().contains("redirects"),
        "{}",
        log[0]
    );
}

#[sqlx::test]
async fn a_name_that_now_resolves_inside_is_refused_at_send_time(pool: PgPool) {
    // Subscribed while private addresses were allowed; an instance that does not allow
    // them refuses the attempt after resolving `localhost`, and never connects.
    let hooks = Hooks::new(pool).await;
    let url = format!("http://localhost:{}/hook", hooks.receiver.port());
    let created = hooks
        .app
        .post(
            "/api/webhooks/subscriptions",
            &hooks.admin(),
            json!({ "url": url, "events": ["reward.released"], "secret": SECRET }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    emit(&hooks.app.pool, "reward.released", 0..1).await;
    let mut strict = hooks.config.clone();
    strict.webhooks.allow_private = false;
    let strict = WebhookDispatcher::new(&strict.webhooks).unwrap();
    assert_eq!(strict.drain(&hooks.app.pool, 5).await.unwrap().retried, 1);
    assert!(hooks.receiver.received().is_empty());
    let log = hooks.log(id_of(&created.body)).await;
    let error = log[0]["lastError"].as_str().unwrap();
    assert!(error.contains("localhost resolves to"), "{error}");
    assert!(error.contains("loopback"), "{error}");
    // The lenient instance delivers it (same URL, same name).
    hooks.make_due().await;
    assert_eq!(hooks.deliver().await.delivered, 1);
}

// ---------------------------------------------------------------------------------------
// Bad input and authorisation.

#[sqlx::test]
async fn bad_input_is_refused_with_the_envelope(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let admin = hooks.admin();
    let good_url = format!("{}/hook", hooks.receiver.url);
    let post = |body: Value| {
        let admin = admin.clone();
        let app = hooks.app.clone();
        async move { app.post("/api/webhooks/subscriptions", &admin, body).await }
    };
    for (body, field) in [
        (
            json!({ "url": "not a url", "events": ["reward.released"], "secret": SECRET }),
            "url",
        ),
        (
            json!({ "url": "ftp://shop.example/hook", "events": ["reward.released"], "secret": SECRET }),
            "url",
        ),
        (
            json!({ "url": "https://user:pw@shop.example/hook", "events": ["reward.released"], "secret": SECRET }),
            "url",
        ),
        (
            json!({ "url": good_url, "events": ["reward.paid"], "secret": SECRET }),
            "events",
        ),
        (
            json!({ "url": good_url, "events": [], "secret": SECRET }),
            "events",
        ),
        (
            json!({ "url": good_url, "events": ["reward.released"], "secret": "short" }),
            "secret",
        ),
        (
            json!({ "url": good_url, "events": ["reward.released"], "secret": "x".repeat(201) }),
            "secret",
        ),
    ] {
        let refused = post(body.clone()).await;
        refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            refused.body["fields"][field].is_array(),
            "{body}: {}",
            refused.body
        );
        assert!(
            !refused.body.to_string().contains(SECRET),
            "the secret is never echoed"
        );
    }
    // Every problem at once.
    let all = post(json!({ "url": "nope", "events": ["x"], "secret": "s" })).await;
    assert_eq!(
        all.body["fields"].as_object().unwrap().len(),
        3,
        "{}",
        all.body
    );
    // Wrong shapes.
    for body in [
        json!({ "url": good_url, "events": "reward.released", "secret": SECRET }),
        json!({ "url": good_url, "secret": SECRET }),
        json!({ "url": good_url, "events": ["reward.released"], "secret": SECRET, "active": false }),
    ] {
        post(body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    }
    let malformed = hooks
        .app
        .raw(
            Method::POST,
            "/api/webhooks/subscriptions",
            Some(&admin),
            Some("{"),
            Some("application/json"),
        )
        .await;
    malformed.assert_error(StatusCode::BAD_REQUEST, "malformed_json");
    let limit = hooks
        .app
        .get("/api/webhooks/subscriptions?limit=0", &admin)
        .await;
    limit.assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    let missing = hooks
        .app
        .get("/api/webhooks/subscriptions/999999", &admin)
        .await;
    missing.assert_error(StatusCode::NOT_FOUND, "webhook_subscription_not_found");
    let missing_log = hooks
        .app
        .get("/api/webhooks/subscriptions/999999/deliveries", &admin)
        .await;
    missing_log.assert_error(StatusCode::NOT_FOUND, "webhook_subscription_not_found");
    let count = sqlx::query_scalar!(r#"select count(*) as "n!" from webhook_subscriptions"#)
        .fetch_one(&hooks.app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing was saved");
}

#[sqlx::test]
async fn subscriptions_are_listed_newest_first_by_seek(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(id_of(&hooks.subscribe(&["reward.released"], SECRET).await));
    }
    let admin = hooks.admin();
    let first = hooks
        .app
        .get("/api/webhooks/subscriptions?limit=2", &admin)
        .await;
    let page: Vec<i64> = first
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page, vec![ids[2], ids[1]]);
    let next = hooks
        .app
        .get(
            &format!("/api/webhooks/subscriptions?limit=2&beforeId={}", ids[1]),
            &admin,
        )
        .await;
    assert_eq!(next.body.as_array().unwrap().len(), 1);
    assert_eq!(next.body[0]["id"], ids[0]);
    assert_eq!(next.body[0]["events"], json!(["reward.released"]));
    assert!(!next.body.to_string().contains(SECRET));
}

#[sqlx::test]
async fn only_staff_who_manage_settings_reach_webhooks(pool: PgPool) {
    let hooks = Hooks::new(pool).await;
    let subscription = hooks.subscribe(&["reward.released"], SECRET).await;
    let id = id_of(&subscription);
    emit(&hooks.app.pool, "reward.released", 0..1).await;
    let delivery = hooks.log(id).await[0]["id"].as_i64().unwrap();
    let customer = hooks.app.customer("01712345678", None).await;
    let create = json!({ "url": format!("{}/hook", hooks.receiver.url), "events": ["reward.released"], "secret": SECRET });
    let routes = vec![
        (
            Method::POST,
            "/api/webhooks/subscriptions".to_owned(),
            Some(create),
        ),
        (Method::GET, "/api/webhooks/subscriptions".to_owned(), None),
        (
            Method::GET,
            format!("/api/webhooks/subscriptions/{id}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/webhooks/subscriptions/{id}/rotate"),
            Some(json!({ "secret": NEW_SECRET })),
        ),
        (
            Method::GET,
            format!("/api/webhooks/subscriptions/{id}/deliveries"),
            None,
        ),
        (
            Method::POST,
            format!("/api/webhooks/deliveries/{delivery}/resend"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/webhooks/subscriptions/{id}"),
            None,
        ),
    ];
    let customer_token = hooks.app.customer_token(customer);
    let support = hooks.app.staff_token("support-agent");
    for (method, path, body) in &routes {
        let anonymous = hooks
            .app
            .request(method.clone(), path, None, body.clone())
            .await;
        anonymous.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
        for token in [&customer_token, &support] {
            let refused = hooks
                .app
                .request(method.clone(), path, Some(token), body.clone())
                .await;
            refused.assert_error(StatusCode::FORBIDDEN, "forbidden");
        }
    }
    // A marketing manager (manage-mlm-settings) passes every one.
    let manager = hooks.app.staff_token("marketing-manager");
    for (method, path, body) in routes {
        let passed = hooks
            .app
            .request(method.clone(), &path, Some(&manager), body)
            .await;
        assert!(
            passed.status.is_success() || passed.status == StatusCode::CONFLICT,
            "{method} {path}: {} {}",
            passed.status,
            passed.body
        );
    }
}
