//! The types that carry Bondhu's business rules, independent of HTTP and SQL.

pub mod campaign;
pub mod channel;
pub mod customer;
pub mod kpi;
pub mod loyalty;
pub mod money;
pub mod order;
pub mod phone;
pub mod referral;
pub mod referral_code;
pub mod time;
pub mod wallet;
