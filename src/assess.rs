//! Assessment: how far a case's story has gone public. The source essays name three things
//! that meet when a complaint goes public — the customer's rage, a channel, and something that
//! moves the public — and the signals here follow them: rage and threats (in the posts and in
//! the case's own notes), the channels and authors carrying the story, and its resonance
//! (engagement growth, "me too" replies, news pickup, safety words).

use crate::config::AssessConfig;
use crate::model::{Case, Channel, Reason, Stage};
use crate::normalize::{fold, html_to_text};
use crate::store::{CaseItem, LinkState};
use aho_corasick::AhoCorasick;
use rustc_hash::{FxHashMap, FxHasher};
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

const LEXICON: &str = include_str!("../data/lexicon.txt");
const NEGATIONS: &[&str] = &["不会", "并未", "没有", "不", "没", "未", "别", "无"];
/// How far before a term a negation still negates it ("没有说要曝光"), in characters.
const NEGATION_REACH: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Threat,
    Anger,
    Despair,
    Deceived,
    Unfair,
    MeToo,
    Safety,
}

impl Category {
    fn parse(section: &str) -> Option<Category> {
        Some(match section {
            "threat" => Category::Threat,
            "anger" => Category::Anger,
            "despair" => Category::Despair,
            "deceived" => Category::Deceived,
            "unfair" => Category::Unfair,
            "me_too" => Category::MeToo,
            "safety" => Category::Safety,
            _ => return None,
        })
    }

    fn is_rage(self) -> bool {
        matches!(
            self,
            Category::Anger | Category::Despair | Category::Deceived | Category::Unfair
        )
    }
}

/// data/lexicon.txt in one automaton.
pub struct Lexicon {
    automaton: AhoCorasick,
    terms: Vec<(Category, String)>,
    /// Per term, the phrases in which it is not meant in its complaining sense
    /// ("仪表盘报警" is a warning light, not a call to the police).
    other_senses: Vec<Vec<String>>,
}

impl Lexicon {
    pub fn new() -> Lexicon {
        let mut terms = Vec::new();
        let mut other_senses = Vec::new();
        let mut category = None;
        for line in LEXICON.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                category = Category::parse(section);
                continue;
            }
            if let Some(category) = category {
                let (term, others) = line.split_once('!').unwrap_or((line, ""));
                terms.push((category, fold(term.trim())));
                other_senses.push(others.split_whitespace().map(fold).collect());
            }
        }
        let patterns: Vec<&str> = terms.iter().map(|(_, t)| t.as_str()).collect();
        // The lexicon is a constant of this crate; it always builds.
        let automaton = AhoCorasick::new(patterns)
            .unwrap_or_else(|e| panic!("data/lexicon.txt does not build a matcher: {e}"));
        Lexicon {
            automaton,
            terms,
            other_senses,
        }
    }

    /// The terms found in folded text, negated ones left out.
    pub fn find<'a>(&'a self, folded: &str) -> Vec<(Category, &'a str)> {
        self.find_indices(folded)
            .into_iter()
            .map(|index| self.term(index))
            .collect()
    }

    fn find_indices(&self, folded: &str) -> Vec<usize> {
        self.automaton
            .find_overlapping_iter(folded)
            .filter(|m| !negated(folded, m.start()))
            .filter(|m| !self.in_other_sense(folded, m.pattern().as_usize(), m.start()))
            .map(|m| m.pattern().as_usize())
            .collect()
    }

    /// Whether the term occurrence at `start` lies inside one of its other-sense phrases.
    fn in_other_sense(&self, folded: &str, index: usize, start: usize) -> bool {
        self.other_senses[index].iter().any(|phrase| {
            phrase
                .match_indices(self.terms[index].1.as_str())
                .any(|(offset, _)| {
                    start
                        .checked_sub(offset)
                        .and_then(|from| folded.get(from..from + phrase.len()))
                        == Some(phrase.as_str())
                })
        })
    }

    fn term(&self, index: usize) -> (Category, &str) {
        let (category, term) = &self.terms[index];
        (*category, term.as_str())
    }
}

/// The lexicon terms of items already read, by a hash of the item's source and guid. An
/// item's text never changes, and a case is reassessed at every sighting of any of its
/// items, so without this each assessment would fold and scan every item again.
#[derive(Default)]
struct ItemTerms {
    by_item: Mutex<FxHashMap<u64, Vec<usize>>>,
}

/// Enough for the items of every case a team follows at once; past it the memo starts over
/// rather than grow without bound.
const ITEM_TERMS_CAPACITY: usize = 200_000;

impl ItemTerms {
    fn of(&self, lexicon: &Lexicon, item: &CaseItem) -> Vec<usize> {
        let mut hasher = FxHasher::default();
        (item.source.as_str(), item.guid.as_str()).hash(&mut hasher);
        let key = hasher.finish();
        // A poisoned lock only loses the memo, never the answer.
        let mut memo = self.by_item.lock().ok();
        if let Some(found) = memo.as_ref().and_then(|m| m.get(&key)) {
            return found.clone();
        }
        let found = lexicon.find_indices(&item_text(item));
        if let Some(memo) = memo.as_mut() {
            if memo.len() >= ITEM_TERMS_CAPACITY {
                memo.clear();
            }
            memo.insert(key, found.clone());
        }
        found
    }
}

impl Default for Lexicon {
    fn default() -> Self {
        Self::new()
    }
}

fn negated(folded: &str, start: usize) -> bool {
    let before: String = folded[..start]
        .chars()
        .rev()
        .take(NEGATION_REACH)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    NEGATIONS.iter().any(|n| before.contains(n))
}

/// What the assessment saw, with the numbers a reader can check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    pub items: usize,
    pub authors: usize,
    pub sources: usize,
    /// News outlets that picked the story up, the complainant's own channels left out.
    pub news: Vec<String>,
    pub interactions: i64,
    /// Reposts summed over the items at their latest sighting: the story carried to strangers.
    pub reposts: i64,
    pub growth_per_hour: f64,
    pub me_too: usize,
    pub threats: BTreeSet<String>,
    /// Threats written in the case's own notes or summary.
    pub threats_in_notes: BTreeSet<String>,
    pub rage: BTreeSet<String>,
    pub safety: BTreeSet<String>,
}

/// The stage a case has reached and the reasons, with numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub stage: Stage,
    pub reasons: Vec<Reason>,
    pub signals: Signals,
}

pub struct Assessor {
    lexicon: Lexicon,
    config: AssessConfig,
    item_terms: ItemTerms,
}

fn item_text(item: &CaseItem) -> String {
    let title = item.title.as_deref().map(html_to_text).unwrap_or_default();
    let body = item.body.as_deref().map(html_to_text).unwrap_or_default();
    fold(&format!("{title}\n{body}"))
}

impl Assessor {
    pub fn new(config: AssessConfig) -> Assessor {
        Assessor {
            lexicon: Lexicon::new(),
            config,
            item_terms: ItemTerms::default(),
        }
    }

    /// Whether a post reads as a complaint (for `unlinked` alerts): it carries rage, a threat,
    /// or a safety concern, or it was posted on a complaint platform.
    pub fn is_complaint(&self, folded: &str, channel: Channel) -> bool {
        channel == Channel::Complaint
            || self
                .lexicon
                .find(folded)
                .iter()
                .any(|(c, _)| c.is_rage() || matches!(c, Category::Threat | Category::Safety))
    }

    pub fn signals(&self, case: &Case, items: &[&CaseItem]) -> Signals {
        let mut signals = Signals {
            items: items.len(),
            ..Signals::default()
        };
        let notes = fold(&format!("{}\n{}", case.notes, case.summary));
        for (category, term) in self.lexicon.find(&notes) {
            match category {
                Category::Threat => {
                    signals.threats_in_notes.insert(term.to_string());
                }
                Category::Safety => {
                    signals.safety.insert(term.to_string());
                }
                _ => {}
            }
        }
        let own_channels: Vec<String> = case
            .complainant
            .handles
            .iter()
            .map(|h| {
                fold(
                    h.split_once(':')
                        .map_or(h.as_str(), |(_, name)| name)
                        .trim(),
                )
            })
            .collect();
        let mut authors = BTreeSet::new();
        let mut sources = BTreeSet::new();
        for item in items {
            let author = item.author.as_deref().map(|a| fold(a.trim()));
            if let Some(author) = &author {
                authors.insert(author.clone());
            }
            sources.insert(item.source.as_str());
            let own = author.as_ref().is_some_and(|a| own_channels.contains(a));
            if item.channel == Channel::News && !own {
                signals
                    .news
                    .push(item.author.clone().unwrap_or_else(|| item.source.clone()));
            }
            if let Some(latest) = item.sightings.last() {
                signals.interactions += latest.engagement.interactions();
                signals.reposts += latest.engagement.reposts.unwrap_or(0);
            }
            signals.growth_per_hour += item.growth_per_hour().unwrap_or(0.0);
            for index in self.item_terms.of(&self.lexicon, item) {
                let (category, term) = self.lexicon.term(index);
                match category {
                    Category::Threat => {
                        signals.threats.insert(term.to_string());
                    }
                    Category::Safety => {
                        signals.safety.insert(term.to_string());
                    }
                    Category::MeToo => signals.me_too += 1,
                    _ => {
                        signals.rage.insert(term.to_string());
                    }
                }
            }
        }
        signals.authors = authors.len();
        signals.sources = sources.len();
        signals
    }

    /// The stage of an open case from its linked public items (oldest first). Candidate
    /// links wait for review and do not count; a case with no confirmed item has not surfaced.
    pub fn assess(&self, case: &Case, items: &[CaseItem]) -> Option<Assessment> {
        if !case.is_open() {
            return None;
        }
        let confirmed: Vec<&CaseItem> = items
            .iter()
            .filter(|i| i.link_state == LinkState::Confirmed)
            .collect();
        let first = *confirmed.first()?;
        let signals = self.signals(case, &confirmed);
        let c = &self.config;
        let heated = !signals.threats.is_empty()
            || !signals.threats_in_notes.is_empty()
            || !signals.safety.is_empty();
        let factor = if heated { c.heat_factor } else { 1.0 };
        let scaled = |n: usize| ((n as f64 * factor).ceil() as usize).max(2);
        let scaled_i = |n: i64| (n as f64 * factor) as i64;

        let mut reasons = vec![Reason::FirstItem {
            channel: first.channel,
            author: first.author.clone(),
            source: first.source.clone(),
            seen_at: first.first_seen_at,
        }];
        let mut stage = Stage::Surfaced;

        // Viral is a fact about how far the story went, not a forecast: heat does not lower it.
        let viral = signals.authors >= c.viral_authors
            || !signals.news.is_empty() && signals.authors >= c.viral_authors_with_news
            || signals.reposts >= c.viral_reposts
            || signals.interactions >= c.viral_interactions
            || signals.growth_per_hour >= c.viral_growth_per_hour;
        let spreading = signals.authors >= scaled(c.spreading_authors)
            || !signals.news.is_empty()
            || signals.me_too >= 2
            || signals.interactions >= scaled_i(c.spreading_interactions)
            || signals.growth_per_hour >= c.spreading_growth_per_hour * factor;
        if viral {
            stage = Stage::Viral;
        } else if spreading {
            stage = Stage::Spreading;
        }
        if signals.items > 1 {
            reasons.push(Reason::Spread {
                items: signals.items,
                authors: signals.authors,
                sources: signals.sources,
            });
        }
        if !signals.news.is_empty() {
            reasons.push(Reason::NewsPickup {
                outlets: signals.news.clone(),
            });
        }
        if signals.interactions > 0 {
            reasons.push(Reason::Interactions {
                total: signals.interactions,
                growth_per_hour: signals.growth_per_hour,
            });
        }
        if signals.reposts > 0 {
            reasons.push(Reason::Reposts {
                total: signals.reposts,
            });
        }
        if signals.me_too > 0 {
            reasons.push(Reason::MeToo {
                retellings: signals.me_too,
            });
        }
        if !signals.threats.is_empty() || !signals.threats_in_notes.is_empty() {
            reasons.push(Reason::Threats {
                in_posts: signals.threats.iter().cloned().collect(),
                in_notes: signals.threats_in_notes.iter().cloned().collect(),
            });
        }
        if !signals.rage.is_empty() {
            reasons.push(Reason::Rage {
                terms: signals.rage.iter().cloned().collect(),
            });
        }
        if !signals.safety.is_empty() {
            reasons.push(Reason::Safety {
                terms: signals.safety.iter().cloned().collect(),
            });
        }
        if heated {
            reasons.push(Reason::ThresholdsLowered { factor });
        }
        Some(Assessment {
            stage,
            reasons,
            signals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseStatus, Complainant, Engagement};
    use crate::store::Sighting;
    use chrono::{DateTime, Duration, FixedOffset};

    fn at(hours: i64) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-03-05T10:00:00+08:00").unwrap() + Duration::hours(hours)
    }

    fn case(notes: &str) -> Case {
        Case {
            id: "C-1".into(),
            brand: "星驰汽车".into(),
            status: CaseStatus::Open,
            opened_at: None,
            channel: None,
            severity: None,
            complainant: Complainant::default(),
            summary: "车机卡顿".into(),
            demand: String::new(),
            identifiers: vec![],
            notes: notes.into(),
        }
    }

    fn item(author: &str, channel: Channel, body: &str, likes: &[(i64, i64)]) -> CaseItem {
        CaseItem {
            item_id: 0,
            source: format!("{channel}-source"),
            guid: format!("{author}-{body}"),
            channel,
            url: None,
            title: None,
            body: Some(body.into()),
            author: Some(author.into()),
            published_at: None,
            first_seen_at: at(likes.first().map_or(0, |l| l.0)),
            link_state: LinkState::Confirmed,
            link_score: 1.0,
            link_evidence: vec![],
            sightings: likes
                .iter()
                .map(|(hour, likes)| Sighting {
                    at: at(*hour),
                    last_seen: at(*hour),
                    engagement: Engagement {
                        likes: Some(*likes),
                        ..Engagement::default()
                    },
                    author_followers: None,
                })
                .collect(),
        }
    }

    fn stage(notes: &str, items: &[CaseItem]) -> Option<Stage> {
        Assessor::new(AssessConfig::default())
            .assess(&case(notes), items)
            .map(|a| a.stage)
    }

    #[test]
    fn one_item_surfaces_more_authors_spread_and_news_with_authors_goes_viral() {
        let one = [item("a", Channel::Social, "车机卡顿", &[(0, 5)])];
        assert_eq!(stage("", &one), Some(Stage::Surfaced));
        let three: Vec<CaseItem> = ["a", "b", "c"]
            .iter()
            .map(|a| item(a, Channel::Social, "车机卡顿", &[(0, 5)]))
            .collect();
        assert_eq!(stage("", &three), Some(Stage::Spreading));
        let mut with_news: Vec<CaseItem> = ["a", "b", "c"]
            .iter()
            .map(|a| item(a, Channel::Forum, "卡顿", &[(0, 5)]))
            .collect();
        with_news.push(item("晨报", Channel::News, "车机卡顿", &[(0, 0)]));
        assert_eq!(stage("", &with_news), Some(Stage::Viral));
    }

    #[test]
    fn engagement_growth_per_hour_escalates() {
        let growing = [item("a", Channel::Video, "车机卡顿", &[(0, 10), (1, 400)])];
        assert_eq!(stage("", &growing), Some(Stage::Spreading));
        let exploding = [item("a", Channel::Video, "车机卡顿", &[(0, 10), (1, 4000)])];
        assert_eq!(stage("", &exploding), Some(Stage::Viral));
    }

    #[test]
    fn threats_in_the_notes_escalate_sooner() {
        let two: Vec<CaseItem> = ["a", "b"]
            .iter()
            .map(|a| item(a, Channel::Social, "车机卡顿", &[(0, 5)]))
            .collect();
        assert_eq!(stage("客户语气平和", &two), Some(Stage::Surfaced));
        assert_eq!(
            stage("客户说再不处理就去微博曝光", &two),
            Some(Stage::Spreading)
        );
    }

    #[test]
    fn smoke_is_a_safety_word_and_a_chilled_heart_is_despair() {
        let lexicon = Lexicon::new();
        assert_eq!(
            lexicon.find(&fold("充电器冒烟了, 真让人寒心")),
            [(Category::Safety, "冒烟"), (Category::Despair, "寒心")]
        );
    }

    #[test]
    fn a_warning_light_is_no_threat_to_go_public() {
        let lexicon = Lexicon::new();
        assert!(lexicon.find(&fold("仪表盘报警, 客户语气平和")).is_empty());
        assert_eq!(
            lexicon.find(&fold("再不退款我就报警")),
            [(Category::Threat, "报警")]
        );
        let two: Vec<CaseItem> = ["a", "b"]
            .iter()
            .map(|a| item(a, Channel::Social, "车机卡顿", &[(0, 5)]))
            .collect();
        assert_eq!(
            stage("行驶中仪表盘报警, 客户比较冷静", &two),
            Some(Stage::Surfaced)
        );
    }

    #[test]
    fn likes_alone_do_not_make_a_story_viral_but_reposts_and_news_do() {
        let liked = |reposts: i64| {
            let mut one = item("a", Channel::Social, "车机卡顿", &[(0, 20_000)]);
            one.sightings[0].engagement.reposts = Some(reposts);
            one
        };
        // Threatened, and liked 20000 times by one circle: spreading, not viral.
        assert_eq!(
            stage("客户说要找媒体曝光", &[liked(300)]),
            Some(Stage::Spreading)
        );
        assert_eq!(stage("", &[liked(1200)]), Some(Stage::Viral));
        let picked_up = [
            item("a", Channel::Social, "车机卡顿", &[(0, 5)]),
            item("晨报", Channel::News, "车机卡顿", &[(1, 0)]),
        ];
        assert_eq!(stage("", &picked_up), Some(Stage::Viral));
    }

    #[test]
    fn the_complainants_own_news_channel_is_no_pickup() {
        let mut own = case("");
        own.complainant.handles = vec!["toutiao:老王说车".into()];
        let items = [
            item("老王说车", Channel::News, "车机卡顿", &[(0, 5)]),
            item("b", Channel::Social, "车机卡顿", &[(1, 5)]),
        ];
        let assessment = Assessor::new(AssessConfig::default())
            .assess(&own, &items)
            .unwrap();
        assert!(assessment.signals.news.is_empty());
        assert_ne!(assessment.stage, Stage::Viral);
    }

    #[test]
    fn negated_threats_do_not_count() {
        let two: Vec<CaseItem> = ["a", "b"]
            .iter()
            .map(|a| item(a, Channel::Social, "车机卡顿", &[(0, 5)]))
            .collect();
        assert_eq!(
            stage("客户比较理性, 没有曝光的说法", &two),
            Some(Stage::Surfaced)
        );
    }

    #[test]
    fn candidates_and_closed_cases_do_not_count() {
        let mut candidate = item("a", Channel::Social, "车机卡顿", &[(0, 5)]);
        candidate.link_state = LinkState::Candidate;
        assert_eq!(stage("", &[candidate]), None);
        let mut closed = case("");
        closed.status = CaseStatus::Closed;
        let one = [item("a", Channel::Social, "车机卡顿", &[(0, 5)])];
        assert!(Assessor::new(AssessConfig::default())
            .assess(&closed, &one)
            .is_none());
    }

    #[test]
    fn reasons_carry_the_numbers() {
        let items = [
            item(
                "a",
                Channel::Social,
                "太离谱了, 我也是",
                &[(0, 10), (2, 210)],
            ),
            item("b", Channel::News, "报道", &[(1, 0)]),
        ];
        let assessment = Assessor::new(AssessConfig::default())
            .assess(&case("要找媒体"), &items)
            .unwrap();
        let reasons = &assessment.reasons;
        let has = |r: Reason| reasons.contains(&r);
        assert!(
            has(Reason::Spread {
                items: 2,
                authors: 2,
                sources: 2
            }),
            "{reasons:?}"
        );
        assert!(
            has(Reason::NewsPickup {
                outlets: vec!["b".into()]
            }),
            "{reasons:?}"
        );
        assert!(
            has(Reason::Interactions {
                total: 210,
                growth_per_hour: 100.0
            }),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| matches!(r, Reason::Threats { in_notes, .. } if in_notes == &["找媒体"])),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| matches!(r, Reason::Rage { terms } if terms.iter().any(|t| t == "离谱"))),
            "{reasons:?}"
        );
    }

    #[test]
    fn complaints_are_told_from_other_brand_talk() {
        let assessor = Assessor::new(AssessConfig::default());
        assert!(assessor.is_complaint(&fold("客服推来推去, 太离谱了"), Channel::Social));
        assert!(assessor.is_complaint(&fold("新品发布"), Channel::Complaint));
        assert!(!assessor.is_complaint(&fold("新款车型今天发布, 续航提升"), Channel::News));
        assert!(
            assessor.is_complaint(&fold("寶寶奶粉過期了"), Channel::Social),
            "Traditional script"
        );
    }
}
