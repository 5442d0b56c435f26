//! Fetched bytes → items: the charset is settled first (charset.rs), then the text is read
//! as a feed (feed.rs, over the forgiving XML reader in xml.rs) or as an HTML list page with the source's CSS selectors (html.rs).

pub mod charset;
pub mod feed;
pub mod html;
pub mod xml;

pub use charset::{declare_utf8, decode, encoding_for_label, DeclaredBy, Decoded};

use crate::config::{SourceConfig, SourceKind};
use crate::model::Engagement;
use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};

/// One item as a source shows it, before normalization.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractedItem {
    /// Stable per source: the feed's own id, else the item's link, else a content hash.
    pub guid: String,
    pub url: Option<String>,
    pub title: Option<String>,
    /// Feeds keep their markup here; the normalize stage strips it.
    pub body: Option<String>,
    pub author: Option<String>,
    /// The author's followers, where the page shows them.
    pub author_followers: Option<i64>,
    pub published_at: Option<DateTime<FixedOffset>>,
    pub engagement: Engagement,
}

#[derive(Debug)]
pub struct Extraction {
    pub items: Vec<ExtractedItem>,
    /// The encoding the bytes were read in.
    pub encoding: &'static encoding_rs::Encoding,
    /// Some bytes did not decode and were replaced by U+FFFD.
    pub decode_errors: bool,
    /// Selectors that matched in no item (html sources; see [`html::HtmlPage`]).
    pub unmatched: Vec<&'static str>,
    /// The next list page (html sources with `selectors.next_page`).
    pub next_page: Option<url::Url>,
    /// What had to be repaired to read an ill-formed feed (see [`xml::Repairs`]), said
    /// plainly: the first problem with its line, and how many more there were.
    pub repaired: Option<String>,
    /// When no item was found: the sign of a login wall, captcha or expired cookie that the
    /// page shows, if any.
    pub blind_marker: Option<String>,
}

#[derive(thiserror::Error, Debug)]
pub enum ExtractError {
    #[error("not a readable RSS, Atom or JSON feed: {0}")]
    Feed(String),
    #[error("cannot read the HTML page: {0}")]
    Html(String),
    #[error("selectors.{field} = `{selector}` is not a usable CSS selector: {message}")]
    Selector {
        field: &'static str,
        selector: String,
        message: String,
    },
}

/// Turns a fetched body into items, according to the source's kind.
pub fn extract(
    source: &SourceConfig,
    bytes: &[u8],
    content_type: Option<&str>,
    page_url: &url::Url,
) -> Result<Extraction, ExtractError> {
    let decoded = decode(bytes, content_type);
    let mut repaired = None;
    let page = match source.kind {
        SourceKind::Feed => {
            let read = feed::extract_feed(&decoded.text, page_url)?;
            repaired = (!read.repairs.is_empty()).then(|| read.repairs.to_string());
            html::HtmlPage {
                items: read.items,
                unmatched: Vec::new(),
                next_page: None,
            }
        }
        SourceKind::Html => {
            let selectors = source.selectors.as_ref().ok_or_else(|| {
                ExtractError::Html(format!(
                    "source `{}` has no [selectors] table to find items with",
                    source.name
                ))
            })?;
            // Relative times ("3分钟前") are read in the source's `timezone`.
            html::extract_html(&decoded.text, selectors, page_url, source.now())?
        }
    };
    // Pages that list items legitimately say "登录" in their header; only a page without
    // items is judged by its text.
    let blind_marker = if page.items.is_empty() {
        crate::health::blind_marker(&decoded.text, &source.blind_markers)
    } else {
        None
    };
    Ok(Extraction {
        items: page.items,
        encoding: decoded.encoding,
        decode_errors: decoded.had_errors,
        unmatched: page.unmatched,
        next_page: page.next_page,
        repaired,
        blind_marker,
    })
}

/// The guid of last resort, for an item with neither an id nor a link: stable across polls
/// as long as the text does not change.
pub(crate) fn content_guid(title: Option<&str>, body: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(title.unwrap_or("").as_bytes());
    // A separator keeps ("ab", "c") and ("a", "bc") apart.
    hasher.update([0x1f]);
    hasher.update(body.unwrap_or("").as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Trimmed text, or `None` when nothing is left.
pub(crate) fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HtmlSelectors;
    use crate::model::Channel;
    use chrono::DateTime;
    use encoding_rs::{Encoding, BIG5, GB18030, UTF_8};

    const RSS_TEMPLATE: &str = include_str!("../../tests/fixtures/feeds/rss-zh.xml.tmpl");

    fn source(kind: SourceKind, selectors: Option<HtmlSelectors>) -> SourceConfig {
        SourceConfig {
            selectors: selectors.map(Box::new),
            ..SourceConfig::new("test", kind, "http://bbs.example.cn/feed", Channel::Forum)
        }
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    struct Zh {
        channel: &'static str,
        topic: &'static str,
        title: &'static str,
        body: &'static str,
        author: &'static str,
    }

    const SIMPLIFIED: Zh = Zh {
        channel: "车友论坛",
        topic: "车友交流，维权投诉，汽车质量问题讨论",
        title: "星驰汽车发动机漏油",
        body: "车主投诉星驰汽车发动机漏油，4S店态度恶劣，要求退车并赔偿损失。",
        author: "车主老王",
    };

    const TRADITIONAL: Zh = Zh {
        channel: "車友論壇",
        topic: "車友交流，維權投訴，汽車品質問題討論",
        title: "星馳汽車引擎漏油",
        body: "車主投訴星馳汽車引擎漏油，經銷商態度惡劣，要求退車並賠償損失。",
        author: "車主老王",
    };

    /// The fixture feed in `encoding`, with `decl` in its prolog (e.g. ` encoding="GBK"`).
    fn rss(zh: &Zh, encoding: &'static Encoding, decl: &str) -> Vec<u8> {
        let text = RSS_TEMPLATE
            .replace("{DECL}", decl)
            .replace("{CHANNEL}", zh.channel)
            .replace("{TOPIC}", zh.topic)
            .replace("{TITLE}", zh.title)
            .replace("{BODY}", zh.body)
            .replace("{AUTHOR}", zh.author);
        let (bytes, _, unmappable) = encoding.encode(&text);
        assert!(
            !unmappable,
            "fixture text must be encodable in {}",
            encoding.name()
        );
        bytes.into_owned()
    }

    fn feed(bytes: &[u8], content_type: Option<&str>) -> Extraction {
        extract(
            &source(SourceKind::Feed, None),
            bytes,
            content_type,
            &url("http://bbs.example.cn/feed"),
        )
        .unwrap()
    }

    fn assert_zh_item(extraction: &Extraction, zh: &Zh, encoding: &'static Encoding) {
        assert_eq!(extraction.encoding, encoding);
        assert!(!extraction.decode_errors);
        let [item] = extraction.items.as_slice() else {
            panic!("one item expected, got {:?}", extraction.items);
        };
        assert_eq!(item.title.as_deref(), Some(zh.title));
        assert_eq!(
            item.body.as_deref(),
            Some(format!("<p>{}</p>", zh.body).as_str())
        );
        assert_eq!(item.author.as_deref(), Some(zh.author));
        assert_eq!(item.guid, "thread-1001");
        assert_eq!(
            item.url.as_deref(),
            Some("http://bbs.example.cn/thread/1001")
        );
        assert_eq!(item.published_at, Some(at("2026-11-20T08:15:00+08:00")));
        assert_eq!(item.engagement, Engagement::default());
    }

    #[test]
    fn gbk_feed_with_declaration() {
        let bytes = rss(&SIMPLIFIED, GB18030, " encoding=\"GBK\"");
        assert_zh_item(
            &feed(&bytes, Some("application/rss+xml")),
            &SIMPLIFIED,
            GB18030,
        );
        let bytes = rss(&SIMPLIFIED, GB18030, " encoding=\"gb2312\"");
        assert_zh_item(&feed(&bytes, None), &SIMPLIFIED, GB18030);
    }

    #[test]
    fn gbk_feed_without_declaration() {
        let bytes = rss(&SIMPLIFIED, GB18030, "");
        assert_zh_item(&feed(&bytes, Some("text/xml")), &SIMPLIFIED, GB18030);
    }

    #[test]
    fn big5_feed_without_declaration() {
        let bytes = rss(&TRADITIONAL, BIG5, "");
        assert_zh_item(&feed(&bytes, None), &TRADITIONAL, BIG5);
    }

    #[test]
    fn gbk_feed_whose_header_wrongly_says_utf8() {
        for decl in ["", " encoding=\"GBK\"", " encoding=\"UTF-8\""] {
            let bytes = rss(&SIMPLIFIED, GB18030, decl);
            let extraction = feed(&bytes, Some("application/rss+xml; charset=UTF-8"));
            assert_zh_item(&extraction, &SIMPLIFIED, GB18030);
        }
    }

    #[test]
    fn utf8_feed_declared_utf8() {
        let bytes = rss(&SIMPLIFIED, UTF_8, " encoding=\"UTF-8\"");
        assert_zh_item(
            &feed(&bytes, Some("application/rss+xml; charset=utf-8")),
            &SIMPLIFIED,
            UTF_8,
        );
    }

    #[test]
    fn atom_feed() {
        let bytes = include_bytes!("../../tests/fixtures/feeds/atom.xml");
        let items = feed(bytes, Some("application/atom+xml")).items;
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0],
            ExtractedItem {
                guid: "urn:example:news:3001".into(),
                url: Some("https://news.example.com/a/3001.html".into()),
                title: Some("星驰汽车回应发动机漏油投诉".into()),
                body: Some("<p>星驰汽车客服表示将<b>尽快</b>处理。</p>".into()),
                author: Some("记者 李明".into()),
                author_followers: None,
                published_at: Some(at("2026-11-20T09:30:00+08:00")),
                engagement: Engagement::default(),
            }
        );
        assert_eq!(items[1].guid, "urn:example:news:3002");
        assert_eq!(items[1].url, None);
        assert_eq!(items[1].body.as_deref(), Some("与品牌无关。"));
        // No <published>: <updated> stands in.
        assert_eq!(items[1].published_at, Some(at("2026-11-20T11:00:00+08:00")));
    }

    #[test]
    fn json_feed() {
        let bytes = include_bytes!("../../tests/fixtures/feeds/json-feed.json");
        let items = feed(bytes, Some("application/feed+json")).items;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].guid, "post-4001");
        assert_eq!(
            items[0].url.as_deref(),
            Some("https://blog.example.com/posts/4001")
        );
        assert_eq!(items[0].title.as_deref(), Some("我的星驰汽车维权记"));
        assert_eq!(
            items[0].body.as_deref(),
            Some("<p>发动机漏油三次，<em>要曝光</em>。</p>")
        );
        assert_eq!(items[0].author.as_deref(), Some("维权车主"));
        assert_eq!(items[0].published_at, Some(at("2026-11-19T20:00:00+08:00")));
        assert_eq!(items[1].guid, "post-4002");
        assert_eq!(items[1].title, None);
        assert_eq!(items[1].body.as_deref(), Some("只有正文，没有标题。"));
        assert_eq!(items[1].published_at, Some(at("2026-11-19T21:00:00+08:00")));
    }

    #[test]
    fn rss_items_without_guid_fall_back_to_link_then_to_a_stable_hash() {
        let bytes = include_bytes!("../../tests/fixtures/feeds/rss-no-guid.xml");
        let page = url("https://tousu.example.com/feed.xml");
        let parse = || {
            extract(&source(SourceKind::Feed, None), bytes, None, &page)
                .unwrap()
                .items
        };
        let first = parse();
        // The third item has neither title nor body and is skipped.
        assert_eq!(first.len(), 2, "{first:?}");
        assert_eq!(first[0].guid, "https://tousu.example.com/complaint/2001");
        assert_eq!(
            first[0].url.as_deref(),
            Some("https://tousu.example.com/complaint/2001")
        );
        assert_eq!(first[1].author.as_deref(), Some("投诉小编"));
        let hashed = &first[1].guid;
        assert!(hashed.starts_with("sha256:"), "{hashed}");
        assert_eq!(hashed.len(), "sha256:".len() + 16);
        assert_eq!(
            hashed,
            &content_guid(Some("星驰汽车异响"), Some("刚提的车就有异响，客服不理。"))
        );
        assert_eq!(first, parse(), "guids must not change between polls");
    }

    #[test]
    fn content_guid_separates_title_from_body() {
        assert_ne!(
            content_guid(Some("ab"), Some("c")),
            content_guid(Some("a"), Some("bc"))
        );
    }

    fn list_selectors() -> HtmlSelectors {
        HtmlSelectors {
            item: "li.post".into(),
            title: Some("a.title".into()),
            link: Some("a.title".into()),
            link_attr: None,
            body: Some(".summary".into()),
            author: Some(".user".into()),
            time: Some("time, .time".into()),
            guid: None,
            guid_attr: Some("data-id".into()),
            reposts: Some(".reposts".into()),
            comments: Some(".comments".into()),
            likes: Some(".likes".into()),
            views: Some(".views".into()),
            ..HtmlSelectors::default()
        }
    }

    #[test]
    fn html_list_page_with_all_fields() {
        let text = include_str!("../../tests/fixtures/html/list-page.html");
        let now = at("2026-11-21T10:00:00+08:00");
        let page = url("https://bbs.example.cn/forum/list?page=1");
        let items = html::extract_html(text, &list_selectors(), &page, now)
            .unwrap()
            .items;
        assert_eq!(
            items.len(),
            3,
            "the ad row has neither title nor body: {items:?}"
        );
        assert_eq!(
            items[0],
            ExtractedItem {
                guid: "p5001".into(),
                url: Some("https://bbs.example.cn/thread/5001?from=list".into()),
                title: Some("星驰汽车发动机漏油，4S店不管".into()),
                body: Some("刚买半年的车，发动机 漏油三次。".into()),
                author: Some("车主老王".into()),
                author_followers: None,
                published_at: Some(at("2026-11-20T08:15:00+08:00")),
                engagement: Engagement {
                    reposts: Some(12_000),
                    comments: Some(3_456),
                    likes: Some(100_000),
                    views: Some(1_234),
                },
            }
        );
        assert_eq!(items[1].guid, "p5002");
        assert_eq!(
            items[1].url.as_deref(),
            Some("https://bbs.example.cn/forum/thread/5002")
        );
        assert_eq!(items[1].body, None);
        assert_eq!(items[1].published_at, Some(at("2026-11-20T12:30:00+08:00")));
        assert_eq!(items[1].engagement, Engagement::default());
        assert_eq!(items[2].url, None);
        assert_eq!(
            items[2].guid,
            content_guid(None, Some("没有链接也没有编号的帖子"))
        );
        assert_eq!(items[2].published_at, Some(at("2026-11-19T21:05:00+08:00")));
    }

    #[test]
    fn html_guid_from_a_selected_element_and_link_from_the_item_itself() {
        let text = r#"<div class="card" href="/p/1"><h2>星驰汽车</h2><span class="id" data-pid="77"></span></div>
                      <a class="card" href="/p/2"><h2>星驰汽车二</h2></a>"#;
        let selectors = HtmlSelectors {
            item: ".card".into(),
            title: Some("h2".into()),
            guid: Some(".id".into()),
            guid_attr: Some("data-pid".into()),
            ..HtmlSelectors::default()
        };
        let now = at("2026-11-21T10:00:00+08:00");
        let items = html::extract_html(text, &selectors, &url("http://x.cn/list"), now)
            .unwrap()
            .items;
        assert_eq!(items[0].guid, "77");
        assert_eq!(items[0].url.as_deref(), Some("http://x.cn/p/1"));
        assert_eq!(items[1].guid, "http://x.cn/p/2");
    }

    #[test]
    fn gbk_html_page_with_only_a_meta_charset() {
        let title = "星驰汽车发动机漏油";
        let html = format!(
            "<html><head><meta charset=gbk><title>论坛</title></head><body>\
             <div class=\"post\"><a class=\"t\" href=\"/t/1\">{title}</a>\
             <p class=\"b\">车主投诉，4S店态度恶劣。</p></div></body></html>"
        );
        let (bytes, _, _) = GB18030.encode(&html);
        let selectors = HtmlSelectors {
            item: ".post".into(),
            title: Some(".t".into()),
            link: Some(".t".into()),
            body: Some(".b".into()),
            ..HtmlSelectors::default()
        };
        let extraction = extract(
            &source(SourceKind::Html, Some(selectors)),
            &bytes,
            Some("text/html"),
            &url("http://bbs.example.cn/forum"),
        )
        .unwrap();
        assert_eq!(extraction.encoding, GB18030);
        assert!(!extraction.decode_errors);
        assert_eq!(extraction.items.len(), 1);
        assert_eq!(extraction.items[0].title.as_deref(), Some(title));
        assert_eq!(
            extraction.items[0].body.as_deref(),
            Some("车主投诉，4S店态度恶劣。")
        );
        assert_eq!(extraction.items[0].guid, "http://bbs.example.cn/t/1");
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let err = extract(
            &source(SourceKind::Feed, None),
            b"<html><body>hi</body></html>",
            None,
            &url("http://x.cn/"),
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::Feed(_)), "{err:?}");
        assert!(err
            .to_string()
            .starts_with("not a readable RSS, Atom or JSON feed"));

        let bad = HtmlSelectors {
            item: "li".into(),
            likes: Some("span[".into()),
            ..HtmlSelectors::default()
        };
        let err = extract(
            &source(SourceKind::Html, Some(bad)),
            b"<li>x</li>",
            None,
            &url("http://x.cn/"),
        )
        .unwrap_err();
        assert!(
            matches!(err, ExtractError::Selector { field: "likes", .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("selectors.likes = `span[`"),
            "{err}"
        );

        let err = extract(
            &source(SourceKind::Html, None),
            b"<li>x</li>",
            None,
            &url("http://x.cn/"),
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::Html(_)), "{err:?}");
    }
}
