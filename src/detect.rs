//! Brand detection: every alias of every brand in one Aho-Corasick automaton over folded
//! text; an alias occurrence that lies inside an `exclude` phrase of its brand does not count.

use crate::config::BrandConfig;
use crate::normalize::fold;
use aho_corasick::{AhoCorasick, MatchKind};

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("cannot build the brand matcher: {0}")]
    Build(#[from] aho_corasick::BuildError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Alias,
    Exclude,
}

#[derive(Debug, Clone)]
struct Pattern {
    brand: usize,
    role: Role,
    /// Latin aliases must stand as words: "jx" must not fire inside "ajx1".
    needs_word_bounds: bool,
}

/// One brand found in a text, with the alias occurrence that decided it and every counting
/// occurrence of its aliases (byte offsets into the folded text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandMatch {
    pub brand: String,
    pub alias: String,
    pub start: usize,
    pub end: usize,
    pub spans: Vec<(usize, usize)>,
}

pub struct BrandDetector {
    automaton: AhoCorasick,
    patterns: Vec<Pattern>,
    folded_patterns: Vec<String>,
    brands: Vec<String>,
}

impl BrandDetector {
    pub fn new(brands: &[BrandConfig]) -> Result<BrandDetector, DetectError> {
        let mut patterns = Vec::new();
        let mut folded_patterns = Vec::new();
        for (index, brand) in brands.iter().enumerate() {
            let aliases = std::iter::once(&brand.name).chain(&brand.aliases);
            for (text, role) in aliases
                .map(|a| (a, Role::Alias))
                .chain(brand.exclude.iter().map(|e| (e, Role::Exclude)))
            {
                let folded = fold(text.trim());
                if folded.is_empty() || folded_patterns.contains(&folded) && role == Role::Alias {
                    continue;
                }
                patterns.push(Pattern {
                    brand: index,
                    role,
                    needs_word_bounds: folded.starts_with(|c: char| c.is_ascii_alphanumeric())
                        || folded.ends_with(|c: char| c.is_ascii_alphanumeric()),
                });
                folded_patterns.push(folded);
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&folded_patterns)?;
        Ok(BrandDetector {
            automaton,
            patterns,
            folded_patterns,
            brands: brands.iter().map(|b| b.name.clone()).collect(),
        })
    }

    /// Brands mentioned in `folded` (text already passed through [`fold`]), in the order of
    /// their first counting occurrence.
    pub fn detect(&self, folded: &str) -> Vec<BrandMatch> {
        let mut aliases = Vec::new();
        let mut excludes: Vec<(usize, usize, usize)> = Vec::new();
        for m in self.automaton.find_overlapping_iter(folded) {
            let pattern = &self.patterns[m.pattern().as_usize()];
            match pattern.role {
                Role::Exclude => excludes.push((pattern.brand, m.start(), m.end())),
                Role::Alias => {
                    if !pattern.needs_word_bounds || stands_as_word(folded, m.start(), m.end()) {
                        aliases.push((pattern.brand, m.start(), m.end(), m.pattern().as_usize()));
                    }
                }
            }
        }
        let mut found: Vec<BrandMatch> = Vec::new();
        for (brand, start, end, pattern) in aliases {
            let excluded = excludes
                .iter()
                .any(|&(b, s, e)| b == brand && s <= start && end <= e);
            if excluded {
                continue;
            }
            match found.iter_mut().find(|f| f.brand == self.brands[brand]) {
                Some(existing) => existing.spans.push((start, end)),
                None => found.push(BrandMatch {
                    brand: self.brands[brand].clone(),
                    alias: self.folded_patterns[pattern].clone(),
                    start,
                    end,
                    spans: vec![(start, end)],
                }),
            }
        }
        for m in &mut found {
            m.spans.sort_unstable();
        }
        found.sort_by_key(|m| m.start);
        found
    }
}

fn stands_as_word(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_ascii_alphanumeric())
        && !after.is_some_and(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brands() -> Vec<BrandConfig> {
        vec![
            BrandConfig {
                name: "星驰汽车".into(),
                aliases: vec!["星驰".into(), "Xingchi".into()],
                exclude: vec!["流星驰过".into()],
            },
            BrandConfig {
                name: "京选商城".into(),
                aliases: vec!["京选".into(), "JX商城".into()],
                exclude: vec!["北京选手".into()],
            },
        ]
    }

    fn detect(text: &str) -> Vec<String> {
        let detector = BrandDetector::new(&brands()).unwrap();
        detector
            .detect(&fold(text))
            .into_iter()
            .map(|m| m.brand)
            .collect()
    }

    #[test]
    fn aliases_match_across_width_case_and_script() {
        assert_eq!(detect("ＸＩＮＧＣＨＩ的车又漏油"), ["星驰汽车"]);
        assert_eq!(detect("星馳4S店服務太差"), ["星驰汽车"]);
        assert_eq!(detect("在jx商城买的"), ["京选商城"]);
    }

    #[test]
    fn exclude_phrase_cancels_only_the_occurrence_inside_it() {
        assert!(detect("一颗流星驰过夜空").is_empty());
        assert_eq!(detect("流星驰过, 然后我去星驰4S店提车"), ["星驰汽车"]);
        assert!(detect("北京选手夺冠").is_empty());
    }

    #[test]
    fn latin_aliases_need_word_bounds() {
        assert!(detect("download xingchix now").is_empty());
        assert_eq!(detect("Xingchi C200 recall"), ["星驰汽车"]);
    }

    #[test]
    fn several_brands_come_in_text_order() {
        assert_eq!(detect("京选上买的星驰车模"), ["京选商城", "星驰汽车"]);
    }
}
