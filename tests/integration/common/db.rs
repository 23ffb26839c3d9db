//! PostgreSQL for tests: a fresh database per test on the shared cluster,
//! and private clusters that a test may stop and start.

use super::random_hex;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// `key=value` pairs of a libpq connection string (no quoting support:
/// the test clusters' strings have none).
fn parse_conninfo(conninfo: &str) -> Vec<(String, String)> {
    conninfo
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn conninfo_get(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// The shared test cluster's connection string, from `SSE_TEST_PG`.
fn test_pg() -> String {
    match std::env::var("SSE_TEST_PG") {
        Ok(s) if !s.trim().is_empty() => s,
        _ => panic!(
            "SSE_TEST_PG is not set: run scripts/test (it starts a private PostgreSQL \
             and exports SSE_TEST_PG), or export it yourself: \
             SSE_TEST_PG=\"$(scripts/pg-cluster url .local/test-pg)\""
        ),
    }
}

/// A fresh database `t_<random>` for one test. Clones share it; it is
/// dropped (`WITH (FORCE)`) when the last clone goes. A [`Server`] holds a
/// clone until its process has been stopped, so the database never goes
/// away under a live server.
///
/// [`Server`]: super::Server
#[derive(Clone)]
pub struct TestDb(Arc<Database>);

/// The database itself; dropping it drops the database.
pub struct Database {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub dbname: String,
    /// Connection string of the database the role connects to for
    /// `CREATE DATABASE` and `DROP DATABASE`.
    maintenance: String,
}

impl std::ops::Deref for TestDb {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.0
    }
}

impl TestDb {
    /// A new database on the shared test cluster (`SSE_TEST_PG`).
    pub fn new() -> TestDb {
        TestDb::on(&test_pg())
    }

    /// A new database on the cluster of `conninfo`, whose role has CREATEDB.
    pub fn on(conninfo: &str) -> TestDb {
        let pairs = parse_conninfo(conninfo);
        let get = |k: &str| conninfo_get(&pairs, k).unwrap_or_default();
        let mut admin = postgres::Client::connect(conninfo, postgres::NoTls).unwrap_or_else(|e| {
            panic!("cannot connect to the test PostgreSQL ({e}): is it running? run scripts/test")
        });
        let dbname = format!("t_{}", random_hex(8));
        admin
            .batch_execute(&format!("CREATE DATABASE {dbname}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {dbname}: {e}"));
        TestDb(Arc::new(Database {
            host: get("host"),
            port: get("port").parse().unwrap_or(5432),
            user: get("user"),
            password: get("password"),
            dbname,
            maintenance: conninfo.to_owned(),
        }))
    }
}

impl Database {
    /// The connection string of this database.
    pub fn conninfo(&self) -> String {
        format!(
            "host={} port={} user={} password={} dbname={}",
            self.host, self.port, self.user, self.password, self.dbname
        )
    }

    /// The database's name, for statements that name it.
    pub fn name(&self) -> &str {
        &self.dbname
    }

    /// A new connection to this database.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.conninfo(), postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.dbname))
    }

    /// The config keys that point the platform at this database.
    pub fn config(&self) -> Value {
        json!({
            "pghost": self.host,
            "pgport": self.port,
            "pguser": self.user,
            "pgpassword": self.password,
            "pgdb": self.dbname,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // The cluster may be gone (outage tests); nothing to clean up then.
        let Ok(mut admin) = postgres::Client::connect(&self.maintenance, postgres::NoTls) else {
            return;
        };
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.dbname);
        if let Err(e) = admin.batch_execute(&sql) {
            eprintln!("warning: {sql}: {e}");
        }
    }
}

/// A private PostgreSQL cluster that a test may stop and start, made with
/// `$SSE_TEST_PG_CLUSTER` (scripts/pg-cluster); destroyed when dropped.
pub struct PgCluster {
    script: PathBuf,
    dir: PathBuf,
}

impl PgCluster {
    pub fn init() -> PgCluster {
        let script = match std::env::var("SSE_TEST_PG_CLUSTER") {
            Ok(s) if !s.is_empty() => PathBuf::from(s),
            _ => panic!("SSE_TEST_PG_CLUSTER is not set: run scripts/test"),
        };
        // Short: the cluster's Unix socket lives inside, and paths are limited.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pg-{}", random_hex(4)));
        let cluster = PgCluster { script, dir };
        cluster.run("init");
        cluster
    }

    fn run(&self, command: &str) -> String {
        let out = Command::new(&self.script)
            .arg(command)
            .arg(&self.dir)
            .env("PG_CLUSTER_FAST", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.script.display()));
        assert!(
            out.status.success(),
            "pg-cluster {command} {} failed: {}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The role `sse`'s connection string (database `sse`).
    pub fn conninfo(&self) -> String {
        self.run("url")
    }

    pub fn stop(&self) {
        self.run("stop");
    }

    pub fn start(&self) {
        self.run("start");
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("destroy")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
    }
}
