//! The integration tests: one binary (one link, one process running every
//! test in parallel), a module per area, and the harness in `common`.
//!
//! Run one area with `cargo test --test integration <module>::`, for
//! example `cargo test --test integration hostile_http::`.

mod common;

mod account_abuse;
mod accounts;
mod admin;
mod admin_actions;
mod admin_cli;
mod audit;
mod audit_writer;
mod cli;
mod cluster;
mod cluster_nginx;
mod contract;
mod cookie_secure;
mod db_outage;
mod dev_mode;
mod email_verification;
mod fuzz_corpus;
mod garbage;
mod health;
mod hostile_connections;
mod hostile_http;
mod hub;
mod hub_hold_abuse;
mod hub_origin;
mod hub_original;
mod hub_resilience;
mod hub_v2;
mod lifecycle;
mod limits;
mod listener;
mod logs;
mod lookalikes;
mod metrics;
mod module_client;
mod nginx;
mod oidc;
mod pages;
mod password_reset;
mod schemas;
mod sessions;
mod templates;
mod token_ttl;
mod tokens;
mod totp;
