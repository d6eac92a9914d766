//! Repeat-purchase reminders: consumption profiles (how long a product lasts) and the
//! reminders generated from delivered order lines. The arithmetic (due date, clamps, which
//! profile wins) lives in SQL, `generate_reminders` in
//! `migrations/20261202000070_reminders.sql`; these types carry its inputs and outputs.

use chrono::NaiveDate;
use serde::Serialize;

use super::time::Timestamp;
use crate::error::Problems;

super::sql_enum! {
    /// How an operator reached the customer about a reminder (`reminder_channel`).
    pub enum ReminderChannel = "reminder_channel" {
        /// A WhatsApp message.
        Whatsapp = "whatsapp",
        /// A text message.
        Sms = "sms",
        /// A phone call.
        Call = "call",
        /// An email.
        Email = "email",
    }
}

/// A consumption profile, in TrustCart's entity shape (camelCase).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumptionProfile {
    /// Id.
    pub id: i32,
    /// The product it applies to (exactly one of this and `categoryId`).
    pub product_id: Option<i32>,
    /// The category whose products it applies to, unless a product has its own.
    pub category_id: Option<i32>,
    /// How many days the product lasts after delivery.
    pub avg_consumption_days: i32,
    /// Remind this many days before it runs out.
    pub buffer_days: i32,
    /// The shortest interval from delivery to reminder.
    pub min_days: i32,
    /// The longest interval from delivery to reminder.
    pub max_days: i32,
    /// Only active profiles generate reminders.
    pub is_active: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// What a profile applies to: exactly one product or one category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileTarget {
    /// One product.
    Product(i32),
    /// Every product of a category without its own profile.
    Category(i32),
}

/// A validated profile to store.
#[derive(Clone, Copy, Debug)]
pub struct NewProfile {
    /// What it applies to.
    pub target: ProfileTarget,
    /// Days the product lasts (1–3650).
    pub avg_consumption_days: i32,
    /// Days of warning (0 ≤ buffer < avg).
    pub buffer_days: i32,
    /// Shortest interval (≥ 1).
    pub min_days: i32,
    /// Longest interval (min ≤ max ≤ 3650).
    pub max_days: i32,
    /// Generates reminders.
    pub is_active: bool,
}

/// A profile as sent, before validation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProfileInput {
    /// `productId` or `product_id`.
    pub product_id: Option<i64>,
    /// `categoryId` or `category_id`.
    pub category_id: Option<i64>,
    /// Required.
    pub avg_consumption_days: Option<i64>,
    /// Default 0.
    pub buffer_days: Option<i64>,
    /// Default 1.
    pub min_days: Option<i64>,
    /// Default 365.
    pub max_days: Option<i64>,
    /// Default true.
    pub is_active: Option<bool>,
}

/// The longest interval a profile may name (ten years).
pub const MAX_DAYS: i64 = 3650;

impl ProfileInput {
    /// Checks every field, naming each bad one (the database's checks say the same, as a
    /// second line).
    pub fn validate(self) -> Result<NewProfile, Problems> {
        let mut problems = Problems::default();
        let positive_id = |problems: &mut Problems, field: &str, value: i64| -> i32 {
            match i32::try_from(value) {
                Ok(id) if id > 0 => id,
                _ => {
                    problems.add(field, "must be a positive integer id");
                    0
                }
            }
        };
        let target = match (self.product_id, self.category_id) {
            (Some(product), None) => Some(ProfileTarget::Product(positive_id(
                &mut problems,
                "productId",
                product,
            ))),
            (None, Some(category)) => Some(ProfileTarget::Category(positive_id(
                &mut problems,
                "categoryId",
                category,
            ))),
            (Some(_), Some(_)) => {
                problems.add("productId", "send productId or categoryId, not both");
                None
            }
            (None, None) => {
                problems.add("productId", "productId or categoryId is required");
                None
            }
        };
        let mut days = |field: &str, value: Option<i64>, default: Option<i64>, low: i64| -> i64 {
            match value.or(default) {
                None => {
                    problems.add(field, "is required");
                    0
                }
                Some(v) if (low..=MAX_DAYS).contains(&v) => v,
                Some(_) => {
                    problems.add(
                        field,
                        format!("must be a whole number of days from {low} to {MAX_DAYS}"),
                    );
                    0
                }
            }
        };
        let avg = days("avgConsumptionDays", self.avg_consumption_days, None, 1);
        let buffer = days("bufferDays", self.buffer_days, Some(0), 0);
        let min = days("minDays", self.min_days, Some(1), 1);
        let max = days("maxDays", self.max_days, Some(365), 1);
        if avg > 0 && buffer >= avg {
            problems.add("bufferDays", "must be less than avgConsumptionDays");
        }
        if min > 0 && max > 0 && min > max {
            problems.add("minDays", "must not exceed maxDays");
        }
        match target {
            Some(target) if problems.is_empty() => Ok(NewProfile {
                target,
                // In range (checked above), so these fit.
                avg_consumption_days: avg as i32,
                buffer_days: buffer as i32,
                min_days: min as i32,
                max_days: max as i32,
                is_active: self.is_active.unwrap_or(true),
            }),
            _ => Err(problems),
        }
    }
}

/// What a profile deletion answers: TypeORM's `DeleteResult`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DeleteResult {
    /// Always empty (TypeORM's driver result).
    #[schema(value_type = Vec<Object>)]
    pub raw: Vec<serde_json::Value>,
    /// How many rows were deleted (0 or 1).
    pub affected: i64,
}

/// One generation's outcome (the route answers `{success, asOfDate}`).
#[derive(Clone, Copy, Debug)]
pub struct Generation {
    /// The Dhaka date generated for.
    pub as_of: NaiveDate,
    /// Reminders created.
    pub created: i32,
    /// Reminders changed (superseded or re-dated).
    pub updated: i32,
}

/// A reminder with its customer and product, as the admin dashboard reads it (snake_case,
/// the raw-SQL shape). Dates are `YYYY-MM-DD`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Reminder {
    /// Id.
    pub id: i32,
    /// The customer.
    pub customer_id: i32,
    /// The product.
    pub product_id: i32,
    /// The Dhaka date of the delivery it counts from.
    #[schema(value_type = String, format = Date)]
    pub last_order_date: NaiveDate,
    /// When to remind.
    #[schema(value_type = String, format = Date)]
    pub reminder_due_date: NaiveDate,
    /// Whether an operator has sent it.
    pub reminder_sent: bool,
    /// How it was sent.
    pub reminder_channel: Option<ReminderChannel>,
    /// The customer's first name.
    pub first_name: Option<String>,
    /// The customer's last name.
    pub last_name: Option<String>,
    /// The customer's phone.
    pub phone: String,
    /// The product's name, as the order reported it.
    pub product_name: String,
}
