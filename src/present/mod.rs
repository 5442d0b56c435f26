//! The presentation layer (DESIGN.md, "Presentation: facts first, words last"): the one place
//! that turns typed facts into words and markup. Words come from a message catalog per
//! language (`catalogs/*.ftl`, Fluent), markup from templates that escape by default
//! (`templates/`, minijinja), times are shown in one configured zone. A new surface is a
//! template here; a new language is a catalog.

mod catalog;
pub mod facts;
mod templates;
pub mod text;

pub use catalog::{Args, Language};
pub use templates::RenderError;

use crate::config::{Config, Zone};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

/// How outcry speaks: the language, the zone times are shown in, and where the pages are.
#[derive(Debug, Clone, PartialEq)]
pub struct Ui {
    pub language: Language,
    pub zone: Zone,
    /// Without a trailing slash.
    pub public_url: Option<String>,
}

impl Default for Ui {
    fn default() -> Self {
        let ui = crate::config::UiConfig::default();
        Ui {
            language: ui.language,
            zone: ui.time_zone,
            public_url: None,
        }
    }
}

impl Ui {
    pub fn of(config: &Config) -> Ui {
        Ui {
            language: config.ui.language,
            zone: config.ui.time_zone.clone(),
            public_url: config
                .http
                .public_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    /// The catalog's message `key` with `args`.
    pub fn t(&self, key: &str, args: Args) -> String {
        catalog::message(self.language, key, &args)
    }

    /// A message without arguments.
    pub fn word(&self, key: &str) -> String {
        self.t(key, Args::new())
    }

    /// A count as people of this language write it: 1.2万, 12,000.
    pub fn number(&self, n: i64) -> String {
        catalog::number(self.language, n as f64)
    }

    /// Items joined the way this language lists them.
    pub fn list<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, items: I) -> String {
        let separator = self.word("list-separator");
        items
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .collect::<Vec<_>>()
            .join(&separator)
    }

    /// A time in the configured zone, to the minute; the zone is named once per message
    /// (`zone_name`), not on every time.
    pub fn when(&self, t: DateTime<FixedOffset>) -> String {
        self.zone.local(t).format("%Y-%m-%d %H:%M").to_string()
    }

    /// A time that may be unknown, said so in words.
    pub fn when_known(&self, t: Option<DateTime<FixedOffset>>) -> String {
        t.map_or_else(|| self.word("time-unknown"), |t| self.when(t))
    }

    /// The sentence naming the zone every time of a message or page is in.
    pub fn zone_note(&self) -> String {
        self.t("times-in-zone", Args::new().with("zone", self.zone.name()))
    }

    pub fn zone_name(&self) -> String {
        self.zone.name()
    }

    /// `t` in the configured zone, for the day a digest is about.
    pub fn local(&self, t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        self.zone.local(t)
    }

    /// A page's address under `[http] public_url`, when that is set. `path` starts with '/'.
    pub fn page_url(&self, path: &str) -> Option<String> {
        self.public_url.as_ref().map(|base| format!("{base}{path}"))
    }

    pub fn case_url(&self, case_id: &str) -> Option<String> {
        self.page_url(&format!("/cases/{}", path_segment(case_id)))
    }

    /// Renders a template with `context`; the template's `t(key, ...)` speaks this language.
    pub fn render<C: Serialize>(&self, template: &str, context: C) -> Result<String, RenderError> {
        templates::render(self, template, context)
    }
}

/// A string as one URL path segment: unreserved characters as they are, the rest
/// percent-encoded.
pub fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
