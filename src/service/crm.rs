//! The call centre (guide 4.8, TrustCart §1.3): an agent captures a friend's phone for a
//! customer on the call, which makes a pending invitation on the referrer's campaign and a
//! follow-up task for the agent; agents work their own tasks, managers everyone's; the
//! agents' report.
//!
//! An agent's referral is an invitation like a customer's own (`service::referrals`): the
//! same rules decide whom it may name (not the referrer, not a customer), the same
//! campaign choice applies (the `agent_referral` channel's campaign, else the default),
//! and the friend joins with its invite code. On top of those, an agent may not name their
//! own phone or a colleague's, and a phone has at most one pending invitation (the
//! database's `customer_referrals_pending_phone_key`, so two agents racing cannot both
//! capture it).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use crate::auth::{Permission, Principal};
use crate::db::crm::{NewTask, TaskFilter};
use crate::db::events::NewEvent;
use crate::db::referrals::NewReferral;
use crate::db::{self, ReportsDb};
use crate::domain::channel::Channel;
use crate::domain::crm::{AgentReferral, AgentReport, REFERRAL_TASK_TAGS, Task, TaskStatus};
use crate::domain::message::NewMessage;
use crate::domain::partner::ReportWindow;
use crate::domain::phone::Phone;
use crate::domain::referral::{EventType, ReferralRow};
use crate::domain::referral_code::share_code;
use crate::domain::time::Timestamp;
use crate::error::{Code, Error, Problems, Result};
use crate::service::{attribution, messaging, referrals};

/// When an agent's follow-up task is due (TrustCart's: the next day).
pub const FOLLOW_UP_AFTER: chrono::Duration = chrono::Duration::hours(24);
/// Longest note an agent or manager may write (the table allows no more).
pub const MAX_NOTE_LEN: usize = 2000;

/// What an agent captured on the call.
#[derive(Debug, Default)]
pub struct Capture {
    /// The customer who gave the friend's number.
    pub referrer_customer_id: i32,
    /// The friend's phone, as typed.
    pub referred_phone: Option<String>,
    /// The friend's email, as typed.
    pub referred_email: Option<String>,
    /// What the agent wants to remember.
    pub notes: Option<String>,
    /// Whether the friend agreed to receive the invitation message with their offer
    /// (which needs their phone).
    pub consent: bool,
}

/// An agent captures a referral: a pending invitation (channel `agent_referral`, the
/// agent's id, the referrer's campaign), its `invited` event (`{agentUserId, notes}`), a
/// follow-up task for the agent due in 24 hours and, with the friend's consent, the
/// invitation message in the outbox, in one transaction.
pub async fn capture(pool: &PgPool, agent_user_id: i32, input: Capture) -> Result<AgentReferral> {
    let (email, phone) = referrals::invitee(
        input.referred_email.as_deref(),
        input.referred_phone.as_deref(),
    )?;
    let mut problems = Problems::default();
    let notes = note_text(input.notes, "notes", &mut problems);
    problems.check(
        !input.consent || phone.is_some(),
        "consent",
        "the invitation message needs the friend's phone (referredPhone)",
    );
    problems.finish(Code::ValidationFailed)?;

    let referrer_id = input.referrer_customer_id;
    let mut tx = pool.begin().await?;
    let referrer = db::customers::find_contact(&mut *tx, referrer_id)
        .await?
        .ok_or_else(|| Error::customer_not_found().for_field("referrerCustomerId"))?;
    if let Some(phone) = &phone {
        refuse_staff_phone(&mut tx, agent_user_id, phone).await?;
    }
    referrals::check_invitee(&mut tx, &referrer, phone.as_ref(), email.as_deref()).await?;
    let channel = Channel::AgentReferral;
    let (campaign_id, variant_id) =
        attribution::choose_campaign(&mut tx, None, channel, &referrer_id.to_string()).await?;
    let share_code = share_code(referrer_id);
    // The pending-phone index refuses a second invitation to the phone here (409
    // referral_pending), whoever sent the first and however close the race.
    let referral = db::referrals::insert(
        &mut tx,
        &NewReferral {
            referrer_customer_id: Some(referrer_id),
            referred_email: email.as_deref(),
            referred_phone: phone.as_ref().map(Phone::as_str),
            share_code_used: Some(&share_code),
            source_channel: Some(channel.as_str()),
            campaign_id,
            variant_id,
            agent_user_id: Some(agent_user_id),
            ..NewReferral::default()
        },
    )
    .await?
    .ok_or_else(|| {
        anyhow::anyhow!("an agent's invitation, which names no customer, was refused")
    })?;
    db::events::record(
        &mut *tx,
        NewEvent {
            referral_id: Some(referral.id),
            referrer_customer_id: Some(referrer_id),
            share_code_used: Some(&share_code),
            source_channel: Some(channel.as_str()),
            payload: Some(json!({ "agentUserId": agent_user_id, "notes": notes })),
            ..NewEvent::new(EventType::Invited)
        },
    )
    .await?;
    let friend = phone
        .as_ref()
        .map(|p| p.as_str().to_owned())
        .or(email)
        .unwrap_or_default();
    let task = db::crm::insert(
        &mut *tx,
        &NewTask {
            title: &format!("Referral follow-up: {friend}"),
            notes: notes.as_deref(),
            tags: &REFERRAL_TASK_TAGS,
            assigned_to: agent_user_id,
            customer_id: Some(referrer_id),
            referral_id: Some(referral.id),
            due_in: FOLLOW_UP_AFTER,
            created_by: Some(agent_user_id),
        },
    )
    .await?;
    if input.consent
        && let Some(phone) = &phone
    {
        // Queued with the referral, in its transaction: sent if and only if it commits.
        messaging::enqueue(
            &mut tx,
            &NewMessage::AgentInvitation {
                to: phone,
                referral_id: referral.id,
            },
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        referral.id = referral.id,
        agent.id = agent_user_id,
        consent = input.consent,
        "agent captured a referral"
    );
    Ok(AgentReferral { referral, task })
}

/// An agent may not name their own phone, nor a colleague's (any live staff user's): a
/// reward for referring oneself or the office is not a referral.
async fn refuse_staff_phone(
    conn: &mut sqlx::PgConnection,
    agent_user_id: i32,
    phone: &Phone,
) -> Result<()> {
    match db::users::with_phone(&mut *conn, phone.as_str()).await? {
        None => Ok(()),
        Some(owner) if owner == agent_user_id => Err(Error::new(
            Code::AgentOwnPhone,
            "This is your own phone number: an agent cannot refer themselves",
        )
        .for_field("referredPhone")),
        Some(_) => Err(Error::new(
            Code::ColleaguePhone,
            "This phone number belongs to a staff user: colleagues cannot be referred",
        )
        .for_field("referredPhone")),
    }
}

/// A page of the referrals agent `agent_user_id` captured, newest first, older than
/// `before_id` if given, in TrustCart's raw-row shape.
pub async fn my_referrals(
    pool: &PgPool,
    agent_user_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> Result<Vec<ReferralRow>> {
    Ok(
        db::referrals::list_for_agent(pool, agent_user_id, limit, before_id)
            .await?
            .into_iter()
            .map(ReferralRow::from)
            .collect(),
    )
}

/// The agents' report over the referrals captured between `from` and `to`, from the
/// reports' database.
pub async fn agent_report(
    reports: &ReportsDb,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<AgentReport> {
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(Error::new(Code::InvalidQuery, "to must not be before from"));
    }
    Ok(AgentReport {
        window: ReportWindow {
            from: from.map(Timestamp::from),
            to: to.map(Timestamp::from),
        },
        agents: db::crm::agent_report(&mut *reports.begin().await?, from, to).await?,
    })
}

/// Whose tasks a caller reaches: a manager (`manage-crm-tasks`) everyone's, an agent
/// (`capture-referrals`) only their own. Both are staff users (a task is worked by a
/// person, and `assignee=me` names one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskViewer {
    /// The caller's user id.
    pub user_id: i32,
    /// Whether they reach every task.
    pub manager: bool,
}

impl TaskViewer {
    /// The viewer `principal` is, or 403.
    pub fn of(principal: &Principal) -> Result<Self> {
        if principal.require(Permission::ManageCrmTasks).is_ok() {
            return Ok(Self {
                user_id: principal.staff_user_id(Permission::ManageCrmTasks)?,
                manager: true,
            });
        }
        Ok(Self {
            user_id: principal.staff_user_id(Permission::CaptureReferrals)?,
            manager: false,
        })
    }

    /// The owner filter of the statements: `None` for a manager.
    fn owner(self) -> Option<i32> {
        (!self.manager).then_some(self.user_id)
    }
}

/// Whose tasks a list asks for: `me`, or a user id (managers only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    /// The caller.
    Me,
    /// Staff user `id`.
    User(i32),
}

/// Tasks the viewer reaches, newest first. An agent asking for another user's tasks is
/// refused (403): only managers may.
pub async fn tasks(
    pool: &PgPool,
    viewer: TaskViewer,
    assignee: Option<Assignee>,
    status: Option<TaskStatus>,
    due_before: Option<DateTime<Utc>>,
    before_id: Option<i32>,
    limit: i64,
) -> Result<Vec<Task>> {
    let assignee = match assignee {
        Some(Assignee::Me) => Some(viewer.user_id),
        Some(Assignee::User(id)) if id == viewer.user_id => Some(id),
        Some(Assignee::User(_)) if !viewer.manager => {
            return Err(Error::forbidden(format!(
                "Missing required permission: {} (to see other users' tasks)",
                Permission::ManageCrmTasks.slug()
            )));
        }
        Some(Assignee::User(id)) => Some(id),
        None => None,
    };
    let filter = TaskFilter {
        assignee,
        status,
        due_before,
        before_id,
    };
    Ok(db::crm::list(pool, viewer.owner(), &filter, limit).await?)
}

/// Moves task `id` to `status` (if given) and records `note` (if given), as `viewer`.
/// Another agent's task is not found (404), so task ids tell an agent nothing. See
/// [`TaskStatus::can_become`] for the transitions (409 `invalid_transition` otherwise).
pub async fn update_task(
    pool: &PgPool,
    viewer: TaskViewer,
    id: i32,
    status: Option<TaskStatus>,
    note: Option<String>,
) -> Result<Task> {
    let mut problems = Problems::default();
    let note = note_text(note, "note", &mut problems);
    problems.check(
        status.is_some() || note.is_some(),
        "status",
        "give a status or a note",
    );
    problems.finish(Code::ValidationFailed)?;

    let mut tx = pool.begin().await?;
    let task = db::crm::lock(&mut *tx, id, viewer.owner())
        .await?
        .ok_or_else(|| Error::new(Code::TaskNotFound, "Task not found"))?;
    let next = status.unwrap_or(task.status);
    if !task.status.can_become(next) {
        return Err(Error::new(
            Code::InvalidTransition,
            format!(
                "A {} task cannot become {next}: reopen it first",
                task.status
            ),
        ));
    }
    let task = db::crm::update(&mut *tx, id, next, note.as_deref(), viewer.user_id).await?;
    tx.commit().await?;
    Ok(task)
}

/// A note as written: trimmed, blank is none, at most [`MAX_NOTE_LEN`] characters.
fn note_text(note: Option<String>, field: &str, problems: &mut Problems) -> Option<String> {
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    problems.check(
        note.as_ref()
            .is_none_or(|n| n.chars().count() <= MAX_NOTE_LEN),
        field,
        &format!("must be at most {MAX_NOTE_LEN} characters"),
    );
    note
}
