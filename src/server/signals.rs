//! Signals: SIGTERM and SIGINT stop gracefully (no new connections,
//! requests in flight finish, modules hear 1001, within `shutdown_seconds`);
//! a second one exits at once with status 1. SIGHUP reloads the TLS
//! certificate and key (the hub reloads `verify_keys.json` on its own).

use super::StartError;
use crate::ctx::Ctx;
use crate::listener::{self, slots::Slots};
use crate::net::tls::CertStore;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The exit status of a second stop signal, which does not wait.
const HURRIED_EXIT: i32 = 1;

/// How long a clean stop waits for the audit trail's last batch.
const AUDIT_FINISH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts the `signals` thread, and `tls-sighup` when there is TLS.
pub(super) fn watch(
    stop: listener::Stop,
    socket_dir: PathBuf,
    certs: Option<Arc<CertStore>>,
) -> Result<(), StartError> {
    let mut signals = Signals::new([SIGTERM, SIGINT]).map_err(StartError::io("signal handler"))?;
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = signals.forever();
            if let Some(signal) = received.next() {
                log::info!("stopping on signal {signal}: no new connections");
                crate::logger::flush();
                stop.stop();
            }
            if let Some(signal) = received.next() {
                log::warn!("second signal {signal}: exiting at once");
                let _ = std::fs::remove_dir_all(&socket_dir);
                crate::logger::flush();
                std::process::exit(HURRIED_EXIT);
            }
        });
    spawned.map_err(StartError::io("signal thread"))?;
    if let Some(certs) = certs {
        reload_on_sighup(certs)?;
    }
    Ok(())
}

/// On SIGHUP, reads the certificate and key again; a failure keeps the
/// pair in use and says which file is wrong.
fn reload_on_sighup(certs: Arc<CertStore>) -> Result<(), StartError> {
    let mut signals = Signals::new([SIGHUP]).map_err(StartError::io("signal handler"))?;
    let spawned = std::thread::Builder::new()
        .name("tls-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                match certs.reload() {
                    Ok(()) => log::info!("SIGHUP, reloaded the TLS certificate and key"),
                    Err(e) => log::warn!(
                        "SIGHUP: TLS certificate not reloaded, keeping the old one: {}",
                        crate::report::chain(&e)
                    ),
                }
            }
        });
    spawned
        .map(drop)
        .map_err(StartError::io("TLS reload thread"))
}

/// After the accept loop ended: modules hear 1001, requests in flight get
/// their answers, for at most `shutdown_seconds`; then the private socket
/// folder goes and the log is flushed.
pub(super) fn finish(ctx: &Ctx, slots: &Slots, socket_dir: &Path) {
    let busy = listener::drain(slots, ctx.config.shutdown, || ctx.hub.go_away());
    if busy > 0 {
        log::warn!(
            "stopping with {busy} connections still busy after {}s",
            ctx.config.shutdown.as_secs()
        );
    }
    // Whatever the drain left: the other processes must not list this
    // one's modules (they would reap them a moment later anyway).
    let left = ctx
        .db
        .conn()
        .and_then(|mut c| crate::db::cluster::leave(&mut *c, ctx.process.id));
    if let Err(e) = left {
        log::warn!("leaving platform_processes: {e}");
    }
    // After the drain: the answers just given may have recorded entries.
    ctx.audit.finish(AUDIT_FINISH_WAIT);
    let _ = std::fs::remove_dir_all(socket_dir);
    log::info!("stopped");
    crate::logger::flush();
}
