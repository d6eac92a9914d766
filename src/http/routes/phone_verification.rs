//! Phone verification codes: a customer's own phone (before withdrawals), and the public
//! route that proves a guest's phone before it is registered.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Permission, Principal};
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::Json;
use crate::http::rate_limit::PublicRateLimit;
use crate::service::phone_verification::{self, PhoneCodeResponse, PhoneVerifiedResponse};

/// The phone verification routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_my_phone_code))
        .routes(routes!(confirm_my_phone_code))
        .routes(routes!(send_signup_phone_code))
}

/// The code the customer received.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPhoneRequest {
    /// The 6 digits sent to the phone.
    code: String,
}

/// The phone to send a code to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendPhoneCodeRequest {
    /// A Bangladeshi mobile number, in any common spelling.
    phone: String,
}

/// Sends a 6-digit code to the caller's phone, valid for 5 minutes. At most 3 codes per
/// phone per hour.
#[utoipa::path(post, path = "/api/loyalty/me/phone-verification", tag = "customers", security(("bearer" = [])),
    responses((status = 201, body = PhoneCodeResponse),
              (status = 429, body = ErrorBody, description = "too_many_verification_codes; see Retry-After")))]
async fn send_my_phone_code(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<(StatusCode, Json<PhoneCodeResponse>)> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let sent = phone_verification::send_own(&state.db, &state.otp, me).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

/// Confirms the code sent to the caller's phone; the phone is then verified.
#[utoipa::path(post, path = "/api/loyalty/me/phone-verification/confirm", tag = "customers", security(("bearer" = [])),
    request_body = ConfirmPhoneRequest,
    responses((status = 200, body = PhoneVerifiedResponse),
              (status = 422, body = ErrorBody, description = "verification_code_invalid, verification_code_expired, verification_attempts_exceeded")))]
async fn confirm_my_phone_code(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ConfirmPhoneRequest>,
) -> Result<Json<PhoneVerifiedResponse>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    Ok(Json(
        phone_verification::confirm_own(&state.db, &state.otp, me, &body.code).await?,
    ))
}

/// Sends a 6-digit code to a phone before it is registered: registering the phone of a
/// guest who gave no (or another) email needs it as `phoneVerificationCode`. Public and
/// rate-limited; the answer is the same whether the phone belongs to anyone or not. At
/// most 3 codes per phone per hour.
#[utoipa::path(post, path = "/api/auth/phone-verification", tag = "auth",
    request_body = SendPhoneCodeRequest,
    responses((status = 201, body = PhoneCodeResponse),
              (status = 429, body = ErrorBody, description = "rate_limited or too_many_verification_codes; see Retry-After")))]
async fn send_signup_phone_code(
    _limit: PublicRateLimit,
    State(state): State<AppState>,
    Json(body): Json<SendPhoneCodeRequest>,
) -> Result<(StatusCode, Json<PhoneCodeResponse>)> {
    let sent = phone_verification::send_for_signup(&state.db, &state.otp, &body.phone).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}
