//! Limits that keep one client from taking what others need: places in
//! the slow lanes (hashing, outbound) per client address, registrations per
//! address, and login failures per account and per address.

use super::fields::Fields;
use super::ConfigError;
use std::time::Duration;

/// The slow lanes' sizes beyond `hash_threads` and `hash_queue`.
#[derive(Clone, Debug)]
pub struct LaneConfig {
    /// Requests one client address may have waiting in each slow lane. Small
    /// on purpose: four waiting logins are about a second of hashing at cost
    /// 12, and a flood from one address then costs others one turn, not the
    /// whole queue.
    pub queue_per_address: usize,
    /// Threads running handlers that wait on the network (Google sign-in).
    pub outbound_threads: usize,
    /// Requests waiting for those threads; more get 503.
    pub outbound_queue: usize,
}

/// Attempts counted per client address or account, in fixed windows.
#[derive(Clone, Debug)]
pub struct AttemptLimits {
    /// Registrations that reach hashing, per client address in the window.
    pub register_max_per_address: u32,
    pub register_window: Duration,
    /// Failed logins per account from all addresses together (the bound on
    /// guessing); `login_max_failures` counts per account and address.
    pub login_max_failures_per_account: u32,
    /// Failed logins per address over all accounts (a lab shares a NAT).
    pub login_max_failures_per_address: u32,
}

pub fn lanes(f: &mut Fields) -> Result<LaneConfig, ConfigError> {
    Ok(LaneConfig {
        queue_per_address: f.int("hash_queue_per_address", 16, 1, 100_000)?,
        outbound_threads: f.int("outbound_threads", 2, 1, 64)?,
        outbound_queue: f.int("outbound_queue", 16, 1, 100_000)?,
    })
}

pub fn attempts(f: &mut Fields) -> Result<AttemptLimits, ConfigError> {
    Ok(AttemptLimits {
        register_max_per_address: f.int("register_max_per_address", 30, 1, 1_000_000)?,
        register_window: f.secs("register_window_seconds", 3600, 1, 86_400)?,
        login_max_failures_per_account: f.int(
            "login_max_failures_per_account",
            100,
            1,
            1_000_000,
        )?,
        login_max_failures_per_address: f.int(
            "login_max_failures_per_address",
            50,
            1,
            1_000_000,
        )?,
    })
}
