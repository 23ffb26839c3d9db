//! Attack driver for issue 8 ("hold up under hostile load"): runs each
//! attack of the issue in its long form against the release binary on
//! loopback, while a legitimate client is measured and /proc is sampled,
//! and prints one Markdown row per attack with a verdict. `scripts/abuse`
//! builds it, starts PostgreSQL and runs it.
//!
//! ```text
//! SSE_ABUSE_PG='host=… port=… user=… password=… dbname=…' \
//! sse_platform_abuse --bin target/release/sse-platform --dir .local/abuse \
//!     [--short] [--out table.md] [ATTACK...]
//! ```
//!
//! Each attack gets a fresh database and server (default config, bcrypt
//! cost 4, or 12 for the registration flood; TLS with a self-signed
//! certificate; bind 127.0.0.1). Attackers use 127.0.0.1 to .24, the
//! legitimate client 127.0.0.250, timed logins 127.0.0.200 and up. An
//! attack lasts 30 s at most (4 s with `--short`), then the driver waits
//! 10 s (5 s) and samples again. The exit status is 1 when any verdict
//! fails: the issue's "must hold", the legitimate client's 90 %, or
//! threads and descriptors not back within 2 and 4 of their baseline.

#[path = "abuse/accounts.rs"]
mod accounts;
#[path = "abuse/attack.rs"]
mod attack;
#[path = "abuse/jwks.rs"]
mod jwks;
#[path = "abuse/leaks.rs"]
mod leaks;
#[path = "abuse/monitor.rs"]
mod monitor;
#[path = "abuse/net.rs"]
mod net;
#[path = "abuse/platform.rs"]
mod platform;
#[path = "support/procfs.rs"]
mod procfs;
#[path = "abuse/report.rs"]
mod report;
#[path = "abuse/requests.rs"]
mod requests;
#[path = "abuse/slots.rs"]
mod slots;

use attack::{Attack, Outcome};
use monitor::{LegitFigures, Prober, Sampler};
use platform::{Env, Launch, Platform, Res};
use report::Row;
use serde_json::json;
use std::time::{Duration, Instant};

/// How a platform is started for an attack.
#[derive(Clone, Copy)]
enum Setup {
    Default,
    /// bcrypt cost 12 (item 7).
    Cost12,
    /// `--dev` (item 8).
    Dev,
    /// An `oidc` section naming a provider on loopback (item 11).
    Oidc,
}

struct Spec {
    name: &'static str,
    item: u8,
    setup: Setup,
    run: fn(&Attack) -> Outcome,
}

const SPECS: [Spec; 12] = [
    Spec {
        name: "pipelined-logins",
        item: 1,
        setup: Setup::Default,
        run: requests::pipelined_logins,
    },
    Spec {
        name: "slow-bodies",
        item: 2,
        setup: Setup::Default,
        run: requests::slow_bodies,
    },
    Spec {
        name: "connection-upgrade",
        item: 3,
        setup: Setup::Default,
        run: requests::connection_upgrade,
    },
    Spec {
        name: "non-ascii-header",
        item: 4,
        setup: Setup::Default,
        run: requests::non_ascii_header,
    },
    Spec {
        name: "unsigned-websockets",
        item: 5,
        setup: Setup::Default,
        run: slots::unsigned_websockets,
    },
    Spec {
        name: "idle-connections",
        item: 6,
        setup: Setup::Default,
        run: slots::idle_connections,
    },
    Spec {
        name: "registration-flood",
        item: 7,
        setup: Setup::Cost12,
        run: accounts::registration_flood,
    },
    Spec {
        name: "dev-cross-site",
        item: 8,
        setup: Setup::Dev,
        run: leaks::dev_cross_site,
    },
    Spec {
        name: "look-alike-names",
        item: 9,
        setup: Setup::Default,
        run: accounts::look_alike_names,
    },
    Spec {
        name: "secret-in-path",
        item: 10,
        setup: Setup::Default,
        run: leaks::secret_in_path,
    },
    Spec {
        name: "slow-jwks",
        item: 11,
        setup: Setup::Oidc,
        run: jwks::slow_provider,
    },
    Spec {
        name: "lockout",
        item: 12,
        setup: Setup::Default,
        run: accounts::lockout,
    },
];

/// Threads and descriptors 10 s after an attack may exceed the baseline by
/// this much (a probe's connection in flight holds two threads and a few
/// descriptors; "after" is already the smallest value of its second).
const THREAD_SLACK: u64 = 2;
const FD_SLACK: u64 = 4;
/// The legitimate client's success rate that must hold during every attack.
const LEGIT_MIN_PERCENT: f64 = 90.0;

struct Options {
    env: Env,
    full: bool,
    out: Option<std::path::PathBuf>,
    names: Vec<String>,
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("sse_platform_abuse: {e}");
            std::process::exit(2);
        }
    }
}

fn run() -> Res<bool> {
    let options = options()?;
    procfs::raise_fd_limit();
    stop_children_on_signal(&options.env)?;
    let chosen: Vec<&Spec> = SPECS
        .iter()
        .filter(|s| options.names.is_empty() || options.names.iter().any(|n| n == s.name))
        .collect();
    if let Some(unknown) = options
        .names
        .iter()
        .find(|n| !SPECS.iter().any(|s| s.name == n.as_str()))
    {
        let known: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
        return Err(format!("unknown attack '{unknown}'; known: {}", known.join(", ")).into());
    }
    let mut rows = Vec::new();
    for spec in chosen {
        eprintln!("== {} (item {}) ==", spec.name, spec.item);
        let row = match one(&options, spec) {
            Ok(row) => row,
            Err(e) => Row::failed(spec.name, spec.item, &e.to_string()),
        };
        eprintln!("{}", row.markdown());
        rows.push(row);
    }
    let table = report::table(&rows);
    println!("{table}");
    if let Some(out) = &options.out {
        std::fs::write(out, &table)?;
    }
    Ok(rows.iter().all(|r| r.held()))
}

fn options() -> Res<Options> {
    let mut args = pico_args::Arguments::from_env();
    // Absolute, since each platform runs in its own directory.
    let bin = std::fs::canonicalize(args.value_from_str::<_, std::path::PathBuf>("--bin")?)?;
    let dir: std::path::PathBuf = args.value_from_str("--dir")?;
    std::fs::create_dir_all(&dir)?;
    let dir = std::fs::canonicalize(dir)?;
    let full = !args.contains("--short");
    let out = args.opt_value_from_str("--out")?;
    let names = args
        .finish()
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // From the environment, so that its password is not on a command line.
    let conninfo =
        std::env::var("SSE_ABUSE_PG").map_err(|_| "SSE_ABUSE_PG is not set (a libpq conninfo)")?;
    let env = Env {
        bin,
        dir,
        pg: platform::Pg::parse(&conninfo),
        children: Default::default(),
    };
    Ok(Options {
        env,
        full,
        out,
        names,
    })
}

/// On SIGINT or SIGTERM, stops the running platform and exits, so that
/// no server outlives the driver.
fn stop_children_on_signal(env: &Env) -> Res<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let children = env.children.clone();
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            for pid in platform::lock(&children).iter() {
                if let Some(pid) = rustix::process::Pid::from_raw(*pid as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

fn launch(setup: Setup) -> Res<Launch> {
    let (extra, dev, provider) = match setup {
        Setup::Default => (json!({}), false, None),
        Setup::Cost12 => (json!({"bcrypt_cost": 12}), false, None),
        Setup::Dev => (json!({}), true, None),
        Setup::Oidc => {
            let (listener, section) = jwks::prepare()?;
            (section, false, Some(listener))
        }
    };
    Ok(Launch {
        extra,
        dev,
        provider,
    })
}

/// Runs one attack on a fresh platform and measures it.
fn one(options: &Options, spec: &Spec) -> Res<Row> {
    let (length, settle) = if options.full {
        (Duration::from_secs(30), Duration::from_secs(10))
    } else {
        (Duration::from_secs(4), Duration::from_secs(5))
    };
    let mut launch = launch(spec.setup)?;
    let provider = launch.provider.take();
    let platform = Platform::start(&options.env, spec.name, &launch)?;
    warm_up(&platform);
    let sampler = Sampler::start(platform.pid, platform.pg_port());
    let prober = Prober::start(platform.port, platform.tls.clone());
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    let attack = Attack {
        platform: &platform,
        until: start + length,
        full: options.full,
        provider,
    };
    let outcome = (spec.run)(&attack);
    let end = Instant::now();
    std::thread::sleep(settle);
    let after = Instant::now();
    let probes = prober.finish();
    let samples = sampler.finish();
    let mut row = Row::new(spec.name, spec.item, outcome);
    row.measure(&samples, start, after);
    // At least 2 s, so that a check that ends at once still has probes.
    row.legit = LegitFigures::over(&probes, start, end.max(start + Duration::from_secs(2)));
    let last = LegitFigures::over(&probes, after - Duration::from_secs(2), after);
    let during = row.legit.percent();
    row.outcome.check(
        format!("legitimate client ≥ {LEGIT_MIN_PERCENT} %"),
        during >= LEGIT_MIN_PERCENT,
    );
    row.outcome.check(
        "legitimate client served again after the attack",
        last.sent > 0 && last.ok == last.sent,
    );
    row.outcome.check(
        format!("threads back within {THREAD_SLACK}"),
        row.threads.after <= row.threads.before + THREAD_SLACK,
    );
    let pool_grew = row.db_conns.after.saturating_sub(row.db_conns.before);
    row.outcome.check(
        format!("fds back within {FD_SLACK} besides the database pool's"),
        row.fds.after <= row.fds.before + FD_SLACK + FDS_PER_DB_CONNECTION * pool_grew,
    );
    if pool_grew > 0 {
        check_pool_shrinks(&platform, &mut row);
    }
    Ok(row)
}

/// Descriptors one pooled PostgreSQL connection holds: its socket, and the
/// epoll and event descriptors of the runtime the `postgres` crate runs
/// each client on (counted in /proc on a pool of 16).
const FDS_PER_DB_CONNECTION: u64 = 4;
/// `pg_pool_idle_seconds` (30) plus r2d2's reaper period (30 s) and a margin.
const POOL_SHRINKS_WITHIN: Duration = Duration::from_secs(70);

/// A burst grows the database pool, and the pool keeps its connections
/// until they have been idle for `pg_pool_idle_seconds`: they are the
/// platform's, held by no client, but every descriptor must still come
/// back. Waits for that and records how long it took.
fn check_pool_shrinks(platform: &Platform, row: &mut Row) {
    let started = Instant::now();
    let back = |pid| -> Option<(u64, u64)> {
        let fds = procfs::open_fds(pid).ok()?;
        let conns = procfs::tcp_connections_to(pid, platform.pg_port()).ok()?;
        Some((fds, conns))
    };
    let mut last = None;
    while started.elapsed() < POOL_SHRINKS_WITHIN {
        last = back(platform.pid);
        if let Some((fds, conns)) = last {
            if conns <= row.db_conns.before && fds <= row.fds.before + FD_SLACK {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (fds, conns) = last.unwrap_or((u64::MAX, u64::MAX));
    row.outcome.note(format!(
        "database pool: {} connections before, {} at peak, {} 10 s after; {} ({} fds) {} s later",
        row.db_conns.before,
        row.db_conns.peak,
        row.db_conns.after,
        conns,
        fds,
        started.elapsed().as_secs()
    ));
    row.outcome.check(
        format!("fds back within {FD_SLACK} once the pool is idle"),
        conns <= row.db_conns.before && fds <= row.fds.before + FD_SLACK,
    );
}

/// A few requests before the baseline, so that what the platform starts
/// lazily (pool connections, the first tiny_http threads) is in it.
fn warm_up(platform: &Platform) {
    for _ in 0..5 {
        let request = b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let _ = net::exchange(
            net::loopback(monitor::PROBER_ADDRESS),
            platform.port,
            &platform.tls,
            request,
            Duration::from_secs(3),
        );
    }
}
