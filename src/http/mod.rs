//! The HTTP surface: state, router, middleware.
//!
//! Each module under [`routes`] owns one resource and returns its [`OpenApiRouter`], so a
//! route and its OpenAPI entry are registered together. The middleware stack is applied
//! once, to the merged router, outermost first: request id, trace span, CORS, the JSON
//! backstop for errors that never reached a handler, panic catcher, timeout, body limit.

pub mod client;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod rate_limit;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::JwtKeys;
use crate::auth::cache::PrincipalCache;
use crate::config::Config;
use crate::db::ReportsDb;
use crate::db::lean::LeanPool;
use crate::error::{Code, Error};
use crate::service::phone_verification::{CodeKey, Otp};
use error::ErrorBody;
use rate_limit::RateLimits;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The primary's pool: every write, and every read that must see them.
    pub db: PgPool,
    /// The customer's hottest reads (own wallet, referral stats): one statement each, on
    /// connections that go back without sqlx's release ping.
    pub lean: LeanPool,
    /// Where the report and KPI routes read (a replica when `DATABASE_READ_URL` is set).
    pub reports: ReportsDb,
    /// Token signing and verification.
    pub jwt: Arc<JwtKeys>,
    /// Recent account checks of tokens and API keys.
    pub principals: Arc<PrincipalCache>,
    /// Per-client limits on public routes.
    pub limits: Arc<RateLimits>,
    /// The configuration.
    pub config: Arc<Config>,
    /// Phone verification codes: their key, and the outbox's wake-up.
    pub otp: Otp,
    /// Wakes this instance's message dispatcher after a message is queued.
    pub outbox: Arc<tokio::sync::Notify>,
    /// Hashes client addresses for fraud signals.
    pub signal_hasher: Arc<crate::service::fraud::SignalHasher>,
    /// Wakes this instance's webhook dispatcher after a delivery is re-sent.
    pub webhooks: Arc<tokio::sync::Notify>,
}

impl AppState {
    /// The state for the primary `db`, the `reports` database, `config`, the JWT signing `secret`, the key that hashes
    /// client addresses (`fraud_secret`) and the key of phone verification codes
    /// (`otp_secret`).
    pub fn new(
        db: PgPool,
        reports: ReportsDb,
        config: Config,
        secret: &secrecy::SecretString,
        fraud_secret: &secrecy::SecretString,
        otp_secret: &secrecy::SecretString,
    ) -> Self {
        let outbox = Arc::new(tokio::sync::Notify::new());
        let lean = LeanPool::new(
            (*db.connect_options()).clone(),
            config.database_lean_max_connections,
            config.database_acquire_timeout,
        );
        Self {
            lean,
            signal_hasher: Arc::new(crate::service::fraud::SignalHasher::new(fraud_secret)),
            db,
            reports,
            jwt: Arc::new(JwtKeys::new(secret)),
            principals: Arc::new(PrincipalCache::new(config.auth_cache_ttl)),
            limits: Arc::new(RateLimits::new(&config)),
            config: Arc::new(config),
            otp: Otp {
                key: Arc::new(CodeKey::new(otp_secret)),
                outbox: outbox.clone(),
            },
            outbox,
            webhooks: Arc::new(tokio::sync::Notify::new()),
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: every route, the OpenAPI document and docs UI, and the middleware.
pub fn router(state: AppState) -> Router {
    let request_timeout = state.config.request_timeout;
    let body_limit = state.config.body_limit_bytes;
    let cors = cors(&state.config);
    let (api, openapi) = OpenApiRouter::with_openapi(openapi::base())
        .merge(routes::health::router())
        .merge(routes::auth::router())
        .merge(routes::customers::router())
        .merge(routes::codes::router())
        .merge(routes::referrals::router())
        .merge(routes::wallets::router())
        .merge(routes::withdrawals::router())
        .merge(routes::phone_verification::router())
        .merge(routes::kpis::router())
        .merge(routes::orders::router())
        .merge(routes::campaigns::router())
        .merge(routes::partners::router())
        .merge(routes::partner_portal::router())
        .merge(routes::payouts::router())
        .merge(routes::loyalty::router())
        .merge(routes::grocery::router())
        .merge(routes::benefits::router())
        .merge(routes::reviews::router())
        .merge(routes::reconciliation::router())
        .merge(routes::fraud::router())
        .merge(routes::reminders::router())
        .merge(routes::crm::router())
        .merge(routes::messages::router())
        .merge(routes::webhooks::router())
        .merge(routes::webhook_subscriptions::router())
        .merge(routes::couriers::router())
        .merge(routes::cards::router())
        .merge(routes::share::router())
        .split_for_parts();

    api.merge(openapi::docs_router(openapi))
        .fallback(|| async { Error::new(Code::RouteNotFound, "No such route") })
        .method_not_allowed_fallback(|| async {
            Error::new(Code::MethodNotAllowed, "Method not allowed")
        })
        .with_state(state)
        // Inner to outer: each `.layer` wraps everything above it.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            Error::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        // Outside the timeout and the panic catcher, so their bodiless answers get the
        // JSON envelope too.
        .layer(middleware::from_fn(json_error_backstop))
        // Outside the timeout, so a 408 is counted as one.
        .layer(middleware::from_fn(
            crate::telemetry::metrics::track_requests,
        ))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        http.method = %request.method(),
                        http.route = route,
                        request_id,
                        user.kind = tracing::field::Empty,
                        user.id = tracing::field::Empty,
                    )
                })
                // Only method, route and status are logged: never bodies, queries or headers.
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .layer(SetRequestIdLayer::new(
            REQUEST_ID,
            SequentialRequestId::new(),
        ))
}

/// Browsers may call the API from the configured origins only, matched exactly.
fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_allowed_origins
        .iter()
        .filter_map(|origin| origin.parse().ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            header::ORIGIN,
            HeaderName::from_static("x-requested-with"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            REQUEST_ID,
            header::RETRY_AFTER,
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Request ids `{process}-{n}`: a random per-process prefix and a counter. Unique across
/// instances without a random draw (a system call) per request.
#[derive(Clone)]
struct SequentialRequestId {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl SequentialRequestId {
    fn new() -> Self {
        let prefix = format!("{:08x}", rand::random::<u32>());
        Self {
            prefix: prefix.into(),
            next: Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Gives a JSON envelope to error responses that middleware produced without a body
/// (the 408 of the timeout layer, for instance), so clients only ever parse JSON.
async fn json_error_backstop(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::REQUEST_TIMEOUT => Code::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        other if other.is_server_error() => Code::InternalError,
        _ => Code::HttpError,
    };
    let message = status.canonical_reason().unwrap_or("Error");
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut envelope = ErrorBody::new(code, message);
    // The status is the one the middleware chose; the code is the nearest registered one.
    envelope.status_code = status.as_u16();
    envelope.error = message.to_owned();
    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

/// How long a shutdown waits for in-flight requests before giving up on them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn bodiless_errors_from_middleware_become_json() {
        let app = Router::new()
            .route("/slow", get(|| async { StatusCode::REQUEST_TIMEOUT }))
            .route("/fine", get(|| async { "ok" }))
            .layer(middleware::from_fn(json_error_backstop));
        let request = |path: &str| Request::builder().uri(path).body(Body::empty()).unwrap();

        let response = app.clone().oneshot(request("/slow")).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "request_timeout");
        assert_eq!(json["statusCode"], 408);

        let response = app.oneshot(request("/fine")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"ok");
    }
}
