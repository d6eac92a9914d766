//! Local servers that play the message providers' documented APIs, so the real clients and
//! the real dispatcher are tested end to end: SSL Wireless ISMS v3 (`POST
//! /api/v3/send-sms`, deduplicating on `csms_id` as the gateway does) and the WhatsApp
//! Cloud API (`POST /{phone-number-id}/messages`). Each can be told to fail: a 5xx, a
//! documented error body, a slow answer, or no server at all.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// How a simulated provider answers the next requests.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Accepts (SSL Wireless: a `csms_id` seen before gets its documented duplicate
    /// answer, 4023).
    Accept,
    /// 500 with a body that is not the provider's JSON.
    ServerError,
    /// A documented error: (HTTP status, the provider's code, its message).
    Refuse(u16, i64, &'static str),
    /// Records the message as accepted, then answers only after this long (longer than
    /// the client's timeout, the answer is never read).
    Slow(Duration),
}

/// An SMS the gateway accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sms {
    /// `8801…`, as sent.
    pub msisdn: String,
    /// The text.
    pub text: String,
    /// The client's id of the message.
    pub csms_id: String,
}

#[derive(Default)]
struct SmsState {
    mode: Option<Mode>,
    accepted: Vec<Sms>,
    seen: HashSet<String>,
    requests: usize,
}

/// A simulated SSL Wireless ISMS v3 gateway.
#[derive(Clone)]
pub struct SmsGateway {
    /// Its base URL (`SMS_API_URL`).
    pub url: String,
    state: Arc<Mutex<SmsState>>,
}

/// The API token and SID the simulators expect.
pub const SMS_TOKEN: &str = "sms-test-token";
pub const SMS_SID: &str = "TRUSTCART";
pub const WHATSAPP_TOKEN: &str = "whatsapp-test-token";
pub const WHATSAPP_PHONE_ID: &str = "1234567890";

impl SmsGateway {
    /// Starts one on a free port.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(SmsState::default()));
        let app = Router::new()
            .route("/api/v3/send-sms", post(send_sms))
            .with_state(state.clone());
        Self {
            url: serve(app).await,
            state,
        }
    }

    /// Changes how it answers.
    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// Every SMS it accepted (once each: duplicates by `csms_id` are refused).
    pub fn accepted(&self) -> Vec<Sms> {
        self.state.lock().unwrap().accepted.clone()
    }

    /// The SMS it accepted for `e164` (`+8801…`).
    pub fn to(&self, e164: &str) -> Vec<Sms> {
        let msisdn = e164.trim_start_matches('+');
        self.accepted()
            .into_iter()
            .filter(|sms| sms.msisdn == msisdn)
            .collect()
    }

    /// Requests received, answered or not.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }
}

async fn send_sms(State(state): State<Arc<Mutex<SmsState>>>, body: String) -> Response {
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return ssl_error(400, 4005, "Invalid request");
    };
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    if field("api_token") != SMS_TOKEN || field("sid") != SMS_SID {
        return ssl_error(200, 4001, "Unauthorized");
    }
    let sms = Sms {
        msisdn: field("msisdn"),
        text: field("sms"),
        csms_id: field("csms_id"),
    };
    if sms.csms_id.is_empty() || sms.csms_id.len() > 20 || sms.msisdn.len() != 13 {
        return ssl_error(200, 4022, "Invalid request parameters");
    }
    let mode = {
        let mut state = state.lock().unwrap();
        state.requests += 1;
        let mode = state.mode.clone().unwrap_or(Mode::Accept);
        if matches!(mode, Mode::Accept | Mode::Slow(_)) {
            if !state.seen.insert(sms.csms_id.clone()) {
                return ssl_error(200, 4023, "Duplicate CSMS ID");
            }
            state.accepted.push(sms.clone());
        }
        mode
    };
    match mode {
        Mode::Accept => {}
        Mode::Slow(delay) => tokio::time::sleep(delay).await,
        Mode::ServerError => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html>502 Bad Gateway</html>",
            )
                .into_response();
        }
        Mode::Refuse(status, code, message) => return ssl_error(status, code, message),
    }
    let reference = format!("ref-{}", sms.csms_id);
    axum::Json(json!({
        "status": "SUCCESS",
        "status_code": 200,
        "error_message": "",
        "smsinfo": [{
            "sms_status": "SUCCESS",
            "status_message": "Success",
            "msisdn": sms.msisdn,
            "sms_type": "EN",
            "sms_body": sms.text,
            "csms_id": sms.csms_id,
            "reference_id": reference,
        }],
    }))
    .into_response()
}

fn ssl_error(status: u16, code: i64, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({
            "status": "FAILED",
            "status_code": code,
            "error_message": message,
            "smsinfo": [],
        })),
    )
        .into_response()
}

/// A template message the WhatsApp simulator accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// The recipient, digits only.
    pub to: String,
    /// The template's name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// The body parameters' texts, in order.
    pub parameters: Vec<String>,
    /// The `wamid` answered.
    pub wamid: String,
}

#[derive(Default)]
struct WhatsappState {
    mode: Option<Mode>,
    accepted: Vec<Template>,
}

/// A simulated WhatsApp Cloud API.
#[derive(Clone)]
pub struct WhatsappCloud {
    /// Its base URL (`WHATSAPP_API_URL`).
    pub url: String,
    state: Arc<Mutex<WhatsappState>>,
}

impl WhatsappCloud {
    /// Starts one on a free port.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(WhatsappState::default()));
        let app = Router::new()
            // Another phone number id is an unknown path: a 404, as Graph answers.
            .route(
                &format!("/{WHATSAPP_PHONE_ID}/messages"),
                post(send_template),
            )
            .with_state(state.clone());
        Self {
            url: serve(app).await,
            state,
        }
    }

    /// Changes how it answers.
    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// Every template message it accepted.
    pub fn accepted(&self) -> Vec<Template> {
        self.state.lock().unwrap().accepted.clone()
    }
}

async fn send_template(
    State(state): State<Arc<Mutex<WhatsappState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if bearer != format!("Bearer {WHATSAPP_TOKEN}") {
        return graph_error(401, 190, "Invalid OAuth access token.");
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return graph_error(400, 100, "Invalid parameter");
    };
    if body["messaging_product"] != "whatsapp" || body["type"] != "template" {
        return graph_error(400, 100, "Invalid parameter");
    }
    let template = &body["template"];
    let parameters = template["components"][0]["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let mode = state.lock().unwrap().mode.clone().unwrap_or(Mode::Accept);
    match mode {
        Mode::Accept | Mode::Slow(_) => {}
        Mode::ServerError => {
            return graph_error(500, 1, "An unknown error has occurred.");
        }
        Mode::Refuse(status, code, message) => return graph_error(status, code, message),
    }
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    let mut state = state.lock().unwrap();
    let wamid = format!("wamid.TEST{:04}", state.accepted.len() + 1);
    state.accepted.push(Template {
        to: to.clone(),
        name: template["name"].as_str().unwrap_or_default().to_owned(),
        language: template["language"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        parameters,
        wamid: wamid.clone(),
    });
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": wamid }],
    }))
    .into_response()
}

fn graph_error(status: u16, code: i64, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "AbCdEfGh"
            }
        })),
    )
        .into_response()
}

/// Serves `app` on a free port until the test ends; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// A URL where nothing listens: a provider that is down.
pub async fn nothing_listening() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}
