//! Brand detection: every alias of every brand in one Aho-Corasick automaton over folded
//! text; an alias occurrence that lies inside an `exclude` phrase of its brand does not count.
//!
//! Exclude lists are never complete, so a short alias that is also an everyday word or part
//! of one ("北辰" the Pole Star, "青柠" the lime, "SBD" the diode, 京选 inside "南京选房")
//! counts only in a business sense: beside a business word (data/business_words.txt) or
//! beside words that the brand's own cases use and other brands' do not.
//!
//! Netizens write a brand so that moderation misses it: characters spaced or dotted
//! ("星 驰", "星.驰"), pinyin initials before a category word ("xc汽车"), "某" and one of
//! its characters ("某驰"), or a homophone (same pinyin, other characters). Those variants
//! are derived from the configured Chinese aliases and count only with the brand's business
//! context around them, so that everyday words that sound alike stay out.

use crate::config::BrandConfig;
use crate::model::Case;
use crate::normalize::{fold, units, Unit};
use aho_corasick::{AhoCorasick, MatchKind};
use pinyin::ToPinyin;
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
    /// The brand as written, when it was found only in a variant spelling (the alias it
    /// stands for is `alias`).
    pub variant: Option<String>,
}

/// Variant spellings derived from a brand's Chinese aliases.
#[derive(Default)]
struct Variants {
    /// Toneless pinyin of each Han alias ("xing chi", as packed syllable numbers) →
    /// (brand, alias).
    by_sound: HashMap<u64, Vec<(usize, String)>>,
    /// The syllable number of every Han character that sounds like some alias character.
    syllables: HashMap<char, u64>,
    /// Han aliases → brand, for spaced spellings.
    spaced: HashMap<String, usize>,
    /// Alias lengths in characters that `by_sound` holds.
    lengths: Vec<usize>,
    /// "某" + the last character of a two-character alias → (brand, alias).
    mou: HashMap<char, Vec<(usize, String)>>,
    /// Pinyin initials of a Han alias ("xc") → (brand, alias).
    initials: HashMap<String, Vec<(usize, String)>>,
}

/// Characters people put between the characters of a brand to break a filter.
fn is_spacer(c: char) -> bool {
    matches!(
        c,
        ' ' | '.' | '·' | '•' | '*' | '-' | '_' | '/' | '\\' | '|' | '。' | '、' | '~' | '\u{3000}'
    )
}

/// Case words that must stand beside a variant spelling before it counts: a variant is
/// never the everyday way to write the brand, so it needs more than a business word.
const VARIANT_VOCABULARY_NEEDED: usize = 2;
/// Pinyin surnames: a Latin alias right after one is a person's name ("Lin Taoyu").
const PINYIN_SURNAMES: &[&str] = &[
    "wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun", "ma",
    "zhu", "hu", "guo", "he", "gao", "lin", "luo", "zheng", "liang", "xie", "song", "tang", "han",
    "feng", "deng", "cao", "peng", "zeng", "xiao", "tian", "dong", "pan", "yuan", "cai", "jiang",
    "yu", "du", "ye", "cheng", "wei", "su", "lv", "ding", "ren", "shen", "yao", "lu", "mr", "ms",
    "mrs", "miss", "dr",
];
/// Words after a Latin alias that make it a place ("Shushan District").
const PLACE_WORDS: &[&str] = &[
    "district", "county", "village", "town", "township", "road", "street", "lake", "mountain",
    "island", "river", "bridge", "park", "province", "city",
];

pub struct BrandDetector {
    automaton: AhoCorasick,
    patterns: Vec<Pattern>,
    folded_patterns: Vec<String>,
    brands: Vec<String>,
    business_words: AhoCorasick,
    /// Per brand, the units its cases use and few other brands' cases do.
    vocabulary: Vec<HashSet<Unit>>,
    variants: Variants,
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
        let han_aliases: Vec<(usize, String)> = patterns
            .iter()
            .zip(&folded_patterns)
            .filter(|(p, a)| {
                p.role == Role::Alias
                    && a.chars().count() >= 2
                    && a.chars().all(crate::normalize::is_han)
            })
            .map(|(p, a)| (p.brand, a.clone()))
            .collect();
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
            variants: Variants::new(&han_aliases),
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
        self.detect_by(folded, None)
    }

    /// As [`detect`](Self::detect), for a text by `author` (folded): a brand's own account
    /// naming the brand by a short alias speaks of the brand ("桃屿 × …" by 桃屿茶事官方).
    pub fn detect_by(&self, folded: &str, author: Option<&str>) -> Vec<BrandMatch> {
        let own_brands: Vec<String> = author
            .map(|a| {
                self.detect_plain(a, &[])
                    .into_iter()
                    .map(|m| m.brand)
                    .collect()
            })
            .unwrap_or_default();
        let mut found = self.detect_plain(folded, &own_brands);
        for m in self.variant_matches(folded) {
            if !found.iter().any(|f| f.brand == m.brand) {
                found.push(m);
            }
        }
        found.sort_by_key(|m| m.start);
        found
    }

    /// Aliases as configured (in any width and script), the ambiguous ones only in a
    /// business sense or in a text by the brand's own account.
    fn detect_plain(&self, folded: &str, own_brands: &[String]) -> Vec<BrandMatch> {
        let mut aliases = Vec::new();
        let mut excludes: Vec<(usize, usize, usize)> = Vec::new();
        for m in self.automaton.find_overlapping_iter(folded) {
            let pattern = &self.patterns[m.pattern().as_usize()];
            match pattern.role {
                Role::Exclude => excludes.push((pattern.brand, m.start(), m.end())),
                Role::Alias => {
                    if !pattern.needs_word_bounds
                        || stands_as_word(folded, m.start(), m.end())
                            && !is_name_or_place(folded, m.start(), m.end())
                    {
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
                    variant: None,
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
                !ambiguous || own_brands.contains(&m.brand) || {
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

impl BrandDetector {
    /// Brands written in a variant spelling, each with the brand's case words around it.
    fn variant_matches(&self, folded: &str) -> Vec<BrandMatch> {
        let mut found: Vec<BrandMatch> = Vec::new();
        for (brand, alias, start, end) in
            self.variants
                .find(folded, &self.automaton, &self.folded_patterns)
        {
            if found.iter().any(|f| f.brand == self.brands[brand]) {
                continue;
            }
            let vocabulary = &self.vocabulary[brand];
            let mut seen = HashSet::new();
            let in_context = units(folded, &[(start, end)])
                .into_iter()
                .filter(|u| vocabulary.contains(u) && seen.insert(*u))
                .nth(VARIANT_VOCABULARY_NEEDED - 1)
                .is_some();
            if in_context {
                found.push(BrandMatch {
                    brand: self.brands[brand].clone(),
                    alias,
                    start,
                    end,
                    spans: vec![(start, end)],
                    variant: Some(folded[start..end].to_string()),
                });
            }
        }
        found
    }
}

impl Variants {
    fn new(han_aliases: &[(usize, String)]) -> Variants {
        let mut variants = Variants::default();
        let mut numbers: HashMap<&'static str, u64> = HashMap::new();
        for (brand, alias) in han_aliases {
            variants.spaced.entry(alias.clone()).or_insert(*brand);
            let sounds: Option<Vec<&'static str>> = alias
                .chars()
                .map(|c| c.to_pinyin().map(|p| p.plain()))
                .collect();
            let Some(sounds) = sounds.filter(|s| s.len() <= MAX_SOUNDED_CHARS) else {
                continue;
            };
            let initials: String = sounds.iter().filter_map(|s| s.chars().next()).collect();
            push_unique(
                variants.initials.entry(initials).or_default(),
                *brand,
                alias,
            );
            let length = sounds.len();
            let mut key = 0;
            for sound in sounds {
                let next = numbers.len() as u64 + 1;
                key = pack(key, *numbers.entry(sound).or_insert(next));
            }
            push_unique(variants.by_sound.entry(key).or_default(), *brand, alias);
            if !variants.lengths.contains(&length) {
                variants.lengths.push(length);
            }
            let chars: Vec<char> = alias.chars().collect();
            if let [_, last] = chars.as_slice() {
                push_unique(variants.mou.entry(*last).or_default(), *brand, alias);
            }
        }
        if !numbers.is_empty() {
            for c in '\u{4E00}'..='\u{9FFF}' {
                if let Some(number) = c.to_pinyin().and_then(|p| numbers.get(p.plain())) {
                    variants.syllables.insert(c, *number);
                }
            }
        }
        variants
    }

    /// Every variant occurrence in `folded`: (brand, alias, start, end).
    fn find(
        &self,
        folded: &str,
        aliases: &AhoCorasick,
        alias_texts: &[String],
    ) -> Vec<(usize, String, usize, usize)> {
        let mut found = Vec::new();
        if self.by_sound.is_empty() {
            return found;
        }
        let chars: Vec<(usize, char)> = folded.char_indices().collect();
        let end_of = |i: usize| chars.get(i).map_or(folded.len(), |(at, _)| *at);
        for (i, &(start, c)) in chars.iter().enumerate() {
            // Spaced or dotted: the alias's characters with spacers between them.
            if crate::normalize::is_han(c) {
                let mut squeezed = String::new();
                let mut j = i;
                let mut spaced = false;
                let mut longest = None;
                while j < chars.len() && squeezed.chars().count() < MAX_SPACED_CHARS {
                    let (_, d) = chars[j];
                    if is_spacer(d) {
                        spaced |= !squeezed.is_empty();
                        j += 1;
                        continue;
                    }
                    if !crate::normalize::is_han(d) {
                        break;
                    }
                    squeezed.push(d);
                    j += 1;
                    let whole = aliases
                        .find_overlapping_iter(squeezed.as_str())
                        .map(|m| &alias_texts[m.pattern().as_usize()])
                        .find(|alias| alias.len() == squeezed.len());
                    if let Some(brand) = whole.filter(|_| spaced).and_then(|a| self.spaced.get(a)) {
                        longest = Some((*brand, squeezed.clone(), end_of(j)));
                    }
                }
                if let Some((brand, alias, end)) = longest {
                    found.push((brand, alias, start, end));
                }
            }
            // 某 + a character of the brand.
            if c == '某' {
                if let Some(&(_, next)) = chars.get(i + 1) {
                    for (brand, alias) in self.mou.get(&next).into_iter().flatten() {
                        found.push((*brand, alias.clone(), start, end_of(i + 2)));
                    }
                }
            }
            // Pinyin initials as a word, right before Chinese text ("xc汽车").
            if c.is_ascii_alphabetic() && (i == 0 || !chars[i - 1].1.is_ascii_alphanumeric()) {
                let word_end = (i..chars.len())
                    .find(|&k| !chars[k].1.is_ascii_alphabetic())
                    .unwrap_or(chars.len());
                let word: String = chars[i..word_end].iter().map(|(_, c)| *c).collect();
                let before_han = chars
                    .get(word_end)
                    .is_some_and(|(_, c)| crate::normalize::is_han(*c));
                if before_han {
                    for (brand, alias) in self.initials.get(&word).into_iter().flatten() {
                        found.push((*brand, alias.clone(), start, end_of(word_end)));
                    }
                }
            }
            // Homophones: the alias's syllables in other characters.
            if !self.syllables.contains_key(&c) {
                continue;
            }
            for &length in &self.lengths {
                let Some(window) = chars.get(i..i + length) else {
                    continue;
                };
                let key = window.iter().try_fold(0, |key, (_, c)| {
                    self.syllables.get(c).map(|number| pack(key, *number))
                });
                let Some(key) = key else { continue };
                for (brand, alias) in self.by_sound.get(&key).into_iter().flatten() {
                    let written: String = window.iter().map(|(_, c)| *c).collect();
                    if written != *alias {
                        found.push((*brand, alias.clone(), start, end_of(i + length)));
                    }
                }
            }
        }
        found
    }
}

/// The longest spaced-out alias looked for, in characters.
const MAX_SPACED_CHARS: usize = 6;

/// Aliases longer than this are not matched by sound: four syllables pack into a key, and
/// a long alias is rarely dodged by homophones.
const MAX_SOUNDED_CHARS: usize = 4;

/// Appends a syllable number (below 2^16) to a key of syllables.
fn pack(key: u64, number: u64) -> u64 {
    (key << 16) | number
}

fn push_unique(list: &mut Vec<(usize, String)>, brand: usize, alias: &str) {
    if !list.iter().any(|(b, a)| *b == brand && a == alias) {
        list.push((brand, alias.to_string()));
    }
}

/// A Latin alias that is part of a person's or a place's name: after a pinyin surname
/// ("lin taoyu") or before a place word ("shushan district").
fn is_name_or_place(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start]
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    let after = text[end..]
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    let alias_is_latin = text[start..end].chars().all(|c| c.is_ascii_alphabetic());
    alias_is_latin
        && (text[..start].ends_with(' ') && PINYIN_SURNAMES.contains(&before)
            || PLACE_WORDS.contains(&after))
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

    fn detector_knowing_cases() -> BrandDetector {
        let mut detector = BrandDetector::new(&brands()).unwrap();
        let case = Case {
            id: "C-1".into(),
            brand: "星驰汽车".into(),
            status: crate::model::CaseStatus::Open,
            opened_at: None,
            channel: None,
            severity: None,
            complainant: Default::default(),
            summary: "星驰C200提车后发动机漏油, 4S店说是正常现象, 要求退车".into(),
            demand: String::new(),
            identifiers: vec![],
            notes: String::new(),
        };
        detector.learn_vocabulary(&[case]);
        detector
    }

    fn variant(detector: &BrandDetector, text: &str) -> Option<(String, Option<String>)> {
        detector
            .detect(&fold(text))
            .into_iter()
            .next()
            .map(|m| (m.brand, m.variant))
    }

    #[test]
    fn spellings_that_dodge_moderation_count_with_the_brands_context() {
        let detector = detector_knowing_cases();
        for (text, written) in [
            ("星 驰 汽 车的发动机漏油, 4S店还说正常", "星 驰 汽 车"),
            ("星.驰家的发动机漏油, 4S店还说正常", "星.驰"),
            ("某驰的发动机漏油, 提车才三天", "某驰"),
            ("xc汽车提车三天发动机漏油", "xc"),
            ("腥驰提车三天发动机就漏油", "腥驰"),
        ] {
            assert_eq!(
                variant(&detector, text),
                Some(("星驰汽车".to_string(), Some(written.to_string()))),
                "{text}"
            );
        }
    }

    #[test]
    fn variant_spellings_without_the_brands_context_do_not_count() {
        let detector = detector_knowing_cases();
        for text in [
            "某驰今天开会",
            "腥驰两个字怎么念",
            "xc同学今天请假",
            "星 驰",
        ] {
            assert_eq!(variant(&detector, text), None, "{text}");
        }
    }

    #[test]
    fn a_latin_alias_in_a_persons_or_a_places_name_does_not_count() {
        assert!(detect("Swimmer Lin Xingchi sets a record").is_empty());
        assert!(detect("Xingchi District opens a library").is_empty());
        assert_eq!(detect("Xingchi recalls C200 cars"), ["星驰汽车"]);
    }

    #[test]
    fn the_brands_own_account_speaks_of_the_brand_by_its_short_alias() {
        let detector = BrandDetector::new(&brands()).unwrap();
        let text = fold("星驰×国风动画联名车贴今日上线");
        assert!(detector.detect(&text).is_empty());
        assert_eq!(
            detector
                .detect_by(&text, Some(&fold("星驰汽车官方微博")))
                .len(),
            1
        );
    }

    #[test]
    fn an_uncovered_trap_with_the_full_name_is_a_known_miss() {
        // The canonical name is trusted without context, so a trap that contains it whole
        // ("星驰汽车站" as a bus stop would) is reported as a mention: the exclude list is the
        // operator's tool for those.
        assert_eq!(detect("在星驰汽车站等车"), ["星驰汽车"]);
    }
}
