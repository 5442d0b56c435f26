//! HTML list pages → items, with the CSS selectors of the source's `[selectors]` table.
//! Also the readers for the counts and times that such pages show as text ("1.2万",
//! "3分钟前"), since no markup standard carries them.

use super::{content_guid, ExtractError, ExtractedItem};
use crate::config::{HtmlSelectors, ItemPageConfig};
use crate::model::Engagement;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
};
use scraper::{ElementRef, Html, Node, Selector};
use std::collections::HashSet;

/// What one HTML page gave.
#[derive(Debug, Clone, PartialEq)]
pub struct HtmlPage {
    pub items: Vec<ExtractedItem>,
    /// Configured selectors (by field name) that matched in no item; `item` when no item
    /// was found at all. An operator's first clue that the site's markup changed.
    pub unmatched: Vec<&'static str>,
    /// Where `next_page` points, resolved against the page.
    pub next_page: Option<url::Url>,
}

/// Reads an HTML page into items. `now` anchors relative times and supplies the offset for
/// times that carry none.
pub fn extract_html(
    text: &str,
    selectors: &HtmlSelectors,
    page_url: &url::Url,
    now: DateTime<FixedOffset>,
) -> Result<HtmlPage, ExtractError> {
    let compiled = Compiled::new(selectors)?;
    let document = Html::parse_document(text);
    let link_attr = selectors.link_attr.as_deref().unwrap_or("href");

    let mut matched: HashSet<&'static str> = HashSet::new();
    let mut items = Vec::new();
    for item in document.select(&compiled.item) {
        matched.insert("item");
        for (field, selector) in &compiled.inner {
            if item.select(selector).next().is_some() {
                matched.insert(field);
            }
        }
        let text_of = |field: &str| compiled.get(field).and_then(|s| first_text(item, s));
        let title = text_of("title");
        // A post's images and links carry words in their alt and title text (an order
        // number in a screenshot's caption): they are part of what the post says.
        let body = compiled.get("body").and_then(|s| {
            item.select(s)
                .next()
                .and_then(|e| non_blank(&element_text_with_captions(e)))
        });
        if title.is_none() && body.is_none() {
            // Ads, separators and "load more" rows often match the item selector too.
            continue;
        }
        // Without a link selector the item itself may be the link (`<a class="card">`).
        let link_element = match compiled.get("link") {
            Some(s) => item.select(s).next(),
            None => Some(item),
        };
        let url = link_element
            .and_then(|e| e.value().attr(link_attr))
            .and_then(|href| resolve_link(page_url, href));
        // Likewise the id often sits on the item element itself (`<li data-id="...">`).
        let guid = match (compiled.get("guid"), selectors.guid_attr.as_deref()) {
            (Some(s), Some(attr)) => item
                .select(s)
                .next()
                .and_then(|e| e.value().attr(attr))
                .and_then(non_blank),
            (Some(s), None) => first_text(item, s),
            (None, Some(attr)) => item.value().attr(attr).and_then(non_blank),
            (None, None) => None,
        };
        let guid = guid
            .or_else(|| url.clone())
            .unwrap_or_else(|| content_guid(title.as_deref(), body.as_deref()));
        let published_at = compiled
            .get("time")
            .and_then(|s| item.select(s).next())
            .and_then(|e| element_time(e, now));
        let count = |field: &str| text_of(field).and_then(|t| parse_count(&t));
        items.push(ExtractedItem {
            guid,
            url,
            title,
            body,
            author: text_of("author"),
            author_followers: count("followers"),
            published_at,
            engagement: Engagement {
                reposts: count("reposts"),
                comments: count("comments"),
                likes: count("likes"),
                views: count("views"),
            },
        });
    }
    let next_page = match &compiled.next_page {
        Some(s) => document.select(s).next().and_then(|e| {
            matched.insert("next_page");
            let href = e.value().attr("href")?;
            url::Url::parse(&resolve_link(page_url, href)?).ok()
        }),
        None => None,
    };
    let unmatched = selectors
        .fields()
        .into_iter()
        .filter(|(field, selector)| selector.is_some() && !matched.contains(field))
        .map(|(field, _)| field)
        .collect();
    Ok(HtmlPage {
        items,
        unmatched,
        next_page,
    })
}

/// Reads engagement counts and the author's followers from an item's own page: the first
/// match of each selector in the whole page.
pub fn extract_counts(
    text: &str,
    selectors: &ItemPageConfig,
) -> Result<(Engagement, Option<i64>), ExtractError> {
    let document = Html::parse_document(text);
    let count = |field: &'static str, selector: &Option<String>| {
        let Some(selector) = selector else {
            return Ok(None);
        };
        let selector = compile(field, selector)?;
        Ok(document
            .select(&selector)
            .next()
            .map(element_text)
            .and_then(|t| parse_count(&t)))
    };
    let engagement = Engagement {
        reposts: count("reposts", &selectors.reposts)?,
        comments: count("comments", &selectors.comments)?,
        likes: count("likes", &selectors.likes)?,
        views: count("views", &selectors.views)?,
    };
    Ok((engagement, count("followers", &selectors.followers)?))
}

fn compile(field: &'static str, selector: &str) -> Result<Selector, ExtractError> {
    Selector::parse(selector).map_err(|e| ExtractError::Selector {
        field,
        selector: selector.to_string(),
        message: e.to_string(),
    })
}

/// The item selector, the selectors applied inside each item, and the page-wide next-page
/// selector, compiled once per page.
struct Compiled {
    item: Selector,
    inner: Vec<(&'static str, Selector)>,
    next_page: Option<Selector>,
}

impl Compiled {
    fn new(s: &HtmlSelectors) -> Result<Compiled, ExtractError> {
        let mut item = None;
        let mut inner = Vec::new();
        let mut next_page = None;
        for (field, selector) in s.fields() {
            let Some(selector) = selector else { continue };
            let compiled = compile(field, selector)?;
            match field {
                "item" => item = Some(compiled),
                "next_page" => next_page = Some(compiled),
                _ => inner.push((field, compiled)),
            }
        }
        let item = item.ok_or_else(|| ExtractError::Html("selectors.item is missing".into()))?;
        Ok(Compiled {
            item,
            inner,
            next_page,
        })
    }

    fn get(&self, field: &str) -> Option<&Selector> {
        self.inner
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, s)| s)
    }
}

fn first_text(item: ElementRef<'_>, selector: &Selector) -> Option<String> {
    item.select(selector)
        .next()
        .and_then(|e| non_blank(&element_text(e)))
}

/// The element's text nodes, joined without separators and whitespace-collapsed. No space
/// is put between adjacent nodes: `<b>星驰</b><i>汽车</i>` must stay "星驰汽车" for brand
/// detection, and real word breaks in markup come with whitespace of their own.
pub fn element_text(element: ElementRef<'_>) -> String {
    let mut raw = String::new();
    collect_text(element, &mut raw, false);
    collapse_whitespace(&raw)
}

/// As [`element_text`], with the alt and title text of images and links, each set apart by
/// spaces.
fn element_text_with_captions(element: ElementRef<'_>) -> String {
    let mut raw = String::new();
    collect_text(element, &mut raw, true);
    collapse_whitespace(&raw)
}

fn collect_text(element: ElementRef<'_>, out: &mut String, captions: bool) {
    for child in element.children() {
        match child.value() {
            Node::Text(text) => out.push_str(text),
            Node::Element(e) if matches!(e.name(), "script" | "style" | "template") => {}
            Node::Element(e) => {
                if captions {
                    for caption in crate::normalize::captions(e.name(), |a| e.attr(a)) {
                        out.push(' ');
                        out.push_str(caption);
                        out.push(' ');
                    }
                }
                if let Some(child) = ElementRef::wrap(child) {
                    collect_text(child, out, captions);
                }
            }
            _ => {}
        }
    }
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn non_blank(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn resolve_link(page_url: &url::Url, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let url = page_url.join(href).ok()?;
    // `javascript:void(0)` and the like are no address of the item.
    matches!(url.scheme(), "http" | "https").then(|| url.into())
}

/// A machine-readable `datetime` beats a tooltip, which beats the visible (often relative)
/// text.
fn element_time(
    element: ElementRef<'_>,
    now: DateTime<FixedOffset>,
) -> Option<DateTime<FixedOffset>> {
    let attrs = ["datetime", "title"]
        .into_iter()
        .filter_map(|a| element.value().attr(a).map(str::to_string));
    attrs
        .chain(std::iter::once(element_text(element)))
        .find_map(|t| parse_time(&t, now))
}

/// Full-width digits and punctuation, as Chinese pages sometimes write numbers.
fn fold_width(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        '：' => ':',
        '，' => ',',
        '．' => '.',
        '＋' => '+',
        _ => c,
    }
}

/// Reads a count as pages show it: "1.2万" (12000), "3.4w", "10w+", "2.5K", "3,456",
/// "1,234 次", "1亿", "赞 12". The first number in the text counts, with the unit right
/// after it. `None` when the text holds no number (a bare "赞" label, for instance).
pub fn parse_count(text: &str) -> Option<i64> {
    let chars: Vec<char> = text.chars().map(fold_width).collect();
    let start = chars.iter().position(|c| c.is_ascii_digit())?;
    let digit = |i: usize| chars.get(i).and_then(|c| c.to_digit(10));

    let (mut int, mut frac, mut frac_digits) = (0i128, 0i128, 0u32);
    let mut i = start;
    let mut in_fraction = false;
    while i < chars.len() {
        if let Some(d) = digit(i) {
            if in_fraction {
                // Digits past the ninth cannot matter once multiplied by at most 10^8 ×
                // 10^4; dropping them keeps the arithmetic in range.
                if frac_digits < 9 {
                    frac = frac * 10 + i128::from(d);
                    frac_digits += 1;
                }
            } else {
                int = int.checked_mul(10)?.checked_add(i128::from(d))?;
                if int > i128::from(i64::MAX) {
                    return None;
                }
            }
            i += 1;
        } else if chars[i] == ','
            && !in_fraction
            && (1..=3).all(|k| digit(i + k).is_some())
            && digit(i + 4).is_none()
        {
            // A thousands separator, and only that: "12,3" is two numbers, not 123.
            i += 1;
        } else if chars[i] == '.' && !in_fraction && digit(i + 1).is_some() {
            in_fraction = true;
            i += 1;
        } else {
            break;
        }
    }

    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    let mut multiplier: i128 = 1;
    // Chinese units compound: 千万 is 10^7, 万亿 10^12.
    while let Some(m) = chars.get(i).and_then(|c| chinese_unit(*c)) {
        multiplier = multiplier.checked_mul(m)?;
        i += 1;
    }
    if multiplier == 1 {
        let letter_unit = chars.get(i).and_then(|c| match c {
            'w' | 'W' => Some(10_000),
            'k' | 'K' => Some(1_000),
            'm' | 'M' => Some(1_000_000),
            _ => None,
        });
        // "3 weeks" or "1 min" is a word, not a unit.
        let word_follows = chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic());
        if let (Some(m), false) = (letter_unit, word_follows) {
            multiplier = m;
        }
    }
    let value = int.checked_mul(multiplier)? + frac * multiplier / 10i128.pow(frac_digits);
    i64::try_from(value).ok()
}

fn chinese_unit(c: char) -> Option<i128> {
    match c {
        '十' => Some(10),
        '百' => Some(100),
        '千' => Some(1_000),
        '万' | '萬' => Some(10_000),
        '亿' | '億' => Some(100_000_000),
        _ => None,
    }
}

/// Reads a publication time as pages show it. Absolute forms: RFC 3339 / ISO 8601, RFC 2822,
/// "2026-11-20 08:15", "2026/11/20", "2026年11月20日 08:15", Unix timestamps (10 or 13
/// digits). Relative forms, anchored at `now`: "刚刚", "3分钟前", "2小时前", "今天 08:00",
/// "昨天 12:30", "前天", "11-20 08:15" (this year). Times without an offset are read in
/// `now`'s offset.
pub fn parse_time(text: &str, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    let folded: String = text.chars().map(fold_width).collect();
    let text = collapse_whitespace(&folded);
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(&text) {
        return Some(t);
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%d %H:%M%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(&text, format) {
            return Some(t);
        }
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let stamp: i64 = text.parse().ok()?;
        let utc = match text.len() {
            10 => DateTime::from_timestamp(stamp, 0)?,
            13 => DateTime::from_timestamp_millis(stamp)?,
            _ => return None,
        };
        return Some(utc.with_timezone(now.offset()));
    }
    relative_time(&text, now).or_else(|| absolute_time(&text, now))
}

fn relative_time(text: &str, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    if text.contains("刚刚") {
        return Some(now);
    }
    if text.contains("半小时前") {
        return Some(now - Duration::minutes(30));
    }
    for (word, days_back) in [("今天", 0), ("昨天", 1), ("前天", 2)] {
        if let Some(at) = text.find(word) {
            let date = now.date_naive() - Duration::days(days_back);
            let rest = text[at + word.len()..].trim_start();
            let time = leading_time(rest).unwrap_or(NaiveTime::MIN);
            return local(date.and_time(time), now);
        }
    }
    // Labels may hold other numbers first ("第3楼 5分钟前").
    digit_runs(text).find_map(|start| ago(&text[start..], now))
}

/// "5分钟前" at the start of `text`.
fn ago(text: &str, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let amount: i64 = text[..digits_end].parse().ok()?;
    let rest = text[digits_end..].trim_start();
    // Longest unit names first: "分钟" before "分", "个月" before "月".
    let units: [(&str, i64); 12] = [
        ("秒钟", 1),
        ("秒", 1),
        ("分钟", 60),
        ("分", 60),
        ("个小时", 3_600),
        ("小时", 3_600),
        ("天", 86_400),
        ("周", 7 * 86_400),
        ("星期", 7 * 86_400),
        ("个月", 30 * 86_400),
        ("月", 30 * 86_400),
        ("年", 365 * 86_400),
    ];
    let (unit, seconds) = units.iter().find(|(name, _)| rest.starts_with(name))?;
    if !rest[unit.len()..].trim_start().starts_with('前') {
        return None;
    }
    let back = Duration::try_seconds(amount.checked_mul(*seconds)?)?;
    now.checked_sub_signed(back)
}

/// Byte offsets where a run of ASCII digits begins.
fn digit_runs(text: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = text.as_bytes();
    (0..bytes.len())
        .filter(move |&i| bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()))
}

fn absolute_time(text: &str, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    digit_runs(text).find_map(|start| absolute_time_at(&text[start..], now))
}

/// A date (or a bare clock time) at the start of `text`.
fn absolute_time_at(text: &str, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    let mut norm = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '年' | '月' | '/' => norm.push('-'),
            '日' | '号' | 'T' => norm.push(' '),
            _ => norm.push(c),
        }
    }
    let norm = collapse_whitespace(&norm);
    let lead = norm.bytes().take_while(u8::is_ascii_digit).count();
    match (lead, norm.as_bytes().get(lead)) {
        (4, Some(b'-' | b'.')) => date_time(&norm.replacen('.', "-", 2), now),
        (1 | 2, Some(b'-' | b'.')) => {
            // Month and day only: this year, unless that lies ahead of now (a page read on
            // 2 January showing "12-31 23:00").
            let with_year = format!("{}-{}", now.year(), norm.replacen('.', "-", 1));
            let t = date_time(&with_year, now)?;
            if t > now + Duration::days(1) {
                let last_year = format!("{}-{}", now.year() - 1, norm.replacen('.', "-", 1));
                date_time(&last_year, now)
            } else {
                Some(t)
            }
        }
        // A bare clock time is today's.
        (1 | 2, Some(b':')) => local(now.date_naive().and_time(leading_time(&norm)?), now),
        _ => None,
    }
}

/// "Y-m-d H:M[:S]" or "Y-m-d", with anything after it ignored ("... 来自 iPhone").
fn date_time(text: &str, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok((t, rest)) = NaiveDateTime::parse_and_remainder(text, format) {
            if !rest.starts_with(|c: char| c.is_ascii_digit()) {
                return local(t, now);
            }
        }
    }
    let (date, rest) = NaiveDate::parse_and_remainder(text, "%Y-%m-%d").ok()?;
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    local(date.and_time(NaiveTime::MIN), now)
}

fn leading_time(text: &str) -> Option<NaiveTime> {
    ["%H:%M:%S", "%H:%M"]
        .into_iter()
        .find_map(|f| NaiveTime::parse_and_remainder(text, f).ok().map(|(t, _)| t))
}

fn local(t: NaiveDateTime, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    now.offset().from_local_datetime(&t).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00+08:00").unwrap()
    }

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn counts_in_every_form_pages_use() {
        let cases = [
            ("1.2万", Some(12_000)),
            ("3.4w", Some(34_000)),
            ("10w+", Some(100_000)),
            ("1k", Some(1_000)),
            ("2.5K", Some(2_500)),
            ("3,456", Some(3_456)),
            ("1,234 次", Some(1_234)),
            ("2亿", Some(200_000_000)),
            ("1.5亿", Some(150_000_000)),
            ("3千万", Some(30_000_000)),
            ("赞 12", Some(12)),
            ("转发 1.2万 评论 300", Some(12_000)),
            ("１２３", Some(123)),
            ("0", Some(0)),
            ("赞", None),
            ("", None),
            ("3 weeks", Some(3)),
            ("12,3", Some(12)),
            ("99999999999999999999", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_count(text), expected, "{text}");
        }
    }

    #[test]
    fn absolute_times() {
        let n = now();
        let cases = [
            ("2026-11-20T08:15:00+08:00", "2026-11-20T08:15:00+08:00"),
            ("2026-11-20T00:15:00Z", "2026-11-20T08:15:00+08:00"),
            (
                "Fri, 20 Nov 2026 08:15:00 +0800",
                "2026-11-20T08:15:00+08:00",
            ),
            ("2026-11-20 08:15", "2026-11-20T08:15:00+08:00"),
            ("2026-11-20 08:15:30", "2026-11-20T08:15:30+08:00"),
            ("2026/11/20 08:15", "2026-11-20T08:15:00+08:00"),
            ("2026年11月20日 08:15", "2026-11-20T08:15:00+08:00"),
            ("2026年11月20日08:15", "2026-11-20T08:15:00+08:00"),
            ("发布于 2026-11-20", "2026-11-20T00:00:00+08:00"),
            ("2026-11-20 08:15 来自 iPhone", "2026-11-20T08:15:00+08:00"),
            ("1795133700", "2026-11-20T08:15:00+08:00"),
            ("1795133700000", "2026-11-20T08:15:00+08:00"),
            ("11-20 08:15", "2026-11-20T08:15:00+08:00"),
            ("11月20日 08:15", "2026-11-20T08:15:00+08:00"),
        ];
        for (i, (text, expected)) in cases.into_iter().enumerate() {
            let got = parse_time(text, n);
            assert_eq!(got, Some(at(expected)), "{text}");
            // Past the first three, the text names no offset, so now's applies.
            if i >= 3 {
                assert_eq!(got.map(|t| *t.offset()), Some(*n.offset()), "{text}");
            }
        }
    }

    #[test]
    fn relative_times_are_anchored_at_now_in_its_offset() {
        let n = now();
        let cases = [
            ("刚刚", "2026-11-21T10:00:00+08:00"),
            ("3分钟前", "2026-11-21T09:57:00+08:00"),
            ("2小时前", "2026-11-21T08:00:00+08:00"),
            ("2 小时前", "2026-11-21T08:00:00+08:00"),
            ("半小时前", "2026-11-21T09:30:00+08:00"),
            ("3天前", "2026-11-18T10:00:00+08:00"),
            ("今天 08:00", "2026-11-21T08:00:00+08:00"),
            ("昨天 12:30", "2026-11-20T12:30:00+08:00"),
            ("前天 23:59", "2026-11-19T23:59:00+08:00"),
            ("09:30", "2026-11-21T09:30:00+08:00"),
            ("发布于 昨天12:30", "2026-11-20T12:30:00+08:00"),
            ("第3楼 5分钟前", "2026-11-21T09:55:00+08:00"),
            ("第3楼 2026-11-20 08:15", "2026-11-20T08:15:00+08:00"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_time(text, n), Some(at(expected)), "{text}");
        }
    }

    #[test]
    fn month_day_ahead_of_now_is_last_year() {
        let jan = at("2027-01-02T10:00:00+08:00");
        assert_eq!(
            parse_time("12-31 23:00", jan),
            Some(at("2026-12-31T23:00:00+08:00"))
        );
    }

    #[test]
    fn unreadable_times_are_none() {
        for text in ["", "昨日黄花", "12345", "2026", "abc", "99-99 99:99"] {
            assert_eq!(parse_time(text, now()), None, "{text}");
        }
    }
}
