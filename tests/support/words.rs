//! What a language may and may not say: the words each catalog itself writes, to check
//! that the Chinese output carries no English catalog word and the English output no
//! Chinese catalog phrase, and that a mail's visible text is what it seems.

use outcry::alert::render::RenderedEmail;
use outcry::present::Language;
use std::collections::BTreeSet;
use std::path::Path;

/// The visible text of an HTML part: tags dropped, the few entities the templates write
/// turned back.
pub fn visible(html: &str) -> String {
    let html = match (html.find("<style>"), html.find("</style>")) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}", &html[..start], &html[end + "</style>".len()..])
        }
        _ => html.to_string(),
    };
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
}

/// What people read of an email: subject, text part and the HTML part's visible text.
pub fn readable(rendered: &RenderedEmail) -> String {
    format!(
        "{}\n{}\n{}",
        rendered.subject,
        rendered.text,
        visible(&rendered.html)
    )
}

pub fn catalog(language: Language) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/present/catalogs")
            .join(format!("{}.ftl", language.tag())),
    )
    .unwrap()
}

/// The words a catalog itself writes: message and variant values without their
/// placeables, comments, keys, or commands quoted in backticks.
pub fn catalog_texts(language: Language) -> Vec<String> {
    catalog(language)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let l = l.trim();
            if let Some((_, value)) = l.split_once(" = ") {
                Some(value.to_string())
            } else if l.starts_with('[') || l.starts_with("*[") {
                l.split_once(']').map(|(_, v)| v.to_string())
            } else {
                None
            }
        })
        .map(|value| {
            let mut out = String::new();
            let (mut depth, mut quoted) = (0, false);
            for c in value.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    '`' => quoted = !quoted,
                    _ if depth == 0 && !quoted => out.push(c),
                    _ => {}
                }
            }
            out
        })
        .collect()
}

pub fn english_words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3)
        .map(str::to_ascii_lowercase)
        .collect()
}

pub fn is_han(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

pub fn han_phrases(text: &str) -> Vec<String> {
    text.split(|c: char| !is_han(c))
        .filter(|p| p.chars().count() >= 2)
        .map(String::from)
        .collect()
}

/// The English words of the en catalog in `text` (after `data`, which may say anything, is
/// taken out, along with URLs).
pub fn english_catalog_words_in(text: &str, data: &[&str]) -> Vec<String> {
    let english: BTreeSet<String> = catalog_texts(Language::En)
        .iter()
        .flat_map(|t| english_words(t))
        .collect();
    // Commands and configuration keys are quoted in backticks: the same in any language.
    let unquoted: String = text
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, part)| part)
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = unquoted
        .split_whitespace()
        .filter(|w| !w.contains("http"))
        .collect::<Vec<_>>()
        .join(" ");
    for data in data {
        text = text.replace(data, " ");
    }
    english_words(&text)
        .intersection(&english)
        .cloned()
        .collect()
}

/// The zh catalog's phrases in `text`, except those `data` carries itself.
pub fn chinese_catalog_phrases_in(text: &str, data: &str) -> Vec<String> {
    catalog_texts(Language::ZhCn)
        .iter()
        .flat_map(|t| han_phrases(t))
        .filter(|p| !data.contains(p.as_str()) && text.contains(p.as_str()))
        .collect()
}
