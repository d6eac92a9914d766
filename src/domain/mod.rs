//! The types that carry Bondhu's business rules, independent of HTTP and SQL.
//!
//! Closed sets of names that PostgreSQL stores as enums are declared with [`sql_enum!`]:
//! one Rust enum per Postgres enum, decoded and encoded by sqlx, serialised by serde, and
//! compared with the database's own list by a test (`tests/api/schema.rs`).

/// Declares a Rust enum that is also the PostgreSQL enum type `$pg`: the same names, in
/// the same order (so `Ord` agrees with the database's comparison), serialised by serde
/// and documented in OpenAPI as those names. A name the database returns that the enum
/// lacks fails to decode (a 500 that a test catches), never a silent default.
macro_rules! sql_enum {
    (
        $(#[doc = $doc:literal])*
        $vis:vis enum $name:ident = $pg:literal {
            $( $(#[doc = $vdoc:literal])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[sqlx(type_name = $pg)]
        $vis enum $name {
            $( $(#[doc = $vdoc])* #[sqlx(rename = $text)] #[serde(rename = $text)] $variant, )*
        }

        impl $name {
            /// Every value, in the database's order.
            pub const ALL: &[Self] = &[$(Self::$variant),*];
            /// The PostgreSQL type.
            pub const SQL_TYPE: &str = $pg;

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)* }
            }

            /// The value with this stored name.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use sql_enum;

pub mod account;
pub mod campaign;
pub mod channel;
pub mod commission;
pub mod courier;
pub mod crm;
pub mod customer;
pub mod event;
pub mod fraud;
pub mod grocery;
pub mod kpi;
pub mod loyalty;
pub mod message;
pub mod message_text;
pub mod money;
pub mod order;
pub mod partner;
pub mod partner_report;
pub mod phone;
pub mod phone_code;
pub mod rate_limit;
pub mod reconcile;
pub mod referral;
pub mod referral_code;
pub mod reminder;
pub mod review;
pub mod share;
pub mod time;
pub mod utm;
pub mod wallet;
pub mod webhook;
pub mod withdrawal;

/// Every enum shared with PostgreSQL: its type name and its values in order. A test
/// compares each with `enum_range()` in a migrated database.
pub fn sql_enums() -> Vec<(&'static str, Vec<&'static str>)> {
    /// `(SQL type, its names in declaration order)` for each `sql_enum!` type listed.
    macro_rules! listed {
        ($($t:ty),* $(,)?) => {
            vec![$((<$t>::SQL_TYPE, <$t>::ALL.iter().map(|v| v.as_str()).collect())),*]
        };
    }
    let mut enums: Vec<(&'static str, Vec<&'static str>)> = listed![
        loyalty::Tier,
        loyalty::TierSource,
        loyalty::PointsDirection,
        loyalty::CouponKind,
        loyalty::DiscountType,
        loyalty::CouponStatus,
        loyalty::CouponRefusal,
        referral::RewardKind,
        referral::RewardStatus,
        referral::Side,
        referral::ReferralStatus,
        referral::EventType,
        referral::Completion,
        review::ReviewStatus,
        review::ReviewOutcome,
        wallet::Direction,
        wallet::LedgerStatus,
        wallet::WalletSource,
        wallet::PostingOutcome,
        order::OrderOutcome,
        order::RefundOutcome,
        partner_report::OrderResult,
        customer::LoginAccountKind,
        kpi::Metric,
        withdrawal::WithdrawalStatus,
        withdrawal::WithdrawalMethod,
        withdrawal::WithdrawalOutcome,
        phone_code::PhoneCodePurpose,
        phone_code::PhoneCodeCheck,
        fraud::SignalKind,
        fraud::SignalContext,
        fraud::FraudAction,
        fraud::BlocklistKind,
        reminder::ReminderChannel,
        crm::TaskStatus,
        message::MessageKind,
        message::MessageStatus,
        message::MessageChannel,
        message_text::Language,
        webhook::DomainEventType,
        webhook::DeliveryStatus,
        event::PublicationStatus,
        rate_limit::Bucket,
        courier::Courier,
        courier::EventOutcome,
        courier::EventReason,
        partner::PartnerType,
        partner::PayoutMethod,
        partner::CommissionScope,
        commission::CommissionStatus,
        commission::SkipReason,
        commission::PayoutLineStatus,
        commission::SettleOutcome,
    ];
    enums.push((
        "order_status_enum",
        order::OrderStatus::ALL.iter().map(|s| s.as_str()).collect(),
    ));
    enums
}
