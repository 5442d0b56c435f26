//! The fixture pages (tests/fixtures/html) read with the selectors of the example sources in
//! sources/examples, as an operator who copies an example would read them.

use chrono::{DateTime, FixedOffset};
use outcry::config::{self, HtmlSelectors, SourceConfig, SourceKind};
use outcry::extract::{extract, html};
use outcry::model::{Channel, Engagement};
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/html")
            .join(name),
    )
    .unwrap()
}

fn example(name: &str) -> SourceConfig {
    config::load_source(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("sources/examples")
            .join(name),
    )
    .unwrap()
}

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

fn url(text: &str) -> url::Url {
    url::Url::parse(text).unwrap()
}

const NOW: &str = "2026-11-21T10:00:00+08:00";

/// A fixture page read at NOW with an example source's selectors, as if fetched from
/// `page_url`.
fn read(example_name: &str, fixture_name: &str, page_url: &str) -> html::HtmlPage {
    let source = example(example_name);
    let text = String::from_utf8(fixture(fixture_name)).unwrap();
    html::extract_html(
        &text,
        source.selectors.as_ref().unwrap(),
        &url(page_url),
        at(NOW),
    )
    .unwrap()
}

#[test]
fn weibo_like_search_page() {
    let page = read(
        "weibo-search-html.toml",
        "weibo-search.html",
        "https://s.weibo.com/weibo?q=%E6%98%9F%E9%A9%B0",
    );
    assert_eq!(page.unmatched, Vec::<&str>::new());
    assert_eq!(
        page.items.len(),
        3,
        "the suggestion card has no mid: {:?}",
        page.items
    );
    let first = &page.items[0];
    assert_eq!(first.guid, "5001000000000001");
    assert_eq!(
        first.url.as_deref(),
        Some("https://weibo.com/1001/NaBc123xY")
    );
    assert_eq!(first.author.as_deref(), Some("小李爱开车"));
    assert!(first.body.as_deref().unwrap().contains("XC-2026-01234"));
    assert_eq!(first.published_at, Some(at("2026-11-21T09:57:00+08:00")));
    assert_eq!(
        first.engagement,
        Engagement {
            reposts: Some(12_000),
            comments: Some(3_456),
            likes: Some(100_000),
            views: None,
        }
    );
    // Bare labels ("转发", "赞") are no counts.
    assert_eq!(page.items[1].engagement, Engagement::default());
    assert_eq!(
        page.items[1].published_at,
        Some(at("2026-11-21T08:00:00+08:00"))
    );
    assert_eq!(
        page.items[2].published_at,
        Some(at("2026-11-20T08:15:00+08:00"))
    );
    assert_eq!(page.items[2].engagement.comments, Some(1_000));
    assert_eq!(
        page.next_page.map(String::from).as_deref(),
        Some("https://s.weibo.com/weibo?q=%E6%98%9F%E9%A9%B0%E6%B1%BD%E8%BD%A6&page=2")
    );
}

#[test]
fn heimao_like_complaint_list() {
    let page = read(
        "heimao-company.toml",
        "heimao-complaints.html",
        "https://tousu.sina.com.cn/company/view/?couid=1",
    );
    assert_eq!(page.items.len(), 2);
    let first = &page.items[0];
    assert_eq!(
        first.title.as_deref(),
        Some("星驰汽车发动机异响多次维修无果")
    );
    assert_eq!(
        first.url.as_deref(),
        Some("https://tousu.sina.com.cn/complaint/view/17390001234/")
    );
    let body = first.body.as_deref().unwrap();
    for part in [
        "[投诉对象]星驰汽车",
        "[投诉要求]退车，赔偿损失",
        "[涉诉金额]158000元",
        "处理中",
    ] {
        assert!(body.contains(part), "{part} missing from {body}");
    }
    assert_eq!(first.author.as_deref(), Some("车主小陈"));
    // A Unix timestamp, shown in the page's zone.
    assert_eq!(first.published_at, Some(at("2026-11-20T08:15:00+08:00")));
    assert!(page.items[1].body.as_deref().unwrap().contains("已完成"));
    assert_eq!(
        page.items[1].published_at,
        Some(at("2026-11-19T21:05:00+08:00"))
    );
}

fn tieba_selectors() -> HtmlSelectors {
    HtmlSelectors {
        item: "li.j_thread_list".into(),
        title: Some("a.j_th_tit".into()),
        link: Some("a.j_th_tit".into()),
        body: Some(".threadlist_abs".into()),
        author: Some(".frs-author-name".into()),
        followers: Some(".fans".into()),
        time: Some(".threadlist_reply_date".into()),
        guid_attr: Some("data-tid".into()),
        comments: Some(".threadlist_rep_num".into()),
        next_page: Some("a.next".into()),
        ..HtmlSelectors::default()
    }
}

#[test]
fn tieba_like_thread_list() {
    let text = String::from_utf8(fixture("tieba-threads.html"))
        .unwrap()
        .replace("{SECOND_TITLE}", "今天保养顺利")
        .replace("{SECOND_AUTHOR}", "平常心")
        .replace("{SECOND_BODY}", "一切正常")
        .replace("{NEXT}", "/f?kw=星驰&pn=50");
    let page_url = url("https://tieba.baidu.com/f?kw=%E6%98%9F%E9%A9%B0");
    let page = html::extract_html(&text, &tieba_selectors(), &page_url, at(NOW)).unwrap();
    assert_eq!(page.items.len(), 2);
    let first = &page.items[0];
    assert_eq!(first.guid, "8800000001");
    assert_eq!(
        first.url.as_deref(),
        Some("https://tieba.baidu.com/p/8800000001")
    );
    assert_eq!(first.author.as_deref(), Some("油车老张"));
    assert_eq!(first.author_followers, Some(34_000));
    assert_eq!(first.engagement.comments, Some(12_000));
    assert_eq!(first.published_at, Some(at("2026-11-20T12:30:00+08:00")));
    assert_eq!(page.items[1].author_followers, None);
    assert_eq!(
        page.items[1].published_at,
        Some(at("2026-11-21T12:05:00+08:00"))
    );
    // `followers` matched in one item, so it is not reported as matching nothing.
    assert_eq!(page.unmatched, Vec::<&str>::new());
    assert_eq!(
        page.next_page.unwrap().as_str(),
        "https://tieba.baidu.com/f?kw=%E6%98%9F%E9%A9%B0&pn=50"
    );
}

#[test]
fn gbk_forum_page_with_only_a_meta_charset() {
    let source = example("forum-list.toml");
    let extraction = extract(
        &source,
        &fixture("gbk-forum.html"),
        Some("text/html"),
        &url("http://bbs.example.cn/forum-12-1.html"),
    )
    .unwrap();
    assert_eq!(extraction.encoding, encoding_rs::GB18030);
    assert!(!extraction.decode_errors);
    assert_eq!(extraction.items.len(), 2);
    let first = &extraction.items[0];
    assert_eq!(
        first.title.as_deref(),
        Some("星驰汽车天窗漏水，售后推三阻四")
    );
    assert_eq!(first.author.as_deref(), Some("雨天车主"));
    assert_eq!(
        first.url.as_deref(),
        Some("http://bbs.example.cn/thread-801-1-1.html")
    );
    assert_eq!(first.engagement.views, Some(15_000));
    assert_eq!(first.engagement.comments, Some(88));
    // Read in the source's zone (Asia/Shanghai), whatever the machine's.
    assert_eq!(first.published_at, Some(at("2026-11-18T19:40:00+08:00")));
    assert_eq!(extraction.unmatched, ["next_page"]);
    assert_eq!(extraction.blind_marker, None);
}

#[test]
fn broken_html_still_yields_its_items() {
    let source = example("forum-list.toml");
    let extraction = extract(
        &source,
        &fixture("broken.html"),
        None,
        &url("http://bbs.example.cn/list"),
    )
    .unwrap();
    let titles: Vec<&str> = extraction
        .items
        .iter()
        .map(|i| i.title.as_deref().unwrap_or("-"))
        .collect();
    // The row inside the script's string is not an item.
    assert_eq!(
        titles,
        [
            "星驰变速箱异响，厂家不认",
            "星驰车机死机",
            "无结尾的帖子 & 乱码 星驰"
        ]
    );
    assert_eq!(extraction.items[0].engagement.comments, Some(1_024));
    assert_eq!(extraction.items[0].engagement.views, Some(34_000));
    assert_eq!(
        extraction.items[1].url.as_deref(),
        Some("http://bbs.example.cn/thread/702")
    );
    assert_eq!(extraction.items[2].engagement.views, None);
}

#[test]
fn times_are_read_in_the_source_time_zone() {
    let page = "<ul><li class=p><a class=t href=/1>星驰</a><span class=time>2026-11-20 08:15</span></li></ul>";
    let mut source = SourceConfig::new("tz", SourceKind::Html, "http://x.cn/", Channel::Forum);
    source.selectors = Some(Box::new(HtmlSelectors {
        item: "li.p".into(),
        title: Some(".t".into()),
        time: Some(".time".into()),
        ..HtmlSelectors::default()
    }));
    for (zone, expected) in [
        ("Asia/Tokyo", "2026-11-20T08:15:00+09:00"),
        ("+08:00", "2026-11-20T08:15:00+08:00"),
        ("Europe/Berlin", "2026-11-20T08:15:00+01:00"),
    ] {
        source.timezone = Some(config::Zone::parse(zone).unwrap());
        let extraction = extract(&source, page.as_bytes(), None, &url("http://x.cn/")).unwrap();
        let got = extraction.items[0].published_at.unwrap();
        assert_eq!(got, at(expected), "{zone}");
        assert_eq!(got.offset(), at(expected).offset(), "{zone}");
    }
    assert!(config::Zone::parse("Mars/Olympus").is_err());
    let shanghai = config::Zone::parse("Asia/Shanghai").unwrap().now();
    assert_eq!(shanghai.offset().local_minus_utc(), 8 * 3600);
}

#[test]
fn a_login_page_without_items_is_named_blind() {
    let source = example("forum-list.toml");
    let login = "<html><body><div class=login>请登录后查看本版帖子</div></body></html>";
    let extraction = extract(&source, login.as_bytes(), None, &url("http://x.cn/")).unwrap();
    assert!(extraction.items.is_empty());
    assert_eq!(extraction.blind_marker.as_deref(), Some("请登录"));
    assert!(extraction.unmatched.contains(&"item"));
    // A list page with a "登录" link in its header is not blind.
    let extraction = extract(
        &example("weibo-search-html.toml"),
        &fixture("weibo-search.html"),
        None,
        &url("https://s.weibo.com/"),
    )
    .unwrap();
    assert_eq!(extraction.items.len(), 3);
    assert_eq!(extraction.blind_marker, None);
}
