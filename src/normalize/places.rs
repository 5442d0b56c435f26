//! Chinese place names (data/places.txt), each with its province, to compare where a post and
//! a case happened.

use aho_corasick::{AhoCorasick, MatchKind};

const PLACES: &str = include_str!("../../data/places.txt");

/// Place names from data/places.txt, each mapped to its province.
pub struct Gazetteer {
    automaton: AhoCorasick,
    provinces: Vec<u16>,
}

impl Gazetteer {
    pub fn new() -> Gazetteer {
        let mut names = Vec::new();
        let mut provinces = Vec::new();
        for (index, line) in PLACES
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(':'))
            .enumerate()
        {
            let Some((province, cities)) = line.split_once(':') else {
                continue;
            };
            let province_index = u16::try_from(index).unwrap_or(u16::MAX);
            for name in std::iter::once(province.trim()).chain(cities.split_whitespace()) {
                names.push(name.to_string());
                provinces.push(province_index);
            }
        }
        // The table is a constant of this crate; it cannot be too large for the automaton.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&names)
            .unwrap_or_else(|e| panic!("data/places.txt does not build a matcher: {e}"));
        Gazetteer {
            automaton,
            provinces,
        }
    }

    /// The provinces of the place names in `folded`.
    pub fn provinces_in(&self, folded: &str) -> Vec<u16> {
        self.automaton
            .find_iter(folded)
            .map(|m| self.provinces[m.pattern().as_usize()])
            .collect()
    }
}

impl Default for Gazetteer {
    fn default() -> Self {
        Self::new()
    }
}
