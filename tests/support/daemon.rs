//! Runs the real `outcry` binary against a temporary configuration, as an operator would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Source<'a> {
    pub name: &'a str,
    pub url: String,
    pub channel: &'a str,
    pub interval: &'a str,
}

pub struct TestApp {
    pub dir: tempfile::TempDir,
    /// `OUTCRY_LOG` for the daemon; it must let `outcry::daemon`'s info lines through, which
    /// say the port the daemon listens on.
    pub log_filter: String,
    child: Option<Child>,
    runs: usize,
    env: Vec<(String, String)>,
}

pub const BRANDS: &str = r#"
[[brands]]
name = "星驰汽车"
aliases = ["星驰", "Xingchi"]
exclude = ["流星驰过"]
"#;

impl TestApp {
    /// A configuration with the given sources, mailing to `smtp_port` (or writing .eml files
    /// when None), with fast retries.
    pub fn new(sources: &[Source<'_>], smtp_port: Option<u16>) -> TestApp {
        TestApp::with_config(sources, smtp_port, "", "")
    }

    /// As `new`, on the store `storage_url` names (a SQLite file in the app's folder when
    /// None), without per-host spacing: every test feed is on one local host, and spacing
    /// there would hide what the source leases do.
    pub fn with_storage(
        sources: &[Source<'_>],
        smtp_port: Option<u16>,
        storage_url: Option<&str>,
    ) -> TestApp {
        let storage = storage_url
            .map(|url| format!("[storage]\nurl = \"{url}\"\n"))
            .unwrap_or_default();
        TestApp::with_config(sources, smtp_port, "per_host_delay = \"0s\"\n", &storage)
    }

    /// Like [`TestApp::new`], with more `[fetch]` lines and more sections (`[operator]`,
    /// `[storage]`). Leases are short so that tests see takeovers within seconds.
    pub fn with_config(
        sources: &[Source<'_>],
        smtp_port: Option<u16>,
        fetch_extra: &str,
        sections: &str,
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let smtp = match smtp_port {
            Some(port) => format!(
                "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"outcry <alerts@example.com>\"\ntimeout = \"5s\"\n"
            ),
            None => String::new(),
        };
        let config = format!(
            "[cluster]\nsource_lease = \"2s\"\nalert_lease = \"3s\"\n\n[sources]\ndir = \"sources\"\ndefault_interval = \"1s\"\n\n{smtp}\n[alerts]\nto = [\"pr-team@example.com\"]\nretry_initial = \"1s\"\nretry_max = \"2s\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[fetch]\ntimeout = \"5s\"\nbackoff_max = \"2s\"\n{fetch_extra}\n{sections}\n{BRANDS}"
        );
        std::fs::write(dir.path().join("outcry.toml"), config).unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        for source in sources {
            let text = format!(
                "name = \"{}\"\nkind = \"feed\"\nurl = \"{}\"\nchannel = \"{}\"\ninterval = \"{}\"\n",
                source.name, source.url, source.channel, source.interval
            );
            std::fs::write(
                dir.path()
                    .join("sources")
                    .join(format!("{}.toml", source.name)),
                text,
            )
            .unwrap();
        }
        TestApp {
            dir,
            log_filter: "outcry=debug,info".to_string(),
            child: None,
            runs: 0,
            env: Vec::new(),
        }
    }

    /// Appends TOML tables (`[assess]`, `[digest]`, ...) to outcry.toml; takes effect at the
    /// next start.
    pub fn add_config(&self, toml: &str) {
        let path = self.config_path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push('\n');
        text.push_str(toml);
        std::fs::write(path, text).unwrap();
    }

    /// Writes (or replaces) sources/NAME.toml; the daemon reads it at its next start.
    pub fn write_source(&self, name: &str, text: &str) {
        std::fs::write(
            self.dir.path().join("sources").join(format!("{name}.toml")),
            text,
        )
        .unwrap();
    }

    /// Starts `outcry run` with extra environment variables.
    pub async fn start_with_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.start().await;
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("outcry.toml")
    }

    pub fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    /// Runs a one-shot command (`cases import ...`) and returns its output.
    pub fn command(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_outcry"))
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .output()
            .unwrap()
    }

    pub fn import_cases(&self, jsonl: &str) {
        let file = self.dir.path().join("cases.jsonl");
        std::fs::write(&file, jsonl).unwrap();
        let output = self.command(&["cases", "import", file.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "import failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.dir.path().join(format!("daemon-{run}.log"))
    }

    /// Starts `outcry run` and waits until /healthz answers 200.
    pub async fn start(&mut self) {
        self.launch();
        self.wait_healthy(Duration::from_secs(20)).await;
    }

    /// Starts `outcry run` without waiting for anything.
    pub fn launch(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.runs += 1;
        let log = std::fs::File::create(self.log_path(self.runs)).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_outcry"))
            .arg("run")
            .arg("--config")
            .arg(self.config_path())
            .env("OUTCRY_LOG", &self.log_filter)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Waits until /healthz answers 200; panics if the daemon exits or `timeout` passes.
    pub async fn wait_healthy(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(port) = self.bound_port() {
                let url = format!("http://127.0.0.1:{port}/healthz");
                if let Ok(response) = reqwest::get(&url).await {
                    if response.status() == 200 {
                        return;
                    }
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("daemon exited with {status}: {}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "daemon not healthy in time: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The status /healthz answers within `timeout`, or None when it does not answer in time
    /// (or the port is not open).
    pub async fn health(&self, timeout: Duration) -> Option<u16> {
        let port = self.bound_port()?;
        let client = reqwest::Client::builder().timeout(timeout).build().unwrap();
        client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// The HTTP port of the running daemon, which listens on port 0: a port picked here and
    /// bound later by the daemon could be taken in between by any other test's server.
    pub fn http_port(&self) -> u16 {
        self.bound_port()
            .unwrap_or_else(|| panic!("the daemon is not listening: {}", self.logs()))
    }

    /// The port this run logged as listening on, once it has.
    fn bound_port(&self) -> Option<u16> {
        let log = std::fs::read_to_string(self.log_path(self.runs)).ok()?;
        log.lines()
            .filter(|line| line.contains("http listening"))
            .find_map(|line| line.split("listen=127.0.0.1:").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|port| port.parse().ok())
    }

    /// SIGKILL: the process dies wherever it is, as in a power cut.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("not running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Changes one setting of the written outcry.toml, e.g. a lease length.
    pub fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.config_path()).unwrap();
        assert!(text.contains(from), "`{from}` is not in the config");
        std::fs::write(self.config_path(), text.replace(from, to)).unwrap();
    }

    /// The running daemon's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The SQLite file the app uses when it was given no storage URL.
    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("outcry.db").display())
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("not running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "daemon exited with {status}: {}",
                    self.logs()
                );
                return;
            }
            assert!(Instant::now() < deadline, "daemon did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything every run of the daemon logged.
    pub fn logs(&self) -> String {
        (1..=self.runs)
            .map(|run| std::fs::read_to_string(self.log_path(run)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until the logs contain `needle` (or the timeout passes); returns whether they do.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.logs().contains(needle)
    }

    /// Waits until `needle` was logged `times` times over all runs; returns whether it was.
    pub async fn wait_for_logs(&self, needle: &str, times: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.logs().matches(needle).count() < times && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.logs().matches(needle).count() >= times
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn eml_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    }
}
