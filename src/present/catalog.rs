//! The message catalogs: one Fluent file per language, compiled into the binary. Plurals
//! follow each language's rules; counts are written as its readers write them (1.2万,
//! 12,000).

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use unic_langid::LanguageIdentifier;

/// The languages outcry speaks (`[ui] language`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Language {
    #[default]
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::ZhCn, Language::En];

    /// The BCP 47 tag, as in `lang` attributes and the config.
    pub fn tag(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::En => "en",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Language::ZhCn => include_str!("catalogs/zh-CN.ftl"),
            Language::En => include_str!("catalogs/en.ftl"),
        }
    }

    fn index(self) -> usize {
        match self {
            Language::ZhCn => 0,
            Language::En => 1,
        }
    }
}

/// A message's arguments: text and numbers by name.
#[derive(Default)]
pub struct Args(FluentArgs<'static>);

impl Args {
    pub fn new() -> Args {
        Args::default()
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Args {
        self.0.set(name, FluentValue::from(value.into()));
        self
    }

    /// A number: it selects plural forms and is written in the language's way.
    pub fn num(mut self, name: &'static str, value: impl Into<f64>) -> Args {
        self.0.set(name, FluentValue::from(value.into()));
        self
    }

    pub fn count(self, name: &'static str, value: usize) -> Args {
        self.num(name, value as f64)
    }

    pub(super) fn set(&mut self, name: String, value: FluentValue<'static>) {
        self.0.set(name, value);
    }
}

static BUNDLES: LazyLock<[FluentBundle<FluentResource>; 2]> =
    LazyLock::new(|| Language::ALL.map(bundle));

fn bundle(language: Language) -> FluentBundle<FluentResource> {
    let id: LanguageIdentifier = language.tag().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Isolation marks around every argument would reach mail subjects and plain text as
    // invisible characters; untrusted text has its own direction controls removed instead
    // (`text::clean`), so an argument cannot reverse what follows it.
    bundle.set_use_isolating(false);
    bundle.set_formatter(Some(match language {
        Language::ZhCn => format_zh,
        Language::En => format_en,
    }));
    // A syntax error would drop only the broken message; the tests below find it.
    let resource = FluentResource::try_new(language.source().to_string())
        .unwrap_or_else(|(resource, _)| resource);
    bundle.add_resource_overriding(resource);
    bundle
}

fn format_zh<M>(value: &FluentValue, _: &M) -> Option<String> {
    whole(value).map(|n| number(Language::ZhCn, n))
}

fn format_en<M>(value: &FluentValue, _: &M) -> Option<String> {
    whole(value).map(|n| number(Language::En, n))
}

/// Whole numbers are counts; fractions (scores) are passed already written.
fn whole(value: &FluentValue) -> Option<f64> {
    match value {
        FluentValue::Number(n) if n.value.fract() == 0.0 => Some(n.value),
        _ => None,
    }
}

/// A count written for `language`: Chinese groups by 万 and 亿 with one decimal; English
/// groups thousands with commas.
pub fn number(language: Language, n: f64) -> String {
    let n = n.round();
    match language {
        Language::ZhCn => {
            let abs = n.abs();
            let (scaled, unit) = if abs >= 1e8 {
                (n / 1e8, "亿")
            } else if abs >= 1e4 {
                (n / 1e4, "万")
            } else {
                return format!("{n:.0}");
            };
            let tenths = (scaled * 10.0).floor() / 10.0;
            if tenths.fract() == 0.0 {
                format!("{tenths:.0}{unit}")
            } else {
                format!("{tenths:.1}{unit}")
            }
        }
        Language::En => {
            let digits = format!("{:.0}", n.abs());
            let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
            if n < 0.0 {
                out.push('-');
            }
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
    }
}

/// The message `key`; the key itself when the catalog lacks it (a test keeps the
/// catalogs complete).
pub fn message(language: Language, key: &str, args: &Args) -> String {
    let bundle = &BUNDLES[language.index()];
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return key.to_string();
    };
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(&args.0), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(
            key,
            language = language.tag(),
            ?errors,
            "catalog message incomplete"
        );
    }
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluent_syntax::ast::Entry;
    use std::collections::BTreeSet;

    fn ids(language: Language) -> BTreeSet<String> {
        let resource = FluentResource::try_new(language.source().to_string())
            .unwrap_or_else(|(_, errors)| panic!("{}: {errors:?}", language.tag()));
        resource
            .entries()
            .filter_map(|e| match e {
                Entry::Message(m) => Some(m.id.name.to_string()),
                Entry::Term(t) => Some(format!("-{}", t.id.name)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_catalog_parses_and_says_the_same_things() {
        let zh = ids(Language::ZhCn);
        let en = ids(Language::En);
        assert!(zh.len() > 50);
        assert_eq!(
            zh.symmetric_difference(&en).collect::<Vec<_>>(),
            Vec::<&String>::new()
        );
    }

    #[test]
    fn counts_are_written_as_each_language_writes_them() {
        assert_eq!(number(Language::ZhCn, 12_000.0), "1.2万");
        assert_eq!(number(Language::ZhCn, 10_000.0), "1万");
        assert_eq!(number(Language::ZhCn, 9_999.0), "9999");
        assert_eq!(number(Language::ZhCn, 350_000_000.0), "3.5亿");
        assert_eq!(number(Language::En, 12_000.0), "12,000");
        assert_eq!(number(Language::En, 1_234_567.0), "1,234,567");
        assert_eq!(number(Language::En, 999.0), "999");
        let args = || Args::new().num("n", 12_000);
        assert_eq!(
            message(Language::En, "count-likes", &args()),
            "likes 12,000"
        );
        assert_eq!(
            message(Language::ZhCn, "count-likes", &args()),
            "点赞 1.2万"
        );
    }

    #[test]
    fn plurals_follow_the_language() {
        let followers = |n: i32| Args::new().num("followers", n);
        assert_eq!(
            message(Language::En, "evidence-reach", &followers(1)),
            " (1 follower)"
        );
        assert_eq!(
            message(Language::En, "evidence-reach", &followers(1520)),
            " (1,520 followers)"
        );
        assert_eq!(
            message(Language::ZhCn, "evidence-reach", &followers(15200)),
            "（粉丝 1.5万）"
        );
    }
}
