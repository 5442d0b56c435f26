//! A forgiving XML reader for feeds. Real feeds are often not well-formed: a bare `&` in
//! `AT&T` or a query string, an HTML entity such as `&nbsp;` that XML does not define, a
//! tag left open inside a title, an unquoted attribute. A strict parser refuses the whole
//! document for any of these, and every complaint in it goes unseen. This reader builds a
//! tree from whatever it is given, the way lenient readers (feedparser) and browsers do, and
//! notes each repair so the source's health can say the feed is broken.
//!
//! Bounded like the strict parse it replaces: one pass over the text, nesting capped at
//! [`MAX_DEPTH`], the tree at [`MAX_ELEMENTS`], no entity expansion beyond single characters.

use std::fmt::Write;

/// Deeper elements are read as text of the element at this depth: no feed needs more, and
/// it keeps recursion over the tree bounded.
pub const MAX_DEPTH: usize = 64;

/// Elements beyond this many are read as text: a feed has hundreds, and a body of nothing
/// but `<a/>` must not grow a tree many times its size.
pub const MAX_ELEMENTS: usize = 100_000;

/// The namespaces feeds are read by. Atom 0.3 and 1.0 share one, as do the RSS 0.90 / 1.0 /
/// Userland namespaces: the elements mean the same, and feeds mix them up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    /// No namespace, or a default namespace we do not know (read as the feed's own).
    Default,
    Atom,
    Rss,
    Rdf,
    Dc,
    DcTerms,
    Content,
    Media,
    Itunes,
    Xhtml,
    /// A prefix bound to a namespace we do not read.
    Other,
}

impl Ns {
    fn from_uri(uri: &str) -> Ns {
        let uri = uri.trim().trim_end_matches('/').to_ascii_lowercase();
        match uri.as_str() {
            "http://www.w3.org/2005/atom" | "http://purl.org/atom/ns#" => Ns::Atom,
            "http://purl.org/rss/1.0"
            | "http://my.netscape.com/rdf/simple/0.9"
            | "http://backend.userland.com/rss2"
            | "http://backend.userland.com/rss"
            | "http://blogs.law.harvard.edu/tech/rss" => Ns::Rss,
            "http://www.w3.org/1999/02/22-rdf-syntax-ns#" => Ns::Rdf,
            "http://purl.org/dc/elements/1.1" => Ns::Dc,
            "http://purl.org/dc/terms" => Ns::DcTerms,
            "http://purl.org/rss/1.0/modules/content" => Ns::Content,
            "http://search.yahoo.com/mrss" | "http://video.search.yahoo.com/mrss" => Ns::Media,
            "http://www.itunes.com/dtds/podcast-1.0.dtd" => Ns::Itunes,
            "http://www.w3.org/1999/xhtml" => Ns::Xhtml,
            _ => Ns::Other,
        }
    }

    /// Feeds use the usual prefixes without declaring them.
    fn from_prefix(prefix: &str) -> Ns {
        match prefix.to_ascii_lowercase().as_str() {
            "atom" => Ns::Atom,
            "rdf" => Ns::Rdf,
            "dc" => Ns::Dc,
            "dcterms" => Ns::DcTerms,
            "content" => Ns::Content,
            "media" => Ns::Media,
            "itunes" => Ns::Itunes,
            "xhtml" => Ns::Xhtml,
            _ => Ns::Other,
        }
    }

    /// Whether an element in this namespace can be one of the feed format's own elements.
    pub fn is_core(self) -> bool {
        matches!(self, Ns::Default | Ns::Atom | Ns::Rss)
    }
}

#[derive(Debug, Clone)]
pub enum Node {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone)]
pub struct Element {
    /// The name as written, prefix included.
    pub name: String,
    pub ns: Ns,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn local(&self) -> &str {
        self.name
            .rsplit_once(':')
            .map_or(self.name.as_str(), |(_, l)| l)
    }

    /// `local` in any of `ns`, compared without regard to case (feeds write `pubdate`).
    pub fn is(&self, ns: &[Ns], local: &str) -> bool {
        ns.contains(&self.ns) && self.local().eq_ignore_ascii_case(local)
    }

    /// An attribute by its name as written (`rdf:about`, `xml:base`), any case.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element named `local` in one of `ns`.
    pub fn child(&self, ns: &[Ns], local: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, local))
    }

    /// All text below this element, markup dropped.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.push_text(&mut out);
        out
    }

    fn push_text(&self, out: &mut String) {
        for node in &self.children {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.push_text(out),
            }
        }
    }

    /// The content as markup: text as it reads (an escaped `&lt;p&gt;` is markup, as
    /// feeds mean it) and child elements written back as tags.
    pub fn inner_markup(&self) -> String {
        let mut out = String::new();
        for node in &self.children {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.write_markup(&mut out, false),
            }
        }
        out
    }

    /// The content as XHTML: text escaped again, so text that reads `<blink>` stays text.
    pub fn inner_xhtml(&self) -> String {
        let mut out = String::new();
        for node in &self.children {
            match node {
                Node::Text(t) => escape_into(&mut out, t),
                Node::Element(e) => e.write_markup(&mut out, true),
            }
        }
        out
    }

    fn write_markup(&self, out: &mut String, escape_text: bool) {
        let name = if self.ns == Ns::Xhtml {
            self.local()
        } else {
            &self.name
        };
        out.push('<');
        out.push_str(name);
        for (k, v) in &self.attrs {
            if k.starts_with("xmlns") {
                continue;
            }
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(out, v);
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for node in &self.children {
            match node {
                Node::Text(t) if escape_text => escape_into(out, t),
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.write_markup(out, escape_text),
            }
        }
        let _ = write!(out, "</{name}>");
    }
}

/// Text made safe to put into markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// What was wrong with a document and had to be worked around: the first problem, said
/// plainly with its line, and how many there were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repairs {
    pub first: Option<String>,
    pub count: usize,
}

impl Repairs {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn note(&mut self, text: &str, at: usize, what: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.is_none() {
            let line = text.as_bytes()[..at.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            // Scraped names end up in the message: bounded, as everything shown of a page.
            let what: String = what().chars().take(160).collect();
            self.first = Some(format!("line {line}: {what}"));
        }
    }
}

impl std::fmt::Display for Repairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.first, self.count) {
            (None, _) => f.write_str("well-formed"),
            (Some(first), 1) => f.write_str(first),
            (Some(first), n) => write!(f, "{first} (and {} more)", n - 1),
        }
    }
}

#[derive(Debug)]
pub struct Document {
    /// Top-level elements: one in a well-formed document.
    pub roots: Vec<Element>,
    pub repairs: Repairs,
}

struct Open {
    element: Element,
    /// `xmlns` bindings made on this element: (prefix, namespace); "" for the default.
    scope: Vec<(String, Ns)>,
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    stack: Vec<Open>,
    roots: Vec<Element>,
    repairs: Repairs,
    /// Elements not opened because of [`MAX_DEPTH`] or [`MAX_ELEMENTS`]: their end tags
    /// are expected.
    not_opened: usize,
    elements: usize,
}

/// Reads `text` into a tree, repairing what a lenient reader repairs. Never fails: a
/// document with no element at all comes back with no roots.
pub fn parse(text: &str) -> Document {
    let mut reader = Reader {
        text,
        pos: 0,
        stack: Vec::new(),
        roots: Vec::new(),
        repairs: Repairs::default(),
        not_opened: 0,
        elements: 0,
    };
    reader.run();
    Document {
        roots: reader.roots,
        repairs: reader.repairs,
    }
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.')
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn note(&mut self, at: usize, what: impl FnOnce() -> String) {
        self.repairs.note(self.text, at, what);
    }

    fn run(&mut self) {
        while self.pos < self.text.len() {
            let rest = self.rest();
            let Some(lt) = rest.find('<') else {
                let end = self.text.len();
                self.text_until(end);
                break;
            };
            if lt > 0 {
                self.text_until(self.pos + lt);
            }
            let rest = self.rest();
            if rest.starts_with("<!--") {
                self.skip_past("-->", 4, "comment");
            } else if rest.starts_with("<![CDATA[") {
                let body = self.pos + 9;
                let (end, next) = match self.text[body..].find("]]>") {
                    Some(i) => (body + i, body + i + 3),
                    None => {
                        self.note(self.pos, || "unterminated CDATA section".into());
                        (self.text.len(), self.text.len())
                    }
                };
                let cdata = self.text[body..end].to_string();
                self.push_text(cdata);
                self.pos = next;
            } else if rest.starts_with("<?") {
                self.skip_past("?>", 2, "processing instruction");
            } else if rest.starts_with("<!") {
                self.skip_declaration();
            } else if rest.starts_with("</") {
                self.end_tag();
            } else if rest[1..].chars().next().is_some_and(is_name_start) {
                self.start_tag();
            } else {
                // `a < b`, `<3`: text, not a tag.
                self.note(self.pos, || "a bare `<` in text".into());
                self.push_text("<".to_string());
                self.pos += 1;
            }
        }
        if let Some(open) = self.stack.last() {
            let name = open.element.name.clone();
            self.note(self.text.len(), || {
                format!("the document ends inside <{name}>")
            });
        }
        while !self.stack.is_empty() {
            self.close_top();
        }
    }

    fn skip_past(&mut self, end: &str, from: usize, what: &str) {
        match self.text[self.pos + from..].find(end) {
            Some(i) => self.pos += from + i + end.len(),
            None => {
                self.note(self.pos, || format!("unterminated {what}"));
                self.pos = self.text.len();
            }
        }
    }

    /// `<!DOCTYPE ...>`, whose internal subset may hold `>` inside `[...]`.
    fn skip_declaration(&mut self) {
        let mut depth = 0usize;
        for (i, b) in self.rest().bytes().enumerate() {
            match b {
                b'[' => depth += 1,
                b']' => depth = depth.saturating_sub(1),
                b'>' if depth == 0 => {
                    self.pos += i + 1;
                    return;
                }
                _ => {}
            }
        }
        self.note(self.pos, || "unterminated declaration".into());
        self.pos = self.text.len();
    }

    fn text_until(&mut self, end: usize) {
        let raw = &self.text[self.pos..end];
        let at = self.pos;
        self.pos = end;
        if self.stack.is_empty() {
            // Between top-level elements only whitespace belongs; anything else is junk
            // that no reader keeps.
            return;
        }
        let decoded = self.decode(raw, at);
        self.push_text(decoded);
    }

    fn push_text(&mut self, text: String) {
        let Some(open) = self.stack.last_mut() else {
            return;
        };
        if let Some(Node::Text(last)) = open.element.children.last_mut() {
            last.push_str(&text);
        } else if !text.is_empty() {
            open.element.children.push(Node::Text(text));
        }
    }

    /// Entity references decoded; a `&` that starts none is kept as a character.
    fn decode(&mut self, raw: &str, at: usize) -> String {
        if !raw.contains('&') {
            return raw.to_string();
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(amp) = rest.find('&') {
            out.push_str(&rest[..amp]);
            let after = &rest[amp + 1..];
            let end = after
                .char_indices()
                .take(32)
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '#'))
                .filter(|(_, c)| *c == ';')
                .map(|(i, _)| i);
            let offset = at + (raw.len() - rest.len()) + amp;
            match end.map(|end| (&after[..end], end)) {
                Some((name, end)) => match resolve_entity(name) {
                    Some(Entity::Char(c)) => {
                        out.push(c);
                        rest = &after[end + 1..];
                    }
                    Some(Entity::Html(c)) => {
                        self.note(offset, || {
                            format!("HTML entity `&{name};` is not defined in XML")
                        });
                        out.push(c);
                        rest = &after[end + 1..];
                    }
                    None => {
                        self.note(offset, || format!("undefined entity `&{name};`"));
                        out.push('&');
                        rest = after;
                    }
                },
                None => {
                    self.note(offset, || "a bare `&` not starting an entity".into());
                    out.push('&');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn name_at(&self, from: usize) -> &'a str {
        let text = self.text;
        let rest = &text[from..];
        let len = rest
            .char_indices()
            .find(|(_, c)| !is_name_char(*c))
            .map_or(rest.len(), |(i, _)| i);
        &rest[..len]
    }

    fn start_tag(&mut self) {
        let start = self.pos;
        let name = self.name_at(self.pos + 1).to_string();
        self.pos += 1 + name.len();
        let mut attrs: Vec<(String, String)> = Vec::new();
        let mut self_closing = false;
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            let Some(c) = trimmed.chars().next() else {
                self.note(start, || {
                    format!("the document ends inside the tag <{name}")
                });
                break;
            };
            if c == '>' {
                self.pos += 1;
                break;
            }
            if trimmed.starts_with("/>") {
                self.pos += 2;
                self_closing = true;
                break;
            }
            if !is_name_start(c) {
                // Junk in a tag (`<a "x">`, `<a / >`): skipped.
                if c != '/' {
                    self.note(self.pos, || {
                        format!("stray `{}` in the tag <{name}>", c.escape_default())
                    });
                }
                self.pos += c.len_utf8();
                continue;
            }
            let attr = self.name_at(self.pos).to_string();
            self.pos += attr.len();
            let rest = self.rest();
            let trimmed = rest.trim_start();
            if !trimmed.starts_with('=') {
                self.note(self.pos, || {
                    format!("attribute `{attr}` of <{name}> has no value")
                });
                attrs.push((attr, String::new()));
                continue;
            }
            self.pos += rest.len() - trimmed.len() + 1;
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            let value_at = self.pos;
            let raw = match trimmed.chars().next() {
                Some(q @ ('"' | '\'')) => match trimmed[1..].find(q) {
                    Some(end) => {
                        self.pos += end + 2;
                        &self.text[value_at + 1..value_at + 1 + end]
                    }
                    None => {
                        self.note(value_at, || {
                            format!("unterminated value of `{attr}` in <{name}>")
                        });
                        let end = trimmed.find('>').unwrap_or(trimmed.len());
                        self.pos += end;
                        &self.text[value_at + 1..value_at + end.max(1)]
                    }
                },
                _ => {
                    self.note(value_at, || {
                        format!("unquoted value of `{attr}` in <{name}>")
                    });
                    let end = trimmed
                        .find(|c: char| c.is_whitespace() || c == '>')
                        .unwrap_or(trimmed.len());
                    self.pos += end;
                    &self.text[value_at..value_at + end]
                }
            };
            let value = self.decode(raw, value_at);
            attrs.push((attr, value));
        }
        self.open(name, attrs, self_closing, start);
    }

    fn open(&mut self, name: String, attrs: Vec<(String, String)>, empty: bool, at: usize) {
        if self.stack.len() >= MAX_DEPTH || self.elements >= MAX_ELEMENTS {
            if !empty {
                self.not_opened += 1;
            }
            self.note(at, || {
                format!("more than {MAX_ELEMENTS} elements, or nested deeper than {MAX_DEPTH}")
            });
            return;
        }
        self.elements += 1;
        let scope: Vec<(String, Ns)> = attrs
            .iter()
            .filter_map(|(k, v)| {
                let prefix = k.strip_prefix("xmlns")?;
                let prefix = match prefix.strip_prefix(':') {
                    Some(p) => p,
                    None if prefix.is_empty() => "",
                    None => return None,
                };
                Some((prefix.to_string(), Ns::from_uri(v)))
            })
            .collect();
        let prefix = name.split_once(':').map(|(p, _)| p);
        let bound = |prefix: &str| {
            scope
                .iter()
                .chain(self.stack.iter().rev().flat_map(|o| o.scope.iter()))
                .find(|(p, _)| p == prefix)
                .map(|(_, ns)| *ns)
        };
        let ns = match prefix {
            // An unknown default namespace is still the format's own (RSS 2.0 feeds
            // declare assorted ones).
            None => match bound("") {
                None | Some(Ns::Other) => Ns::Default,
                Some(ns) => ns,
            },
            Some(p) => bound(p).unwrap_or_else(|| Ns::from_prefix(p)),
        };
        let element = Element {
            name,
            ns,
            attrs,
            children: Vec::new(),
        };
        self.stack.push(Open { element, scope });
        if empty {
            self.close_top();
        }
    }

    fn close_top(&mut self) {
        let Some(open) = self.stack.pop() else {
            return;
        };
        match self.stack.last_mut() {
            Some(parent) => parent.element.children.push(Node::Element(open.element)),
            None => self.roots.push(open.element),
        }
    }

    fn end_tag(&mut self) {
        let at = self.pos;
        let name = self.name_at(self.pos + 2).to_string();
        match self.rest().find('>') {
            Some(i) => self.pos += i + 1,
            None => {
                self.note(at, || format!("unterminated end tag </{name}"));
                self.pos = self.text.len();
            }
        }
        if self.not_opened > 0 {
            self.not_opened -= 1;
            return;
        }
        let found = self
            .stack
            .iter()
            .rposition(|o| o.element.name == name)
            .or_else(|| {
                self.stack
                    .iter()
                    .rposition(|o| o.element.name.eq_ignore_ascii_case(&name))
            });
        match found {
            Some(i) => {
                if i + 1 < self.stack.len() {
                    let unclosed = self.stack[i + 1].element.name.clone();
                    self.note(at, || {
                        format!("<{unclosed}> is not closed before </{name}>")
                    });
                }
                while self.stack.len() > i {
                    self.close_top();
                }
            }
            None => self.note(at, || format!("</{name}> closes nothing that is open")),
        }
    }
}

enum Entity {
    /// Defined in XML: a character reference or one of the five predefined entities.
    Char(char),
    /// An HTML entity, which XML without a DTD does not define.
    Html(char),
}

fn resolve_entity(name: &str) -> Option<Entity> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        }?;
        // Feeds written on Windows send cp1252 codes as references (`&#150;`).
        let c = match code {
            0x80..=0x9f => cp1252(code),
            _ => char::from_u32(code).filter(|c| *c != '\0'),
        };
        return Some(Entity::Char(c.unwrap_or('\u{fffd}')));
    }
    let c = match name {
        "lt" => return Some(Entity::Char('<')),
        "gt" => return Some(Entity::Char('>')),
        "amp" => return Some(Entity::Char('&')),
        "quot" => return Some(Entity::Char('"')),
        "apos" => return Some(Entity::Char('\'')),
        _ => HTML_ENTITIES
            .binary_search_by(|(n, _)| n.cmp(&name))
            .ok()
            .map(|i| HTML_ENTITIES[i].1)?,
    };
    Some(Entity::Html(c))
}

fn cp1252(code: u32) -> Option<char> {
    let byte = u8::try_from(code).ok()?;
    let bytes = [byte];
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
    text.chars().next()
}

/// The HTML entities feeds use, sorted by name for binary search.
const HTML_ENTITIES: &[(&str, char)] = &[
    ("AElig", 'Æ'),
    ("Aacute", 'Á'),
    ("Acirc", 'Â'),
    ("Agrave", 'À'),
    ("Aring", 'Å'),
    ("Atilde", 'Ã'),
    ("Auml", 'Ä'),
    ("Ccedil", 'Ç'),
    ("Dagger", '‡'),
    ("ETH", 'Ð'),
    ("Eacute", 'É'),
    ("Ecirc", 'Ê'),
    ("Egrave", 'È'),
    ("Euml", 'Ë'),
    ("Iacute", 'Í'),
    ("Icirc", 'Î'),
    ("Igrave", 'Ì'),
    ("Iuml", 'Ï'),
    ("Ntilde", 'Ñ'),
    ("OElig", 'Œ'),
    ("Oacute", 'Ó'),
    ("Ocirc", 'Ô'),
    ("Ograve", 'Ò'),
    ("Oslash", 'Ø'),
    ("Otilde", 'Õ'),
    ("Ouml", 'Ö'),
    ("Prime", '″'),
    ("Scaron", 'Š'),
    ("THORN", 'Þ'),
    ("Uacute", 'Ú'),
    ("Ucirc", 'Û'),
    ("Ugrave", 'Ù'),
    ("Uuml", 'Ü'),
    ("Yacute", 'Ý'),
    ("Yuml", 'Ÿ'),
    ("aacute", 'á'),
    ("acirc", 'â'),
    ("acute", '´'),
    ("aelig", 'æ'),
    ("agrave", 'à'),
    ("alpha", 'α'),
    ("aring", 'å'),
    ("atilde", 'ã'),
    ("auml", 'ä'),
    ("bdquo", '„'),
    ("beta", 'β'),
    ("brvbar", '¦'),
    ("bull", '•'),
    ("ccedil", 'ç'),
    ("cedil", '¸'),
    ("cent", '¢'),
    ("circ", 'ˆ'),
    ("copy", '©'),
    ("curren", '¤'),
    ("dagger", '†'),
    ("darr", '↓'),
    ("deg", '°'),
    ("divide", '÷'),
    ("eacute", 'é'),
    ("ecirc", 'ê'),
    ("egrave", 'è'),
    ("emsp", '\u{2003}'),
    ("ensp", '\u{2002}'),
    ("eth", 'ð'),
    ("euml", 'ë'),
    ("euro", '€'),
    ("frac12", '½'),
    ("frac14", '¼'),
    ("frac34", '¾'),
    ("gamma", 'γ'),
    ("hellip", '…'),
    ("iacute", 'í'),
    ("icirc", 'î'),
    ("iexcl", '¡'),
    ("igrave", 'ì'),
    ("iquest", '¿'),
    ("iuml", 'ï'),
    ("laquo", '«'),
    ("larr", '←'),
    ("ldquo", '“'),
    ("lsaquo", '‹'),
    ("lsquo", '‘'),
    ("macr", '¯'),
    ("mdash", '—'),
    ("micro", 'µ'),
    ("middot", '·'),
    ("nbsp", '\u{a0}'),
    ("ndash", '–'),
    ("not", '¬'),
    ("ntilde", 'ñ'),
    ("oacute", 'ó'),
    ("ocirc", 'ô'),
    ("oelig", 'œ'),
    ("ograve", 'ò'),
    ("ordf", 'ª'),
    ("ordm", 'º'),
    ("oslash", 'ø'),
    ("otilde", 'õ'),
    ("ouml", 'ö'),
    ("para", '¶'),
    ("permil", '‰'),
    ("pi", 'π'),
    ("plusmn", '±'),
    ("pound", '£'),
    ("prime", '′'),
    ("raquo", '»'),
    ("rarr", '→'),
    ("rdquo", '”'),
    ("reg", '®'),
    ("rsaquo", '›'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("scaron", 'š'),
    ("sect", '§'),
    ("shy", '\u{ad}'),
    ("sup1", '¹'),
    ("sup2", '²'),
    ("sup3", '³'),
    ("szlig", 'ß'),
    ("thinsp", '\u{2009}'),
    ("thorn", 'þ'),
    ("tilde", '˜'),
    ("times", '×'),
    ("trade", '™'),
    ("uacute", 'ú'),
    ("uarr", '↑'),
    ("ucirc", 'û'),
    ("ugrave", 'ù'),
    ("uml", '¨'),
    ("uuml", 'ü'),
    ("yacute", 'ý'),
    ("yen", '¥'),
    ("yuml", 'ÿ'),
    ("zwj", '\u{200d}'),
    ("zwnj", '\u{200c}'),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> (Element, Repairs) {
        let mut doc = parse(text);
        assert_eq!(doc.roots.len(), 1, "{doc:?}");
        (doc.roots.remove(0), doc.repairs)
    }

    #[test]
    fn entity_table_is_sorted() {
        assert!(HTML_ENTITIES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn well_formed_documents_need_no_repair() {
        let (rss, repairs) = root(
            "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY x \"y\">]><!-- c -->\
             <rss xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title a='1'>AT&amp;T &#x4e2d;&#25991;\
             <![CDATA[<b>x</b>]]></title><dc:title>t</dc:title><e/></channel></rss>",
        );
        assert!(repairs.is_empty(), "{repairs}");
        let channel = rss.child(&[Ns::Default], "channel").unwrap();
        let title = channel.child(&[Ns::Default], "title").unwrap();
        assert_eq!(title.attr("a"), Some("1"));
        assert_eq!(title.text(), "AT&T 中文<b>x</b>");
        assert!(channel.child(&[Ns::Dc], "title").is_some());
        assert!(channel.child(&[Ns::Default], "e").is_some());
    }

    #[test]
    fn bare_ampersands_and_html_entities_are_read_as_meant() {
        let (e, repairs) = root("<t>AT&T ?a=1&b=2 &nbsp;&copy; &bogus; &#150;</t>");
        assert_eq!(e.text(), "AT&T ?a=1&b=2 \u{a0}© &bogus; –");
        assert_eq!(repairs.count, 5);
        assert_eq!(
            repairs.first.as_deref(),
            Some("line 1: a bare `&` not starting an entity")
        );
    }

    #[test]
    fn unclosed_and_stray_tags_are_recovered() {
        let (rss, repairs) = root(
            "<rss>\n<item><title>一 <b>二</title><link>http://x/1</link></item>\
             <item><title>三</titel></item></ITEM></rss>",
        );
        let items: Vec<_> = rss.elements().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0].child(&[Ns::Default], "title").unwrap().text(),
            "一 二"
        );
        assert_eq!(
            items[0].child(&[Ns::Default], "link").unwrap().text(),
            "http://x/1"
        );
        assert_eq!(
            items[1].child(&[Ns::Default], "title").unwrap().text(),
            "三"
        );
        assert_eq!(
            repairs.first.as_deref(),
            Some("line 2: <b> is not closed before </title>")
        );
        assert_eq!(repairs.count, 4, "{repairs:?}");
    }

    #[test]
    fn truncated_documents_and_odd_attributes_still_read() {
        let (rss, repairs) = root("<rss version=2.0 x><channel><item><title>半截");
        assert_eq!(rss.attr("version"), Some("2.0"));
        assert_eq!(rss.attr("x"), Some(""));
        assert_eq!(rss.text(), "半截");
        assert!(repairs.count >= 3, "{repairs:?}");
        assert!(parse("no markup at all").roots.is_empty());
        assert_eq!(root("<a>1 < 2</a>").0.text(), "1 < 2");
    }

    #[test]
    fn namespaces_resolve_by_uri_then_by_usual_prefix() {
        let (feed, _) = root(
            "<feed xmlns=\"http://purl.org/atom/ns#\" xmlns:x=\"http://purl.org/dc/elements/1.1/\">\
             <x:creator/><media:title/><foo:title/><content type=\"xhtml\">\
             <div xmlns=\"http://www.w3.org/1999/xhtml\">History of the &lt;blink&gt; tag <b>!</b></div></content></feed>",
        );
        assert_eq!(feed.ns, Ns::Atom);
        let kinds: Vec<Ns> = feed.elements().map(|e| e.ns).collect();
        assert_eq!(kinds, [Ns::Dc, Ns::Media, Ns::Other, Ns::Atom]);
        let content = feed.child(&[Ns::Atom], "content").unwrap();
        assert_eq!(
            content.inner_xhtml(),
            "<div>History of the &lt;blink&gt; tag <b>!</b></div>"
        );
    }

    #[test]
    fn repair_messages_are_bounded_and_show_no_controls() {
        let (_, repairs) = root("<a \u{202e}></a>");
        let first = repairs.first.unwrap();
        assert!(first.contains("\\u{202e}"), "{first}");
        assert!(!first.contains('\u{202e}'), "{first}");
        let long = "x".repeat(1000);
        let (_, repairs) = root(&format!("<a><{long}></a>"));
        assert!(repairs.first.unwrap().chars().count() < 200);
    }

    #[test]
    fn size_is_capped() {
        let many = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS + 10));
        let (r, repairs) = root(&many);
        assert_eq!(r.children.len(), MAX_ELEMENTS - 1);
        assert_eq!(repairs.count, 11);
    }

    #[test]
    fn nesting_is_capped() {
        let deep = "<a>".repeat(MAX_DEPTH * 3) + "x" + &"</a>".repeat(MAX_DEPTH * 3);
        let (a, repairs) = root(&deep);
        assert_eq!(a.text(), "x");
        assert!(!repairs.is_empty());
    }
}
