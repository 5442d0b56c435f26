//! deploy/: the Grafana dashboard names only metrics the daemon exports, the compose file
//! and the systemd unit are well-formed (checked by docker compose and systemd-analyze where
//! they are installed), and the image builds and runs where a Docker daemon answers.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::app::App;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy(name)).unwrap()
}

/// Each metric family of `/metrics` (its `# TYPE` lines) with the sample names it can
/// show: a counter's with `_total`, a histogram's buckets, sum and count.
fn exported_families(metrics: &str) -> Vec<(String, Vec<String>)> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| {
            let (name, kind) = rest.split_once(' ').unwrap();
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            let samples = suffixes.iter().map(|s| format!("{name}{s}")).collect();
            (name.to_string(), samples)
        })
        .collect()
}

/// The `outcry_*` names in a PromQL expression.
fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("outcry_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[tokio::test]
async fn the_grafana_dashboard_names_only_exported_metrics_and_shows_each() {
    let app = App::spawn().await;
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    let families = exported_families(&metrics);
    let exported: BTreeSet<String> = families.iter().flat_map(|(_, s)| s.clone()).collect();
    assert!(exported.contains("outcry_polls_total"), "{metrics}");

    let dashboard: serde_json::Value =
        serde_json::from_str(&read("grafana-dashboard.json")).unwrap();
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{panel}");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names = names_in(expr);
            assert!(!names.is_empty(), "{expr} reads no outcry metric");
            for name in names {
                assert!(
                    exported.contains(&name),
                    "`{name}` in panel {} is not exported; /metrics has {exported:?}",
                    panel["title"]
                );
                used.insert(name);
            }
        }
    }
    // Every family the daemon exports has a panel.
    for (family, samples) in &families {
        assert!(
            samples.iter().any(|s| used.contains(s)),
            "no panel shows {family}"
        );
    }
    app.stop().await;
}

fn outcry_check(config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_outcry"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

fn command_works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_compose_file_runs_two_instances_on_postgres_with_a_valid_config() {
    let compose = deploy("compose.yaml");
    if command_works("docker", &["compose", "version"]) {
        let output = Command::new("docker")
            .args(["compose", "-f"])
            .arg(&compose)
            .args(["config", "--quiet"])
            .env("OUTCRY_DB_PASSWORD", "test")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
    } else {
        eprintln!("docker compose not installed: compose.yaml checked by parsing it only");
    }
    let mut file: serde_yaml::Value = serde_yaml::from_str(&read("compose.yaml")).unwrap();
    file.apply_merge().unwrap();
    let services = file["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(names, ["postgres", "outcry-1", "outcry-2"]);
    assert!(file["services"]["postgres"]["image"]
        .as_str()
        .unwrap()
        .starts_with("postgres:"));
    assert!(file["services"]["postgres"]["healthcheck"]["test"].is_sequence());
    for instance in ["outcry-1", "outcry-2"] {
        let service = &file["services"][instance];
        let dockerfile = service["build"]["dockerfile"].as_str().unwrap();
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(dockerfile)
                .is_file(),
            "{dockerfile}"
        );
        assert_eq!(
            service["depends_on"]["postgres"]["condition"].as_str(),
            Some("service_healthy")
        );
        assert!(
            service["environment"]["PGPASSWORD"].is_string(),
            "{instance}"
        );
        assert_eq!(service["read_only"].as_bool(), Some(true));
        let volumes: Vec<&str> = service["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(volumes, ["./compose:/etc/outcry:ro"]);
    }
    // The configuration the instances read passes `outcry check` and uses the database.
    let config = deploy("compose/outcry.toml");
    let output = outcry_check(&config);
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("storage postgres://outcry@postgres/outcry"),
        "{output:?}"
    );
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit = read("outcry.service");
    for line in [
        "DynamicUser=yes",
        "StateDirectory=outcry",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "ExecStart=/usr/local/bin/outcry run --config /etc/outcry/outcry.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    if !command_works("systemd-analyze", &["--version"]) {
        eprintln!("systemd-analyze not installed: the unit was not verified");
        return;
    }
    // Verified against the binary under test, since it checks that ExecStart exists.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outcry.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/outcry", env!("CARGO_BIN_EXE_outcry")),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_image_is_multi_stage_and_runs_as_a_non_root_user() {
    let dockerfile = read("Dockerfile");
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert!(stages.len() >= 2, "{stages:?}");
    assert!(stages[0].ends_with(" AS build"));
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .unwrap();
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "{user}"
    );
    if !command_works("docker", &["info"]) {
        eprintln!("no Docker daemon answers: the image was not built");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let tag = format!("outcry-test:{}", std::process::id());
    let built = Command::new("docker")
        .args(["build", "-q", "-f", "deploy/Dockerfile", "-t", &tag, "."])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let version = Command::new("docker")
        .args(["run", "--rm", &tag, "--version"])
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rmi", &tag]).output();
    assert!(version.status.success(), "{version:?}");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("outcry "));
}
