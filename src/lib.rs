//! Bondhu: a referral, wallet and loyalty server for cash-on-delivery e-commerce.
//!
//! The layout follows the request's path through the server:
//! - [`http`]: the router, middleware, extractors, the JSON error envelope and one module
//!   of handlers per resource;
//! - [`domain`]: the types that carry the business rules (money, share codes, phones,
//!   order statuses) and the entities the API returns;
//! - [`db`]: every SQL statement, as plain functions over a connection;
//! - [`auth`]: JWT tokens and the permission rules;
//! - [`providers`]: the clients that deliver messages (WhatsApp, SMS, the log stand-in);
//! - [`render`]: QR codes and printable PDF cards, drawn from plain values;
//! - [`config`], [`telemetry`], [`startup`] and [`cli`]: the process around it;
//! - [`failpoint`]: the crash points of `scripts/chaos.sh` (no code without the
//!   `failpoints` feature).
//!
//! The money core (posting to a wallet, completing a referral, recording an order's
//! status) lives in SQL functions in `migrations/`: see `docs/ARCHITECTURE.md`.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod failpoint;
pub mod http;
pub mod jobs;
pub mod providers;
pub mod render;
pub mod service;
pub mod startup;
pub mod telemetry;

/// The schema migrations, embedded in the binary and run at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();
