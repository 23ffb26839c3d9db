//! Host names in the config: the sections that allow an unencrypted hop
//! (`smtp`, `oidc`) allow it only to this machine.

use std::net::IpAddr;

/// Whether `host` is this machine, where an unencrypted hop is harmless.
pub(super) fn is_local(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
