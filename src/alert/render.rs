//! The alert email's content: subject, plain text and HTML carrying the same facts, in the
//! configured language (`present`). Every scraped or typed string is untrusted: escaped in
//! HTML by the templates, bounded in size, stripped of direction controls, and links are
//! only emitted for http(s) URLs.

use crate::assess::Lexicon;
use crate::model::{AlertKind, Case, Channel, Engagement, LinkEvidence, Reason};
use crate::normalize::{fold, html_to_text};
use crate::present::text::{clean, clip, escape_html, truncate};
use crate::present::{facts, Args, Ui};
use crate::store::CaseItem;
use chrono::{DateTime, FixedOffset};
use minijinja::Value;
use serde::Serialize;
use std::ops::Range;
use std::sync::LazyLock;
use tracing::error;

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

/// Everything an alert says, as facts.
#[derive(Debug, Clone)]
pub struct AlertContent {
    pub kind: AlertKind,
    pub brand: String,
    /// None for unlinked alerts.
    pub case: Option<Case>,
    /// Short, from the triggering item.
    pub headline: String,
    /// Why now, with numbers.
    pub reasons: Vec<Reason>,
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
    pub link_evidence: Vec<LinkEvidence>,
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
pub fn marks_of(link_evidence: &[LinkEvidence]) -> Vec<String> {
    link_evidence
        .iter()
        .filter_map(LinkEvidence::mark)
        .map(String::from)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What to do now, by stage (from the source essays: time is what the team needs): how
/// many `todo-<stage>-<n>` messages each catalog has.
const CHECKLIST: &[(AlertKind, usize)] = &[
    (AlertKind::Surfaced, 4),
    (AlertKind::Spreading, 4),
    (AlertKind::Viral, 4),
    (AlertKind::Unlinked, 3),
];

pub fn checklist(ui: &Ui, kind: AlertKind) -> Vec<String> {
    let count = CHECKLIST
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, n)| *n);
    (1..=count)
        .map(|n| ui.word(&format!("todo-{}-{n}", kind.as_str())))
        .collect()
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

/// An e-mail address as people without the lead role see it: the first character of the
/// mailbox and the whole domain, enough to tell two addresses apart, not to write to one.
pub fn mask_email(email: &str) -> String {
    let email = email.trim();
    match email.rsplit_once('@') {
        Some((mailbox, domain)) => {
            let head: String = mailbox.chars().take(1).collect();
            format!("{head}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// The URL when it may be linked: http(s), no whitespace or hidden controls, bounded.
pub fn web_url(url: Option<&str>) -> Option<&str> {
    let url = url?.trim();
    let lower = url.to_ascii_lowercase();
    ((lower.starts_with("http://") || lower.starts_with("https://"))
        && !url.contains(char::is_whitespace)
        && !url.chars().any(crate::present::text::is_hidden_control)
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

pub fn subject(content: &AlertContent, ui: &Ui) -> String {
    let args = Args::new()
        .with("kind", content.kind.as_str())
        .with("brand", clip(&content.brand, 40))
        .with("headline", clip(&content.headline, HEADLINE_CHARS));
    let subject = match (&content.kind, &content.case) {
        (AlertKind::Unlinked | AlertKind::Digest, _) | (_, None) => {
            ui.t("alert-subject-unlinked", args)
        }
        (_, Some(case)) => ui.t("alert-subject", args.with("case", clip(&case.id, 40))),
    };
    subject.replace(['\r', '\n'], " ")
}

/// Counts as the source showed them.
pub fn counts(ui: &Ui, e: &Engagement) -> String {
    let parts: Vec<String> = [
        ("count-reposts", e.reposts),
        ("count-comments", e.comments),
        ("count-likes", e.likes),
        ("count-views", e.views),
    ]
    .iter()
    .filter_map(|(key, v)| v.map(|v| ui.t(key, Args::new().num("n", v as f64))))
    .collect();
    if parts.is_empty() {
        ui.word("counts-none")
    } else {
        ui.list(parts)
    }
}

/// A case's severity: the usual high / medium / low in the reader's words, anything else
/// as the case record has it.
pub fn severity(ui: &Ui, severity: &str) -> String {
    ui.t(
        "severity",
        Args::new().with("severity", clip(severity, 20).to_lowercase()),
    )
}

/// A label and its value, as the case record and operator mails list them.
#[derive(Debug, Serialize)]
pub struct Field {
    pub label: String,
    pub value: String,
}

/// Case record fields in display order, phone masked, each bounded.
fn case_fields(ui: &Ui, case: &Case) -> Vec<Field> {
    let c = &case.complainant;
    let fields = [
        ("field-case", case.id.clone()),
        ("field-brand", case.brand.clone()),
        (
            "field-status",
            ui.t("status", Args::new().with("status", case.status.as_str())),
        ),
        (
            "field-severity",
            case.severity
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| severity(ui, s))
                .unwrap_or_default(),
        ),
        (
            "field-opened",
            case.opened_at.map(|t| ui.when(t)).unwrap_or_default(),
        ),
        ("field-channel", case.channel.clone().unwrap_or_default()),
        ("field-summary", case.summary.clone()),
        ("field-demand", case.demand.clone()),
        ("field-notes", case.notes.clone()),
        ("field-complainant", c.name.clone().unwrap_or_default()),
        (
            "field-phone",
            c.phone.as_deref().map(mask_phone).unwrap_or_default(),
        ),
        ("field-email", c.email.clone().unwrap_or_default()),
        ("field-handles", ui.list(&c.handles)),
        ("field-identifiers", ui.list(&case.identifiers)),
    ];
    fields
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(key, value)| Field {
            label: ui.word(key),
            value: truncate(&clean(&value), FIELD_CHARS),
        })
        .collect()
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

    /// `text` as it is (hidden controls removed), with only `words` marked (in any script
    /// or width).
    pub fn words(text: &str, words: &[String]) -> Quote {
        Quote::marking(clean(text).into_owned(), words, false)
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

/// One public item as the templates show it (`evidence.txt`, `evidence.html`).
#[derive(Debug, Serialize)]
pub struct EvidenceView {
    pub number: usize,
    /// A note before the item (the digest's: its case and score).
    pub heading: Option<String>,
    pub byline: String,
    /// Only http(s) URLs, so a `javascript:` URL never becomes a link.
    pub url: Option<String>,
    pub url_shown: Option<String>,
    pub title: Option<String>,
    pub quote_text: String,
    /// Escaped, with <mark>s.
    pub quote_html: Value,
    pub engagement: String,
    pub link: Option<String>,
}

pub fn evidence_view(
    ui: &Ui,
    number: usize,
    e: &Evidence,
    heading: Option<String>,
) -> EvidenceView {
    let mut byline = ui.t(
        "evidence-byline",
        Args::new()
            .with("channel", e.channel.as_str())
            .with("source", clip(&e.source, 60))
            .with(
                "author",
                e.author
                    .as_deref()
                    .map_or_else(|| ui.word("author-unknown"), |a| clip(a, AUTHOR_CHARS)),
            ),
    );
    if let Some(followers) = e.author_followers {
        byline.push_str(&ui.t(
            "evidence-reach",
            Args::new().num("followers", followers as f64),
        ));
    }
    byline.push_str(" — ");
    byline.push_str(
        &ui.t(
            "evidence-times",
            Args::new()
                .with("published", ui.when_known(e.published_at))
                .with("first_seen", ui.when(e.first_seen_at)),
        ),
    );
    if e.seen_at != e.first_seen_at {
        byline.push_str(&ui.t(
            "evidence-last-seen",
            Args::new().with("seen", ui.when(e.seen_at)),
        ));
    }
    let mut engagement = counts(ui, &e.engagement);
    if let Some(growth) = e.growth_per_hour {
        engagement.push_str(&ui.t("evidence-growth", Args::new().num("growth", growth.round())));
    }
    let url = web_url(e.url.as_deref());
    let quote = Quote::new(&e.text, &e.marks);
    EvidenceView {
        number,
        heading,
        byline,
        url: url.map(String::from),
        url_shown: url.map(|u| truncate(u, 100)),
        title: e
            .title
            .as_deref()
            .map(|t| clip(t, 120))
            .filter(|t| !t.is_empty()),
        quote_text: quote.text(),
        quote_html: Value::from_safe_string(quote.html()),
        engagement: ui.t(
            "evidence-engagement",
            Args::new().with("counts", engagement),
        ),
        link: e.link_score.map(|score| {
            let evidence: Vec<String> = e
                .link_evidence
                .iter()
                .map(|ev| facts::link_evidence(ui, ev))
                .collect();
            ui.t(
                "evidence-link",
                Args::new().with("score", facts::score(score)).with(
                    "evidence",
                    clip(
                        &evidence.join(&ui.word("clause-separator")),
                        LINK_EVIDENCE_CHARS,
                    ),
                ),
            )
        }),
    }
}

/// A row of the story so far.
#[derive(Debug, Serialize)]
struct TimelineRow {
    at: String,
    text: String,
}

/// The story so far, oldest first: the case's opening, each public item, this alert. A long
/// story keeps its start and its latest turns.
fn timeline(ui: &Ui, content: &AlertContent) -> Vec<TimelineRow> {
    let mut rows: Vec<(DateTime<FixedOffset>, String)> = Vec::new();
    if let Some(case) = &content.case {
        if let Some(opened) = case.opened_at {
            let row = match case.channel.as_deref() {
                Some(via) => ui.t(
                    "timeline-opened-via",
                    Args::new().with("via", clip(via, 40)),
                ),
                None => ui.word("timeline-opened"),
            };
            rows.push((opened, row));
        }
    }
    for e in &content.evidence {
        let at = e.published_at.unwrap_or(e.first_seen_at);
        let mut row = ui.t(
            "timeline-post",
            Args::new()
                .with("channel", e.channel.as_str())
                .with(
                    "author",
                    e.author
                        .as_deref()
                        .map_or_else(|| ui.word("author-unknown"), |a| clip(a, AUTHOR_CHARS)),
                )
                .with("source", clip(&e.source, 60)),
        );
        if e.seen_at != e.first_seen_at {
            row.push_str(
                &ui.t(
                    "timeline-post-seen",
                    Args::new()
                        .num("interactions", e.engagement.interactions() as f64)
                        .with("seen", ui.when(e.seen_at)),
                ),
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
        rows.push((
            gap_at,
            ui.t("timeline-gap", Args::new().count("count", left_out)),
        ));
        rows.extend(tail);
    }
    rows.push((
        content.created_at,
        ui.t(
            "timeline-this-alert",
            Args::new().with("kind", content.kind.as_str()),
        ),
    ));
    rows.into_iter()
        .map(|(at, text)| TimelineRow {
            at: ui.when(at),
            text,
        })
        .collect()
}

/// A link to one of outcry's pages.
#[derive(Debug, Serialize)]
pub struct PageLink {
    pub label: String,
    pub url: String,
}

/// Links to outcry's pages under `[http] public_url`; none when it is not set.
pub fn page_links(ui: &Ui, case_id: Option<&str>) -> Vec<PageLink> {
    let mut links = Vec::new();
    if let Some(url) = case_id.and_then(|id| ui.case_url(id)) {
        links.push(PageLink {
            label: ui.word("link-case-page"),
            url,
        });
    }
    if let Some(url) = ui.page_url("/review") {
        links.push(PageLink {
            label: ui.word("link-review"),
            url,
        });
    }
    links
}

#[derive(Debug, Serialize)]
struct AlertView {
    subject: String,
    color: &'static str,
    title: String,
    headline: String,
    reasons: Vec<String>,
    case_fields: Vec<Field>,
    evidence: Vec<EvidenceView>,
    more: Option<String>,
    timeline: Vec<TimelineRow>,
    todo: Vec<String>,
    links: Vec<PageLink>,
    signature: String,
}

/// "… and 3 more", when more were left out than shown.
pub fn more(ui: &Ui, shown: usize, total: usize) -> Option<String> {
    (total > shown).then(|| ui.t("more-items", Args::new().count("count", total - shown)))
}

/// A template's output, or `fallback` (with the error logged) should a template fail: the
/// templates are tested, and an alert is never dropped for its wording.
pub fn rendered_or(result: Result<String, crate::present::RenderError>, fallback: &str) -> String {
    result.unwrap_or_else(|e| {
        error!(error = %e, "falling back to the bare subject");
        fallback.to_string()
    })
}

pub fn render(content: &AlertContent, ui: &Ui) -> RenderedEmail {
    let subject = subject(content, ui);
    let view = AlertView {
        subject: subject.clone(),
        color: match content.kind {
            AlertKind::Surfaced => "#b26a00",
            AlertKind::Spreading => "#c2410c",
            AlertKind::Viral => "#b91c1c",
            _ => "#475569",
        },
        title: ui.t(
            "alert-title",
            Args::new()
                .with("kind", content.kind.as_str())
                .with("brand", clip(&content.brand, 40)),
        ),
        headline: clip(&content.headline, 120),
        reasons: content
            .reasons
            .iter()
            .map(|r| clip(&facts::reason(ui, r), REASON_CHARS))
            .collect(),
        case_fields: content
            .case
            .as_ref()
            .map(|c| case_fields(ui, c))
            .unwrap_or_default(),
        evidence: content
            .evidence
            .iter()
            .take(EVIDENCE_SHOWN)
            .enumerate()
            .map(|(i, e)| evidence_view(ui, i + 1, e, None))
            .collect(),
        more: more(ui, EVIDENCE_SHOWN, content.evidence.len()),
        timeline: timeline(ui, content),
        todo: checklist(ui, content.kind),
        links: page_links(ui, content.case.as_ref().map(|c| c.id.as_str())),
        signature: ui.t(
            "signature",
            Args::new().with("at", ui.when(content.created_at)),
        ),
    };
    RenderedEmail {
        text: rendered_or(ui.render("alert.txt", &view), &subject),
        html: rendered_or(ui.render("alert.html", &view), &escape_html(&subject)),
        subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseStatus, Complainant};
    use crate::present::Language;

    fn en() -> Ui {
        Ui {
            language: Language::En,
            ..Ui::default()
        }
    }

    fn zh() -> Ui {
        Ui::default()
    }

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
            reasons: vec![Reason::Spread {
                items: 2,
                authors: 2,
                sources: 1,
            }],
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
                link_evidence: vec![LinkEvidence::Identifier {
                    identifier: "order:XC-2026-00871".into(),
                }],
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
            let html = render(&content(AlertKind::Surfaced, payload), &zh()).html;
            assert!(!html.contains("<script>"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(!html.contains("' onmouseover"), "{html}");
            assert!(!html.contains("href=\"javascript"), "{html}");
        }
    }

    #[test]
    fn marks_are_highlighted_in_both_parts() {
        let rendered = render(&content(AlertKind::Surfaced, ""), &zh());
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
        let rendered = render(&content(AlertKind::Surfaced, ""), &zh());
        assert!(!rendered.text.contains("13812342291") && !rendered.html.contains("13812342291"));
        assert!(rendered.text.contains("138****2291"));
        assert_eq!(mask_phone("138****2291"), "138****2291");
        assert_eq!(mask_phone("12345"), "***45");
        assert_eq!(mask_email(" wang.li@example.com "), "w***@example.com");
        assert_eq!(mask_email("not an address"), "***");
    }

    #[test]
    fn subject_is_one_line_names_stage_brand_case_and_is_bounded() {
        let s = subject(&content(AlertKind::Spreading, "line\r\nbreak"), &en());
        assert!(!s.contains('\n') && !s.contains('\r'));
        assert!(
            s.starts_with("[outcry] SPREADING: 星驰汽车 C-1042 — "),
            "{s}"
        );
        assert!(s.ends_with('…'), "{s}");
        let unlinked = subject(&content(AlertKind::Unlinked, ""), &en());
        assert!(
            unlinked.starts_with("[outcry] UNLINKED: 星驰汽车 — possible new public complaint"),
            "{unlinked}"
        );
        let s = subject(&content(AlertKind::Spreading, ""), &zh());
        assert!(
            s.starts_with("【舆情预警·扩散中】星驰汽车 C-1042 — 星驰C200"),
            "{s}"
        );
        let unlinked = subject(&content(AlertKind::Unlinked, ""), &zh());
        assert!(
            unlinked.starts_with("【舆情预警·未关联】星驰汽车 — 疑似新的公开投诉 — "),
            "{unlinked}"
        );
    }

    #[test]
    fn checklist_differs_by_stage_and_appears_in_both_parts() {
        for ui in [zh(), en()] {
            assert_ne!(
                checklist(&ui, AlertKind::Surfaced),
                checklist(&ui, AlertKind::Viral)
            );
            let rendered = render(&content(AlertKind::Viral, ""), &ui);
            let first = &checklist(&ui, AlertKind::Viral)[0];
            assert!(rendered.text.contains(first.as_str()));
            assert!(rendered.html.contains(&escape_html(first)));
        }
    }

    #[test]
    fn evidence_shows_channel_author_reach_times_link_counts_and_growth_in_both_parts() {
        let rendered = render(&content(AlertKind::Spreading, ""), &en());
        for part in [&rendered.text, &rendered.html] {
            assert!(
                part.contains("[social] weibo by 小王 (1,520 followers)"),
                "{part}"
            );
            assert!(
                part.contains("published 2026-03-05 21:40, first seen 2026-03-05 21:52, last seen 2026-03-05 23:52"),
                "{part}"
            );
            assert!(part.contains("All times in UTC+08:00"), "{part}");
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
        let rendered = render(&content(AlertKind::Spreading, ""), &zh());
        for part in [&rendered.text, &rendered.html] {
            assert!(
                part.contains("[社交媒体] weibo · 小王（粉丝 1520）"),
                "{part}"
            );
            assert!(
                part.contains("发布于 2026-03-05 21:40，首次发现于 2026-03-05 21:52，最近一次 2026-03-05 23:52"),
                "{part}"
            );
            assert!(
                part.contains("转发 12、评论 30、点赞 85；每小时增长 37 次互动"),
                "{part}"
            );
            assert!(
                part.contains("关联依据（得分 1.00）：识别号 order:XC-2026-00871"),
                "{part}"
            );
            assert!(part.contains("时间均为 UTC+08:00"), "{part}");
        }
    }

    #[test]
    fn timeline_runs_from_the_case_opening_to_this_alert() {
        let rendered = render(&content(AlertKind::Spreading, ""), &en());
        let text = &rendered.text;
        let timeline = &text[text.find("TIMELINE").unwrap()..text.find("WHAT TO DO NOW").unwrap()];
        let rows: Vec<&str> = timeline.lines().skip(1).filter(|l| !l.is_empty()).collect();
        assert_eq!(
            rows,
            [
                "2026-03-02 09:14  case opened (via hotline)",
                "2026-03-05 21:40  social post by 小王 on weibo; 127 interactions when last seen 2026-03-05 23:52",
                "2026-03-05 23:52  this alert: SPREADING",
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
        let rows = timeline(&en(), &long);
        assert_eq!(rows.len(), TIMELINE_HEAD + 1 + TIMELINE_TAIL + 1);
        let shown: String = rows
            .iter()
            .map(|r| r.text.as_str())
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
        huge.reasons = vec![Reason::Rage {
            terms: vec!["理由".repeat(10_000); 100],
        }];
        let rendered = render(&huge, &zh());
        assert!(rendered.html.len() < 20_000, "{}", rendered.html.len());
        assert!(rendered.text.len() < 20_000, "{}", rendered.text.len());
        assert!(!rendered.html.contains("<a href"));
    }

    #[test]
    fn direction_controls_in_scraped_text_reach_neither_part() {
        let with = |hidden: &str| {
            let mut c = content(AlertKind::Surfaced, "");
            c.evidence[0].author = Some(format!("小王{hidden}"));
            c.evidence[0].title = Some(format!("标题{hidden}"));
            c.evidence[0].text = format!("订单号 XC-2026-00871 {hidden}漏油");
            c.headline = format!("{hidden}星驰漏油");
            c
        };
        let evil = "\u{202E}\u{2066}\u{200F}\u{061C}\u{FEFF}\u{2069}\u{202C}";
        for ui in [zh(), en()] {
            let rendered = render(&with(evil), &ui);
            for part in [&rendered.subject, &rendered.text, &rendered.html] {
                assert!(
                    !part.chars().any(crate::present::text::is_hidden_control),
                    "{part}"
                );
            }
            assert_eq!(
                rendered,
                render(&with(""), &ui),
                "what people see is unchanged"
            );
        }
    }
}
