//! Assessment: how far a case's story has gone public, from the items linked to it.

use crate::model::{Case, Stage};
use crate::store::{CaseItem, LinkState};

/// The stage a case has reached and the reasons, with numbers, that a reader can check.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub stage: Stage,
    pub reasons: Vec<String>,
}

/// Assesses an open case from its linked public items (oldest first). Candidate links wait
/// for review and do not count; a case with no confirmed public item has not surfaced.
pub fn assess(case: &Case, items: &[CaseItem]) -> Option<Assessment> {
    if !case.is_open() {
        return None;
    }
    let confirmed: Vec<&CaseItem> = items
        .iter()
        .filter(|i| i.link_state == LinkState::Confirmed)
        .collect();
    let first = confirmed.first()?;
    let mut reasons = vec![format!(
        "first public item linked to case {}: a {} post by {} on {} at {}",
        case.id,
        first.channel,
        first.author.as_deref().unwrap_or("an unknown author"),
        first.source,
        first.first_seen_at.to_rfc3339(),
    )];
    if confirmed.len() > 1 {
        reasons.push(format!("{} public items linked so far", confirmed.len()));
    }
    Some(Assessment {
        stage: Stage::Surfaced,
        reasons,
    })
}
