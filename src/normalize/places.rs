//! Chinese place names (data/places.txt), each with its province, to compare where a post and
//! a case happened.

use aho_corasick::{AhoCorasick, MatchKind};
use pinyin::ToPinyin;

const PLACES: &str = include_str!("../../data/places.txt");

/// Place names from data/places.txt, each mapped to its province, and their pinyin as
/// English and other Latin-script retellings write them ("Pingdingshan" for 平顶山).
pub struct Gazetteer {
    automaton: AhoCorasick,
    /// Per pattern: its province, and its city (None for a province's own name).
    places: Vec<(u16, Option<u16>)>,
    /// The provinces of [`BEYOND_MAINLAND`].
    beyond_mainland: Vec<u16>,
}

/// Where "内地" (the mainland) is somewhere else: their writers name their own place beside it.
const BEYOND_MAINLAND: [&str; 3] = ["香港", "澳门", "台湾"];

/// A place named in a text: its province, and the city when a city was named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub province: u16,
    pub city: Option<u16>,
    /// In Hong Kong, Macau or Taiwan.
    pub beyond_mainland: bool,
    /// The byte offsets of the name in the text it was found in.
    pub start: usize,
    pub end: usize,
}

/// Pinyin names shorter than this are too often part of other words or names.
const MIN_PINYIN_NAME: usize = 6;

impl Gazetteer {
    pub fn new() -> Gazetteer {
        let mut names = Vec::new();
        let mut places = Vec::new();
        let mut cities_seen: u16 = 0;
        let mut beyond_mainland = Vec::new();
        for (index, line) in PLACES
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(':'))
            .enumerate()
        {
            let Some((province, cities)) = line.split_once(':') else {
                continue;
            };
            let province_index = u16::try_from(index).unwrap_or(u16::MAX);
            if BEYOND_MAINLAND.contains(&province.trim()) {
                beyond_mainland.push(province_index);
            }
            let own = std::iter::once((province.trim(), None));
            let named = cities.split_whitespace().map(|name| {
                cities_seen += 1;
                (name, Some(cities_seen))
            });
            for (name, city) in own.chain(named) {
                let place = (province_index, city);
                names.push(name.to_string());
                places.push(place);
                let sounds: Option<String> = name
                    .chars()
                    .map(|c| c.to_pinyin().map(|p| p.plain()))
                    .collect();
                if let Some(latin) = sounds.filter(|l| l.len() >= MIN_PINYIN_NAME) {
                    if !names.contains(&latin) {
                        names.push(latin);
                        places.push(place);
                    }
                }
            }
        }
        // The table is a constant of this crate; it cannot be too large for the automaton.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&names)
            .unwrap_or_else(|e| panic!("data/places.txt does not build a matcher: {e}"));
        Gazetteer {
            automaton,
            places,
            beyond_mainland,
        }
    }

    /// The provinces of the place names in `folded`; a pinyin name counts as a whole word.
    pub fn provinces_in(&self, folded: &str) -> Vec<u16> {
        self.places_in(folded)
            .into_iter()
            .map(|p| p.province)
            .collect()
    }

    /// The places named in `folded`, with their provinces.
    pub fn places_in(&self, folded: &str) -> Vec<Place> {
        self.automaton
            .find_iter(folded)
            .filter(|m| {
                let latin = folded[m.start()..m.end()].is_ascii();
                !latin || {
                    let before = folded[..m.start()].chars().next_back();
                    let after = folded[m.end()..].chars().next();
                    !before.is_some_and(|c| c.is_ascii_alphanumeric())
                        && !after.is_some_and(|c| c.is_ascii_alphanumeric())
                }
            })
            .map(|m| {
                let (province, city) = self.places[m.pattern().as_usize()];
                Place {
                    province,
                    city,
                    beyond_mainland: self.beyond_mainland.contains(&province),
                    start: m.start(),
                    end: m.end(),
                }
            })
            .collect()
    }
}

impl Default for Gazetteer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_place_names_count_as_whole_words() {
        let gazetteer = Gazetteer::new();
        let chinese = gazetteer.provinces_in("平顶山的家长");
        assert!(!chinese.is_empty());
        assert_eq!(
            gazetteer.provinces_in("a mother in pingdingshan said"),
            chinese
        );
        assert!(gazetteer.provinces_in("pingdingshanese").is_empty());
    }
}
