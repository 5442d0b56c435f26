//! The pages' building blocks: the layout every page extends (`present/templates/page.html`),
//! evidence marks in scraped text, and the engagement chart. Pages are templates that escape
//! by default; only marked quotes and the chart are markup made here, from escaped text.

use super::auth::Session;
use crate::alert::render::{is_web_url, mark_html};
use crate::config::Role;
use crate::present::text::truncate;
use crate::present::{Args, Ui};
use crate::store::Sighting;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, FixedOffset};
use minijinja::Value;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;

/// Scraped text shown on a page is cut to this many characters.
pub const QUOTE_CHARS: usize = 1200;

/// Phone first: one column at 390 px, nothing wider than the screen (long words and URLs
/// break, tables scroll inside their box), two columns for a pair where there is room.
const STYLE: &str = "*{box-sizing:border-box}\
body{font-family:-apple-system,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif;margin:0;color:#111;background:#f6f6f4;overflow-wrap:anywhere;line-height:1.45}\
nav{background:#222;color:#eee;padding:.6em 1em;display:flex;flex-wrap:wrap;gap:.3em 1em;align-items:center}nav a{color:#fff}.who{margin-left:auto}\
main{max-width:1200px;margin:auto;padding:.75em}h1{font-size:1.4em}h2{font-size:1.15em}\
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,22em),1fr));gap:1em;background:#fff;border:1px solid #ddd;margin:1em 0;padding:.75em}\
.unlinked,.link{background:#fff;border:1px solid #ddd;margin:.75em 0;padding:.75em}\
.quote{white-space:pre-wrap;background:#fafafa;padding:.5em;border-left:3px solid #ccc}mark{background:#ffe066}\
.scroll{max-width:100%;overflow-x:auto}table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
.inline{display:inline}.actions{margin:.5em 0}.actions button,.filters button{margin:.2em .5em .2em 0;padding:.5em 1em;min-height:2.5em}\
.filters label,.actions label{display:inline-block;margin:.2em .5em .2em 0}input,select{max-width:100%;font-size:1em}\
button.confirm{background:#166534;color:#fff;border:0}button.reject,button.unlink,button.close{background:#fff;color:#991b1b;border:1px solid #991b1b}\
.flash{background:#ecfdf5;border:1px solid #166534;padding:.6em}.muted{color:#666}.state-confirmed{color:#166534}.state-rejected{color:#991b1b}.state-candidate{color:#92400e}\
.chart{width:100%;max-width:640px;height:auto}.error{color:#991b1b}";

/// Who is signed in, for the navigation.
#[derive(Serialize)]
struct Who<'a> {
    name: &'a str,
    role: &'static str,
    csrf: &'a str,
}

#[derive(Serialize)]
struct PageView<'a, C: Serialize> {
    title: &'a str,
    /// Markup of our own: CSS is not HTML-escaped inside <style>.
    style: Value,
    who: Option<Who<'a>>,
    #[serde(flatten)]
    content: C,
}

/// A page from `template` (which extends page.html) with the navigation for `session`.
pub fn page<C: Serialize>(
    ui: &Ui,
    template: &str,
    title: &str,
    session: Option<&Session>,
    content: C,
) -> Response {
    let view = PageView {
        title,
        style: Value::from_safe_string(STYLE.to_string()),
        who: session.map(|s| Who {
            name: &s.principal.name,
            role: s.principal.role.as_str(),
            csrf: &s.csrf,
        }),
        content,
    };
    match ui.render(template, &view) {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render a page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The error page: the status and what went wrong, in words.
pub fn failure(
    ui: &Ui,
    session: Option<&Session>,
    status: StatusCode,
    message: String,
) -> Response {
    #[derive(Serialize)]
    struct Failure {
        code: u16,
        message: String,
    }
    let title = ui.t("error-title", Args::new().num("code", status.as_u16()));
    let mut response = page(
        ui,
        "error.html",
        &title,
        session,
        Failure {
            code: status.as_u16(),
            message,
        },
    );
    *response.status_mut() = status;
    response
}

pub fn may_decide(session: &Session) -> bool {
    session.principal.may(Role::Lead)
}

/// Scraped text, cut to size and escaped, with the evidence marked: markup for a template.
pub fn quote(text: &str, marks: &[String]) -> Value {
    Value::from_safe_string(mark_html(&truncate(text, QUOTE_CHARS), marks))
}

/// A scraped URL as a page shows it: linked only when it is a web address (a `javascript:`
/// URL must never become a link), its text bounded.
#[derive(Debug, Serialize)]
pub struct OutsideLink {
    pub url: Option<String>,
    pub url_shown: Option<String>,
}

pub fn outside_link(url: Option<&str>) -> OutsideLink {
    OutsideLink {
        url: url.filter(|u| is_web_url(u)).map(String::from),
        url_shown: url.map(|u| truncate(u, 80)),
    }
}

/// The case's total interactions over time: at each sighting of any of its items, the sum
/// of every item's latest count. An inline SVG line chart with its extremes labelled.
pub fn engagement_chart(ui: &Ui, items: &[(i64, &[Sighting])]) -> Value {
    let mut sightings: Vec<(DateTime<FixedOffset>, i64, i64)> = items
        .iter()
        .flat_map(|(id, s)| {
            // A row that stood for several sightings is drawn flat to its last one.
            s.iter().flat_map(move |s| {
                let n = s.engagement.interactions();
                let until = (s.last_seen > s.at).then_some((s.last_seen, *id, n));
                std::iter::once((s.at, *id, n)).chain(until)
            })
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
        return Value::from_safe_string(format!(
            "<p class=\"muted\">{}</p>",
            crate::present::text::escape_html(&ui.word("chart-empty"))
        ));
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
            ui.when(point.0),
            ui.number(point.1)
        );
    }
    let label = crate::present::text::escape_html(&ui.word("chart-label"));
    Value::from_safe_string(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100%\" viewBox=\"0 0 {W} {H}\" \
         role=\"img\" aria-label=\"{label}\" class=\"chart\">\
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
        from = ui.local(first.0).format("%m-%d %H:%M"),
        to = ui.local(last.0).format("%m-%d %H:%M"),
        path = path.trim_end(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Engagement;

    fn sighting(at: &str, likes: i64) -> Sighting {
        let at = DateTime::parse_from_rfc3339(at).unwrap();
        Sighting {
            at,
            last_seen: at,
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
            html.to_string(),
            "&lt;script&gt;x&lt;/script&gt; 订单<mark>XC-1</mark> 已曝光"
        );
    }

    #[test]
    fn only_web_urls_become_links() {
        let js = outside_link(Some("javascript:alert(1)"));
        assert_eq!(js.url, None);
        assert_eq!(js.url_shown.as_deref(), Some("javascript:alert(1)"));
        let web = outside_link(Some("https://a.example/p"));
        assert_eq!(web.url.as_deref(), Some("https://a.example/p"));
    }

    #[test]
    fn the_chart_sums_each_items_latest_count() {
        let a = [
            sighting("2026-03-05T10:00:00+08:00", 10),
            sighting("2026-03-05T12:00:00+08:00", 30),
        ];
        let b = [sighting("2026-03-05T11:00:00+08:00", 5)];
        let ui = Ui::default();
        let svg = engagement_chart(&ui, &[(1, &a), (2, &b)]).to_string();
        assert!(svg.starts_with("<svg"), "{svg}");
        // 10, then 10 + 5, then 30 + 5: the top label is the largest total.
        assert!(svg.contains(">35</text>"), "{svg}");
        assert!(
            svg.contains("<title>2026-03-05 11:00 · 15</title>"),
            "{svg}"
        );
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(engagement_chart(&ui, &[])
            .to_string()
            .contains("还没有互动数据"));
    }
}
