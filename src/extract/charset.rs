//! Bytes → text. Many Chinese sites still serve GBK / GB18030 / Big5, and their declarations
//! are often missing or wrong, so the order of evidence matters: a BOM, then the HTTP header,
//! then an in-document declaration, then statistical detection — and a declaration that
//! produces malformed sequences loses to a guess that decodes cleanly.

use encoding_rs::{Encoding, GB18030, GBK, UTF_16BE, UTF_16LE, UTF_8};
use std::borrow::Cow;

/// How far into the document an XML prolog or HTML `<meta>` is looked for.
const PRESCAN_BYTES: usize = 2048;

/// Where the encoding that was used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredBy {
    Bom,
    HttpHeader,
    XmlProlog,
    HtmlMeta,
    Detected,
}

#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    pub encoding: &'static Encoding,
    /// Some bytes were malformed in `encoding` and became U+FFFD.
    pub had_errors: bool,
    pub declared_by: DeclaredBy,
}

/// Decodes a fetched body. `content_type` is the HTTP `Content-Type` header, if any.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Decoded {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        // A BOM is unambiguous and outranks every declaration (as in browsers).
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        return Decoded {
            text: text.into_owned(),
            encoding,
            had_errors,
            declared_by: DeclaredBy::Bom,
        };
    }

    // UTF-16 without a BOM shows itself in the zero bytes around `<` (XML 1.0, appendix F),
    // and outranks the header too: no other reading of those bytes makes sense.
    if let Some(encoding) = utf16_without_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
        return Decoded {
            text: text.into_owned(),
            encoding,
            had_errors,
            declared_by: DeclaredBy::Detected,
        };
    }

    let declared = content_type
        .and_then(charset_param)
        .and_then(encoding_for_label)
        .map(|e| (e, DeclaredBy::HttpHeader))
        .or_else(|| {
            let head = &bytes[..bytes.len().min(PRESCAN_BYTES)];
            xml_prolog_encoding(head)
                .map(|e| (e, DeclaredBy::XmlProlog))
                .or_else(|| html_meta_encoding(head).map(|e| (e, DeclaredBy::HtmlMeta)))
        });

    let Some((encoding, declared_by)) = declared else {
        let encoding = guess(bytes);
        let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
        return Decoded {
            text: text.into_owned(),
            encoding,
            had_errors,
            declared_by: DeclaredBy::Detected,
        };
    };

    // Sites migrate from GBK to UTF-8 and keep the old header or template, so UTF-8 bytes
    // labelled GBK are common. GBK decodes almost any byte soup without a formal error, so
    // the error check below would not catch it; well-formed multi-byte UTF-8, on the other
    // hand, practically never happens by chance in a legacy-encoded page.
    if encoding != UTF_8 && is_non_ascii_utf8(bytes) {
        return Decoded {
            text: String::from_utf8_lossy(bytes).into_owned(),
            encoding: UTF_8,
            had_errors: false,
            declared_by: DeclaredBy::Detected,
        };
    }

    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    // A few malformed bytes (an excerpt cut mid-character) are no reason to doubt the
    // declaration: single-byte encodings never report errors, so a guess would "win" with
    // mojibake. Only a declaration that garbles a good share of the text is overruled.
    if had_errors && mostly_garbled(&text) {
        let guessed = guess(bytes);
        if guessed != encoding {
            let (guessed_text, guessed_errors) = guessed.decode_without_bom_handling(bytes);
            if !guessed_errors {
                return Decoded {
                    text: guessed_text.into_owned(),
                    encoding: guessed,
                    had_errors: false,
                    declared_by: DeclaredBy::Detected,
                };
            }
        }
    }
    Decoded {
        text: text.into_owned(),
        encoding,
        had_errors,
        declared_by,
    }
}

/// Resolves an encoding label as a Chinese site means it: GB2312 and GBK pages routinely
/// contain characters only GB18030 has, and GB18030 is a superset of both.
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let encoding = Encoding::for_label(label.trim().as_bytes())?;
    Some(if encoding == GBK { GB18030 } else { encoding })
}

/// Rewrites an XML prolog's `encoding` to UTF-8 so that an XML parser reading the (already
/// decoded) text does not decode it a second time with the original charset.
pub fn declare_utf8(xml: &str) -> Cow<'_, str> {
    let start = xml.len() - xml.trim_start().len();
    let rest = &xml[start..];
    if !rest.starts_with("<?xml") {
        return Cow::Borrowed(xml);
    }
    let Some(end) = rest.find("?>") else {
        return Cow::Borrowed(xml);
    };
    let decl = &rest[..end];
    let Some((value_start, value_end)) = pseudo_attr_span(decl.as_bytes(), b"encoding") else {
        return Cow::Borrowed(xml);
    };
    if decl[value_start..value_end].eq_ignore_ascii_case("utf-8") {
        return Cow::Borrowed(xml);
    }
    let mut out = String::with_capacity(xml.len());
    out.push_str(&xml[..start + value_start]);
    out.push_str("UTF-8");
    out.push_str(&xml[start + value_end..]);
    Cow::Owned(out)
}

/// Statistical guess for undeclared bytes. Valid UTF-8 is taken at face value: chardetng
/// would answer windows-1252 for plain ASCII, which decodes the same but reports oddly.
/// `<` (or leading whitespace) as a UTF-16 code unit with its high byte zero.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let first = bytes.chunks_exact(2).find(|unit| {
        !matches!(
            unit,
            [0, b' ' | b'\t' | b'\r' | b'\n'] | [b' ' | b'\t' | b'\r' | b'\n', 0]
        )
    })?;
    match first {
        [0, b'<'] => Some(UTF_16BE),
        [b'<', 0] => Some(UTF_16LE),
        _ => None,
    }
}

fn guess(bytes: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(bytes).is_ok() {
        return UTF_8;
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    let guessed = detector.guess(None, true);
    if guessed == GBK {
        GB18030
    } else {
        guessed
    }
}

/// At least one in twenty non-ASCII characters came out as U+FFFD.
fn mostly_garbled(text: &str) -> bool {
    let (mut non_ascii, mut replaced) = (0usize, 0usize);
    for c in text.chars().filter(|c| !c.is_ascii()) {
        non_ascii += 1;
        if c == char::REPLACEMENT_CHARACTER {
            replaced += 1;
        }
    }
    replaced > 0 && replaced * 20 >= non_ascii
}

fn is_non_ascii_utf8(bytes: &[u8]) -> bool {
    !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok()
}

/// The `charset` parameter of a `Content-Type` value.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("charset") {
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
            (!value.is_empty()).then_some(value)
        } else {
            None
        }
    })
}

/// `encoding="..."` of an `<?xml ...?>` prolog at the very start of the document.
fn xml_prolog_encoding(head: &[u8]) -> Option<&'static Encoding> {
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &head[start..];
    if !rest.starts_with(b"<?xml") {
        return None;
    }
    let end = find(rest, b"?>")?;
    let decl = &rest[..end];
    let (from, to) = pseudo_attr_span(decl, b"encoding")?;
    let label = std::str::from_utf8(&decl[from..to]).ok()?;
    ascii_compatible(encoding_for_label(label)?)
}

/// A `<meta charset>` or `<meta http-equiv="Content-Type" content="...; charset=...">`.
fn html_meta_encoding(head: &[u8]) -> Option<&'static Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta") {
        let tag_start = from + pos + b"<meta".len();
        let tag_end = lower[tag_start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |p| tag_start + p);
        let tag = &lower[tag_start..tag_end];
        if let Some((a, b)) = pseudo_attr_span(tag, b"charset") {
            if let Some(e) = std::str::from_utf8(&tag[a..b])
                .ok()
                .and_then(encoding_for_label)
            {
                return ascii_compatible(e);
            }
        }
        if let Some((a, b)) = pseudo_attr_span(tag, b"content") {
            let content = std::str::from_utf8(&tag[a..b]).ok();
            if let Some(e) = content
                .and_then(charset_param_loose)
                .and_then(encoding_for_label)
            {
                return ascii_compatible(e);
            }
        }
        from = tag_end;
    }
    None
}

/// `charset=` anywhere in a meta `content` value ("text/html; charset=gbk").
fn charset_param_loose(content: &str) -> Option<&str> {
    let at = content.find("charset")?;
    let rest = content[at + "charset".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let rest = rest.trim_start_matches(['"', '\'']);
    let end = rest
        .find(|c: char| c == ';' || c == '"' || c == '\'' || c.is_whitespace())
        .unwrap_or(rest.len());
    (end > 0).then_some(&rest[..end])
}

/// We found the declaration by reading ASCII, so the document cannot really be UTF-16;
/// the HTML standard reads such a declaration as UTF-8, and so do we.
fn ascii_compatible(encoding: &'static Encoding) -> Option<&'static Encoding> {
    if encoding == UTF_16LE || encoding == UTF_16BE {
        Some(UTF_8)
    } else {
        Some(encoding)
    }
}

/// Byte span of the value of `name=` / `name="..."` in a tag or declaration. The name must
/// stand on its own, so `charset` does not match inside `data-charset`.
fn pseudo_attr_span(tag: &[u8], name: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(pos) = find_ignore_case(&tag[from..], name) {
        let at = from + pos;
        from = at + name.len();
        let preceded_ok = at == 0 || matches!(tag[at - 1], b' ' | b'\t' | b'\n' | b'\r' | b'/');
        if !preceded_ok {
            continue;
        }
        let mut i = at + name.len();
        while i < tag.len() && tag[i].is_ascii_whitespace() {
            i += 1;
        }
        if tag.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < tag.len() && tag[i].is_ascii_whitespace() {
            i += 1;
        }
        return match tag.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let start = i + 1;
                let len = tag[start..].iter().position(|&b| b == q)?;
                Some((start, start + len))
            }
            Some(_) => {
                let start = i;
                let len = tag[start..]
                    .iter()
                    .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>' || b == b'?')
                    .unwrap_or(tag.len() - start);
                (len > 0).then_some((start, start + len))
            }
            None => None,
        };
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::BIG5;

    fn gbk(text: &str) -> Vec<u8> {
        GB18030.encode(text).0.into_owned()
    }

    #[test]
    fn utf16_without_bom_is_recognised() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-16\"?><rss><title>星驰</title></rss>";
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        for (bytes, encoding) in [(be, UTF_16BE), (le, UTF_16LE)] {
            let d = decode(&bytes, Some("text/xml; charset=utf-8"));
            assert_eq!(d.encoding, encoding);
            assert_eq!(d.text, text);
            assert!(!d.had_errors);
        }
        assert_eq!(utf16_without_bom(b"<rss/>"), None);
        assert_eq!(utf16_without_bom(b""), None);
    }

    #[test]
    fn bom_wins_over_header() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice("星驰".as_bytes());
        let d = decode(&bytes, Some("text/html; charset=gbk"));
        assert_eq!(d.text, "星驰");
        assert_eq!(d.encoding, UTF_8);
        assert_eq!(d.declared_by, DeclaredBy::Bom);
    }

    #[test]
    fn header_charset_is_used_and_gbk_reads_as_gb18030() {
        let bytes = gbk("星驰汽车发动机漏油");
        let d = decode(&bytes, Some("text/html; Charset=\"GB2312\""));
        assert_eq!(d.text, "星驰汽车发动机漏油");
        assert_eq!(d.encoding, GB18030);
        assert_eq!(d.declared_by, DeclaredBy::HttpHeader);
        assert!(!d.had_errors);
    }

    #[test]
    fn xml_prolog_and_html_meta_are_found() {
        let mut xml = b"<?xml version='1.0' encoding='GBK' ?><rss>".to_vec();
        xml.extend(gbk("星驰汽车"));
        let d = decode(&xml, Some("application/xml"));
        assert_eq!(d.declared_by, DeclaredBy::XmlProlog);
        assert!(d.text.ends_with("星驰汽车"));

        let mut html = b"<html><head><META http-equiv=\"Content-Type\" content=\"text/html; charset=big5\"></head>".to_vec();
        html.extend(BIG5.encode("星馳汽車引擎漏油").0.iter());
        let d = decode(&html, None);
        assert_eq!(d.declared_by, DeclaredBy::HtmlMeta);
        assert_eq!(d.encoding, BIG5);
        assert!(d.text.ends_with("星馳汽車引擎漏油"));
    }

    #[test]
    fn meta_charset_does_not_match_inside_other_attributes() {
        let html = b"<meta data-charset=\"big5\"><meta charset=gbk>";
        assert_eq!(html_meta_encoding(html), Some(GB18030));
    }

    #[test]
    fn wrong_utf8_header_on_gbk_bytes_falls_back_to_detection() {
        let text = "星驰汽车发动机漏油，车主要求退车，4S店态度恶劣，已经投诉到12315。";
        let bytes = gbk(text);
        let d = decode(&bytes, Some("text/xml; charset=utf-8"));
        assert_eq!(d.text, text);
        assert_eq!(d.encoding, GB18030);
        assert_eq!(d.declared_by, DeclaredBy::Detected);
        assert!(!d.had_errors);
    }

    #[test]
    fn undeclared_big5_is_detected() {
        let text = "星馳汽車引擎漏油，車主要求退車，4S店態度惡劣，已經投訴到消基會。";
        let d = decode(&BIG5.encode(text).0, None);
        assert_eq!(d.encoding, BIG5);
        assert_eq!(d.text, text);
        assert_eq!(d.declared_by, DeclaredBy::Detected);
    }

    #[test]
    fn a_gb2312_prolog_still_reads_characters_only_gb18030_has() {
        // 䶮 and 𠮷 are outside GB2312 and GBK; sites labelled GB2312 use them anyway.
        let text = "星驰车主王䶮说𠮷野家门店的车漏油";
        let mut xml = b"<?xml version=\"1.0\" encoding=\"GB2312\"?><rss>".to_vec();
        xml.extend(gbk(text));
        let d = decode(&xml, None);
        assert_eq!(d.declared_by, DeclaredBy::XmlProlog);
        assert!(!d.had_errors);
        assert!(d.text.ends_with(text), "{}", d.text);
    }

    #[test]
    fn utf8_bytes_labelled_gbk_are_read_as_utf8() {
        let text = "星驰汽车发动机漏油";
        let d = decode(text.as_bytes(), Some("text/html; charset=gbk"));
        assert_eq!(d.text, text);
        assert_eq!(d.encoding, UTF_8);
    }

    #[test]
    fn a_stray_byte_keeps_the_declared_encoding_and_reports_errors() {
        // Single-byte encodings decode anything without error; a lone bad byte must not
        // turn a UTF-8 page into windows-1252 mojibake.
        let mut bytes = "星驰汽车发动机漏油，车主要求退车。".repeat(4).into_bytes();
        bytes.insert(9, 0xFF);
        let d = decode(&bytes, Some("text/plain; charset=utf-8"));
        assert_eq!(d.encoding, UTF_8);
        assert!(d.had_errors);
        assert_eq!(d.declared_by, DeclaredBy::HttpHeader);
        assert!(d.text.contains("发动机漏油"));
    }

    #[test]
    fn declare_utf8_rewrites_only_the_encoding() {
        assert_eq!(
            declare_utf8("<?xml version=\"1.0\" encoding=\"gb2312\" standalone=\"yes\"?><rss/>"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><rss/>"
        );
        let same = "<?xml version=\"1.0\"?><rss/>";
        assert!(matches!(declare_utf8(same), Cow::Borrowed(_)));
        assert!(matches!(declare_utf8("{\"version\":1}"), Cow::Borrowed(_)));
    }
}
