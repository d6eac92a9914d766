//! Repeat-purchase reminders: profiles, generation (by the route and the daily job), the
//! due list and marking one sent. The arithmetic is SQL's (`generate_reminders`).

use chrono::NaiveDate;
use sqlx::PgPool;

use crate::db;
use crate::db::reminders::MarkOutcome;
use crate::domain::reminder::{
    ConsumptionProfile, DeleteResult, Generation, ProfileInput, Reminder, ReminderChannel,
};
use crate::error::{Code, Error, Result};

/// A page of consumption profiles, oldest first, after profile `after_id` if given.
pub async fn profiles(
    pool: &PgPool,
    limit: i64,
    after_id: Option<i32>,
) -> Result<Vec<ConsumptionProfile>> {
    Ok(db::reminders::profiles(pool, limit, after_id).await?)
}

/// Validates and stores a profile (replacing the product's or category's existing one).
/// Returns it and whether it is new.
pub async fn save_profile(
    pool: &PgPool,
    input: ProfileInput,
) -> Result<(ConsumptionProfile, bool)> {
    let profile = input
        .validate()
        .map_err(|problems| problems.into_error(Code::ValidationFailed))?;
    Ok(db::reminders::save_profile(pool, &profile).await?)
}

/// Deletes a profile: `{raw: [], affected}` (0 for an unknown id, as TypeORM answers).
pub async fn delete_profile(pool: &PgPool, id: i32) -> Result<DeleteResult> {
    let affected = db::reminders::delete_profile(pool, id).await?;
    Ok(DeleteResult {
        raw: Vec::new(),
        affected: i64::try_from(affected).unwrap_or(i64::MAX),
    })
}

/// Generates reminders as of `as_of` (today in Dhaka when `None`).
pub async fn generate(pool: &PgPool, as_of: Option<NaiveDate>) -> Result<Generation> {
    db::retry_transient(|| async { Ok(db::reminders::generate(pool, as_of).await?) }).await
}

/// The job's daily run: generates today's (Dhaka) reminders unless another instance is
/// doing it or has done it. Returns the date generated.
pub async fn generate_daily(pool: &PgPool) -> sqlx::Result<Option<NaiveDate>> {
    db::reminders::generate_daily(pool).await
}

/// A page of the reminders due on or before `as_of` (today in Dhaka when `None`), after
/// `after` (the previous page's last `(due date, id)`) when given, with that date.
pub async fn due(
    pool: &PgPool,
    as_of: Option<NaiveDate>,
    after: Option<(NaiveDate, i32)>,
    limit: i64,
) -> Result<(NaiveDate, Vec<Reminder>)> {
    let as_of = match as_of {
        Some(date) => date,
        None => db::dhaka_today(pool).await?,
    };
    Ok((as_of, db::reminders::due(pool, as_of, after, limit).await?))
}

/// Marks a reminder sent through `channel`. Marking it again through the same channel
/// changes nothing and answers the reminder (a retried request succeeds); through another
/// channel it is a 409 `reminder_already_sent` (the first record stands).
pub async fn mark_sent(pool: &PgPool, id: i32, channel: ReminderChannel) -> Result<Reminder> {
    match db::reminders::mark_sent(pool, id, channel).await? {
        MarkOutcome::Marked | MarkOutcome::AlreadyThisChannel => {}
        MarkOutcome::AlreadyOtherChannel => {
            return Err(Error::new(
                Code::ReminderAlreadySent,
                "This reminder was already marked sent through another channel",
            ));
        }
        MarkOutcome::NotFound => return Err(reminder_not_found()),
    }
    db::reminders::reminder(pool, id)
        .await?
        .ok_or_else(reminder_not_found)
}

fn reminder_not_found() -> Error {
    Error::new(Code::ReminderNotFound, "Reminder not found")
}
