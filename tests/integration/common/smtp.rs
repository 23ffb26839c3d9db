//! A real SMTP server for mail tests: `smtp_sink.py` (Python's aiosmtpd),
//! one process per test on a free port, reporting every mail it accepts as
//! a JSON line. `scripts/test` installs aiosmtpd; `SSE_TEST_PYTHON` names
//! the interpreter (default `python3`).

use super::wait_until;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/integration/common/smtp_sink.py"
);

/// A running sink; stopped when dropped.
pub struct SmtpSink {
    child: Child,
    stdin: Option<ChildStdin>,
    pub port: u16,
    mails: Arc<Mutex<Vec<Value>>>,
    reader: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// A plain sink on a free port.
    pub fn start() -> SmtpSink {
        SmtpSink::start_with(0, &[])
    }

    /// A sink on `port` (0: any) with `smtp_sink.py` options such as
    /// `--starttls CERT KEY` or `--auth USER PASSWORD`.
    pub fn start_with(port: u16, args: &[&str]) -> SmtpSink {
        let python = std::env::var("SSE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .arg(SCRIPT)
            .arg(port.to_string())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} (needed for the SMTP sink): {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("sink stdout");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let sink_mails = mails.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("PORT ") {
                    let _ = port_tx.send(port.trim().parse::<u16>().ok());
                } else if let Ok(mail) = serde_json::from_str::<Value>(&line) {
                    sink_mails
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(mail);
                }
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "the SMTP sink did not start: is aiosmtpd installed for {python}? \
                     (scripts/test installs it; or: {python} -m pip install aiosmtpd)"
                )
            });
        SmtpSink {
            child,
            stdin,
            port,
            mails,
            reader: Some(reader),
        }
    }

    /// Every mail received so far.
    pub fn mails(&self) -> Vec<Value> {
        self.mails.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until `n` mails have arrived and returns them all; panics
    /// after `timeout`.
    #[track_caller]
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let arrived = wait_until(timeout, || self.mails().len() >= n);
        let mails = self.mails();
        assert!(
            arrived,
            "expected {n} mails within {timeout:?}, got {mails:#?}"
        );
        mails
    }

    /// The `smtp` config section for this sink (plain SMTP on 127.0.0.1).
    pub fn config(&self) -> Value {
        serde_json::json!({
            "host": "127.0.0.1",
            "port": self.port,
            "security": "none",
            "from": "SSE Lab <noreply@lab.example>",
            "timeout_seconds": 5,
            "retry_delay_seconds": 1,
        })
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (connections are refused).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A "mail server" that accepts connections and never says a word: the
/// worst kind of outage, where only timeouts help. Keeps every connection
/// open until dropped.
pub struct BlackHole {
    pub port: u16,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                keep.lock().unwrap_or_else(|e| e.into_inner()).push(stream);
            }
        });
        BlackHole { port, held }
    }

    pub fn connections(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
