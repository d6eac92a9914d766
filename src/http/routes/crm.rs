//! The call centre: TrustCart's agent referral routes (§1.3, now guarded by
//! `capture-referrals`), Bondhu's follow-up tasks and the agents' report.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{PageParams, page_limit};
use crate::auth::{Permission, Principal};
use crate::domain::crm::{AgentReferral, AgentReport, Task, TaskStatus};
use crate::domain::referral::ReferralRow;
use crate::error::{Code, Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::crm::{self, Assignee, Capture, TaskViewer};

/// A page of `GET /api/crm/referrals/my`: TrustCart's default and largest `limit` (100,
/// 1 to 2000).
type MyPage = PageParams<100, 2000>;
/// Default and largest page of tasks.
const DEFAULT_TASKS: i64 = 50;
const MAX_TASKS: i64 = 500;

/// The call-centre routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_agent_referral))
        .routes(routes!(list_my_agent_referrals))
        .routes(routes!(get_agents_report))
        .routes(routes!(list_tasks))
        .routes(routes!(update_task))
}

/// What TrustCart's CRM form sends. Unknown fields are ignored, as on every
/// TrustCart-compatible route.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAgentReferralRequest {
    /// The customer on the call, who gives the friend's number.
    referrer_customer_id: i32,
    /// The friend's phone (Bangladeshi mobile).
    referred_phone: Option<String>,
    /// The friend's email.
    referred_email: Option<String>,
    /// What the agent wants to remember (at most 2000 characters).
    notes: Option<String>,
    /// Refused when set: the campaign is chosen by the campaign engine (the
    /// `agent_referral` channel's campaign, else the default), not by the agent.
    campaign_id: Option<Uuid>,
    /// Refused when set: an agent's referral has a customer as referrer, not a partner.
    partner_id: Option<Uuid>,
    /// Bondhu: `true` when the friend agreed to receive the invitation message with their
    /// offer (needs `referredPhone`); it is queued in the outbox with the referral.
    #[serde(default)]
    consent: bool,
}

/// A call agent captures a referral for the customer on the call: a pending invitation
/// (channel `agent_referral`, the agent's id, the referrer's campaign), its `invited`
/// event and a follow-up task due in 24 hours. Needs `capture-referrals` (TrustCart
/// checked nothing, D15). Refused with 409: the agent's own phone (`agent_own_phone`), a
/// colleague's (`colleague_phone`), a phone with a pending invitation (`referral_pending`),
/// an existing customer (`already_customer`); 422 `self_referral` for the referrer's own.
#[utoipa::path(post, path = "/api/crm/referrals/agent", tag = "crm", security(("bearer" = [])),
    request_body = CreateAgentReferralRequest,
    responses((status = 201, body = AgentReferral),
              (status = 404, body = ErrorBody, description = "customer_not_found (referrerCustomerId)"),
              (status = 409, body = ErrorBody, description = "agent_own_phone, colleague_phone, referral_pending or already_customer"),
              (status = 422, body = ErrorBody, description = "validation_failed, or self_referral")))]
async fn create_agent_referral(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateAgentReferralRequest>,
) -> Result<(StatusCode, Json<AgentReferral>)> {
    let agent = principal.staff_user_id(Permission::CaptureReferrals)?;
    if body.campaign_id.is_some() {
        return Err(Error::invalid_field(
            "campaignId",
            "the campaign is chosen by the campaign engine (the agent_referral channel's campaign, else the default)",
        ));
    }
    if body.partner_id.is_some() {
        return Err(Error::invalid_field(
            "partnerId",
            "an agent's referral has the customer as its referrer, not a partner",
        ));
    }
    let input = Capture {
        referrer_customer_id: body.referrer_customer_id,
        referred_phone: body.referred_phone,
        referred_email: body.referred_email,
        notes: body.notes,
        consent: body.consent,
    };
    Ok((
        StatusCode::CREATED,
        Json(crm::capture(&state.db, agent, input).await?),
    ))
}

/// The referrals the caller captured, newest first, as TrustCart's raw snake_case rows, a
/// page at a time (`beforeId`: the last id of the previous page). Needs `capture-referrals`.
#[utoipa::path(get, path = "/api/crm/referrals/my", tag = "crm", security(("bearer" = [])),
    params(MyPage),
    responses((status = 200, body = Vec<ReferralRow>)))]
async fn list_my_agent_referrals(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<MyPage>,
) -> Result<Json<Vec<ReferralRow>>> {
    let agent = principal.staff_user_id(Permission::CaptureReferrals)?;
    let limit = page.limit()?;
    Ok(Json(
        crm::my_referrals(&state.db, agent, limit, page.before_id).await?,
    ))
}

/// `?from=&to=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentsReportParams {
    /// Captured from (RFC 3339, inclusive).
    from: Option<DateTime<Utc>>,
    /// Captured before (RFC 3339, exclusive).
    to: Option<DateTime<Utc>>,
}

/// Per agent, the referrals captured in the window, how many registered and completed
/// since, and the reward cost of the completed ones (wallet rewards of both sides,
/// released or pending). Needs `manage-crm-tasks`.
#[utoipa::path(get, path = "/api/crm/referrals/agents/report", tag = "crm", security(("bearer" = [])),
    params(AgentsReportParams),
    responses((status = 200, body = AgentReport)))]
async fn get_agents_report(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<AgentsReportParams>,
) -> Result<Json<AgentReport>> {
    principal.require(Permission::ManageCrmTasks)?;
    Ok(Json(
        crm::agent_report(&state.reports, params.from, params.to).await?,
    ))
}

/// `?assignee=me|<userId>&status=&due_before=&limit=&beforeId=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    /// `me`, or a staff user's id (managers only). Agents see only their own tasks
    /// whatever this says; managers see everyone's when it is absent.
    assignee: Option<String>,
    /// `open`, `done` or `cancelled`.
    status: Option<TaskStatus>,
    /// Only tasks due before this instant (RFC 3339).
    #[serde(alias = "dueBefore")]
    due_before: Option<DateTime<Utc>>,
    /// How many tasks (1–500, default 50).
    limit: Option<i64>,
    /// Only tasks with a smaller id (the last id of the previous page).
    #[serde(rename = "beforeId")]
    before_id: Option<i32>,
}

/// Call tasks, newest first: an agent's own (`capture-referrals`), or everyone's for a
/// manager (`manage-crm-tasks`), who may filter by assignee.
#[utoipa::path(get, path = "/api/crm/tasks", tag = "crm", security(("bearer" = [])),
    params(TaskListParams),
    responses((status = 200, body = Vec<Task>),
              (status = 403, body = ErrorBody, description = "Also: an agent naming another assignee")))]
async fn list_tasks(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<TaskListParams>,
) -> Result<Json<Vec<Task>>> {
    let viewer = TaskViewer::of(&principal)?;
    let assignee = match params.assignee.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(me) if me.eq_ignore_ascii_case("me") => Some(Assignee::Me),
        Some(id) => Some(Assignee::User(id.parse().map_err(|_| {
            Error::new(
                Code::InvalidQuery,
                "assignee must be `me` or a staff user's id",
            )
        })?)),
    };
    let limit = page_limit(params.limit, DEFAULT_TASKS, MAX_TASKS)?;
    Ok(Json(
        crm::tasks(
            &state.db,
            viewer,
            assignee,
            params.status,
            params.due_before,
            params.before_id,
            limit,
        )
        .await?,
    ))
}

/// What may change on a task.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTaskRequest {
    /// `open` (reopen a closed task), `done` or `cancelled`. A done task is reopened
    /// before it is cancelled (and the reverse): 409 `invalid_transition` otherwise.
    status: Option<TaskStatus>,
    /// A note on the call (at most 2000 characters; replaces the previous note).
    note: Option<String>,
}

/// Works a task: closes, reopens or annotates it. An agent reaches only their own tasks
/// (another's is 404 `task_not_found`); a manager every task.
#[utoipa::path(put, path = "/api/crm/tasks/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = i32, Path)), request_body = UpdateTaskRequest,
    responses((status = 200, body = Task),
              (status = 404, body = ErrorBody, description = "task_not_found"),
              (status = 409, body = ErrorBody, description = "invalid_transition")))]
async fn update_task(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i32>,
    Json(body): Json<UpdateTaskRequest>,
) -> Result<Json<Task>> {
    let viewer = TaskViewer::of(&principal)?;
    Ok(Json(
        crm::update_task(&state.db, viewer, id, body.status, body.note).await?,
    ))
}
