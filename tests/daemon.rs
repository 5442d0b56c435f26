//! The whole path against the real binary: a local feed server whose feeds change during the
//! test, and a real SMTP server on 127.0.0.1.

mod support;

use std::time::Duration;
use support::daemon::{eml_files, Source, TestApp};
use support::feeds::{rss, FeedServer};
use support::smtp::SmtpServer;

const CASES: &str = r#"{"id": "C-1042", "brand": "星驰汽车", "status": "open", "opened_at": "2026-03-02T09:14:00+08:00", "channel": "hotline", "severity": "high", "complainant": {"name": "王女士", "phone": "13812342291", "email": null, "handles": ["weibo:小王爱吃梨"]}, "summary": "提车不到10公里发动机漏油", "demand": "退车", "identifiers": ["order:XC-2026-00871"], "notes": "客户表示要去微博曝光"}
{"id": "C-1043", "brand": "星驰汽车", "status": "closed", "complainant": {"handles": []}, "summary": "已解决", "identifiers": ["order:XC-2026-00999"]}
"#;

const NOISE: (&str, &str, &str, &str) = ("n-1", "今天天气不错", "去公园走走", "路人甲");
const LINKED: (&str, &str, &str, &str) = (
    "p-1",
    "星驰C200提车就漏油",
    "订单号 ＸＣ－２０２６－００８７１, 4S店说是正常现象 <script>alert(1)</script>",
    "车主老王",
);

fn feed_source<'a>(name: &'a str, server: &FeedServer, path: &str) -> Source<'a> {
    Source {
        name,
        url: server.url(path),
        channel: "social",
        interval: "1s",
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn order_number_post_alerts_once_with_headers_even_across_restart() {
    let feeds = FeedServer::start().await;
    feeds.set("weibo.xml", "application/rss+xml", rss(&[NOISE]));
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(
        &[feed_source("weibo", &feeds, "weibo.xml")],
        Some(smtp.port()),
    );
    app.import_cases(CASES);
    app.start().await;

    assert!(
        app.wait_for_log("polled", Duration::from_secs(10)).await
            || feeds.requests("weibo.xml") > 0
    );
    feeds.set("weibo.xml", "application/rss+xml", rss(&[NOISE, LINKED]));
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "logs: {}", app.logs());
    let mail = &mails[0];
    assert_eq!(mail.header("X-Outcry-Stage").as_deref(), Some("surfaced"));
    assert_eq!(mail.header("X-Outcry-Case").as_deref(), Some("C-1042"));
    let subject = mail.subject();
    // The subject names the stage in [ui] language (Chinese by default); the header stays.
    assert!(subject.starts_with("【舆情预警·首次曝光】"), "{subject}");
    assert!(
        subject.contains("星驰汽车") && subject.contains("C-1042"),
        "{subject}"
    );
    assert_eq!(mail.to, ["pr-team@example.com"]);
    let html = mail.html_body();
    assert!(
        !html.contains("<script>alert(1)"),
        "scraped markup must be escaped: {html}"
    );
    assert!(
        !mail.text_body().contains("13812342291"),
        "phone must be masked"
    );

    // A second post about the same case is not a new stage: no second email.
    let again = ("p-2", "星驰又来了", "@小王爱吃梨 的车也漏油", "围观群众");
    feeds.set(
        "weibo.xml",
        "application/rss+xml",
        rss(&[NOISE, LINKED, again]),
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(smtp.messages().len(), 1);

    app.stop().await;
    app.start().await;
    let polls_before = feeds.requests("weibo.xml");
    while feeds.requests("weibo.xml") < polls_before + 3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        smtp.messages().len(),
        1,
        "a restart must not send again: {}",
        app.logs()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_case_never_alerts() {
    let feeds = FeedServer::start().await;
    let closed_post = (
        "p-9",
        "星驰的事",
        "我的订单 XC-2026-00999 终于解决了",
        "老客户",
    );
    feeds.set("forum.xml", "application/rss+xml", rss(&[closed_post]));
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(
        &[feed_source("forum", &feeds, "forum.xml")],
        Some(smtp.port()),
    );
    app.import_cases(CASES);
    app.start().await;
    while feeds.requests("forum.xml") < 3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        smtp.messages().is_empty(),
        "closed case alerted: {}",
        app.logs()
    );

    // Closing an open case keeps it from alerting too.
    let output = app.command(&["cases", "close", "C-1042"]);
    assert!(output.status.success());
    feeds.set(
        "forum.xml",
        "application/rss+xml",
        rss(&[closed_post, LINKED]),
    );
    let before = feeds.requests("forum.xml");
    while feeds.requests("forum.xml") < before + 3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        smtp.messages().is_empty(),
        "closed case alerted: {}",
        app.logs()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_arrives_after_the_mail_server_comes_back() {
    let feeds = FeedServer::start().await;
    feeds.set("weibo.xml", "application/rss+xml", rss(&[LINKED]));
    let smtp = SmtpServer::start().await;
    let port = smtp.port();
    smtp.stop().await;
    let mut app = TestApp::new(&[feed_source("weibo", &feeds, "weibo.xml")], Some(port));
    app.import_cases(CASES);
    app.start().await;
    assert!(
        app.wait_for_log("alert delivery failed", Duration::from_secs(20))
            .await,
        "no failed delivery logged: {}",
        app.logs()
    );
    let smtp = SmtpServer::start_on(port).await.unwrap();
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "logs: {}", app.logs());
    assert_eq!(mails[0].header("X-Outcry-Case").as_deref(), Some("C-1042"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.messages().len(), 1, "sent twice");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_feed_is_logged_per_source_while_others_deliver() {
    let feeds = FeedServer::start().await;
    feeds.set(
        "broken.xml",
        "application/rss+xml",
        "<rss><channel><item><title>unterminated",
    );
    feeds.set("good.xml", "application/rss+xml", rss(&[LINKED]));
    let smtp = SmtpServer::start().await;
    let sources = [
        feed_source("broken-feed", &feeds, "broken.xml"),
        feed_source("good-feed", &feeds, "good.xml"),
    ];
    let mut app = TestApp::new(&sources, Some(smtp.port()));
    app.import_cases(CASES);
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "logs: {}", app.logs());
    assert!(
        app.wait_for_log("poll failed", Duration::from_secs(10))
            .await
    );
    let logs = app.logs();
    let failure = logs.lines().find(|l| l.contains("poll failed")).unwrap();
    assert!(
        failure.contains("broken-feed"),
        "error not tied to its source: {failure}"
    );
    assert!(!logs
        .lines()
        .any(|l| l.contains("poll failed") && l.contains("good-feed")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_smtp_alerts_are_written_as_eml_files() {
    let feeds = FeedServer::start().await;
    feeds.set("weibo.xml", "application/rss+xml", rss(&[LINKED]));
    let mut app = TestApp::new(&[feed_source("weibo", &feeds, "weibo.xml")], None);
    app.import_cases(CASES);
    app.start().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while eml_files(&app.outbox()).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let files = eml_files(&app.outbox());
    assert_eq!(files.len(), 1, "logs: {}", app.logs());
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains("X-Outcry-Stage: surfaced"), "{eml}");
    assert!(eml.contains("X-Outcry-Case: C-1042"), "{eml}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_metrics_answer() {
    let feeds = FeedServer::start().await;
    feeds.set("weibo.xml", "application/rss+xml", rss(&[NOISE]));
    let mut app = TestApp::new(&[feed_source("weibo", &feeds, "weibo.xml")], None);
    app.start().await;
    while feeds.requests("weibo.xml") < 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let base = format!("http://127.0.0.1:{}", app.http_port);
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("outcry_polls_total{source=\"weibo\"}"),
        "{metrics}"
    );
    let openapi: serde_json::Value = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openapi["openapi"], "3.0.3");
    app.stop().await;
}
