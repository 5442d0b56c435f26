//! The closer watch against the daemon and a local feed server: a case handle with a source
//! template makes a polled source, listed by `outcry sources` with where it came from, and
//! polled faster once the case's risk is high; `outcry check` names bad templates' fields.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::app::{case, App};
use support::daemon::TestApp;
use support::feeds::{rss, FeedServer};

/// The handle has a space and Chinese: the generated URL carries it percent-encoded, and
/// the feed server decodes the path.
const FEED: &str = "u/小王 88.xml";

fn outcry(app: &App, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_outcry"))
        .args(args)
        .arg("--config")
        .arg(app.dir.path().join("outcry.toml"))
        .output()
        .unwrap()
}

/// Requests for the feed during `span`.
async fn polls_during(feeds: &FeedServer, span: Duration) -> usize {
    let before = feeds.requests(FEED);
    tokio::time::sleep(span).await;
    feeds.requests(FEED) - before
}

async fn risk_of(app: &App, id: &str) -> Option<f64> {
    let body: serde_json::Value = app
        .get(&format!("/api/v1/cases/{id}"), Some(&app.viewer))
        .await
        .json()
        .await
        .unwrap();
    body["case"]["risk"].as_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_case_handle_with_a_template_is_polled_and_faster_while_the_case_is_at_risk() {
    let feeds = FeedServer::start().await;
    feeds.set(
        FEED,
        "application/rss+xml",
        rss(&[("w-1", "星驰车机黑屏", "又黑屏了", "小王 88")]),
    );
    let app = App::spawn_with(&format!(
        "[fetch]\nper_host_delay = \"0s\"\n\n[risk]\ninterval = \"1h\"\nalert_at = 0.5\n\n\
         [[watch]]\nname = \"weibo-user\"\nplatform = \"weibo\"\nurl = \"{}\"\n\
         interval = \"4s\"\nrisky_interval = \"1s\"\n",
        feeds.url("u/{handle}.xml")
    ))
    .await;
    let mut calm = case("C-1");
    calm.severity = Some("low".into());
    calm.notes = "客户表示理解".into();
    calm.complainant.handles = vec!["weibo:小王 88".into(), "douyin:xw88".into()];
    let created = app
        .post(
            "/api/v1/cases",
            Some(&app.lead),
            Some(serde_json::to_value(&calm).unwrap()),
        )
        .await;
    assert_eq!(created.status(), 201);

    let deadline = Instant::now() + Duration::from_secs(15);
    while feeds.requests(FEED) == 0 {
        assert!(
            Instant::now() < deadline,
            "the generated source is not polled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(risk_of(&app, "C-1").await.is_some_and(|r| r < 0.5));
    let slow = polls_during(&feeds, Duration::from_secs(8)).await;

    let listed = outcry(&app, &["sources"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let line = listed
        .lines()
        .find(|l| l.starts_with("weibo-user:小王 88 (from watch weibo-user, case C-1, every 4s)"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(!line.contains("never polled"), "{line}");
    assert!(
        !listed.contains("xw88"),
        "only the watch's platform: {listed}"
    );

    let updated = app
        .patch(
            "/api/v1/cases/C-1",
            &app.lead,
            serde_json::json!({"notes": "客户说要发抖音曝光，还要找记者"}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !risk_of(&app, "C-1").await.is_some_and(|r| r >= 0.5) {
        assert!(Instant::now() < deadline, "the risk did not rise");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fast = polls_during(&feeds, Duration::from_secs(8)).await;
    eprintln!("polls in 8 s: {slow} while calm, {fast} while at risk");
    assert!(slow <= 3 && fast >= 6, "slow {slow}, fast {fast}");

    let listed = outcry(&app, &["sources"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("weibo-user:小王 88 (from watch weibo-user, case C-1, at risk, every 1s)"),
        "{listed}"
    );
    app.stop().await;
}

#[test]
fn check_names_the_field_of_each_bad_template() {
    let app = TestApp::new(&[], None);
    app.add_config(
        "[[watch]]\nname = \"weibo-user\"\nplatform = \"weibo\"\nurl = \"http://r.example/u/{user}\"\ninterval = \"30m\"\n\n\
         [[watch]]\nname = \"keyword\"\nurl = \"http://r.example/search\"\ninterval = \"30m\"\n\n\
         [[watch]]\nname = \"by-host\"\nplatform = \"weibo\"\nurl = \"http://{handle}.example/\"\ninterval = \"30m\"\n\n\
         [[watch]]\nname = \"alias\"\nplatform = \"weibo\"\nurl = \"http://r.example/q/{alias}\"\ninterval = \"30m\"\nrisky_interval = \"1h\"\n",
    );
    let output = app.command(&["check"]);
    assert!(!output.status.success());
    let shown = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "watch[0].url: unknown placeholder {user}",
        "watch[1].url: has no placeholder",
        "watch[2].url: the placeholder must be in the path or query, not the host",
        "watch[3].platform: is set, but the url is filled with brand aliases",
        "watch[3].risky_interval: must be at least 1s and no longer than interval",
    ] {
        assert!(shown.contains(expected), "{expected}\n{shown}");
    }

    // The same watches, mended, pass.
    let good = TestApp::new(&[], None);
    good.add_config(
        "[[watch]]\nname = \"weibo-user\"\nplatform = \"weibo\"\nurl = \"http://r.example/u/{uid}\"\ninterval = \"30m\"\nrisky_interval = \"5m\"\n\n\
         [[watch]]\nname = \"keyword\"\nurl = \"http://r.example/search?q={alias}\"\ninterval = \"30m\"\n",
    );
    let output = good.command(&["check"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
