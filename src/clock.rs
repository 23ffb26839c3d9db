//! The wall clock every expiry in the platform reads, and the calendar
//! maths that turn its seconds into dates.

/// Seconds since the Unix epoch; the clock every expiry in the platform uses.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
