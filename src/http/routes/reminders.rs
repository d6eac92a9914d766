//! Repeat-purchase reminders (TrustCart routes 37–42): consumption profiles, generating
//! reminders, the due list and marking one sent. Reads need `view-mlm-reports`, writes
//! `manage-mlm-settings`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AfterPageParams, DuePageParams};
use crate::auth::{Permission, Principal};
use crate::domain::reminder::{
    ConsumptionProfile, DeleteResult, ProfileInput, Reminder, ReminderChannel,
};
use crate::error::{Code, Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::reminders;

/// A page of the due list: the contract's 1 to 2000 (default 200).
type DuePage = DuePageParams<200, 2000>;
/// A page of consumption profiles: 1 to 2000 (default 500, so that TrustCart's admin, which
/// sends no `limit`, sees a shop's profiles).
type ProfilePage = AfterPageParams<500, 2000>;

/// The profile and reminder routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_profiles, create_profile))
        .routes(routes!(delete_profile))
        .routes(routes!(generate))
        .routes(routes!(list_due))
        .routes(routes!(mark_sent))
}

/// A consumption profile as TrustCart's admin sends it: `productId` or `categoryId`
/// (either spelling, exactly one of the two).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileRequest {
    /// The product (or `product_id`).
    #[serde(alias = "product_id")]
    product_id: Option<i64>,
    /// The category (or `category_id`).
    #[serde(alias = "category_id")]
    category_id: Option<i64>,
    /// Days the product lasts after delivery (1–3650).
    avg_consumption_days: Option<i64>,
    /// Days of warning before it runs out (default 0; less than the average).
    buffer_days: Option<i64>,
    /// Shortest interval from delivery to reminder (default 1).
    min_days: Option<i64>,
    /// Longest interval (default 365; at least `minDays`).
    max_days: Option<i64>,
    /// Whether it generates reminders (default true).
    is_active: Option<bool>,
}

/// Consumption profiles, oldest first, a page at a time (`afterId`: the last id of the
/// previous page). Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/consumption-profiles", tag = "rewards", security(("bearer" = [])),
    params(ProfilePage),
    responses((status = 200, body = Vec<ConsumptionProfile>),
              (status = 400, body = ErrorBody, description = "invalid_query: a limit out of range"),
              (status = 403, body = ErrorBody)))]
async fn list_profiles(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<ProfilePage>,
) -> Result<Json<Vec<ConsumptionProfile>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    Ok(Json(
        reminders::profiles(&state.db, limit, page.after_id).await?,
    ))
}

/// Creates a product's or category's profile, or replaces the one it has (201 either
/// way, as TrustCart's `save`). Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/consumption-profiles", tag = "rewards", security(("bearer" = [])),
    request_body = ProfileRequest,
    responses((status = 201, body = ConsumptionProfile), (status = 422, body = ErrorBody)))]
async fn create_profile(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ProfileRequest>,
) -> Result<(StatusCode, Json<ConsumptionProfile>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let input = ProfileInput {
        product_id: body.product_id,
        category_id: body.category_id,
        avg_consumption_days: body.avg_consumption_days,
        buffer_days: body.buffer_days,
        min_days: body.min_days,
        max_days: body.max_days,
        is_active: body.is_active,
    };
    let (profile, _created) = reminders::save_profile(&state.db, input).await?;
    Ok((StatusCode::CREATED, Json(profile)))
}

/// Deletes a profile: TypeORM's `{raw: [], affected}` (`affected: 0` for an unknown id).
/// Needs `manage-mlm-settings`.
#[utoipa::path(delete, path = "/api/loyalty/consumption-profiles/{id}", tag = "rewards", security(("bearer" = [])),
    params(("id" = i32, Path)), responses((status = 200, body = DeleteResult)))]
async fn delete_profile(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i32>,
) -> Result<Json<DeleteResult>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(reminders::delete_profile(&state.db, id).await?))
}

/// `?date=YYYY-MM-DD` (today in Asia/Dhaka when absent).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GenerateParams {
    /// The Dhaka date to generate for.
    date: Option<String>,
}

/// What generation answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Generated {
    /// Always true (a failure is an error).
    success: bool,
    /// The date generated for, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    as_of_date: NaiveDate,
}

/// Generates repeat-purchase reminders as of a date, idempotently (the daily job does the
/// same for today). Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/reminders/generate", tag = "rewards", security(("bearer" = [])),
    params(GenerateParams), responses((status = 201, body = Generated), (status = 400, body = ErrorBody)))]
async fn generate(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<GenerateParams>,
) -> Result<(StatusCode, Json<Generated>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let as_of = parse_date(params.date.as_deref())?;
    let generation = reminders::generate(&state.db, as_of).await?;
    tracing::info!(
        as_of = %generation.as_of,
        created = generation.created,
        updated = generation.updated,
        "generated reminders"
    );
    Ok((
        StatusCode::CREATED,
        Json(Generated {
            success: true,
            as_of_date: generation.as_of,
        }),
    ))
}

/// `?date=YYYY-MM-DD`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueParams {
    /// Due on or before this Dhaka date (today when absent).
    date: Option<String>,
}

/// The due list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DueReminders {
    /// The date asked about, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    as_of_date: NaiveDate,
    /// How many reminders follow (on this page).
    count: usize,
    /// Earliest due first (by `reminder_due_date`, then id).
    reminders: Vec<Reminder>,
}

/// Unsent reminders due on or before a date, of live customers who have not ordered the
/// product again, a page at a time: the cursor is the previous page's last
/// `reminder_due_date` (`afterDate`) and `id` (`afterId`). Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/reminders/due", tag = "rewards", security(("bearer" = [])),
    params(DueParams, DuePage),
    responses((status = 200, body = DueReminders),
              (status = 400, body = ErrorBody, description = "invalid_query: a bad date, a limit out of range, or only one of afterDate and afterId")))]
async fn list_due(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<DueParams>,
    Query(page): Query<DuePage>,
) -> Result<Json<DueReminders>> {
    principal.require(Permission::ViewMlmReports)?;
    let as_of = parse_date(params.date.as_deref())?;
    let limit = page.limit()?;
    let (as_of_date, reminders) = reminders::due(&state.db, as_of, page.cursor()?, limit).await?;
    Ok(Json(DueReminders {
        as_of_date,
        count: reminders.len(),
        reminders,
    }))
}

/// How the reminder was sent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SentRequest {
    /// `whatsapp`, `sms`, `call` or `email`.
    channel: String,
}

/// Marks a reminder sent. Again through the same channel: 200, nothing changes; through
/// another: 409 `reminder_already_sent`. Needs `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/loyalty/reminders/{id}/sent", tag = "rewards", security(("bearer" = [])),
    params(("id" = i32, Path)), request_body = SentRequest,
    responses((status = 200, body = Reminder), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn mark_sent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i32>,
    Json(body): Json<SentRequest>,
) -> Result<Json<Reminder>> {
    principal.require(Permission::ManageMlmSettings)?;
    let channel = ReminderChannel::from_name(&body.channel.trim().to_ascii_lowercase())
        .ok_or_else(|| Error::invalid_field("channel", "must be whatsapp, sms, call or email"))?;
    Ok(Json(reminders::mark_sent(&state.db, id, channel).await?))
}

/// A `?date=` as `YYYY-MM-DD`.
fn parse_date(raw: Option<&str>) -> Result<Option<NaiveDate>> {
    raw.map(|raw| {
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map_err(|_| Error::new(Code::InvalidQuery, "date must be YYYY-MM-DD"))
    })
    .transpose()
}
