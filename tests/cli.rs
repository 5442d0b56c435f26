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
fn check_reports_every_type_error_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "outcry.toml",
        &format!(
            "[sources]\ndir = \"sources\"\ndefault_interval = \"xx\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = 99999\nsecurity = \"ssl\"\nfrom = \"outcry <a@example.com>\"\n\n[alerts]\nto = [\"pr@example.com\"]\n\n[http]\nlisten = \"localhost\"\n\n[digest]\nat = \"25:00\"\n\n{}",
            &CONFIG[CONFIG.find("[[brands]]").unwrap()..]
        ),
    );
    write(
        dir.path(),
        "sources/forum.toml",
        "name = \"forum\"\nkind = \"html\"\nurl = \"http://127.0.0.1/f\"\nchannel = \"forum\"\nheaders_env = { Cookie = \"OUTCRY_CLI_UNSET_COOKIE\" }\n\n[selectors]\nitem = \"li:hover\"\ntitle = \"a >\"\n",
    );
    let config = dir.path().join("outcry.toml");
    let output = outcry(&["check", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "outcry.toml: sources.default_interval: `xx` is not a duration",
        "outcry.toml: smtp.port: invalid value: integer `99999`, expected u16",
        "outcry.toml: smtp.security: unknown variant `ssl`, expected one of `none`, `starttls`, `tls`",
        "outcry.toml: http.listen: `localhost` is not an IP address and port like 127.0.0.1:8080",
        "outcry.toml: digest.at:",
        "forum.toml: headers_env.Cookie: environment variable OUTCRY_CLI_UNSET_COOKIE is not set",
        "forum.toml: selectors.item: `li:hover` is not a CSS selector: it uses a pseudo-class",
        "forum.toml: selectors.title: `a >` is not a CSS selector:",
        "error: 8 problem(s)",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    assert!(!stderr.contains("report this"), "{stderr}");
    assert!(stderr.contains("(line 7)"), "lines stay put: {stderr}");
}

#[test]
fn check_accepts_brands_alone_and_warns_of_what_is_probably_not_meant() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "outcry.toml", "[[brands]]\nname = \"Acme\"\n");
    let config = dir.path().join("outcry.toml");
    let output = outcry(&["check", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: ")
            && stderr.contains("sources.dir")
            && stderr.contains("holds no source file"),
        "{stderr}"
    );
    assert!(!stderr.contains("http.listen"), "{stderr}");

    write(
        dir.path(),
        "outcry.toml",
        "[http]\nlisten = \"0.0.0.0:8080\"\n\n[[brands]]\nname = \"Acme\"\n",
    );
    let output = outcry(&["check", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("http.listen: 0.0.0.0:8080 is reachable from other hosts but http.public_url is not set"),
        "{stderr}"
    );

    // A [sources] table naming a folder that is missing is still a mistake.
    write(
        dir.path(),
        "outcry.toml",
        "[sources]\ndir = \"feeds\"\n\n[[brands]]\nname = \"Acme\"\n",
    );
    let output = outcry(&["check", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("sources.dir: cannot read"));
}

#[test]
fn check_refuses_short_and_repetitive_tokens_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sources")).unwrap();
    write(
        dir.path(),
        "outcry.toml",
        &format!(
            "[http]\ntokens = [\n  {{ name = \"a\", role = \"lead\", token_env = \"OUTCRY_CLI_TOKEN_A\" }},\n  {{ name = \"b\", role = \"viewer\", token_env = \"OUTCRY_CLI_TOKEN_B\" }},\n  {{ name = \"c\", role = \"operator\", token_env = \"OUTCRY_CLI_TOKEN_C\" }},\n]\n{CONFIG}"
        ),
    );
    let config = dir.path().join("outcry.toml");
    let check = |a: &str, b: &str| {
        Command::new(env!("CARGO_BIN_EXE_outcry"))
            .args(["check", "--config", config.to_str().unwrap()])
            .env("OUTCRY_CLI_TOKEN_A", a)
            .env("OUTCRY_CLI_TOKEN_B", b)
            .env("OUTCRY_CLI_TOKEN_C", "3f9b2d7e81c4a6f05d1e8b3c9a7f2e64")
            .output()
            .unwrap()
    };
    let output = check("aaaaaaaaaaaaaaaa", "short-Xy7");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("http.tokens[0].token_env: environment variable OUTCRY_CLI_TOKEN_A holds a token made mostly of repeats"),
        "{stderr}"
    );
    assert!(
        stderr.contains("http.tokens[1].token_env: environment variable OUTCRY_CLI_TOKEN_B holds a token of about"),
        "{stderr}"
    );
    assert!(!stderr.contains("http.tokens[2]"), "{stderr}");
    assert!(
        !stderr.contains("aaaa") && !stderr.contains("short-Xy7"),
        "{stderr}"
    );
    let output = check(
        "b61f0e3a9d7c2854e1a6f9c03d7b5e28",
        "Qm7vT2xK9pL4wZ8rN3cF6hJ1yB5dG0sE",
    );
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
    // A token whose variable is unset: commands that serve no HTTP must not need it.
    write(
        dir.path(),
        "outcry.toml",
        &format!("[http]\ntokens = [{{ name = \"ops\", role = \"operator\", token_env = \"OUTCRY_CLI_UNSET_TOKEN\" }}]\n{config_text}"),
    );
    std::fs::create_dir(dir.path().join("sources")).unwrap();
    let config = dir.path().join("outcry.toml");
    let config = config.to_str().unwrap();
    write(
        dir.path(),
        "cases.jsonl",
        concat!(
            "\u{feff}",
            r#"{"id": "C-X10", "brand": "星驰汽车", "status": "open", "summary": "漏油"}"#,
            "\n",
            r#"{"id": "C-2", "brand": "星驰汽车", "status": "open", "sumary": "typo"}"#,
            "\n",
            r#"{"id": "C-3", "brand": "星驰汽车", "status": "closed", "summary": "已解决"}"#,
            "\n",
            r#"{"id": "../../C-4", "brand": "星驰汽车", "status": "open", "summary": "漏油"}"#,
            "\n",
            r#"{"id": "C-X2", "brand": "星驰", "status": "open", "opened_at": "2026-11-28T09:14:00+08:00"}"#,
            "\n",
            r#"{"id": "C-6", "brand": "星驰汽车", "status": "open", "opened_at": "2026-11-28 09:14"}"#,
            "\n",
            r#"{"id": "C-7", "brand": "别的牌子", "status": "open"}"#,
            "\n",
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
    assert!(
        stderr.contains("line 4: id `../../C-4` may hold only ASCII letters, digits"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 6: opened_at: expected RFC 3339 such as 2026-11-28T09:14:00+08:00"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("line 1:"),
        "the BOM is no problem: {stderr}"
    );
    assert!(
        stderr.contains("case C-7: brand `别的牌子` is not configured"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("case C-X2: brand"),
        "an alias is a brand: {stderr}"
    );

    let list = |args: &[&str]| {
        let mut all = vec!["cases", "list", "--config", config];
        all.extend_from_slice(args);
        let output = outcry(&all);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let ids = |table: &str| -> Vec<String> {
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["ID", "STATUS", "BRAND", "STAGE", "OPENED", "SUMMARY"]
        );
        lines
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    let table = list(&[]);
    assert_eq!(ids(&table), ["C-3", "C-7", "C-X2", "C-X10"], "{table}");
    // The alias was stored as the brand's name.
    let x2 = table.lines().find(|l| l.starts_with("C-X2")).unwrap();
    assert!(
        x2.contains("星驰汽车") && x2.contains("2026-11-28 09:14"),
        "{x2}"
    );
    assert_eq!(ids(&list(&["--status", "closed"])), ["C-3"]);
    assert_eq!(ids(&list(&["--brand", "星驰"])), ["C-3", "C-X2", "C-X10"]);
    assert_eq!(
        ids(&list(&["--stage", "none", "--brand", "星驰汽车"])),
        ["C-X2", "C-X10"]
    );
    assert!(ids(&list(&["--stage", "viral"])).is_empty());
    let json = list(&["--json", "--status", "open"]);
    let objects: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3, "{json}");
    assert_eq!(objects[1]["id"], "C-X2");
    assert_eq!(objects[1]["brand"], "星驰汽车");
    assert_eq!(objects[1]["stage"], serde_json::Value::Null);

    // The import computed the open cases' risk at once, riskiest first; a closed case has none.
    let by_risk = list(&["--by-risk", "--json"]);
    let objects: Vec<serde_json::Value> = by_risk
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let scores: Vec<f64> = objects
        .iter()
        .map(|o| o["risk"].as_f64().unwrap_or(-1.0))
        .collect();
    assert!((0.0..=1.0).contains(&scores[0]), "{by_risk}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{by_risk}");
    let closed = objects.iter().find(|o| o["id"] == "C-3").unwrap();
    assert_eq!(closed["risk"], serde_json::Value::Null, "{by_risk}");
    let table = list(&["--by-risk"]);
    assert!(table.lines().next().unwrap().ends_with("RISK"), "{table}");

    assert!(outcry(&["cases", "close", "C-X10", "--config", config])
        .status
        .success());
    assert_eq!(ids(&list(&["--status", "closed"])), ["C-3", "C-X10"]);
    let missing = outcry(&["cases", "close", "C-404", "--config", config]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no case with id C-404"));

    let reopened = outcry(&["cases", "reopen", "C-X10", "--config", config]);
    assert!(reopened.status.success());
    assert_eq!(
        String::from_utf8_lossy(&reopened.stdout).trim(),
        "reopened C-X10"
    );
    assert_eq!(ids(&list(&["--status", "closed"])), ["C-3"]);
    let missing = outcry(&["cases", "reopen", "C-404", "--config", config]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no case with id C-404"));

    // The same config is refused where HTTP is served, naming the variable.
    let output = outcry(&["check", "--config", config]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("OUTCRY_CLI_UNSET_TOKEN is not set"));
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
    let (risks, events): (Vec<serde_json::Value>, Vec<serde_json::Value>) =
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .partition(|e| e["kind"] == "risk");
    // The open case's risk, once, at the replay clock when it was loaded; none for the
    // closed one.
    assert_eq!(risks.len(), 1, "{risks:?}");
    assert_eq!(risks[0]["case"], "C-1042");
    assert!(risks[0]["score"]
        .as_f64()
        .is_some_and(|s| (0.0..=1.0).contains(&s)));
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
    // The cookies the examples name, as an operator would have set them.
    let output = Command::new(env!("CARGO_BIN_EXE_outcry"))
        .args(["check", "--config", config.to_str().unwrap()])
        .env("OUTCRY_HEIMAO_COOKIE", "x")
        .env("OUTCRY_WEIBO_COOKIE", "x")
        .output()
        .unwrap();
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

#[test]
fn store_stats_counts_rows_and_says_what_retention_would_prune() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "outcry.toml",
        &format!("[retention]\nunlinked_items = \"30d\"\n\n{CONFIG}"),
    );
    std::fs::create_dir(dir.path().join("sources")).unwrap();
    let config = dir.path().join("outcry.toml");
    let config = config.to_str().unwrap();
    write(
        dir.path(),
        "cases.jsonl",
        concat!(
            r#"{"id": "C-1", "brand": "星驰汽车", "status": "open", "summary": "漏油"}"#,
            "\n",
            r#"{"id": "C-2", "brand": "星驰汽车", "status": "closed", "summary": "已解决"}"#,
            "\n",
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
    assert!(output.status.success(), "{output:?}");

    let output = outcry(&["store", "stats", "--config", config]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "table\trows\tbytes");
    assert!(lines.contains(&"cases\t2\t-"), "{stdout}");
    assert!(lines.contains(&"observations\t0\t-"), "{stdout}");
    assert!(stdout.contains("no observations yet"), "{stdout}");
    assert!(
        stdout.contains("retention would prune now: 0 items and 0 observations (items linked to no case unseen for 30days;"),
        "{stdout}"
    );
    let size = stdout
        .lines()
        .find_map(|l| l.strip_suffix(" bytes"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(size.is_some_and(|n| n > 0), "{stdout}");
}

#[test]
fn completions_and_the_manual_come_from_the_command_definitions() {
    let bash = outcry(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = String::from_utf8(bash.stdout).unwrap();
    for word in [
        "_outcry()",
        "complete -F _outcry",
        "stats",
        "reopen",
        "completions",
    ] {
        assert!(
            script.contains(word),
            "{word} missing in the bash completions"
        );
    }
    // When bash is here, the script it is given must parse.
    if let Ok(mut shell) = Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        shell
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(
            shell.wait().unwrap().success(),
            "bash cannot parse the script"
        );
    } else {
        eprintln!("bash not found: the completion script's syntax was not checked");
    }
    let zsh = String::from_utf8(outcry(&["completions", "zsh"]).stdout).unwrap();
    assert!(zsh.starts_with("#compdef outcry"), "{zsh}");
    let fish = String::from_utf8(outcry(&["completions", "fish"]).stdout).unwrap();
    assert!(fish.contains("complete -c outcry"), "{fish}");
    assert!(!outcry(&["completions", "tcsh"]).status.success());

    let man = outcry(&["man"]);
    assert!(man.status.success());
    let page = String::from_utf8(man.stdout).unwrap();
    assert!(page.contains(".TH outcry"), "{page}");
    for command in ["run", "check", "store", "cases", "completions"] {
        assert!(page.contains(command), "{command} missing in the manual");
    }
}
