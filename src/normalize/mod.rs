//! Text for matching. Scraped text arrives as markup in mixed scripts and widths; matching
//! works on one folded form while the original is kept for display.

pub mod places;

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

/// Markup to plain text: tags dropped, entities decoded, block breaks kept as newlines and
/// runs of whitespace collapsed; the alt and title text of images and links is kept, set
/// apart by spaces, since a post may say things only there (an order number in a
/// screenshot's caption). Text without markup passes through untouched.
pub fn html_to_text(input: &str) -> Cow<'_, str> {
    if !input.contains(['<', '&']) {
        return Cow::Borrowed(input);
    }
    // Line-breaking tags become newlines before parsing, because text nodes alone would run
    // two paragraphs into one sentence.
    let marked = break_tags_to_newlines(input);
    let fragment = scraper::Html::parse_fragment(&marked);
    let mut text = String::with_capacity(input.len());
    for node in fragment.root_element().descendants() {
        match node.value() {
            scraper::Node::Text(piece) => text.push_str(piece),
            scraper::Node::Element(e) => {
                for caption in captions(e.name(), |a| e.attr(a)) {
                    text.push(' ');
                    text.push_str(caption);
                    text.push(' ');
                }
            }
            _ => {}
        }
    }
    Cow::Owned(collapse_whitespace(&text))
}

/// The words an element carries in attributes that readers see: an image's alt text, and
/// the title (tooltip) of images and links.
pub fn captions<'a>(
    element: &str,
    attr: impl Fn(&str) -> Option<&'a str>,
) -> impl Iterator<Item = &'a str> {
    let names: &[&str] = match element {
        "img" | "area" => &["alt", "title"],
        "a" | "abbr" => &["title"],
        _ => &[],
    };
    names
        .iter()
        .filter_map(move |name| attr(name))
        .map(str::trim)
        .filter(|caption| !caption.is_empty())
}

fn break_tags_to_newlines(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 16);
    let mut rest = input;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        let name: String = tag[1..]
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "blockquote"
        ) {
            out.push('\n');
        }
        out.push('<');
        rest = &tag[1..];
    }
    out.push_str(rest);
    out
}

fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&words.join(" "));
    }
    out
}

/// Every http(s) URL in raw text or markup (bare, or in href attributes), so that a repost
/// linking to a known post can be recognised.
pub fn urls_in(raw: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for (start, _) in raw.match_indices("http") {
        let rest = &raw[start..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let end = rest
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')' | '）' | '，' | '。')
            })
            .unwrap_or(rest.len());
        let url = rest[..end].replace("&amp;", "&");
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// The matching form: compatibility-folded (full-width to half-width, circled digits to
/// digits), lower-cased, Traditional to Simplified, with invisible characters removed.
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.nfkc() {
        if is_invisible(c) {
            continue;
        }
        if c.is_ascii() {
            folded.push(c.to_ascii_lowercase());
        } else {
            folded.extend(c.to_lowercase());
        }
    }
    fast2s::convert(&folded)
}

/// Characters that change nothing a reader sees but break substring matching when planted
/// inside a brand name or an order number.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
    )
}

/// Characters writers put inside identifiers ("XC-2026 00871", "XC·2026·00871").
pub fn is_identifier_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-'
            | '_'
            | '.'
            | '/'
            | '·'
            | '•'
            | '\u{3000}'
            | '—'
            | '–'
            | '#'
            | ':'
            | '\t'
            | '\n'
            | '\r'
    )
}

/// Folded text with identifier separators removed, upper-cased, for finding identifiers
/// however they were spaced. Chinese characters stay, so plates like 黑M3K821 match.
pub fn compact_identifier(text: &str) -> String {
    fold(text)
        .chars()
        .filter(|c| !is_identifier_separator(*c))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A matching unit: a Han character bigram or a whole Latin/digit word, hashed.
pub type Unit = u64;

/// Latin/digit words are hashed apart from Han bigrams (which are two code points).
const WORD_TAG: u64 = 1 << 63;

/// Splits folded text into matching units, skipping the byte ranges in `skip` (the brand's
/// own aliases, which every post about the brand shares).
pub fn units(folded: &str, skip: &[(usize, usize)]) -> Vec<Unit> {
    let mut out = Vec::with_capacity(folded.len() / 2);
    let mut previous_han: Option<char> = None;
    let mut word: Option<(usize, u64)> = None;
    let mut skip_iter = skip.iter().peekable();
    for (at, c) in folded.char_indices() {
        while skip_iter.peek().is_some_and(|&&(_, end)| end <= at) {
            skip_iter.next();
        }
        let skipped = skip_iter
            .peek()
            .is_some_and(|&&(start, end)| start <= at && at < end);
        let is_word_char = c.is_ascii_alphanumeric() && !skipped;
        if !is_word_char {
            if let Some((len, hash)) = word.take() {
                if len >= 2 {
                    out.push(hash | WORD_TAG);
                }
            }
        }
        if skipped {
            previous_han = None;
            continue;
        }
        if is_han(c) {
            if let Some(p) = previous_han {
                out.push(((p as u64) << 32) | c as u64);
            }
            previous_han = Some(c);
        } else {
            previous_han = None;
            if is_word_char {
                let (len, hash) = word.unwrap_or((0, 0xcbf2_9ce4_8422_2325));
                word = Some((
                    len + 1,
                    (hash ^ c as u64).wrapping_mul(0x0100_0000_01b3) & !WORD_TAG,
                ));
            }
        }
    }
    if let Some((len, hash)) = word {
        if len >= 2 {
            out.push(hash | WORD_TAG);
        }
    }
    out
}

/// Han (Chinese) characters, the script that units split into bigrams.
pub fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_text_with_breaks_and_entities() {
        let text =
            html_to_text("<p>发动机&amp;变速箱</p><p>漏油&lt;严重&gt;<br/>第二行&nbsp;x</p>");
        assert_eq!(text, "发动机&变速箱\n漏油<严重>\n第二行 x");
    }

    #[test]
    fn alt_and_title_text_is_part_of_the_text() {
        let text = html_to_text(
            r#"<p>退款明细看图<img src="a.jpg" alt="订单号SS2026 0707 1882"><a href="/x" title="原帖">链接</a></p>"#,
        );
        assert_eq!(text, "退款明细看图 订单号SS2026 0707 1882 原帖 链接");
    }

    #[test]
    fn plain_text_is_borrowed_untouched() {
        assert!(matches!(html_to_text("没有标签的文字"), Cow::Borrowed(_)));
    }

    #[test]
    fn urls_are_found_bare_and_in_links() {
        let raw = r#"转发 <a href="https://weibo.example/4882?a=1&amp;b=2">原帖</a> 和 http://x.example/p，完"#;
        assert_eq!(
            urls_in(raw),
            ["https://weibo.example/4882?a=1&b=2", "http://x.example/p"]
        );
    }

    #[test]
    fn fold_handles_width_case_script_and_invisibles() {
        assert_eq!(fold("ＸＩＮＧＣＨＩ　汽車"), "xingchi 汽车");
        assert_eq!(fold("星\u{200B}馳"), "星驰");
        assert_eq!(fold("訂單號ＪＸ２０２６"), "订单号jx2026");
    }

    #[test]
    fn identifiers_compact_across_spacing_and_width() {
        assert_eq!(compact_identifier("XC-2026-00871"), "XC202600871");
        assert_eq!(
            compact_identifier("ｘｃ－２０２６　００８７１"),
            "XC202600871"
        );
        assert_eq!(compact_identifier("黑M·3K821"), "黑M3K821");
    }
}
