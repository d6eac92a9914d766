//! Integration tests: the real router (and, in `server`, the real server) against a real
//! PostgreSQL. Each `#[sqlx::test]` gets its own freshly migrated database.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod gateways;
mod helpers;

mod agents;
mod attribution;
mod auth;
mod bad_input;
mod campaigns;
mod cards;
pub mod cli;
mod commissions;
mod community;
mod contract;
mod couriers;
mod customers;
mod edge_cases;
mod event_stream;
mod faults;
mod fraud;
mod grocery;
mod holds;
mod identity;
mod instances;
mod kpis;
mod lean_pool;
mod messaging;
mod openapi;
mod orders;
mod pages;
mod partner_reports;
mod payouts;
mod phone_verification;
mod price_locks;
mod providers;
mod reconcile;
mod referrals;
mod reminders;
mod replica;
mod reviews;
mod rules;
mod schema;
mod server;
mod share;
mod wallets;
mod webhooks_out;
mod withdrawals;
