//! Consumption profiles and repeat-purchase reminders. Generation is one SQL function,
//! `generate_reminders` (`migrations/20261202000070_reminders.sql`), called here by the
//! route and, through `generate_reminders_daily`, by the job.

use chrono::NaiveDate;
use sqlx::PgExecutor;

use crate::domain::reminder::{
    ConsumptionProfile, Generation, NewProfile, ProfileTarget, Reminder, ReminderChannel,
};

/// A page of profiles, oldest first (by id), after profile `after_id` if given.
pub async fn profiles(
    db: impl PgExecutor<'_>,
    limit: i64,
    after_id: Option<i32>,
) -> sqlx::Result<Vec<ConsumptionProfile>> {
    sqlx::query_as!(
        ConsumptionProfile,
        r#"select id, product_id, category_id, avg_consumption_days, buffer_days, min_days,
                  max_days, is_active, created_at, updated_at
             from consumption_profiles
            where ($2::integer is null or id > $2)
            order by id
            limit $1"#,
        limit,
        after_id
    )
    .fetch_all(db)
    .await
}

/// A stored profile and whether the statement created it.
struct SavedProfile {
    id: i32,
    product_id: Option<i32>,
    category_id: Option<i32>,
    avg_consumption_days: i32,
    buffer_days: i32,
    min_days: i32,
    max_days: i32,
    is_active: bool,
    created_at: crate::domain::time::Timestamp,
    updated_at: crate::domain::time::Timestamp,
    created: bool,
}

impl SavedProfile {
    fn split(self) -> (ConsumptionProfile, bool) {
        let profile = ConsumptionProfile {
            id: self.id,
            product_id: self.product_id,
            category_id: self.category_id,
            avg_consumption_days: self.avg_consumption_days,
            buffer_days: self.buffer_days,
            min_days: self.min_days,
            max_days: self.max_days,
            is_active: self.is_active,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        (profile, self.created)
    }
}

/// Stores a profile: a new one, or the product's (category's) existing one replaced, in
/// one upsert (no race between two saves). Returns it and whether it is new.
pub async fn save_profile(
    db: impl PgExecutor<'_>,
    profile: &NewProfile,
) -> sqlx::Result<(ConsumptionProfile, bool)> {
    let row = match profile.target {
        ProfileTarget::Product(product_id) => {
            sqlx::query_as!(
                SavedProfile,
                r#"insert into consumption_profiles
                          (product_id, avg_consumption_days, buffer_days, min_days, max_days, is_active)
                   values ($1, $2, $3, $4, $5, $6)
                   on conflict (product_id) where product_id is not null do update
                      set avg_consumption_days = excluded.avg_consumption_days,
                          buffer_days = excluded.buffer_days, min_days = excluded.min_days,
                          max_days = excluded.max_days, is_active = excluded.is_active,
                          updated_at = now()
                   returning id, product_id, category_id, avg_consumption_days, buffer_days,
                             min_days, max_days, is_active, created_at, updated_at,
                             (xmax = 0) as "created!""#,
                product_id,
                profile.avg_consumption_days,
                profile.buffer_days,
                profile.min_days,
                profile.max_days,
                profile.is_active
            )
            .fetch_one(db)
            .await?
        }
        ProfileTarget::Category(category_id) => {
            sqlx::query_as!(
                SavedProfile,
                r#"insert into consumption_profiles
                          (category_id, avg_consumption_days, buffer_days, min_days, max_days, is_active)
                   values ($1, $2, $3, $4, $5, $6)
                   on conflict (category_id) where category_id is not null do update
                      set avg_consumption_days = excluded.avg_consumption_days,
                          buffer_days = excluded.buffer_days, min_days = excluded.min_days,
                          max_days = excluded.max_days, is_active = excluded.is_active,
                          updated_at = now()
                   returning id, product_id, category_id, avg_consumption_days, buffer_days,
                             min_days, max_days, is_active, created_at, updated_at,
                             (xmax = 0) as "created!""#,
                category_id,
                profile.avg_consumption_days,
                profile.buffer_days,
                profile.min_days,
                profile.max_days,
                profile.is_active
            )
            .fetch_one(db)
            .await?
        }
    };
    Ok(row.split())
}

/// Deletes profile `id`; returns how many rows went (0 or 1). Reminders it set keep their
/// dates (their `profile_id` becomes null) but leave the due list (`reminder_is_live`).
pub async fn delete_profile(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<u64> {
    Ok(
        sqlx::query!("delete from consumption_profiles where id = $1", id)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// Generates reminders as of `as_of` (today in Dhaka when `None`): `generate_reminders`.
pub async fn generate(
    db: impl PgExecutor<'_>,
    as_of: Option<NaiveDate>,
) -> sqlx::Result<Generation> {
    sqlx::query_as!(
        Generation,
        r#"select as_of as "as_of!", created as "created!", updated as "updated!"
             from generate_reminders($1)"#,
        as_of
    )
    .fetch_one(db)
    .await
}

/// The daily run (`generate_reminders_daily`): the date generated, or `None` when another
/// instance is generating or today was done.
pub async fn generate_daily(db: impl PgExecutor<'_>) -> sqlx::Result<Option<NaiveDate>> {
    sqlx::query_scalar!("select generate_reminders_daily()")
        .fetch_one(db)
        .await
}

/// A page of the unsent reminders due on or before `as_of` that may still be sent
/// (`reminder_is_live`: live customer, successful order, active profile, no re-order);
/// earliest due first (due date, then id), after `after` (the previous page's last
/// `(due date, id)`) when given (a range of `customer_product_reminders_due_list_idx`).
pub async fn due(
    db: impl PgExecutor<'_>,
    as_of: NaiveDate,
    after: Option<(NaiveDate, i32)>,
    limit: i64,
) -> sqlx::Result<Vec<Reminder>> {
    let (after_date, after_id) = after.unzip();
    sqlx::query_as!(
        Reminder,
        r#"select r.id, r.customer_id, r.product_id, r.last_order_date, r.reminder_due_date,
                  r.reminder_sent, r.reminder_channel as "reminder_channel: _",
                  c.name as first_name, c.last_name, c.phone, r.product_name
             from customer_product_reminders r
             join customers c on c.id = r.customer_id
            where not r.reminder_sent
              and r.reminder_due_date <= $1
              and ($3::date is null or (r.reminder_due_date, r.id) > ($3, $4::integer))
              and reminder_is_live(r.customer_id, r.product_id, r.last_order_id)
            order by r.reminder_due_date, r.id
            limit $2"#,
        as_of,
        limit,
        after_date,
        after_id
    )
    .fetch_all(db)
    .await
}

/// Reminder `id`, with its customer.
pub async fn reminder(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<Option<Reminder>> {
    sqlx::query_as!(
        Reminder,
        r#"select r.id, r.customer_id, r.product_id, r.last_order_date, r.reminder_due_date,
                  r.reminder_sent, r.reminder_channel as "reminder_channel: _",
                  c.name as first_name, c.last_name, c.phone, r.product_name
             from customer_product_reminders r
             join customers c on c.id = r.customer_id
            where r.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// What marking a reminder sent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkOutcome {
    /// It is now sent through the channel.
    Marked,
    /// It was already sent through the same channel: nothing changed.
    AlreadyThisChannel,
    /// It was already sent through another channel: nothing changed.
    AlreadyOtherChannel,
    /// No such reminder.
    NotFound,
}

/// Marks reminder `id` sent through `channel`, once (one statement, so two operators
/// marking it at the same moment cannot both win).
pub async fn mark_sent(
    db: impl PgExecutor<'_>,
    id: i32,
    channel: ReminderChannel,
) -> sqlx::Result<MarkOutcome> {
    let row = sqlx::query!(
        r#"with marked as (
               update customer_product_reminders
                  set reminder_sent = true, reminder_channel = $2, sent_at = now(),
                      sent_order_id = last_order_id, sent_order_date = last_order_date,
                      updated_at = now()
                where id = $1 and not reminder_sent
               returning id
           )
           select (select count(*) from marked) > 0 as "marked!",
                  (select reminder_channel from customer_product_reminders where id = $1)
                      as "previous: ReminderChannel",
                  exists (select 1 from customer_product_reminders where id = $1) as "found!""#,
        id,
        channel as ReminderChannel
    )
    .fetch_one(db)
    .await?;
    Ok(if row.marked {
        MarkOutcome::Marked
    } else if !row.found {
        MarkOutcome::NotFound
    } else if row.previous == Some(channel) {
        MarkOutcome::AlreadyThisChannel
    } else {
        MarkOutcome::AlreadyOtherChannel
    })
}
