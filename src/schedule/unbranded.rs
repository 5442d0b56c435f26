//! A source's items that mention no brand, remembered between polls. The pipeline keeps
//! nothing of such an item, so it decides about it again at every read that still shows it:
//! at 10,000 busy feeds that is most of a daemon's work. Remembered here, an item seen
//! again unchanged skips the pipeline, and a read of nothing else costs no statement.
//!
//! Whether an item mentions a brand depends on its text and on the brands' vocabulary,
//! which grows with the open cases: what was remembered under one case revision is
//! forgotten at the next.

use crate::model::Observation;
use std::hash::{Hash, Hasher};

/// The fingerprints of the last read's items that mentioned no brand, and the case revision
/// they were decided under. Only items of the last read are kept, so the memory of a source
/// is as small as its page.
#[derive(Debug, Default)]
pub(crate) struct Unbranded {
    revision: i64,
    fingerprints: Box<[u64]>,
}

/// What brand detection reads of an item (and its guid): any change is decided again.
fn fingerprint(observation: &Observation) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (
        &observation.guid,
        &observation.title,
        &observation.body,
        &observation.author,
    )
        .hash(&mut hasher);
    hasher.finish()
}

impl Unbranded {
    /// Splits a read into the items still to decide and the fingerprints of those known to
    /// mention no brand under `revision` (the newest case revision this instance knows).
    pub(crate) fn sort_out(
        &self,
        read: Vec<Observation>,
        revision: i64,
    ) -> (Vec<Observation>, Vec<u64>) {
        let valid = self.revision == revision && !self.fingerprints.is_empty();
        let mut fresh = Vec::with_capacity(read.len());
        let mut known = Vec::new();
        for observation in read {
            let print = fingerprint(&observation);
            if valid && self.fingerprints.contains(&print) {
                known.push(print);
            } else {
                fresh.push(observation);
            }
        }
        (fresh, known)
    }

    /// After a read: `known` (from [`Unbranded::sort_out`]) and the processed items the
    /// pipeline found to mention no brand under `revision`.
    pub(crate) fn remember<'a>(
        &mut self,
        known: Vec<u64>,
        found: impl Iterator<Item = &'a Observation>,
        revision: Option<i64>,
    ) {
        let Some(revision) = revision else {
            // The pipeline decided without a settled case revision: nothing is known to last.
            *self = Unbranded::default();
            return;
        };
        let mut fingerprints = if revision == self.revision {
            known
        } else {
            Vec::new()
        };
        fingerprints.extend(found.map(fingerprint));
        *self = Unbranded {
            revision,
            fingerprints: fingerprints.into_boxed_slice(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Channel;
    use chrono::Utc;

    fn item(guid: &str, body: &str) -> Observation {
        Observation {
            source: "forum".into(),
            channel: Channel::Forum,
            guid: guid.into(),
            url: None,
            title: None,
            body: Some(body.into()),
            author: None,
            author_followers: None,
            published_at: None,
            fetched_at: Utc::now().fixed_offset(),
            engagement: Default::default(),
        }
    }

    fn guids(observations: &[Observation]) -> Vec<&str> {
        observations.iter().map(|o| o.guid.as_str()).collect()
    }

    #[test]
    fn an_item_found_unbranded_is_skipped_while_unchanged_under_the_same_revision() {
        let mut memory = Unbranded::default();
        let read = vec![item("a", "天气不错"), item("b", "星驰 漏油")];
        let (fresh, known) = memory.sort_out(read.clone(), 7);
        assert_eq!(guids(&fresh), ["a", "b"], "nothing is known at first");
        memory.remember(known, fresh.iter().filter(|o| o.guid == "a"), Some(7));

        let (fresh, known) = memory.sort_out(read.clone(), 7);
        assert_eq!(guids(&fresh), ["b"], "a is known to mention no brand");
        assert_eq!(known.len(), 1);

        let edited = vec![item("a", "天气不错, 星驰也不错"), item("b", "星驰 漏油")];
        let (fresh, _) = memory.sort_out(edited, 7);
        assert_eq!(guids(&fresh), ["a", "b"], "an edited item is decided again");

        let (fresh, _) = memory.sort_out(read, 8);
        assert_eq!(
            guids(&fresh),
            ["a", "b"],
            "a new case revision forgets everything"
        );
    }

    #[test]
    fn only_the_last_reads_items_are_kept() {
        let mut memory = Unbranded::default();
        let first = vec![item("a", "一"), item("b", "二")];
        let (fresh, known) = memory.sort_out(first.clone(), 1);
        memory.remember(known, fresh.iter(), Some(1));

        // b left the page; c is new and also mentions no brand.
        let second = vec![item("a", "一"), item("c", "三")];
        let (fresh, known) = memory.sort_out(second, 1);
        assert_eq!(guids(&fresh), ["c"]);
        memory.remember(known, fresh.iter(), Some(1));
        assert_eq!(memory.fingerprints.len(), 2, "a and c, not b");

        let (fresh, _) = memory.sort_out(first, 1);
        assert_eq!(
            guids(&fresh),
            ["b"],
            "b is decided again when it comes back"
        );
    }

    #[test]
    fn a_decision_without_a_revision_or_under_a_new_one_replaces_the_memory() {
        let mut memory = Unbranded::default();
        let read = vec![item("a", "一"), item("b", "二")];
        let (fresh, known) = memory.sort_out(read.clone(), 1);
        memory.remember(known, fresh.iter(), Some(1));

        let (fresh, known) = memory.sort_out(read.clone(), 1);
        assert!(fresh.is_empty());
        memory.remember(known, std::iter::empty(), Some(2));
        assert!(memory.fingerprints.is_empty(), "known under 1, not under 2");

        let (fresh, known) = memory.sort_out(read.clone(), 2);
        memory.remember(known, fresh.iter(), None);
        let (fresh, _) = memory.sort_out(read, 2);
        assert_eq!(fresh.len(), 2);
    }
}
