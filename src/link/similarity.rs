//! How well a post retells a case: TF-IDF cosine over Chinese-aware units (character bigrams
//! of Han runs, whole Latin/digit words), with rarity measured over all cases, so that
//! complaint boilerplate ("投诉", "客服", "退款") weighs little and the particular facts weigh
//! much. Each case has two documents: what the agent typed, and the public story told by the
//! posts already linked to it, because the public retells a story in its own words. Story
//! words are weighed by rarity among the brand posts seen so far, since the agent's texts
//! know nothing of how the public talks.

pub use crate::normalize::{units, Unit};
// Units are already well-mixed integers; a fast non-keyed hash is enough and SipHash was a
// third of linking time.
use rustc_hash::FxHashMap as HashMap;

fn counts(units: &[Unit]) -> HashMap<Unit, u32> {
    let mut counts = HashMap::with_capacity_and_hasher(units.len(), Default::default());
    for u in units {
        *counts.entry(*u).or_insert(0) += 1;
    }
    counts
}

fn tf(count: u32) -> f32 {
    1.0 + (count as f32).ln()
}

/// Which brand a case or post belongs to, as the linker numbers brands.
pub type BrandId = u32;

/// The case documents, their public stories, and postings from units to cases. Postings are
/// kept per brand, since a post is only compared with its own brand's cases; rarity is
/// measured over all cases, which gives it a broader and steadier base.
#[derive(Debug, Default)]
pub struct TextIndex {
    n_cases: usize,
    /// Rarity among all cases of every unit some case uses.
    idf: HashMap<Unit, f32>,
    /// The cases of a brand that use a unit, with the unit's weight in each, already divided
    /// by the case document's norm.
    postings: HashMap<(BrandId, Unit), Vec<(u32, f32)>>,
    post_df: HashMap<Unit, u32>,
    n_posts: u32,
    stories: Vec<HashMap<Unit, u32>>,
    /// Each story's norm as of its last addition. Post rarity drifts slowly as posts arrive,
    /// so a norm refreshed on every addition is close enough, and scoring stays linear in the
    /// post instead of in the story.
    story_norms: Vec<f32>,
    /// The stories of a brand that use a unit, with its count in each: kept beside the
    /// case so that scoring reads along the postings without a lookup in every story.
    story_postings: HashMap<(BrandId, Unit), Vec<(u32, u32)>>,
}

/// Similarity of a post to one case: with the agent's text and with the public story.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Similarity {
    pub case_text: f32,
    pub story: f32,
}

/// A unit rarer than this is still part of a text's norm, but is not scored along its
/// postings: nearly every document uses it (rarity 0.1 is about nine in ten), so its
/// postings are the longest and its weight is near zero.
const MIN_SCORING_RARITY: f32 = 0.1;

/// BM25's rarity: high for units few documents use, near zero for units all of them use.
fn rarity(documents: u32, using: u32) -> f32 {
    let (n, df) = (documents as f32, using as f32);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

impl TextIndex {
    /// Indexes one document per case, in case order, each with its case's brand.
    pub fn new(case_units: Vec<(BrandId, Vec<Unit>)>) -> TextIndex {
        let n_cases = case_units.len();
        let documents: Vec<(BrandId, HashMap<Unit, u32>)> = case_units
            .iter()
            .map(|(brand, units)| (*brand, counts(units)))
            .collect();
        let mut df: HashMap<Unit, u32> = HashMap::default();
        for (_, doc) in &documents {
            for unit in doc.keys() {
                *df.entry(*unit).or_insert(0) += 1;
            }
        }
        let n = u32::try_from(n_cases).unwrap_or(u32::MAX);
        let idf: HashMap<Unit, f32> = df.into_iter().map(|(u, d)| (u, rarity(n, d))).collect();
        let mut postings: HashMap<(BrandId, Unit), Vec<(u32, f32)>> = HashMap::default();
        for (position, (brand, doc)) in documents.iter().enumerate() {
            let norm = doc
                .iter()
                .map(|(u, c)| (tf(*c) * idf[u]).powi(2))
                .sum::<f32>()
                .sqrt();
            if norm == 0.0 {
                continue;
            }
            for (unit, count) in doc.iter().filter(|(u, _)| idf[u] >= MIN_SCORING_RARITY) {
                postings
                    .entry((*brand, *unit))
                    .or_default()
                    .push((position as u32, tf(*count) * idf[unit] / norm));
            }
        }
        TextIndex {
            n_cases,
            idf,
            postings,
            stories: vec![HashMap::default(); n_cases],
            story_norms: vec![0.0; n_cases],
            ..TextIndex::default()
        }
    }

    /// Rarity of a unit among the brand posts seen so far.
    fn post_idf(&self, unit: Unit) -> f32 {
        rarity(self.n_posts, self.post_df.get(&unit).copied().unwrap_or(0))
    }

    /// Rarity of a story word: among posts, and no higher than among cases, because a word
    /// that many cases use (the brand's everyday complaint) says nothing about which case,
    /// however few posts have used it yet.
    fn story_idf(&self, unit: Unit) -> f32 {
        let among_posts = self.post_idf(unit);
        self.idf
            .get(&unit)
            .map_or(among_posts, |among_cases| among_posts.min(*among_cases))
    }

    /// Counts a brand post towards the rarity of story words.
    pub fn observe_post(&mut self, units: &[Unit]) {
        self.n_posts += 1;
        let mut seen: Vec<Unit> = units.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for unit in seen {
            *self.post_df.entry(unit).or_insert(0) += 1;
        }
    }

    /// Adds a linked post's units to the public story of a case of `brand`.
    pub fn add_to_story(&mut self, brand: BrandId, case: usize, units: &[Unit]) {
        let Some(story) = self.stories.get_mut(case) else {
            return;
        };
        for unit in units {
            let count = story.entry(*unit).or_insert(0);
            *count += 1;
            let posting = self.story_postings.entry((brand, *unit)).or_default();
            // A story's entry is the last one when the story used the unit most recently,
            // which is how stories grow: post by post.
            match posting.iter_mut().rev().find(|(c, _)| *c as usize == case) {
                Some(entry) => entry.1 = *count,
                None => posting.push((case as u32, *count)),
            }
        }
        let norm = self.stories[case]
            .iter()
            .map(|(u, c)| {
                let w = tf(*c) * self.story_idf(*u);
                w * w
            })
            .sum::<f32>()
            .sqrt();
        self.story_norms[case] = norm;
    }

    /// Every case of `brand` sharing a weighted unit with the post, with its similarities.
    pub fn candidates(&self, brand: BrandId, post_units: &[Unit]) -> HashMap<usize, Similarity> {
        let post = counts(post_units);
        // Units no case uses carry no weight, because they cannot tell cases apart.
        let weighted: Vec<(f32, f32, Unit)> = post
            .iter()
            .filter_map(|(u, c)| self.idf.get(u).map(|idf| (tf(*c) * idf, *idf, *u)))
            .filter(|(w, _, _)| *w > 0.0)
            .collect();
        let post_norm = weighted.iter().map(|(w, _, _)| w * w).sum::<f32>().sqrt();
        let mut found: HashMap<usize, Similarity> = HashMap::default();
        if post_norm > 0.0 {
            let mut scores = vec![0.0f32; self.n_cases];
            // As for stories: the commonest units count in the norm, not along their postings.
            let scored = weighted
                .iter()
                .filter(|(_, idf, _)| *idf >= MIN_SCORING_RARITY);
            for (weight, _, unit) in scored {
                for &(case, case_weight) in self.postings.get(&(brand, *unit)).into_iter().flatten()
                {
                    scores[case as usize] += weight * case_weight;
                }
            }
            let touched = scores.iter().filter(|score| **score > 0.0).count();
            found.reserve(touched);
            for (case, score) in scores.into_iter().enumerate() {
                if score > 0.0 {
                    found.entry(case).or_default().case_text = score / post_norm;
                }
            }
        }
        self.add_story_similarities(brand, &post, &mut found);
        found
    }

    fn add_story_similarities(
        &self,
        brand: BrandId,
        post: &HashMap<Unit, u32>,
        found: &mut HashMap<usize, Similarity>,
    ) {
        // Each unit's rarity once per post; scores accumulate along the postings, so the
        // work follows the stories that share a unit, not every story times every unit.
        let post_weights: Vec<(Unit, f32, f32)> = post
            .iter()
            .map(|(u, c)| {
                let idf = self.story_idf(*u);
                (*u, tf(*c) * idf, idf)
            })
            .collect();
        let post_norm = post_weights
            .iter()
            .map(|(_, w, _)| w * w)
            .sum::<f32>()
            .sqrt();
        if post_norm == 0.0 {
            return;
        }
        let mut dots: HashMap<u32, f32> = HashMap::default();
        for (unit, post_weight, idf) in post_weights
            .iter()
            .filter(|(_, _, idf)| *idf >= MIN_SCORING_RARITY)
        {
            for &(case, count) in self
                .story_postings
                .get(&(brand, *unit))
                .into_iter()
                .flatten()
            {
                *dots.entry(case).or_insert(0.0) += post_weight * tf(count) * idf;
            }
        }
        for (case, dot) in dots {
            let norm = self.story_norms[case as usize];
            if norm > 0.0 {
                found.entry(case as usize).or_default().story = (dot / (post_norm * norm)).min(1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::fold;

    fn u(text: &str) -> Vec<Unit> {
        units(&fold(text), &[])
    }

    #[test]
    fn han_runs_give_bigrams_and_latin_runs_give_words() {
        assert_eq!(u("漏油").len(), 1);
        assert_eq!(u("发动机漏油").len(), 4);
        assert_eq!(u("C200 漏油 x").len(), 2, "single letters are not units");
        assert_eq!(u("星驰C200"), [u("星驰")[0], u("c200")[0]]);
    }

    #[test]
    fn skipped_ranges_leave_no_units() {
        let text = fold("星驰漏油");
        let alias_end = "星驰".len();
        let units = units(&text, &[(0, alias_end)]);
        assert_eq!(units, u("漏油"));
    }

    #[test]
    fn the_retelling_scores_above_the_decoy() {
        let index = TextIndex::new(vec![
            (
                0,
                u("客户在西安城东店提车, 开出不到10公里发动机漏油, 门店说是正常现象"),
            ),
            (0, u("客户的车机导航卡顿, 升级后仍然卡顿, 要求退款")),
        ]);
        let found = index.candidates(
            0,
            &u("西安城东店提的车, 十公里不到发动机就漏油了, 店里还说正常"),
        );
        assert!(found[&0].case_text > 0.3, "{found:?}");
        assert!(
            found.get(&1).map_or(0.0, |s| s.case_text) < found[&0].case_text / 3.0,
            "{found:?}"
        );
    }

    #[test]
    fn the_public_story_adds_words_the_agent_did_not_type() {
        let mut index = TextIndex::new(vec![(0, u("客户车窗升降器故障")), (0, u("客户要求退款"))]);
        let story = u("零下三十度车窗关不上, 升降器坏了");
        let other = u("客服态度很差, 大家评评理");
        for post in [&story, &other, &u("退款一直不到账, 大家评评理")] {
            index.observe_post(post);
        }
        let query = u("零下三十度窗户关不上, 大家评评理");
        assert!(!index.candidates(0, &query).contains_key(&0));
        index.add_to_story(0, 0, &story);
        index.add_to_story(0, 1, &other);
        let found = index.candidates(0, &query);
        assert!(found[&0].story > 0.3, "{found:?}");
        assert!(
            found[&1].story < found[&0].story / 2.0,
            "shared boilerplate weighs little: {found:?}"
        );
    }
}
