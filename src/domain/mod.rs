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
pub mod customer;
pub mod fraud;
pub mod kpi;
pub mod loyalty;
pub mod money;
pub mod order;
pub mod partner;
pub mod phone;
pub mod referral;
pub mod referral_code;
pub mod time;
pub mod wallet;

/// Every enum shared with PostgreSQL: its type name and its values in order. A test
/// compares each with `enum_range()` in a migrated database.
pub fn sql_enums() -> Vec<(&'static str, Vec<&'static str>)> {
    fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|v| name(*v)).collect()
    }
    use loyalty::{
        CouponKind, CouponRefusal, CouponStatus, DiscountType, PointsDirection, Tier, TierSource,
    };
    use referral::{Completion, EventType, ReferralStatus, RewardKind, RewardStatus, Side};
    use wallet::{Direction, LedgerStatus, PostingOutcome, WalletSource};
    vec![
        (Tier::SQL_TYPE, names(Tier::ALL, Tier::as_str)),
        (
            TierSource::SQL_TYPE,
            names(TierSource::ALL, TierSource::as_str),
        ),
        (
            RewardKind::SQL_TYPE,
            names(RewardKind::ALL, RewardKind::as_str),
        ),
        (
            RewardStatus::SQL_TYPE,
            names(RewardStatus::ALL, RewardStatus::as_str),
        ),
        (Side::SQL_TYPE, names(Side::ALL, Side::as_str)),
        (
            ReferralStatus::SQL_TYPE,
            names(ReferralStatus::ALL, ReferralStatus::as_str),
        ),
        (
            EventType::SQL_TYPE,
            names(EventType::ALL, EventType::as_str),
        ),
        (
            Direction::SQL_TYPE,
            names(Direction::ALL, Direction::as_str),
        ),
        (
            LedgerStatus::SQL_TYPE,
            names(LedgerStatus::ALL, LedgerStatus::as_str),
        ),
        (
            WalletSource::SQL_TYPE,
            names(WalletSource::ALL, WalletSource::as_str),
        ),
        (
            PointsDirection::SQL_TYPE,
            names(PointsDirection::ALL, PointsDirection::as_str),
        ),
        (
            CouponKind::SQL_TYPE,
            names(CouponKind::ALL, CouponKind::as_str),
        ),
        (
            DiscountType::SQL_TYPE,
            names(DiscountType::ALL, DiscountType::as_str),
        ),
        (
            CouponStatus::SQL_TYPE,
            names(CouponStatus::ALL, CouponStatus::as_str),
        ),
        (
            CouponRefusal::SQL_TYPE,
            names(CouponRefusal::ALL, CouponRefusal::as_str),
        ),
        (
            PostingOutcome::SQL_TYPE,
            names(PostingOutcome::ALL, PostingOutcome::as_str),
        ),
        (
            Completion::SQL_TYPE,
            names(Completion::ALL, Completion::as_str),
        ),
        (
            order::OrderOutcome::SQL_TYPE,
            names(order::OrderOutcome::ALL, order::OrderOutcome::as_str),
        ),
        (
            "order_status_enum",
            names(&order::OrderStatus::ALL, order::OrderStatus::as_str),
        ),
        (
            fraud::SignalKind::SQL_TYPE,
            names(fraud::SignalKind::ALL, fraud::SignalKind::as_str),
        ),
        (
            fraud::SignalContext::SQL_TYPE,
            names(fraud::SignalContext::ALL, fraud::SignalContext::as_str),
        ),
        (
            fraud::FraudAction::SQL_TYPE,
            names(fraud::FraudAction::ALL, fraud::FraudAction::as_str),
        ),
        (
            fraud::BlocklistKind::SQL_TYPE,
            names(fraud::BlocklistKind::ALL, fraud::BlocklistKind::as_str),
        ),
        (
            customer::LoginAccountKind::SQL_TYPE,
            names(
                customer::LoginAccountKind::ALL,
                customer::LoginAccountKind::as_str,
            ),
        ),
    ]
}
