//! Linking a brand mention to the case it is about, as a complaint lead would: strong
//! evidence (the case's identifiers, even partly or masked; the complainant's handles; a
//! phone fragment) and soft evidence (how well the post retells the case, and whether its
//! place, date, amount and masked name agree). Candidates come from indexes built once per
//! change of the case set, never from scoring every case for every item.

mod facts;
mod similarity;

use crate::config::LinkingConfig;
use crate::detect::BrandDetector;
use crate::model::{Case, LinkEvidence};
use crate::normalize::places::Gazetteer;
use crate::normalize::{compact_identifier, fold};
use crate::store::{LinkState, NewLink};
use aho_corasick::{AhoCorasick, MatchKind};
use facts::{compare, Comparison, Facts};
use similarity::{units, BrandId, Similarity, TextIndex, Unit};
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

/// Soft evidence: cosine similarity is scaled so that a clear retelling reaches 1; facts that
/// agree or conflict move it.
const SIMILARITY_SCALE: f64 = 2.0;
const STORY_WEIGHT: f64 = 0.9;
/// How many of the best text matches are compared fact by fact.
const FACT_CHECKED_CANDIDATES: usize = 16;
const FACT_AGREES: f64 = 0.1;
/// A post by, or naming, someone whose earlier post is linked to a case: a follow-up, or
/// a retelling of that person's story. Suggestive, not proof (commentators cover several
/// cases), so it adds to the text's score rather than deciding alone.
const VOICE_BONUS: f64 = 0.4;
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
    text: TextIndex,
    brand_ids: HashMap<String, BrandId>,
    positions_by_id: HashMap<String, usize>,
    gazetteer: Gazetteer,
    facts: Vec<Facts>,
    linked_urls: HashMap<String, usize>,
    /// Authors whose posts are confirmed for cases: the public voices of those stories.
    voices: HashMap<String, Vec<usize>>,
    /// The byte lengths of voice names by their first two characters, to find the names in
    /// running text in one pass: many handles share a head ("车主…"), few share a length too.
    voice_heads: HashMap<(char, char), Vec<usize>>,
}

/// Why a post fits one case, and how well.
#[derive(Debug, Clone, Default)]
struct Fit {
    strong: f64,
    soft: f64,
    evidence: Vec<LinkEvidence>,
    /// Kept as numbers while ranking; worded only for the link that is kept.
    retelling: Option<(Similarity, Comparison)>,
}

impl Fit {
    fn score(&self) -> f64 {
        self.strong.max(self.soft).clamp(0.0, 1.0)
    }

    fn add_strong(&mut self, score: f64, evidence: LinkEvidence) {
        self.strong = self.strong.max(score);
        if !self.evidence.contains(&evidence) {
            self.evidence.push(evidence);
        }
    }

    /// Raises the soft score; applied after the text similarity has been set.
    fn add_soft_bonus(&mut self, bonus: f64, evidence: LinkEvidence) {
        self.soft = (self.soft + bonus).min(1.0);
        if !self.evidence.contains(&evidence) {
            self.evidence.push(evidence);
        }
    }

    fn into_evidence(self) -> Vec<LinkEvidence> {
        let mut evidence = self.evidence;
        if let Some((similarity, comparison)) = self.retelling {
            evidence.push(LinkEvidence::Retells {
                case_text: f64::from(similarity.case_text),
                story: f64::from(similarity.story),
            });
            evidence.extend(comparison.agree.iter().map(|f| LinkEvidence::FactAgrees {
                fact: f.to_string(),
            }));
            evidence.extend(
                comparison
                    .conflict
                    .iter()
                    .map(|f| LinkEvidence::FactConflicts {
                        fact: f.to_string(),
                    }),
            );
        }
        evidence
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
        let mut brand_ids: HashMap<String, BrandId> = HashMap::new();
        let mut documents = Vec::with_capacity(cases.len());
        let mut facts = Vec::with_capacity(cases.len());
        for (position, case) in cases.iter().enumerate() {
            for identifier in &case.identifiers {
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
            facts.push(Facts::of_text(&text, &gazetteer));
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
        Ok(Linker {
            identifiers: build(&compact_patterns)?,
            handles: build(&handle_patterns)?,
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
            facts,
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
        let post_units = units(item.folded, item.brand_spans);
        let mut fits: HashMap<usize, Fit> = HashMap::new();
        self.strong_evidence(item, &mut fits);
        self.soft_evidence(brand, item, &post_units, &mut fits);
        self.voice_evidence(item, &mut fits);
        self.text.observe_post(&post_units);

        let mut ranked: Vec<(usize, Fit)> = fits
            .into_iter()
            .filter(|(position, _)| self.cases[*position].brand == brand)
            .collect();
        ranked.sort_by(|a, b| {
            b.1.strong
                .total_cmp(&a.1.strong)
                .then(b.1.score().total_cmp(&a.1.score()))
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
                score - r.score() >= self.thresholds.margin
            }
        });
        let state = if clear_margin && (best.strong > 0.0 || score >= self.thresholds.confirm) {
            LinkState::Confirmed
        } else if score >= self.thresholds.candidate {
            LinkState::Candidate
        } else {
            return None;
        };
        let mut evidence = best.into_evidence();
        if let Some(r) = runner_up.filter(|_| !clear_margin) {
            evidence.push(LinkEvidence::AnotherCaseFits { score: r.score() });
        }
        Some(NewLink {
            case_id: self.cases[position].id.clone(),
            state,
            score: (score * 100.0).round() / 100.0,
            evidence,
        })
    }

    /// Teaches the linker a confirmed link: the post joins the case's public story, its facts
    /// and its URL, so that retellings and reposts of it find the case.
    pub fn learn(&mut self, case_id: &str, item: &ItemText<'_>) {
        let Some(&position) = self.positions_by_id.get(case_id) else {
            return;
        };
        if let Some(&brand) = self.brand_ids.get(&self.cases[position].brand) {
            self.text
                .add_to_story(brand, position, &units(item.folded, item.brand_spans));
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

    /// Follow-ups by a known voice, and posts that name one: "转发 @name:" or a retelling
    /// that says whose post it saw.
    fn voice_evidence(&self, item: &ItemText<'_>, fits: &mut HashMap<usize, Fit>) {
        if self.voices.is_empty() {
            return;
        }
        let own = voice_name(item);
        if let Some(cases) = own.as_ref().and_then(|name| self.voices.get(name)) {
            for position in cases {
                fits.entry(*position)
                    .or_default()
                    .add_soft_bonus(VOICE_BONUS, LinkEvidence::AuthorIsVoice);
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
        let compact = compact_identifier(item.folded);
        if let Some(automaton) = &self.identifiers {
            for m in automaton.find_overlapping_iter(&compact) {
                if stands_alone(&compact, m.start(), m.end()) {
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
                fits.entry(*position)
                    .or_default()
                    .add_strong(PHONE_SCORE, LinkEvidence::PhoneTail { tail: tail.clone() });
            }
        }
        if let Some(author) = item.author.map(|a| fold(a.trim())) {
            for (position, handle) in self.author_handles.get(&author).into_iter().flatten() {
                fits.entry(*position).or_default().add_strong(
                    AUTHOR_HANDLE_SCORE,
                    LinkEvidence::AuthorIsHandle {
                        handle: handle.clone(),
                    },
                );
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
        item: &ItemText<'_>,
        post_units: &[Unit],
        fits: &mut HashMap<usize, Fit>,
    ) {
        let Some(&brand) = self.brand_ids.get(brand) else {
            return;
        };
        let mut candidates: Vec<(usize, Similarity, f64)> = self
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
                (position, similarity, base)
            })
            .collect();
        // Facts move a score by a few tenths at most, so a case far down the text ranking
        // cannot reach the top: only the leaders are worth comparing fact by fact.
        candidates.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        candidates.truncate(FACT_CHECKED_CANDIDATES);
        if candidates.is_empty() {
            return;
        }
        let post_facts =
            Facts::of_text(item.folded, &self.gazetteer).with_author(item.author, &self.gazetteer);
        for (position, similarity, base) in candidates {
            let case = &self.cases[position];
            let comparison = compare(
                &post_facts,
                &self.facts[position],
                case.complainant.name.as_deref(),
            );
            let adjusted = base + FACT_AGREES * comparison.agree.len() as f64
                - comparison
                    .conflict
                    .iter()
                    .map(|f| conflict_weight(f))
                    .sum::<f64>();
            let fit = fits.entry(position).or_default();
            fit.soft = adjusted.clamp(0.0, 1.0);
            fit.retelling = Some((similarity, comparison));
        }
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

/// An identifier inside a longer run of letters or digits is a different identifier.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_ascii_alphanumeric())
        && !after.is_some_and(|c| c.is_ascii_alphanumeric())
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
                author_is_brand: is_brand,
                url: None,
                linked_urls: &[],
            },
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
    fn agreeing_with_both_the_case_and_its_public_story_counts_more_than_either() {
        // Alone, neither the agent's words (text 0.27) nor the public's would confirm.
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
            ("C-1", LinkState::Confirmed),
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
        learn_post(
            &mut l,
            "C-1",
            "星驰 XC-2026-00871 漏油",
            "西安车主老陈",
            false,
        );
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
    fn a_repost_or_retelling_naming_a_linked_author_finds_its_case() {
        let mut l = linker(cases());
        learn_post(
            &mut l,
            "C-1",
            "星驰 XC-2026-00871 漏油",
            "西安车主老陈",
            false,
        );
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
    fn closed_cases_are_still_linked() {
        let mut closed = cases().remove(0);
        closed.status = CaseStatus::Closed;
        let mut l = linker(vec![closed]);
        assert_eq!(link(&mut l, "星驰 XC-2026-00871", None), confirmed("C-1"));
    }
}
