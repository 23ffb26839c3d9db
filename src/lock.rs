//! The lock helper every module uses.
//!
//! A panic on one connection thread must not take the rest of the server with
//! it, so a poisoned lock is recovered instead of unwrapped: the data behind
//! our locks stays consistent between statements (no invariant spans a panic
//! point), which makes recovery safe.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering the guard if a previous holder panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
