//! Start-up: config, TLS, database (with retries and migrations), the admin
//! account, then the HTTP workers and the accept loop. Every failure here is
//! one line naming what is wrong.

use crate::auth::cookie::CookieSigner;
use crate::auth::limiter::Limiter;
use crate::auth::password::Passwords;
use crate::auth::sessions::SessionStore;
use crate::cli::ServeArgs;
use crate::clock::unix_now;
use crate::config::{Config, ConfigError};
use crate::ctx::Ctx;
use crate::db::{schema, users, Db};
use crate::hub::Hub;
use crate::net::tls::TlsError;
pub use check::check;
pub use error::{AdminError, StartError};

mod check;
mod error;
mod listen;
mod signals;
use crate::{http, listener};
use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// How long start-up waits for PostgreSQL.
const DB_STARTUP_WAIT: Duration = Duration::from_secs(30);

/// Runs the platform until the process is stopped.
pub fn run(args: ServeArgs) -> Result<(), StartError> {
    let config = Config::load(&args.config)?;
    if config.log_json {
        crate::logger::set_format(crate::logger::Format::Json);
    }
    check_dev_bind(&args, &config)?;
    if args.dev {
        for _ in 0..3 {
            log::warn!("DEVELOPER MODE: every request without a session acts as an ADMINISTRATOR. Never use --dev in production.");
        }
    }
    let (tls, certs) = tls_config(&config)?.unzip();
    let db = Arc::new(Db::new(&config.pg));
    log::info!(
        "db: connecting to {}:{}/{} as {}",
        config.pg.host,
        config.pg.port,
        config.pg.dbname,
        config.pg.user
    );
    db.wait_until_ready(DB_STARTUP_WAIT)?;
    schema::migrate(&mut db.conn()?)?;
    let filled = users::fill_name_keys(&mut *db.conn()?)?;
    if filled > 0 {
        log::info!("accounts: computed the name keys of {filled} accounts");
    }
    let passwords = Passwords::new(config.bcrypt_cost)?;
    if args.create_admin {
        create_admin(&config, &db, &passwords)?;
    }
    let tcp = TcpListener::bind((config.bind, config.port)).map_err(StartError::io(format!(
        "cannot listen on {}:{}",
        config.bind, config.port
    )))?;
    let port = tcp
        .local_addr()
        .map_err(StartError::io("listening address"))?
        .port();
    let process = crate::db::cluster::Process {
        id: crate::db::cluster::next_process_id(&mut *db.conn()?)?,
        host: host_name(),
        pid: std::process::id(),
        port,
        started_at: unix_now(),
    };
    let hub = Hub::new(&config).map_err(StartError::Keys)?;
    // Every process of a deployment has the same cookie_secret, so each
    // opens what the others sealed into the outbox.
    let outbox_key =
        crate::auth::sealing::derive_key("hub outbox", config.cookie_secret.as_bytes());
    let hub = Arc::new(hub.shared_with(db.clone(), process.id, outbox_key));
    Hub::watch_keys(hub.clone()).map_err(StartError::io("key watcher"))?;
    raise_fd_limit();
    let mail = crate::mail::Mailer::start(&config, db.clone())?;
    let oidc = config.oidc.as_ref().map(crate::auth::oidc::Verifier::new);
    let audit = crate::audit::Audit::start(db.clone(), config.audit_queue)
        .map_err(StartError::io("audit thread"))?;
    match &config.oidc {
        Some(o) => log::info!("oidc: sign-in with {} on", o.issuer),
        None => log::info!("oidc: off (no oidc section)"),
    }
    let ctx = Arc::new(Ctx {
        dev: args.dev,
        port,
        tls,
        sessions: SessionStore::new(
            db.clone(),
            config.token_ttl.as_secs(),
            config.session_max.as_secs(),
            hub.clone(),
        ),
        db,
        passwords,
        cookies: CookieSigner::new(&config.cookie_secret),
        login_pair_failures: Limiter::new(
            "login_pair",
            config.login_max_failures,
            config.login_failure_window,
        ),
        account_failures: Limiter::new(
            "login_account",
            config.attempts.login_max_failures_per_account,
            config.login_failure_window,
        ),
        address_failures: Limiter::new(
            "login_address",
            config.attempts.login_max_failures_per_address,
            config.login_failure_window,
        ),
        totp_failures: Limiter::new(
            "totp_account",
            config.totp.max_failures_per_account,
            config.totp.failure_window,
        ),
        register_per_address: Limiter::new(
            "register_address",
            config.attempts.register_max_per_address,
            config.attempts.register_window,
        ),
        hub,
        mail,
        reset_per_email: Limiter::new(
            "reset_email",
            config.reset.max_per_email,
            config.reset.window,
        ),
        reset_per_address: Limiter::new(
            "reset_address",
            config.reset.max_per_address,
            config.reset.window,
        ),
        verify_per_email: Limiter::new(
            "verify_email",
            config.verification.max_per_email,
            config.verification.window,
        ),
        verify_per_address: Limiter::new(
            "verify_address",
            config.verification.max_per_address,
            config.verification.window,
        ),
        oidc,
        audit,
        process,
        config,
    });
    listen::start(ctx.clone())?;
    let backend = http::start(ctx.clone()).map_err(StartError::io("HTTP backend"))?;
    let backends = listener::Backends::start(backend.socket.clone())
        .map_err(StartError::io("backend sweeper"))?;
    // Before the listening line: whoever reads it may signal us at once.
    let stop = listener::Stop::new(&tcp).map_err(StartError::io("listening socket"))?;
    signals::watch(stop.clone(), backend.dir().to_owned(), certs)?;
    start_janitor(ctx.clone())?;
    announce(&ctx);
    let settings = listener_settings(&ctx.config, ctx.tls.clone());
    let served = ctx.clone();
    let websocket = move |client, head, rest, peer, slot: &_| {
        crate::hub::connection::serve(&served, client, head, rest, peer, slot)
    };
    let slots = listener::run(settings, tcp, backends, Arc::new(websocket), &stop);
    signals::finish(&ctx, &slots, backend.dir());
    Ok(())
}

fn listener_settings(c: &Config, tls: Option<Arc<rustls::ServerConfig>>) -> listener::Settings {
    listener::Settings {
        tls,
        max_connections: c.max_connections,
        max_connections_per_ip: c.max_connections_per_ip,
        limits: listener::Limits {
            header_timeout: c.header_timeout,
            body_timeout: c.body_timeout,
            idle_timeout: c.idle_timeout,
            max_body_bytes: c.max_body_bytes,
            trusted_proxies: c.trusted_proxies.clone(),
        },
    }
}

/// The TLS configuration and the store its certificate is reloaded into.
type Tls = (Arc<rustls::ServerConfig>, Arc<crate::net::tls::CertStore>);

fn tls_config(config: &Config) -> Result<Option<Tls>, StartError> {
    match (&config.ssl_cert, &config.ssl_key, config.tls) {
        (Some(cert), Some(key), true) => Ok(Some(
            crate::net::tls::server_config(cert, key).map_err(StartError::Tls)?,
        )),
        (_, _, true) => Err(StartError::Tls(TlsError::MissingFiles)),
        (_, _, false) => {
            log::warn!("TLS is off (\"tls\": false): run this only behind a TLS-terminating proxy");
            Ok(None)
        }
    }
}

/// Creates the configured admin account unless it exists (idempotent).
fn create_admin(config: &Config, db: &Db, passwords: &Passwords) -> Result<(), StartError> {
    let admin = config.admin.as_ref().ok_or_else(|| {
        StartError::Admin(AdminError::Missing {
            config: config.path.clone(),
        })
    })?;
    let mut conn = db.conn()?;
    let exists = !users::by_name(&mut *conn, &admin.username)?.is_empty()
        || !users::by_email(&mut *conn, &admin.email)?.is_empty();
    if exists {
        log::info!("admin: account '{}' exists already", admin.username);
        return Ok(());
    }
    let hash = passwords.hash(&admin.password)?;
    let created = users::create_with_password(
        &mut *conn,
        &admin.email,
        &admin.username,
        &hash,
        users::Role::Admin,
    );
    match created {
        Ok(_) => log::info!("admin: created account '{}'", admin.username),
        // Another start-up made it meanwhile.
        Err(users::CreateError::EmailTaken) => {
            log::info!("admin: account '{}' exists already", admin.username)
        }
        Err(users::CreateError::NameTaken)
            if !users::by_name(&mut *conn, &admin.username)?.is_empty() =>
        {
            log::info!("admin: account '{}' exists already", admin.username)
        }
        Err(users::CreateError::NameTaken) => {
            return Err(StartError::Admin(AdminError::NameTaken {
                config: config.path.clone(),
                name: admin.username.clone(),
            }))
        }
        Err(users::CreateError::Db(e)) => return Err(e.into()),
    }
    Ok(())
}

/// `--dev` makes every request without a session an administrator's, so
/// only this machine may reach it: `bind` must be a loopback address, and
/// no proxy may carry other machines' requests in.
fn check_dev_bind(args: &ServeArgs, config: &Config) -> Result<(), ConfigError> {
    let error = |key: &str, problem: String| ConfigError {
        path: config.path.clone(),
        key: Some(key.into()),
        problem,
    };
    if !args.dev {
        return Ok(());
    }
    if !config.bind.to_canonical().is_loopback() {
        let problem = format!(
            "--dev needs a loopback address (127.0.0.1 or ::1), got {}",
            config.bind
        );
        return Err(error("bind", problem));
    }
    if !config.trusted_proxies.is_empty() {
        let problem = "--dev must not be reached through a proxy: leave it empty".into();
        return Err(error("trusted_proxies", problem));
    }
    Ok(())
}

/// Each connection costs a few descriptors (socket, bridge, eventfd); the
/// usual soft limit of 1024 would cap the platform far below its
/// `max_connections`, so raise it to the hard limit.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            log::warn!("cannot raise the open-files limit: {e}");
        }
    }
}

/// This machine's name, for `platform_processes` (admins reading it).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// How often the janitor deletes old audit entries.
const AUDIT_PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Every `session_sweep_seconds`: ends expired sessions and deletes ended
/// limit windows; every hour, old audit entries.
fn start_janitor(ctx: Arc<Ctx>) -> Result<(), StartError> {
    let spawned = std::thread::Builder::new()
        .name("janitor".into())
        .spawn(move || {
            let mut pruned_at: Option<std::time::Instant> = None;
            loop {
                if pruned_at.is_none_or(|t| t.elapsed() >= AUDIT_PRUNE_EVERY) {
                    prune_audit(&ctx);
                    pruned_at = Some(std::time::Instant::now());
                }
                std::thread::sleep(ctx.config.session_sweep);
                sweep(&ctx);
            }
        });
    spawned.map(drop).map_err(StartError::io("janitor thread"))
}

fn sweep(ctx: &Ctx) {
    match ctx.sessions.sweep(unix_now()) {
        Ok(n) if n > 0 => log::info!("sessions: swept {n} expired"),
        Ok(_) => {}
        Err(e) => log::warn!("sessions: sweep failed: {e}"),
    }
    // The limits' table stays as small as the open windows.
    match crate::auth::limiter::prune(&ctx.db, crate::clock::unix_millis()) {
        Ok(n) if n > 0 => log::info!("limits: pruned {n} ended windows"),
        Ok(_) => {}
        Err(e) => log::warn!("limits: prune failed: {e}"),
    }
    // The replay guard's shared table: the `resolve_id`s older than the
    // window, which no process refuses any more.
    let before = unix_now() - crate::hub::REPLAY_WINDOW.as_secs() as i64;
    let pruned = ctx
        .db
        .conn()
        .and_then(|mut c| crate::db::cluster::prune_replay(&mut *c, before));
    if let Err(e) = pruned {
        log::warn!("replay ids: pruning failed: {e}");
    }
}

fn prune_audit(ctx: &Ctx) {
    let days = i64::from(ctx.config.audit_retention_days);
    let pruned = ctx
        .db
        .conn()
        .and_then(|mut c| crate::db::audit::prune(&mut *c, days));
    match pruned {
        Ok(n) if n > 0 => log::info!("audit: deleted {n} entries older than {days} days"),
        Ok(_) => {}
        Err(e) => log::warn!("audit: pruning failed: {e}"),
    }
}

/// The one line on stdout: scripts and tests wait for it to learn the port.
fn announce(ctx: &Ctx) {
    let scheme = if ctx.tls.is_some() { "https" } else { "http" };
    log::info!("listening on {scheme}://{}:{}", ctx.config.bind, ctx.port);
    // Whoever reads the line below may read the start-up log at once.
    crate::logger::flush();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "sse-platform listening on {scheme}://{}:{}",
        ctx.config.bind, ctx.port
    );
    let _ = out.flush();
}
