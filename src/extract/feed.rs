//! RSS 0.9x / 1.0 / 2.0 and Atom 0.3 / 1.0 through our forgiving XML reader (xml.rs), JSON
//! Feed through feed-rs.
//!
//! Read the way lenient readers (feedparser) read them: any `version`, namespaces where a
//! feed puts them or leaves them out, the link an Atom entry's `rel` names, the usual
//! extension fields (Dublin Core, Media RSS, iTunes) where the core ones are missing.

use super::xml::{self, Element, Ns, Repairs};
use super::{content_guid, declare_utf8, non_empty, ExtractError, ExtractedItem};
use crate::model::Engagement;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use std::collections::HashMap;
use url::Url;

/// The feed's own elements: no namespace, a default one, RSS's or Atom's.
const CORE: &[Ns] = &[Ns::Default, Ns::Rss, Ns::Atom];

/// A feed's items, and what had to be repaired to read them.
#[derive(Debug, Default)]
pub struct FeedRead {
    pub items: Vec<ExtractedItem>,
    pub repairs: Repairs,
}

/// Reads already-decoded feed text into items, resolving relative links against `page_url`.
/// Ill-formed XML is repaired and read (see [`FeedRead::repairs`]); only a document that
/// is no feed at all is an error.
pub fn extract_feed(text: &str, page_url: &Url) -> Result<FeedRead, ExtractError> {
    let body = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if body.starts_with('{') {
        return json_feed(text, page_url);
    }
    let doc = xml::parse(body);
    let root = doc.roots.iter().find(|r| feed_kind(r).is_some());
    let Some(root) = root else {
        return Err(ExtractError::Feed(match doc.roots.first() {
            Some(other) => format!(
                "the document is <{}>, not <rss>, <rdf:RDF> or <feed>",
                other.name.chars().take(40).collect::<String>()
            ),
            None => "no XML element in the document".into(),
        }));
    };
    let base = with_base(page_url, root);
    let mut raw = Vec::new();
    match feed_kind(root) {
        Some(Kind::Atom) => collect(root, "entry", &base, &mut |e, base| {
            raw.push(atom_entry(e, base))
        }),
        _ => collect(root, "item", &base, &mut |e, base| {
            raw.push(rss_item(e, base))
        }),
    }
    Ok(FeedRead {
        items: assign_guids(raw),
        repairs: doc.repairs,
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Rss,
    Atom,
}

fn feed_kind(root: &Element) -> Option<Kind> {
    let local = root.local();
    if root.ns == Ns::Atom || (root.ns.is_core() && local.eq_ignore_ascii_case("feed")) {
        return local.eq_ignore_ascii_case("feed").then_some(Kind::Atom);
    }
    let rss = root.ns.is_core()
        && (local.eq_ignore_ascii_case("rss") || local.eq_ignore_ascii_case("channel"));
    (rss || root.is(&[Ns::Rdf], "RDF")).then_some(Kind::Rss)
}

/// Every `local` element below `parent`, however deep a broken document nests it, and not
/// inside another one.
fn collect<'a>(
    parent: &'a Element,
    local: &str,
    base: &Url,
    found: &mut dyn FnMut(&'a Element, Url),
) {
    for child in parent.elements() {
        let base = with_base(base, child);
        if child.is(CORE, local) {
            found(child, base);
        } else {
            collect(child, local, &base, found);
        }
    }
}

/// An item as read, before its guid is settled.
struct RawItem {
    /// The feed's own id for the item.
    id: Option<String>,
    /// The link the item's guid falls back to: the first one, as it always was, so guids
    /// do not change; `url` is the one `rel` names.
    guid_link: Option<String>,
    url: Option<String>,
    title: Option<String>,
    body: Option<String>,
    author: Option<String>,
    published_at: Option<DateTime<FixedOffset>>,
}

/// Guids: the feed's id, else the link, else a hash of the text. Items without an id that
/// share one link (a list page, a site's front page) would collapse into one under the
/// link, so all but the last of them hash the link with their text. The last keeps the
/// link: feeds list the newest first, so an item that had the link to itself keeps its
/// guid when a newer one with the same link comes in above it.
fn assign_guids(raw: Vec<RawItem>) -> Vec<ExtractedItem> {
    let mut remaining: HashMap<String, usize> = HashMap::new();
    for item in raw.iter().filter(|i| i.id.is_none()) {
        if let Some(link) = &item.guid_link {
            *remaining.entry(link.clone()).or_default() += 1;
        }
    }
    raw.into_iter()
        .filter(|item| item.title.is_some() || item.body.is_some())
        .map(|item| {
            let (title, body) = (item.title.as_deref(), item.body.as_deref());
            let guid = match (item.id, &item.guid_link) {
                (Some(id), _) => id,
                (None, Some(link)) => {
                    let left = remaining.get_mut(link).map_or(0, |n| {
                        *n -= 1;
                        *n
                    });
                    if left == 0 {
                        link.clone()
                    } else {
                        let text = format!("{}\u{1f}{}", title.unwrap_or(""), body.unwrap_or(""));
                        format!("{link}#{}", content_guid(Some(link), Some(&text)))
                    }
                }
                (None, None) => content_guid(title, body),
            };
            ExtractedItem {
                guid,
                url: item.url,
                title: item.title,
                body: item.body,
                author: item.author,
                author_followers: None,
                published_at: item.published_at,
                engagement: Engagement::default(),
            }
        })
        .collect()
}

fn rss_item(item: &Element, base: Url) -> RawItem {
    let first = |ns: &[Ns], local: &str| {
        item.elements()
            .filter(|e| e.is(ns, local))
            .find_map(|e| non_empty(&e.inner_markup()))
    };
    let title = first(CORE, "title")
        .or_else(|| first(&[Ns::Dc], "title"))
        .or_else(|| first(&[Ns::Media], "title"))
        .or_else(|| media_group(item, "title"));
    let body = first(&[Ns::Content], "encoded")
        .or_else(|| first(CORE, "description"))
        .or_else(|| first(&[Ns::Media], "description"))
        .or_else(|| media_group(item, "description"))
        .or_else(|| first(&[Ns::Itunes], "summary"))
        .or_else(|| first(&[Ns::Dc], "description"))
        // Older and rarer places: an XHTML `<body>`, Userland's `<fullitem>`, CDF's
        // `<abstract>`.
        .or_else(|| first(&[Ns::Default, Ns::Rss, Ns::Xhtml], "body"))
        .or_else(|| first(CORE, "fullitem"))
        .or_else(|| first(CORE, "abstract"));
    // The text of `<link>`; an Atom `<atom:link href>` where that is missing.
    let text_link = item
        .elements()
        .filter(|e| e.is(&[Ns::Default, Ns::Rss], "link"))
        .find_map(|e| non_empty(&e.text()).map(|href| resolve(&with_base(&base, e), &href)));
    let guid = item.elements().find(|e| e.is(CORE, "guid"));
    let id = guid.and_then(|g| non_empty(&g.text()));
    let permalink = guid
        .filter(|g| {
            g.attr("isPermaLink")
                .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"))
        })
        .and_then(|g| non_empty(&g.text()))
        .filter(|g| is_web_url(g));
    let url = text_link
        .clone()
        .or_else(|| atom_link(item, &base))
        .or(permalink)
        // CDF puts the link on the item itself.
        .or_else(|| {
            item.attr("href")
                .and_then(non_empty)
                .map(|href| resolve(&base, &href))
        });
    // RSS 1.0 names each item in `rdf:about`: its id when it has no link (with a link, the
    // link always was the guid).
    let id = id.or_else(|| {
        text_link
            .is_none()
            .then(|| item.attr("rdf:about").and_then(non_empty))
            .flatten()
    });
    let author = item
        .elements()
        .find_map(|e| {
            if e.is(CORE, "author") {
                non_empty(&e.text()).map(|t| person(&t))
            } else if e.is(&[Ns::Dc], "creator") {
                non_empty(&e.inner_markup())
            } else {
                None
            }
        })
        .or_else(|| first(&[Ns::Itunes], "author"))
        .or_else(|| first(&[Ns::Dc], "contributor"));
    let published_at = [
        (CORE, "pubDate"),
        (&[Ns::Dc][..], "date"),
        (&[Ns::DcTerms][..], "issued"),
        (&[Ns::DcTerms][..], "created"),
        (CORE, "published"),
        (CORE, "updated"),
        (&[Ns::DcTerms][..], "modified"),
    ]
    .iter()
    .find_map(|(ns, local)| item.child(ns, local).and_then(|e| parse_date(&e.text())));
    RawItem {
        id,
        guid_link: text_link,
        url,
        title,
        body,
        author,
        published_at,
    }
}

/// `<media:group>` holds YouTube's descriptions.
fn media_group(item: &Element, local: &str) -> Option<String> {
    item.elements()
        .filter(|e| e.is(&[Ns::Media], "group"))
        .flat_map(|g| g.elements())
        .filter(|e| e.is(&[Ns::Media], local))
        .find_map(|e| non_empty(&e.inner_markup()))
}

fn atom_entry(entry: &Element, base: Url) -> RawItem {
    let text = |local: &str| {
        entry
            .elements()
            .filter(|e| e.is(CORE, local))
            .find_map(atom_text)
    };
    let title = text("title")
        .or_else(|| {
            entry
                .elements()
                .filter(|e| e.is(&[Ns::Dc, Ns::Media], "title"))
                .find_map(|e| non_empty(&e.inner_markup()))
        })
        .or_else(|| media_group(entry, "title"));
    let body = text("content")
        .or_else(|| text("summary"))
        .or_else(|| media_group(entry, "description"));
    let guid_link = entry
        .elements()
        .filter(|e| e.is(CORE, "link"))
        .find_map(|l| link_href(l, &base));
    let author = entry
        .elements()
        .filter(|e| e.is(CORE, "author"))
        .find_map(|a| {
            a.child(CORE, "name")
                .and_then(|n| non_empty(&n.text()))
                .or_else(|| non_empty(&a.text()))
        })
        .or_else(|| {
            entry
                .child(&[Ns::Dc], "creator")
                .and_then(|e| non_empty(&e.text()))
        });
    let published_at = ["published", "issued", "created", "updated", "modified"]
        .iter()
        .find_map(|local| entry.child(CORE, local).and_then(|e| parse_date(&e.text())))
        .or_else(|| {
            entry
                .child(&[Ns::Dc], "date")
                .and_then(|e| parse_date(&e.text()))
        });
    RawItem {
        id: entry.child(CORE, "id").and_then(|e| non_empty(&e.text())),
        guid_link,
        url: atom_link(entry, &base),
        title,
        body,
        author,
        published_at,
    }
}

/// The link a reader follows: Blogger lists `edit`, `self` and `replies` links before the
/// `alternate` one. An HTML alternate first, then any alternate.
fn atom_link(parent: &Element, base: &Url) -> Option<String> {
    let alternates: Vec<&Element> = parent
        .elements()
        .filter(|e| e.is(&[Ns::Atom, Ns::Default], "link"))
        .filter(|e| {
            e.attr("rel")
                .is_none_or(|r| r.trim().is_empty() || r.trim().eq_ignore_ascii_case("alternate"))
        })
        .collect();
    let html = |e: &&&Element| {
        e.attr("type").is_none_or(|t| {
            let t = t.trim().to_ascii_lowercase();
            t.is_empty() || t == "text/html" || t == "application/xhtml+xml"
        })
    };
    alternates
        .iter()
        .filter(html)
        .chain(alternates.iter())
        .find_map(|l| link_href(l, base))
}

fn link_href(link: &Element, base: &Url) -> Option<String> {
    let href = link.attr("href").and_then(non_empty)?;
    Some(resolve(&with_base(base, link), &href))
}

/// An Atom text construct as markup: `html` as given, `xhtml` written back (text escaped
/// again), plain text escaped. Odd `type`s (`""`, `TEXT`, a MIME type) are read as the
/// nearest of the three; Atom 0.3's `mode` says the same.
fn atom_text(e: &Element) -> Option<String> {
    let ty = e
        .attr("type")
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let mode = e
        .attr("mode")
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let html = ty == "html" || ty.ends_with("/html");
    // Atom carries any other media type base64-encoded (Atom 0.3 says so in `mode`).
    let base64 =
        mode == "base64" || (ty.contains('/') && !ty.starts_with("text/") && !ty.ends_with("+xml"));
    let markup = if base64 {
        let decoded = decode_base64(&e.text()).unwrap_or_default();
        if html {
            decoded
        } else {
            xml::escape(&decoded)
        }
    } else if ty == "xhtml" || ty == "application/xhtml+xml" || mode == "xml" {
        // The wrapping <div> belongs to the format, not the text.
        let mut elements = e.elements();
        match (elements.next(), elements.next()) {
            (Some(div), None) if div.local() == "div" && e.text().trim() == div.text().trim() => {
                div.inner_xhtml()
            }
            _ => e.inner_xhtml(),
        }
    } else if html || mode == "escaped" {
        e.inner_markup()
    } else {
        xml::escape(&e.text())
    };
    non_empty(&markup)
}

/// Standard base64, whitespace ignored; `None` if it is not, or not UTF-8 text.
fn decode_base64(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push(((acc >> bits) & 0xff) as u8);
        }
    }
    String::from_utf8(bytes).ok()
}

/// RSS `<author>` is meant as an e-mail address ("lawyer@boyer.net (Lawyer Boyer)");
/// Chinese feeds put a plain name there. The name in parentheses when given, else the text.
fn person(text: &str) -> String {
    text.split_once('(')
        .and_then(|(_, rest)| rest.trim_end().strip_suffix(')'))
        .and_then(non_empty)
        .unwrap_or_else(|| text.trim().to_string())
}

fn with_base(base: &Url, e: &Element) -> Url {
    // CDF writes `BASE`.
    e.attr("xml:base")
        .or_else(|| e.attr("base"))
        .and_then(|b| base.join(b.trim()).ok())
        .unwrap_or_else(|| base.clone())
}

fn is_web_url(text: &str) -> bool {
    Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

fn resolve(base: &Url, href: &str) -> String {
    base.join(href)
        .map(String::from)
        .unwrap_or_else(|_| href.to_string())
}

/// RFC 3339 and RFC 822 dates as feeds write them: long month and day names, `UT`, `Z`,
/// offsets without a colon, a date alone.
fn parse_date(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return Some(t);
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%d %H:%M:%S%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t);
        }
    }
    let utc = FixedOffset::east_opt(0)?;
    if let Some(t) = text
        .strip_suffix('Z')
        .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").ok())
    {
        return t.and_local_timezone(utc).single();
    }
    if let Ok(d) = NaiveDate::parse_from_str(text.get(..10).unwrap_or(text), "%Y-%m-%d") {
        if text.len() == 10 {
            return d.and_hms_opt(0, 0, 0)?.and_local_timezone(utc).single();
        }
    }
    // RFC 822 as written in the wild: the weekday dropped (often wrong or not English),
    // long month names shortened, zone names the parser does not know.
    let without_day = text.split_once(", ").map_or(text, |(_, rest)| rest);
    let mut words: Vec<String> = without_day.split_whitespace().map(str::to_string).collect();
    if let Some(month) = words.get_mut(1) {
        if month.len() > 3 && month.is_char_boundary(3) {
            month.truncate(3);
        }
    }
    if let Some(zone) = words.last_mut() {
        match zone.to_ascii_uppercase().as_str() {
            "UTC" | "UT" | "GMT" | "Z" | "-0000" => *zone = "+0000".into(),
            _ => {}
        }
    }
    let cleaned = words.join(" ");
    ["%d %b %Y %H:%M:%S %z", "%d %b %Y %H:%M %z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(&cleaned, f).ok())
}

fn json_feed(text: &str, page_url: &Url) -> Result<FeedRead, ExtractError> {
    // The text is UTF-8 by now; feed-rs sniffs the format itself.
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
    let raw = feed
        .entries
        .into_iter()
        .map(|entry| {
            let link = entry
                .links
                .first()
                .and_then(|l| non_empty(&l.href))
                .map(|href| resolve(page_url, &href));
            RawItem {
                id: non_empty(&entry.id),
                guid_link: link.clone(),
                url: link,
                title: entry.title.as_ref().and_then(|t| non_empty(&t.content)),
                body: entry
                    .content
                    .as_ref()
                    .and_then(|c| c.body.as_deref())
                    .and_then(non_empty)
                    .or_else(|| entry.summary.as_ref().and_then(|s| non_empty(&s.content))),
                author: entry.authors.first().and_then(|p| non_empty(&p.name)),
                published_at: entry.published.or(entry.updated).map(|t| t.fixed_offset()),
            }
        })
        .collect();
    Ok(FeedRead {
        items: assign_guids(raw),
        repairs: Repairs::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn dates_as_feeds_write_them() {
        let cases = [
            ("2026-11-20T08:15:00+08:00", "2026-11-20T08:15:00+08:00"),
            ("2026-11-20T08:15:00+0800", "2026-11-20T08:15:00+08:00"),
            ("Fri, 20 Nov 2026 09:00:00 GMT", "2026-11-20T09:00:00Z"),
            (
                "Friday, 20 November 2026 09:00:00 UTC",
                "2026-11-20T09:00:00Z",
            ),
            ("Sat, 20 Nov 2026 09:00:00 +0800", "2026-11-20T01:00:00Z"),
            ("20 Nov 2026 09:00 -0500", "2026-11-20T14:00:00Z"),
            ("2026-11-20", "2026-11-20T00:00:00Z"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_date(text), Some(at(want)), "{text}");
        }
        assert_eq!(parse_date("昨天"), None);
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn base64_decodes_text() {
        assert_eq!(
            decode_base64(" RXhhbXBsZSA8Yj5BdG9tPC9iPg==\n").as_deref(),
            Some("Example <b>Atom</b>")
        );
        assert_eq!(decode_base64("5pif6amw").as_deref(), Some("星驰"));
        assert_eq!(decode_base64("not base64!"), None);
    }

    #[test]
    fn rss_author_is_the_name_in_parentheses_or_the_text() {
        assert_eq!(person("kefu@x.cn (投诉小编)"), "投诉小编");
        assert_eq!(person("车主老王"), "车主老王");
    }
}
