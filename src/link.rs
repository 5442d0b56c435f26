//! Linking a brand mention to the open case it is about. Candidates come from an index built
//! once per change of the case set (identifiers and handles to cases), never from scoring
//! every case for every item.

use crate::model::Case;
use crate::normalize::{compact_identifier, fold};
use crate::store::{LinkState, NewLink};
use aho_corasick::{AhoCorasick, MatchKind};
use std::collections::HashMap;

/// Identifiers shorter than this (after separators are removed) match too much by chance.
const MIN_IDENTIFIER_LEN: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot build the identifier index: {0}")]
    Build(#[from] aho_corasick::BuildError),
}

/// The parts of an item that linking looks at, already folded.
#[derive(Debug, Clone)]
pub struct ItemText<'a> {
    /// Title and body, folded (normalize::fold).
    pub folded: &'a str,
    /// Title and body with identifier separators removed (normalize::compact_identifier).
    pub compact: &'a str,
    pub author: Option<&'a str>,
}

struct IdentifierPattern {
    case: usize,
    shown: String,
}

/// Open cases and the index that finds candidate cases for an item.
pub struct Linker {
    cases: Vec<Case>,
    identifiers: Option<AhoCorasick>,
    identifier_patterns: Vec<IdentifierPattern>,
    /// Folded handle (without platform) to case positions.
    handles: HashMap<String, Vec<(usize, String)>>,
}

impl Linker {
    /// Indexes the open cases among `cases`; closed cases are never linked.
    pub fn new(cases: Vec<Case>) -> Result<Linker, LinkError> {
        let cases: Vec<Case> = cases.into_iter().filter(Case::is_open).collect();
        let mut compact_patterns = Vec::new();
        let mut identifier_patterns = Vec::new();
        let mut handles: HashMap<String, Vec<(usize, String)>> = HashMap::new();
        for (position, case) in cases.iter().enumerate() {
            for identifier in &case.identifiers {
                let value = identifier_value(identifier);
                let compact = compact_identifier(value);
                if compact.chars().count() < MIN_IDENTIFIER_LEN {
                    continue;
                }
                compact_patterns.push(compact);
                identifier_patterns.push(IdentifierPattern {
                    case: position,
                    shown: identifier.clone(),
                });
            }
            for handle in &case.complainant.handles {
                let name = fold(handle_name(handle).trim());
                if !name.is_empty() {
                    handles
                        .entry(name)
                        .or_default()
                        .push((position, handle.clone()));
                }
            }
        }
        let identifiers = if compact_patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&compact_patterns)?,
            )
        };
        Ok(Linker {
            cases,
            identifiers,
            identifier_patterns,
            handles,
        })
    }

    pub fn open_cases(&self) -> &[Case] {
        &self.cases
    }

    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }

    /// The case of `brand` this item is about, if the evidence is strong enough.
    pub fn link(&self, brand: &str, item: &ItemText<'_>) -> Option<NewLink> {
        let mut evidence: HashMap<usize, Vec<String>> = HashMap::new();
        if let Some(automaton) = &self.identifiers {
            for m in automaton.find_overlapping_iter(item.compact) {
                if !stands_alone(item.compact, m.start(), m.end()) {
                    continue;
                }
                let pattern = &self.identifier_patterns[m.pattern().as_usize()];
                evidence
                    .entry(pattern.case)
                    .or_default()
                    .push(format!("identifier {}", pattern.shown));
            }
        }
        if let Some(author) = item.author.map(|a| fold(a.trim())) {
            for (position, handle) in self.handles.get(&author).into_iter().flatten() {
                evidence
                    .entry(*position)
                    .or_default()
                    .push(format!("author is the complainant's handle {handle}"));
            }
        }
        for (name, owners) in &self.handles {
            if item.folded.contains(&format!("@{name}")) {
                for (position, handle) in owners {
                    evidence
                        .entry(*position)
                        .or_default()
                        .push(format!("mentions the complainant's handle {handle}"));
                }
            }
        }
        let mut best: Option<(usize, Vec<String>)> = None;
        for (position, mut reasons) in evidence {
            if self.cases[position].brand != brand {
                continue;
            }
            reasons.sort();
            reasons.dedup();
            let better = match &best {
                None => true,
                Some((best_position, best_reasons)) => {
                    (reasons.len(), std::cmp::Reverse(position))
                        > (best_reasons.len(), std::cmp::Reverse(*best_position))
                }
            };
            if better {
                best = Some((position, reasons));
            }
        }
        best.map(|(position, evidence)| NewLink {
            case_id: self.cases[position].id.clone(),
            state: LinkState::Confirmed,
            score: 1.0,
            evidence,
        })
    }
}

/// "order:XC-2026-00871" → "XC-2026-00871"; a value without a kind stays whole.
fn identifier_value(identifier: &str) -> &str {
    match identifier.split_once(':') {
        Some((kind, value))
            if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            value
        }
        _ => identifier,
    }
}

/// "weibo:小王爱吃梨" → "小王爱吃梨".
fn handle_name(handle: &str) -> &str {
    handle.split_once(':').map_or(handle, |(_, name)| name)
}

/// An identifier inside a longer run of letters or digits is a different identifier.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_ascii_alphanumeric())
        && !after.is_some_and(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseStatus, Complainant};

    fn case(id: &str, brand: &str, identifiers: &[&str], handles: &[&str]) -> Case {
        Case {
            id: id.into(),
            brand: brand.into(),
            status: CaseStatus::Open,
            opened_at: None,
            channel: None,
            severity: None,
            complainant: Complainant {
                handles: handles.iter().map(|h| h.to_string()).collect(),
                ..Complainant::default()
            },
            summary: String::new(),
            demand: String::new(),
            identifiers: identifiers.iter().map(|i| i.to_string()).collect(),
            notes: String::new(),
        }
    }

    fn link(linker: &Linker, brand: &str, text: &str, author: Option<&str>) -> Option<String> {
        let folded = fold(text);
        let compact = compact_identifier(text);
        linker
            .link(
                brand,
                &ItemText {
                    folded: &folded,
                    compact: &compact,
                    author,
                },
            )
            .map(|l| l.case_id)
    }

    fn linker() -> Linker {
        Linker::new(vec![
            case(
                "C-1",
                "星驰汽车",
                &["order:XC-2026-00871", "VIN:LSVAB4187E2093311"],
                &["weibo:小王爱吃梨"],
            ),
            case("C-2", "星驰汽车", &["order:XC-2026-00872"], &[]),
            case("C-3", "京选商城", &["order:JX20260301-77812"], &[]),
        ])
        .unwrap()
    }

    #[test]
    fn identifier_matches_with_full_width_spaces_and_dashes() {
        let l = linker();
        assert_eq!(
            link(&l, "星驰汽车", "订单号 XC-2026-00871 漏油", None).as_deref(),
            Some("C-1")
        );
        assert_eq!(
            link(&l, "星驰汽车", "订单ＸＣ２０２６００８７１", None).as_deref(),
            Some("C-1")
        );
        assert_eq!(
            link(&l, "星驰汽车", "单号 xc 2026 00872!", None).as_deref(),
            Some("C-2")
        );
        assert_eq!(
            link(
                &l,
                "京选商城",
                "订单号ＪＸ２０２６０３０１－７７８１２",
                None
            )
            .as_deref(),
            Some("C-3")
        );
    }

    #[test]
    fn identifier_inside_a_longer_number_does_not_match() {
        let l = linker();
        assert_eq!(link(&l, "星驰汽车", "XC-2026-008713", None), None);
    }

    #[test]
    fn identifier_of_another_brand_does_not_link() {
        let l = linker();
        assert_eq!(link(&l, "京选商城", "订单 XC-2026-00871", None), None);
    }

    #[test]
    fn complainant_handle_as_author_or_mention_links() {
        let l = linker();
        assert_eq!(
            link(&l, "星驰汽车", "提车就漏油", Some("小王爱吃梨")).as_deref(),
            Some("C-1")
        );
        assert_eq!(
            link(&l, "星驰汽车", "转发 @小王爱吃梨 的遭遇", Some("路人")).as_deref(),
            Some("C-1")
        );
        assert_eq!(link(&l, "星驰汽车", "提车就漏油", Some("小王")), None);
    }

    #[test]
    fn closed_cases_are_not_indexed() {
        let mut closed = case("C-9", "星驰汽车", &["order:XC-2026-00999"], &[]);
        closed.status = CaseStatus::Closed;
        let l = Linker::new(vec![closed]).unwrap();
        assert_eq!(link(&l, "星驰汽车", "XC-2026-00999", None), None);
    }
}
