//! The HTTP side: tiny_http parses and answers requests that the listener
//! bridges to it over a private Unix socket; a pool of worker threads runs
//! handlers, a smaller pool runs the password-hashing ones.
//!
//! Handlers are plain functions `fn(&Ctx, &Req) -> Result<Reply, ApiError>`
//! (see `routes`). Only this module imports tiny_http.

mod accounts;
mod admin;
mod admin_actions;
mod caller;
mod dispatch;
pub mod error;
mod google;
mod health;
mod lane;
mod metrics;
mod pages;
mod params;
mod reply;
pub mod request;
mod reset;
mod respond;
mod routes;
mod sessions;
mod socket;
mod templates;
mod totp;
/// The checks registration makes; the admin command line makes them too.
pub mod validate;
mod verification;
mod workers;

/// A user in the JSON shape the API answers, for the CLI's `--json` too.
pub use accounts::user_json;
pub use routes::endpoints;
pub use socket::Backend;

use crate::ctx::Ctx;
use std::sync::Arc;

/// Binds tiny_http to a new private socket and starts the worker pools.
pub fn start(ctx: Arc<Ctx>) -> std::io::Result<Backend> {
    let (backend, listener) = socket::bind()?;
    let server = tiny_http::Server::from_listener(listener, None).map_err(std::io::Error::other)?;
    workers::start(Arc::new(server), ctx)?;
    Ok(backend)
}
