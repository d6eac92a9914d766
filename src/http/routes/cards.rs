//! QR codes of share codes and printable referral cards (issue 10, guide 4.11). Every
//! code drawn holds the landing URL `{PUBLIC_URL}/r/CODE?ch=…`, so a scan is counted as a
//! click of its channel before the visitor reaches the shop.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::{Permission, Principal};
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Path, Query};
use crate::render::cards::CardCount;
use crate::render::qr::QrSize;
use crate::service::cards::{self, QrFormat};

/// The QR and card routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_my_qr_svg))
        .routes(routes!(get_my_qr_png))
        .routes(routes!(get_qr_svg))
        .routes(routes!(get_qr_png))
        .routes(routes!(get_rider_cards))
        .routes(routes!(get_parcel_card))
}

/// `?size=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrParams {
    /// Width and height in pixels, quiet zone included: 128 to 2048, default 512. A PNG
    /// is the largest whole number of pixels per module that fits (so it may be a few
    /// pixels smaller); an SVG is exactly this size and scales without blur.
    size: Option<u32>,
}

/// A share code's QR code may be kept by the browser for a day: the code never changes
/// (`REF` and the id), and `private` keeps shared caches from storing what a token
/// fetched.
const QR_CACHE: &str = "private, max-age=86400";

/// Cards are printed from what the partner or order is now (a partner's code can be
/// renamed or deactivated), so they are never stored.
const PDF_CACHE: &str = "no-store";

/// The body `bytes` as `content_type`, with `cache_control`; a download name for PDFs.
fn file(
    bytes: Vec<u8>,
    content_type: &'static str,
    cache_control: &'static str,
    filename: Option<String>,
) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if content_type == SVG {
        // An SVG opened directly is a document that could run script; ours has none, and
        // this says so to the browser.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'"),
        );
    }
    if let Some(value) = filename
        .and_then(|name| HeaderValue::from_str(&format!("inline; filename=\"{name}\"")).ok())
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// A binary body (a PNG or a PDF), documented as one: `string` with `format: binary`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[expect(
    dead_code,
    reason = "only its schema is used, for the OpenAPI document"
)]
struct Binary(Vec<u8>);

const SVG: &str = "image/svg+xml";
const PNG: &str = "image/png";
const PDF: &str = "application/pdf";

async fn qr(
    state: &AppState,
    customer_id: i32,
    format: QrFormat,
    params: QrParams,
) -> Result<Response> {
    let size = QrSize::from_query(params.size)?;
    let bytes = cards::share_qr(&state.db, &state.config, customer_id, format, size).await?;
    let content_type = match format {
        QrFormat::Svg => SVG,
        QrFormat::Png => PNG,
    };
    Ok(file(bytes, content_type, QR_CACHE, None))
}

/// The caller's share code as a QR code (SVG) of its landing URL with `ch=qr`.
#[utoipa::path(get, path = "/api/loyalty/me/qr.svg", tag = "channels", security(("bearer" = [])),
    params(QrParams),
    responses((status = 200, description = "The QR code", content_type = "image/svg+xml", body = String),
              (status = 400, body = ErrorBody, description = "invalid_query: size out of range")))]
async fn get_my_qr_svg(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<QrParams>,
) -> Result<Response> {
    let me = principal.own_customer_id(Permission::ShareReferralLink)?;
    qr(&state, me, QrFormat::Svg, params).await
}

/// The caller's share code as a QR code (PNG) of its landing URL with `ch=qr`.
#[utoipa::path(get, path = "/api/loyalty/me/qr.png", tag = "channels", security(("bearer" = [])),
    params(QrParams),
    responses((status = 200, description = "The QR code", content_type = "image/png", body = inline(Binary)),
              (status = 400, body = ErrorBody, description = "invalid_query: size out of range")))]
async fn get_my_qr_png(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<QrParams>,
) -> Result<Response> {
    let me = principal.own_customer_id(Permission::ShareReferralLink)?;
    qr(&state, me, QrFormat::Png, params).await
}

/// A customer's share code as a QR code (SVG) of its landing URL with `ch=qr`. A
/// customer reaches only their own; staff need `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referral-code/{customerId}/qr.svg", tag = "channels",
    security(("bearer" = [])),
    params(("customerId" = i32, Path), QrParams),
    responses((status = 200, description = "The QR code", content_type = "image/svg+xml", body = String),
              (status = 400, body = ErrorBody, description = "invalid_query: size out of range"),
              (status = 404, body = ErrorBody, description = "customer_not_found")))]
async fn get_qr_svg(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
    Query(params): Query<QrParams>,
) -> Result<Response> {
    principal.reach_customer(customer_id, Permission::ViewMlmReports)?;
    qr(&state, customer_id, QrFormat::Svg, params).await
}

/// A customer's share code as a QR code (PNG) of its landing URL with `ch=qr`. A
/// customer reaches only their own; staff need `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referral-code/{customerId}/qr.png", tag = "channels",
    security(("bearer" = [])),
    params(("customerId" = i32, Path), QrParams),
    responses((status = 200, description = "The QR code", content_type = "image/png", body = inline(Binary)),
              (status = 400, body = ErrorBody, description = "invalid_query: size out of range"),
              (status = 404, body = ErrorBody, description = "customer_not_found")))]
async fn get_qr_png(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
    Query(params): Query<QrParams>,
) -> Result<Response> {
    principal.reach_customer(customer_id, Permission::ViewMlmReports)?;
    qr(&state, customer_id, QrFormat::Png, params).await
}

/// `?partnerId=&count=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RiderCardParams {
    /// The rider: a partner of type `delivery_rider`.
    partner_id: Uuid,
    /// How many cards: 1 to 500, default 10 (eight to a sheet).
    count: Option<u32>,
}

/// A delivery rider's referral cards as a PDF: A4 sheets of eight 85 × 55 mm cards with
/// crop marks, each with the shop's name, a QR code of the rider's landing URL
/// (`ch=delivery_card`), the rider's code and a line in Bangla. Needs
/// `manage-mlm-settings`.
#[utoipa::path(get, path = "/api/loyalty/rider-cards.pdf", tag = "channels", security(("bearer" = [])),
    params(RiderCardParams),
    responses((status = 200, description = "The sheets", content_type = "application/pdf", body = inline(Binary)),
              (status = 400, body = ErrorBody, description = "invalid_query: no partnerId, or count out of range"),
              (status = 404, body = ErrorBody, description = "partner_not_found"),
              (status = 409, body = ErrorBody, description = "partner_inactive"),
              (status = 422, body = ErrorBody, description = "partner_not_rider")))]
async fn get_rider_cards(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<RiderCardParams>,
) -> Result<Response> {
    principal.require(Permission::ManageMlmSettings)?;
    let count = CardCount::from_query(params.count)?;
    let pdf = cards::rider_cards(&state.db, &state.config, params.partner_id, count).await?;
    let name = format!("rider-cards-{}.pdf", params.partner_id);
    Ok(file(pdf, PDF, PDF_CACHE, Some(name)))
}

/// The referral card for one parcel, as a PDF: the order's customer's own share code and
/// its landing URL (`ch=delivery_card`), so the recipient shares it on. One 85 × 55 mm
/// card with crop marks. Needs `edit-sales-orders`.
#[utoipa::path(get, path = "/api/orders/{orderId}/referral-card.pdf", tag = "channels",
    security(("bearer" = []), ("api_key" = [])),
    params(("orderId" = i32, Path, description = "The shop's order id")),
    responses((status = 200, description = "The card", content_type = "application/pdf", body = inline(Binary)),
              (status = 404, body = ErrorBody, description = "order_not_found, or customer_not_found (deleted)"),
              (status = 409, body = ErrorBody, description = "order_has_no_customer")))]
async fn get_parcel_card(
    State(state): State<AppState>,
    principal: Principal,
    Path(order_id): Path<i32>,
) -> Result<Response> {
    principal.require(Permission::EditSalesOrders)?;
    let pdf = cards::parcel_card(&state.db, &state.config, order_id).await?;
    let name = format!("referral-card-order-{order_id}.pdf");
    Ok(file(pdf, PDF, PDF_CACHE, Some(name)))
}
