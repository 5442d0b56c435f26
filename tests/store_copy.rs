//! `outcry store copy` between SQLite and PostgreSQL, with the real daemon before and after
//! and a real SMTP server: nothing alerted before the copy is alerted again after it.

mod support;

use std::process::{Command, Output};
use std::time::Duration;
use support::daemon::{Source, TestApp};
use support::feeds::{rss, FeedServer};
use support::smtp::SmtpServer;

const CASES: &str = r#"{"id": "C-7", "brand": "星驰汽车", "status": "open", "summary": "漏油", "identifiers": ["order:XC-2026-00871"]}
{"id": "C-8", "brand": "星驰汽车", "status": "closed", "summary": "已解决"}
"#;
const NOISE: (&str, &str, &str, &str) = ("n-1", "今天天气不错", "去公园走走", "路人甲");
const LINKED: (&str, &str, &str, &str) = ("p-1", "星驰提车就漏油", "订单号 XC-2026-00871", "车主");
const LATER: (&str, &str, &str, &str) =
    ("p-2", "星驰又漏油", "订单号 XC-2026-00871 还没修好", "车主");

fn copy(from: &str, to: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outcry"))
        .args(["store", "copy", "--from", from, "--to", to])
        .output()
        .unwrap()
}

async fn wait_polls(feeds: &FeedServer, path: &str, more: usize) {
    let before = feeds.requests(path);
    while feeds.requests(path) < before + more {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_copied_to_postgres_and_back_alerts_nothing_twice() {
    let feeds = FeedServer::start().await;
    feeds.set("w.xml", "application/rss+xml", rss(&[NOISE, LINKED]));
    let smtp = SmtpServer::start().await;
    let source = Source {
        name: "weibo",
        url: feeds.url("w.xml"),
        channel: "social",
        interval: "1s",
    };
    let mut app = TestApp::new(&[source], Some(smtp.port()));
    app.import_cases(CASES);
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "logs: {}", app.logs());
    let first_id = mails[0].header("Message-ID").unwrap();
    app.stop().await;

    let postgres = support::postgres::fresh_url().await;
    let output = copy(&app.sqlite_url(), &postgres);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for table in ["cases\t2 rows", "alerts\t1 rows", "installation\t1 rows"] {
        assert!(stdout.contains(table), "{table}: {stdout}");
    }
    assert!(stdout.contains("items\t1 rows"), "{stdout}");

    // A second copy into the filled store is refused.
    let again = copy(&app.sqlite_url(), &postgres);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("is not empty"), "{stderr}");

    // The daemon on the copy: a new item of the same case (fresh ids after the copied
    // ones) and the old one again send nothing; the installation is the same one.
    app.add_config(&format!("[storage]\nurl = \"{postgres}\"\n"));
    feeds.set("w.xml", "application/rss+xml", rss(&[NOISE, LINKED, LATER]));
    app.start().await;
    wait_polls(&feeds, "w.xml", 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1, "logs: {}", app.logs());
    let store = outcry::store::open(&postgres).await.unwrap();
    let installation = store.installation_id().await.unwrap();
    assert!(
        first_id.contains(&installation),
        "{first_id} vs {installation}"
    );
    let alerts = store.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].status, outcry::store::AlertStatus::Sent);
    app.stop().await;

    // And back to a new SQLite file, with what the daemon wrote on PostgreSQL.
    let back = format!("sqlite://{}", app.dir.path().join("back.db").display());
    let output = copy(&postgres, &back);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("items\t2 rows"), "{stdout}");
    let copied = outcry::store::open(&back).await.unwrap();
    assert_eq!(copied.installation_id().await.unwrap(), installation);
    assert_eq!(copied.alerts().await.unwrap().len(), 1);
    assert_eq!(copied.cases(None).await.unwrap().len(), 2);
}
