//! The one-shot commands as an operator runs them: `check`, `cases`, `replay`.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn outcry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outcry"))
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const CONFIG: &str =
    "[sources]\ndir = \"sources\"\n\n[[brands]]\nname = \"星驰汽车\"\naliases = [\"星驰\"]\n";

#[test]
fn check_names_every_problem_with_file_and_field_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "outcry.toml",
        &format!("[http]\nlisten = \"127.0.0.1:8080\"\nport = 1\n{CONFIG}"),
    );
    let config = dir.path().join("outcry.toml");
    let output = outcry(&["check", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("outcry.toml: http.port: unknown field `port`"),
        "{stderr}"
    );

    write(dir.path(), "outcry.toml", CONFIG);
    write(
        dir.path(),
        "sources/a.toml",
        "name = \"a\"\nkind = \"feed\"\nurl = \"http://127.0.0.1/a\"\nchannel = \"radio\"\n",
    );
    write(dir.path(), "sources/b.toml", "name = \"b\"\nkind = \"feed\"\nurl = \"http://127.0.0.1/b\"\nchannel = \"news\"\ninterval = \"often\"\n");
    // --config after the subcommand and before it both work.
    let output = outcry(&["--config", config.to_str().unwrap(), "check"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a.toml: channel: unknown variant `radio`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("b.toml: interval: `often` is not a duration"),
        "{stderr}"
    );
    assert!(stderr.contains("2 problem(s)"), "{stderr}");

    std::fs::remove_file(dir.path().join("sources/a.toml")).unwrap();
    std::fs::remove_file(dir.path().join("sources/b.toml")).unwrap();
    let output = outcry(&["check", "--config", config.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn run_refuses_to_start_on_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "outcry.toml",
        &format!("[alerts]\nto = [\"nobody\"]\n{CONFIG}"),
    );
    std::fs::create_dir(dir.path().join("sources")).unwrap();
    let output = outcry(&[
        "run",
        "--config",
        dir.path().join("outcry.toml").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("alerts.to[0]: `nobody` is not a mail address"),
        "{stderr}"
    );
}

#[test]
fn cases_import_reports_bad_lines_by_number_and_keeps_the_rest() {
    import_list_and_close(CONFIG);
}

#[tokio::test]
async fn cases_commands_work_on_postgres() {
    let url = support::postgres::fresh_url().await;
    import_list_and_close(&format!("[storage]\nurl = \"{url}\"\n{CONFIG}"));
}

fn import_list_and_close(config_text: &str) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "outcry.toml", config_text);
    std::fs::create_dir(dir.path().join("sources")).unwrap();
    let config = dir.path().join("outcry.toml");
    let config = config.to_str().unwrap();
    write(
        dir.path(),
        "cases.jsonl",
        concat!(
            r#"{"id": "C-1", "brand": "星驰汽车", "status": "open", "summary": "漏油"}"#,
            "\n",
            r#"{"id": "C-2", "brand": "星驰汽车", "status": "open", "sumary": "typo"}"#,
            "\n",
            r#"{"id": "C-3", "brand": "星驰汽车", "status": "closed", "summary": "已解决"}"#,
            "\n"
        ),
    );
    let cases = dir.path().join("cases.jsonl");
    let output = outcry(&[
        "cases",
        "import",
        cases.to_str().unwrap(),
        "--config",
        config,
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 2: unknown field `sumary`"),
        "{stderr}"
    );

    let listed = String::from_utf8(outcry(&["cases", "list", "--config", config]).stdout).unwrap();
    let ids: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids, ["C-1", "C-3"]);

    // The import computed the open case's risk at once; a closed case has none.
    let by_risk =
        String::from_utf8(outcry(&["cases", "list", "--by-risk", "--config", config]).stdout)
            .unwrap();
    let rows: Vec<Vec<&str>> = by_risk.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{by_risk}");
    assert_eq!(rows[0][0], "C-1", "{by_risk}");
    let score: f64 = rows[0].last().unwrap().parse().unwrap();
    assert!((0.0..=1.0).contains(&score), "{by_risk}");
    assert_eq!(rows[1][0], "C-3", "{by_risk}");
    assert_eq!(*rows[1].last().unwrap(), "-", "{by_risk}");

    assert!(outcry(&["cases", "close", "C-1", "--config", config])
        .status
        .success());
    let listed = String::from_utf8(outcry(&["cases", "list", "--config", config]).stdout).unwrap();
    assert!(listed.starts_with("C-1\tclosed"), "{listed}");
    let missing = outcry(&["cases", "close", "C-404", "--config", config]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no case with id C-404"));
}

#[test]
fn replay_prints_mention_link_and_alert_lines_on_the_observation_clock() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "brands.toml",
        "[[brands]]\nname = \"星驰汽车\"\naliases = [\"星驰\"]\nexclude = [\"流星驰过\"]\n",
    );
    write(
        dir.path(),
        "cases.jsonl",
        concat!(
            r#"{"id": "C-1042", "brand": "星驰汽车", "status": "open", "complainant": {"handles": ["weibo:小王爱吃梨"]}, "summary": "发动机漏油", "identifiers": ["order:XC-2026-00871"]}"#,
            "\n",
            r#"{"id": "C-9", "brand": "星驰汽车", "status": "closed", "summary": "已解决", "identifiers": ["order:XC-2026-00999"]}"#,
            "\n"
        ),
    );
    let obs = |guid: &str, body: &str, author: &str, at: &str| {
        format!(
            r#"{{"source": "weibo", "channel": "social", "guid": "{guid}", "url": null, "title": null, "body": "{body}", "author": "{author}", "published_at": null, "fetched_at": "{at}", "engagement": {{"reposts": null, "comments": null, "likes": null, "views": null}}}}"#
        )
    };
    let lines = [
        obs("n-1", "流星驰过夜空", "路人", "2026-03-05T20:00:00+08:00"),
        obs(
            "p-1",
            "星驰4S店: 订单 XC-2026-00871 漏油",
            "小王爱吃梨",
            "2026-03-05T21:52:00+08:00",
        ),
        obs(
            "p-1",
            "星驰4S店: 订单 XC-2026-00871 漏油",
            "小王爱吃梨",
            "2026-03-05T23:52:00+08:00",
        ),
        obs(
            "p-9",
            "星驰客服: 订单 XC-2026-00999 退款了",
            "老客户",
            "2026-03-06T08:00:00+08:00",
        ),
    ];
    write(dir.path(), "observations.jsonl", &lines.join("\n"));
    let output = outcry(&["replay", "--set", dir.path().to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = serde_json::json!([
        {"kind": "mention", "at": "2026-03-05T21:52:00+08:00", "guid": "p-1", "brand": "星驰汽车"},
        {"kind": "link", "at": "2026-03-05T21:52:00+08:00", "guid": "p-1", "case": "C-1042", "score": 1.0},
        {"kind": "alert", "at": "2026-03-05T21:52:00+08:00", "stage": "surfaced", "case": "C-1042", "brand": "星驰汽车", "guid": "p-1"},
        {"kind": "mention", "at": "2026-03-06T08:00:00+08:00", "guid": "p-9", "brand": "星驰汽车"},
        {"kind": "link", "at": "2026-03-06T08:00:00+08:00", "guid": "p-9", "case": "C-9", "score": 1.0}
    ]);
    assert_eq!(serde_json::Value::Array(events), expected);
}

#[test]
fn replay_names_the_file_and_line_of_a_bad_observation() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "brands.toml",
        "[[brands]]\nname = \"星驰汽车\"\n",
    );
    write(dir.path(), "cases.jsonl", "");
    write(dir.path(), "observations.jsonl", "\n{\"guid\": 1}\n");
    let output = outcry(&["replay", "--set", dir.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("observations.jsonl: line 2:"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one-line reason: {stderr}"
    );
}

#[test]
fn the_example_sources_pass_check_and_are_not_polled_by_default() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sources/examples");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "outcry.toml",
        &format!(
            "[sources]\ndir = \"{}\"\n\n[[brands]]\nname = \"星驰汽车\"\n",
            examples.display()
        ),
    );
    let config = dir.path().join("outcry.toml");
    let output = outcry(&["check", "--config", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let count = std::fs::read_dir(&examples)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert!(count >= 12, "{count}");
    assert!(stdout.contains(&format!("{count} sources")), "{stdout}");
    // sources/ itself holds no source: a config pointing at it polls nothing by accident.
    let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("sources");
    let loose: Vec<_> = std::fs::read_dir(&top)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    assert!(loose.is_empty(), "{loose:?}");
}
