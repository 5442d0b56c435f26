//! A fresh PostgreSQL schema per test on the server `OUTCRY_TEST_POSTGRES` names (default
//! postgres://postgres@127.0.0.1:5432/test), so tests run in parallel without seeing each
//! other's rows.

use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PREFIX: &str = "outcry_test_";
/// Schemas of earlier runs older than this are dropped; younger ones may belong to a run
/// going on right now.
const STALE_SECS: u64 = 6 * 3600;

pub fn server_url() -> String {
    std::env::var("OUTCRY_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// Creates an empty schema and returns a URL whose connections use it.
pub async fn fresh_url() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = server_url();
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {base} (set OUTCRY_TEST_POSTGRES; see README): {e}")
        });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'outcry\\_test\\_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for name in stale {
        let born: Option<u64> = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|t| t.parse().ok());
        if born.is_some_and(|t| t + STALE_SECS < now) {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(&mut conn)
                .await;
        }
    }
    let schema = format!(
        "{PREFIX}{now}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={schema}"));
    url.to_string()
}

/// A PostgreSQL server of the test's own, in a temporary folder on a free port, so that a
/// test can stop and restart it without disturbing the shared server other tests use. Built
/// from the binaries of the installed server (`OUTCRY_TEST_PG_BIN`, or the newest
/// /usr/lib/postgresql/*/bin); as root it runs as the `postgres` user, as PostgreSQL demands.
pub struct PrivateServer {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    pub port: u16,
}

impl PrivateServer {
    pub fn start() -> PrivateServer {
        let bin = std::env::var_os("OUTCRY_TEST_PG_BIN")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|bin| bin.join("initdb").exists())
                    .collect();
                found.sort_by_key(|p| {
                    p.parent()
                        .and_then(|v| v.file_name())
                        .and_then(|v| v.to_str())
                        .and_then(|v| v.parse::<u32>().ok())
                });
                found.pop()
            })
            .expect("PostgreSQL server binaries (set OUTCRY_TEST_PG_BIN; see README)");
        let dir = tempfile::tempdir().unwrap();
        let port = super::port_outside_the_ephemeral_range();
        let server = PrivateServer { dir, bin, port };
        if server.as_root() {
            let status = std::process::Command::new("chown")
                .arg("postgres")
                .arg(server.dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown the private server's folder");
        }
        server.run(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        server.pg_ctl_start();
        server
    }

    fn as_root(&self) -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, tool: &str) -> std::process::Command {
        let program = self.bin.join(tool);
        if self.as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            std::process::Command::new(program)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let output = self.command(tool).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server the way an operator's restart does: connections are cut.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    pub fn start_again(&self) {
        self.pg_ctl_start();
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}
