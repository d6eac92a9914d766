//! The OpenAPI document (`/api/openapi.json`) and the docs UI (`/api/docs`), served from
//! files compiled into the binary: they work offline.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
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
        (name = "kpis", description = "Programme KPIs for the admin dashboard"),
        (name = "customers", description = "Signup with a referral code"),
        (name = "orders", description = "Orders from the shop's system; delivery completes referrals"),
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

/// The document without paths.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `/api/openapi.json` and `/api/docs`.
pub fn docs_router(openapi: utoipa::openapi::OpenApi) -> Router<AppState> {
    let json = openapi.clone();
    Router::new()
        .route("/api/openapi.json", get(move || async move { Json(json) }))
        .merge(SwaggerUi::new("/api/docs").url("/api/docs/openapi.json", openapi))
}
