//! The pages' building blocks: one layout, one escaping helper (every scraped or typed string
//! goes through `e`), evidence marks and the engagement chart. Plain format! strings, no
//! template engine: the pages are few and small.

use super::auth::Session;
use crate::alert::render::{is_web_url, mark_html};
use crate::config::Role;
use crate::present::text::{escape_html, truncate};
use crate::store::Sighting;
use axum::response::Html;
use chrono::{DateTime, FixedOffset};
use std::collections::HashMap;
use std::fmt::Write;

/// Scraped text shown on a page is cut to this many characters.
pub const QUOTE_CHARS: usize = 1200;

pub fn e(text: &str) -> String {
    escape_html(text)
}

/// A page with the navigation; `body` must already be escaped HTML.
pub fn page(title: &str, session: Option<&Session>, body: &str) -> Html<String> {
    let nav = match session {
        Some(s) => format!(
            "<nav><a href=\"/review\">Review queue</a> · <a href=\"/brands\">Brands</a>\
             <span class=\"who\">{} ({})\
             <form method=\"post\" action=\"/logout\" class=\"inline\">{}<button>Sign out</button></form></span></nav>",
            e(&s.principal.name),
            s.principal.role.as_str(),
            csrf_field(s),
        ),
        None => String::new(),
    };
    Html(format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · outcry</title><style>{STYLE}</style></head><body>{nav}<main>{body}</main></body></html>",
        e(title)
    ))
}

const STYLE: &str = "body{font-family:-apple-system,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif;margin:0;color:#111;background:#f6f6f4}\
nav{background:#222;color:#eee;padding:.6em 1em}nav a{color:#fff}.who{float:right}\
main{max-width:1200px;margin:auto;padding:1em}.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em;background:#fff;border:1px solid #ddd;margin:1em 0;padding:1em}\
.quote{white-space:pre-wrap;background:#fafafa;padding:.5em;border-left:3px solid #ccc}mark{background:#ffe066}\
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
.inline{display:inline}.actions button{margin-right:.5em}.muted{color:#666}.state-confirmed{color:#166534}.state-rejected{color:#991b1b}.state-candidate{color:#92400e}\
.error{color:#991b1b}";

pub fn csrf_field(session: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        e(&session.csrf)
    )
}

pub fn may_decide(session: &Session) -> bool {
    session.principal.may(Role::Lead)
}

/// Scraped text, cut to size and escaped, with the evidence marked.
pub fn quote(text: &str, marks: &[String]) -> String {
    mark_html(&truncate(text, QUOTE_CHARS), marks)
}

/// A link to a scraped URL, or just its text when it is not a web address (a
/// `javascript:` URL must never become a link).
pub fn outside_link(url: &str) -> String {
    let shown = e(&truncate(url, 80));
    if is_web_url(url) {
        format!(
            "<a href=\"{}\" rel=\"noopener noreferrer nofollow\">{shown}</a>",
            e(url)
        )
    } else {
        shown
    }
}

/// The case's total interactions over time: at each sighting of any of its items, the sum
/// of every item's latest count. An inline SVG line chart with its extremes labelled.
pub fn engagement_chart(items: &[(i64, &[Sighting])]) -> String {
    let mut sightings: Vec<(DateTime<FixedOffset>, i64, i64)> = items
        .iter()
        .flat_map(|(id, s)| {
            s.iter()
                .map(move |s| (s.at, *id, s.engagement.interactions()))
        })
        .collect();
    sightings.sort_by_key(|(at, id, _)| (*at, *id));
    let mut latest: HashMap<i64, i64> = HashMap::new();
    let points: Vec<(DateTime<FixedOffset>, i64)> = sightings
        .into_iter()
        .map(|(at, id, n)| {
            latest.insert(id, n);
            (at, latest.values().sum())
        })
        .collect();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return "<p class=\"muted\">No engagement seen yet.</p>".into();
    };
    const W: f64 = 640.0;
    const H: f64 = 200.0;
    const PAD: f64 = 40.0;
    let span = (last.0 - first.0).num_seconds().max(1) as f64;
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let xy = |(at, n): &(DateTime<FixedOffset>, i64)| {
        (
            PAD + (*at - first.0).num_seconds() as f64 / span * (W - 2.0 * PAD),
            H - PAD - (*n as f64) / max * (H - 2.0 * PAD),
        )
    };
    let mut path = String::new();
    let mut dots = String::new();
    for point in &points {
        let (x, y) = xy(point);
        let _ = write!(path, "{x:.1},{y:.1} ");
        let _ = write!(
            dots,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"><title>{} · {}</title></circle>",
            point.0.format("%Y-%m-%d %H:%M"),
            point.1
        );
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" \
         role=\"img\" aria-label=\"interactions over time\" class=\"chart\">\
         <rect width=\"{W}\" height=\"{H}\" fill=\"#fff\" stroke=\"#ddd\"/>\
         <line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/>\
         <line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\" stroke=\"#999\"/>\
         <text x=\"4\" y=\"{t}\" font-size=\"11\">{max}</text><text x=\"4\" y=\"{b}\" font-size=\"11\">0</text>\
         <text x=\"{PAD}\" y=\"{l}\" font-size=\"11\">{from}</text>\
         <text x=\"{r}\" y=\"{l}\" font-size=\"11\" text-anchor=\"end\">{to}</text>\
         <polyline fill=\"none\" stroke=\"#c2410c\" stroke-width=\"2\" points=\"{path}\"/>{dots}</svg>",
        b = H - PAD,
        r = W - PAD,
        t = PAD + 4.0,
        l = H - PAD + 16.0,
        max = max as i64,
        from = first.0.format("%m-%d %H:%M"),
        to = last.0.format("%m-%d %H:%M"),
        path = path.trim_end(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Engagement;

    fn sighting(at: &str, likes: i64) -> Sighting {
        Sighting {
            at: DateTime::parse_from_rfc3339(at).unwrap(),
            engagement: Engagement {
                likes: Some(likes),
                ..Engagement::default()
            },
            author_followers: None,
        }
    }

    #[test]
    fn quotes_are_escaped_and_marked() {
        let html = quote("<script>x</script> 订单XC-1 已曝光", &["XC-1".into()]);
        assert_eq!(
            html,
            "&lt;script&gt;x&lt;/script&gt; 订单<mark>XC-1</mark> 已曝光"
        );
    }

    #[test]
    fn only_web_urls_become_links() {
        assert!(outside_link("javascript:alert(1)").starts_with("javascript"));
        assert!(outside_link("https://a.example/\"><x>")
            .starts_with("<a href=\"https://a.example/&quot;&gt;&lt;x&gt;\""));
    }

    #[test]
    fn the_chart_sums_each_items_latest_count() {
        let a = [
            sighting("2026-03-05T10:00:00+08:00", 10),
            sighting("2026-03-05T12:00:00+08:00", 30),
        ];
        let b = [sighting("2026-03-05T11:00:00+08:00", 5)];
        let svg = engagement_chart(&[(1, &a), (2, &b)]);
        assert!(svg.starts_with("<svg"), "{svg}");
        // 10, then 10 + 5, then 30 + 5: the top label is the largest total.
        assert!(svg.contains(">35</text>"), "{svg}");
        assert!(
            svg.contains("<title>2026-03-05 11:00 · 15</title>"),
            "{svg}"
        );
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(engagement_chart(&[]).contains("No engagement"));
    }
}
