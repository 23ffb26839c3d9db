//! Tools for attack tests: connections from chosen loopback addresses
//! (127.0.0.x, so that per-address limits see several clients) and a
//! legitimate client that keeps probing the server while an attack runs.
//!
//! Everything here targets 127.0.0.1/8 only and stops by itself.

use super::raw::{tls_handshake, RawConn, Stream};
use super::server::Server;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The loopback address `127.0.0.n`.
pub fn loopback(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// A TCP connection to `port` on 127.0.0.1 from the source address `from`
/// (any 127.0.0.x works on Linux without configuration).
pub fn connect_from(from: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    use rustix::net::{bind, connect, socket, AddressFamily, SocketType};
    assert!(from.is_loopback(), "attack tests stay on loopback");
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None)?;
    bind(&fd, &SocketAddrV4::new(from, 0))?;
    connect(&fd, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
    let tcp = TcpStream::from(fd);
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

impl Server {
    /// A raw connection from `from`, TLS handshake done when the server
    /// speaks TLS.
    pub fn raw_from(&self, from: Ipv4Addr) -> std::io::Result<RawConn<Box<dyn Stream>>> {
        let tcp = connect_from(from, self.port)?;
        if self.scheme == "https" {
            Ok(RawConn::new(Box::new(tls_handshake(tcp, self.cert_pem())?)))
        } else {
            Ok(RawConn::new(Box::new(tcp)))
        }
    }
}

/// What a [`Prober`] saw.
#[derive(Debug, Clone)]
pub struct ProbeStats {
    pub sent: usize,
    pub ok: usize,
    /// Latencies of the successful requests, sorted.
    pub latencies: Vec<Duration>,
}

impl ProbeStats {
    /// Successful share of the requests sent, 0.0 to 1.0.
    pub fn success_rate(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        self.ok as f64 / self.sent as f64
    }
}

/// A legitimate client on its own address: every `every` it opens a new
/// connection and sends `request`, counting a 200 within `timeout` as a
/// success. Runs until [`Prober::stop`].
pub struct Prober {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<ProbeStats>>,
}

/// The address probers use; attackers take others.
pub const PROBER_ADDRESS: u8 = 250;

impl Prober {
    /// Probes with `GET /login` every 200 ms, as the observer did.
    pub fn start(server: &Server) -> Prober {
        Prober::with(
            server,
            b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_vec(),
            Duration::from_millis(200),
            Duration::from_secs(3),
        )
    }

    pub fn with(server: &Server, request: Vec<u8>, every: Duration, timeout: Duration) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (port, tls, cert) = (
            server.port,
            server.scheme == "https",
            server.cert_pem().to_owned(),
        );
        let thread = std::thread::spawn(move || {
            let mut stats = ProbeStats {
                sent: 0,
                ok: 0,
                latencies: Vec::new(),
            };
            while !flag.load(Ordering::SeqCst) {
                let started = Instant::now();
                stats.sent += 1;
                if probe_once(port, tls, &cert, &request, timeout) {
                    stats.ok += 1;
                    stats.latencies.push(started.elapsed());
                }
                if let Some(rest) = every.checked_sub(started.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
            stats.latencies.sort();
            stats
        });
        Prober {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops probing and returns what was seen.
    pub fn stop(mut self) -> ProbeStats {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("prober thread")
            .join()
            .expect("prober panicked")
    }
}

fn probe_once(port: u16, tls: bool, cert: &str, request: &[u8], timeout: Duration) -> bool {
    let attempt = || -> std::io::Result<u16> {
        let tcp = connect_from(loopback(PROBER_ADDRESS), port)?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let mut conn: RawConn<Box<dyn Stream>> = if tls {
            RawConn::new(Box::new(tls_handshake(tcp, cert)?))
        } else {
            RawConn::new(Box::new(tcp))
        };
        conn.send(request)?;
        Ok(conn.read_response(timeout)?.status)
    };
    matches!(attempt(), Ok(200))
}

/// Runs `f` on `n` threads at once and waits for all of them; `f` gets the
/// thread's index.
pub fn in_parallel<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            std::thread::spawn(move || f(i))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("attack thread panicked"))
        .collect()
}

/// Threads and open file descriptors of process `pid`, from /proc.
pub fn threads_and_fds(pid: u32) -> (usize, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (threads, fds)
}

/// The names of process `pid`'s threads, counted (for failure messages).
pub fn thread_names(pid: u32) -> String {
    let mut names = std::collections::BTreeMap::<String, usize>::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            *names.entry(name.trim().to_owned()).or_default() += 1;
        }
    }
    format!("{names:?}")
}

/// Waits up to 15 s for process `pid`'s threads and descriptors to come
/// back within `slack` of `baseline`; panics with what is still there.
#[track_caller]
pub fn assert_back_to_baseline(pid: u32, baseline: (usize, usize), slack: (usize, usize)) {
    let mut now = (0, 0);
    let back = super::wait_until(Duration::from_secs(15), || {
        now = threads_and_fds(pid);
        now.0 <= baseline.0 + slack.0 && now.1 <= baseline.1 + slack.1
    });
    assert!(
        back,
        "threads/fds {now:?}, baseline {baseline:?}: {}",
        thread_names(pid)
    );
}

/// What happened to one WebSocket client that signed nothing.
#[derive(Debug)]
pub enum Silent {
    /// Closed before the WebSocket was open (refused, or evicted during
    /// its handshakes): fine, it held nothing for long.
    Refused,
    /// Opened, then closed by the server after this long.
    ClosedAfter(Duration),
    /// Still open when the client gave up.
    StillOpen,
}

/// A WebSocket client from 127.0.0.`from` to `target` (a path such as
/// `/websocket?module=X`) that answers pings and signs nothing. Panics if
/// it hears a text message: a connection that never signed hears nothing.
pub fn silent_module(server: &Server, from: u8, target: &str, give_up: Duration) -> Silent {
    use std::io::ErrorKind;
    use tungstenite::client::IntoClientRequest;
    let opened = (|| {
        let tcp = connect_from(loopback(from), server.port).ok()?;
        let tls = tls_handshake(tcp, server.cert_pem()).ok()?;
        let request = format!("wss://localhost{target}")
            .into_client_request()
            .ok()?;
        let (ws, _) = tungstenite::client::client(request, tls).ok()?;
        ws.get_ref()
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .ok()?;
        Some(ws)
    })();
    let Some(mut ws) = opened else {
        return Silent::Refused;
    };
    let opened = Instant::now();
    while opened.elapsed() < give_up {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => panic!("heard {t} without signing"),
            // Reading answers pings (tungstenite queues the pong).
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Silent::ClosedAfter(opened.elapsed()),
        }
    }
    Silent::StillOpen
}

/// Asserts that the server closed every silent connection that opened
/// within `limit`, and that at least `at_least` of them did open (or the
/// attack tried nothing).
pub fn assert_silent_closed_within(outcomes: &[Silent], limit: Duration, at_least: usize) {
    for outcome in outcomes {
        match outcome {
            Silent::Refused => {}
            Silent::ClosedAfter(open) => assert!(*open < limit, "closed after {open:?}"),
            Silent::StillOpen => panic!("a silent module connection was never closed"),
        }
    }
    let opened = outcomes
        .iter()
        .filter(|o| matches!(o, Silent::ClosedAfter(_)))
        .count();
    assert!(
        opened >= at_least,
        "only {opened} of {} silent connections opened: {outcomes:?}",
        outcomes.len()
    );
}
