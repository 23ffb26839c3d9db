//! tiny_http's private Unix socket, in a mode-0700 folder of its own
//! (only the bridge may connect: its peer header is trusted), and the
//! clean-up of folders that killed processes left behind.

use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The running HTTP side; its socket lives in a private folder that is
/// removed when this is dropped.
pub struct Backend {
    pub socket: Arc<Path>,
    dir: PathBuf,
}

impl Backend {
    /// The private folder holding the socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Makes a new private folder and binds the socket in it.
pub fn bind() -> std::io::Result<(Backend, UnixListener)> {
    let suffix: [u8; 8] = crate::random::bytes().map_err(std::io::Error::other)?;
    let suffix = crate::hex::encode(&suffix);
    remove_stale_sockets();
    let dir = std::env::temp_dir().join(format!(
        "{SOCKET_DIR_PREFIX}{}-{suffix}",
        std::process::id()
    ));
    // Only we may connect: the bridge's peer header is trusted.
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let socket: Arc<Path> = dir.join("http.sock").into();
    let listener = UnixListener::bind(&socket)?;
    Ok((Backend { socket, dir }, listener))
}

/// Private socket folders are named `<prefix><pid>-<random>`.
const SOCKET_DIR_PREFIX: &str = "sse-platform-";

/// Removes socket folders of platform processes that no longer run (killed
/// with SIGKILL, say, which leaves no chance to clean up).
fn remove_stale_sockets() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SOCKET_DIR_PREFIX))
        else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive && entry.path().join("http.sock").exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
