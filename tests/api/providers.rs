//! The real provider clients against local servers that play the providers' documented
//! APIs: each test starts its own server on 127.0.0.1:0, which checks the request and
//! answers success, a documented error body, slowly, or not at all. No database.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bondhu::config::{SslWirelessConfig, WhatsappConfig};
use bondhu::domain::phone::Phone;
use bondhu::providers::ssl_wireless::{self, SslWireless};
use bondhu::providers::whatsapp::{
    self, DeliveryStatus, InboundEvent, WhatsappCloud, parse_webhook, verify_signature,
};
use bondhu::providers::{
    MessageChannel, Outgoing, Provider, SendError, Sent, WhatsappTemplate, http_client,
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The access token and API token the fakes expect; never in a reason.
const ACCESS_TOKEN: &str = "EAAGm0PX4ZCpsBAtest-access-token";
const API_TOKEN: &str = "1279-98d2bb25-3f7e-49bf-a1e2-test";
const PHONE_NUMBER_ID: &str = "106540352242922";

/// A timeout short enough for the slow-answer tests.
const TIMEOUT: Duration = Duration::from_millis(400);

/// One request a fake provider received.
#[derive(Clone, Debug)]
struct Received {
    method: Method,
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A fake provider's base URL and what it has received.
struct Fake {
    base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Fake {
    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Starts a fake provider that answers each request with `answer(request, earlier
/// requests)` after `delay`.
async fn fake(
    delay: Duration,
    answer: impl Fn(&Received, &[Received]) -> Response + Clone + Send + Sync + 'static,
) -> Fake {
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let log = received.clone();
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        let answer = answer.clone();
        async move {
            let header = |name| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let request = Received {
                method,
                path: uri.path().to_owned(),
                authorization: header(header::AUTHORIZATION),
                content_type: header(header::CONTENT_TYPE),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            };
            let response = {
                let mut log = log.lock().unwrap();
                let response = answer(&request, &log);
                log.push(request);
                response
            };
            tokio::time::sleep(delay).await;
            response
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { base_url, received }
}

/// A JSON answer.
fn json_answer(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A server that accepts connections, reads the request and closes the connection
/// without answering: a provider that crashed mid-request.
async fn dropping_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let _ = socket.readable().await;
            let mut buf = [0u8; 8192];
            let _ = socket.try_read(&mut buf);
            drop(socket);
        }
    });
    base_url
}

/// An address nothing listens on.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    base_url
}

fn whatsapp_client(base_url: &str) -> WhatsappCloud {
    WhatsappCloud::new(
        http_client(TIMEOUT).unwrap(),
        &WhatsappConfig {
            api_url: base_url.to_owned(),
            access_token: ACCESS_TOKEN.to_owned().into(),
            phone_number_id: PHONE_NUMBER_ID.to_owned(),
        },
    )
}

fn sms_client(base_url: &str) -> SslWireless {
    SslWireless::new(
        http_client(TIMEOUT).unwrap(),
        &SslWirelessConfig {
            api_url: base_url.to_owned(),
            api_token: API_TOKEN.to_owned().into(),
            sid: "BONDHU".to_owned(),
        },
    )
}

fn phone() -> Phone {
    Phone::parse("01712345678").unwrap()
}

/// The share-code template with its two body values.
fn parameters() -> Vec<String> {
    vec!["RAHIM50".to_owned(), "৳১০০".to_owned()]
}

fn message<'a>(to: &'a Phone, parameters: &'a [String]) -> Outgoing<'a> {
    Outgoing {
        id: uuid::Uuid::parse_str("0190f5c2-8a3b-7c4d-9e5f-a1b2c3d4e5f6").unwrap(),
        to,
        text: "আপনার কোড RAHIM50। বন্ধুকে পাঠান",
        whatsapp: Some(WhatsappTemplate {
            name: "bondhu_share_code",
            language: "bn",
            body_parameters: parameters,
        }),
    }
}

/// The reason holds neither token nor the full number.
fn assert_clean(err: &SendError) {
    let reason = err.reason();
    assert!(!reason.contains(ACCESS_TOKEN), "{reason}");
    assert!(!reason.contains(API_TOKEN), "{reason}");
    assert!(!reason.contains("1712345678"), "{reason}");
    assert!(reason.chars().count() <= 200, "{reason}");
}

/// A Graph API error body as Meta documents it.
fn graph_error(code: i64, message: &str, details: &str) -> Value {
    json!({
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": details },
            "fbtrace_id": "AHm2IMkX5EwiT1YKuCBsVad"
        }
    })
}

/// Sends the standard message through a WhatsApp fake answering `status` and `body`.
async fn whatsapp_answering(status: u16, body: Value) -> Result<Sent, SendError> {
    let server = fake(Duration::ZERO, move |_, _| {
        json_answer(status, body.clone())
    })
    .await;
    let (to, parameters) = (phone(), parameters());
    whatsapp_client(&server.base_url)
        .send(&message(&to, &parameters))
        .await
}

#[tokio::test]
async fn whatsapp_sends_a_template_and_keeps_the_wamid() {
    let server = fake(Duration::ZERO, |_, _| {
        json_answer(
            200,
            json!({
                "messaging_product": "whatsapp",
                "contacts": [{ "input": "8801712345678", "wa_id": "8801712345678" }],
                "messages": [{ "id": "wamid.HBgNODgwMTcxMjM0NTY3OBUCABEYEjdBQTQ2MjE5", "message_status": "accepted" }]
            }),
        )
    })
    .await;
    let client = whatsapp_client(&server.base_url);
    assert_eq!(client.name(), "whatsapp_cloud");
    assert_eq!(client.channel(), MessageChannel::Whatsapp);
    let (to, parameters) = (phone(), parameters());
    let sent = client.send(&message(&to, &parameters)).await.unwrap();
    assert_eq!(
        sent.provider_message_id.as_deref(),
        Some("wamid.HBgNODgwMTcxMjM0NTY3OBUCABEYEjdBQTQ2MjE5")
    );

    let received = server.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, format!("/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        request.body,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "8801712345678",
            "type": "template",
            "template": {
                "name": "bondhu_share_code",
                "language": { "code": "bn" },
                "components": [{
                    "type": "body",
                    "parameters": [
                        { "type": "text", "text": "RAHIM50" },
                        { "type": "text", "text": "৳১০০" }
                    ]
                }]
            }
        })
    );
}

#[tokio::test]
async fn whatsapp_rate_limits_are_retried_with_the_hint() {
    let err = whatsapp_answering(
        400,
        graph_error(
            130429,
            "(#130429) Rate limit hit",
            "Cloud API message throughput has been reached.",
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        SendError::retryable(
            "whatsapp 130429: Rate limit hit (Cloud API message throughput has been reached.)"
        )
    );

    let server = fake(Duration::ZERO, |_, _| {
        let mut response = json_answer(
            429,
            graph_error(
                131056,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, "7".parse().unwrap());
        response
    })
    .await;
    let (to, parameters) = (phone(), parameters());
    let err = whatsapp_client(&server.base_url)
        .send(&message(&to, &parameters))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(err.reason().starts_with("whatsapp 131056: "), "{err}");
    assert_clean(&err);
}

#[tokio::test]
async fn whatsapp_invalid_numbers_and_templates_are_final() {
    let err = whatsapp_answering(
        400,
        graph_error(
            131026,
            "(#131026) Message undeliverable",
            "Message Undeliverable.",
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        SendError::final_("whatsapp 131026: Message undeliverable (Message Undeliverable.)")
    );

    let err = whatsapp_answering(
        400,
        graph_error(
            100,
            "(#100) Invalid parameter",
            "Parameter 'to' 8801712345678 is invalid",
        ),
    )
    .await
    .unwrap_err();
    assert!(!err.is_retryable());
    assert_clean(&err);

    let err = whatsapp_answering(
        404,
        graph_error(
            132001,
            "(#132001) Template name does not exist in the translation",
            "template name (bondhu_share_code) does not exist in bn",
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        SendError::final_(
            "whatsapp 132001: Template name does not exist in the translation (template name (bondhu_share_code) does not exist in bn)"
        )
    );
}

#[tokio::test]
async fn whatsapp_server_errors_are_retried() {
    let err = whatsapp_answering(
        500,
        json!({ "error": { "message": "An unknown error has occurred.", "type": "OAuthException", "code": 1, "is_transient": true, "fbtrace_id": "A1" } }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        SendError::retryable("whatsapp 1: An unknown error has occurred.")
    );

    // A gateway in front of Graph answering HTML.
    let server = fake(Duration::ZERO, |_, _| {
        (StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>").into_response()
    })
    .await;
    let (to, parameters) = (phone(), parameters());
    let err = whatsapp_client(&server.base_url)
        .send(&message(&to, &parameters))
        .await
        .unwrap_err();
    assert_eq!(err, SendError::retryable("whatsapp: HTTP 502"));
}

#[tokio::test]
async fn whatsapp_auth_errors_wait_for_an_operator() {
    let err = whatsapp_answering(
        401,
        json!({ "error": {
            "message": format!("Error validating access token: Session has expired. Token {ACCESS_TOKEN}"),
            "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "A2"
        } }),
    )
    .await
    .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        err.reason(),
        "whatsapp 190 (account): Error validating access token: Session has expired. Token [redacted]"
    );
    assert_clean(&err);
}

#[tokio::test]
async fn whatsapp_needs_a_template() {
    let server = fake(Duration::ZERO, |_, _| json_answer(200, json!({}))).await;
    let to = phone();
    let mut message = message(&to, &[]);
    message.whatsapp = None;
    let err = whatsapp_client(&server.base_url)
        .send(&message)
        .await
        .unwrap_err();
    assert_eq!(err, SendError::final_("no WhatsApp template"));
    assert!(server.received().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_slow_provider_times_out_as_retryable() {
    let server = fake(Duration::from_secs(3), |_, _| json_answer(200, json!({}))).await;
    let (to, parameters) = (phone(), parameters());
    let started = Instant::now();
    let err = whatsapp_client(&server.base_url)
        .send(&message(&to, &parameters))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout held"
    );
    assert_eq!(err, SendError::retryable("whatsapp_cloud: timed out"));

    let started = Instant::now();
    let err = sms_client(&server.base_url)
        .send(&message(&to, &parameters))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout held"
    );
    assert_eq!(err, SendError::retryable("ssl_wireless: timed out"));
}

#[tokio::test]
async fn a_dropped_connection_is_retryable() {
    let base_url = dropping_server().await;
    let (to, parameters) = (phone(), parameters());
    let err = whatsapp_client(&base_url)
        .send(&message(&to, &parameters))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.reason()
            .starts_with("whatsapp_cloud: connection failed"),
        "{err}"
    );
    let err = sms_client(&base_url)
        .send(&message(&to, &parameters))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_clean(&err);
}

#[tokio::test]
async fn a_provider_that_is_down_is_retryable() {
    let base_url = closed_port().await;
    let (to, parameters) = (phone(), parameters());
    let err = sms_client(&base_url)
        .send(&message(&to, &parameters))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.reason().starts_with("ssl_wireless: could not connect"),
        "{err}"
    );
    assert!(!err.reason().contains(&base_url), "no URL in the reason");
}

/// A fake SSL Wireless: the v3 success body, the documented 4023 answer for a `csms_id`
/// it accepted before.
async fn ssl_wireless_fake() -> Fake {
    fake(Duration::ZERO, |request, earlier| {
        let csms_id = request.body["csms_id"].clone();
        if earlier.iter().any(|e| e.body["csms_id"] == csms_id) {
            return json_answer(
                200,
                json!({ "status": "FAILED", "status_code": 4023, "error_message": "Duplicate CSMS ID", "smsinfo": [] }),
            );
        }
        json_answer(
            200,
            json!({
                "status": "SUCCESS", "status_code": 200, "error_message": "",
                "smsinfo": [{
                    "sms_status": "SUCCESS", "status_message": "Success",
                    "msisdn": request.body["msisdn"], "sms_type": "BN",
                    "sms_body": request.body["sms"], "csms_id": csms_id,
                    "reference_id": "5da2f0b5ba3a2248110"
                }]
            }),
        )
    })
    .await
}

#[tokio::test]
async fn ssl_wireless_sends_with_the_stable_csms_id() {
    let server = ssl_wireless_fake().await;
    let client = sms_client(&server.base_url);
    assert_eq!(client.name(), "ssl_wireless");
    assert_eq!(client.channel(), MessageChannel::Sms);
    let (to, parameters) = (phone(), parameters());
    let message = message(&to, &parameters);
    let sent = client.send(&message).await.unwrap();
    assert_eq!(
        sent.provider_message_id.as_deref(),
        Some("5da2f0b5ba3a2248110")
    );

    let received = server.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/api/v3/send-sms");
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(request.authorization, None);
    assert_eq!(
        request.body,
        json!({
            "api_token": API_TOKEN,
            "sid": "BONDHU",
            "msisdn": "8801712345678",
            "sms": "আপনার কোড RAHIM50। বন্ধুকে পাঠান",
            "csms_id": "7c4d9e5fa1b2c3d4e5f6",
        })
    );
    assert_eq!(ssl_wireless::csms_id(message.id), "7c4d9e5fa1b2c3d4e5f6");
}

#[tokio::test]
async fn ssl_wireless_resend_after_a_crash_counts_as_sent() {
    let server = ssl_wireless_fake().await;
    let client = sms_client(&server.base_url);
    let (to, parameters) = (phone(), parameters());
    let message = message(&to, &parameters);
    // The first attempt went through, but the dispatcher died before marking it sent.
    client.send(&message).await.unwrap();
    // The resend carries the same csms_id; the gateway says duplicate: sent, once.
    let resent = client.send(&message).await.unwrap();
    assert_eq!(
        resent,
        Sent {
            provider_message_id: None
        }
    );
    let received = server.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body["csms_id"], received[1].body["csms_id"]);
}

/// Sends the standard message through an SSL Wireless fake answering `status` and `body`.
async fn sms_answering(status: u16, body: Value) -> Result<Sent, SendError> {
    let server = fake(Duration::ZERO, move |_, _| {
        json_answer(status, body.clone())
    })
    .await;
    let (to, parameters) = (phone(), parameters());
    sms_client(&server.base_url)
        .send(&message(&to, &parameters))
        .await
}

#[tokio::test]
async fn ssl_wireless_errors_are_classified() {
    let err = sms_answering(
        200,
        json!({ "status": "FAILED", "status_code": 4025, "error_message": "Invalid MSISDN" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err, SendError::final_("ssl_wireless 4025: Invalid MSISDN"));

    let err = sms_answering(
        200,
        json!({ "status": "FAILED", "status_code": 4029, "error_message": "Too many requests" }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        SendError::retryable("ssl_wireless 4029: Too many requests")
    );

    let err = sms_answering(
        200,
        json!({ "status": "FAILED", "status_code": 4031, "error_message": "TPS Exceeded" }),
    )
    .await
    .unwrap_err();
    assert!(err.is_retryable());

    let err = sms_answering(
        200,
        json!({ "status": "FAILED", "status_code": 4001, "error_message": format!("Unauthorized: {API_TOKEN}") }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        SendError::retryable("ssl_wireless 4001 (account): Unauthorized: [redacted]")
    );

    // The request succeeded but its one SMS was refused.
    let err = sms_answering(
        200,
        json!({ "status": "SUCCESS", "status_code": 200, "error_message": "",
                "smsinfo": [{ "sms_status": "FAILED", "status_message": "Invalid MSISDN", "msisdn": "8801712345678" }] }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        SendError::final_("ssl_wireless FAILED: Invalid MSISDN")
    );

    let server = fake(Duration::ZERO, |_, _| {
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
    })
    .await;
    let (to, parameters) = (phone(), parameters());
    let err = sms_client(&server.base_url)
        .send(&message(&to, &parameters))
        .await
        .unwrap_err();
    assert_eq!(err, SendError::retryable("ssl_wireless: HTTP 500"));

    let err = sms_answering(
        500,
        json!({ "status": "FAILED", "status_code": 5000, "error_message": "Unknown Error" }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        SendError::retryable("ssl_wireless 5000: Unknown Error")
    );
}

/// The `X-Hub-Signature-256` value Meta would send for `body`.
fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[test]
fn webhook_signatures_are_checked() {
    let secret = b"0123456789abcdef0123456789abcdef";
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    let good = sign(secret, body);
    assert!(verify_signature(secret, body, Some(&good)));
    assert!(verify_signature(
        secret,
        body,
        Some(&good.to_ascii_uppercase().replacen("SHA256=", "sha256=", 1))
    ));
    // Another body, another secret, no header, no secret, malformed headers.
    assert!(!verify_signature(secret, b"{}", Some(&good)));
    assert!(!verify_signature(b"another secret", body, Some(&good)));
    assert!(!verify_signature(secret, body, None));
    assert!(!verify_signature(b"", body, Some(&sign(b"", body))));
    for malformed in [
        "",
        "sha256=",
        "sha1=abcdef",
        &good[7..],
        &good[..good.len() - 2],
        "sha256=zz",
        &format!("{good}00"),
    ] {
        assert!(
            !verify_signature(secret, body, Some(malformed)),
            "{malformed}"
        );
    }
    assert_eq!(whatsapp::SIGNATURE_HEADER, "x-hub-signature-256");
}

#[test]
fn webhook_statuses_and_replies_are_read() {
    // The documented notification shapes: statuses for messages we sent (one failed),
    // a customer's text "STOP", and things to skip: an image, a status we do not track,
    // another field, and a sender outside Bangladesh.
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
                        "statuses": [
                            { "id": "wamid.A", "status": "sent", "timestamp": "1750857384", "recipient_id": "8801712345678",
                              "conversation": { "id": "a75d17ad", "expiration_timestamp": "1750943820", "origin": { "type": "utility" } },
                              "pricing": { "billable": true, "pricing_model": "CBP", "category": "utility" } },
                            { "id": "wamid.A", "status": "delivered", "timestamp": "1750857386", "recipient_id": "8801712345678" },
                            { "id": "wamid.A", "status": "read", "timestamp": 1750857400, "recipient_id": "8801712345678" },
                            { "id": "wamid.B", "status": "failed", "timestamp": "1750857390", "recipient_id": "8801812345678",
                              "errors": [{ "code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                                           "error_data": { "details": "Message Undeliverable." } }] },
                            { "id": "wamid.C", "status": "deleted", "timestamp": "1750857391" }
                        ]
                    }
                },
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
                        "contacts": [{ "profile": { "name": "Rahim" }, "wa_id": "8801712345678" }],
                        "messages": [
                            { "from": "8801712345678", "id": "wamid.IN1", "timestamp": "1750857500", "type": "text", "text": { "body": "STOP" } },
                            { "from": "8801712345678", "id": "wamid.IN2", "timestamp": "1750857501", "type": "image", "image": { "id": "1", "mime_type": "image/jpeg" } },
                            { "from": "447911123456", "id": "wamid.IN3", "timestamp": "1750857502", "type": "text", "text": { "body": "hello" } },
                            { "from": "8801912345678", "id": "wamid.IN4", "timestamp": "1750857503", "type": "button", "button": { "text": "Stop promotions", "payload": "STOP" } }
                        ]
                    }
                },
                { "field": "message_template_status_update", "value": { "event": "APPROVED", "message_template_name": "bondhu_share_code" } }
            ]
        }]
    });
    let events = parse_webhook(body.to_string().as_bytes()).unwrap();
    let at = |secs: i64| {
        bondhu::domain::time::Timestamp::from(chrono::DateTime::from_timestamp(secs, 0).unwrap())
    };
    assert_eq!(
        events,
        vec![
            InboundEvent::Status {
                provider_message_id: "wamid.A".into(),
                status: DeliveryStatus::Sent,
                error: None,
                at: at(1750857384),
            },
            InboundEvent::Status {
                provider_message_id: "wamid.A".into(),
                status: DeliveryStatus::Delivered,
                error: None,
                at: at(1750857386),
            },
            InboundEvent::Status {
                provider_message_id: "wamid.A".into(),
                status: DeliveryStatus::Read,
                error: None,
                at: at(1750857400),
            },
            InboundEvent::Status {
                provider_message_id: "wamid.B".into(),
                status: DeliveryStatus::Failed,
                error: Some("131026: Message undeliverable".into()),
                at: at(1750857390),
            },
            InboundEvent::Text {
                provider_message_id: "wamid.IN1".into(),
                from: Phone::parse("+8801712345678").unwrap(),
                text: "STOP".into(),
                at: at(1750857500),
            },
            InboundEvent::Text {
                provider_message_id: "wamid.IN4".into(),
                from: Phone::parse("+8801912345678").unwrap(),
                text: "Stop promotions".into(),
                at: at(1750857503),
            },
        ]
    );
    assert_eq!(DeliveryStatus::Failed.as_str(), "failed");
}
