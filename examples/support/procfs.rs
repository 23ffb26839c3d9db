//! What /proc says about a process, for the load tools (included with
//! `#[path]` by `sse_platform_bench` and `sse_platform_abuse`).

use std::time::Duration;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// CPU seconds (user + system) the process has used.
#[allow(dead_code)] // Not every tool that includes this file uses all of it.
pub fn cpu_seconds(pid: u32) -> Res<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit(')').next().ok_or("bad /proc stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// CPU seconds of every process whose parent is `parent` (PostgreSQL's
/// backends under their postmaster), as they are now: a backend that
/// exits between two readings takes its time with it, so measure over
/// connections that stay open.
#[allow(dead_code)] // Only the benchmark adds PostgreSQL's CPU to the platform's.
pub fn children_cpu_seconds(parent: u32) -> Res<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc")? {
        let name = entry?.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let after_name = stat.rsplit(')').next().unwrap_or_default();
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            total += cpu_seconds(pid).unwrap_or(0.0);
        }
    }
    Ok(total)
}

/// A number from a `Key: value` line of /proc/PID/status.
fn status_field(pid: u32, key: &str) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))?;
    let number = value.split_whitespace().next().ok_or("empty field")?;
    Ok(number.parse()?)
}

pub fn rss_kib(pid: u32) -> Res<u64> {
    status_field(pid, "VmRSS:")
}

#[allow(dead_code)]
pub fn threads(pid: u32) -> Res<u64> {
    status_field(pid, "Threads:")
}

#[allow(dead_code)]
pub fn open_fds(pid: u32) -> Res<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

/// The process's established TCP connections to remote `port`: its sockets
/// (the `socket:[inode]` links in /proc/PID/fd) that /proc/PID/net/tcp and
/// tcp6 show connected to that port. For the database pool's connections.
#[allow(dead_code)]
pub fn tcp_connections_to(pid: u32, port: u16) -> Res<u64> {
    let mut inodes = std::collections::HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(link) = std::fs::read_link(entry?.path()) else {
            continue; // closed meanwhile
        };
        let link = link.to_string_lossy();
        if let Some(inode) = link
            .strip_prefix("socket:[")
            .and_then(|l| l.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let mut count = 0;
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue; // no IPv6
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, _, remote, state, _, _, _, _, _, inode, ..] = fields[..] else {
                continue;
            };
            let remote_port = remote
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            const ESTABLISHED: &str = "01";
            if state == ESTABLISHED && remote_port == Some(port) && inodes.contains(inode) {
                count += 1;
            }
        }
    }
    Ok(count)
}

/// The value at fraction `p` (0 to 1) of sorted durations; zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Lifts this process's open-file limit to its hard limit: load tools hold
/// thousands of sockets.
pub fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}
