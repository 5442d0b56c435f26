//! Linking a brand mention to the case it is about, as a complaint lead would: strong
//! evidence (the case's identifiers, even partly or masked; the complainant's handles; a
//! phone fragment) and soft evidence (how well the post retells the case, and whether its
//! place, date, amount and masked name agree). Candidates come from indexes built once per
//! change of the case set, never from scoring every case for every item.

mod facts;
mod glossary;
mod similarity;

use crate::config::LinkingConfig;
use crate::detect::BrandDetector;
use crate::model::{Case, LinkEvidence};
use crate::normalize::places::Gazetteer;
use crate::normalize::{compact_identifier, fold, is_identifier_separator};
use crate::store::{LinkState, NewLink};
use aho_corasick::{AhoCorasick, MatchKind};
use chrono::{DateTime, Datelike, FixedOffset, TimeZone};
use facts::{compare, Comparison, Facts};
use glossary::Glossary;
use similarity::{units, BrandId, TextIndex, Unit};
use std::collections::HashMap;

/// Identifiers shorter than this (after separators are removed) match too much by chance.
const MIN_IDENTIFIER_LEN: usize = 5;
/// The visible part of a masked identifier ("LBC3S5A18RN0*****") must be at least this long.
const MIN_MASKED_PREFIX: usize = 8;
/// Digits a phone tail ("尾号2291") must have.
const PHONE_TAIL: usize = 4;

/// Strong evidence, by how sure it is.
const IDENTIFIER_SCORE: f64 = 1.0;
const AUTHOR_HANDLE_SCORE: f64 = 0.97;
const MASKED_IDENTIFIER_SCORE: f64 = 0.93;
const MENTIONED_HANDLE_SCORE: f64 = 0.9;
const QUOTES_LINKED_POST_SCORE: f64 = 0.9;
const MENTIONS_VOICE_SCORE: f64 = 0.9;
const PHONE_SCORE: f64 = 0.85;
const PLACE_NAME_SCORE: f64 = 0.85;

/// Soft evidence: cosine similarity is scaled so that a clear retelling reaches 1; facts that
/// agree or conflict move it.
const SIMILARITY_SCALE: f64 = 2.0;
const STORY_WEIGHT: f64 = 0.9;
/// How many of the best text matches are compared fact by fact.
const FACT_CHECKED_CANDIDATES: usize = 16;
const FACT_AGREES: f64 = 0.1;
/// A post with few Chinese characters (an English retelling) shares little text with the
/// case, so what survives translation (amounts, dates, places, models) weighs more.
const FACT_AGREES_ACROSS_LANGUAGES: f64 = 0.35;
const FEW_HAN_CHARS: usize = 20;
const MIN_LATIN_WORDS: usize = 8;
/// Likeness (through the glossary's translations) at which a retelling in another language
/// tells what happened in the case: the story itself agrees, as a fact does.
const STORY_RETOLD_ACROSS_LANGUAGES: f64 = 0.35;
/// Specific facts that must agree before text confirms a link.
const SPECIFIC_AGREEMENT: usize = 2;
/// A long post (in distinct units: a title repeated in the body says nothing twice) that
/// retells the case this well (its text score before facts) needs only one agreeing fact:
/// it says much, and much of it is this case's.
const LONG_POST_UNITS: usize = 24;
/// Without any agreeing fact, a post must say more to be a retelling of the case whole.
const WHOLE_RETELLING_UNITS: usize = 30;
const CLOSE_RETELLING: f64 = 0.5;
/// Likeness to the agent's text alone at which a long post retells the case nearly whole.
const RETOLD_WHOLE: f64 = 0.65;
/// Likeness to the case (as scored) above which a complainant's own post is about the case.
const ON_TOPIC: f64 = 0.15;
/// A complainant's post from before the incident is about something else; this much slack
/// allows for a story that began the evening before the day the case names.
const BEFORE_INCIDENT_SLACK_HOURS: i64 = 24;
/// A post by, or naming, someone whose earlier post is linked to a case: a follow-up, or
/// a retelling of that person's story. Suggestive, not proof (commentators cover several
/// cases), so it adds to the text's score rather than deciding alone.
const VOICE_BONUS: f64 = 0.4;
/// A voice who says the post is an update of their story: the usual words of the story
/// need not be repeated in it.
const FOLLOW_UP_BONUS: f64 = 0.5;
/// Names shorter than this are too common to recognise in running text.
const MIN_VOICE_NAME_CHARS: usize = 3;
/// Author names that stand for nobody in particular.
const ANONYMOUS_AUTHORS: &[&str] = &["匿名用户", "匿名", "网友", "游客", "用户", "anonymous"];
/// A different surname on a complaint platform is a different complainant; other facts can
/// differ in a retelling by mistake or shorthand, so they weigh less.
fn conflict_weight(fact: &str) -> f64 {
    match fact {
        "surname" => 0.8,
        "place" => 0.45,
        "city" => 0.2,
        // A follow-up names the days since, so another day is weak counter-evidence.
        "date" => 0.2,
        _ => 0.3,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot build the identifier index: {0}")]
    Build(#[from] aho_corasick::BuildError),
}

/// The parts of an item that linking looks at.
#[derive(Debug, Clone)]
pub struct ItemText<'a> {
    /// Title and body as plain text, folded (normalize::fold).
    pub folded: &'a str,
    /// Where the brand's aliases stand in `folded`; they say nothing about which case.
    pub brand_spans: &'a [(usize, usize)],
    pub author: Option<&'a str>,
    pub published_at: Option<DateTime<FixedOffset>>,
    /// The brand was found in a variant spelling: (as written, the alias it stands for).
    pub brand_variant: Option<(&'a str, &'a str)>,
    /// The author is one of the brand's own accounts, whose replies speak of many cases.
    pub author_is_brand: bool,
    /// The item's own URL and every URL it links to.
    pub url: Option<&'a str>,
    pub linked_urls: &'a [String],
}

struct IdentifierPattern {
    case: usize,
    shown: String,
}

/// All cases and the indexes that find candidate cases for an item.
pub struct Linker {
    cases: Vec<Case>,
    thresholds: LinkingConfig,
    identifiers: Option<AhoCorasick>,
    identifier_patterns: Vec<IdentifierPattern>,
    /// Compact identifier values, for masked forms.
    compact_identifiers: Vec<(String, usize, String)>,
    handles: Option<AhoCorasick>,
    handle_owners: Vec<(usize, String)>,
    author_handles: HashMap<String, Vec<(usize, String)>>,
    phone_tails: HashMap<String, Vec<usize>>,
    /// The names inside place identifiers ("青秀湾" of "community:玉林青秀湾小区"), each
    /// owned by one case: (case, name, identifier).
    place_names: Option<AhoCorasick>,
    place_name_owners: Vec<(usize, String, String)>,
    text: TextIndex,
    brand_ids: HashMap<String, BrandId>,
    positions_by_id: HashMap<String, usize>,
    gazetteer: Gazetteer,
    glossary: Glossary,
    facts: Vec<Facts>,
    /// When each case's story may have begun: its earliest named day, or its opening.
    incident_from: Vec<Option<DateTime<FixedOffset>>>,
    linked_urls: HashMap<String, usize>,
    /// Authors whose posts are confirmed for cases: the public voices of those stories.
    voices: HashMap<String, Vec<usize>>,
    /// The byte lengths of voice names by their first two characters, to find the names in
    /// running text in one pass: many handles share a head ("车主…"), few share a length too.
    voice_heads: HashMap<(char, char), Vec<usize>>,
}

/// Strong evidence that counts only when the rest of the post bears it out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Condition {
    /// A complainant's own post counts when it is about the complaint: after the incident,
    /// like the case, and with no fact conflicting.
    AboutTheComplaint,
    /// A phone or id tail is four digits: a coincidence unless no fact conflicts.
    NoConflict,
    /// A place's name counts when the post is about the complaint and does not tell of
    /// another place, or of its author's own ("我们这边也是", "另一个小区").
    AboutTheComplaintThere,
}

/// Words with which a post turns from a place it named to another one.
const ANOTHER_PLACE: &[&str] = &["另一个", "另一家", "另一处", "隔壁"];

/// Why a post fits one case, and how well.
#[derive(Debug, Clone, Default)]
struct Fit {
    strong: f64,
    soft: f64,
    evidence: Vec<LinkEvidence>,
    conditional: Vec<(f64, LinkEvidence, Condition)>,
    /// The text's likeness (as scored) and the fact comparison, once computed.
    retelling: Option<(f64, Comparison)>,
    /// Likeness to the agent's own words alone (as scored): the public story can make a
    /// short post about the brand look like any story told of it.
    case_text: f64,
    /// Whether a known voice of the case wrote or is named in the post.
    voice: bool,
}

impl Fit {
    fn score(&self) -> f64 {
        self.rank().clamp(0.0, 1.0)
    }

    /// The score before it is capped at 1: two cases that both reach the cap are still told
    /// apart by how far beyond it their evidence goes.
    fn rank(&self) -> f64 {
        self.strong.max(self.soft)
    }

    fn add_strong(&mut self, score: f64, evidence: LinkEvidence) {
        self.strong = self.strong.max(score);
        self.note(evidence);
    }

    fn note(&mut self, evidence: LinkEvidence) {
        if !self.evidence.contains(&evidence) {
            self.evidence.push(evidence);
        }
    }

    /// Raises the soft score; applied after the text similarity has been set.
    fn add_soft_bonus(&mut self, bonus: f64, evidence: LinkEvidence) {
        self.soft += bonus;
        self.voice = true;
        self.note(evidence);
    }

    /// Facts that agree, beyond likeness of text.
    fn specific_agreement(&self) -> usize {
        self.retelling.as_ref().map_or(0, |(_, c)| c.agree.len())
    }

    /// Enough agreement for text to confirm: two facts; in a long post, one particular fact
    /// (not the place alone) in a close retelling, or the agent's own words retold nearly
    /// whole.
    fn agrees_specifically(&self, post_units: usize) -> bool {
        let likeness = self.retelling.as_ref().map_or(0.0, |(l, _)| *l);
        let facts = self.specific_agreement();
        // The same place alone is what every local post about the brand shares, and the
        // company's stock answer ("存在不文明行为") is quoted by everyone who got it.
        let particular = self
            .retelling
            .as_ref()
            .is_some_and(|(_, c)| c.agree.iter().any(|f| !matches!(*f, "place" | "quote")));
        facts >= SPECIFIC_AGREEMENT
            || post_units >= LONG_POST_UNITS && particular && likeness >= CLOSE_RETELLING
            || post_units >= WHOLE_RETELLING_UNITS && self.case_text >= RETOLD_WHOLE
    }

    /// A known voice of the case wrote or is named in a post that is like the case: their
    /// follow-up, or a retelling of their post.
    fn voice_on_topic(&self) -> bool {
        self.voice
            && self
                .retelling
                .as_ref()
                .is_some_and(|(likeness, c)| *likeness >= ON_TOPIC || !c.agree.is_empty())
    }

    /// Facts that conflict, unless clearly outweighed by agreeing ones (a news report names
    /// more amounts than the case knows): another story. A different day or city does not
    /// decide (follow-ups name the days since, stories move between cities).
    fn conflicts(&self) -> bool {
        self.retelling.as_ref().is_some_and(|(_, c)| {
            let decisive = c
                .conflict
                .iter()
                .filter(|f| !matches!(**f, "date" | "month" | "city"))
                .count();
            decisive > 0 && c.agree.len() < 2 * decisive + 1
        })
    }
}

impl Linker {
    /// Indexes every case, open or closed: a closed case's story resurfacing is still that
    /// case (it just never alerts).
    pub fn new(
        cases: Vec<Case>,
        detector: &BrandDetector,
        thresholds: LinkingConfig,
    ) -> Result<Linker, LinkError> {
        let gazetteer = Gazetteer::new();
        let mut compact_patterns = Vec::new();
        let mut identifier_patterns = Vec::new();
        let mut compact_identifiers = Vec::new();
        let mut handle_patterns = Vec::new();
        let mut handle_owners = Vec::new();
        let mut author_handles: HashMap<String, Vec<(usize, String)>> = HashMap::new();
        let mut phone_tails: HashMap<String, Vec<usize>> = HashMap::new();
        let mut place_names: HashMap<String, Vec<(usize, String)>> = HashMap::new();
        let mut brand_ids: HashMap<String, BrandId> = HashMap::new();
        let mut documents = Vec::with_capacity(cases.len());
        let mut facts = Vec::with_capacity(cases.len());
        let mut incident_from = Vec::with_capacity(cases.len());
        for (position, case) in cases.iter().enumerate() {
            for identifier in &case.identifiers {
                if let Some(name) = place_name(identifier_value(identifier), &gazetteer) {
                    let owners = place_names.entry(name).or_default();
                    if !owners.iter().any(|(owner, _)| *owner == position) {
                        owners.push((position, identifier.clone()));
                    }
                }
                let compact = compact_identifier(identifier_value(identifier));
                if compact.chars().count() < MIN_IDENTIFIER_LEN {
                    continue;
                }
                if let Some(tail) = masked_tail(&compact) {
                    phone_tails.entry(tail).or_default().push(position);
                }
                compact_identifiers.push((compact.clone(), position, identifier.clone()));
                compact_patterns.push(compact);
                identifier_patterns.push(IdentifierPattern {
                    case: position,
                    shown: identifier.clone(),
                });
            }
            if let Some(tail) = case.complainant.phone.as_deref().and_then(phone_tail) {
                phone_tails.entry(tail).or_default().push(position);
            }
            for handle in &case.complainant.handles {
                let name = fold(handle_name(handle).trim());
                if name.is_empty() {
                    continue;
                }
                author_handles
                    .entry(name.clone())
                    .or_default()
                    .push((position, handle.clone()));
                handle_patterns.push(format!("@{name}"));
                handle_owners.push((position, handle.clone()));
            }
            let text = fold(&format!(
                "{}\n{}\n{}",
                case.summary, case.demand, case.notes
            ));
            let spans = detector
                .detect(&text)
                .into_iter()
                .find(|m| m.brand == case.brand)
                .map(|m| m.spans)
                .unwrap_or_default();
            let next_id = BrandId::try_from(brand_ids.len()).unwrap_or(BrandId::MAX);
            let brand = *brand_ids.entry(case.brand.clone()).or_insert(next_id);
            documents.push((brand, units(&text, &spans)));
            let case_facts = Facts::of_text(&text, &gazetteer).with_words(&text);
            incident_from.push(incident_start(case, &case_facts));
            facts.push(case_facts);
        }
        let build = |patterns: &[String]| -> Result<Option<AhoCorasick>, LinkError> {
            if patterns.is_empty() {
                return Ok(None);
            }
            Ok(Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(patterns)?,
            ))
        };
        let positions_by_id = cases
            .iter()
            .enumerate()
            .map(|(position, case)| (case.id.clone(), position))
            .collect();
        // A name several cases share (two complaints from one estate) says nothing of which.
        let place_name_owners: Vec<(usize, String, String)> = place_names
            .into_iter()
            .filter_map(|(name, owners)| match owners.as_slice() {
                [(position, identifier)] => Some((*position, name, identifier.clone())),
                _ => None,
            })
            .collect();
        let place_name_patterns: Vec<String> = place_name_owners
            .iter()
            .map(|(_, name, _)| name.clone())
            .collect();
        Ok(Linker {
            identifiers: build(&compact_patterns)?,
            handles: build(&handle_patterns)?,
            place_names: build(&place_name_patterns)?,
            place_name_owners,
            cases,
            thresholds,
            identifier_patterns,
            compact_identifiers,
            handle_owners,
            author_handles,
            phone_tails,
            text: TextIndex::new(documents),
            brand_ids,
            positions_by_id,
            gazetteer,
            glossary: Glossary::new(),
            facts,
            incident_from,
            linked_urls: HashMap::new(),
            voices: HashMap::new(),
            voice_heads: HashMap::new(),
        })
    }

    pub fn case(&self, id: &str) -> Option<&Case> {
        self.positions_by_id.get(id).map(|p| &self.cases[*p])
    }

    /// The case of `brand` this item is about: confirmed when the evidence is clear, a
    /// candidate for review when it is suggestive or fits two cases about equally.
    pub fn link(&mut self, brand: &str, item: &ItemText<'_>) -> Option<NewLink> {
        let writing = Writing::of(item.folded);
        let post_units = self.units_of(item, writing);
        let mut fits: HashMap<usize, Fit> = HashMap::new();
        self.strong_evidence(item, &mut fits);
        let post_facts =
            Facts::of_text(item.folded, &self.gazetteer).with_author(item.author, &self.gazetteer);
        self.soft_evidence(brand, &post_units, writing, &post_facts, &mut fits);
        self.voice_evidence(item, &mut fits);
        self.settle_conditions(item, &post_facts, &mut fits);
        self.text.observe_post(&post_units);

        let mut ranked: Vec<(usize, Fit)> = fits
            .into_iter()
            .filter(|(position, _)| self.cases[*position].brand == brand)
            .collect();
        ranked.sort_by(|a, b| {
            b.1.strong
                .total_cmp(&a.1.strong)
                .then(b.1.rank().total_cmp(&a.1.rank()))
                .then(a.0.cmp(&b.0))
        });
        tracing::debug!(
            candidates = ?ranked
                .iter()
                .take(3)
                .map(|(p, f)| (self.cases[*p].id.as_str(), f.strong, f.soft))
                .collect::<Vec<_>>(),
            "link candidates"
        );
        let mut ranked = ranked.into_iter();
        let (position, best) = ranked.next()?;
        let runner_up = ranked.next().map(|(_, fit)| fit);
        let score = best.score();
        let clear_margin = runner_up.as_ref().is_none_or(|r| {
            if best.strong > 0.0 {
                r.strong < best.strong
            } else {
                best.rank() - r.rank() >= self.thresholds.margin
            }
        });
        let mut evidence = best.evidence.clone();
        // Likeness of text says the post is about this kind of trouble; that it is about
        // this case takes facts that agree, none that conflict, and no story of its own.
        let specific = best.strong > 0.0
            || !best.conflicts()
                && (best.voice_on_topic()
                    || best.agrees_specifically(distinct_units(&post_units))
                        && !post_facts.me_too());
        if best.strong == 0.0 && score >= self.thresholds.candidate && !specific {
            if post_facts.me_too() && !best.conflicts() {
                evidence.push(LinkEvidence::OwnStory);
            } else if !best.conflicts() {
                evidence.push(LinkEvidence::NeedsSpecificFacts {
                    agreeing: best.specific_agreement(),
                });
            }
        }
        let state = if clear_margin
            && specific
            && (best.strong > 0.0 || score >= self.thresholds.confirm)
        {
            LinkState::Confirmed
        } else if score >= self.thresholds.candidate {
            LinkState::Candidate
        } else {
            return None;
        };
        if let Some(r) = runner_up.filter(|_| !clear_margin) {
            evidence.push(LinkEvidence::AnotherCaseFits {
                score: (r.score() * 100.0).round() / 100.0,
            });
        }
        if let Some((written, alias)) = item.brand_variant {
            evidence.push(LinkEvidence::BrandVariant {
                written: written.to_string(),
                alias: alias.to_string(),
            });
        }
        tracing::debug!(case = %self.cases[position].id, ?state, score, ?evidence, "link decided");
        Some(NewLink {
            case_id: self.cases[position].id.clone(),
            state,
            score: (score * 100.0).round() / 100.0,
            evidence,
        })
    }

    /// Strong evidence that holds only if the rest of the post bears it out: a
    /// complainant's handle for posts about the complaint, a four-digit tail when no fact
    /// conflicts.
    fn settle_conditions(
        &self,
        item: &ItemText<'_>,
        post_facts: &Facts,
        fits: &mut HashMap<usize, Fit>,
    ) {
        for (position, fit) in fits.iter_mut() {
            if fit.conditional.is_empty() {
                continue;
            }
            let case = &self.cases[*position];
            let comparison = match &fit.retelling {
                Some((_, comparison)) => comparison.clone(),
                None => {
                    let comparison = compare(
                        post_facts,
                        &self.facts[*position],
                        case.complainant.name.as_deref(),
                    );
                    fit.retelling = Some((0.0, comparison.clone()));
                    comparison
                }
            };
            let likeness = fit.retelling.as_ref().map_or(0.0, |(l, _)| *l);
            let after_incident = match (item.published_at, self.incident_from[*position]) {
                (Some(published), Some(from)) => {
                    published >= from - chrono::Duration::hours(BEFORE_INCIDENT_SLACK_HOURS)
                }
                _ => true,
            };
            let no_conflict = comparison.conflict.is_empty();
            // The complainant's own follow-up may name new sums and days; another product or
            // place is another matter, unless the post also names the case's very sum: then it
            // tells this matter apart from a new one ("那次赔了3200…这次E8是另一回事").
            let other_matter = comparison
                .conflict
                .iter()
                .any(|f| matches!(*f, "model" | "place"))
                && !comparison.agree.contains(&"amount");
            let about = after_incident
                && !other_matter
                && (likeness >= ON_TOPIC || !comparison.agree.is_empty() || fit.voice);
            for (score, evidence, condition) in std::mem::take(&mut fit.conditional) {
                let holds = match condition {
                    Condition::AboutTheComplaint => about,
                    Condition::NoConflict => no_conflict,
                    Condition::AboutTheComplaintThere => {
                        about
                            && !post_facts.me_too()
                            && !ANOTHER_PLACE.iter().any(|w| item.folded.contains(w))
                    }
                };
                if holds {
                    fit.add_strong(score, evidence);
                } else {
                    fit.note(match evidence {
                        LinkEvidence::AuthorIsHandle { handle } => {
                            LinkEvidence::HandleOffTopic { handle }
                        }
                        LinkEvidence::PhoneTail { tail }
                        | LinkEvidence::IdentifierTail { tail, .. } => {
                            LinkEvidence::TailWithConflict { tail }
                        }
                        other => other,
                    });
                }
            }
        }
    }

    /// Teaches the linker a confirmed link: the post joins the case's public story, its facts
    /// and its URL, so that retellings and reposts of it find the case.
    pub fn learn(&mut self, case_id: &str, item: &ItemText<'_>) {
        let Some(&position) = self.positions_by_id.get(case_id) else {
            return;
        };
        if let Some(&brand) = self.brand_ids.get(&self.cases[position].brand) {
            let units = self.units_of(item, Writing::of(item.folded));
            self.text.add_to_story(brand, position, &units);
        }
        let facts = Facts::of_text(item.folded, &self.gazetteer);
        self.facts[position].absorb(&facts);
        if let Some(url) = item.url {
            self.linked_urls.insert(url.to_string(), position);
        }
        if let Some(name) = voice_name(item) {
            let cases = self.voices.entry(name.clone()).or_default();
            if !cases.contains(&position) {
                cases.push(position);
            }
            let mut chars = name.chars();
            if name.chars().count() < MIN_VOICE_NAME_CHARS {
                return;
            }
            if let (Some(a), Some(b)) = (chars.next(), chars.next()) {
                let lengths = self.voice_heads.entry((a, b)).or_default();
                if !lengths.contains(&name.len()) {
                    lengths.push(name.len());
                }
            }
        }
    }

    /// The units an item is compared by; a retelling in English or Cantonese adds the
    /// Mandarin for its story words, since the case was written in Mandarin.
    fn units_of(&self, item: &ItemText<'_>, writing: Writing) -> Vec<Unit> {
        let mut found = units(item.folded, item.brand_spans);
        let mandarin = if writing.latin {
            self.glossary.mandarin_for_english(item.folded)
        } else {
            self.glossary.mandarin_for_cantonese(item.folded)
        };
        found.extend(units(&mandarin, &[]));
        found
    }

    /// Follow-ups by a known voice, and posts that name one: "转发 @name:" or a retelling
    /// that says whose post it saw.
    fn voice_evidence(&self, item: &ItemText<'_>, fits: &mut HashMap<usize, Fit>) {
        if self.voices.is_empty() {
            return;
        }
        let own = voice_name(item);
        if let Some(cases) = own.as_ref().and_then(|name| self.voices.get(name)) {
            let (bonus, evidence) = if opens_as_follow_up(item.folded) {
                (FOLLOW_UP_BONUS, LinkEvidence::VoiceFollowsUp)
            } else {
                (VOICE_BONUS, LinkEvidence::AuthorIsVoice)
            };
            for position in cases {
                fits.entry(*position)
                    .or_default()
                    .add_soft_bonus(bonus, evidence.clone());
            }
        }
        let text = item.folded;
        let mut named: Vec<(&str, bool)> = Vec::new();
        let mut chars = text.char_indices().peekable();
        while let Some((start, a)) = chars.next() {
            let Some(&(_, b)) = chars.peek() else { break };
            for &length in self.voice_heads.get(&(a, b)).into_iter().flatten() {
                let Some(name) = text.get(start..start + length) else {
                    continue;
                };
                let at_sign = text[..start].ends_with('@');
                if self.voices.contains_key(name)
                    && own.as_deref() != Some(name)
                    && !named.contains(&(name, at_sign))
                {
                    named.push((name, at_sign));
                }
            }
        }
        for (name, at_sign) in named {
            for position in self.voices.get(name).into_iter().flatten() {
                let fit = fits.entry(*position).or_default();
                if at_sign {
                    fit.add_strong(
                        MENTIONS_VOICE_SCORE,
                        LinkEvidence::MentionsVoice {
                            name: name.to_string(),
                        },
                    );
                } else {
                    fit.add_soft_bonus(
                        VOICE_BONUS,
                        LinkEvidence::NamesVoice {
                            name: name.to_string(),
                        },
                    );
                }
            }
        }
    }

    fn strong_evidence(&self, item: &ItemText<'_>, fits: &mut HashMap<usize, Fit>) {
        let (compact, origin) = compact_with_origin(item.folded);
        if let Some(automaton) = &self.identifiers {
            for m in automaton.find_overlapping_iter(&compact) {
                if stands_alone(item.folded, &origin, m.start(), m.end()) {
                    let pattern = &self.identifier_patterns[m.pattern().as_usize()];
                    fits.entry(pattern.case).or_default().add_strong(
                        IDENTIFIER_SCORE,
                        LinkEvidence::Identifier {
                            identifier: pattern.shown.clone(),
                        },
                    );
                }
            }
        }
        for visible in masked_prefixes(&compact) {
            let owners: Vec<&(String, usize, String)> = self
                .compact_identifiers
                .iter()
                .filter(|(value, _, _)| value.starts_with(visible) && visible.len() < value.len())
                .collect();
            // A prefix that several cases share says nothing about which one.
            if let [(_, position, shown)] = owners.as_slice() {
                fits.entry(*position).or_default().add_strong(
                    MASKED_IDENTIFIER_SCORE,
                    LinkEvidence::MaskedIdentifier {
                        visible: visible.to_string(),
                        identifier: shown.clone(),
                    },
                );
            }
        }
        for tail in phone_fragments(&compact) {
            for position in self.phone_tails.get(&tail).into_iter().flatten() {
                fits.entry(*position).or_default().conditional.push((
                    PHONE_SCORE,
                    LinkEvidence::PhoneTail { tail: tail.clone() },
                    Condition::NoConflict,
                ));
            }
        }
        for tail in identifier_tails(&compact) {
            for (value, position, shown) in &self.compact_identifiers {
                if value.len() > tail.len() && value.ends_with(&tail) {
                    fits.entry(*position).or_default().conditional.push((
                        PHONE_SCORE,
                        LinkEvidence::IdentifierTail {
                            tail: tail.clone(),
                            identifier: shown.clone(),
                        },
                        Condition::NoConflict,
                    ));
                }
            }
        }
        if let Some(automaton) = &self.place_names {
            for m in automaton.find_iter(item.folded) {
                let (position, name, identifier) = &self.place_name_owners[m.pattern().as_usize()];
                fits.entry(*position).or_default().conditional.push((
                    PLACE_NAME_SCORE,
                    LinkEvidence::PlaceName {
                        name: name.clone(),
                        identifier: identifier.clone(),
                    },
                    Condition::AboutTheComplaintThere,
                ));
            }
        }
        if let Some(author) = item.author.map(|a| fold(a.trim())) {
            for (position, handle) in self.author_handles.get(&author).into_iter().flatten() {
                fits.entry(*position).or_default().conditional.push((
                    AUTHOR_HANDLE_SCORE,
                    LinkEvidence::AuthorIsHandle {
                        handle: handle.clone(),
                    },
                    Condition::AboutTheComplaint,
                ));
            }
        }
        if let Some(automaton) = &self.handles {
            for m in automaton.find_overlapping_iter(item.folded) {
                let (position, handle) = &self.handle_owners[m.pattern().as_usize()];
                fits.entry(*position).or_default().add_strong(
                    MENTIONED_HANDLE_SCORE,
                    LinkEvidence::MentionsHandle {
                        handle: handle.clone(),
                    },
                );
            }
        }
        for url in item.linked_urls {
            if let Some(position) = self.linked_urls.get(url) {
                fits.entry(*position).or_default().add_strong(
                    QUOTES_LINKED_POST_SCORE,
                    LinkEvidence::LinksLinkedPost { url: url.clone() },
                );
            }
        }
    }

    fn soft_evidence(
        &self,
        brand: &str,
        post_units: &[Unit],
        writing: Writing,
        post_facts: &Facts,
        fits: &mut HashMap<usize, Fit>,
    ) {
        let Some(&brand) = self.brand_ids.get(brand) else {
            return;
        };
        let mut candidates: Vec<(usize, (f64, f64), f64)> = self
            .text
            .candidates(brand, post_units)
            .into_iter()
            .map(|(position, similarity)| {
                // The agent's text and the public story are two witnesses: each alone can
                // carry a retelling, and both together are more than either.
                let case_text = (f64::from(similarity.case_text) * SIMILARITY_SCALE).min(1.0);
                let story =
                    (STORY_WEIGHT * f64::from(similarity.story) * SIMILARITY_SCALE).min(1.0);
                let base = 1.0 - (1.0 - case_text) * (1.0 - story);
                (position, (case_text, story), base)
            })
            .collect();
        // Facts move a score by a few tenths at most, so a case far down the text ranking
        // cannot reach the top: only the leaders are worth comparing fact by fact.
        let by_likeness = |a: &(usize, (f64, f64), f64), b: &(usize, (f64, f64), f64)| {
            b.2.total_cmp(&a.2).then(a.0.cmp(&b.0))
        };
        // A retelling in another language shares only numbers and names with its case, so
        // its text ranking says little: every case sharing one is compared.
        if !writing.few_han && candidates.len() > FACT_CHECKED_CANDIDATES {
            // Only the leaders are ordered: a common word brings hundreds of cases.
            candidates.select_nth_unstable_by(FACT_CHECKED_CANDIDATES - 1, by_likeness);
            candidates.truncate(FACT_CHECKED_CANDIDATES);
        }
        candidates.sort_by(by_likeness);
        let agree_weight = if writing.few_han {
            FACT_AGREES_ACROSS_LANGUAGES
        } else {
            FACT_AGREES
        };
        for (position, (case_text, story), base) in candidates {
            let case = &self.cases[position];
            let mut comparison = compare(
                post_facts,
                &self.facts[position],
                case.complainant.name.as_deref(),
            );
            if writing.latin && base >= STORY_RETOLD_ACROSS_LANGUAGES {
                comparison.agree.push("story");
            }
            let fit = fits.entry(position).or_default();
            let mut adjusted = base;
            fit.evidence.push(LinkEvidence::Retells {
                score: round2(base),
                case_text: round2(case_text),
                story: round2(story),
            });
            for fact in &comparison.agree {
                adjusted += agree_weight;
                fit.evidence.push(LinkEvidence::FactAgrees {
                    fact: fact.to_string(),
                });
            }
            for fact in &comparison.conflict {
                adjusted -= conflict_weight(fact);
                fit.evidence.push(LinkEvidence::FactConflicts {
                    fact: fact.to_string(),
                });
            }
            fit.soft = adjusted.max(0.0);
            fit.case_text = case_text;
            fit.retelling = Some((base, comparison));
        }
    }
}

/// How a post is written, as far as comparing it with a case written in Chinese goes.
#[derive(Debug, Clone, Copy)]
struct Writing {
    /// Few Chinese characters: little text to compare, so the facts weigh more.
    few_han: bool,
    /// Many Latin words as well: an English (or other Latin-script) retelling, whose story
    /// words are translated.
    latin: bool,
}

impl Writing {
    fn of(folded: &str) -> Writing {
        let han = folded
            .chars()
            .filter(|c| crate::normalize::is_han(*c))
            .take(FEW_HAN_CHARS)
            .count();
        let few_han = han < FEW_HAN_CHARS;
        let latin = few_han
            && folded
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| w.len() >= 2)
                .take(MIN_LATIN_WORDS)
                .count()
                >= MIN_LATIN_WORDS;
        Writing { few_han, latin }
    }
}

fn distinct_units(units: &[Unit]) -> usize {
    let mut seen: Vec<Unit> = units.to_vec();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// When a case's story may have begun: the earliest day its text names (in the year of its
/// opening, and not after it), else its opening.
fn incident_start(case: &Case, facts: &Facts) -> Option<DateTime<FixedOffset>> {
    let opened = case.opened_at?;
    let named = facts.earliest_day().and_then(|(month, day)| {
        opened
            .timezone()
            .with_ymd_and_hms(opened.year(), u32::from(month), u32::from(day), 0, 0, 0)
            .single()
    });
    Some(named.filter(|n| *n <= opened).unwrap_or(opened))
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

/// What a place is called before its kind ("小区", "花园") and its buildings ("7栋"):
/// "玉林青秀湾小区" → "青秀湾", "枫溪里7栋2单元" → "枫溪里". Posts name an estate so, and
/// write the city apart or not at all. None for values that are not a place in Chinese
/// characters, and for streets and shops, which many complaints share.
fn place_name(value: &str, gazetteer: &Gazetteer) -> Option<String> {
    let folded = fold(value);
    let mut name: &str = folded
        .split(|c: char| c.is_ascii_digit())
        .next()
        .unwrap_or_default()
        .trim();
    while let Some(place) = gazetteer.places_in(name).first().filter(|p| p.start == 0) {
        name = &name[place.end..];
    }
    for kind in PLACE_KINDS {
        if let Some(head) = name.strip_suffix(kind) {
            name = head;
            break;
        }
    }
    // A value that is all name (a person's, a whole identifier) is matched as it is.
    let inside = name != folded.trim();
    let chars = name.chars().count();
    let ideographs = name.chars().all(|c| matches!(c, '\u{4e00}'..='\u{9fff}'));
    let shared = SHARED_KINDS.iter().any(|kind| name.ends_with(kind));
    (inside
        && ideographs
        && (MIN_PLACE_NAME_CHARS..=MAX_PLACE_NAME_CHARS).contains(&chars)
        && !shared)
        .then(|| name.to_string())
}

const PLACE_KINDS: &[&str] = &["小区", "社区", "花园", "家园", "公寓", "大厦", "新村"];
/// Streets, towns and shops: many complaints share them.
const SHARED_KINDS: &[&str] = &[
    "路", "街", "道", "巷", "村", "镇", "乡", "区", "县", "市", "店",
];
/// Shorter names are words ("花园", "东门"); longer ones are not how posts write them.
const MIN_PLACE_NAME_CHARS: usize = 3;
const MAX_PLACE_NAME_CHARS: usize = 8;

/// Words that open an update on a story told before ("更新一下：…", "【后续】…", "Update:").
const FOLLOW_UP_OPENINGS: &[&str] = &[
    "更新",
    "后续",
    "追更",
    "续:",
    "最新进展",
    "进展:",
    "补充一下",
    "update",
];
/// Whether the post opens (after its marks: "【", "#") by saying it updates an earlier one.
fn opens_as_follow_up(folded: &str) -> bool {
    let opening = folded.trim_start_matches(|c: char| !c.is_alphanumeric());
    FOLLOW_UP_OPENINGS
        .iter()
        .any(|marker| opening.starts_with(marker))
}

/// The item's author as a voice worth remembering: a named person, not the brand's own
/// account, an anonymous placeholder or a platform's masked name ("刘**").
fn voice_name(item: &ItemText<'_>) -> Option<String> {
    if item.author_is_brand {
        return None;
    }
    let name = fold(item.author?.trim());
    let usable = name.chars().count() >= 2
        && !name.contains('*')
        && !ANONYMOUS_AUTHORS.contains(&name.as_str());
    usable.then_some(name)
}

/// "weibo:小王爱吃梨" → "小王爱吃梨".
fn handle_name(handle: &str) -> &str {
    handle.split_once(':').map_or(handle, |(_, name)| name)
}

/// Folded text without identifier separators, upper-cased (as `compact_identifier`), with
/// each compact character's byte range in the folded text, by compact byte offset.
fn compact_with_origin(folded: &str) -> (String, Vec<(usize, usize, usize)>) {
    let mut compact = String::with_capacity(folded.len());
    let mut origin = Vec::with_capacity(folded.len());
    for (at, c) in folded.char_indices() {
        if is_identifier_separator(c) {
            continue;
        }
        origin.push((compact.len(), at, at + c.len_utf8()));
        compact.push(c.to_ascii_uppercase());
    }
    (compact, origin)
}

/// An identifier inside a longer run of letters or digits is a different identifier; one
/// that separators set apart from the next word ("QQ-2026-7777 VIN …") stands alone, which
/// only the folded text still shows.
fn stands_alone(folded: &str, origin: &[(usize, usize, usize)], start: usize, end: usize) -> bool {
    let first = origin.partition_point(|(c, _, _)| *c < start);
    let Some(last) = origin.partition_point(|(c, _, _)| *c < end).checked_sub(1) else {
        return false;
    };
    if first >= origin.len() || last < first {
        return false;
    }
    let before = folded[..origin[first].1].chars().next_back();
    let after = folded[origin[last].2..].chars().next();
    !before.is_some_and(|c| c.is_ascii_alphanumeric())
        && !after.is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Words before the last digits of a number: "尾号", "后六位", "末四位".
const TAIL_MARKERS: &[&str] = &[
    "尾号",
    "尾数",
    "后四位",
    "后六位",
    "后八位",
    "末四位",
    "末六位",
    "末尾",
];

/// Identifier tails named as such ("车架号后六位932218", "订单尾号2045"): four to eight
/// digits right after a tail marker.
fn identifier_tails(compact: &str) -> Vec<String> {
    let mut tails = Vec::new();
    for marker in TAIL_MARKERS {
        for (at, _) in compact.match_indices(marker) {
            let digits: String = compact[at + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if (PHONE_TAIL..=8).contains(&digits.len()) && !tails.contains(&digits) {
                tails.push(digits);
            }
        }
    }
    tails
}

/// The visible heads of masked identifiers in compact text: "LBC3S5A18RN0*****" → "LBC3S5A18RN0".
fn masked_prefixes(compact: &str) -> impl Iterator<Item = &str> {
    compact.match_indices('*').filter_map(move |(star, _)| {
        let head = &compact[..star];
        if head.ends_with('*') {
            return None;
        }
        let start = head
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric())
            .last()
            .map(|(i, _)| i)?;
        let visible = &head[start..];
        (visible.len() >= MIN_MASKED_PREFIX).then_some(visible)
    })
}

/// The last four digits of a phone number, masked or not ("138****2291", "13812342291").
fn phone_tail(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits.len() >= PHONE_TAIL + 3).then(|| digits[digits.len() - PHONE_TAIL..].to_string())
}

/// The tail of an identifier that is itself masked in the case ("6217****5531" → "5531").
fn masked_tail(compact: &str) -> Option<String> {
    let (_, tail) = compact.rsplit_once('*')?;
    (tail.len() >= PHONE_TAIL && tail.chars().all(|c| c.is_ascii_digit())).then(|| tail.to_string())
}

/// Phone-like fragments in compact text: a full mobile number, a masked one, or "尾号NNNN".
fn phone_fragments(compact: &str) -> Vec<String> {
    let mut tails = Vec::new();
    let chars: Vec<char> = compact.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_ascii_digit() || chars[i] == '*') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '*') {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        let glued = start > 0 && chars[start - 1].is_ascii_alphabetic();
        let after_tail_word = start >= 2 && chars[start - 2] == '尾' && chars[start - 1] == '号';
        let looks_like_phone =
            run.len() == 11 && run.starts_with('1') && run.contains(|c: char| c.is_ascii_digit());
        let masked = run.contains('*') && run.len() >= 8;
        if !glued && (looks_like_phone || masked || after_tail_word && run.len() == PHONE_TAIL) {
            let digits_tail: String = run
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if digits_tail.len() >= PHONE_TAIL {
                tails.push(
                    digits_tail
                        .chars()
                        .rev()
                        .skip(digits_tail.len() - PHONE_TAIL)
                        .collect(),
                );
            }
        }
    }
    tails
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrandConfig;
    use crate::model::{CaseStatus, Complainant};

    fn case(id: &str, summary: &str, identifiers: &[&str], handles: &[&str]) -> Case {
        Case {
            id: id.into(),
            brand: "星驰汽车".into(),
            status: CaseStatus::Open,
            opened_at: None,
            channel: None,
            severity: None,
            complainant: Complainant {
                name: Some("王女士".into()),
                phone: Some("138****2291".into()),
                email: None,
                handles: handles.iter().map(|h| h.to_string()).collect(),
            },
            summary: summary.into(),
            demand: String::new(),
            identifiers: identifiers.iter().map(|i| i.to_string()).collect(),
            notes: String::new(),
        }
    }

    fn detector() -> BrandDetector {
        BrandDetector::new(&[
            BrandConfig {
                name: "星驰汽车".into(),
                aliases: vec!["星驰".into()],
                exclude: vec![],
            },
            BrandConfig {
                name: "京选商城".into(),
                aliases: vec!["京选".into()],
                exclude: vec![],
            },
        ])
        .unwrap()
    }

    fn linker(cases: Vec<Case>) -> Linker {
        Linker::new(cases, &detector(), LinkingConfig::default()).unwrap()
    }

    fn cases() -> Vec<Case> {
        vec![
            case(
                "C-1",
                "3月1日在西安城东店提车的星驰C200, 开出店不到10公里发动机漏油, 门店说是正常现象",
                &["order:XC-2026-00871", "VIN:LSVAB4187E2093311"],
                &["weibo:小王爱吃梨"],
            ),
            case(
                "C-2",
                "客户在成都武侯店买的星驰S7, 车机导航经常死机, 升级两次仍然卡顿, 要求换车机",
                &["order:XC-2026-00872", "VIN:LSVAB4187E2099999"],
                &[],
            ),
        ]
    }

    fn link_as(
        linker: &mut Linker,
        brand: &str,
        text: &str,
        author: Option<&str>,
    ) -> Option<NewLink> {
        let folded = fold(text);
        let spans = detector()
            .detect(&folded)
            .into_iter()
            .find(|m| m.brand == brand)
            .map(|m| m.spans)
            .unwrap_or_default();
        let item = ItemText {
            folded: &folded,
            brand_spans: &spans,
            author,
            published_at: None,
            brand_variant: None,
            author_is_brand: false,
            url: None,
            linked_urls: &[],
        };
        linker.link(brand, &item)
    }

    /// Teaches `linker` that a post by `author` is confirmed for `case_id`.
    fn learn_post(linker: &mut Linker, case_id: &str, text: &str, author: &str, is_brand: bool) {
        let folded = fold(text);
        linker.learn(
            case_id,
            &ItemText {
                folded: &folded,
                brand_spans: &[],
                author: Some(author),
                published_at: None,
                brand_variant: None,
                author_is_brand: is_brand,
                url: None,
                linked_urls: &[],
            },
        );
    }

    /// "西安车主老陈"'s post is confirmed for C-1: they become a voice of that case.
    fn learn_voice_of_c1(linker: &mut Linker) {
        learn_post(
            linker,
            "C-1",
            "星驰 XC-2026-00871 漏油",
            "西安车主老陈",
            false,
        );
    }

    fn link(linker: &mut Linker, text: &str, author: Option<&str>) -> Option<(String, LinkState)> {
        link_as(linker, "星驰汽车", text, author).map(|l| (l.case_id, l.state))
    }

    fn confirmed(id: &str) -> Option<(String, LinkState)> {
        Some((id.to_string(), LinkState::Confirmed))
    }

    #[test]
    fn identifier_matches_with_full_width_spaces_and_dashes() {
        let mut l = linker(cases());
        assert_eq!(
            link(&mut l, "订单号 XC-2026-00871 漏油", None),
            confirmed("C-1")
        );
        assert_eq!(
            link(&mut l, "订单ＸＣ２０２６００８７１", None),
            confirmed("C-1")
        );
        assert_eq!(link(&mut l, "单号 xc 2026 00872!", None), confirmed("C-2"));
    }

    #[test]
    fn identifier_inside_a_longer_number_does_not_match() {
        let mut l = linker(cases());
        let found = link(&mut l, "星驰 XC-2026-008713", None);
        assert!(
            !matches!(found, Some((_, LinkState::Confirmed))),
            "{found:?}"
        );
    }

    #[test]
    fn identifier_of_another_brand_does_not_link() {
        let mut l = linker(cases());
        assert!(link_as(&mut l, "京选商城", "京选订单 XC-2026-00871", None).is_none());
    }

    #[test]
    fn masked_identifier_links_only_when_its_visible_part_is_unique() {
        let mut l = linker(cases());
        assert_eq!(
            link(&mut l, "车架号LSVAB4187E2093*** 求助", None),
            confirmed("C-1")
        );
        // "LSVAB4187E209" begins both cases' VINs.
        assert_eq!(link(&mut l, "车架号LSVAB4187E209**** 求助", None), None);
    }

    #[test]
    fn phone_fragment_consistent_with_the_masked_phone_links() {
        let mut l = linker(vec![cases().remove(0)]);
        assert_eq!(
            link(&mut l, "星驰的客服打给我尾号2291的手机", None),
            confirmed("C-1")
        );
        assert_eq!(
            link(&mut l, "星驰客服电话13800002291", None),
            confirmed("C-1")
        );
    }

    #[test]
    fn complainant_handle_as_author_or_mention_links() {
        let mut l = linker(cases());
        assert_eq!(
            link(&mut l, "星驰提车就漏油", Some("小王爱吃梨")),
            confirmed("C-1")
        );
        assert_eq!(
            link(&mut l, "转发 @小王爱吃梨 的遭遇", Some("路人")),
            confirmed("C-1")
        );
    }

    #[test]
    fn a_retelling_in_traditional_script_links_to_the_simplified_case() {
        let mut l = linker(cases());
        let post = "西安城東店提的星馳C200, 開出去不到10公里發動機就漏油, 門店居然說是正常現象";
        let found = link_as(&mut l, "星驰汽车", post, Some("路過的車主")).unwrap();
        assert_eq!(
            (found.case_id.as_str(), found.state),
            ("C-1", LinkState::Confirmed),
            "{found:?}"
        );
        assert!(
            found
                .evidence
                .iter()
                .any(|e| matches!(e, LinkEvidence::Retells { .. })),
            "{found:?}"
        );
    }

    #[test]
    fn a_decoy_about_the_same_problem_elsewhere_does_not_link() {
        let mut l = linker(cases());
        let decoy = "哈尔滨4S店提的星驰C200, 开了5公里发动机漏油, 店里说是正常现象";
        assert_ne!(link(&mut l, decoy, Some("冰城车主")), confirmed("C-1"));
    }

    #[test]
    fn a_post_fitting_two_cases_equally_is_only_a_candidate() {
        let twin = |id: &str| {
            case(
                id,
                "客户的星驰S7车机导航经常死机, 升级两次仍然卡顿, 要求换车机",
                &[],
                &[],
            )
        };
        let mut l = linker(vec![twin("C-7"), twin("C-8")]);
        let found = link_as(
            &mut l,
            "星驰汽车",
            "星驰S7车机导航经常死机, 升级两次仍然卡顿",
            None,
        )
        .unwrap();
        assert_eq!(found.state, LinkState::Candidate, "{found:?}");
        assert!(
            found
                .evidence
                .iter()
                .any(|e| matches!(e, LinkEvidence::AnotherCaseFits { .. })),
            "{found:?}"
        );
    }

    #[test]
    fn posts_linking_to_a_linked_post_inherit_its_case() {
        let mut l = linker(cases());
        let original = fold("订单 XC-2026-00871 提车就漏油");
        l.learn(
            "C-1",
            &ItemText {
                folded: &original,
                brand_spans: &[],
                author: None,
                published_at: None,
                brand_variant: None,
                author_is_brand: false,
                url: Some("https://weibo.example/1"),
                linked_urls: &[],
            },
        );
        let repost = fold("转发微博");
        let urls = vec!["https://weibo.example/1".to_string()];
        let found = l
            .link(
                "星驰汽车",
                &ItemText {
                    folded: &repost,
                    brand_spans: &[],
                    author: None,
                    published_at: None,
                    brand_variant: None,
                    author_is_brand: false,
                    url: None,
                    linked_urls: &urls,
                },
            )
            .unwrap();
        assert_eq!(
            (found.case_id.as_str(), found.state),
            ("C-1", LinkState::Confirmed)
        );
    }

    #[test]
    fn the_public_story_raises_a_short_posts_score_but_never_confirms_it_alone() {
        let post = "那台漏油的C200, 拖了两个礼拜还不给说法";
        let mut l = linker(cases());
        let before = link_as(&mut l, "星驰汽车", post, Some("路人甲乙丙")).unwrap();
        learn_post(
            &mut l,
            "C-1",
            "XC-2026-00871 4S店拖了两个礼拜, 还不给说法",
            "小王爱吃梨",
            false,
        );
        let after = link_as(&mut l, "星驰汽车", post, Some("路人甲乙丙")).unwrap();
        assert_eq!(before.state, LinkState::Candidate, "{before:?}");
        assert_eq!(
            (after.case_id.as_str(), after.state),
            ("C-1", LinkState::Candidate),
            "{after:?}"
        );
        assert!(after.score > before.score, "{before:?} {after:?}");
        // The score shown is the score used, and the evidence says why it is not enough.
        assert!(
            after
                .evidence
                .iter()
                .any(|e| matches!(e, LinkEvidence::NeedsSpecificFacts { agreeing: 1 })),
            "{after:?}"
        );
    }

    #[test]
    fn a_follow_up_by_the_author_of_a_linked_post_finds_its_case() {
        let follow_up = "后续: 星驰的门店今天来电话了, 说会再核实";
        let mut l = linker(cases());
        assert_ne!(
            link(&mut l, follow_up, Some("西安车主老陈")),
            confirmed("C-1")
        );
        learn_voice_of_c1(&mut l);
        assert_eq!(
            link(&mut l, follow_up, Some("西安车主老陈")),
            confirmed("C-1")
        );
        // The same words by someone else are not a follow-up.
        assert_ne!(
            link(&mut l, follow_up, Some("路人甲乙丙")),
            confirmed("C-1")
        );
    }

    #[test]
    fn a_voice_saying_it_updates_their_story_needs_no_retelling() {
        // Each post is read by a linker that has seen no other: what it has read changes
        // how rare a word is.
        let link_by = |text: &str, author: &str| {
            let mut l = linker(cases());
            learn_voice_of_c1(&mut l);
            link_as(&mut l, "星驰汽车", text, Some(author))
        };
        let news = "星驰那边昨天和今天都给我打电话道歉了，钱退了，谢谢大家的关心。规则应该对每一个普通人都管用";
        let plain = link_by(news, "西安车主老陈").unwrap();
        assert_eq!(plain.state, LinkState::Candidate, "{plain:?}");
        let update = format!("更新一下：{news}");
        let found = link_by(&update, "西安车主老陈").unwrap();
        assert_eq!(
            (found.case_id.as_str(), found.state),
            ("C-1", LinkState::Confirmed)
        );
        assert!(found.evidence.contains(&LinkEvidence::VoiceFollowsUp));
        // An update by someone else is theirs.
        let stranger = link_by(&update, "路人甲乙丙");
        assert!(
            stranger
                .as_ref()
                .is_none_or(|l| l.state != LinkState::Confirmed),
            "{stranger:?}"
        );
    }

    #[test]
    fn opening_words_mark_an_update() {
        for update in [
            "更新一下：钱退了",
            "【后续】门店道歉了",
            "Update: refunded",
            "#追更# 退了",
        ] {
            assert!(opens_as_follow_up(&fold(update)), "{update}");
        }
        for other in ["门店说会更新系统", "星驰什么时候更新车机"] {
            assert!(!opens_as_follow_up(&fold(other)), "{other}");
        }
    }

    #[test]
    fn a_repost_or_retelling_naming_a_linked_author_finds_its_case() {
        let mut l = linker(cases());
        learn_voice_of_c1(&mut l);
        let repost = link_as(&mut l, "星驰汽车", "转发 @西安车主老陈: 星驰太过分了", None).unwrap();
        assert_eq!(
            (repost.case_id.as_str(), repost.state),
            ("C-1", LinkState::Confirmed)
        );
        assert!(
            repost.evidence.iter().any(
                |e| matches!(e, LinkEvidence::MentionsVoice { name } if name == "西安车主老陈")
            ),
            "{repost:?}"
        );
        // Named without "@", in Traditional script: a retelling of that person's story.
        let retelling = "睇到西安車主老陳條微博, 星馳發動機漏油門店話正常";
        assert_eq!(link(&mut l, retelling, Some("港漂阿May")), confirmed("C-1"));
    }

    #[test]
    fn brand_accounts_and_anonymous_authors_are_not_voices_of_a_case() {
        let mut l = linker(cases());
        learn_post(
            &mut l,
            "C-1",
            "星驰 XC-2026-00871 漏油, 已联系",
            "星驰汽车客服",
            true,
        );
        learn_post(&mut l, "C-1", "星驰 XC-2026-00871 漏油", "匿名用户", false);
        let to_c1 = |found: Option<(String, LinkState)>| found.is_some_and(|(id, _)| id == "C-1");
        assert!(!to_c1(link(&mut l, "转发 @星驰汽车客服: 感谢关注", None)));
        assert!(!to_c1(link(&mut l, "星驰的车真不错", Some("匿名用户"))));
    }

    #[test]
    fn an_identifier_followed_by_a_latin_word_still_stands_alone() {
        let mut l = linker(cases());
        assert_eq!(
            link(&mut l, "订单号 XC-2026-00871 VIN LSVAB12345 求助", None),
            confirmed("C-1")
        );
        assert_eq!(
            link(&mut l, "订单号：XC-2026-00872 Model S7 求助", None),
            confirmed("C-2")
        );
        // Split by a line break, and only its last digits named as such.
        assert_eq!(
            link(&mut l, "星驰订单XC202600\n871", None),
            confirmed("C-1")
        );
        assert_eq!(
            link(&mut l, "星驰车机死机, 成都武侯店买的, 订单尾号00872", None),
            confirmed("C-2")
        );
    }

    #[test]
    fn text_alone_does_not_confirm_a_short_or_generic_post() {
        let mut l = linker(cases());
        learn_post(
            &mut l,
            "C-1",
            "提车作业变维权: 星驰C200 白色, 订单 XC-2026-00871, 开出店就漏油",
            "小王爱吃梨",
            false,
        );
        for post in [
            "提车作业: 星驰C200 白色",
            "星驰S7车机死机怎么办",
            "星驰门店太差了, 什么都说是正常现象",
        ] {
            let found = link_as(&mut l, "星驰汽车", post, Some("路人甲乙丙"));
            assert!(
                found
                    .as_ref()
                    .is_none_or(|f| f.state == LinkState::Candidate),
                "{post}: {found:?}"
            );
        }
    }

    #[test]
    fn one_close_retelling_confirms_on_a_particular_fact_but_not_on_a_quote_or_place() {
        let fit = |agree: Vec<&'static str>| Fit {
            retelling: Some((
                0.56,
                Comparison {
                    agree,
                    conflict: Vec::new(),
                },
            )),
            case_text: 0.56,
            ..Fit::default()
        };
        let long = LONG_POST_UNITS + 2;
        assert!(fit(vec!["amount"]).agrees_specifically(long));
        assert!(!fit(vec!["amount"]).agrees_specifically(LONG_POST_UNITS - 1));
        // The company's stock answer is quoted alike by everyone who got it.
        assert!(!fit(vec!["quote"]).agrees_specifically(long));
        assert!(!fit(vec!["place"]).agrees_specifically(long));
        assert!(fit(vec!["quote", "date"]).agrees_specifically(LONG_POST_UNITS - 1));
    }

    #[test]
    fn the_complainants_handle_counts_only_for_posts_about_the_complaint() {
        let mut with_date = cases().remove(0);
        with_date.opened_at =
            Some(chrono::DateTime::parse_from_rfc3339("2026-03-02T09:14:00+08:00").unwrap());
        let mut l = linker(vec![with_date]);
        let link_by_owner = |l: &mut Linker, text: &str, published: &str| {
            let folded = fold(text);
            l.link(
                "星驰汽车",
                &ItemText {
                    folded: &folded,
                    brand_spans: &[],
                    author: Some("小王爱吃梨"),
                    published_at: Some(chrono::DateTime::parse_from_rfc3339(published).unwrap()),
                    brand_variant: None,
                    author_is_brand: false,
                    url: None,
                    linked_urls: &[],
                },
            )
        };
        // Before the incident, a happy post about the brand.
        let before = link_by_owner(
            &mut l,
            "星驰的车真好看, 准备去西安城东店看看",
            "2026-02-20T10:00:00+08:00",
        );
        assert!(
            before
                .as_ref()
                .is_none_or(|f| f.state != LinkState::Confirmed),
            "{before:?}"
        );
        // After it, about something else and with another model.
        let other = link_by_owner(
            &mut l,
            "朋友的星驰S7开起来不错, 周末去郊游",
            "2026-03-05T10:00:00+08:00",
        );
        assert!(
            other
                .as_ref()
                .is_none_or(|f| f.state != LinkState::Confirmed),
            "{other:?}"
        );
        // After it, about the complaint.
        let about = link_by_owner(
            &mut l,
            "星驰C200提车就漏油, 门店还说是正常现象",
            "2026-03-03T10:00:00+08:00",
        )
        .unwrap();
        assert_eq!(about.state, LinkState::Confirmed, "{about:?}");
        assert!(about
            .evidence
            .iter()
            .any(|e| matches!(e, LinkEvidence::AuthorIsHandle { .. })));
    }

    #[test]
    fn the_complainant_naming_the_cases_sum_beside_another_model_still_speaks_of_the_case() {
        let mut l = linker(vec![case(
            "C-9",
            "客户家楼道里给星驰C200充电, 原装充电器冒烟起火, 厂家赔偿损失共计3200元",
            &[],
            &["weibo:小王爱吃梨"],
        )]);
        let by_owner =
            |l: &mut Linker, text: &str| link_as(l, "星驰汽车", text, Some("小王爱吃梨"));
        let with_sum = by_owner(
            &mut l,
            "澄清一下: 那次充电器起火是真的, 星驰赔了3200。这次S7断电是另一回事",
        )
        .unwrap();
        assert_eq!(with_sum.state, LinkState::Confirmed, "{with_sum:?}");
        assert!(with_sum
            .evidence
            .iter()
            .any(|e| matches!(e, LinkEvidence::AuthorIsHandle { .. })));
        // Without the sum, another model is another matter.
        let without = by_owner(&mut l, "星驰S7开着开着断电了, 吓死");
        assert!(
            without
                .as_ref()
                .is_none_or(|f| f.state != LinkState::Confirmed),
            "{without:?}"
        );
    }

    #[test]
    fn the_name_inside_a_place_identifier_is_what_posts_write() {
        let places = Gazetteer::new();
        let name = |value: &str| place_name(value, &places);
        assert_eq!(name("西安青秀湾小区").as_deref(), Some("青秀湾"));
        assert_eq!(name("枫溪里7栋2单元").as_deref(), Some("枫溪里"));
        for whole_or_shared in [
            "XC-2026-00871",
            "施丽华",
            "人民路88号",
            "西安城东店",
            "花园",
        ] {
            assert_eq!(name(whole_or_shared), None, "{whole_or_shared}");
        }
    }

    #[test]
    fn an_estate_named_as_posts_name_it_links_posts_about_the_complaint() {
        let mut l = linker(vec![case(
            "C-7",
            "业主反映星驰汽车交付的新车停在小区地库, 物业说不交新停车费就不给录车牌, 车开不进地库",
            &["community:西安青秀湾小区"],
            &[],
        )]);
        let about = link_as(
            &mut l,
            "星驰汽车",
            "星驰车主们, 咱们青秀湾的物业说不交新停车费就不给录车牌, 大家怎么办",
            None,
        )
        .unwrap();
        assert_eq!(about.state, LinkState::Confirmed, "{about:?}");
        assert!(about.evidence.iter().any(|e| matches!(
            e,
            LinkEvidence::PlaceName { name, .. } if name == "青秀湾"
        )));
        for elsewhere in [
            "青秀湾门口新开了一家星驰展厅, 周末去看看",
            "不是只有青秀湾啊, 我们这边也是星驰车主, 物业说不交新停车费就不给录车牌",
            "另一个小区的物业也说不交停车费就不给星驰车录车牌, 青秀湾那边呢",
        ] {
            let link = link_as(&mut l, "星驰汽车", elsewhere, None);
            assert!(
                link.as_ref()
                    .is_none_or(|f| f.state != LinkState::Confirmed),
                "{elsewhere}: {link:?}"
            );
        }
    }

    #[test]
    fn a_phone_tail_that_coincides_while_facts_conflict_is_not_enough() {
        let mut l = linker(vec![cases().remove(0)]);
        let found = link(
            &mut l,
            "哈尔滨提的星驰S7, 客服打给我尾号2291的手机, 说退1500元",
            None,
        );
        assert_ne!(found, confirmed("C-1"));
    }

    #[test]
    fn in_a_cluster_the_facts_that_tell_cases_apart_decide() {
        let twin = |id: &str, place: &str, amount: &str| {
            case(
                id,
                &format!("客户在{place}门店买的星驰S7, 车机导航经常死机, 升级两次仍然卡顿, 维修收费{amount}元, 要求换车机"),
                &[],
                &[],
            )
        };
        let mut l = linker(vec![
            twin("C-7", "成都", "1380"),
            twin("C-8", "杭州", "2600"),
        ]);
        let post = "杭州买的星驰S7车机导航天天死机, 升级两次还卡, 修一次要2600元";
        assert_eq!(link(&mut l, post, Some("钱塘车主")), confirmed("C-8"));
        // Someone else's story of the same trouble: a candidate at most.
        let me_too = "我也是, 杭州的星驰S7车机死机, 修了一次3100元";
        assert_ne!(link(&mut l, me_too, Some("路人甲乙丙")), confirmed("C-8"));
    }

    #[test]
    fn an_english_retelling_links_through_what_survives_translation() {
        let mut l = linker(vec![case(
            "C-9",
            "客户7月7日在平顶山为儿子买了星驰S7, 实付7680元, 退款只退2140元, 服务费20%",
            &[],
            &[],
        )]);
        let news = "Xingchi scraps a 20% fee after a buyer in Pingdingshan was offered 2,140 yuan back on a 7,680-yuan S7";
        let found = link_as(&mut l, "星驰汽车", news, Some("Asia Auto Wire")).unwrap();
        assert_eq!(
            (found.case_id.as_str(), found.state),
            ("C-9", LinkState::Confirmed),
            "{found:?}"
        );
    }

    #[test]
    fn an_english_retelling_is_told_apart_by_its_story_words() {
        // Same model, same province, and the other case's note names this one's city: the
        // numbers and names alone cannot choose. What happened can.
        let mut l = linker(vec![
            case(
                "C-10",
                "客户在洛阳买的星驰S7, 高速上突然断电, 摔倒擦伤, 门店说电池进水不在质保范围",
                &[],
                &[],
            ),
            case(
                "C-11",
                "客户在郑州买的星驰S7, 车机黑屏死机, 要求换车机; 客户听说了洛阳那个事",
                &[],
                &[],
            ),
        ]);
        let news = "Xingchi to check S7 software after a driver in Luoyang was hurt in a fall \
                    when her car cut out; the dealer had said water damage voided the warranty";
        let found = link_as(&mut l, "星驰汽车", news, Some("Asia Auto Wire")).unwrap();
        assert_eq!(
            (found.case_id.as_str(), found.state),
            ("C-10", LinkState::Confirmed),
            "{found:?}"
        );
    }

    #[test]
    fn a_cantonese_retelling_links_through_its_story_words() {
        let mut l = linker(vec![
            case(
                "C-12",
                "客户发工资当天, 工资到账三分钟就被星驰车贷划扣, 只剩几十块, 回不了老家",
                &[],
                &[],
            ),
            case(
                "C-13",
                "客户说星驰车贷合约有写的提前还款违约金太高, 没有人性, 连车票钱都不剩",
                &[],
                &[],
            ),
        ]);
        // No fact to compare: only the story, told in Cantonese words, tells the cases apart.
        let post = "星馳車貸真係冇人性，人哋啱啱出糧三分鐘就劃走晒，得返幾十蚊，\
                    連返鄉下嘅車飛都買唔到，佢哋話合約有寫";
        let found = link_as(&mut l, "星驰汽车", post, Some("打工仔阿明")).unwrap();
        assert_eq!(
            (found.case_id.as_str(), found.state),
            ("C-12", LinkState::Confirmed),
            "{found:?}"
        );
    }

    #[test]
    fn closed_cases_are_still_linked() {
        let mut closed = cases().remove(0);
        closed.status = CaseStatus::Closed;
        let mut l = linker(vec![closed]);
        assert_eq!(link(&mut l, "星驰 XC-2026-00871", None), confirmed("C-1"));
    }
}
