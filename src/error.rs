//! The one error type of the application: every failure a caller can see, with the
//! machine-readable code and HTTP status it is answered with.
//!
//! Handlers, use cases and SQL helpers all return [`Result`]; `?` does the rest. Database
//! constraint violations are mapped here, by constraint name, to the business error they
//! stand for, so the database is the single judge of uniqueness and balances.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::http::StatusCode;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure, as the caller will see it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request cannot be read at all (malformed JSON, a bad path parameter).
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: Cow<'static, str>,
    },
    /// 401: no valid credentials.
    #[error("{message}")]
    Unauthorized {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: Cow<'static, str>,
    },
    /// 403: valid credentials, but not for this.
    #[error("{message}")]
    Forbidden {
        /// Human-readable explanation.
        message: Cow<'static, str>,
    },
    /// 404: the thing named does not exist (or is not the caller's to see).
    #[error("{message}")]
    NotFound {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: Cow<'static, str>,
    },
    /// 409: the request conflicts with the current state (a duplicate, a reused key).
    #[error("{message}")]
    Conflict {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: Cow<'static, str>,
    },
    /// 422: the request is well-formed but breaks a rule; `fields` says which inputs.
    #[error("{message}")]
    Unprocessable {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: Cow<'static, str>,
        /// Messages per input field, when the rule is about particular fields.
        fields: BTreeMap<&'static str, Vec<String>>,
    },
    /// 413: the request body is larger than the configured limit.
    #[error("The request body is too large")]
    PayloadTooLarge,
    /// 415: the request body is not declared as JSON.
    #[error("The request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 429: too many requests from this client, or too many failed logins.
    #[error("{message}")]
    TooManyRequests {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: Cow<'static, str>,
        /// When to try again (sent as `Retry-After`).
        retry_after: std::time::Duration,
    },
    /// 503: the database is unreachable or saturated; the request changed nothing.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// 500: a bug or an unexpected failure. Its details are logged, never sent.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// A 404.
    pub fn not_found(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }

    /// The 404 of a customer id that names no live customer.
    pub fn customer_not_found() -> Self {
        Self::not_found("customer_not_found", "Customer not found")
    }

    /// A 409.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A 422 about the request as a whole.
    pub fn unprocessable(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// A 422 about one input field.
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Unprocessable {
            code: "validation_failed",
            message: format!("{field}: {message}").into(),
            fields: BTreeMap::from([(field, vec![message])]),
        }
    }

    /// A 400.
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 401.
    pub fn unauthorized(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }

    /// A 403.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden {
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::TooManyRequests { code, .. } => code,
            Self::Forbidden { .. } => "forbidden",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

/// Constraint names (from `migrations/`) and the business error each one stands for.
const CONSTRAINT_ERRORS: &[(&str, u16, &str, &str)] = &[
    (
        "customers_phone_key",
        409,
        "phone_taken",
        "Phone number already exists",
    ),
    (
        "customers_email_key",
        409,
        "email_taken",
        "Email already exists",
    ),
    (
        "customer_referrals_referred_customer_key",
        409,
        "customer_already_referred",
        "This customer was already referred by someone",
    ),
    (
        "customer_referrals_not_self",
        422,
        "self_referral",
        "A customer cannot refer themselves",
    ),
    (
        "customers_not_self_referred",
        422,
        "self_referral",
        "A customer cannot refer themselves",
    ),
    (
        "sales_orders_customer_id_fkey",
        422,
        "customer_not_found",
        "Customer not found",
    ),
    (
        "customer_referrals_referrer_customer_id_fkey",
        422,
        "customer_not_found",
        "Customer not found",
    ),
    (
        "customer_referrals_referred_customer_id_fkey",
        422,
        "customer_not_found",
        "Customer not found",
    ),
    (
        "customer_wallets_balance_non_negative",
        422,
        "insufficient_balance",
        "Insufficient wallet balance",
    ),
    (
        "customer_referrals_variant_id_fkey",
        409,
        "variants_in_use",
        "Referrals use a variant this change would remove",
    ),
    (
        "milestone_awards_milestone_id_fkey",
        409,
        "milestones_in_use",
        "A milestone this change would remove was already awarded",
    ),
    (
        "referral_partners_campaign_id_fkey",
        422,
        "campaign_not_found",
        "Campaign not found",
    ),
    (
        "referral_partners_code_format",
        422,
        "invalid_partner_code",
        "Partner codes are 3 to 50 letters, digits, - or _, and never look like REF123",
    ),
    (
        "referral_campaigns_single_default",
        409,
        "default_campaign_conflict",
        "Another campaign became the default at the same moment; try again",
    ),
    (
        "referral_partners_code_key",
        409,
        "partner_code_taken",
        "Partner code already exists",
    ),
];

/// SQLSTATEs for transient conflicts that a retry resolves.
pub const SERIALIZATION_FAILURE: &str = "40001";
/// Deadlock detected.
pub const DEADLOCK_DETECTED: &str = "40P01";

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if matches!(
            err,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
        ) {
            return Self::Unavailable(err);
        }
        if let Some(db) = err.as_database_error() {
            if let Some(&(_, status, code, message)) = db
                .constraint()
                .and_then(|name| CONSTRAINT_ERRORS.iter().find(|(c, ..)| *c == name))
            {
                return match status {
                    409 => Self::conflict(code, message),
                    _ => Self::unprocessable(code, message),
                };
            }
            match db.code().as_deref() {
                Some(SERIALIZATION_FAILURE | DEADLOCK_DETECTED) => return Self::Unavailable(err),
                // A constraint this table does not name still means bad input or a
                // conflict, never a server error; the detail is logged, not sent.
                Some("23505") => {
                    tracing::warn!(constraint = ?db.constraint(), "unmapped unique violation");
                    return Self::conflict("conflict", "This conflicts with existing data");
                }
                Some("23503" | "23514" | "23502" | "22001" | "22003") => {
                    tracing::warn!(constraint = ?db.constraint(), code = ?db.code(), "unmapped constraint violation");
                    return Self::unprocessable(
                        "constraint_violation",
                        "The request breaks a data rule",
                    );
                }
                _ => {}
            }
        }
        Self::Internal(anyhow::Error::new(err))
    }
}
