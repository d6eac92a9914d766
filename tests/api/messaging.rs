//! Messages through the outbox: queued with the change that causes them, sent by the real
//! dispatcher through the real provider clients to local servers that play SSL Wireless
//! and the WhatsApp Cloud API, under failure, concurrency and crashes.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use bondhu::service::outbox::RoundCounts;
use futures::future::join_all;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;

use crate::gateways::{Mode, WHATSAPP_PHONE_ID, WHATSAPP_TOKEN, WhatsappCloud, nothing_listening};
use crate::helpers::{TestApp, test_config};

const APP_SECRET: &str = "whatsapp-app-secret";
const VERIFY_TOKEN: &str = "verify-me";

/// One outbox row, as the tests read it.
#[derive(Debug)]
struct Row {
    id: i64,
    kind: String,
    status: String,
    attempts: i32,
    body: Option<String>,
    segments: Option<i32>,
    encoding: Option<String>,
    channel: Option<String>,
    last_error: Option<String>,
    suppressed_reason: Option<String>,
    provider_message_id: Option<String>,
    params: Value,
}

async fn rows(app: &TestApp) -> Vec<Row> {
    sqlx::query_as!(
        Row,
        r#"select id, kind::text as "kind!", status::text as "status!", attempts, body, segments,
                  encoding, channel::text as channel, last_error, suppressed_reason,
                  provider_message_id, params
           from outbound_messages order by id"#
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn rows_of(app: &TestApp, kind: &str) -> Vec<Row> {
    rows(app)
        .await
        .into_iter()
        .filter(|r| r.kind == kind)
        .collect()
}

/// Makes every queued message due now (as if its backoff had passed).
async fn make_due(app: &TestApp) {
    sqlx::query!("update outbound_messages set next_attempt_at = now() where status = 'queued'")
        .execute(&app.pool)
        .await
        .unwrap();
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// A test app whose WhatsApp messages go to `cloud`.
async fn whatsapp_app(pool: PgPool, cloud: &WhatsappCloud) -> TestApp {
    TestApp::with_config(
        pool,
        test_config(&[
            ("WHATSAPP_API_URL", &cloud.url),
            ("WHATSAPP_ACCESS_TOKEN", WHATSAPP_TOKEN),
            ("WHATSAPP_PHONE_NUMBER_ID", WHATSAPP_PHONE_ID),
            ("WHATSAPP_APP_SECRET", APP_SECRET),
            ("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN),
        ]),
    )
    .await
}

/// Names an approved WhatsApp template for the share nudge, as an operator would.
async fn approve_share_nudge_on_whatsapp(app: &TestApp) {
    let admin = app.admin_token();
    let templates = app.get("/api/message-templates", &admin).await;
    let nudge = templates
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "share_nudge")
        .unwrap()
        .clone();
    let saved = app
        .put(
            "/api/message-templates/share_nudge",
            &admin,
            json!({ "bn": nudge["bn"], "en": nudge["en"], "whatsappTemplateName": "share_nudge_v1" }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
}

#[sqlx::test]
async fn a_delivered_order_nudges_the_customer_to_share_in_bangla(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let customer = app.customer("01712345678", None).await;
    // Queued in the delivery's own transaction: the order and the message commit together.
    app.order(1, customer, "processing").await;
    assert!(rows(&app).await.is_empty(), "only a delivery nudges");
    app.order(1, customer, "delivered").await;
    // Delivered again (a duplicate webhook): still one nudge.
    app.order_status(1, "delivered").await;
    let queued = rows(&app).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].kind.as_str(), queued[0].status.as_str()),
        ("share_nudge", "queued")
    );

    let round = app.dispatch().await;
    assert_eq!(round.sent, 1);
    let sms = app.sms.to("+8801712345678");
    assert_eq!(sms.len(), 1);
    let code = format!("REF{customer:06}");
    let link = format!("http://localhost:3001/r/{code}?ch=sms");
    // The code first, because previews cut the end.
    assert!(sms[0].text.starts_with(&code), "{}", sms[0].text);
    assert!(sms[0].text.contains(&link), "{}", sms[0].text);
    assert!(
        sms[0].text.contains("আপনার অর্ডার পৌঁছে গেছে"),
        "{}",
        sms[0].text
    );
    let sent = &rows(&app).await[0];
    assert_eq!(sent.status, "sent");
    assert_eq!(sent.channel.as_deref(), Some("sms"));
    assert_eq!(sent.encoding.as_deref(), Some("ucs2"));
    let units = sms[0].text.encode_utf16().count();
    assert_eq!(
        sent.segments,
        Some(units.div_ceil(67) as i32),
        "{units} UTF-16 units"
    );
    assert_eq!(
        sent.provider_message_id.as_deref(),
        Some(format!("ref-{}", sms[0].csms_id).as_str())
    );
    // Nothing is left to send.
    assert_eq!(app.dispatch().await.sent, 0);
}

#[sqlx::test]
async fn customers_opt_out_and_choose_their_language(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let customer = app.customer("01712345678", None).await;
    let token = app.customer_token(customer);
    let english = app
        .post(
            "/api/loyalty/me/messaging",
            &token,
            json!({ "language": "en" }),
        )
        .await;
    assert_eq!(english.status, StatusCode::OK, "{}", english.body);
    assert_eq!(english.body["language"], "en");
    assert_eq!(english.body["optOut"], false);
    app.order(1, customer, "delivered").await;
    app.dispatch().await;
    let sms = app.sms.to("+8801712345678");
    assert!(
        sms[0].text.contains("your order has arrived"),
        "{}",
        sms[0].text
    );
    let gsm = &rows(&app).await[0];
    assert_eq!(gsm.encoding.as_deref(), Some("gsm7"));

    let out = app
        .post(
            "/api/loyalty/me/messaging",
            &token,
            json!({ "optOut": true }),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_eq!(out.body["optOut"], true);
    assert!(out.body["optedOutAt"].is_string());
    app.order(2, customer, "delivered").await;
    app.dispatch().await;
    let second = &rows(&app).await[1];
    assert_eq!(second.status, "suppressed");
    assert_eq!(second.suppressed_reason.as_deref(), Some("opted_out"));
    assert_eq!(
        app.sms.to("+8801712345678").len(),
        1,
        "nothing more was sent"
    );

    // Bad input changes nothing.
    for body in [
        json!({}),
        json!({ "language": "fr" }),
        json!({ "optOut": "yes" }),
    ] {
        let refused = app.post("/api/loyalty/me/messaging", &token, body).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.body
        );
    }
    // Staff have no phone to opt out.
    let staff = app
        .post(
            "/api/loyalty/me/messaging",
            &app.admin_token(),
            json!({ "optOut": true }),
        )
        .await;
    staff.assert_error(StatusCode::FORBIDDEN, "forbidden");
}

#[sqlx::test]
async fn share_nudges_wait_share_nudge_days_and_the_daily_cap_is_a_recorded_reason(pool: PgPool) {
    let app = TestApp::with_config(pool, test_config(&[("MESSAGE_DAILY_CAP", "2")])).await;
    let customer = app.customer("01712345678", None).await;
    app.order(1, customer, "delivered").await;
    app.order(2, customer, "delivered").await;
    app.dispatch().await;
    let nudges = rows(&app).await;
    assert_eq!(nudges[0].status, "sent");
    assert_eq!(nudges[1].status, "suppressed");
    assert_eq!(
        nudges[1].suppressed_reason.as_deref(),
        Some("nudged_recently")
    );

    // The cap counts every message to the phone today, whatever its kind.
    let (referrer, friend) = (
        customer,
        app.customer("01812345678", Some(&format!("REF{customer:06}")))
            .await,
    );
    app.order(3, friend, "delivered").await; // completes: the referrer is told (2nd today)
    app.dispatch().await;
    let completed = rows_of(&app, "referral_completed").await;
    assert_eq!(completed[0].status, "sent", "{completed:?}");
    app.end_holds().await; // released: the referrer would be told a 3rd time
    app.dispatch().await;
    let released = rows_of(&app, "reward_released").await;
    assert_eq!(released[0].status, "suppressed");
    assert_eq!(released[0].suppressed_reason.as_deref(), Some("daily_cap"));
    assert_eq!(app.sms.to("+8801712345678").len(), 2);
    // Verification codes are not capped: the customer asked for this one.
    app.verify_phone(referrer, "+8801712345678").await;
    assert_eq!(app.sms.to("+8801712345678").len(), 3);
    app.check_invariants().await;
}

#[sqlx::test]
async fn the_referrer_hears_of_completion_and_release_in_their_language(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (referrer, friend) = app.referrer_and_friend(1).await;
    app.order(10, friend, "delivered").await;
    app.dispatch().await;
    let to_referrer = app.sms.to("+8801710000001");
    assert_eq!(to_referrer.len(), 1, "{to_referrer:?}");
    let code = format!("REF{referrer:06}");
    assert!(
        to_referrer[0].text.starts_with(&format!("{code}:")),
        "{}",
        to_referrer[0].text
    );
    // ৳100 in Bengali digits.
    assert!(
        to_referrer[0].text.contains("৳১০০"),
        "{}",
        to_referrer[0].text
    );
    assert!(
        to_referrer[0].text.contains("Test"),
        "the friend's first name: {}",
        to_referrer[0].text
    );

    let token = app.customer_token(referrer);
    app.post(
        "/api/loyalty/me/messaging",
        &token,
        json!({ "language": "en" }),
    )
    .await;
    assert_eq!(app.end_holds().await, 1);
    app.dispatch().await;
    let to_referrer = app.sms.to("+8801710000001");
    assert_eq!(to_referrer.len(), 2);
    assert!(
        to_referrer[1]
            .text
            .contains("৳100 has been added to your wallet"),
        "{}",
        to_referrer[1].text
    );
    // The friend got a share nudge of their own for their delivered order.
    assert_eq!(app.sms.to("+8801810000001").len(), 1);
    app.check_invariants().await;
}

#[sqlx::test]
async fn a_hold_of_zero_tells_the_release_only(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let campaigns = app.get("/api/loyalty/referral-campaigns", &admin).await;
    let default = campaigns
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["is_default"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let updated = app
        .put(
            &format!("/api/loyalty/referral-campaigns/{default}"),
            &admin,
            json!({ "rewardHold": "0" }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let (_, friend) = app.referrer_and_friend(2).await;
    app.order(10, friend, "delivered").await;
    app.dispatch().await;
    let completed = &rows_of(&app, "referral_completed").await[0];
    assert_eq!(completed.suppressed_reason.as_deref(), Some("superseded"));
    let released = &rows_of(&app, "reward_released").await[0];
    assert_eq!(released.status, "sent");
    assert_eq!(app.sms.to("+8801710000002").len(), 1);
}

#[sqlx::test]
async fn a_provider_that_is_down_is_retried_with_backoff_then_dead_lettered(pool: PgPool) {
    let down = nothing_listening().await;
    let app = TestApp::with_config(
        pool,
        test_config(&[
            ("SMS_API_URL", &down),
            ("SMS_API_TOKEN", crate::gateways::SMS_TOKEN),
            ("SMS_SID", crate::gateways::SMS_SID),
            ("MESSAGE_MAX_ATTEMPTS", "3"),
        ]),
    )
    .await;
    let customer = app.customer("01712345678", None).await;
    app.order(1, customer, "delivered").await;
    let first = app.dispatch().await;
    assert_eq!(first.retried, 1);
    let row = &rows(&app).await[0];
    assert_eq!((row.status.as_str(), row.attempts), ("queued", 1));
    assert!(
        row.last_error.as_deref().unwrap().contains("ssl_wireless"),
        "{row:?}"
    );
    // Not due again before its backoff (at least half of the 30 s base).
    let waiting = sqlx::query_scalar!(
        r#"select next_attempt_at > now() + interval '14 seconds' as "later!" from outbound_messages"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(waiting);
    assert_eq!(app.dispatch().await.total(), 0);
    make_due(&app).await;
    assert_eq!(app.dispatch().await.retried, 1);
    make_due(&app).await;
    assert_eq!(
        app.dispatch().await.dead,
        1,
        "the third attempt is the last"
    );
    let dead = &rows(&app).await[0];
    assert_eq!((dead.status.as_str(), dead.attempts), ("dead", 3));
    assert!(dead.last_error.is_some());

    // An operator sees it among the dead and sends it again (here, to the same dead end).
    let admin = app.admin_token();
    let listed = app.get("/api/messages?status=dead", &admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["phone"], "+880*******678");
    let id = dead.id;
    let retried = app
        .post(&format!("/api/messages/{id}/retry"), &admin, json!({}))
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.body);
    let again = &rows(&app).await[0];
    assert_eq!((again.status.as_str(), again.attempts), ("queued", 0));
    // Only a dead message can be retried.
    let twice = app
        .post(&format!("/api/messages/{id}/retry"), &admin, json!({}))
        .await;
    twice.assert_error(StatusCode::CONFLICT, "message_not_retryable");
    let unknown = app
        .post("/api/messages/999999/retry", &admin, json!({}))
        .await;
    unknown.assert_error(StatusCode::NOT_FOUND, "message_not_found");
}

#[sqlx::test]
async fn provider_errors_are_retried_or_final_as_documented(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let customer = app.customer("01712345678", None).await;
    // A 5xx (a proxy's page): retried, then sent once the gateway is back.
    app.sms.set_mode(Mode::ServerError);
    app.order(1, customer, "delivered").await;
    assert_eq!(app.dispatch().await.retried, 1);
    app.sms.set_mode(Mode::Accept);
    make_due(&app).await;
    assert_eq!(app.dispatch().await.sent, 1);
    assert_eq!(rows(&app).await[0].attempts, 2);

    // A rate limit is retried; an invalid number is final at once.
    let other = app.customer("01812345678", None).await;
    app.sms
        .set_mode(Mode::Refuse(200, 4029, "Too many requests"));
    app.order(2, other, "delivered").await;
    assert_eq!(app.dispatch().await.retried, 1);
    app.sms.set_mode(Mode::Refuse(200, 4025, "Invalid MSISDN"));
    make_due(&app).await;
    assert_eq!(app.dispatch().await.dead, 1);
    let dead = &rows(&app).await[1];
    assert_eq!(dead.status, "dead");
    assert!(
        dead.last_error
            .as_deref()
            .unwrap()
            .contains("Invalid MSISDN"),
        "{dead:?}"
    );
    assert!(
        !dead
            .last_error
            .as_deref()
            .unwrap()
            .contains(crate::gateways::SMS_TOKEN)
    );
}

#[sqlx::test]
async fn a_slow_provider_times_out_and_the_resend_is_deduplicated(pool: PgPool) {
    let app = TestApp::with_config(pool, test_config(&[("MESSAGE_SEND_TIMEOUT_SECS", "1")])).await;
    let customer = app.customer("01712345678", None).await;
    app.sms.set_mode(Mode::Slow(Duration::from_secs(3)));
    app.order(1, customer, "delivered").await;
    // The gateway took the message but answered too late: retryable.
    assert_eq!(app.dispatch().await.retried, 1);
    assert_eq!(app.sms.accepted().len(), 1);
    app.sms.set_mode(Mode::Accept);
    make_due(&app).await;
    // The resend carries the same csms_id: the gateway answers "duplicate", which is sent.
    assert_eq!(app.dispatch().await.sent, 1);
    assert_eq!(app.sms.requests(), 2);
    assert_eq!(app.sms.accepted().len(), 1, "the customer got one SMS");
    assert_eq!(rows(&app).await[0].status, "sent");
}

#[sqlx::test]
async fn a_crash_between_sending_and_marking_sends_at_most_one_duplicate(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    app.set_lease(Duration::from_secs(1));
    let customer = app.customer("01712345678", None).await;
    app.sms.set_mode(Mode::Slow(Duration::from_secs(5)));
    app.order(1, customer, "delivered").await;
    // The dispatcher dies while the gateway holds the request: the round's future is
    // dropped after the gateway accepted the SMS and before the row was marked.
    let crashed = tokio::time::timeout(Duration::from_millis(500), app.dispatch()).await;
    assert!(crashed.is_err());
    assert_eq!(app.sms.accepted().len(), 1);
    assert_eq!(rows(&app).await[0].status, "sending");
    // Until its lease ends nobody takes it; then another dispatcher does.
    app.sms.set_mode(Mode::Accept);
    assert_eq!(app.dispatch().await.total(), 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.dispatch().await.sent, 1);
    assert_eq!(app.sms.requests(), 2, "one resend");
    assert_eq!(
        app.sms.accepted().len(),
        1,
        "deduplicated by the stable csms_id"
    );
    let row = &rows(&app).await[0];
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2));
}

#[sqlx::test]
async fn two_dispatchers_at_once_send_each_message_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mut customers = Vec::new();
    for n in 0..40 {
        customers.push(app.customer(&format!("0171{n:07}"), None).await);
    }
    for (i, customer) in customers.iter().enumerate() {
        app.order(i as i32 + 1, *customer, "delivered").await;
    }
    let rounds = join_all((0..4).map(|_| app.dispatch())).await;
    let sent: u32 = rounds.iter().map(|r| r.sent).sum();
    assert_eq!(sent, 40);
    assert_eq!(app.sms.requests(), 40, "no message was sent twice");
    assert_eq!(app.sms.accepted().len(), 40);
    let statuses: Vec<String> = rows(&app).await.into_iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| s == "sent"), "{statuses:?}");
}

#[sqlx::test]
async fn verification_codes_are_erased_once_sent_and_never_listed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let customer = app.customer("01712345678", None).await;
    app.verify_phone(customer, "+8801712345678").await;
    let row = &rows_of(&app, "verification_code").await[0];
    assert_eq!(row.status, "sent");
    assert_eq!(row.params, json!({ "minutes": 5 }), "the code is gone");
    assert_eq!(row.body, None);
    let listed = app.get("/api/messages", &app.admin_token()).await;
    assert_eq!(listed.status, StatusCode::OK);
    let code = &listed.body.as_array().unwrap()[0];
    assert_eq!(code["kind"], "verification_code");
    assert_eq!(code["body"], Value::Null);
    // The SMS itself: the code first, the minutes in Bengali digits.
    let sms = app.sms.to("+8801712345678");
    assert!(sms[0].text.contains("৫ মিনিটের মধ্যে"), "{}", sms[0].text);
}

#[sqlx::test]
async fn whatsapp_sends_the_approved_template_and_records_what_meta_reports(pool: PgPool) {
    let cloud = WhatsappCloud::start().await;
    let app = whatsapp_app(pool, &cloud).await;
    approve_share_nudge_on_whatsapp(&app).await;
    let customer = app.customer("01712345678", None).await;
    app.order(1, customer, "delivered").await;
    assert_eq!(app.dispatch().await.sent, 1);
    let sent = cloud.accepted();
    assert_eq!(sent.len(), 1);
    let code = format!("REF{customer:06}");
    assert_eq!(sent[0].to, "8801712345678");
    assert_eq!(
        (sent[0].name.as_str(), sent[0].language.as_str()),
        ("share_nudge_v1", "bn")
    );
    assert_eq!(
        sent[0].parameters,
        vec![
            code.clone(),
            "Test".to_owned(),
            format!("http://localhost:3001/r/{code}?ch=whatsapp")
        ]
    );
    let row = &rows(&app).await[0];
    assert_eq!(row.channel.as_deref(), Some("whatsapp"));
    assert_eq!(
        row.provider_message_id.as_deref(),
        Some(sent[0].wamid.as_str())
    );
    assert!(app.sms.accepted().is_empty(), "WhatsApp went first");

    // Meta reports: read before delivered (out of order), and a STOP reply.
    let wamid = &sent[0].wamid;
    let notification = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "8809600000000", "phone_number_id": WHATSAPP_PHONE_ID },
            "statuses": [
                { "id": wamid, "status": "read", "timestamp": "1764600000", "recipient_id": "8801712345678" },
                { "id": wamid, "status": "delivered", "timestamp": "1764599990", "recipient_id": "8801712345678" },
                { "id": "wamid.SOMEONE_ELSES", "status": "delivered", "timestamp": "1764599990", "recipient_id": "8801712345678" }
            ],
            "contacts": [{ "profile": { "name": "Rahim" }, "wa_id": "8801712345678" }],
            "messages": [{ "from": "8801712345678", "id": "wamid.IN1", "timestamp": "1764600001",
                           "type": "text", "text": { "body": " Stop " } }]
        }}]}]
    })
    .to_string();
    let posted = app
        .raw_with_headers(
            Method::POST,
            "/api/webhooks/whatsapp",
            &[
                ("x-hub-signature-256", &sign(notification.as_bytes())),
                ("content-type", "application/json"),
            ],
            notification.clone(),
        )
        .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
    assert_eq!(
        posted.body,
        json!({ "statuses": 2, "optedOut": 1, "ignored": 1 })
    );
    let read = sqlx::query!(
        r#"select status::text as "status!", delivered_at is not null as "delivered!", read_at is not null as "read!"
           from outbound_messages where provider_message_id = $1"#,
        wamid
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (read.status.as_str(), read.delivered, read.read),
        ("read", true, true)
    );
    // The STOP opted the phone out: the next nudge is suppressed.
    app.order(2, customer, "delivered").await;
    sqlx::query!("update outbound_messages set first_attempt_at = now() - interval '40 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.dispatch().await;
    assert_eq!(
        rows(&app).await[1].suppressed_reason.as_deref(),
        Some("opted_out")
    );

    // A bad or missing signature changes nothing.
    for signature in [Some("sha256=00"), None] {
        let headers: Vec<(&str, &str)> = signature
            .map(|s| ("x-hub-signature-256", s))
            .into_iter()
            .collect();
        let refused = app
            .raw_with_headers(
                Method::POST,
                "/api/webhooks/whatsapp",
                &headers,
                notification.clone(),
            )
            .await;
        refused.assert_error(StatusCode::UNAUTHORIZED, "invalid_signature");
    }
}

#[sqlx::test]
async fn whatsapp_errors_fall_back_to_retries_and_dead_letters(pool: PgPool) {
    let cloud = WhatsappCloud::start().await;
    let app = whatsapp_app(pool, &cloud).await;
    approve_share_nudge_on_whatsapp(&app).await;
    let customer = app.customer("01712345678", None).await;
    cloud.set_mode(Mode::Refuse(400, 130429, "Rate limit hit"));
    app.order(1, customer, "delivered").await;
    assert_eq!(app.dispatch().await.retried, 1);
    cloud.set_mode(Mode::Refuse(
        400,
        132001,
        "Template name does not exist in the translation",
    ));
    make_due(&app).await;
    assert_eq!(app.dispatch().await.dead, 1);
    let dead = &rows(&app).await[0];
    assert!(
        dead.last_error.as_deref().unwrap().contains("132001"),
        "{dead:?}"
    );
    assert!(!dead.last_error.as_deref().unwrap().contains(WHATSAPP_TOKEN));
}

#[sqlx::test]
async fn the_whatsapp_webhook_fails_closed(pool: PgPool) {
    // No secret configured: every notification is refused, signed or not.
    let app = TestApp::new(pool).await;
    let body = json!({ "object": "whatsapp_business_account", "entry": [] }).to_string();
    let refused = app
        .raw_with_headers(
            Method::POST,
            "/api/webhooks/whatsapp",
            &[("x-hub-signature-256", &sign(body.as_bytes()))],
            body.clone(),
        )
        .await;
    refused.assert_error(StatusCode::FORBIDDEN, "webhook_refused");
    let handshake = app
        .raw_with_headers(
            Method::GET,
            "/api/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=123",
            &[],
            String::new(),
        )
        .await;
    handshake.assert_error(StatusCode::FORBIDDEN, "webhook_refused");
}

#[sqlx::test]
async fn the_whatsapp_handshake_echoes_the_challenge_for_the_right_token(pool: PgPool) {
    let cloud = WhatsappCloud::start().await;
    let app = whatsapp_app(pool, &cloud).await;
    let ok = app
        .raw_with_headers(
            Method::GET,
            &format!("/api/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"),
            &[],
            String::new(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body.to_string(), "1158201444");
    let wrong = app
        .raw_with_headers(
            Method::GET,
            "/api/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            &[],
            String::new(),
        )
        .await;
    wrong.assert_error(StatusCode::FORBIDDEN, "webhook_refused");
    // Signed, but not a notification at all.
    let garbage = "[1, 2]".to_owned();
    let unreadable = app
        .raw_with_headers(
            Method::POST,
            "/api/webhooks/whatsapp",
            &[("x-hub-signature-256", &sign(garbage.as_bytes()))],
            garbage,
        )
        .await;
    unreadable.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
}

#[sqlx::test]
async fn templates_are_checked_when_saved_and_render_golden(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let listed = app.get("/api/message-templates", &admin).await;
    assert_eq!(listed.status, StatusCode::OK);
    // Golden: every default template in Bangla and English with sample values, with
    // Bengali digits, taka and segment counts.
    insta::assert_json_snapshot!("message_templates", crate::contract::Wire(&listed.body), {
        "[].updatedAt" => "[time]",
    });

    let put = |body: Value| app.put("/api/message-templates/reward_released", &admin, body);
    let unknown = put(json!({ "bn": "{code} {amount} {balance}", "en": "{code} {amount}" })).await;
    unknown.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_template");
    assert!(
        unknown.body["fields"]["bn"][0]
            .as_str()
            .unwrap()
            .contains("balance"),
        "{}",
        unknown.body
    );
    let late_code = put(json!({ "bn": "{amount} {code}", "en": "{code} {amount}" })).await;
    late_code.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_template");
    let bad_name =
        put(json!({ "bn": "{code}", "en": "{code}", "whatsappTemplateName": "Bad Name" })).await;
    bad_name.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_template");
    let extra = put(json!({ "bn": "{code}", "en": "{code}", "colour": "red" })).await;
    extra.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let missing = app
        .put(
            "/api/message-templates/birthday",
            &admin,
            json!({ "bn": "{code}", "en": "{code}" }),
        )
        .await;
    missing.assert_error(StatusCode::NOT_FOUND, "template_not_found");
    let saved =
        put(json!({ "bn": "{code}: {amount} জমা হয়েছে", "en": "{code}: {amount} credited" })).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["preview"]["bn"], "REF012345: ৳১০০ জমা হয়েছে");
    assert_eq!(saved.body["sampleSegments"], json!({ "bn": 1, "en": 1 }));

    // Only staff with the permissions read and write templates and messages.
    let customer = app.customer("01712345678", None).await;
    let token = app.customer_token(customer);
    app.get("/api/message-templates", &token)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.get("/api/messages", &token)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let support = app.staff_token("support-agent");
    put(json!({ "bn": "{code}", "en": "{code}" })).await;
    app.put(
        "/api/message-templates/reward_released",
        &support,
        json!({ "bn": "{code}", "en": "{code}" }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
}

#[sqlx::test]
async fn the_outbox_list_pages_newest_first_with_phones_masked(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for n in 0..5 {
        let customer = app.customer(&format!("0171{n:07}"), None).await;
        app.order(n + 1, customer, "delivered").await;
    }
    let admin = app.admin_token();
    let first = app.get("/api/messages?limit=2", &admin).await;
    let ids: Vec<i64> = first
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1]);
    let next = app
        .get(
            &format!("/api/messages?limit=2&beforeId={}", ids[1]),
            &admin,
        )
        .await;
    assert!(
        next.body
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"].as_i64().unwrap() < ids[1])
    );
    for message in first.body.as_array().unwrap() {
        assert!(
            message["phone"]
                .as_str()
                .unwrap()
                .starts_with("+880*******")
        );
        assert_eq!(message["status"], "queued");
    }
    app.get("/api/messages?status=lost", &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.get("/api/messages?limit=0", &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
}
