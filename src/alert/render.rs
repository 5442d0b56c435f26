//! The alert email's content: subject, plain text and HTML carrying the same facts. Every
//! scraped or typed string is untrusted: escaped in HTML, bounded in size, and links are
//! only emitted for http(s) URLs.

use crate::assess::Lexicon;
use crate::model::{AlertKind, Case, Channel, Engagement};
use crate::normalize::{fold, html_to_text};
use crate::store::CaseItem;
use chrono::{DateTime, FixedOffset};
use std::fmt::Write;
use std::ops::Range;
use std::sync::LazyLock;

const HEADLINE_CHARS: usize = 40;
const QUOTE_CHARS: usize = 280;
const EVIDENCE_SHOWN: usize = 10;
const FIELD_CHARS: usize = 2000;
/// Reasons quote authors and terms from scraped posts.
const REASON_CHARS: usize = 300;
const AUTHOR_CHARS: usize = 60;
const LINK_EVIDENCE_CHARS: usize = 400;
/// Longer URLs are not linked: no real post needs one, and a mail client may choke.
const URL_CHARS: usize = 2048;
/// Timeline rows kept from the start of the story and from its latest turn.
const TIMELINE_HEAD: usize = 4;
const TIMELINE_TAIL: usize = 8;

/// The words that made a post read as a complaint (threats, rage, safety), marked in quotes
/// along with the identifiers and handles that linked it.
static LEXICON: LazyLock<Lexicon> = LazyLock::new(Lexicon::new);

/// Everything an alert says.
#[derive(Debug, Clone)]
pub struct AlertContent {
    pub kind: AlertKind,
    pub brand: String,
    /// None for unlinked alerts.
    pub case: Option<Case>,
    /// Short, from the triggering item.
    pub headline: String,
    /// Why now, with numbers.
    pub reasons: Vec<String>,
    /// The public items, the triggering one first.
    pub evidence: Vec<Evidence>,
    pub created_at: DateTime<FixedOffset>,
}

/// One public item behind an alert.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub source: String,
    pub channel: Channel,
    pub author: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
    /// Plain text, markup already stripped.
    pub text: String,
    pub published_at: Option<DateTime<FixedOffset>>,
    pub first_seen_at: DateTime<FixedOffset>,
    /// The latest sighting, whose counts `engagement` holds.
    pub seen_at: DateTime<FixedOffset>,
    pub engagement: Engagement,
    /// Interactions gained per hour between the last two sightings; None when seen once.
    pub growth_per_hour: Option<f64>,
    /// The author's followers where the source shows them: the channel's reach.
    pub author_followers: Option<i64>,
    pub link_score: Option<f64>,
    pub link_evidence: Vec<String>,
    /// Words to mark in the quote besides the lexicon's (a matched identifier, a handle).
    pub marks: Vec<String>,
}

impl Evidence {
    /// A stored item as alert and digest show it: plain text, its latest counts and growth,
    /// and the identifiers and handles that linked it marked.
    pub fn of(item: &CaseItem) -> Evidence {
        let text = [item.title.as_deref(), item.body.as_deref()]
            .into_iter()
            .flatten()
            .map(|t| html_to_text(t).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        let latest = item.sightings.last();
        Evidence {
            source: item.source.clone(),
            channel: item.channel,
            author: item.author.clone(),
            url: item.url.clone(),
            title: item.title.as_deref().map(|t| html_to_text(t).into_owned()),
            text,
            published_at: item.published_at,
            first_seen_at: item.first_seen_at,
            seen_at: latest.map_or(item.first_seen_at, |s| s.at),
            engagement: latest.map(|s| s.engagement).unwrap_or_default(),
            growth_per_hour: item.growth_per_hour(),
            author_followers: latest.and_then(|s| s.author_followers),
            link_score: Some(item.link_score),
            link_evidence: item.link_evidence.clone(),
            marks: marks_of(&item.link_evidence),
        }
    }
}

/// The matched identifier values and handles, to mark in the quote.
fn marks_of(link_evidence: &[String]) -> Vec<String> {
    link_evidence
        .iter()
        .filter_map(|e| {
            e.strip_prefix("identifier ")
                .or_else(|| e.strip_prefix("author is the complainant's handle "))
                .or_else(|| e.strip_prefix("mentions the complainant's handle "))
        })
        .map(|id| id.split_once(':').map_or(id, |(_, v)| v).to_string())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What to do now, by stage (from the source essays: time is what the team needs).
const CHECKLIST: &[(AlertKind, &[&str])] = &[
    (
        AlertKind::Surfaced,
        &[
            "Name one person to stay with the customer, and call them back today.",
            "Promise a reply time and keep it.",
            "Record the key complaint elements: who, what happened, what they demand, contact.",
            "Prepare a holding statement in case the post spreads.",
        ],
    ),
    (
        AlertKind::Spreading,
        &[
            "Keep the named contact with the customer; settle the demand if it is fair.",
            "Publish the holding statement or reply where the story spreads.",
            "Check for similar complaints: others saying \"me too\" widen the story.",
            "Brief customer service so every channel gives the same answer.",
        ],
    ),
    (
        AlertKind::Viral,
        &[
            "Escalate to the crisis lead now.",
            "Prepare the public statement and a media Q&A.",
            "Watch news pickup and answer journalists from one voice.",
            "Keep the customer's case moving: a solved case is the best statement.",
        ],
    ),
    (
        AlertKind::Unlinked,
        &[
            "Find the complainant: search the case system for the facts in the post.",
            "If it is a new complaint, open a case and name a contact.",
            "Reply publicly with a way to reach you.",
        ],
    ),
];

pub fn checklist(kind: AlertKind) -> &'static [&'static str] {
    CHECKLIST
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, items)| *items)
        .unwrap_or(&[])
}

/// "13812342291" → "138****2291"; already masked numbers stay as they are.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.trim().chars().collect();
    if chars.contains(&'*') {
        return chars.into_iter().collect();
    }
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    if digits >= 7 {
        let head: String = chars.iter().take(3).collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}****{tail}")
    } else {
        let keep = chars.len().min(2);
        let stars = "*".repeat(chars.len() - keep);
        let tail: String = chars[chars.len() - keep..].iter().collect();
        format!("{stars}{tail}")
    }
}

pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn truncate(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// One line, bounded: how every scraped string is shown.
pub fn clip(text: &str, max: usize) -> String {
    truncate(&one_line(text), max)
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The URL when it may be linked: http(s), no whitespace, bounded.
pub fn web_url(url: Option<&str>) -> Option<&str> {
    let url = url?.trim();
    let lower = url.to_ascii_lowercase();
    ((lower.starts_with("http://") || lower.starts_with("https://"))
        && !url.contains(char::is_whitespace)
        && url.len() <= URL_CHARS)
        .then_some(url)
}

pub fn is_web_url(url: &str) -> bool {
    web_url(Some(url)).is_some()
}

/// Escapes `text` and wraps every occurrence of a mark in <mark>.
pub fn mark_html(text: &str, marks: &[String]) -> String {
    Quote::words(text, marks).html()
}

/// A time as people read it: to the minute, in the offset it was recorded in.
pub fn when(t: DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%d %H:%M %:z").to_string()
}

pub fn subject(content: &AlertContent) -> String {
    let headline = clip(&content.headline, HEADLINE_CHARS);
    let brand = clip(&content.brand, 40);
    let subject = match (&content.kind, &content.case) {
        (AlertKind::Unlinked | AlertKind::Digest, _) | (_, None) => {
            format!("[outcry] UNLINKED: {brand} — possible new public complaint — {headline}")
        }
        (kind, Some(case)) => format!(
            "[outcry] {}: {brand} {} — {headline}",
            kind.as_str().to_uppercase(),
            clip(&case.id, 40)
        ),
    };
    subject.replace(['\r', '\n'], " ")
}

pub fn render(content: &AlertContent) -> RenderedEmail {
    RenderedEmail {
        subject: subject(content),
        text: render_text(content),
        html: render_html(content),
    }
}

/// Counts as the source showed them.
pub fn counts(e: &Engagement) -> String {
    let parts: Vec<String> = [
        ("reposts", e.reposts),
        ("comments", e.comments),
        ("likes", e.likes),
        ("views", e.views),
    ]
    .iter()
    .filter_map(|(name, v)| v.map(|v| format!("{name} {v}")))
    .collect();
    if parts.is_empty() {
        "not shown by the source".into()
    } else {
        parts.join(", ")
    }
}

/// Case record fields in display order, phone masked, each bounded.
fn case_fields(case: &Case) -> Vec<(&'static str, String)> {
    let c = &case.complainant;
    let mut fields = vec![
        ("Case", case.id.clone()),
        ("Brand", case.brand.clone()),
        ("Status", case.status.as_str().to_string()),
        ("Severity", case.severity.clone().unwrap_or_default()),
        ("Opened", case.opened_at.map(when).unwrap_or_default()),
        ("Channel", case.channel.clone().unwrap_or_default()),
        ("Summary", case.summary.clone()),
        ("Demand", case.demand.clone()),
        ("Notes", case.notes.clone()),
        ("Complainant", c.name.clone().unwrap_or_default()),
        (
            "Phone",
            c.phone.as_deref().map(mask_phone).unwrap_or_default(),
        ),
        ("Email", c.email.clone().unwrap_or_default()),
        ("Handles", c.handles.join(", ")),
        ("Identifiers", case.identifiers.join(", ")),
    ];
    fields.retain(|(_, v)| !v.trim().is_empty());
    for (_, v) in &mut fields {
        *v = truncate(v, FIELD_CHARS);
    }
    fields
}

/// A quote and the byte ranges in it to mark.
pub struct Quote {
    pub text: String,
    pub marks: Vec<Range<usize>>,
}

impl Quote {
    /// Bounded, on one line, with the lexicon's words and `extra` words marked wherever
    /// their folded forms occur (so "ＸＣ－２０２６" and Traditional script are found too).
    pub fn new(text: &str, extra: &[String]) -> Quote {
        Quote::marking(clip(text, QUOTE_CHARS), extra, true)
    }

    /// `text` as it is, with only `words` marked (in any script or width).
    pub fn words(text: &str, words: &[String]) -> Quote {
        Quote::marking(text.to_string(), words, false)
    }

    fn marking(text: String, extra: &[String], lexicon: bool) -> Quote {
        // Folded char by char, remembering where each folded byte came from.
        let mut folded = String::with_capacity(text.len());
        let mut origin: Vec<Range<usize>> = Vec::with_capacity(text.len());
        for (at, c) in text.char_indices() {
            let f = fold(c.encode_utf8(&mut [0; 4]));
            origin.extend(std::iter::repeat_n(at..at + c.len_utf8(), f.len()));
            folded.push_str(&f);
        }
        let mut words: Vec<String> = extra
            .iter()
            .map(|w| fold(w))
            .filter(|w| !w.is_empty())
            .collect();
        if lexicon {
            words.extend(
                LEXICON
                    .find(&folded)
                    .into_iter()
                    .map(|(_, t)| t.to_string()),
            );
        }
        let mut marks: Vec<Range<usize>> = words
            .iter()
            .flat_map(|w| {
                folded
                    .match_indices(w.as_str())
                    .map(|(at, m)| at..at + m.len())
            })
            .map(|r| origin[r.start].start..origin[r.end - 1].end)
            .collect();
        marks.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(marks.len());
        for r in marks {
            match merged.last_mut() {
                Some(last) if r.start < last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        Quote {
            text,
            marks: merged,
        }
    }

    /// The quote with each mark put between `open` and `close`, and every piece of the
    /// text passed through `escape`.
    fn marked(&self, open: &str, close: &str, escape: fn(&str) -> String) -> String {
        let mut out = String::with_capacity(self.text.len() + 16 * self.marks.len());
        let mut at = 0;
        for r in &self.marks {
            out.push_str(&escape(&self.text[at..r.start]));
            out.push_str(open);
            out.push_str(&escape(&self.text[r.clone()]));
            out.push_str(close);
            at = r.end;
        }
        out.push_str(&escape(&self.text[at..]));
        out
    }

    pub fn text(&self) -> String {
        self.marked("【", "】", str::to_string)
    }

    pub fn html(&self) -> String {
        self.marked("<mark>", "</mark>", escape_html)
    }
}

/// One evidence item's facts as plain strings; the text and HTML parts show the same.
struct EvidenceLines<'a> {
    byline: String,
    url: Option<&'a str>,
    title: Option<String>,
    quote: Quote,
    engagement: String,
    link: Option<String>,
}

fn evidence_lines(e: &Evidence) -> EvidenceLines<'_> {
    let reach = e
        .author_followers
        .map(|f| format!(" ({f} followers)"))
        .unwrap_or_default();
    let published = e.published_at.map_or("?".into(), when);
    let mut byline = format!(
        "[{}] {} by {}{reach} — published {published}, first seen {}",
        e.channel,
        clip(&e.source, 60),
        clip(
            e.author.as_deref().unwrap_or("unknown author"),
            AUTHOR_CHARS
        ),
        when(e.first_seen_at),
    );
    if e.seen_at != e.first_seen_at {
        let _ = write!(byline, ", last seen {}", when(e.seen_at));
    }
    let mut engagement = counts(&e.engagement);
    if let Some(growth) = e.growth_per_hour {
        let _ = write!(engagement, "; growing {growth:.0} interactions per hour");
    }
    EvidenceLines {
        byline,
        url: web_url(e.url.as_deref()),
        title: e
            .title
            .as_deref()
            .map(|t| clip(t, 120))
            .filter(|t| !t.is_empty()),
        quote: Quote::new(&e.text, &e.marks),
        engagement,
        link: e.link_score.map(|score| {
            format!(
                "linked (score {score:.2}): {}",
                clip(&e.link_evidence.join("; "), LINK_EVIDENCE_CHARS)
            )
        }),
    }
}

/// One public item as a numbered plain-text entry, its lines indented under the number,
/// after a `heading` line when given.
pub fn evidence_text(number: usize, e: &Evidence, heading: Option<&str>) -> String {
    let lines = evidence_lines(e);
    let mut t = match heading {
        Some(heading) => format!("{number}. {heading}\n   {}\n", lines.byline),
        None => format!("{number}. {}\n", lines.byline),
    };
    if let Some(url) = lines.url {
        let _ = writeln!(t, "   {url}");
    }
    if let Some(title) = &lines.title {
        let _ = writeln!(t, "   {title}");
    }
    let _ = writeln!(t, "   \"{}\"", lines.quote.text());
    let _ = writeln!(t, "   engagement: {}", lines.engagement);
    if let Some(link) = &lines.link {
        let _ = writeln!(t, "   {link}");
    }
    t
}

/// One public item as an HTML list entry, every scraped string escaped, after a bold
/// `heading` when given.
pub fn evidence_html(item: &Evidence, heading: Option<&str>) -> String {
    let e = escape_html;
    let lines = evidence_lines(item);
    let mut h = String::from("<li style=\"margin-bottom:12px\">");
    if let Some(heading) = heading {
        let _ = write!(h, "<b>{}</b><br>", e(heading));
    }
    let _ = write!(h, "{}<br>", e(&lines.byline));
    if let Some(url) = lines.url {
        let _ = write!(h, "{}<br>", html_link(url));
    }
    if let Some(title) = &lines.title {
        let _ = write!(h, "<b>{}</b><br>", e(title));
    }
    let _ = write!(
        h,
        "<blockquote style=\"border-left:3px solid #ccc;margin:4px 0;padding-left:8px\">{}</blockquote>",
        lines.quote.html()
    );
    let _ = write!(h, "engagement: {}", e(&lines.engagement));
    if let Some(link) = &lines.link {
        let _ = write!(h, "<br>{}", e(link));
    }
    h.push_str("</li>");
    h
}

/// The story so far, oldest first: the case's opening, each public item, this alert. A long
/// story keeps its start and its latest turns.
fn timeline(content: &AlertContent) -> Vec<(DateTime<FixedOffset>, String)> {
    let mut rows = Vec::new();
    if let Some(opened) = content.case.as_ref().and_then(|c| c.opened_at) {
        let via = content
            .case
            .as_ref()
            .and_then(|c| c.channel.as_deref())
            .map(|c| format!(" (via {})", clip(c, 40)))
            .unwrap_or_default();
        rows.push((opened, format!("case opened{via}")));
    }
    for e in &content.evidence {
        let at = e.published_at.unwrap_or(e.first_seen_at);
        let mut row = format!(
            "{} post by {} on {}",
            e.channel,
            clip(
                e.author.as_deref().unwrap_or("an unknown author"),
                AUTHOR_CHARS
            ),
            clip(&e.source, 60)
        );
        if e.seen_at != e.first_seen_at {
            let _ = write!(
                row,
                "; {} interactions when last seen {}",
                e.engagement.interactions(),
                when(e.seen_at)
            );
        }
        rows.push((at, row));
    }
    rows.sort_by_key(|(at, _)| *at);
    if rows.len() > TIMELINE_HEAD + TIMELINE_TAIL {
        let left_out = rows.len() - TIMELINE_HEAD - TIMELINE_TAIL;
        let tail = rows.split_off(rows.len() - TIMELINE_TAIL);
        rows.truncate(TIMELINE_HEAD);
        let gap_at = tail[0].0;
        rows.push((gap_at, format!("… {left_out} more public items …")));
        rows.extend(tail);
    }
    rows.push((
        content.created_at,
        format!("this alert: {}", content.kind.as_str().to_uppercase()),
    ));
    rows
}

fn render_text(content: &AlertContent) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{}\n", subject(content));
    let _ = writeln!(t, "WHY NOW");
    for reason in &content.reasons {
        let _ = writeln!(t, "- {}", clip(reason, REASON_CHARS));
    }
    if let Some(case) = &content.case {
        let _ = writeln!(t, "\nTHE CASE");
        for (name, value) in case_fields(case) {
            let _ = writeln!(t, "{name:12} {value}");
        }
    }
    let _ = writeln!(t, "\nEVIDENCE");
    for (i, e) in content.evidence.iter().take(EVIDENCE_SHOWN).enumerate() {
        t.push_str(&evidence_text(i + 1, e, None));
    }
    if content.evidence.len() > EVIDENCE_SHOWN {
        let _ = writeln!(
            t,
            "... and {} more",
            content.evidence.len() - EVIDENCE_SHOWN
        );
    }
    let _ = writeln!(t, "\nTIMELINE");
    for (at, row) in timeline(content) {
        let _ = writeln!(t, "{}  {row}", when(at));
    }
    let _ = writeln!(t, "\nWHAT TO DO NOW");
    for item in checklist(content.kind) {
        let _ = writeln!(t, "[ ] {item}");
    }
    let _ = writeln!(t, "\n-- outcry, {}", when(content.created_at));
    t
}

/// The document head and the opening of the body, shared by alerts and digests.
pub fn html_start(title: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;max-width:720px;margin:auto;color:#111\">",
        escape_html(title)
    )
}

/// A link when the URL may be linked, its text bounded.
pub fn html_link(url: &str) -> String {
    format!(
        "<a href=\"{}\">{}</a>",
        escape_html(url),
        escape_html(&truncate(url, 100))
    )
}

fn render_html(content: &AlertContent) -> String {
    let e = escape_html;
    let color = match content.kind {
        AlertKind::Surfaced => "#b26a00",
        AlertKind::Spreading => "#c2410c",
        AlertKind::Viral => "#b91c1c",
        AlertKind::Unlinked | AlertKind::Digest | AlertKind::AtRisk => "#475569",
        // Source alerts are rendered by `health`; grey if one ever comes this way.
        AlertKind::SourceDown | AlertKind::SourceUp => "#6b7280",
    };
    let mut h = html_start(&subject(content));
    let _ = write!(
        h,
        "<h2 style=\"color:{color}\">{} — {}</h2><p style=\"font-size:1.1em\">{}</p>",
        e(&content.kind.as_str().to_uppercase()),
        e(&clip(&content.brand, 40)),
        e(&clip(&content.headline, 120))
    );
    h.push_str("<h3>Why now</h3><ul>");
    for reason in &content.reasons {
        let _ = write!(h, "<li>{}</li>", e(&clip(reason, REASON_CHARS)));
    }
    h.push_str("</ul>");
    if let Some(case) = &content.case {
        h.push_str("<h3>The case</h3><table style=\"border-collapse:collapse\">");
        for (name, value) in case_fields(case) {
            let _ = write!(
                h,
                "<tr><th style=\"text-align:left;padding:2px 8px;vertical-align:top\">{}</th><td style=\"padding:2px 8px\">{}</td></tr>",
                e(name),
                e(&value)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h3>Evidence</h3><ol>");
    for item in content.evidence.iter().take(EVIDENCE_SHOWN) {
        h.push_str(&evidence_html(item, None));
    }
    h.push_str("</ol>");
    if content.evidence.len() > EVIDENCE_SHOWN {
        let _ = write!(
            h,
            "<p>… and {} more</p>",
            content.evidence.len() - EVIDENCE_SHOWN
        );
    }
    h.push_str("<h3>Timeline</h3><table style=\"border-collapse:collapse\">");
    for (at, row) in timeline(content) {
        let _ = write!(
            h,
            "<tr><td style=\"padding:2px 8px;white-space:nowrap;vertical-align:top\">{}</td><td style=\"padding:2px 8px\">{}</td></tr>",
            e(&when(at)),
            e(&row)
        );
    }
    h.push_str("</table><h3>What to do now</h3><ul>");
    for item in checklist(content.kind) {
        let _ = write!(h, "<li>☐ {}</li>", e(item));
    }
    let _ = write!(
        h,
        "</ul><p style=\"color:#666;font-size:0.9em\">outcry, {}</p></body></html>",
        e(&when(content.created_at))
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseStatus, Complainant};

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn content(kind: AlertKind, payload: &str) -> AlertContent {
        AlertContent {
            kind,
            brand: "星驰汽车".into(),
            case: (kind != AlertKind::Unlinked).then(|| Case {
                id: "C-1042".into(),
                brand: "星驰汽车".into(),
                status: CaseStatus::Open,
                opened_at: Some(at("2026-03-02T09:14:00+08:00")),
                channel: Some("hotline".into()),
                severity: Some("high".into()),
                complainant: Complainant {
                    name: Some("王女士".into()),
                    phone: Some("13812342291".into()),
                    email: None,
                    handles: vec!["weibo:小王爱吃梨".into()],
                },
                summary: format!("发动机漏油 {payload}"),
                demand: "退车".into(),
                identifiers: vec!["order:XC-2026-00871".into()],
                notes: "要曝光".into(),
            }),
            headline: format!(
                "星驰C200提车不到10公里就漏油, 门店说是正常现象, 大家评评理 {payload}"
            ),
            reasons: vec!["first public item linked".into()],
            evidence: vec![Evidence {
                source: "weibo".into(),
                channel: Channel::Social,
                author: Some(format!("小王{payload}")),
                url: Some("javascript:alert(1)".into()),
                title: Some(payload.into()),
                text: format!("订单号 XC-2026-00871 漏油 {payload}"),
                published_at: Some(at("2026-03-05T21:40:00+08:00")),
                first_seen_at: at("2026-03-05T21:52:00+08:00"),
                seen_at: at("2026-03-05T23:52:00+08:00"),
                engagement: Engagement {
                    reposts: Some(12),
                    comments: Some(30),
                    likes: Some(85),
                    views: None,
                },
                growth_per_hour: Some(36.6),
                author_followers: Some(1520),
                link_score: Some(1.0),
                link_evidence: vec!["identifier order:XC-2026-00871".into()],
                marks: vec!["XC-2026-00871".into()],
            }],
            created_at: at("2026-03-05T23:52:00+08:00"),
        }
    }

    const PAYLOADS: &[&str] = &[
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "' onmouseover='x",
    ];

    #[test]
    fn scraped_payloads_are_inert_in_html() {
        for payload in PAYLOADS {
            let html = render(&content(AlertKind::Surfaced, payload)).html;
            assert!(!html.contains("<script>"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(!html.contains("' onmouseover"), "{html}");
            assert!(!html.contains("href=\"javascript"), "{html}");
        }
    }

    #[test]
    fn marks_are_highlighted_in_both_parts() {
        let rendered = render(&content(AlertKind::Surfaced, ""));
        assert!(
            rendered.html.contains("<mark>XC-2026-00871</mark>"),
            "{}",
            rendered.html
        );
        assert!(
            rendered.text.contains("【XC-2026-00871】"),
            "{}",
            rendered.text
        );
    }

    #[test]
    fn phone_is_masked_everywhere() {
        let rendered = render(&content(AlertKind::Surfaced, ""));
        assert!(!rendered.text.contains("13812342291") && !rendered.html.contains("13812342291"));
        assert!(rendered.text.contains("138****2291"));
        assert_eq!(mask_phone("138****2291"), "138****2291");
        assert_eq!(mask_phone("12345"), "***45");
    }

    #[test]
    fn subject_is_one_line_names_stage_brand_case_and_is_bounded() {
        let s = subject(&content(AlertKind::Spreading, "line\r\nbreak"));
        assert!(!s.contains('\n') && !s.contains('\r'));
        assert!(
            s.starts_with("[outcry] SPREADING: 星驰汽车 C-1042 — "),
            "{s}"
        );
        assert!(s.ends_with('…'), "{s}");
        let unlinked = subject(&content(AlertKind::Unlinked, ""));
        assert!(
            unlinked.starts_with("[outcry] UNLINKED: 星驰汽车 — possible new public complaint"),
            "{unlinked}"
        );
    }

    #[test]
    fn checklist_differs_by_stage_and_appears_in_both_parts() {
        assert_ne!(checklist(AlertKind::Surfaced), checklist(AlertKind::Viral));
        let rendered = render(&content(AlertKind::Viral, ""));
        assert!(rendered.text.contains(checklist(AlertKind::Viral)[0]));
        assert!(rendered
            .html
            .contains(&escape_html(checklist(AlertKind::Viral)[0])));
    }

    #[test]
    fn evidence_shows_channel_author_reach_times_link_counts_and_growth_in_both_parts() {
        let rendered = render(&content(AlertKind::Spreading, ""));
        for part in [&rendered.text, &rendered.html] {
            assert!(
                part.contains("[social] weibo by 小王 (1520 followers)"),
                "{part}"
            );
            assert!(
                part.contains("published 2026-03-05 21:40 +08:00, first seen 2026-03-05 21:52 +08:00, last seen 2026-03-05 23:52 +08:00"),
                "{part}"
            );
            assert!(
                part.contains(
                    "reposts 12, comments 30, likes 85; growing 37 interactions per hour"
                ),
                "{part}"
            );
            assert!(part.contains("linked (score 1.00): identifier order:XC-2026-00871"));
        }
        // A javascript: URL is never linked.
        assert!(!rendered.html.contains("javascript:"));
    }

    #[test]
    fn timeline_runs_from_the_case_opening_to_this_alert() {
        let rendered = render(&content(AlertKind::Spreading, ""));
        let text = &rendered.text;
        let timeline = &text[text.find("TIMELINE").unwrap()..text.find("WHAT TO DO NOW").unwrap()];
        let rows: Vec<&str> = timeline.lines().skip(1).filter(|l| !l.is_empty()).collect();
        assert_eq!(
            rows,
            [
                "2026-03-02 09:14 +08:00  case opened (via hotline)",
                "2026-03-05 21:40 +08:00  social post by 小王 on weibo; 127 interactions when last seen 2026-03-05 23:52 +08:00",
                "2026-03-05 23:52 +08:00  this alert: SPREADING",
            ]
        );
        assert!(rendered.html.contains("<h3>Timeline</h3>"));
        assert!(rendered.html.contains("case opened (via hotline)"));
    }

    #[test]
    fn a_long_timeline_keeps_its_start_and_latest_turns() {
        let mut long = content(AlertKind::Viral, "");
        let first = long.evidence[0].clone();
        long.evidence = (0..30)
            .map(|n| Evidence {
                author: Some(format!("author-{n:02}")),
                published_at: Some(at("2026-03-05T00:00:00+08:00") + chrono::Duration::minutes(n)),
                ..first.clone()
            })
            .collect();
        let rows = timeline(&long);
        assert_eq!(rows.len(), TIMELINE_HEAD + 1 + TIMELINE_TAIL + 1);
        let shown: String = rows
            .iter()
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            shown.contains("author-00") && shown.contains("author-29"),
            "{shown}"
        );
        assert!(!shown.contains("author-10"), "{shown}");
        assert!(shown.contains("more public items"), "{shown}");
    }

    #[test]
    fn lexicon_words_are_marked_in_any_script_and_width() {
        let quote = Quote::new(
            "客戶說要曝光, 訂單 ＸＣ－２０２６－００８７１",
            &["XC-2026-00871".into()],
        );
        assert_eq!(
            quote.text(),
            "客戶說要【曝光】, 訂單 【ＸＣ－２０２６－００８７１】"
        );
        let quote = Quote::new("<b>要找媒体</b> & 漏油", &[]);
        assert_eq!(
            quote.html(),
            "&lt;b&gt;要<mark>找媒体</mark>&lt;/b&gt; &amp; <mark>漏油</mark>"
        );
        // A mark never splits what escaping produces.
        let quote = Quote::new("a<b", &["<".into()]);
        assert_eq!(quote.html(), "a<mark>&lt;</mark>b");
    }

    #[test]
    fn scraped_strings_are_bounded() {
        let mut huge = content(AlertKind::Surfaced, "");
        huge.evidence[0].author = Some("长".repeat(10_000));
        huge.evidence[0].text = "字".repeat(100_000);
        huge.evidence[0].url = Some(format!("https://x.example/{}", "a".repeat(5000)));
        huge.reasons = vec!["理由".repeat(10_000)];
        let rendered = render(&huge);
        assert!(rendered.html.len() < 20_000, "{}", rendered.html.len());
        assert!(rendered.text.len() < 20_000, "{}", rendered.text.len());
        assert!(!rendered.html.contains("<a href"));
    }
}
