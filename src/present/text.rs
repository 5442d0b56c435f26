//! Untrusted text made safe to show: no character may reverse, hide or disguise what
//! follows it, and nothing shown is unbounded.

use std::borrow::Cow;

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), the
/// direction marks, and other invisible format and control characters that scraped or typed
/// text has no business carrying into what people read.
pub fn is_hidden_control(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}' | '\u{200F}' | '\u{061C}'
        | '\u{200B}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}'
        | '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}')
        || (c.is_control() && c != '\n' && c != '\t')
}

/// `text` without hidden controls; borrowed when there were none.
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_hidden_control) {
        Cow::Owned(text.chars().filter(|c| !is_hidden_control(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters, "…" saying that more was cut.
pub fn truncate(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// One line, bounded, without hidden controls: how every scraped string is shown.
pub fn clip(text: &str, max: usize) -> String {
    truncate(&one_line(&clean(text)), max)
}

/// For the few pieces of markup built outside the templates (marks in a quote).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_controls_and_invisibles_are_removed() {
        let tricky = "王\u{202E}gnp.exe\u{202C} 说\u{2066}好\u{2069}\u{200B}\u{FEFF}\u{0007}";
        assert_eq!(clean(tricky), "王gnp.exe 说好");
        assert_eq!(clip("a\u{202E}\nb", 10), "a b");
        assert!(matches!(clean("普通文本\n第二行"), Cow::Borrowed(_)));
        assert_eq!(truncate("一二三四", 2), "一二…");
    }
}
