//! The call centre: follow-up call tasks, the answer of an agent's referral, and the agents'
//! report. The one home of which task transitions are allowed ([`TaskStatus::can_become`]).

use rust_decimal::Decimal;
use serde::Serialize;

use super::partner::ReportWindow;
use super::referral::Referral;
use super::time::Timestamp;

super::sql_enum! {
    /// Where a call task is: open, then done or cancelled. A closed task can be reopened.
    pub enum TaskStatus = "crm_task_status" {
        /// To be worked.
        Open = "open",
        /// Worked: the call was made.
        Done = "done",
        /// Dropped without a call (the friend joined meanwhile, a wrong number).
        Cancelled = "cancelled",
    }
}

impl TaskStatus {
    /// Whether a task in this status may be moved to `next`: an open task may be closed
    /// (done or cancelled), a closed one reopened; a closed task is never moved straight
    /// to the other closed status (reopen it first, so its history says so). Staying in
    /// the same status is always allowed (a retry, or a new note).
    pub fn can_become(self, next: Self) -> bool {
        self == next || self == Self::Open || next == Self::Open
    }
}

/// Tags of the task an agent's referral creates (TrustCart's).
pub const REFERRAL_TASK_TAGS: [&str; 2] = ["referral", "agent_referral"];

/// A call task, as the API returns it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Task id.
    pub id: i32,
    /// What to do, e.g. `Referral follow-up: +8801712345678`.
    pub title: String,
    /// What the task is about, as its creator wrote it (the agent's notes).
    pub notes: Option<String>,
    /// Tags (`referral`, `agent_referral`).
    pub tags: Vec<String>,
    /// `open`, `done` or `cancelled`.
    pub status: TaskStatus,
    /// The staff user who works it.
    pub assigned_to: i32,
    /// The customer the call is about (for a referral follow-up, the referrer).
    pub customer_id: Option<i32>,
    /// The referral it follows up.
    pub referral_id: Option<i32>,
    /// When it is due.
    pub due_at: Timestamp,
    /// The latest note of whoever worked it.
    pub note: Option<String>,
    /// Who created it.
    pub created_by: Option<i32>,
    /// When it was closed (done or cancelled); `null` while open.
    pub closed_at: Option<Timestamp>,
    /// Who closed it.
    pub closed_by: Option<i32>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// What `POST /api/crm/referrals/agent` answers (TrustCart's `{referral, task}`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AgentReferral {
    /// The referral, in TrustCart's entity shape.
    pub referral: Referral,
    /// Its follow-up task, due in 24 hours.
    pub task: Task,
}

/// One agent's line of the agents' report. The referrals counted are those the agent
/// captured in the window (a cohort): how many of them registered and completed since,
/// and what their rewards cost.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentReportLine {
    /// The agent's user id.
    pub agent_user_id: i32,
    /// The agent's name.
    pub name: Option<String>,
    /// The agent's login email.
    pub email: String,
    /// Referrals captured.
    pub captured: i64,
    /// Of those, friends who joined (registered or completed).
    pub registered: i64,
    /// Of those, referrals completed by a delivered first order (and not reversed).
    pub completed: i64,
    /// Taka of the wallet rewards (both sides) of the completed ones that are earned and
    /// not taken away: `rewardCostReleased + rewardCostPending`.
    #[schema(value_type = f64)]
    pub reward_cost: Decimal,
    /// Of which released (paid).
    #[schema(value_type = f64)]
    pub reward_cost_released: Decimal,
    /// Of which still in their hold or in review.
    #[schema(value_type = f64)]
    pub reward_cost_pending: Decimal,
}

/// `GET /api/crm/referrals/agents/report`: one line per agent who captured a referral in
/// the window, most captures first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentReport {
    /// The window the referrals were captured in.
    pub window: ReportWindow,
    /// One line per agent.
    pub agents: Vec<AgentReportLine>,
}

#[cfg(test)]
mod tests {
    use super::TaskStatus::{Cancelled, Done, Open};

    #[test]
    fn open_tasks_close_and_closed_tasks_reopen() {
        assert!(Open.can_become(Done));
        assert!(Open.can_become(Cancelled));
        assert!(Done.can_become(Open));
        assert!(Cancelled.can_become(Open));
        assert!(Done.can_become(Done));
        assert!(!Done.can_become(Cancelled));
        assert!(!Cancelled.can_become(Done));
    }
}
