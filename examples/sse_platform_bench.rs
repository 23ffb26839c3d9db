//! Load tool for the module protocol. It speaks only the wire protocol, so
//! it measures any compatible platform (this one, or the original Python
//! one) at the URL it is given.
//!
//! ```text
//! sse_platform_bench keys --count 100 --out DIR
//!     writes DIR/seeds.json ({"bench0": "<seed>", ...}) and
//!     DIR/verify_keys.json for the platform under test
//! sse_platform_bench roundtrip --url wss://127.0.0.1:8888/websocket --ca cert.pem
//!     --seeds DIR/seeds.json --modules 20 --seconds 10 --token T [--pid PID] [--pg POSTMASTER_PID]
//!     signed token_validation round trips: rate, latency, server CPU/message
//! sse_platform_bench broadcast --url ... --ca ... --seeds ... --modules 100
//!     --base https://127.0.0.1:8888 --user admin --password P --logins 50
//!     time from each login's reply to the last module's receipt of user_login
//!     (with --url2 wss://...: odd modules connect to that second process)
//! sse_platform_bench message --url A --url2 B --ca ... --seeds ... --modules 2K --seconds 10
//!     K pairs: a module on A sends message_module to one on B, which answers
//!     (examples/bench/message.rs)
//! sse_platform_bench revocation --base https://A --base2 https://B --ca cert.pem
//!     --user U --password P --rounds 200
//!     logout on A to B's first 401 on GET /me (examples/bench/revocation.rs)
//! sse_platform_bench idle --url ... --ca ... --seeds ... --modules 1000 --pid PID
//!     server RSS per idle, authenticated module connection
//! sse_platform_bench hash-time --cost 12
//!     the time of one bcrypt hash, for the logins-per-second bound
//! sse_platform_bench session-end --url ... --ca ... --seeds ... --modules 1
//!     --base https://127.0.0.1:8888 --user U --password P --sessions 100 --end logout|expiry
//!     time from the end of each session to a connected module's refusal of
//!     its token (examples/bench/session_end.rs)
//! sse_platform_bench switch-cost
//!     the machine's price of a thread hand-off: two threads pass a byte
//!     back and forth over a Unix socket pair; CPU µs per round trip
//! ```

use serde_json::{json, Value};
use sse_platform::module_client::{uuid4, Connection, Signer, Target};
use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

#[path = "support/procfs.rs"]
mod procfs;
use procfs::{children_cpu_seconds, cpu_seconds, percentile, raise_fd_limit, rss_kib};
#[path = "bench/machine.rs"]
mod machine;
#[path = "bench/message.rs"]
mod message;
#[path = "bench/revocation.rs"]
mod revocation;
#[path = "bench/session_end.rs"]
mod session_end;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("sse_platform_bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let mut args = pico_args::Arguments::from_env();
    match args.subcommand()?.as_deref() {
        Some("keys") => keys(&mut args),
        Some("roundtrip") => roundtrip(&mut args),
        Some("broadcast") => broadcast(&mut args),
        Some("idle") => idle(&mut args),
        Some("hash-time") => machine::hash_time(&mut args),
        Some("switch-cost") => machine::switch_cost(),
        Some("session-end") => session_end::run(&mut args),
        Some("message") => message::run(&mut args),
        Some("revocation") => revocation::run(&mut args),
        _ => Err(
            "usage: sse_platform_bench keys|roundtrip|broadcast|idle|hash-time|switch-cost|session-end|message|revocation ... (see the source's header)"
                .into(),
        ),
    }
}

fn keys(args: &mut pico_args::Arguments) -> Res<()> {
    let count: usize = args.value_from_str("--count")?;
    let out: std::path::PathBuf = args.value_from_str("--out")?;
    std::fs::create_dir_all(&out)?;
    let (mut seeds, mut public) = (serde_json::Map::new(), serde_json::Map::new());
    for i in 0..count {
        let seed: [u8; 32] = sse_platform::random::bytes()?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        seeds.insert(format!("bench{i}"), b64.encode(seed).into());
        public.insert(
            format!("bench{i}"),
            b64.encode(key.verifying_key().as_bytes()).into(),
        );
    }
    std::fs::write(out.join("seeds.json"), Value::Object(seeds).to_string())?;
    std::fs::write(
        out.join("verify_keys.json"),
        Value::Object(public).to_string(),
    )?;
    Ok(())
}

struct Common {
    target: Target,
    /// A second process on the same database (`--url2`): module `i`
    /// connects to `target` when `i` is even, to this one when it is odd.
    target2: Option<Target>,
    seeds: Vec<(String, String)>,
    modules: usize,
    pid: Option<u32>,
    /// PostgreSQL's postmaster: its backends' CPU counts too.
    pg: Option<u32>,
}

fn common(args: &mut pico_args::Arguments) -> Res<Common> {
    let url: String = args.value_from_str("--url")?;
    let url2: Option<String> = args.opt_value_from_str("--url2")?;
    let ca: Option<String> = args.opt_value_from_str("--ca")?;
    let seeds_path: String = args.value_from_str("--seeds")?;
    let seeds: HashMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(seeds_path)?)?;
    let mut seeds: Vec<(String, String)> = seeds.into_iter().collect();
    seeds.sort_by_key(|(name, _)| {
        name.trim_start_matches("bench")
            .parse::<usize>()
            .unwrap_or(0)
    });
    let modules: usize = args.value_from_str("--modules")?;
    if modules > seeds.len() {
        return Err(format!("--modules {modules} but only {} seeds", seeds.len()).into());
    }
    let target = Target {
        url,
        ca_pem: ca.map(std::fs::read).transpose()?,
        timeout: Duration::from_secs(30),
    };
    let target2 = url2.map(|url| Target {
        url,
        ..target.clone()
    });
    Ok(Common {
        target,
        target2,
        seeds,
        modules,
        pid: args.opt_value_from_str("--pid")?,
        pg: args.opt_value_from_str("--pg")?,
    })
}

impl Common {
    /// Where module `i` connects: with `--url2`, odd modules go there.
    fn target_of(&self, i: usize) -> &Target {
        match &self.target2 {
            Some(second) if i % 2 == 1 => second,
            _ => &self.target,
        }
    }
}

/// Connects module `i` and authenticates it with a signed module_start.
fn connect(c: &Common, i: usize) -> Res<(Connection, Signer)> {
    let (name, seed) = &c.seeds[i];
    let signer = Signer::new(name, seed)?;
    let hello = json!({"type": "module_socket_connect", "module": name}).to_string();
    let mut conn = Connection::open(c.target_of(i), Some(&hello))?;
    let reply = request(
        &mut conn,
        &signer,
        json!({"type": "module_start", "module_name": name, "port": 10_000 + i}),
    )?;
    if reply["success"] == false {
        return Err(format!("{name}: module_start refused: {reply}").into());
    }
    Ok((conn, signer))
}

fn request(conn: &mut Connection, signer: &Signer, msg: Value) -> Res<Value> {
    let id = uuid4();
    let inner = msg.as_object().cloned().unwrap_or_default();
    conn.send(signer.envelope(inner, &id), Duration::from_secs(30))?;
    loop {
        let text = conn
            .recv(Duration::from_secs(30))?
            .ok_or("no reply within 30 s")?;
        let v: Value = serde_json::from_str(&text)?;
        if v["resolve_id"] == id.as_str() {
            return Ok(v);
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn roundtrip(args: &mut pico_args::Arguments) -> Res<()> {
    let seconds: u64 = args.value_from_str("--seconds")?;
    let token: String = args.value_from_str("--token")?;
    let c = common(args)?;
    // Connect first, in this thread, so that a refusal is reported at once.
    let conns: Vec<_> = (0..c.modules).map(|i| connect(&c, i)).collect::<Res<_>>()?;
    let barrier = Arc::new(Barrier::new(c.modules + 1));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for (mut conn, signer) in conns {
        let (barrier, latencies, token) = (barrier.clone(), latencies.clone(), token.clone());
        threads.push(std::thread::spawn(move || -> Res<()> {
            barrier.wait();
            let end = Instant::now() + Duration::from_secs(seconds);
            let mut mine = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let reply = request(
                    &mut conn,
                    &signer,
                    json!({"type": "token_validation", "access_token": token}),
                )?;
                if reply["success"] != true {
                    return Err(format!("token_validation failed: {reply}").into());
                }
                mine.push(t.elapsed());
            }
            latencies.lock().map_err(|_| "poisoned")?.extend(mine);
            Ok(())
        }));
    }
    barrier.wait();
    let (start, cpu0) = (Instant::now(), c.pid.map(cpu_seconds).transpose()?);
    let pg0 = c.pg.map(children_cpu_seconds).transpose()?;
    for t in threads {
        t.join().map_err(|_| "worker panicked")??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = match (c.pid, cpu0) {
        (Some(pid), Some(cpu0)) => Some(cpu_seconds(pid)? - cpu0),
        _ => None,
    };
    let pg = match (c.pg, pg0) {
        (Some(pid), Some(pg0)) => Some(children_cpu_seconds(pid)? - pg0),
        _ => None,
    };
    let mut lat = latencies.lock().map_err(|_| "poisoned")?.clone();
    lat.sort();
    let n = lat.len() as f64;
    println!(
        "roundtrip: {} modules, {} round trips in {elapsed:.1} s = {:.0}/s; p50 {} p99 {}",
        c.modules,
        lat.len(),
        n / elapsed,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    if let Some(cpu) = cpu {
        println!(
            "roundtrip: server CPU {:.1} µs per round trip ({cpu:.2} s)",
            cpu * 1e6 / n
        );
    }
    if let (Some(cpu), Some(pg)) = (cpu, pg) {
        println!(
            "roundtrip: PostgreSQL CPU {:.1} µs, server and PostgreSQL {:.1} µs per round trip",
            pg * 1e6 / n,
            (cpu + pg) * 1e6 / n
        );
    }
    Ok(())
}

fn broadcast(args: &mut pico_args::Arguments) -> Res<()> {
    let base: String = args.value_from_str("--base")?;
    let user: String = args.value_from_str("--user")?;
    let password: String = args.value_from_str("--password")?;
    let logins: usize = args.value_from_str("--logins")?;
    let c = common(args)?;
    let conns: Vec<_> = (0..c.modules).map(|i| connect(&c, i)).collect::<Res<_>>()?;
    // token -> receipt times, one per module
    let seen: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    for (mut conn, _signer) in conns {
        let seen = seen.clone();
        std::thread::spawn(move || -> Res<()> {
            while let Ok(Some(text)) = conn.recv(Duration::from_secs(3600)) {
                let at = Instant::now();
                let v: Value = serde_json::from_str(&text)?;
                if v["type"] == "user_login" {
                    let token = v["access_token"].as_str().unwrap_or_default().to_owned();
                    seen.lock()
                        .map_err(|_| "poisoned")?
                        .entry(token)
                        .or_default()
                        .push(at);
                }
            }
            Ok(())
        });
    }
    let agent = http_agent(&c)?;
    let mut delays = Vec::new();
    for _ in 0..logins {
        let body = json!({"nickname": user, "password": password}).to_string();
        let mut resp = agent
            .post(&format!("{base}/login"))
            .header("Content-Type", "application/json")
            .send(body)?;
        let replied = Instant::now();
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
        let token = v["access_token"].as_str().ok_or("login failed")?.to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        let last = loop {
            let times = seen
                .lock()
                .map_err(|_| "poisoned")?
                .get(&token)
                .cloned()
                .unwrap_or_default();
            if times.len() == c.modules {
                break times.into_iter().max();
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "only {} of {} modules got the broadcast",
                    times.len(),
                    c.modules
                )
                .into());
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        delays.push(last.map_or(Duration::ZERO, |t| t.saturating_duration_since(replied)));
        std::thread::sleep(Duration::from_millis(20));
    }
    delays.sort();
    println!(
        "broadcast: {} modules on {} process(es), {logins} logins; login reply to last receipt: p50 {} p99 {} max {}",
        c.modules,
        1 + usize::from(c.target2.is_some()),
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.99)),
        ms(*delays.last().unwrap_or(&Duration::ZERO))
    );
    Ok(())
}

fn http_agent(c: &Common) -> Res<ureq::Agent> {
    agent(c.target.ca_pem.as_deref(), true)
}

/// A keep-alive HTTP agent trusting `ca_pem`; with `status_as_error` false,
/// a 4xx or 5xx is an answer to read rather than an error.
fn agent(ca_pem: Option<&[u8]>, status_as_error: bool) -> Res<ureq::Agent> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if let Some(pem) = ca_pem {
        let cert = Certificate::from_pem(pem)?.to_owned();
        tls = tls.root_certs(RootCerts::new_with_certs(&[cert]));
    }
    let config = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(status_as_error)
        .build();
    Ok(config.into())
}

fn idle(args: &mut pico_args::Arguments) -> Res<()> {
    let hold: u64 = args.opt_value_from_str("--hold")?.unwrap_or(5);
    let c = common(args)?;
    let pid = c.pid.ok_or("idle needs --pid")?;
    raise_fd_limit();
    let before = rss_kib(pid)?;
    let mut conns = Vec::with_capacity(c.modules);
    for i in 0..c.modules {
        conns.push(connect(&c, i)?);
    }
    std::thread::sleep(Duration::from_secs(hold));
    let after = rss_kib(pid)?;
    println!(
        "idle: {} authenticated module connections: server RSS {before} KiB -> {after} KiB = {:.1} KiB per connection",
        c.modules,
        (after.saturating_sub(before)) as f64 / c.modules as f64
    );
    Ok(())
}
