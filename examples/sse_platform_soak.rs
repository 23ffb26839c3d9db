//! Soak driver for issue 12 (item 9): one platform under a long mixed load
//! on loopback, watched for what grows. `scripts/soak` builds it, starts a
//! private PostgreSQL and runs it.
//!
//! ```text
//! SSE_SOAK_PG='host=… port=… user=… password=… dbname=…' \
//! sse_platform_soak --bin target/release/sse-platform --dir .local/soak \
//!     --pg-cluster scripts/pg-cluster --pg-dir .local/soak-pg \
//!     [--seconds 600] [--warmup 120] [--every 30] [--modules 200] [--rss-growth 10] \
//!     [--extra '{"config_key": value}']
//! ```
//!
//! The load: readers of pages and probes, administrator logins and new
//! registrations (each followed by a logout), and `--modules` modules
//! connecting in waves and leaving, who hear the logins' broadcasts; in
//! the middle PostgreSQL is stopped for 5 s and started again. Every
//! `--every` seconds a row: the server's RSS, threads and open descriptors,
//! and what the load has done. The verdicts: RSS at the end of the load
//! within `--rss-growth` % of RSS at the end of the warm-up; threads and
//! descriptors back to their value before the load (within 60 s, the pool
//! closing idle connections on its 30 s round); every registration answered
//! 200 present in the database. Exit status 1 and one line on stderr naming
//! what failed, otherwise 0.

#[allow(dead_code)]
#[path = "soak/load.rs"]
mod load;
#[path = "soak/modules.rs"]
mod modules;
#[allow(dead_code)]
#[path = "abuse/net.rs"]
mod net;
#[allow(dead_code)]
#[path = "abuse/platform.rs"]
mod platform;
#[allow(dead_code)]
#[path = "support/procfs.rs"]
mod procfs;
#[path = "soak/verdicts.rs"]
mod verdicts;

use load::{Counts, Load};
use platform::{Env, Launch, Platform, Res};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use verdicts::{Progress, Sample, Verdicts};

/// Modules per wave: each wave is one thread of the driver.
const WAVE: usize = 10;

struct Args {
    env: Env,
    pg_cluster: PathBuf,
    pg_dir: PathBuf,
    seconds: u64,
    warmup: u64,
    every: u64,
    modules: usize,
    rss_growth: f64,
    /// Config keys to add (`--extra '{"hub_replay_capacity": 1000}'`).
    extra: serde_json::Value,
}

fn parse_args() -> Res<Args> {
    let mut p = pico_args::Arguments::from_env();
    let conninfo = std::env::var("SSE_SOAK_PG").map_err(|_| "SSE_SOAK_PG is not set")?;
    let args = Args {
        env: Env {
            bin: p.value_from_str("--bin")?,
            dir: p.value_from_str("--dir")?,
            pg: platform::Pg::parse(&conninfo),
            children: Default::default(),
        },
        pg_cluster: p.value_from_str("--pg-cluster")?,
        pg_dir: p.value_from_str("--pg-dir")?,
        seconds: p.opt_value_from_str("--seconds")?.unwrap_or(600),
        warmup: p.opt_value_from_str("--warmup")?.unwrap_or(120),
        every: p.opt_value_from_str("--every")?.unwrap_or(30),
        modules: p.opt_value_from_str("--modules")?.unwrap_or(200),
        rss_growth: p.opt_value_from_str("--rss-growth")?.unwrap_or(10.0),
        extra: p
            .opt_value_from_fn("--extra", |s: &str| serde_json::from_str(s))?
            .unwrap_or_default(),
    };
    let rest = p.finish();
    if !rest.is_empty() {
        return Err(format!("unexpected arguments: {rest:?}").into());
    }
    if args.warmup >= args.seconds || args.every == 0 {
        return Err("--warmup must be shorter than --seconds, --every above 0".into());
    }
    Ok(args)
}

fn main() {
    match run() {
        Ok(None) => println!("soak: every verdict holds"),
        Ok(Some(failed)) => {
            eprintln!("soak: FAILED: {failed}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("soak: could not run: {e}");
            std::process::exit(2);
        }
    }
}

/// `None` when every verdict holds, else what failed.
fn run() -> Res<Option<String>> {
    let args = parse_args()?;
    procfs::raise_fd_limit();
    stop_children_on_signal(&args.env)?;
    std::fs::create_dir_all(&args.env.dir)?;
    let (identities, keys_json) = modules::identities(args.modules)?;
    let keys_path = std::path::absolute(args.env.dir.join("soak_verify_keys.json"))?;
    std::fs::write(&keys_path, keys_json)?;
    let extra = json!({
        "verify_keys": keys_path,
        "register_max_per_address": 1_000_000,
        "max_connections_per_ip": 100_000,
        "pg_pool_idle_seconds": 1,
    });
    let mut extra = extra;
    if let (Some(map), Some(more)) = (extra.as_object_mut(), args.extra.as_object()) {
        map.extend(more.clone());
    }
    let launch = Launch {
        extra,
        dev: false,
        provider: None,
    };
    let platform = Platform::start(&args.env, "soak", &launch)?;
    let ca_pem = std::fs::read(platform.dir.join("cert.pem"))?;
    std::thread::sleep(Duration::from_secs(3));
    let baseline = Sample::of(platform.pid, 0)?;
    let load = Load {
        port: platform.port,
        tls: platform.tls.clone(),
        admin_password: platform.admin_password.clone(),
        run: format!("soak{}", std::process::id()),
        stop: Default::default(),
        counts: Counts::default(),
        acknowledged: Default::default(),
    };
    println!(
        "soak: {} s of load ({} s warm-up), {} modules, server pid {} on port {}",
        args.seconds, args.warmup, args.modules, platform.pid, platform.port
    );
    println!("{}", Sample::HEADER);
    println!("{}", baseline.row(&load.counts));
    let mut verdicts = Verdicts::new(baseline, args.rss_growth);
    std::thread::scope(|s| -> Res<()> {
        s.spawn(|| load::logins(&load, net::loopback(2)));
        for i in 0..4u8 {
            let load = &load;
            s.spawn(move || load::reader(load, net::loopback(3 + i)));
        }
        for t in 0..2 {
            let load = &load;
            s.spawn(move || load::registrations(load, t));
        }
        for (i, group) in identities.chunks(WAVE).enumerate() {
            let (load, ca_pem) = (&load, &ca_pem);
            s.spawn(move || modules::wave(load, group, ca_pem, 20_000 + (i * WAVE) as u16));
        }
        let watched = watch(&args, &platform, &load, &mut verdicts);
        load.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        watched
    })?;
    verdicts.settle(platform.pid, &load.counts)?;
    let mut db = platform.database()?;
    let acknowledged = platform::lock(&load.acknowledged).clone();
    verdicts.registrations(&mut db, &load.run, &acknowledged)?;
    verdicts.load_ran(&load.counts);
    Ok(verdicts.failed())
}

/// Samples every second until the load's time is up, printing a row every
/// `--every` seconds and restarting PostgreSQL at half time; gives the
/// verdict on RSS the samples of the last `--every` seconds of the warm-up
/// and of the load.
fn watch(args: &Args, platform: &Platform, load: &Load, verdicts: &mut Verdicts) -> Res<()> {
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next_row = args.every;
    let mut restarted = false;
    // `--every` seconds after PostgreSQL is back, the counts from which on
    // nothing may fail.
    let mut recovery: Option<(u64, Option<Progress>)> = None;
    loop {
        let elapsed = start.elapsed().as_secs();
        if !restarted && elapsed >= args.seconds / 2 {
            restarted = true;
            restart_pg(args)?;
            recovery = Some((start.elapsed().as_secs() + args.every, None));
            continue;
        }
        if let Some((at, None)) = recovery {
            if elapsed >= at {
                recovery = Some((at, Some(Progress::of(&load.counts))));
            }
        }
        let sample = Sample::of(platform.pid, elapsed)?;
        samples.push(sample);
        if elapsed >= next_row || elapsed >= args.seconds {
            println!("{}", sample.row(&load.counts));
            while next_row <= elapsed {
                next_row += args.every;
            }
        }
        if elapsed >= args.seconds {
            verdicts.rss(&samples, args.warmup, args.seconds, args.every);
            if let Some((_, Some(then))) = recovery {
                verdicts.recovered(then, &load.counts);
            }
            return Ok(());
        }
        let next = start + Duration::from_secs(elapsed + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Stops the cluster (fast shutdown: the platform's connections break),
/// waits 5 s, starts it again.
fn restart_pg(args: &Args) -> Res<()> {
    let pg = |command: &str| -> Res<()> {
        let status = std::process::Command::new(&args.pg_cluster)
            .arg(command)
            .arg(&args.pg_dir)
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("pg-cluster {command} failed: {status}").into());
        }
        Ok(())
    };
    println!("-- PostgreSQL stopped");
    pg("stop")?;
    std::thread::sleep(Duration::from_secs(5));
    pg("start")?;
    println!("-- PostgreSQL started again");
    Ok(())
}

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
