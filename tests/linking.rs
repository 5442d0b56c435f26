//! Linking as a complaint lead judges it, against the real binary, local feed servers and a
//! real SMTP server: posts that only sound like a case never move it, and identifiers count
//! however people write them (next to a Latin word, or only in an image's alt text).

mod support;

use std::time::Duration;
use support::daemon::{Source, TestApp};
use support::feeds::{rss, FeedServer};
use support::smtp::{ReceivedMail, SmtpServer};

/// Two distinct authors make a case `spreading`: one wrongly confirmed post is enough to
/// show. Heat, interactions and growth stay out of reach.
const THRESHOLDS: &str = "[assess]\nspreading_authors = 2\nspreading_interactions = 1000000\nspreading_growth_per_hour = 1e12\nviral_authors = 100\nviral_interactions = 10000000\nviral_growth_per_hour = 1e12\nviral_reposts = 10000000\nviral_authors_with_news = 100\nheat_factor = 1.0\n";

fn weibo(feeds: &FeedServer) -> Source<'static> {
    Source {
        name: "weibo",
        url: feeds.url("w.xml"),
        channel: "social",
        interval: "1s",
    }
}

fn cases_and_stages(mails: &[ReceivedMail]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = mails
        .iter()
        .map(|m| {
            (
                m.header("X-Outcry-Case").unwrap_or_default(),
                m.header("X-Outcry-Stage").unwrap_or_default(),
            )
        })
        .collect();
    found.sort();
    found
}

/// Waits until the feed was polled `polls` more times, and a moment for the pipeline.
async fn settle(feeds: &FeedServer, path: &str, polls: usize) {
    let before = feeds.requests(path);
    while feeds.requests(path) < before + polls {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_that_only_sound_like_the_case_never_move_it() {
    const CASE: &str = r#"{"id": "C-1042", "brand": "星驰汽车", "status": "open", "opened_at": "2026-03-02T09:14:00+08:00", "channel": "hotline", "severity": "high", "complainant": {"name": "王女士", "phone": "13812342291", "email": null, "handles": ["weibo:小王爱吃梨"]}, "summary": "客户3月1日在西安城东店提的星驰C200白色, 开了两天刹车有异响, 仪表盘报警, 门店说是正常现象", "demand": "退车", "identifiers": ["order:XC-2026-00871"], "notes": "客户语气平和, 同意等待检测"}
"#;
    let feeds = FeedServer::start().await;
    let own = (
        "p-1",
        "星驰C200提车两天刹车异响",
        "西安城东店提的白色星驰C200, 刹车异响, 仪表盘报警, 订单号 XC-2026-00871, 门店说正常",
        "小王爱吃梨",
    );
    feeds.set("w.xml", "application/rss+xml", rss(&[own]));
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(&[weibo(&feeds)], Some(smtp.port()));
    app.add_config(THRESHOLDS);
    app.import_cases(CASE);
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        cases_and_stages(&mails),
        [("C-1042".to_string(), "surfaced".to_string())],
        "logs: {}",
        app.logs()
    );
    // A happy new owner, a stranger's question and a generic rant: each sounds like the
    // case's story, none names anything that is only this case's.
    let strangers = [
        own,
        ("p-2", "提车作业", "提车作业: 星驰C200 白色", "新车主阿杰"),
        ("p-3", "求助", "星驰S5刹车有异响怎么办", "路人小李"),
        (
            "p-4",
            "吐槽",
            "星驰的门店太差了, 说什么都是正常现象, 垃圾",
            "路过的网友",
        ),
    ];
    feeds.set("w.xml", "application/rss+xml", rss(&strangers));
    settle(&feeds, "w.xml", 3).await;
    // A stranger's question may be news of its own (`unlinked`); it is no step of the case.
    let case_alerts: Vec<(String, String)> = cases_and_stages(&smtp.messages())
        .into_iter()
        .filter(|(case, _)| !case.is_empty())
        .collect();
    assert_eq!(
        case_alerts,
        [("C-1042".to_string(), "surfaced".to_string())],
        "a stranger's post was confirmed to the case: {}",
        app.logs()
    );
    // The warning light in the case is no threat to go public.
    let mail = &smtp.messages()[0];
    assert!(
        !mail.text_body().contains("threats to go public"),
        "{}",
        mail.text_body()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn identifiers_beside_latin_words_or_only_in_alt_text_find_their_case() {
    const CASES: &str = r#"{"id": "C-1", "brand": "星驰汽车", "status": "open", "complainant": {"handles": []}, "summary": "车机黑屏, 2026款", "identifiers": ["order:QQ-2026-7777"]}
{"id": "C-2", "brand": "星驰汽车", "status": "open", "complainant": {"handles": []}, "summary": "空调异味, 2026款", "identifiers": ["order:QQ-2026-6666"]}
{"id": "C-3", "brand": "星驰汽车", "status": "open", "complainant": {"handles": []}, "summary": "退款被扣手续费, 2026年", "identifiers": ["order:QQ-2026-8888"]}
"#;
    let feeds = FeedServer::start().await;
    let posts = [
        (
            "p-1",
            "星驰求助",
            "星驰 订单号 QQ-2026-7777 VIN LSVAB12345 求助",
            "车主甲",
        ),
        (
            "p-2",
            "星驰求助",
            "星驰 订单号：QQ-2026-6666 Model S5 求助",
            "车主乙",
        ),
    ];
    feeds.set("w.xml", "application/rss+xml", rss(&posts));
    feeds.set(
        "forum.html",
        "text/html; charset=utf-8",
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><ul>\
         <li class=\"post\"><a class=\"title\" href=\"/thread/9\">星驰退款扣手续费</a>\
         <div class=\"body\">退款明细看图<img src=\"/a.jpg\" alt=\"订单号 QQ-2026-8888 手续费\"></div>\
         <span class=\"user\">车主丙</span></li></ul></body></html>",
    );
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(&[weibo(&feeds)], Some(smtp.port()));
    app.write_source(
        "forum",
        &format!(
            "name = \"forum\"\nkind = \"html\"\nurl = \"{}\"\nchannel = \"forum\"\ninterval = \"1s\"\n\
             [selectors]\nitem = \"li.post\"\ntitle = \"a.title\"\nlink = \"a.title\"\nbody = \"div.body\"\n\
             author = \"span.user\"\n",
            feeds.url("forum.html")
        ),
    );
    app.import_cases(CASES);
    app.start().await;
    let mails = smtp.wait_for(3, Duration::from_secs(30)).await;
    let surfaced = |id: &str| (id.to_string(), "surfaced".to_string());
    assert_eq!(
        cases_and_stages(&mails),
        [surfaced("C-1"), surfaced("C-2"), surfaced("C-3")],
        "logs: {}",
        app.logs()
    );
    app.stop().await;
}
