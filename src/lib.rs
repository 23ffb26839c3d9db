//! sse-platform: user accounts, sessions and a signed WebSocket hub for the
//! SSE research platform's modules.
//!
//! The binary (`src/main.rs`) is a thin shell over this library: it parses the
//! command line, loads the configuration and calls [`server::run`]. The library
//! form exists so that integration tests and module authors (see
//! [`module_client`]) can reuse the protocol code.
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod ctx;
pub mod db;
pub mod hex;
pub mod http;
pub mod hub;
pub mod keygen;
pub mod listener;
pub mod lock;
pub mod logger;
pub mod mail;
pub mod metrics;
pub mod module_client;
pub mod names;
pub mod net;
pub mod origin;
pub mod random;
pub mod report;
pub mod server;
pub mod web;
