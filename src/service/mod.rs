//! The use cases: each one validates its input, opens the transaction it needs, calls the
//! SQL in [`crate::db`] and turns outcomes into [`crate::error::Error`]s. HTTP handlers
//! (TrustCart-compatible or not) are thin wrappers around these.

pub mod attribution;
pub mod auth;
pub mod campaigns;
pub mod codes;
pub mod loyalty;
pub mod orders;
pub mod partners;
pub mod referrals;
pub mod signup;
pub mod wallets;
