//! Reads one file the way a feed source reads a fetched body and prints what it yields, as
//! one JSON object: `{"items": [{"guid", "title", "url"}], "repaired"}` or `{"error"}`.
//! Titles are given as plain text (markup dropped), as alerts show them.
//!
//! scripts/feedparser_corpus.py runs it over feedparser's test files and compares; it is
//! no benchmark and `cargo test` does not run it.
//!
//!     cargo build --bench feedparser_corpus
//!     target/debug/deps/feedparser_corpus-* FILE [BASE_URL]

use outcry::config::{SourceConfig, SourceKind};
use outcry::model::Channel;
use serde_json::json;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let Some(path) = args.next() else {
        eprintln!("usage: feedparser_corpus FILE [BASE_URL]");
        return ExitCode::FAILURE;
    };
    let base = args
        .next()
        .unwrap_or_else(|| "http://corpus.invalid/".into());
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(page) = url::Url::parse(&base) else {
        eprintln!("{base}: not a URL");
        return ExitCode::FAILURE;
    };
    let source = SourceConfig::new("corpus", SourceKind::Feed, page.as_str(), Channel::News);
    let out = match outcry::extract::extract(&source, &bytes, None, &page) {
        Ok(extraction) => {
            let items: Vec<_> = extraction
                .items
                .iter()
                .map(|item| {
                    json!({
                        "guid": item.guid,
                        "url": item.url,
                        "title": item.title.as_deref().map(outcry::normalize::html_to_text),
                        "has_body": item.body.is_some(),
                    })
                })
                .collect();
            json!({"items": items, "repaired": extraction.repaired})
        }
        Err(e) => json!({"error": e.to_string()}),
    };
    println!("{out}");
    ExitCode::SUCCESS
}
