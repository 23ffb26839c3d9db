//! Running the binary to completion: exit status and output.

use super::server::BIN;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a process ended: exit status and everything it printed.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Exited {
    /// stderr's lines, without empty ones.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Asserts the process refused to start as the CLI should: exit 2, no
    /// panic, and exactly one `sse-platform:` error line, naming `key`.
    pub fn assert_one_error_naming(&self, key: &str) {
        assert_eq!(self.status.code(), Some(2), "{}", self.stderr);
        self.assert_no_panic();
        let errors: Vec<&str> = self
            .stderr_lines()
            .into_iter()
            .filter(|l| l.starts_with("sse-platform:"))
            .collect();
        assert_eq!(errors.len(), 1, "one error line:\n{}", self.stderr);
        assert!(errors[0].contains(key), "{}", errors[0]);
    }

    /// Asserts no panic message or backtrace reached stderr.
    pub fn assert_no_panic(&self) {
        for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
            assert!(
                !self.stderr.contains(bad),
                "stderr mentions '{bad}':\n{}",
                self.stderr
            );
        }
    }
}

/// Runs the binary with `args` in `dir` until it exits (panics after
/// `timeout`, killing it).
pub fn run_to_exit(dir: &Path, args: &[&str], timeout: Duration) -> Exited {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sse-platform");
    let stdout = collect(child.stdout.take().expect("stdout"));
    let stderr = collect(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sse-platform {args:?} still running after {timeout:?}; stderr:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Exited {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
