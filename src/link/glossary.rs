//! The Mandarin words of a retelling in another language (data/glossary_en.txt,
//! data/glossary_yue.txt): a news report in English shares no characters with the Chinese
//! case it retells, and a Cantonese post says 出糧 where the case says 发工资, but their
//! story words ("glove", "water damage", 劃走) are the case's once translated, and they are
//! what tells the case from others of the same brand with the same model or city.

use crate::normalize::fold;
use aho_corasick::{AhoCorasick, MatchKind};

const ENGLISH: &str = include_str!("../../data/glossary_en.txt");
const CANTONESE: &str = include_str!("../../data/glossary_yue.txt");

/// Endings an English word may carry and still be the glossary's word.
const INFLECTIONS: &[&str] = &["", "s", "es", "d", "ed", "ing"];
/// Characters that written Mandarin does not use and written Cantonese uses all the time.
const CANTONESE_MARKS: &[char] = &[
    '嘅', '咗', '佢', '冇', '唔', '啲', '哋', '喺', '嘢', '咁', '嚟', '噉', '乜', '畀', '嗰',
];
/// Distinct marks that make a text Cantonese: one may be a quotation or a name.
const CANTONESE_MIN_MARKS: usize = 2;

/// One language's words, each with the Mandarin words it stands for.
struct Table {
    automaton: AhoCorasick,
    mandarin: Vec<String>,
}

impl Table {
    fn new(source: &str, name: &str) -> Table {
        let (words, mandarin): (Vec<String>, Vec<String>) = source
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(word, zh)| {
                let mandarin = zh.split_whitespace().collect::<Vec<_>>().join(" ");
                (fold(word.trim()), mandarin)
            })
            .filter(|(word, zh)| !word.is_empty() && !zh.is_empty())
            .unzip();
        // The tables are constants of this crate; they cannot be too large for the automaton.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&words)
            .unwrap_or_else(|e| panic!("data/{name} does not build a matcher: {e}"));
        Table {
            automaton,
            mandarin,
        }
    }

    /// The Mandarin for each word found where `accept` allows, each once, separated by
    /// spaces so that no unit spans two of them.
    fn translate(&self, folded: &str, accept: impl Fn(usize, usize) -> bool) -> String {
        let mut found: Vec<usize> = Vec::new();
        for m in self.automaton.find_iter(folded) {
            let index = m.pattern().as_usize();
            if accept(m.start(), m.end()) && !found.contains(&index) {
                found.push(index);
            }
        }
        found
            .into_iter()
            .map(|i| self.mandarin[i].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub struct Glossary {
    english: Table,
    cantonese: Table,
}

impl Glossary {
    pub fn new() -> Glossary {
        Glossary {
            english: Table::new(ENGLISH, "glossary_en.txt"),
            cantonese: Table::new(CANTONESE, "glossary_yue.txt"),
        }
    }

    /// The Mandarin for the glossary's English words in `folded` (lower-cased): whole words,
    /// with plain inflections ("gloves", "injured").
    pub fn mandarin_for_english(&self, folded: &str) -> String {
        self.english.translate(folded, |start, end| {
            let starts_word = !folded[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphabetic());
            let ending: String = folded[end..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            starts_word && INFLECTIONS.contains(&ending.as_str())
        })
    }

    /// The Mandarin for the Cantonese words of `folded`, when it is written in Cantonese.
    pub fn mandarin_for_cantonese(&self, folded: &str) -> String {
        let marks = CANTONESE_MARKS
            .iter()
            .filter(|m| folded.contains(**m))
            .count();
        if marks < CANTONESE_MIN_MARKS {
            return String::new();
        }
        self.cantonese.translate(folded, |_, _| true)
    }
}

impl Default for Glossary {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_english_words_and_their_inflections_are_translated() {
        let glossary = Glossary::new();
        let words = glossary.mandarin_for_english(
            "staff suspended after gloves were found; she was injured when the scooter cut out",
        );
        for expected in ["手套", "停职", "受伤", "电动车", "断电"] {
            assert!(words.contains(expected), "{expected} missing from {words}");
        }
    }

    #[test]
    fn parts_of_other_english_words_are_not_translated() {
        let glossary = Glossary::new();
        assert_eq!(glossary.mandarin_for_english("refunding"), "退款 退钱");
        // "refundable" and "gloveless" are not inflections; "unwarranty" only contains one.
        assert_eq!(
            glossary.mandarin_for_english("refundable gloveless unwarranty"),
            ""
        );
    }

    #[test]
    fn cantonese_is_translated_only_in_a_cantonese_text() {
        let glossary = Glossary::new();
        // Traditional characters, as Hong Kong writes them, folded like every post.
        let cantonese = fold("佢哋啱啱出糧就俾人劃走晒，得返幾十蚊");
        let words = glossary.mandarin_for_cantonese(&cantonese);
        for expected in ["发工资", "划扣", "只剩"] {
            assert!(words.contains(expected), "{expected} missing from {words}");
        }
        // Mandarin that happens to contain a listed word is left as it is.
        assert_eq!(glossary.mandarin_for_cantonese(&fold("今日工资刚到账")), "");
    }
}
