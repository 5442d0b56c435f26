//! What the PR team receives, against the real binary, a local feed server whose pages
//! change between polls, and a real SMTP server: escalation step by step, scraped markup
//! made inert, and the daily digest. Also escalation through the pipeline on a real store.

mod support;

use chrono::{DateTime, FixedOffset, Utc};
use outcry::config::{AssessConfig, BrandConfig, LinkingConfig};
use outcry::model::{AlertKind, Case, Channel, Observation};
use outcry::pipeline::{Event, Pipeline};
use std::time::Duration;
use support::daemon::{Source, TestApp};
use support::feeds::{rss, FeedServer};
use support::noon_offset;
use support::smtp::{ReceivedMail, SmtpServer};
use support::words::{english_catalog_words_in, visible};

/// What these scenarios' data says, which any language may show: source names, the case's
/// channel and severity as imported, identifiers, the author names the feeds carry.
const DATA: &[&str] = &[
    "weibo",
    "forum",
    "hotline",
    "order:XC-2026-00871",
    "outcry",
    "UTC",
];

const CASE: &str = r#"{"id": "C-1042", "brand": "星驰汽车", "status": "open", "opened_at": "2026-03-02T09:14:00+08:00", "channel": "hotline", "severity": "high", "complainant": {"name": "王女士", "phone": "13812342291", "email": null, "handles": []}, "summary": "提车不到10公里发动机漏油", "demand": "退车", "identifiers": ["order:XC-2026-00871"], "notes": "客户希望尽快处理"}
"#;

/// Thresholds written out, so that tuning the defaults does not move these scenarios:
/// interactions decide, growth and authors stay out of reach.
const THRESHOLDS: &str = "[assess]\nspreading_authors = 50\nspreading_interactions = 100\nspreading_growth_per_hour = 1e12\nviral_authors = 100\nviral_interactions = 1000\nviral_growth_per_hour = 1e12\nviral_authors_with_news = 100\nheat_factor = 1.0\n";

/// Each mail's alert stage, or what else it is (the digest says so in X-Outcry-Alert).
fn stages(mails: &[ReceivedMail]) -> Vec<String> {
    mails
        .iter()
        .map(|m| {
            m.header("X-Outcry-Stage")
                .or_else(|| m.header("X-Outcry-Alert"))
                .unwrap_or_default()
        })
        .collect()
}

/// A forum list page with one post whose like count the test turns up.
fn forum_page(likes: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><ul>\
         <li class=\"post\"><a class=\"title\" href=\"/thread/88\">星驰C200提车就漏油</a>\
         <div class=\"body\">订单号 XC-2026-00871, 4S店说是正常现象</div>\
         <span class=\"user\">车主老王</span><span class=\"likes\">赞 {likes}</span></li>\
         </ul></body></html>"
    )
}

fn weibo(feeds: &FeedServer) -> Source<'static> {
    Source {
        name: "weibo",
        url: feeds.url("w.xml"),
        channel: "social",
        interval: "1s",
    }
}

fn forum_source(feeds: &FeedServer) -> String {
    format!(
        "name = \"forum\"\nkind = \"html\"\nurl = \"{}\"\nchannel = \"forum\"\ninterval = \"1s\"\n\
         [selectors]\nitem = \"li.post\"\ntitle = \"a.title\"\nlink = \"a.title\"\nbody = \"div.body\"\n\
         author = \"span.user\"\nlikes = \"span.likes\"\n",
        feeds.url("forum.html")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn growing_engagement_sends_surfaced_spreading_and_viral_once_each_in_order() {
    let feeds = FeedServer::start().await;
    feeds.set("forum.html", "text/html; charset=utf-8", forum_page("10"));
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(&[], Some(smtp.port()));
    app.write_source("forum", &forum_source(&feeds));
    app.add_config(THRESHOLDS);
    app.import_cases(CASE);
    app.start().await;

    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(stages(&mails), ["surfaced"], "logs: {}", app.logs());
    feeds.set("forum.html", "text/html; charset=utf-8", forum_page("150"));
    let mails = smtp.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(
        stages(&mails),
        ["surfaced", "spreading"],
        "logs: {}",
        app.logs()
    );
    // Counts as pages show them: 1.2万 is 12000.
    feeds.set(
        "forum.html",
        "text/html; charset=utf-8",
        forum_page("1.2万"),
    );
    let mails = smtp.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(
        stages(&mails),
        ["surfaced", "spreading", "viral"],
        "logs: {}",
        app.logs()
    );

    // More growth and more polls: no stage is mailed twice.
    feeds.set(
        "forum.html",
        "text/html; charset=utf-8",
        forum_page("1.3万"),
    );
    let polls = feeds.requests("forum.html");
    while feeds.requests("forum.html") < polls + 3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = smtp.messages();
    assert_eq!(stages(&mails), ["surfaced", "spreading", "viral"]);
    // Chinese by default: the subject names the stage, the brand and the case.
    for (mail, stage) in mails.iter().zip(["首次曝光", "扩散中", "爆发"]) {
        assert_eq!(mail.header("X-Outcry-Case").as_deref(), Some("C-1042"));
        assert!(
            mail.subject()
                .starts_with(&format!("【舆情预警·{stage}】星驰汽车 C-1042 — ")),
            "{}",
            mail.subject()
        );
        let seen = format!(
            "{}\n{}\n{}",
            mail.subject(),
            mail.text_body(),
            visible(&mail.html_body())
        );
        let leaked = english_catalog_words_in(&seen, DATA);
        assert!(leaked.is_empty(), "{leaked:?} in {seen}");
    }
    let viral = &mails[2];
    for part in [viral.text_body(), viral.html_body()] {
        assert!(part.contains("点赞 1.2万"), "{part}");
        assert!(part.contains("C-1042") && part.contains("退车"), "{part}");
        assert!(part.contains("138****2291") && !part.contains("13812342291"));
        assert!(part.contains("立即上报危机负责人。"), "{part}");
        assert!(part.contains("时间均为 UTC+08:00"), "{part}");
    }
    assert!(viral.text_body().contains("时间线"));
    assert!(viral.html_body().contains("<mark>XC-2026-00871</mark>"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn markup_in_titles_bodies_and_authors_is_inert_in_the_html_part() {
    let feeds = FeedServer::start().await;
    // Escaped once more than markup, so that it reaches the text as literal tags.
    let linked = (
        "p-1",
        "星驰漏油 &lt;img src=x onerror=alert(1)&gt;",
        "订单号 XC-2026-00871 &lt;svg onload=alert(2)&gt; &quot;&gt;&lt;iframe src=javascript:alert(4)&gt;",
        "<script>alert(3)</script>车主",
    );
    let unlinked = (
        "p-2",
        "星驰客服推来推去 &lt;script&gt;alert(5)&lt;/script&gt;",
        "太离谱了 &lt;a href=javascript:alert(6)&gt;点我&lt;/a&gt;",
        "\"><img src=x onerror=alert(7)>",
    );
    feeds.set("w.xml", "application/rss+xml", rss(&[linked, unlinked]));
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(&[weibo(&feeds)], Some(smtp.port()));
    app.import_cases(CASE);
    app.start().await;
    let mails = smtp.wait_for(2, Duration::from_secs(20)).await;
    let mut kinds = stages(&mails);
    kinds.sort();
    assert_eq!(kinds, ["surfaced", "unlinked"], "logs: {}", app.logs());
    for mail in &mails {
        let html = mail.html_body();
        for live in [
            "<img",
            "<svg",
            "<iframe",
            "<script",
            "<a href=javascript",
            "href=\"javascript",
        ] {
            assert!(!html.contains(live), "{live} is live in: {html}");
        }
        // The payloads did arrive, as text.
        assert!(html.contains("&lt;"), "{html}");
    }
    let all: String = mails.iter().map(|m| m.html_body()).collect();
    for shown in [
        "&lt;img src=x onerror=alert(1)&gt;",
        "&lt;svg onload=alert(2)&gt;",
        "&lt;script&gt;alert(3)&lt;/script&gt;",
        "&quot;&gt;&lt;img src=x onerror=alert(7)&gt;",
    ] {
        assert!(all.contains(shown), "{shown} missing from: {all}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_digest_is_mailed_once_a_day_with_the_complaints_held_back() {
    let feeds = FeedServer::start().await;
    let first = (
        "u-1",
        "星驰客服推来推去",
        "打了十次电话没人管, 太离谱了",
        "小李",
    );
    let second = ("u-2", "星驰4S店态度恶劣", "销售敷衍了事, 我要曝光", "小赵");
    feeds.set("w.xml", "application/rss+xml", rss(&[first, second]));
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(&[weibo(&feeds)], Some(smtp.port()));
    app.add_config("[assess]\nunlinked_per_hour = 1\n");
    app.import_cases(CASE);

    // Without [digest]: one unlinked email, the other complaint waits.
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(stages(&mails), ["unlinked"], "logs: {}", app.logs());
    assert!(
        app.wait_for_log("left for the digest", Duration::from_secs(10))
            .await,
        "{}",
        app.logs()
    );
    app.stop().await;
    assert_eq!(smtp.messages().len(), 1);

    // The installation had polled everything before today's time (a new one's first
    // digest is the first due after its first full poll round: tests/digest.rs).
    let store = outcry::store::open(&app.sqlite_url()).await.unwrap();
    let before = Utc::now() - chrono::Duration::hours(2);
    assert!(store.first_round(Some(before)).await.unwrap() < Some(Utc::now()));
    drop(store);
    app.add_config(&format!(
        "[digest]\nat = \"11:00\"\ntime_zone = \"{}\"\nto = [\"leads@example.com\"]\n",
        noon_offset()
    ));
    app.start().await;
    let mails = smtp.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(
        stages(&mails),
        ["unlinked", "digest"],
        "logs: {}",
        app.logs()
    );
    let digest = &mails[1];
    assert_eq!(digest.to, ["leads@example.com"]);
    assert_eq!(digest.header("X-Outcry-Case"), None);
    assert!(
        digest.subject().starts_with("【舆情日报】"),
        "{}",
        digest.subject()
    );
    for part in [digest.text_body(), digest.html_body()] {
        assert!(part.contains("星驰客服推来推去"), "{part}");
        assert!(part.contains("星驰4S店态度恶劣"), "{part}");
        assert!(part.contains("（2 条，其中 1 条未单独发邮件）"), "{part}");
        assert!(part.contains("C-1042"), "{part}");
        assert!(part.contains("尚未公开（1）"), "{part}");
    }
    let seen = format!("{}\n{}", digest.text_body(), visible(&digest.html_body()));
    let leaked = english_catalog_words_in(&seen, DATA);
    assert!(leaked.is_empty(), "{leaked:?} in {seen}");

    // A restart the same day sends no second digest.
    app.stop().await;
    app.start().await;
    let polls = feeds.requests("w.xml");
    while feeds.requests("w.xml") < polls + 3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stages(&smtp.messages()), ["unlinked", "digest"]);
    app.stop().await;
}

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

fn case(id: &str, order: &str, notes: &str) -> Case {
    serde_json::from_value(serde_json::json!({
        "id": id, "brand": "星驰汽车", "status": "open",
        "summary": "车机频繁黑屏重启", "identifiers": [format!("order:{order}")], "notes": notes,
    }))
    .unwrap()
}

fn post(guid: &str, author: &str, order: &str, minute: u32) -> Observation {
    Observation {
        source: "weibo".into(),
        channel: Channel::Social,
        guid: guid.into(),
        url: Some(format!("https://weibo.example/{guid}")),
        title: None,
        body: Some(format!("星驰车机又黑屏了, 订单 {order}")),
        author: Some(author.into()),
        author_followers: None,
        published_at: None,
        fetched_at: at(&format!("2026-03-05T10:{minute:02}:00+08:00")),
        engagement: Default::default(),
    }
}

#[tokio::test]
async fn a_case_with_threats_in_its_notes_escalates_sooner_through_the_pipeline() {
    let store = outcry::store::open_in_memory().await.unwrap();
    let threat = case("C-1", "XC-2026-10001", "客户说再不处理就去微博曝光");
    let calm = case("C-2", "XC-2026-20002", "客户语气平和, 同意等待检测");
    for c in [&threat, &calm] {
        store.upsert_case(c, Utc::now()).await.unwrap();
    }
    let brands = [BrandConfig {
        name: "星驰汽车".into(),
        aliases: vec!["星驰".into()],
        exclude: vec![],
    }];
    let assess = AssessConfig {
        spreading_authors: 3,
        heat_factor: 0.6,
        spreading_interactions: i64::MAX,
        viral_interactions: i64::MAX,
        spreading_growth_per_hour: f64::MAX,
        viral_growth_per_hour: f64::MAX,
        ..AssessConfig::default()
    };
    let mut pipeline = Pipeline::new(store, &brands, LinkingConfig::default(), assess)
        .await
        .unwrap();
    // The same two authors retell each case.
    let posts = [
        post("a-1", "甲", "XC-2026-10001", 0),
        post("b-1", "甲", "XC-2026-20002", 1),
        post("a-2", "乙", "XC-2026-10001", 2),
        post("b-2", "乙", "XC-2026-20002", 3),
    ];
    let events = pipeline.process_batch(&posts).await.unwrap();
    let alerts: Vec<(Option<String>, AlertKind)> = events
        .into_iter()
        .filter_map(|e| match e {
            Event::Alert { case, stage, .. } => Some((case, stage)),
            _ => None,
        })
        .collect();
    let of = |id: &str| -> Vec<AlertKind> {
        alerts
            .iter()
            .filter(|(c, _)| c.as_deref() == Some(id))
            .map(|(_, k)| *k)
            .collect()
    };
    assert_eq!(
        of("C-1"),
        [AlertKind::Surfaced, AlertKind::Spreading],
        "two authors suffice when the customer threatened to go public: {alerts:?}"
    );
    assert_eq!(
        of("C-2"),
        [AlertKind::Surfaced],
        "the calm case needs three: {alerts:?}"
    );
}
