//! Public signup and guest checkout with a referral code (TrustCart `POST /api/customers/public`).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Permission, Principal};
use crate::domain::customer::Customer;
use crate::domain::utm::Utm;
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Query};
use crate::http::rate_limit::PublicRateLimit;
use crate::service::customers;
use crate::service::fraud::ClientSignals;
use crate::service::signup::{self, SignupForm};

/// The customer routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_public_customer))
        .routes(routes!(get_my_customer))
        .routes(routes!(lookup_customer))
}

/// What TrustCart's register and checkout pages send. Only these fields are read; anything
/// else in the body (`id`, `isDeleted`, `referredByCustomerId`, …) is ignored, never written.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicSignupRequest {
    /// First name.
    name: Option<String>,
    /// Last name.
    last_name: Option<String>,
    /// Email (optional).
    email: Option<String>,
    /// Bangladeshi mobile number (required).
    phone: Option<String>,
    /// Password; without one the customer is a guest.
    password: Option<String>,
    /// As the shop sends it (`new`).
    customer_type: Option<String>,
    /// Ignored: new customers are always active.
    #[expect(
        dead_code,
        reason = "read so that the OpenAPI document shows the field TrustCart sends"
    )]
    status: Option<String>,
    /// Delivery district.
    district: Option<String>,
    /// Delivery address.
    address: Option<String>,
    /// The referral or partner code (also read from `referredByCode`, `referred_by_code`, `referral_code`).
    #[serde(rename = "ref")]
    r#ref: Option<String>,
    /// Alias of `ref`.
    referred_by_code: Option<String>,
    /// Alias of `ref`.
    #[serde(rename = "referred_by_code")]
    referred_by_code_snake: Option<String>,
    /// Alias of `ref`.
    #[serde(rename = "referral_code")]
    referral_code_snake: Option<String>,
    /// The channel the code came through (also `referred_channel`, `channel`).
    referral_channel: Option<String>,
    /// Alias of `referralChannel`.
    #[serde(rename = "referred_channel")]
    referred_channel_snake: Option<String>,
    /// Alias of `referralChannel`.
    channel: Option<String>,
    /// The code sent by `POST /api/auth/phone-verification`: required to register the
    /// phone of a guest who gave no email (or another one).
    phone_verification_code: Option<String>,
    /// The device's id, kept as a fraud signal (else the `X-Device-Id` header); 1 to 128
    /// printable ASCII characters.
    device_id: Option<String>,
    /// The `utm_source` of the link the customer came through, as the landing passed it
    /// to the register page (also `utmSource`); kept on their referral. UTM values are
    /// trimmed and cut to 100 characters; one with control characters is dropped.
    #[serde(rename = "utm_source", alias = "utmSource")]
    utm_source: Option<String>,
    /// The link's `utm_medium` (also `utmMedium`).
    #[serde(rename = "utm_medium", alias = "utmMedium")]
    utm_medium: Option<String>,
    /// The link's `utm_campaign` (also `utmCampaign`).
    #[serde(rename = "utm_campaign", alias = "utmCampaign")]
    utm_campaign: Option<String>,
    /// The link's `utm_content` (also `utmContent`).
    #[serde(rename = "utm_content", alias = "utmContent")]
    utm_content: Option<String>,
}

/// The first non-blank value, as TrustCart picks among its aliases.
fn first_present(values: [Option<String>; 4]) -> Option<String> {
    values.into_iter().flatten().find(|v| !v.trim().is_empty())
}

/// Registers a customer (with a password) or creates a guest (without), recording the
/// referral or partner code they came with, and the device (`X-Device-Id` or `deviceId`)
/// and hashed client address as fraud signals. A friend on the blocklist still registers,
/// without a referral (like a self-referral, the answer does not say why: a
/// `referral_refused` event does). Public: no token.
#[utoipa::path(post, path = "/api/customers/public", tag = "customers",
    request_body = PublicSignupRequest,
    responses((status = 201, body = Customer),
              (status = 409, body = ErrorBody, description = "phone_taken, email_taken or guest_email_mismatch"),
              (status = 422, body = ErrorBody, description = "validation_failed, or phone_not_verified / verification_code_* for a guest's phone without its email"), (status = 429, body = ErrorBody)))]
async fn create_public_customer(
    _limit: PublicRateLimit,
    State(state): State<AppState>,
    client: ClientSignals,
    Json(body): Json<PublicSignupRequest>,
) -> Result<(StatusCode, Json<Customer>)> {
    let client = client.with_body_device(body.device_id.as_deref())?;
    let form = SignupForm {
        name: body.name,
        last_name: body.last_name,
        email: body.email,
        phone: body.phone,
        password: body.password,
        customer_type: body.customer_type,
        district: body.district,
        address: body.address,
        code: first_present([
            body.r#ref,
            body.referred_by_code,
            body.referred_by_code_snake,
            body.referral_code_snake,
        ]),
        channel: first_present([
            body.referral_channel,
            body.referred_channel_snake,
            body.channel,
            None,
        ]),
        phone_verification_code: body.phone_verification_code,
        utm: Utm::new(
            body.utm_source.as_deref(),
            body.utm_medium.as_deref(),
            body.utm_campaign.as_deref(),
            body.utm_content.as_deref(),
        ),
        client,
    };
    let customer = signup::sign_up(&state.db, &state.otp, form).await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

/// The caller's own customer record.
#[utoipa::path(get, path = "/api/customers/me", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_my_customer(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Customer>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    Ok(Json(customers::me(&state.db, me).await?))
}

/// `?phone=&email=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupParams {
    /// A Bangladeshi mobile number, in any common spelling.
    phone: Option<String>,
    /// An email address.
    email: Option<String>,
}

/// Whether a customer exists.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupResponse {
    /// The customer's id, or `null`.
    id: Option<i32>,
}

/// Finds a customer by phone or email, as TrustCart's checkout does before creating a
/// guest. Public and rate-limited per client (it tells whether a number is registered).
#[utoipa::path(get, path = "/api/customers/lookup", tag = "customers", params(LookupParams),
    responses((status = 200, body = LookupResponse), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn lookup_customer(
    _limit: PublicRateLimit,
    State(state): State<AppState>,
    Query(params): Query<LookupParams>,
) -> Result<Json<LookupResponse>> {
    let id = customers::lookup(&state.db, params.phone.as_deref(), params.email.as_deref()).await?;
    Ok(Json(LookupResponse { id }))
}
