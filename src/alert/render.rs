//! The alert email's content: subject, plain text and HTML carrying the same facts. Every
//! scraped or typed string is untrusted: escaped in HTML, bounded in size, and links are
//! only emitted for http(s) URLs.

use crate::model::{AlertKind, Case, Channel, Engagement};
use chrono::{DateTime, FixedOffset};
use std::fmt::Write;

const HEADLINE_CHARS: usize = 40;
const QUOTE_CHARS: usize = 280;
const EVIDENCE_SHOWN: usize = 10;
const FIELD_CHARS: usize = 2000;

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
    pub seen_at: DateTime<FixedOffset>,
    pub engagement: Engagement,
    pub link_score: Option<f64>,
    pub link_evidence: Vec<String>,
    /// Words to mark in the quote (a matched identifier, alias).
    pub marks: Vec<String>,
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

fn one_line(text: &str) -> String {
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

pub fn is_web_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && !url.contains(char::is_whitespace)
}

pub fn subject(content: &AlertContent) -> String {
    let headline = truncate(&one_line(&content.headline), HEADLINE_CHARS);
    let brand = truncate(&one_line(&content.brand), 40);
    let subject = match (&content.kind, &content.case) {
        (AlertKind::Unlinked, _) | (_, None) => {
            format!("[outcry] UNLINKED: {brand} — possible new public complaint — {headline}")
        }
        (kind, Some(case)) => format!(
            "[outcry] {}: {brand} {} — {headline}",
            kind.as_str().to_uppercase(),
            truncate(&one_line(&case.id), 40)
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

fn quote(evidence: &Evidence) -> String {
    truncate(&one_line(&evidence.text), QUOTE_CHARS)
}

fn engagement_line(e: &Engagement) -> String {
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
        (
            "Opened",
            case.opened_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ),
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

fn render_text(content: &AlertContent) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{}\n", subject(content));
    let _ = writeln!(t, "WHY NOW");
    for reason in &content.reasons {
        let _ = writeln!(t, "- {}", one_line(reason));
    }
    if let Some(case) = &content.case {
        let _ = writeln!(t, "\nTHE CASE");
        for (name, value) in case_fields(case) {
            let _ = writeln!(t, "{name:12} {value}");
        }
    }
    let _ = writeln!(t, "\nEVIDENCE");
    for (i, e) in content.evidence.iter().take(EVIDENCE_SHOWN).enumerate() {
        let _ = writeln!(
            t,
            "{}. [{}] {} by {} — published {}, seen {}",
            i + 1,
            e.channel,
            one_line(&e.source),
            one_line(e.author.as_deref().unwrap_or("unknown author")),
            e.published_at
                .map(|p| p.to_rfc3339())
                .unwrap_or_else(|| "?".into()),
            e.seen_at.to_rfc3339()
        );
        if let Some(url) = e.url.as_deref().filter(|u| is_web_url(u)) {
            let _ = writeln!(t, "   {url}");
        }
        if let Some(title) = &e.title {
            let _ = writeln!(t, "   {}", truncate(&one_line(title), 120));
        }
        let _ = writeln!(t, "   \"{}\"", mark_text(&quote(e), &e.marks));
        let _ = writeln!(t, "   engagement: {}", engagement_line(&e.engagement));
        if let Some(score) = e.link_score {
            let _ = writeln!(
                t,
                "   linked (score {score:.2}): {}",
                e.link_evidence.join("; ")
            );
        }
    }
    if content.evidence.len() > EVIDENCE_SHOWN {
        let _ = writeln!(
            t,
            "... and {} more",
            content.evidence.len() - EVIDENCE_SHOWN
        );
    }
    let _ = writeln!(t, "\nWHAT TO DO NOW");
    for item in checklist(content.kind) {
        let _ = writeln!(t, "[ ] {item}");
    }
    let _ = writeln!(t, "\n-- outcry, {}", content.created_at.to_rfc3339());
    t
}

fn mark_text(quote: &str, marks: &[String]) -> String {
    let mut out = quote.to_string();
    for mark in marks.iter().filter(|m| !m.is_empty()) {
        out = out.replace(mark.as_str(), &format!("【{mark}】"));
    }
    out
}

/// Escapes the quote and wraps every occurrence of a mark in <mark>, working on the raw text
/// so that a mark can never split an escape sequence.
pub fn mark_html(quote: &str, marks: &[String]) -> String {
    let mut out = String::new();
    let mut rest = quote;
    loop {
        let next = marks
            .iter()
            .filter(|m| !m.is_empty())
            .filter_map(|m| rest.find(m.as_str()).map(|at| (at, m.len())))
            .min();
        match next {
            Some((at, len)) => {
                out.push_str(&escape_html(&rest[..at]));
                out.push_str("<mark>");
                out.push_str(&escape_html(&rest[at..at + len]));
                out.push_str("</mark>");
                rest = &rest[at + len..];
            }
            None => {
                out.push_str(&escape_html(rest));
                return out;
            }
        }
    }
}

fn render_html(content: &AlertContent) -> String {
    let e = escape_html;
    let mut h = String::new();
    let color = match content.kind {
        AlertKind::Surfaced => "#b26a00",
        AlertKind::Spreading => "#c2410c",
        AlertKind::Viral => "#b91c1c",
        AlertKind::Unlinked => "#475569",
    };
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;max-width:720px;margin:auto;color:#111\">",
        e(&subject(content))
    );
    let _ = write!(
        h,
        "<h2 style=\"color:{color}\">{} — {}</h2><p style=\"font-size:1.1em\">{}</p>",
        e(&content.kind.as_str().to_uppercase()),
        e(&truncate(&one_line(&content.brand), 40)),
        e(&truncate(&one_line(&content.headline), 120))
    );
    h.push_str("<h3>Why now</h3><ul>");
    for reason in &content.reasons {
        let _ = write!(h, "<li>{}</li>", e(&one_line(reason)));
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
        let _ = write!(
            h,
            "<li style=\"margin-bottom:12px\"><b>[{}]</b> {} by <b>{}</b> — published {}, seen {}<br>",
            e(item.channel.as_str()),
            e(&one_line(&item.source)),
            e(&one_line(item.author.as_deref().unwrap_or("unknown author"))),
            e(&item.published_at.map(|p| p.to_rfc3339()).unwrap_or_else(|| "?".into())),
            e(&item.seen_at.to_rfc3339())
        );
        if let Some(url) = item.url.as_deref().filter(|u| is_web_url(u)) {
            let _ = write!(
                h,
                "<a href=\"{}\">{}</a><br>",
                e(url.trim()),
                e(&truncate(url, 100))
            );
        }
        if let Some(title) = &item.title {
            let _ = write!(h, "<b>{}</b><br>", e(&truncate(&one_line(title), 120)));
        }
        let _ = write!(
            h,
            "<blockquote style=\"border-left:3px solid #ccc;margin:4px 0;padding-left:8px\">{}</blockquote>",
            mark_html(&quote(item), &item.marks)
        );
        let _ = write!(h, "engagement: {}", e(&engagement_line(&item.engagement)));
        if let Some(score) = item.link_score {
            let _ = write!(
                h,
                "<br>linked (score {score:.2}): {}",
                e(&item.link_evidence.join("; "))
            );
        }
        h.push_str("</li>");
    }
    h.push_str("</ol>");
    if content.evidence.len() > EVIDENCE_SHOWN {
        let _ = write!(
            h,
            "<p>… and {} more</p>",
            content.evidence.len() - EVIDENCE_SHOWN
        );
    }
    h.push_str("<h3>What to do now</h3><ul>");
    for item in checklist(content.kind) {
        let _ = write!(h, "<li>☐ {}</li>", e(item));
    }
    let _ = write!(
        h,
        "</ul><p style=\"color:#666;font-size:0.9em\">outcry, {}</p></body></html>",
        e(&content.created_at.to_rfc3339())
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
                seen_at: at("2026-03-05T21:52:00+08:00"),
                engagement: Engagement {
                    reposts: Some(12),
                    comments: Some(30),
                    likes: Some(85),
                    views: None,
                },
                link_score: Some(1.0),
                link_evidence: vec!["identifier order:XC-2026-00871".into()],
                marks: vec!["XC-2026-00871".into()],
            }],
            created_at: at("2026-03-05T21:52:00+08:00"),
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
}
