//! The server under test: a directory with certificate and config, the
//! process, its listening line and its log.

use super::client::Client;
use super::db::TestDb;
use super::process::Exited;
use super::raw::{tls_handshake, RawConn, Stream, TlsStream};
use super::{random_hex, wait_until, TempDir};
use serde_json::{json, Map, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The server binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sse-platform");

/// The binary servers run: [`BIN`], or `SSE_TEST_SERVER_BIN` when set (to
/// show that a test fails against an older build).
fn server_bin() -> String {
    std::env::var("SSE_TEST_SERVER_BIN").unwrap_or_else(|_| BIN.to_owned())
}

/// How long a server may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The admin account of every test config (used with `--create_admin`).
pub const ADMIN_NAME: &str = "admin";
pub const ADMIN_EMAIL: &str = "admin@example.org";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A self-signed certificate for `localhost` and `127.0.0.1`, as PEM.
pub fn self_signed_cert() -> (String, String) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).expect("rcgen");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// A complete config for `db` (or for an unreachable database when `None`,
/// enough for tests that never get past the config), merged with `extra`.
///
/// `extra`'s keys replace the defaults; a `null` removes the key. A
/// `verify_keys` object (rather than a path) is written to the
/// `verify_keys.json` the config points at.
fn config_for(db: Option<&TestDb>, extra: &Value) -> Map<String, Value> {
    let pg = db.map_or_else(
        || json!({"pghost": "127.0.0.1", "pgport": 1, "pguser": "nobody", "pgdb": "nothing"}),
        |db| db.config(),
    );
    let mut config = json!({
        "port": 0,
        "bind": "127.0.0.1",
        "ssl_cert": "cert.pem",
        "ssl_key": "key.pem",
        "verify_keys": "verify_keys.json",
        "cookie_secret": format!("test-secret-{}", random_hex(16)),
        "bcrypt_cost": 4,
        "platform_admin_username": ADMIN_NAME,
        "platform_admin_password": ADMIN_PASSWORD,
        "platform_admin_email": ADMIN_EMAIL,
        "worker_threads": 4,
        "hash_threads": 2,
        "pg_pool_size": 4,
    });
    let Value::Object(map) = &mut config else {
        unreachable!()
    };
    map.extend(pg.as_object().cloned().unwrap_or_default());
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            if v.is_null() {
                map.remove(k);
            } else {
                map.insert(k.clone(), v.clone());
            }
        }
    } else {
        assert!(extra.is_null(), "extra config must be a JSON object");
    }
    map.clone()
}

/// A prepared server directory: certificate, key, `verify_keys.json` and
/// `config.json`, written before anything runs (tests may add files), and
/// the database the config names, kept until the server is gone.
pub struct Setup {
    dir: TempDir,
    db: Option<TestDb>,
    cert_pem: String,
    startup_timeout: Duration,
}

impl Setup {
    pub fn new(db: Option<&TestDb>, extra: Value) -> Setup {
        let dir = TempDir::new("srv");
        let (cert_pem, key_pem) = self_signed_cert();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        };
        write("cert.pem", &cert_pem);
        write("key.pem", &key_pem);
        let mut config = config_for(db, &extra);
        match config.get("verify_keys") {
            Some(Value::Object(keys)) => {
                write("verify_keys.json", &Value::Object(keys.clone()).to_string());
                config.insert("verify_keys".into(), json!("verify_keys.json"));
            }
            _ => write("verify_keys.json", "{}"),
        }
        write(
            "config.json",
            &serde_json::to_string_pretty(&Value::Object(config)).expect("json"),
        );
        Setup {
            dir,
            db: db.cloned(),
            cert_pem,
            startup_timeout: STARTUP_TIMEOUT,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir().join("config.json")
    }

    /// Replaces `config.json` with `text` as is (for malformed configs).
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config.json");
    }

    pub fn startup_timeout(mut self, timeout: Duration) -> Setup {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the server; panics (with its stderr) if it does not come up.
    pub fn start(self, args: &[&str]) -> Server {
        match self.try_start(args) {
            Ok(server) => server,
            Err(exited) => panic!(
                "sse-platform exited during start-up ({}); stderr:\n{}",
                exited.status, exited.stderr
            ),
        }
    }

    /// Starts the server, or reports how it exited during start-up.
    /// Panics if it neither listens nor exits within the start-up timeout.
    pub fn try_start(self, args: &[&str]) -> Result<Server, Exited> {
        let log = Arc::new(Mutex::new(String::new()));
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        match launch(&self, &args, &log) {
            Ok(running) => Ok(Server {
                setup: self,
                args,
                log,
                running: Some(running.0),
                port: running.1,
                scheme: running.2,
            }),
            Err(e) => Err(e),
        }
    }
}

/// A live server process and the threads draining its pipes.
struct Running {
    child: Child,
    readers: Vec<JoinHandle<()>>,
}

/// Spawns the binary and waits for its listening line.
fn launch(
    setup: &Setup,
    args: &[String],
    log: &Arc<Mutex<String>>,
) -> Result<(Running, u16, String), Exited> {
    let mut child = Command::new(server_bin())
        .arg("-c")
        .arg(setup.config_path())
        .args(args)
        .current_dir(setup.dir())
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sse-platform");
    let (line_tx, line_rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stdout_log = log.clone();
    let out_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line.clone()).is_err() {
                // Only the first line matters; any more go to the log.
                push_line(&stdout_log, &format!("[stdout] {line}"));
            }
        }
    });
    let stderr = child.stderr.take().expect("stderr");
    let stderr_log = log.clone();
    let err_reader = std::thread::spawn(move || {
        let echo = std::env::var_os("SSE_TEST_SHOW_LOG").is_some();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if echo {
                eprintln!("[server] {line}");
            }
            push_line(&stderr_log, &line);
        }
    });
    let mut running = Running {
        child,
        readers: vec![out_reader, err_reader],
    };
    match line_rx.recv_timeout(setup.startup_timeout) {
        Ok(line) => {
            drop(line_rx);
            let (scheme, port) = parse_listening_line(&line).unwrap_or_else(|| {
                running.stop();
                panic!("unexpected first stdout line {line:?}")
            });
            Ok((running, port, scheme))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = running.child.wait().expect("wait");
            running.join();
            let stderr = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Err(Exited {
                status,
                stdout: String::new(),
                stderr,
            })
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            running.stop();
            let stderr = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            panic!(
                "sse-platform printed no listening line within {:?}; stderr:\n{stderr}",
                setup.startup_timeout
            )
        }
    }
}

fn push_line(log: &Mutex<String>, line: &str) {
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    log.push_str(line);
    log.push('\n');
}

/// `sse-platform listening on https://127.0.0.1:PORT` to `("https", PORT)`.
fn parse_listening_line(line: &str) -> Option<(String, u16)> {
    let url = line.strip_prefix("sse-platform listening on ")?;
    let (scheme, rest) = url.split_once("://")?;
    let port = rest.strip_prefix("127.0.0.1:")?.parse().ok()?;
    Some((scheme.to_owned(), port))
}

impl Running {
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join();
    }

    fn join(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

/// A running `sse-platform`; stopped (killed) when dropped, and only then
/// its database dropped (it is in `setup`, which drops after `drop` ran).
pub struct Server {
    setup: Setup,
    args: Vec<String>,
    /// stderr of every run of this server, in order.
    log: Arc<Mutex<String>>,
    running: Option<Running>,
    /// The port of the current run (a restart picks a new one).
    pub port: u16,
    /// `https`, or `http` with `"tls": false`.
    pub scheme: String,
}

impl Server {
    /// Starts the binary on a fresh database of its own, with the test
    /// config merged with `extra` (see [`config_for`]) and the command-line
    /// `args` (after `-c config.json`). To share a database between
    /// servers, or to use one on a private cluster, see [`Setup::new`].
    pub fn start(extra: Value, args: &[&str]) -> Server {
        Setup::new(Some(&TestDb::new()), extra).start(args)
    }

    /// The database this server runs on (one of its own for
    /// [`Server::start`]).
    pub fn db(&self) -> &TestDb {
        self.setup
            .db
            .as_ref()
            .expect("this server was set up without a database")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Everything logged before this call. The server writes info lines in
    /// batches, so this asks for a page from an address of its own and
    /// waits for its access line: what came before it has been written too.
    /// (Not a marker in the path: unknown paths are not logged as sent.)
    /// Use it before asserting that something is *absent* from the log.
    pub fn settled_log(&self) -> String {
        static MARKERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let n = MARKERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let from = std::net::Ipv4Addr::new(127, 1, (n >> 8) as u8, n as u8);
        let ending = format!(" {from}");
        if let Ok(mut conn) = self.raw_from(from) {
            let request = b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
            let _ = conn.send(request);
            let _ = conn.read_response(Duration::from_secs(5));
        }
        self.wait_for_log(Duration::from_secs(5), |log| {
            log.lines().any(|l| l.trim_end().ends_with(&ending))
        })
    }

    /// Waits until the log satisfies `cond`; panics with the log otherwise.
    pub fn wait_for_log(&self, timeout: Duration, cond: impl Fn(&str) -> bool) -> String {
        let mut log = String::new();
        let ok = wait_until(timeout, || {
            log = self.log();
            cond(&log)
        });
        assert!(ok, "log condition not met within {timeout:?}; log:\n{log}");
        log
    }

    pub fn dir(&self) -> &Path {
        self.setup.dir()
    }

    pub fn cert_pem(&self) -> &str {
        &self.setup.cert_pem
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.running {
            Some(r) => matches!(r.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id of the current run.
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.child.id())
    }

    /// Sends SIGTERM (as systemd would) and waits for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut running = self.running.take()?;
        let pid = running.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let status = running.child.wait().ok();
        running.join();
        status
    }

    /// Sends `signal` (`TERM`, `INT`, `HUP`) without waiting.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("server running").to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
    }

    /// Waits for the process to exit by itself; `None` if it still runs
    /// after `timeout` (it is left running).
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut status = None;
        wait_until(timeout, || {
            status = self
                .running
                .as_mut()
                .and_then(|r| r.child.try_wait().ok().flatten());
            status.is_some()
        });
        if status.is_some() {
            if let Some(mut running) = self.running.take() {
                running.join();
            }
        }
        status
    }

    /// Kills the process and waits for it; the log stays readable.
    pub fn stop(&mut self) {
        if let Some(mut running) = self.running.take() {
            running.stop();
        }
    }

    /// Stops and starts again with the same config, database and arguments
    /// (on a new port: the config says 0).
    pub fn restart(&mut self) {
        self.stop();
        let (running, port, scheme) =
            launch(&self.setup, &self.args, &self.log).unwrap_or_else(|exited| {
                panic!(
                    "sse-platform exited during restart ({}); stderr:\n{}",
                    exited.status, exited.stderr
                )
            });
        self.running = Some(running);
        self.port = port;
        self.scheme = scheme;
    }

    /// An HTTP client for this server that sends no credentials.
    pub fn client(&self) -> Client {
        let cert = (self.scheme == "https").then_some(self.setup.cert_pem.as_str());
        Client::new(&format!("{}://127.0.0.1:{}", self.scheme, self.port), cert)
    }

    /// A raw connection speaking the server's scheme (TLS handshake done).
    pub fn raw(&self) -> RawConn<Box<dyn Stream>> {
        if self.scheme == "https" {
            RawConn::new(Box::new(self.raw_tls().stream))
        } else {
            RawConn::new(Box::new(self.raw_tcp().stream))
        }
    }

    /// A plain TCP connection, whatever the server's scheme.
    pub fn raw_tcp(&self) -> RawConn<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        RawConn::new(tcp)
    }

    /// A TLS connection trusting the test certificate, handshake complete.
    pub fn raw_tls(&self) -> RawConn<TlsStream> {
        self.try_raw_tls().expect("TLS connection")
    }

    /// As [`Server::raw_tls`], with the failure to connect as an error.
    pub fn try_raw_tls(&self) -> std::io::Result<RawConn<TlsStream>> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))?;
        tcp.set_nodelay(true)?;
        Ok(RawConn::new(tls_handshake(tcp, &self.setup.cert_pem)?))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
