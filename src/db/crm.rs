//! Call tasks and the agents' report. `owner` (when given) restricts a statement to the
//! tasks assigned to one staff user: the one home of "an agent reaches only their own
//! tasks" (another agent's task is not found, as another customer's grocery list is).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;

use crate::domain::crm::{AgentReportLine, Task, TaskStatus};
use crate::domain::time::Timestamp;

/// A task to create.
#[derive(Debug)]
pub struct NewTask<'a> {
    /// What to do.
    pub title: &'a str,
    /// What it is about.
    pub notes: Option<&'a str>,
    /// Tags.
    pub tags: &'a [&'a str],
    /// Who works it.
    pub assigned_to: i32,
    /// The customer the call is about.
    pub customer_id: Option<i32>,
    /// The referral it follows up.
    pub referral_id: Option<i32>,
    /// Due this long after now.
    pub due_in: chrono::Duration,
    /// Who created it.
    pub created_by: Option<i32>,
}

/// Creates a task, due `due_in` from the database's now.
pub async fn insert(db: impl PgExecutor<'_>, new: &NewTask<'_>) -> sqlx::Result<Task> {
    let tags: Vec<String> = new.tags.iter().map(|t| (*t).to_owned()).collect();
    sqlx::query_as!(
        Task,
        r#"insert into crm_call_tasks
               (title, notes, tags, assigned_to, customer_id, referral_id, due_at, created_by)
           values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8)
           returning id, title, notes, tags, status as "status: TaskStatus", assigned_to,
                     customer_id, referral_id, due_at, note, created_by,
                     closed_at as "closed_at: Timestamp", closed_by, created_at, updated_at"#,
        new.title,
        new.notes,
        &tags,
        new.assigned_to,
        new.customer_id,
        new.referral_id,
        new.due_in.num_seconds() as f64,
        new.created_by,
    )
    .fetch_one(db)
    .await
}

/// Which tasks a list shows.
#[derive(Debug, Default)]
pub struct TaskFilter {
    /// Only tasks assigned to this user.
    pub assignee: Option<i32>,
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// Only tasks due before this instant.
    pub due_before: Option<DateTime<Utc>>,
    /// Only tasks with a smaller id (the previous page's last).
    pub before_id: Option<i32>,
}

/// Tasks newest first, at most `limit`, within `owner`'s tasks when given.
pub async fn list(
    db: impl PgExecutor<'_>,
    owner: Option<i32>,
    filter: &TaskFilter,
    limit: i64,
) -> sqlx::Result<Vec<Task>> {
    sqlx::query_as!(
        Task,
        r#"select id, title, notes, tags, status as "status: TaskStatus", assigned_to,
                  customer_id, referral_id, due_at, note, created_by,
                  closed_at as "closed_at: Timestamp", closed_by, created_at, updated_at
           from crm_call_tasks
           where ($1::integer is null or assigned_to = $1)
             and ($2::integer is null or assigned_to = $2)
             and ($3::crm_task_status is null or status = $3)
             and ($4::timestamptz is null or due_at < $4)
             and ($5::integer is null or id < $5)
           order by id desc
           limit $6"#,
        owner,
        filter.assignee,
        filter.status as Option<TaskStatus>,
        filter.due_before,
        filter.before_id,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Task `id` (within `owner`'s tasks when given), locked until the transaction ends.
pub async fn lock(
    db: impl PgExecutor<'_>,
    id: i32,
    owner: Option<i32>,
) -> sqlx::Result<Option<Task>> {
    sqlx::query_as!(
        Task,
        r#"select id, title, notes, tags, status as "status: TaskStatus", assigned_to,
                  customer_id, referral_id, due_at, note, created_by,
                  closed_at as "closed_at: Timestamp", closed_by, created_at, updated_at
           from crm_call_tasks
           where id = $1 and ($2::integer is null or assigned_to = $2)
           for update"#,
        id,
        owner,
    )
    .fetch_optional(db)
    .await
}

/// Writes task `id`'s status and note, by `user`: closing records when and by whom, a
/// reopen clears them, staying in a status keeps them.
pub async fn update(
    db: impl PgExecutor<'_>,
    id: i32,
    status: TaskStatus,
    note: Option<&str>,
    user: i32,
) -> sqlx::Result<Task> {
    sqlx::query_as!(
        Task,
        r#"update crm_call_tasks
           set status = $2::crm_task_status,
               note = coalesce($3, note),
               closed_at = case when $2::crm_task_status = 'open' then null
                                when status = $2::crm_task_status then closed_at else now() end,
               closed_by = case when $2::crm_task_status = 'open' then null
                                when status = $2::crm_task_status then closed_by else $4 end,
               updated_at = now()
           where id = $1
           returning id, title, notes, tags, status as "status: TaskStatus", assigned_to,
                     customer_id, referral_id, due_at, note, created_by,
                     closed_at as "closed_at: Timestamp", closed_by, created_at, updated_at"#,
        id,
        status as TaskStatus,
        note,
        user,
    )
    .fetch_one(db)
    .await
}

/// Per agent, the referrals they captured in the window (by when the `invited` event was
/// logged: a friend joining moves the referral's own `created_at`), how many registered
/// and completed since, and the taka of the wallet rewards of the completed ones that are
/// earned and not taken away (released, or pending in their hold or review).
pub async fn agent_report(
    db: impl PgExecutor<'_>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> sqlx::Result<Vec<AgentReportLine>> {
    let rows = sqlx::query!(
        r#"select r.agent_user_id as "agent_user_id!", u.name, u.email,
                  count(*) as "captured!",
                  count(*) filter (where r.referred_customer_id is not null) as "registered!",
                  count(*) filter (where r.status = 'completed') as "completed!",
                  coalesce(sum(x.released), 0) as "released!: Decimal",
                  coalesce(sum(x.pending), 0) as "pending!: Decimal"
           from customer_referrals r
           join users u on u.id = r.agent_user_id
           join referral_events e on e.referral_id = r.id and e.event_type = 'invited'
           left join lateral (
               select sum(rr.amount) filter (where rr.status = 'released') as released,
                      sum(rr.amount) filter (where rr.status in ('pending', 'in_review')) as pending
               from referral_rewards rr
               where rr.referral_id = r.id and rr.kind = 'wallet' and rr.completion = r.completions
           ) x on r.status = 'completed'
           where r.agent_user_id is not null
             and ($1::timestamptz is null or e.created_at >= $1)
             and ($2::timestamptz is null or e.created_at < $2)
           group by r.agent_user_id, u.name, u.email
           order by count(*) desc, r.agent_user_id"#,
        from,
        to,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| AgentReportLine {
            agent_user_id: row.agent_user_id,
            name: row.name,
            email: row.email,
            captured: row.captured,
            registered: row.registered,
            completed: row.completed,
            reward_cost: row.released + row.pending,
            reward_cost_released: row.released,
            reward_cost_pending: row.pending,
        })
        .collect())
}
