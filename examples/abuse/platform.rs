//! The platform under attack: a fresh database, directory, self-signed
//! certificate and config per attack, the release binary started with
//! `--create_admin`, and its stderr kept in `server.log` for the checks
//! that read the log. Dropping a [`Platform`] stops it and drops its
//! database.

use super::net::{client_config, Io};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub const ADMIN_NAME: &str = "admin";
pub const ADMIN_EMAIL: &str = "admin@example.org";

/// The PostgreSQL cluster, from a libpq conninfo (`host=… port=… …`).
#[derive(Clone)]
pub struct Pg {
    fields: Vec<(String, String)>,
}

impl Pg {
    pub fn parse(conninfo: &str) -> Pg {
        let fields = conninfo
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Pg { fields }
    }

    pub fn port(&self) -> u16 {
        self.get("port").parse().unwrap_or(5432)
    }

    fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    fn admin_sql(&self, sql: &str) -> Res<()> {
        self.connect(None)?.batch_execute(sql)?;
        Ok(())
    }

    /// A connection to database `db`, or to the conninfo's own.
    fn connect(&self, db: Option<&str>) -> Res<postgres::Client> {
        let conninfo: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| match db {
                Some(db) if k == "dbname" => format!("{k}={db}"),
                _ => format!("{k}={v}"),
            })
            .collect();
        Ok(postgres::Client::connect(
            &conninfo.join(" "),
            postgres::NoTls,
        )?)
    }

    /// The config keys that point the platform at database `db`.
    fn config(&self, db: &str) -> Value {
        json!({"pghost": self.get("host"), "pgport": self.port(),
               "pguser": self.get("user"), "pgpassword": self.get("password"), "pgdb": db})
    }
}

/// What the driver was given: binary, work directory, cluster.
pub struct Env {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub pg: Pg,
    /// Pids of running platforms, for the signal handler.
    pub children: Arc<Mutex<Vec<u32>>>,
}

/// How to start the platform for one attack.
pub struct Launch {
    /// Config keys beyond the defaults (the "default config").
    pub extra: Value,
    pub dev: bool,
    /// A socket the attack serves on, bound before the config names it.
    pub provider: Option<std::net::TcpListener>,
}

pub struct Platform {
    child: Child,
    pub pid: u32,
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    pub dir: PathBuf,
    pub admin_password: String,
    db: String,
    pg: Pg,
    children: Arc<Mutex<Vec<u32>>>,
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Platform {
    /// The port of the PostgreSQL the platform uses.
    pub fn pg_port(&self) -> u16 {
        self.pg.port()
    }

    pub fn start(env: &Env, name: &str, launch: &Launch) -> Res<Platform> {
        let dir = env.dir.join(name);
        std::fs::create_dir_all(&dir)?;
        let db = format!("abuse_{}_{}", name.replace('-', "_"), random_hex(4));
        env.pg.admin_sql(&format!("CREATE DATABASE {db}"))?;
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let cert = rcgen::generate_simple_self_signed(names)?;
        let cert_pem = cert.cert.pem();
        let tls = client_config(&cert_pem)?;
        std::fs::write(dir.join("cert.pem"), &cert_pem)?;
        std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem())?;
        std::fs::write(dir.join("verify_keys.json"), "{}")?;
        let admin_password = format!("admin-{}", random_hex(8));
        let mut config = json!({
            "port": 0, "bind": "127.0.0.1",
            "ssl_cert": "cert.pem", "ssl_key": "key.pem", "verify_keys": "verify_keys.json",
            "cookie_secret": random_hex(16), "bcrypt_cost": 4,
            "platform_admin_username": ADMIN_NAME, "platform_admin_password": admin_password,
            "platform_admin_email": ADMIN_EMAIL,
        });
        merge(&mut config, &env.pg.config(&db));
        merge(&mut config, &launch.extra);
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_string_pretty(&config)?,
        )?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut command = Command::new(&env.bin);
        command
            .arg("-c")
            .arg(dir.join("config.json"))
            .arg("--create_admin");
        if launch.dev {
            command.arg("--dev");
        }
        let mut child = command
            .current_dir(&dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let pid = child.id();
        lock(&env.children).push(pid);
        let _ = std::fs::write(env.dir.join("server.pid"), pid.to_string());
        let platform = |child, port| Platform {
            child,
            pid,
            port,
            tls: tls.clone(),
            dir: dir.clone(),
            admin_password: admin_password.clone(),
            db: db.clone(),
            pg: env.pg.clone(),
            children: env.children.clone(),
        };
        match listening_port(&mut child) {
            Ok(port) => Ok(platform(child, port)),
            Err(e) => {
                drop(platform(child, 0));
                Err(format!(
                    "{name}: the platform did not start ({e}); see {}",
                    dir.join("server.log").display()
                )
                .into())
            }
        }
    }

    /// A connection to the platform's own database, for checks of what it
    /// stored (the soak's registrations).
    #[allow(dead_code)] // The abuse driver does not look.
    pub fn database(&self) -> Res<postgres::Client> {
        self.pg.connect(Some(&self.db))
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

/// Waits (20 s at most) for "listening on https://…:PORT" on stdout.
fn listening_port(child: &mut Child) -> Io<u16> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .map_err(|_| std::io::Error::other("no listening line within 20 s"))?;
    line.rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unexpected first line: {line}")))
}

fn merge(config: &mut Value, extra: &Value) {
    if let (Some(map), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// SIGTERM, then SIGKILL if it has not exited within 5 s.
pub fn stop_process(child: &mut Child) {
    use rustix::process::{kill_process, Pid, Signal};
    if let Some(pid) = Pid::from_raw(child.id() as i32) {
        let _ = kill_process(pid, Signal::TERM);
    }
    for _ in 0..50 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Platform {
    fn drop(&mut self) {
        stop_process(&mut self.child);
        lock(&self.children).retain(|p| *p != self.pid);
        let _ = self
            .pg
            .admin_sql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db));
    }
}
