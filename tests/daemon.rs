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
    // The Message-ID names this installation (its id from the store) and the From domain.
    let installation = outcry::store::open(&app.sqlite_url())
        .await
        .unwrap()
        .installation_id()
        .await
        .unwrap();
    let message_id = mail.header("Message-ID").unwrap_or_default();
    assert!(
        message_id.ends_with(&format!(".surfaced.{installation}@example.com>")),
        "{message_id}"
    );
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
    let smtp = SmtpServer::down();
    let port = smtp.port();
    let mut app = TestApp::new(&[feed_source("weibo", &feeds, "weibo.xml")], Some(port));
    app.import_cases(CASES);
    app.start().await;
    assert!(
        app.wait_for_log("alert delivery failed", Duration::from_secs(20))
            .await,
        "no failed delivery logged: {}",
        app.logs()
    );
    let smtp = smtp.come_up();
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "logs: {}", app.logs());
    assert_eq!(mails[0].header("X-Outcry-Case").as_deref(), Some("C-1042"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.messages().len(), 1, "sent twice");
    app.stop().await;
}

/// Alerts that failed while the mail server was down go out within seconds of its return,
/// not at the end of their back-off (here 20 s, and then 40 s).
#[tokio::test(flavor = "multi_thread")]
async fn the_backlog_goes_out_within_seconds_of_the_mail_server_returning() {
    const CASES_IN_BACKLOG: usize = 3;
    const ORDERS: usize = 30000;
    let posts: Vec<(String, String, String, String)> = (1..=CASES_IN_BACKLOG)
        .map(|i| {
            (
                format!("b-{i}"),
                format!("星驰车主第{i}次投诉"),
                format!("订单号 {}，发动机漏油", support::order_number(ORDERS, i)),
                format!("车主{i}"),
            )
        })
        .collect();
    let feeds = FeedServer::start().await;
    feeds.set(
        "weibo.xml",
        "application/rss+xml",
        support::feeds::rss_owned(&posts),
    );
    let smtp = SmtpServer::down();
    let port = smtp.port();
    let mut app = TestApp::new(&[feed_source("weibo", &feeds, "weibo.xml")], Some(port));
    app.edit_config("retry_initial = \"1s\"", "retry_initial = \"20s\"");
    app.edit_config("retry_max = \"2s\"", "retry_max = \"10m\"");
    app.import_cases(&support::numbered_cases("B", CASES_IN_BACKLOG, ORDERS));
    app.start().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.logs().matches("alert delivery failed").count() < CASES_IN_BACKLOG {
        assert!(
            std::time::Instant::now() < deadline,
            "every alert failed once: {}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let back = std::time::Instant::now();
    let smtp = smtp.come_up();
    let mails = smtp
        .wait_for(CASES_IN_BACKLOG, Duration::from_secs(30))
        .await;
    assert_eq!(mails.len(), CASES_IN_BACKLOG, "logs: {}", app.logs());
    let last = mails.iter().map(|m| m.at - back).max().unwrap();
    assert!(
        last < Duration::from_secs(10),
        "the backlog took {last:?} after the mail server came back: {}",
        app.logs()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_feed_is_logged_per_source_while_others_deliver() {
    let feeds = FeedServer::start().await;
    feeds.set(
        "broken.xml",
        "application/rss+xml",
        // No feed at all: ill-formed feeds are repaired and read (see below).
        "<html><body>Bad Gateway</body></html>",
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

/// The commonest breakage of real feeds, all at once: no `version`, a bare `&`, an HTML
/// entity, a tag left open in a title, and no guids, with one list link shared by every item
/// (so guids cannot fall back to it). The complaint still alerts, and the source's health
/// says the feed was repaired.
#[tokio::test(flavor = "multi_thread")]
async fn complaint_in_an_ill_formed_feed_alerts_and_health_says_repaired() {
    let feeds = FeedServer::start().await;
    let item = |title: &str, body: &str| {
        format!(
            "<item><title>{title}</title><link>http://bbs.example.cn/list?page=1&sort=new</link>\
             <description>{body}</description></item>"
        )
    };
    let broken = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss><channel><title>论坛 & 社区</title>\n{}\n{}\n</channel></rss>",
        item(NOISE.1, "去公园走走&nbsp;真好"),
        item(
            "星驰C200提车就漏油 <b>求助",
            "订单号 ＸＣ－２０２６－００８７１, 4S店说是正常现象 AT&T"
        ),
    );
    feeds.set("forum.xml", "application/rss+xml", broken);
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(
        &[feed_source("forum", &feeds, "forum.xml")],
        Some(smtp.port()),
    );
    app.import_cases(CASES);
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "logs: {}", app.logs());
    assert_eq!(mails[0].header("X-Outcry-Case").as_deref(), Some("C-1042"));
    assert!(mails[0].subject().contains("C-1042"));

    let mut sources = String::new();
    for _ in 0..50 {
        sources = String::from_utf8_lossy(&app.command(&["sources"]).stdout).into_owned();
        if sources.contains("feed repaired") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let row = sources
        .lines()
        .find(|l| l.starts_with("forum\t"))
        .unwrap_or_else(|| panic!("no row for the source: {sources}"));
    assert!(row.contains("\tok\t"), "a repaired feed is healthy: {row}");
    assert!(
        row.contains("feed repaired: line 2: a bare `&`"),
        "health must say what was repaired: {row}"
    );
    app.stop().await;
    assert_eq!(smtp.messages().len(), 1);
}

/// Waits up to 20 s for the daemon's first alert in its outbox folder.
async fn wait_for_an_alert_file(app: &TestApp) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while eml_files(&app.outbox()).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_smtp_alerts_are_written_as_eml_files() {
    let feeds = FeedServer::start().await;
    feeds.set("weibo.xml", "application/rss+xml", rss(&[LINKED]));
    let mut app = TestApp::new(&[feed_source("weibo", &feeds, "weibo.xml")], None);
    app.import_cases(CASES);
    app.start().await;
    wait_for_an_alert_file(&app).await;
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
    let base = format!("http://127.0.0.1:{}", app.http_port());
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

/// glibc's thread arenas are heaps of their own, each mapped at a 64 MiB boundary.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn thread_arenas(pid: u32) -> usize {
    const HEAP_ALIGN: u64 = 64 << 20;
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap()
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let start = fields[0].split('-').next().unwrap();
            fields.len() == 5
                && fields[1] == "rw-p"
                && u64::from_str_radix(start, 16).unwrap() % HEAP_ALIGN == 0
        })
        .count()
}

/// A daemon started with `env` whose feed holds a case's post, once it wrote that alert.
async fn past_its_first_alert(env: &[(&str, &str)]) -> (FeedServer, TestApp) {
    let feeds = FeedServer::start().await;
    feeds.set("weibo.xml", "application/rss+xml", rss(&[LINKED]));
    let mut app = TestApp::new(&[feed_source("weibo", &feeds, "weibo.xml")], None);
    app.import_cases(CASES);
    app.start_with_env(env).await;
    wait_for_an_alert_file(&app).await;
    assert_eq!(eml_files(&app.outbox()).len(), 1, "logs: {}", app.logs());
    (feeds, app)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_keeps_one_malloc_arena_unless_told_otherwise() {
    let mut arenas = Vec::new();
    for env in [&[][..], &[("MALLOC_ARENA_MAX", "8")][..]] {
        // An alert written means the runtime's worker and the store's threads all allocated.
        let (_feeds, mut app) = past_its_first_alert(env).await;
        arenas.push(thread_arenas(app.pid().unwrap()));
        app.stop().await;
    }
    // The main arena is the program's heap, and the only one.
    assert_eq!(arenas[0], 0, "{arenas:?}");
    assert!(
        arenas[1] > 0,
        "MALLOC_ARENA_MAX lets threads have arenas of their own: {arenas:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_runs_one_async_worker_unless_told_otherwise() {
    for (env, workers) in [
        (&[][..], "workers=1"),
        (&[("TOKIO_WORKER_THREADS", "3")][..], "workers=3"),
    ] {
        // One worker is enough for the whole daemon: the poll's alert is written.
        let (_feeds, mut app) = past_its_first_alert(env).await;
        assert!(app.logs().contains(workers), "{workers}: {}", app.logs());
        // The code that ran only at the start was let go of, and the poll ran after it.
        assert!(
            app.logs().contains("start-only code unmapped"),
            "{}",
            app.logs()
        );
        // And once more after the first round of polls, whose full reads are over.
        assert!(
            app.wait_for_log("first round of polls over", Duration::from_secs(10))
                .await,
            "{}",
            app.logs()
        );
        app.stop().await;
    }
}

/// Knows the brand's short alias only in business with the brand: the words of its cases.
const CASE_TEACHING_ITS_WORDS: &str = r#"{"id": "C-2001", "brand": "星驰汽车", "status": "open", "complainant": {"handles": []}, "summary": "星驰C200提车后发动机漏油, 4S店说是正常现象, 要求退车", "identifiers": []}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn items_known_to_mention_no_brand_skip_the_pipeline_until_the_cases_change() {
    let feeds = FeedServer::start().await;
    let chat = (
        "u-1",
        "聊聊星驰C200退车的事",
        "有人知道后来怎样了吗",
        "网友",
    );
    let serve = || feeds.set("forum.xml", "application/rss+xml", rss(&[NOISE, chat]));
    serve();
    let mut app = TestApp::new(&[feed_source("forum", &feeds, "forum.xml")], None);
    app.start().await;

    // Every poll reads the page anew (a fresh ETag each time), as a site without
    // validators would serve it.
    let skipped = "every item read is known to mention no brand";
    for _ in 0..100 {
        serve();
        if app
            .wait_for_logs(skipped, 2, Duration::from_millis(200))
            .await
        {
            break;
        }
    }
    assert!(
        app.wait_for_logs(skipped, 2, Duration::ZERO).await,
        "{}",
        app.logs()
    );
    let store = outcry::store::open(&app.sqlite_url()).await.unwrap();
    let key = outcry::store::ItemKey {
        source: "forum".into(),
        guid: "u-1".into(),
    };
    assert!(store
        .items(std::slice::from_ref(&key))
        .await
        .unwrap()
        .is_empty());

    // The case's words make "星驰" the brand in that post: it is decided again and kept.
    app.import_cases(CASE_TEACHING_ITS_WORDS);
    let mut kept = false;
    for _ in 0..100 {
        serve();
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !store
            .items(std::slice::from_ref(&key))
            .await
            .unwrap()
            .is_empty()
        {
            kept = true;
            break;
        }
    }
    assert!(kept, "the post was not decided again: {}", app.logs());
    app.stop().await;
}
