//! The OpenAPI document (`/api/openapi.json`) and the docs UI (`/api/docs`), served from
//! files compiled into the binary: they work offline.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;
use super::extract::Json;

/// The document's header; the paths are added by each routes module.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bondhu",
        description = "Referral, wallet and loyalty API for cash-on-delivery shops. \
            TrustCart-compatible routes keep TrustCart's paths and JSON shapes; errors are \
            always the JSON envelope `ErrorBody` with a machine-readable `code`.",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(super::error::ErrorBody)),
    tags(
        (name = "auth", description = "Login and the caller's identity"),
        (name = "referrals", description = "Share codes, invitations and referral completion"),
        (name = "campaigns", description = "Referral campaigns, partners, the dry run and reports"),
        (name = "rewards", description = "Points, coupons, free products and membership tiers"),
        (name = "wallets", description = "Wallets and their ledger"),
        (name = "payouts", description = "Partner payout batches: bKash, Nagad and bank files, the providers' answers"),
        (name = "grocery", description = "Grocery lists and monthly subscriptions"),
        (name = "fraud", description = "Fraud rules and the blocklist"),
        (name = "kpis", description = "Programme KPIs for the admin dashboard"),
        (name = "messages", description = "WhatsApp and SMS messages: the outbox, templates, opting out, provider webhooks"),
        (name = "webhooks", description = "Signed webhooks out: subscriptions to Bondhu's events, secret rotation, the delivery log, re-sends"),
        (name = "customers", description = "Signup with a referral code"),
        (name = "crm", description = "The call centre: agents' referrals, follow-up tasks, the agents' report"),
        (name = "channels", description = "QR codes of share codes, printable rider and parcel cards"),
        (name = "orders", description = "Orders from the shop's system; delivery completes referrals"),
        (name = "couriers", description = "Steadfast and Pathao webhooks: couriers report deliveries; the events no order claimed yet"),
        (name = "partners", description = "Partner self-service: a partner's login and its own report; partners' passwords"),
        (name = "operations", description = "Health and readiness"),
    )
)]
struct ApiDoc;

/// Adds the two ways to authenticate: a bearer JWT and a machine client's `X-Api-Key`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

/// The answers the shared machinery (extractors, authentication, timeout, pool) can give
/// any route, as reusable responses: (status, component name, when).
const SHARED_RESPONSES: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "Unreadable input: malformed_json or unreadable_body, invalid_path_parameter, invalid_query",
    ),
    (
        "401",
        "Unauthorized",
        "No credentials, or an invalid, expired or revoked token or API key",
    ),
    (
        "403",
        "Forbidden",
        "Valid credentials without the permission this route needs",
    ),
    (
        "408",
        "RequestTimeout",
        "request_timeout: the request took longer than the configured limit",
    ),
    (
        "413",
        "PayloadTooLarge",
        "payload_too_large: the body is larger than the limit",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "unsupported_media_type: the body is not declared application/json",
    ),
    (
        "422",
        "Unprocessable",
        "invalid_body (wrong shape, naming the field), validation_failed (a rule, or a NUL \
         character in any text, naming the field in `fields`)",
    ),
    (
        "503",
        "ServiceUnavailable",
        "service_unavailable: the database (or, on report routes, the read replica) is \
         unreachable or saturated; database_read_only: the database refused a write; see \
         Retry-After",
    ),
];

/// Adds to every operation of the finished document the answers the shared machinery can
/// give it, so that a generated client sees every status: 408 and 503 everywhere; 401 and
/// 403 where a security scheme is required; 400, 413, 415 and 422 with a request body; 400
/// with path or query parameters, and 422 with query parameters. An answer an operation
/// documents itself is kept. 429 is documented by the rate-limited routes themselves: the
/// document cannot tell which handlers take a rate-limit extractor.
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for &(_, name, description) in SHARED_RESPONSES {
            components
                .responses
                .entry(name.to_owned())
                .or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build(),
                    )
                });
        }
        for item in openapi.paths.paths.values_mut() {
            let shared_params = item.parameters.clone().unwrap_or_default();
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let params = operation
                    .parameters
                    .iter()
                    .flatten()
                    .chain(&shared_params)
                    .map(|p| p.parameter_in.clone())
                    .collect::<Vec<_>>();
                let has = |location: ParameterIn| params.contains(&location);
                let secured = operation.security.as_ref().is_some_and(|requirements| {
                    !requirements.is_empty()
                        && requirements
                            .iter()
                            .all(|r| *r != SecurityRequirement::default())
                });
                let body = operation.request_body.is_some();
                let mut statuses = vec!["408", "503"];
                if secured {
                    statuses.extend(["401", "403"]);
                }
                if body {
                    statuses.extend(["400", "413", "415", "422"]);
                }
                if has(ParameterIn::Path) {
                    statuses.push("400");
                }
                if has(ParameterIn::Query) {
                    statuses.extend(["400", "422"]);
                }
                add_responses(operation, &statuses);
            }
        }
    }
}

fn add_responses(operation: &mut Operation, statuses: &[&str]) {
    for &(status, name, _) in SHARED_RESPONSES {
        if statuses.contains(&status) {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
        }
    }
}

/// The finished document: `openapi` (the header and every route's paths) with the shared
/// responses added to each operation.
pub fn complete(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    SharedResponses.modify(&mut openapi);
    openapi
}

/// The document without paths.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `/api/openapi.json` and `/api/docs`.
pub fn docs_router(openapi: utoipa::openapi::OpenApi) -> Router<AppState> {
    let openapi = complete(openapi);
    let json = openapi.clone();
    Router::new()
        .route("/api/openapi.json", get(move || async move { Json(json) }))
        .merge(SwaggerUi::new("/api/docs").url("/api/docs/openapi.json", openapi))
}
