//! RSS 0.9x / 1.0 / 2.0, Atom and JSON Feed through feed-rs.

use super::{content_guid, declare_utf8, non_empty, ExtractError, ExtractedItem};
use crate::model::Engagement;

/// Reads already-decoded feed text into items, resolving relative links against `page_url`.
pub fn extract_feed(text: &str, page_url: &url::Url) -> Result<Vec<ExtractedItem>, ExtractError> {
    // The text is UTF-8 by now; a prolog still saying GBK would make the XML reader decode
    // it a second time.
    let text = declare_utf8(text);
    let parser = feed_rs::parser::Builder::new()
        // feed-rs invents an id when an entry has none (a hash of link and title, or a
        // random UUID), which would look like a real guid to us and, for the UUID, change
        // on every poll. An empty id lets us see that none was given and choose our own.
        .id_generator(|_, _, _| String::new())
        // Cargo unifies features: should anything enable feed-rs's `sanitize`, content
        // would be rewritten by ammonia. Markup is the normalize stage's business.
        .sanitize_content(false)
        .base_uri(Some(page_url.as_str()))
        .build();
    let feed = parser
        .parse(text.as_bytes())
        .map_err(|e| ExtractError::Feed(e.to_string()))?;

    let items = feed
        .entries
        .into_iter()
        .filter_map(|entry| {
            let title = entry.title.as_ref().and_then(|t| non_empty(&t.content));
            let body = entry
                .content
                .as_ref()
                .and_then(|c| c.body.as_deref())
                .and_then(non_empty)
                .or_else(|| entry.summary.as_ref().and_then(|s| non_empty(&s.content)));
            if title.is_none() && body.is_none() {
                // Nothing to detect a brand in, and nothing to tell it apart by.
                return None;
            }
            let url = entry
                .links
                .first()
                .and_then(|l| non_empty(&l.href))
                .map(|href| resolve(page_url, &href));
            let guid = non_empty(&entry.id)
                .or_else(|| url.clone())
                .unwrap_or_else(|| content_guid(title.as_deref(), body.as_deref()));
            let author = entry.authors.first().and_then(author_name);
            let published_at = entry.published.or(entry.updated).map(|t| t.fixed_offset());
            Some(ExtractedItem {
                guid,
                url,
                title,
                body,
                author,
                author_followers: None,
                published_at,
                engagement: Engagement::default(),
            })
        })
        .collect();
    Ok(items)
}

/// feed-rs reads RSS `<author>` as an e-mail address ("lawyer@boyer.net (Lawyer Boyer)"),
/// files the text under `email` and names the person "author". Chinese feeds put a plain
/// name there, so the text is what we want — or the name in parentheses, when given.
fn author_name(person: &feed_rs::model::Person) -> Option<String> {
    match person.email.as_deref() {
        Some(text) if person.name == "author" => {
            let in_parens = text
                .split_once('(')
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .and_then(non_empty);
            in_parens.or_else(|| non_empty(text))
        }
        _ => non_empty(&person.name),
    }
}

fn resolve(base: &url::Url, href: &str) -> String {
    base.join(href)
        .map(String::from)
        .unwrap_or_else(|_| href.to_string())
}
