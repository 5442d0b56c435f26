//! The feed corpus: every tests/feeds/NAME.* with a NAME.expected.json beside it is read as
//! a feed source reads a fetched body, and must yield the items a lenient reader (feedparser)
//! yields. The files cover what real feeds get wrong: missing or odd RSS versions, bare
//! ampersands, unclosed tags, HTML entities, truncation, links shared by many items, RSS
//! 0.90 / 1.0, Atom 0.3, odd Atom text types, Blogger's link order, extension fields,
//! UTF-16 without a byte-order mark; and a page that is no feed at all.
//!
//! NAME.expected.json: `{"error": "part of the message"}`, or `{"repaired": bool,
//! "distinct_guids": bool, "items": [...]}` where each item gives any of `guid`, `url`,
//! `title`, `plain_title` (the title as alerts show it), `body`, `author`, `published_at`.

use outcry::config::{SourceConfig, SourceKind};
use outcry::extract::{extract, ExtractedItem};
use outcry::model::Channel;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<(String, PathBuf, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/feeds");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(name) = file.strip_suffix(".expected.json") else {
            continue;
        };
        let data = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let f = p.file_name().unwrap().to_string_lossy();
                f.starts_with(&format!("{name}.")) && !f.ends_with(".expected.json")
            })
            .unwrap_or_else(|| panic!("no data file for {file}"));
        let expected = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        found.push((name.to_string(), data, expected));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn field(item: &ExtractedItem, key: &str) -> Option<String> {
    match key {
        "guid" => Some(item.guid.clone()),
        "url" => item.url.clone(),
        "title" => item.title.clone(),
        "plain_title" => item
            .title
            .as_deref()
            .map(|t| outcry::normalize::html_to_text(t).into_owned()),
        "body" => item.body.clone(),
        "author" => item.author.clone(),
        "published_at" => item.published_at.map(|t| t.to_rfc3339()),
        other => panic!("unknown expected field `{other}`"),
    }
}

/// Compares one fixture; returns what disagrees, so all fixtures are reported at once.
fn check(name: &str, data: &Path, expected: &Value) -> Vec<String> {
    let bytes = std::fs::read(data).unwrap();
    let url = format!("http://feeds.example.cn/{name}");
    let source = SourceConfig::new(name, SourceKind::Feed, &url, Channel::News);
    let page = url::Url::parse(&url).unwrap();
    let mut problems = Vec::new();
    let extraction = match (extract(&source, &bytes, None, &page), &expected["error"]) {
        (Err(e), Value::String(want)) => {
            if !e.to_string().contains(want.as_str()) {
                problems.push(format!("{name}: error `{e}` does not say `{want}`"));
            }
            return problems;
        }
        (Err(e), _) => return vec![format!("{name}: not read: {e}")],
        (Ok(x), Value::String(want)) => {
            return vec![format!(
                "{name}: read {} items where an error saying `{want}` was expected",
                x.items.len()
            )]
        }
        (Ok(x), _) => x,
    };
    let repaired = expected["repaired"].as_bool().unwrap_or(false);
    if extraction.repaired.is_some() != repaired {
        problems.push(format!(
            "{name}: repaired = {:?}, expected {repaired}",
            extraction.repaired
        ));
    }
    let items = &extraction.items;
    let want = expected["items"].as_array().cloned().unwrap_or_default();
    if items.len() != want.len() {
        problems.push(format!(
            "{name}: {} items, expected {}: {items:#?}",
            items.len(),
            want.len()
        ));
        return problems;
    }
    for (i, (item, want)) in items.iter().zip(&want).enumerate() {
        for (key, value) in want.as_object().unwrap() {
            let got = field(item, key);
            let ok = match (key.as_str(), value, &got) {
                ("published_at", Value::String(w), Some(g)) => {
                    chrono::DateTime::parse_from_rfc3339(w).unwrap()
                        == chrono::DateTime::parse_from_rfc3339(g).unwrap()
                }
                (_, Value::String(w), Some(g)) => w == g,
                (_, Value::Null, None) => true,
                _ => false,
            };
            if !ok {
                problems.push(format!(
                    "{name}: item {i} {key} = {got:?}, expected {value}"
                ));
            }
        }
    }
    let guids: HashSet<&str> = items.iter().map(|i| i.guid.as_str()).collect();
    if expected["distinct_guids"].as_bool() == Some(true) && guids.len() != items.len() {
        problems.push(format!("{name}: guids collide: {items:#?}"));
    }
    problems
}

#[test]
fn every_fixture_reads_as_a_lenient_reader_reads_it() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 20, "fixtures missing: {}", fixtures.len());
    let problems: Vec<String> = fixtures
        .iter()
        .flat_map(|(name, data, expected)| check(name, data, expected))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn guids_are_stable_between_polls() {
    for (name, data, _) in fixtures() {
        let bytes = std::fs::read(&data).unwrap();
        let url = format!("http://feeds.example.cn/{name}");
        let source = SourceConfig::new(&name, SourceKind::Feed, &url, Channel::News);
        let page = url::Url::parse(&url).unwrap();
        let guids = || {
            extract(&source, &bytes, None, &page)
                .map(|x| x.items.into_iter().map(|i| i.guid).collect::<Vec<_>>())
                .ok()
        };
        assert_eq!(guids(), guids(), "{name}");
    }
}

/// No item is lost to a shared link, and one that had the link to itself keeps its guid
/// when newer items with the same link come in above it (feeds list the newest first).
#[test]
fn items_sharing_a_link_stay_apart_and_the_oldest_keeps_its_guid() {
    let item = |title: &str| {
        format!("<item><title>{title}</title><link>http://x.example.cn/list</link></item>")
    };
    let feed = |items: &[&str]| {
        let items: String = items.iter().map(|t| item(t)).collect();
        format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>")
    };
    let source = SourceConfig::new(
        "s",
        SourceKind::Feed,
        "http://x.example.cn/rss",
        Channel::Forum,
    );
    let page = url::Url::parse("http://x.example.cn/rss").unwrap();
    let read = |text: String| {
        extract(&source, text.as_bytes(), None, &page)
            .unwrap()
            .items
            .into_iter()
            .map(|i| (i.title.unwrap(), i.guid))
            .collect::<Vec<_>>()
    };
    let before = read(feed(&["冰箱不制冷"]));
    assert_eq!(before[0].1, "http://x.example.cn/list");
    let after = read(feed(&["洗衣机漏水", "空调漏水", "冰箱不制冷"]));
    assert_eq!(after.len(), 3);
    assert_eq!(after[2], before[0], "the older item keeps its guid");
    let guids: HashSet<&String> = after.iter().map(|(_, g)| g).collect();
    assert_eq!(guids.len(), 3, "{after:?}");
    assert!(
        after[0].1.starts_with("http://x.example.cn/list#sha256:"),
        "{after:?}"
    );
}
