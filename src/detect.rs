//! Brand detection: every alias of every brand in one Aho-Corasick automaton over folded
//! text; an alias occurrence that lies inside an `exclude` phrase of its brand does not count.
//!
//! Exclude lists are never complete, so a short alias that is also an everyday word or part
//! of one ("北辰" the Pole Star, "青柠" the lime, "SBD" the diode, 京选 inside "南京选房")
//! counts only in a business sense: beside a business word (data/business_words.txt) or
//! beside words that the brand's own cases use and other brands' do not.

use crate::config::BrandConfig;
use crate::model::Case;
use crate::normalize::{fold, units, Unit};
use aho_corasick::{AhoCorasick, MatchKind};
use std::collections::{HashMap, HashSet};

const BUSINESS_WORDS: &str = include_str!("../data/business_words.txt");
/// Case words that stand beside an ambiguous alias before it counts, when no business word does.
const VOCABULARY_NEEDED: usize = 2;

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
    /// Short aliases that are also everyday words need business context.
    ambiguous: bool,
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
    business_words: AhoCorasick,
    /// Per brand, the units its cases use and few other brands' cases do.
    vocabulary: Vec<HashSet<Unit>>,
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
                    ambiguous: *text != brand.name && is_everyday_length(&folded),
                });
                folded_patterns.push(folded);
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&folded_patterns)?;
        let business_words: Vec<String> = BUSINESS_WORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(fold)
            .collect();
        Ok(BrandDetector {
            automaton,
            patterns,
            folded_patterns,
            brands: brands.iter().map(|b| b.name.clone()).collect(),
            business_words: AhoCorasick::new(&business_words)?,
            vocabulary: vec![HashSet::new(); brands.len()],
        })
    }

    /// Learns each brand's vocabulary from its cases: the words its cases use and the cases
    /// of most other brands do not.
    pub fn learn_vocabulary(&mut self, cases: &[Case]) {
        let mut per_brand: Vec<HashSet<Unit>> = vec![HashSet::new(); self.brands.len()];
        for case in cases {
            let Some(brand) = self.brands.iter().position(|b| *b == case.brand) else {
                continue;
            };
            let text = fold(&format!("{} {} {}", case.summary, case.demand, case.notes));
            let spans: Vec<(usize, usize)> = self
                .detect(&text)
                .into_iter()
                .flat_map(|m| m.spans)
                .collect();
            per_brand[brand].extend(units(&text, &spans));
        }
        let mut brands_using: HashMap<Unit, usize> = HashMap::new();
        for vocabulary in &per_brand {
            for unit in vocabulary {
                *brands_using.entry(*unit).or_insert(0) += 1;
            }
        }
        let limit = (self.brands.len() / 3).max(1);
        self.vocabulary = per_brand
            .into_iter()
            .map(|v| v.into_iter().filter(|u| brands_using[u] <= limit).collect())
            .collect();
    }

    /// Whether the text around an ambiguous alias reads as business with this brand.
    fn in_business_sense(
        &self,
        folded: &str,
        brand: usize,
        alias_spans: &[(usize, usize)],
    ) -> bool {
        if self.business_words.find(folded).is_some() {
            return true;
        }
        let vocabulary = &self.vocabulary[brand];
        let mut seen = HashSet::new();
        units(folded, alias_spans)
            .into_iter()
            .filter(|u| vocabulary.contains(u) && seen.insert(*u))
            .nth(VOCABULARY_NEEDED - 1)
            .is_some()
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
        let mut ambiguous_only: Vec<bool> = Vec::new();
        for (brand, start, end, pattern) in aliases {
            let excluded = excludes
                .iter()
                .any(|&(b, s, e)| b == brand && s <= start && end <= e);
            if excluded {
                continue;
            }
            let ambiguous = self.patterns[pattern].ambiguous;
            if let Some(position) = found.iter().position(|f| f.brand == self.brands[brand]) {
                ambiguous_only[position] &= ambiguous;
            } else {
                ambiguous_only.push(ambiguous);
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
        let mut found: Vec<BrandMatch> = found
            .into_iter()
            .zip(ambiguous_only)
            .filter(|(m, ambiguous)| {
                !ambiguous || {
                    let brand = self.brands.iter().position(|b| *b == m.brand).unwrap_or(0);
                    self.in_business_sense(folded, brand, &m.spans)
                }
            })
            .map(|(m, _)| m)
            .collect();
        found.sort_by_key(|m| m.start);
        found
    }
}

/// Two Han characters, or three Latin letters, are short enough to be an everyday word.
fn is_everyday_length(folded: &str) -> bool {
    let han = folded.chars().all(crate::normalize::is_han);
    let latin = folded.chars().all(|c| c.is_ascii_alphanumeric());
    (han && folded.chars().count() <= 2) || (latin && folded.len() <= 3)
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
        assert_eq!(detect("星馳汽車售後"), ["星驰汽车"]);
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
        assert_eq!(
            detect("京选商城的客服推荐了星驰汽车的车模"),
            ["京选商城", "星驰汽车"]
        );
    }

    #[test]
    fn an_alias_inside_a_place_name_without_business_sense_does_not_count() {
        // Not in the exclude list: 京选 inside 南京选房; nothing around it is business.
        assert!(detect("南京选房摇号结果公示, 售楼处现场选房").is_empty());
        assert_eq!(detect("在京选商城下单的枕头"), ["京选商城"]);
        // "那台北辰X5" holds 台北 (Taipei), yet it is the brand: the service word decides.
        let brands = vec![BrandConfig {
            name: "北辰汽车".into(),
            aliases: vec!["北辰".into()],
            exclude: vec![],
        }];
        let detector = BrandDetector::new(&brands).unwrap();
        assert_eq!(
            detector
                .detect(&fold("说说我那台北辰X5的异响, 给售后点个赞"))
                .len(),
            1
        );
    }

    #[test]
    fn a_short_everyday_alias_needs_a_business_sense() {
        // "星驰" alone could be anything; with a business word or the brand's case words it
        // is the brand.
        assert!(detect("夜空中流星疾驰, 星驰而过").is_empty());
        assert_eq!(detect("星驰的客服电话打不通"), ["星驰汽车"]);
        let mut detector = BrandDetector::new(&brands()).unwrap();
        let text = fold("星驰C200发动机漏油");
        assert!(detector.detect(&text).is_empty());
        let case = Case {
            id: "C-1".into(),
            brand: "星驰汽车".into(),
            status: crate::model::CaseStatus::Open,
            opened_at: None,
            channel: None,
            severity: None,
            complainant: Default::default(),
            summary: "星驰C200发动机漏油".into(),
            demand: String::new(),
            identifiers: vec![],
            notes: String::new(),
        };
        detector.learn_vocabulary(&[case]);
        assert_eq!(detector.detect(&text).len(), 1);
    }

    #[test]
    fn an_uncovered_trap_with_the_full_name_is_a_known_miss() {
        // The canonical name is trusted without context, so a trap that contains it whole
        // ("星驰汽车站" as a bus stop would) is reported as a mention: the exclude list is the
        // operator's tool for those.
        assert_eq!(detect("在星驰汽车站等车"), ["星驰汽车"]);
    }
}
