//! The one error type of the application: every failure a caller can see, with the
//! machine-readable code it is answered with. Each [`Code`] has exactly one HTTP status,
//! declared once in the registry below, so the same situation can never be answered with
//! two statuses in two places.
//!
//! Handlers, use cases and SQL helpers all return [`Result`]; `?` does the rest. Database
//! constraint violations are mapped here, by constraint name, to the code they stand for
//! (and the input field they protect), so the database is the single judge of uniqueness
//! and balances.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Declares the registry: each code once, with its status and its wire name.
macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $status:ident $name:literal, )*) => {
        /// Every machine-readable error code, with the one HTTP status it is answered with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Code {
            /// Every code, in registry order.
            pub const ALL: &[Code] = &[$(Code::$variant),*];

            /// The name clients branch on.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// The HTTP status this code is always answered with.
            pub fn status(self) -> StatusCode {
                match self { $(Code::$variant => StatusCode::$status,)* }
            }
        }
    };
}

codes! {
    // 400: the request cannot be read at all.
    /// The body is not JSON.
    MalformedJson = BAD_REQUEST "malformed_json",
    /// The body could not be read (a broken upload).
    UnreadableBody = BAD_REQUEST "unreadable_body",
    /// A path parameter has the wrong shape.
    InvalidPathParameter = BAD_REQUEST "invalid_path_parameter",
    /// A query parameter has the wrong shape or range.
    InvalidQuery = BAD_REQUEST "invalid_query",
    /// A bodiless 4xx that middleware produced; the only code whose response keeps the
    /// status the middleware chose (see `json_error_backstop`). Not expected in practice.
    HttpError = BAD_REQUEST "http_error",

    // 401: no valid credentials.
    /// No credentials were sent.
    Unauthenticated = UNAUTHORIZED "unauthenticated",
    /// The bearer token is not valid.
    InvalidToken = UNAUTHORIZED "invalid_token",
    /// The bearer token has expired.
    TokenExpired = UNAUTHORIZED "token_expired",
    /// The API key is unknown or revoked.
    InvalidApiKey = UNAUTHORIZED "invalid_api_key",
    /// A webhook's signature or token is missing or does not match (WhatsApp's
    /// `X-Hub-Signature-256`, Steadfast's bearer token, Pathao's `X-PATHAO-Signature`).
    InvalidSignature = UNAUTHORIZED "invalid_signature",
    /// The token's account was deleted or deactivated.
    AccountUnavailable = UNAUTHORIZED "account_unavailable",
    /// Wrong identifier or password.
    InvalidCredentials = UNAUTHORIZED "invalid_credentials",

    // 403: valid credentials, not for this.
    /// The caller lacks a permission, or the route is for another kind of account.
    Forbidden = FORBIDDEN "forbidden",
    /// A provider webhook is not configured (no secret: it fails closed), or its
    /// handshake token does not match.
    WebhookRefused = FORBIDDEN "webhook_refused",

    // 404: the thing named does not exist (or is not the caller's to see).
    /// No such route.
    RouteNotFound = NOT_FOUND "route_not_found",
    /// No live customer has this id (in the path or the body).
    CustomerNotFound = NOT_FOUND "customer_not_found",
    /// No such order.
    OrderNotFound = NOT_FOUND "order_not_found",
    /// No such referral.
    ReferralNotFound = NOT_FOUND "referral_not_found",
    /// No such campaign.
    CampaignNotFound = NOT_FOUND "campaign_not_found",
    /// No such partner.
    PartnerNotFound = NOT_FOUND "partner_not_found",
    /// No such withdrawal request (or not the caller's).
    WithdrawalNotFound = NOT_FOUND "withdrawal_not_found",
    /// Reconciliation has not run yet.
    ReportNotFound = NOT_FOUND "report_not_found",
    /// The referral was never held for review.
    ReviewNotFound = NOT_FOUND "review_not_found",
    /// No such blocklist entry.
    BlocklistEntryNotFound = NOT_FOUND "blocklist_entry_not_found",
    /// No such grocery list (or not the caller's).
    GroceryListNotFound = NOT_FOUND "grocery_list_not_found",
    /// No such grocery list item (or not on one of the caller's lists).
    GroceryListItemNotFound = NOT_FOUND "grocery_list_item_not_found",
    /// No such repeat-purchase reminder.
    ReminderNotFound = NOT_FOUND "reminder_not_found",
    /// No such call task (or, for an agent, not one of theirs).
    TaskNotFound = NOT_FOUND "task_not_found",
    /// No such message in the outbox.
    MessageNotFound = NOT_FOUND "message_not_found",
    /// No message template has this key.
    TemplateNotFound = NOT_FOUND "template_not_found",
    /// No webhook subscription has this id.
    WebhookSubscriptionNotFound = NOT_FOUND "webhook_subscription_not_found",
    /// No webhook delivery has this id.
    WebhookDeliveryNotFound = NOT_FOUND "webhook_delivery_not_found",
    /// No such payout batch.
    PayoutBatchNotFound = NOT_FOUND "payout_batch_not_found",

    // 405
    /// The route exists, the method does not.
    MethodNotAllowed = METHOD_NOT_ALLOWED "method_not_allowed",

    // 408
    /// The request took longer than `REQUEST_TIMEOUT_SECS`.
    RequestTimeout = REQUEST_TIMEOUT "request_timeout",

    // 409: the request conflicts with the current state.
    /// The phone number belongs to another live customer.
    PhoneTaken = CONFLICT "phone_taken",
    /// The email belongs to another live customer.
    EmailTaken = CONFLICT "email_taken",
    /// The phone belongs to a guest who gave another email at checkout.
    GuestEmailMismatch = CONFLICT "guest_email_mismatch",
    /// The customer already has a referrer (or a partner): the first touch won.
    CustomerAlreadyReferred = CONFLICT "customer_already_referred",
    /// The invited friend is already a customer.
    AlreadyCustomer = CONFLICT "already_customer",
    /// The friend's phone already has a pending invitation (from anyone).
    ReferralPending = CONFLICT "referral_pending",
    /// A call agent named their own phone as the friend's.
    AgentOwnPhone = CONFLICT "agent_own_phone",
    /// A call agent named a colleague's (another staff user's) phone as the friend's.
    ColleaguePhone = CONFLICT "colleague_phone",
    /// An idempotency key was used before for a different movement.
    IdempotencyKeyReused = CONFLICT "idempotency_key_reused",
    /// The order belongs to another customer.
    OrderCustomerConflict = CONFLICT "order_customer_conflict",
    /// The referral belongs to another referred customer.
    ReferralCustomerMismatch = CONFLICT "referral_customer_mismatch",
    /// Nobody registered through this referral (or someone else did meanwhile).
    ReferralNotCompletable = CONFLICT "referral_not_completable",
    /// A variant that referrals use cannot be removed.
    VariantsInUse = CONFLICT "variants_in_use",
    /// A milestone already awarded cannot be removed.
    MilestonesInUse = CONFLICT "milestones_in_use",
    /// Another campaign became the default at the same moment.
    DefaultCampaignConflict = CONFLICT "default_campaign_conflict",
    /// The partner code is taken (case-insensitively).
    PartnerCodeTaken = CONFLICT "partner_code_taken",
    /// The withdrawal request (or call task) cannot move to that status from its current
    /// one.
    InvalidTransition = CONFLICT "invalid_transition",
    /// The review was decided before (or withdrawn when its order was reversed).
    ReviewAlreadyDecided = CONFLICT "review_already_decided",
    /// The blocklist already has this kind and (normalised) value.
    BlocklistEntryExists = CONFLICT "blocklist_entry_exists",
    /// The product is already on the list: change its quantity instead.
    GroceryListItemExists = CONFLICT "grocery_list_item_exists",
    /// The customer already has an active price lock for the product.
    PriceLockExists = CONFLICT "price_lock_exists",
    /// The reminder was already marked sent through another channel.
    ReminderAlreadySent = CONFLICT "reminder_already_sent",
    /// The partner is inactive: its code attributes nobody, so printing it helps nobody.
    PartnerInactive = CONFLICT "partner_inactive",
    /// The order has no customer yet, so it has no share code to print.
    OrderHasNoCustomer = CONFLICT "order_has_no_customer",
    /// Only a dead message can be retried.
    MessageNotRetryable = CONFLICT "message_not_retryable",
    /// The webhook subscription was deactivated: it cannot be rotated or re-sent to.
    WebhookSubscriptionInactive = CONFLICT "webhook_subscription_inactive",
    /// Only a delivered, dead or cancelled webhook delivery can be re-sent (one queued or
    /// being sent will be).
    WebhookDeliveryNotResendable = CONFLICT "webhook_delivery_not_resendable",
    /// The courier's consignment is linked to another order.
    ConsignmentTaken = CONFLICT "consignment_taken",
    /// The partner's transfer was already paid with another transaction id.
    PayoutTransactionMismatch = CONFLICT "payout_transaction_mismatch",
    /// The transaction id already paid another transfer.
    PayoutTransactionReused = CONFLICT "payout_transaction_reused",
    /// Unique data this registry does not name.
    ConflictingData = CONFLICT "conflict",

    // 413, 415
    /// The body is larger than `BODY_LIMIT_BYTES`.
    PayloadTooLarge = PAYLOAD_TOO_LARGE "payload_too_large",
    /// The body is not declared as JSON.
    UnsupportedMediaType = UNSUPPORTED_MEDIA_TYPE "unsupported_media_type",

    // 422: well-formed, but it breaks a rule.
    /// One or more fields are invalid (see `fields`).
    ValidationFailed = UNPROCESSABLE_ENTITY "validation_failed",
    /// The body's JSON has the wrong shape for this route.
    InvalidBody = UNPROCESSABLE_ENTITY "invalid_body",
    /// A campaign definition is invalid (see `fields`).
    InvalidCampaign = UNPROCESSABLE_ENTITY "invalid_campaign",
    /// A partner code has the wrong shape.
    InvalidPartnerCode = UNPROCESSABLE_ENTITY "invalid_partner_code",
    /// A customer cannot refer themselves.
    SelfReferral = UNPROCESSABLE_ENTITY "self_referral",
    /// A debit larger than the wallet's balance.
    InsufficientBalance = UNPROCESSABLE_ENTITY "insufficient_balance",
    /// A redemption larger than the points balance.
    InsufficientPoints = UNPROCESSABLE_ENTITY "insufficient_points",
    /// The order does not belong to the referred customer.
    OrderCustomerMismatch = UNPROCESSABLE_ENTITY "order_customer_mismatch",
    /// Refunds would exceed the order's total (or a new total would be below what was
    /// refunded).
    RefundExceedsTotal = UNPROCESSABLE_ENTITY "refund_exceeds_total",
    /// Dropping the default flag would leave no default campaign.
    DefaultCampaignRequired = UNPROCESSABLE_ENTITY "default_campaign_required",
    /// The customer's phone must be verified by a code first (withdrawals, and
    /// registering a guest's phone without the guest's email).
    PhoneNotVerified = UNPROCESSABLE_ENTITY "phone_not_verified",
    /// The verification code is wrong; the code stays valid for its remaining attempts.
    VerificationCodeInvalid = UNPROCESSABLE_ENTITY "verification_code_invalid",
    /// No verification code is waiting: it expired, was used, or was never sent.
    VerificationCodeExpired = UNPROCESSABLE_ENTITY "verification_code_expired",
    /// Too many wrong codes: the code was cleared; request a new one.
    VerificationAttemptsExceeded = UNPROCESSABLE_ENTITY "verification_attempts_exceeded",
    /// The withdrawal would take the customer over the maximum for 24 hours.
    WithdrawalLimitExceeded = UNPROCESSABLE_ENTITY "withdrawal_limit_exceeded",
    /// Rider cards were asked for a partner that is not a `delivery_rider`.
    PartnerNotRider = UNPROCESSABLE_ENTITY "partner_not_rider",
    /// The customer's tier does not lock prices (only gold and permanent do).
    PriceLockNotAllowed = UNPROCESSABLE_ENTITY "price_lock_not_allowed",
    /// Nothing to pay: no released, unpaid commission of a partner paid by that method
    /// was released in the window (no empty batch is made).
    PayoutBatchEmpty = UNPROCESSABLE_ENTITY "payout_batch_empty",
    /// An answer names a partner that has no transfer in the batch.
    PartnerNotInBatch = UNPROCESSABLE_ENTITY "partner_not_in_batch",
    /// A message template names unknown variables, or breaks another template rule
    /// (see `fields`).
    InvalidTemplate = UNPROCESSABLE_ENTITY "invalid_template",
    /// A webhook URL's host is, or resolves to, an address the SSRF guard refuses:
    /// link-local or cloud metadata (always), private or loopback (unless
    /// `WEBHOOK_ALLOW_PRIVATE`).
    WebhookUrlRefused = UNPROCESSABLE_ENTITY "webhook_url_refused",
    /// A webhook URL's host does not resolve, so its addresses cannot be checked.
    WebhookUrlUnresolvable = UNPROCESSABLE_ENTITY "webhook_url_unresolvable",
    /// Data that breaks a rule this registry does not name.
    ConstraintViolation = UNPROCESSABLE_ENTITY "constraint_violation",

    // 429
    /// Too many requests from this client address.
    RateLimited = TOO_MANY_REQUESTS "rate_limited",
    /// Too many failed logins: the account is locked for a while.
    AccountLocked = TOO_MANY_REQUESTS "account_locked",
    /// Too many invitations today.
    TooManyInvitations = TOO_MANY_REQUESTS "too_many_invitations",
    /// Too many verification codes sent to this phone in the last hour.
    TooManyVerificationCodes = TOO_MANY_REQUESTS "too_many_verification_codes",

    // 500, 503
    /// A bug or an unexpected failure; its details are logged, never sent.
    InternalError = INTERNAL_SERVER_ERROR "internal_error",
    /// The database is unreachable or saturated; the request changed nothing.
    ServiceUnavailable = SERVICE_UNAVAILABLE "service_unavailable",
    /// A courier webhook has no secret configured: it fails closed and keeps nothing.
    WebhookNotConfigured = SERVICE_UNAVAILABLE "webhook_not_configured",
    /// The database refused a write because it is read-only (SQLSTATE 25006): a primary
    /// that was demoted to a standby, or a statement that wrote where reports read. The
    /// request changed nothing.
    DatabaseReadOnly = SERVICE_UNAVAILABLE "database_read_only",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure, as the caller will see it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure the caller can act on: its code (which fixes the status), a message safe
    /// to show, and, for validation failures, the messages per input field.
    #[error("{message}")]
    Api {
        /// Machine-readable code.
        code: Code,
        /// Human-readable explanation.
        message: Cow<'static, str>,
        /// Messages per input field, when the failure is about particular fields.
        fields: BTreeMap<String, Vec<String>>,
        /// When to try again (sent as `Retry-After`), for 429s.
        retry_after: Option<Duration>,
    },
    /// 503: the database is unreachable or saturated; the request changed nothing.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// 500: a bug or an unexpected failure. Its details are logged, never sent.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// A failure with `code` and `message`.
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Api {
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after: None,
        }
    }

    /// A 429 with `code`, asking the client to wait `retry_after`.
    pub fn too_many(
        code: Code,
        message: impl Into<Cow<'static, str>>,
        retry_after: Duration,
    ) -> Self {
        Self::Api {
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after: Some(retry_after),
        }
    }

    /// The 404 of a customer id that names no live customer.
    pub fn customer_not_found() -> Self {
        Self::new(Code::CustomerNotFound, "Customer not found")
    }

    /// The 403 of a missing permission or the wrong kind of account.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::Forbidden, message)
    }

    /// A 422 `validation_failed` about one input field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut problems = Problems::default();
        problems.add(field, message);
        problems.into_error(Code::ValidationFailed)
    }

    /// The same error, naming `field` as the input it is about.
    pub fn for_field(mut self, field: &str) -> Self {
        if let Self::Api {
            fields, message, ..
        } = &mut self
        {
            fields
                .entry(field.to_owned())
                .or_default()
                .push(message.to_string());
        }
        self
    }

    /// The code this error is answered with.
    pub fn code(&self) -> Code {
        match self {
            Self::Api { code, .. } => *code,
            Self::Unavailable(_) => Code::ServiceUnavailable,
            Self::Internal(_) => Code::InternalError,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }
}

/// Field problems of one request, collected so that the caller hears about all of them at
/// once, then turned into one error.
#[derive(Debug, Default)]
pub struct Problems(BTreeMap<String, Vec<String>>);

impl Problems {
    /// Records `message` against `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    /// Records `message` against `field` unless `ok`.
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.add(field, message);
        }
    }

    /// Records every problem of `other` too.
    pub fn append(&mut self, other: Problems) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was recorded, else one error with `code` and every problem.
    pub fn finish(self, code: Code) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.into_error(code))
        }
    }

    /// One error with `code` carrying every problem (`field: message; …` as its message).
    pub fn into_error(self, code: Code) -> Error {
        let message = self
            .0
            .iter()
            .flat_map(|(field, messages)| messages.iter().map(move |m| format!("{field}: {m}")))
            .collect::<Vec<_>>()
            .join("; ");
        Error::Api {
            code,
            message: message.into(),
            fields: self.0,
            retry_after: None,
        }
    }
}

/// A named constraint (from `migrations/`), the code it is answered with, the input
/// field it protects (when there is one) and the message.
struct ConstraintError {
    constraint: &'static str,
    code: Code,
    field: Option<&'static str>,
    message: &'static str,
}

const fn constraint(
    constraint: &'static str,
    code: Code,
    field: Option<&'static str>,
    message: &'static str,
) -> ConstraintError {
    ConstraintError {
        constraint,
        code,
        field,
        message,
    }
}

/// Constraint names and the business error each one stands for.
const CONSTRAINT_ERRORS: &[ConstraintError] = &[
    constraint(
        "sales_orders_refund_within_total",
        Code::RefundExceedsTotal,
        Some("totalAmount"),
        "The order's total cannot be below what was refunded on it",
    ),
    constraint(
        "customers_phone_key",
        Code::PhoneTaken,
        Some("phone"),
        "Phone number already exists",
    ),
    constraint(
        "customers_email_key",
        Code::EmailTaken,
        Some("email"),
        "Email already exists",
    ),
    constraint(
        "customer_referrals_referred_customer_key",
        Code::CustomerAlreadyReferred,
        None,
        "This customer was already referred by someone",
    ),
    constraint(
        "customer_referrals_pending_phone_key",
        Code::ReferralPending,
        Some("referredPhone"),
        "This phone already has a pending invitation",
    ),
    constraint(
        "customer_referrals_not_self",
        Code::SelfReferral,
        None,
        "A customer cannot refer themselves",
    ),
    constraint(
        "customers_not_self_referred",
        Code::SelfReferral,
        None,
        "A customer cannot refer themselves",
    ),
    constraint(
        "sales_orders_customer_id_fkey",
        Code::CustomerNotFound,
        Some("customerId"),
        "Customer not found",
    ),
    constraint(
        "product_review_shares_customer_id_fkey",
        Code::CustomerNotFound,
        Some("customerId"),
        "Customer not found",
    ),
    constraint(
        "customer_referrals_referrer_customer_id_fkey",
        Code::CustomerNotFound,
        Some("referrerCustomerId"),
        "Customer not found",
    ),
    constraint(
        "customer_referrals_referred_customer_id_fkey",
        Code::CustomerNotFound,
        Some("referredCustomerId"),
        "Customer not found",
    ),
    constraint(
        "customer_wallets_balance_non_negative",
        Code::InsufficientBalance,
        Some("amount"),
        "Insufficient wallet balance",
    ),
    constraint(
        "customer_wallets_held_within_balance",
        Code::InsufficientBalance,
        Some("amount"),
        "Insufficient wallet balance",
    ),
    constraint(
        "customer_referrals_variant_id_fkey",
        Code::VariantsInUse,
        Some("variants"),
        "Referrals use a variant this change would remove",
    ),
    constraint(
        "milestone_awards_milestone_id_fkey",
        Code::MilestonesInUse,
        Some("milestones"),
        "A milestone this change would remove was already awarded",
    ),
    constraint(
        "referral_partners_campaign_id_fkey",
        Code::CampaignNotFound,
        Some("campaign_id"),
        "Campaign not found",
    ),
    constraint(
        "referral_partners_code_format",
        Code::InvalidPartnerCode,
        Some("code"),
        "Partner codes are 3 to 50 letters, digits, - or _, and never look like REF123",
    ),
    constraint(
        "referral_campaigns_single_default",
        Code::DefaultCampaignConflict,
        Some("is_default"),
        "Another campaign became the default at the same moment; try again",
    ),
    constraint(
        "referral_partners_code_key",
        Code::PartnerCodeTaken,
        Some("code"),
        "Partner code already exists",
    ),
    constraint(
        "fraud_blocklist_entry_key",
        Code::BlocklistEntryExists,
        Some("value"),
        "This value is already on the blocklist",
    ),
    constraint(
        "grocery_lists_customer_id_fkey",
        Code::CustomerNotFound,
        Some("customerId"),
        "Customer not found",
    ),
    constraint(
        "grocery_list_items_product_key",
        Code::GroceryListItemExists,
        Some("productId"),
        "This product is already on the list; change its quantity instead",
    ),
    constraint(
        "price_locks_customer_id_fkey",
        Code::CustomerNotFound,
        Some("customerId"),
        "Customer not found",
    ),
    constraint(
        "price_locks_one_active",
        Code::PriceLockExists,
        Some("productId"),
        "This customer already has an active price lock for this product",
    ),
    constraint(
        "sales_orders_consignment_key",
        Code::ConsignmentTaken,
        Some("consignmentId"),
        "This consignment is linked to another order",
    ),
    constraint(
        "payout_batch_lines_transaction_key",
        Code::PayoutTransactionReused,
        Some("transactionId"),
        "This transaction id already paid another transfer",
    ),
    constraint(
        "referral_partners_customer_id_fkey",
        Code::CustomerNotFound,
        Some("customer_id"),
        "Customer not found",
    ),
    constraint(
        "fraud_signals_customer_id_fkey",
        Code::CustomerNotFound,
        Some("customerId"),
        "Customer not found",
    ),
];

/// SQLSTATEs for transient conflicts that a retry resolves.
pub const SERIALIZATION_FAILURE: &str = "40001";
/// Deadlock detected.
pub const DEADLOCK_DETECTED: &str = "40P01";
/// A write in a read-only transaction, or on a standby.
pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";

/// SQLSTATEs that mean the database, not the request, is the problem right now: class 08
/// (connection exception), 57P01–57P05 (admin shutdown, crash shutdown, cannot connect now,
/// database dropped, idle session timeout) and 53300 (too many connections).
fn is_database_away(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "53300"
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if matches!(
            err,
            sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::WorkerCrashed
        ) {
            return Self::Unavailable(err);
        }
        if let Some(db) = err.as_database_error() {
            if let Some(known) = db
                .constraint()
                .and_then(|name| CONSTRAINT_ERRORS.iter().find(|c| c.constraint == name))
            {
                let mut error = Self::new(known.code, known.message);
                if let (Self::Api { fields, .. }, Some(field)) = (&mut error, known.field) {
                    fields.insert(field.to_owned(), vec![known.message.to_owned()]);
                }
                return error;
            }
            match db.code().as_deref() {
                Some(SERIALIZATION_FAILURE | DEADLOCK_DETECTED) => return Self::Unavailable(err),
                // The database went away under the statement (an operator's
                // pg_terminate_backend, a shutdown or crash, a server still starting, no
                // connection slot): nothing was committed that a retry would repeat
                // wrongly, since every money path is idempotent, so the client is told to
                // retry (503), never that the server failed.
                Some(code) if is_database_away(code) => return Self::Unavailable(err),
                // Never expected: the reports read in read-only transactions that their
                // tests run, and the primary is writable unless it was demoted under us.
                // Either way nothing was written, and the client may retry later.
                Some(READ_ONLY_SQL_TRANSACTION) => {
                    tracing::error!(error = %db, "a write reached a read-only database");
                    return Self::Api {
                        code: Code::DatabaseReadOnly,
                        message: "The database is read-only right now; nothing was changed".into(),
                        fields: BTreeMap::new(),
                        retry_after: Some(Duration::from_secs(1)),
                    };
                }
                // A constraint this table does not name still means bad input or a
                // conflict, never a server error; the detail is logged, not sent.
                Some("23505") => {
                    tracing::warn!(constraint = ?db.constraint(), "unmapped unique violation");
                    return Self::new(Code::ConflictingData, "This conflicts with existing data");
                }
                Some("23503" | "23514" | "23502" | "22001" | "22003") => {
                    tracing::warn!(constraint = ?db.constraint(), code = ?db.code(), "unmapped constraint violation");
                    return Self::new(Code::ConstraintViolation, "The request breaks a data rule");
                }
                _ => {}
            }
        }
        Self::Internal(anyhow::Error::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_went_away_is_unavailable_not_a_server_error() {
        for code in ["57P01", "57P02", "57P03", "08006", "08001", "53300"] {
            assert!(is_database_away(code), "{code}");
        }
        for code in ["23505", "40001", "42P01", "P0001"] {
            assert!(!is_database_away(code), "{code}");
        }
    }

    #[test]
    fn every_code_has_one_name_and_one_status() {
        let mut names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a code name is registered twice");
        for code in Code::ALL {
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{code}"
            );
        }
    }

    #[test]
    fn every_mapped_constraint_is_named_once() {
        let mut names: Vec<&str> = CONSTRAINT_ERRORS.iter().map(|c| c.constraint).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn problems_become_one_error_with_every_field() {
        let mut problems = Problems::default();
        problems.check(false, "name", "is required");
        problems.check(true, "amount", "never recorded");
        problems.add("amount", "must be positive");
        let error = problems.into_error(Code::InvalidCampaign);
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let Error::Api {
            fields, message, ..
        } = error
        else {
            panic!("not an API error")
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(message, "amount: must be positive; name: is required");
    }
}
