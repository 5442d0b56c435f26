//! Risk before the first post: how likely a private case is to go public, read from what the
//! team already knows. The source essays say a complaint goes public where three things meet:
//! the customer's rage, a channel to expose it, and a trigger of public emotion. Each signal
//! here is one of them, found in the case record (data/risk.txt, negations respected), in the
//! complainant's known handles, in the other open cases telling the same story, and in the
//! public complaints already out about the same thing. The result is a score in [0, 1] with
//! typed reasons; words for them belong to the presentation layer.

pub mod task;

use crate::config::BrandConfig;
use crate::model::Case;
use crate::normalize::{fold, is_han};
use aho_corasick::AhoCorasick;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const LEXICON: &str = include_str!("../data/risk.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Public,
    Group,
    Media,
    Formal,
    Reach,
    AlreadyBefore,
    AlreadyAfter,
    MeToo,
    Safety,
    Rage,
    Calm,
}

impl Section {
    fn parse(name: &str) -> Option<Section> {
        Some(match name {
            "public" => Section::Public,
            "group" => Section::Group,
            "media" => Section::Media,
            "formal" => Section::Formal,
            "reach" => Section::Reach,
            "already_before" => Section::AlreadyBefore,
            "already_after" => Section::AlreadyAfter,
            "me_too" => Section::MeToo,
            "safety" => Section::Safety,
            "rage" => Section::Rage,
            "calm" => Section::Calm,
            _ => return None,
        })
    }

    /// Places a story can be told in; "already" is judged around these.
    fn is_channel(self) -> bool {
        matches!(self, Section::Public | Section::Group | Section::Media)
    }
}

/// Why a case is at risk, as facts with their terms and numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RiskReason {
    /// The record says the story is out already ("已经在微博发了", "群里都在传").
    AlreadyPublic { terms: Vec<String> },
    /// A public platform or forum is named as where the customer will go.
    PublicChannel { terms: Vec<String> },
    /// The press is named.
    Press { terms: Vec<String> },
    /// Community groups the story travels in.
    Groups { terms: Vec<String> },
    /// A regulator, hotline or lawyer: serious, not public by itself.
    FormalChannel { terms: Vec<String> },
    /// The customer or a helper has an audience.
    Reach { terms: Vec<String> },
    /// The complainant's social handles are known: a channel exists.
    KnownHandles { count: usize },
    /// Others with the same trouble are mentioned.
    MeToo { terms: Vec<String> },
    /// Safety, children, health: what moves outsiders.
    Safety { terms: Vec<String> },
    /// Anger, feeling cheated, unfair treatment, despair.
    Rage { terms: Vec<String> },
    /// The severity the team set.
    Severity { level: String },
    /// Open cases of the brand telling the same story.
    Cluster {
        size: usize,
        topic: Vec<String>,
        cases: Vec<String>,
    },
    /// Public complaints linked to no case that tell the same story.
    PublicAlike { count: usize },
    /// Open this long without a resolution.
    Waiting { days: i64 },
    /// The agent noted the customer is calm or wants no fuss; lowers the rest.
    Calm { terms: Vec<String> },
}

impl RiskReason {
    /// How much this signal alone makes going public likely. Signals combine as independent
    /// chances (1 − Π(1 − w)), so none reaches 1 alone and several together approach it.
    fn weight(&self) -> f64 {
        match self {
            // Already out: the case's first public post probably exists or is minutes away.
            RiskReason::AlreadyPublic { .. } => 0.6,
            RiskReason::PublicChannel { .. } => 0.35,
            RiskReason::Press { .. } => 0.3,
            RiskReason::Reach { .. } => 0.3,
            RiskReason::KnownHandles { .. } => 0.25,
            RiskReason::MeToo { .. } => 0.2,
            RiskReason::PublicAlike { count } => {
                if *count >= 3 {
                    0.3
                } else {
                    0.2
                }
            }
            RiskReason::Groups { .. } => 0.15,
            RiskReason::Safety { .. } => 0.15,
            RiskReason::Cluster { .. } => 0.15,
            RiskReason::Rage { terms } => (0.12 * terms.len() as f64).min(0.3),
            RiskReason::Severity { level } => match level.as_str() {
                "high" => 0.15,
                "medium" => 0.05,
                _ => 0.0,
            },
            // Formal channels are where calm customers go instead of going public.
            RiskReason::FormalChannel { .. } => 0.05,
            RiskReason::Waiting { days } => {
                if *days >= 30 {
                    0.1
                } else {
                    0.05
                }
            }
            RiskReason::Calm { .. } => 0.0,
        }
    }
}

/// A case's risk: the score and the reasons behind it, strongest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    pub score: f64,
    pub reasons: Vec<RiskReason>,
}

/// How much a calm note keeps of the other signals.
const CALM_FACTOR: f64 = 0.55;
/// How far before or after a channel an "already" marker may stand, in characters.
const ALREADY_REACH: usize = 8;
/// Cases this alike (cosine over the units several cases share) tell the same story.
const SAME_STORY: f64 = 0.3;
/// A public complaint this alike (cosine over all units) to a case tells its story.
const PUBLIC_ALIKE: f64 = 0.2;
/// From this many open cases on, a shared story is a cluster: the chorus of "我也是".
const CLUSTER_MIN: usize = 3;
/// A unit in more of a brand's cases than this is not followed along postings: it is the
/// brand's everyday vocabulary and would make every pair a candidate.
const POSTING_CAP: usize = 500;

/// data/risk.txt in one automaton, and the brands' names, which every case of a brand
/// shares and so say nothing about its story.
pub struct RiskModel {
    automaton: AhoCorasick,
    terms: Vec<(Section, String)>,
    brand_words: Vec<String>,
}

impl RiskModel {
    pub fn new(brands: &[BrandConfig]) -> RiskModel {
        let mut terms = Vec::new();
        let mut section = None;
        for line in LEXICON.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = Section::parse(name);
                continue;
            }
            if let Some(section) = section {
                terms.push((section, fold(line)));
            }
        }
        let patterns: Vec<&str> = terms.iter().map(|(_, t)| t.as_str()).collect();
        // The lexicon is a constant of this crate; it always builds.
        let automaton = AhoCorasick::new(patterns)
            .unwrap_or_else(|e| panic!("data/risk.txt does not build a matcher: {e}"));
        let mut brand_words: Vec<String> = brands
            .iter()
            .flat_map(|b| std::iter::once(&b.name).chain(b.aliases.iter()))
            .map(|w| fold(w))
            .filter(|w| !w.is_empty())
            .collect();
        // Longest first, so a name is removed whole before an alias inside it.
        brand_words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        RiskModel {
            automaton,
            terms,
            brand_words,
        }
    }

    /// The risk of every open case in `cases` at `now`, given the public complaints linked to
    /// no case (`(brand, text)`), which raise the risk of the private cases like them.
    pub fn assess_all(
        &self,
        cases: &[Case],
        public: &[(String, String)],
        now: DateTime<Utc>,
    ) -> BTreeMap<String, Risk> {
        let open: Vec<&Case> = cases.iter().filter(|c| c.is_open()).collect();
        let topics = Topics::new(&open, &self.brand_words);
        let clusters = topics.clusters();
        let alike = topics.public_alike(public);
        open.iter()
            .enumerate()
            .map(|(i, case)| {
                let risk = self.assess(case, clusters.get(&i), alike[i], now);
                (case.id.clone(), risk)
            })
            .collect()
    }

    /// One case's risk from its record, its cluster and the public complaints like it.
    pub fn assess(
        &self,
        case: &Case,
        cluster: Option<&Cluster>,
        public_alike: usize,
        now: DateTime<Utc>,
    ) -> Risk {
        let text = fold(&format!(
            "{}\n{}\n{}",
            case.notes, case.summary, case.demand
        ));
        let found = self.find(&text);
        let terms_of = |wanted: Section| -> Vec<String> {
            let set: BTreeSet<&str> = found
                .iter()
                .filter(|(s, _, _)| *s == wanted)
                .map(|(_, term, _)| term.as_str())
                .collect();
            set.into_iter().map(str::to_string).collect()
        };
        let mut reasons = Vec::new();
        let already = self.already_public(&text, &found);
        if !already.is_empty() {
            reasons.push(RiskReason::AlreadyPublic { terms: already });
        }
        let mut push = |terms: Vec<String>, make: fn(Vec<String>) -> RiskReason| {
            if !terms.is_empty() {
                reasons.push(make(terms));
            }
        };
        push(terms_of(Section::Public), |terms| {
            RiskReason::PublicChannel { terms }
        });
        push(terms_of(Section::Media), |terms| RiskReason::Press {
            terms,
        });
        push(terms_of(Section::Reach), |terms| RiskReason::Reach {
            terms,
        });
        push(terms_of(Section::MeToo), |terms| RiskReason::MeToo {
            terms,
        });
        push(terms_of(Section::Group), |terms| RiskReason::Groups {
            terms,
        });
        push(terms_of(Section::Safety), |terms| RiskReason::Safety {
            terms,
        });
        push(terms_of(Section::Rage), |terms| RiskReason::Rage { terms });
        push(terms_of(Section::Formal), |terms| {
            RiskReason::FormalChannel { terms }
        });
        let handles = case.complainant.handles.len();
        if handles > 0 {
            reasons.push(RiskReason::KnownHandles { count: handles });
        }
        if let Some(level) = case.severity.as_deref().map(str::to_ascii_lowercase) {
            if level == "high" || level == "medium" {
                reasons.push(RiskReason::Severity { level });
            }
        }
        if let Some(cluster) = cluster {
            reasons.push(RiskReason::Cluster {
                size: cluster.cases.len(),
                topic: cluster.topic.clone(),
                cases: cluster.cases.clone(),
            });
        }
        if public_alike > 0 {
            reasons.push(RiskReason::PublicAlike {
                count: public_alike,
            });
        }
        if let Some(opened) = case.opened_at {
            let days = (now - opened.with_timezone(&Utc)).num_days();
            if days >= 7 {
                reasons.push(RiskReason::Waiting { days });
            }
        }
        let chance_untouched: f64 = reasons.iter().map(|r| 1.0 - r.weight()).product();
        let mut score = 1.0 - chance_untouched;
        // Calm phrases carry their negations ("不想闹大"), so they are read as written.
        let calm = terms_of(Section::Calm);
        if !calm.is_empty() {
            score *= CALM_FACTOR;
            reasons.push(RiskReason::Calm { terms: calm });
        }
        reasons.sort_by(|a, b| b.weight().total_cmp(&a.weight()));
        Risk {
            score: (score.clamp(0.0, 1.0) * 1000.0).round() / 1000.0,
            reasons,
        }
    }

    /// Lexicon terms in folded text with their byte offsets; negated terms left out, except
    /// calm phrases, which hold their own negation.
    fn find(&self, text: &str) -> Vec<(Section, String, (usize, usize))> {
        self.automaton
            .find_overlapping_iter(text)
            .filter_map(|m| {
                let (section, term) = &self.terms[m.pattern().as_usize()];
                let counts = *section == Section::Calm || !negated(text, m.start());
                counts.then(|| (*section, term.clone(), (m.start(), m.end())))
            })
            .collect()
    }

    /// Channels said to carry the story already: an "already" marker just before the channel
    /// ("已经在小红书…") or just after it ("微博也发了").
    fn already_public(
        &self,
        text: &str,
        found: &[(Section, String, (usize, usize))],
    ) -> Vec<String> {
        let markers = |wanted: Section| -> Vec<(usize, usize)> {
            found
                .iter()
                .filter(|(s, _, _)| *s == wanted)
                .map(|(_, _, span)| *span)
                .collect()
        };
        let before = markers(Section::AlreadyBefore);
        let after = markers(Section::AlreadyAfter);
        let mut out = BTreeSet::new();
        for (section, term, (start, end)) in found {
            if !section.is_channel() {
                continue;
            }
            let reach_back = char_offset_back(text, *start, ALREADY_REACH);
            let reach_on = char_offset_on(text, *end, ALREADY_REACH);
            let marked_before = before.iter().any(|&(s, e)| s >= reach_back && e <= *start);
            let marked_after = after.iter().any(|&(s, e)| s >= *end && e <= reach_on);
            if marked_before || marked_after {
                out.insert(term.clone());
            }
        }
        out.into_iter().collect()
    }
}

/// Words that negate what follows them in the same clause.
const NEGATIONS: &[&str] = &[
    "不会", "并未", "没有", "不", "没", "未", "别", "无", "not", "no ",
];
/// How far back a negation reaches, in characters, within one clause. Agents write
/// "没有说要曝光": the negation stands a few words before the threat.
const NEGATION_REACH: usize = 6;

/// Whether the term at `start` is negated: a negation earlier in its clause, unless the
/// negation belongs to a condition the threat follows ("不解决就发微博", "再不退否则…").
fn negated(text: &str, start: usize) -> bool {
    let clause_start = text[..start]
        .char_indices()
        .rev()
        .take(NEGATION_REACH)
        .take_while(|(_, c)| {
            !matches!(
                c,
                '，' | ',' | '。' | '.' | '；' | ';' | '！' | '!' | '？' | '?' | '、' | '\n'
            )
        })
        .last()
        .map_or(start, |(i, _)| i);
    let window = &text[clause_start..start];
    let Some(at) = NEGATIONS.iter().filter_map(|n| window.rfind(n)).max() else {
        return false;
    };
    let after = &window[at..];
    !["就", "否则", "的话", "才"]
        .iter()
        .any(|c| after.contains(c))
}

fn char_offset_back(text: &str, from: usize, chars: usize) -> usize {
    text[..from]
        .char_indices()
        .rev()
        .take(chars)
        .last()
        .map_or(from, |(i, _)| i)
}

fn char_offset_on(text: &str, from: usize, chars: usize) -> usize {
    text[from..]
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| from + i)
}

/// Open cases of one brand telling the same story.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// The member case ids, in natural order.
    pub cases: Vec<String>,
    /// The words the members share most, rarest first: what the story is about.
    pub topic: Vec<String>,
}

/// Folded text with the brands' names blanked out.
fn without_brands(text: &str, brand_words: &[String]) -> String {
    let mut folded = fold(text);
    for word in brand_words {
        if folded.contains(word.as_str()) {
            folded = folded.replace(word.as_str(), " ");
        }
    }
    folded
}

/// Grows `unit` one character at a time, left or right, while at least half of `texts`
/// still contain the longer phrase; at most 8 characters.
fn grow(unit: &str, texts: &[&str]) -> String {
    let enough =
        |phrase: &str| texts.iter().filter(|t| t.contains(phrase)).count() * 2 >= texts.len();
    let mut phrase = unit.to_string();
    while phrase.chars().count() < 8 {
        let mut options: Vec<String> = Vec::new();
        for text in texts {
            let mut from = 0;
            while let Some(at) = text[from..].find(phrase.as_str()).map(|i| from + i) {
                let end = at + phrase.len();
                if let Some(c) = text[..at].chars().next_back().filter(|c| is_han(*c)) {
                    options.push(format!("{c}{phrase}"));
                }
                if let Some(c) = text[end..].chars().next().filter(|c| is_han(*c)) {
                    options.push(format!("{phrase}{c}"));
                }
                from = end;
            }
        }
        options.sort();
        options.dedup();
        match options
            .into_iter()
            .filter(|o| enough(o))
            .max_by_key(|o| texts.iter().filter(|t| t.contains(o.as_str())).count())
        {
            Some(longer) => phrase = longer,
            None => break,
        }
    }
    phrase
}

/// Topic units: Han bigrams and Latin/digit words (not bare numbers, which are amounts and
/// dates rather than topics), kept as text so a cluster can be named.
fn topic_units(text: &str, brand_words: &[String]) -> Vec<String> {
    let folded = without_brands(text, brand_words);
    let mut out = Vec::new();
    let mut previous_han: Option<char> = None;
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if word.chars().count() >= 2 && !word.chars().all(|c| c.is_ascii_digit()) {
            out.push(std::mem::take(word));
        }
        word.clear();
    };
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
            previous_han = None;
            continue;
        }
        flush(&mut word, &mut out);
        if is_han(c) {
            if let Some(p) = previous_han {
                out.push([p, c].iter().collect());
            }
            previous_han = Some(c);
        } else {
            previous_han = None;
        }
    }
    flush(&mut word, &mut out);
    out
}

/// TF-IDF vectors of the open cases' stories, over the units at least two cases share (a
/// unit one case alone uses — a place, a name — can make no two cases alike and would only
/// dilute the rest).
struct Topics {
    brand_words: Vec<String>,
    ids: Vec<String>,
    /// Each case's story as the units were read from it, for naming a cluster.
    texts: Vec<String>,
    brands: Vec<String>,
    vectors: Vec<HashMap<String, f64>>,
    idf: HashMap<String, f64>,
    /// The same stories over every unit, to compare a public complaint with: a place or a
    /// model name one case alone has is just what a retelling shares with it.
    full_vectors: Vec<HashMap<String, f64>>,
    full_idf: HashMap<String, f64>,
}

impl Topics {
    fn new(cases: &[&Case], brand_words: &[String]) -> Topics {
        let docs: Vec<HashMap<String, u32>> = cases
            .iter()
            .map(|c| {
                let mut counts = HashMap::new();
                for unit in topic_units(&c.summary, brand_words) {
                    *counts.entry(unit).or_insert(0) += 1;
                }
                counts
            })
            .collect();
        let mut df: HashMap<String, usize> = HashMap::new();
        for doc in &docs {
            for unit in doc.keys() {
                *df.entry(unit.clone()).or_insert(0) += 1;
            }
        }
        let n = cases.len().max(1) as f64;
        let full_idf: HashMap<String, f64> = df
            .iter()
            .map(|(u, d)| (u.clone(), ((n + 1.0) / *d as f64).ln()))
            .collect();
        let idf: HashMap<String, f64> = df
            .into_iter()
            .filter(|(_, d)| *d >= 2)
            .map(|(u, d)| (u, (n / d as f64).ln()))
            .collect();
        let vectors = docs.iter().map(|doc| vectorize(doc, &idf)).collect();
        let full_vectors = docs.iter().map(|doc| vectorize(doc, &full_idf)).collect();
        Topics {
            brand_words: brand_words.to_vec(),
            ids: cases.iter().map(|c| c.id.clone()).collect(),
            texts: cases
                .iter()
                .map(|c| without_brands(&c.summary, brand_words))
                .collect(),
            brands: cases.iter().map(|c| c.brand.clone()).collect(),
            vectors,
            idf,
            full_vectors,
            full_idf,
        }
    }

    /// Pairs of the same brand at least `SAME_STORY` alike, found along postings.
    fn alike_pairs(&self) -> Vec<(usize, usize)> {
        let mut postings: HashMap<(&str, &str), Vec<(usize, f64)>> = HashMap::new();
        for (i, vector) in self.vectors.iter().enumerate() {
            for (unit, weight) in vector {
                postings
                    .entry((self.brands[i].as_str(), unit.as_str()))
                    .or_default()
                    .push((i, *weight));
            }
        }
        let mut dots: HashMap<(usize, usize), f64> = HashMap::new();
        for list in postings
            .values()
            .filter(|l| l.len() >= 2 && l.len() <= POSTING_CAP)
        {
            for (x, &(a, wa)) in list.iter().enumerate() {
                for &(b, wb) in &list[x + 1..] {
                    *dots.entry((a.min(b), a.max(b))).or_insert(0.0) += wa * wb;
                }
            }
        }
        let mut pairs: Vec<(usize, usize)> = dots
            .into_iter()
            .filter(|(_, dot)| *dot >= SAME_STORY)
            .map(|(pair, _)| pair)
            .collect();
        pairs.sort_unstable();
        pairs
    }

    /// Groups of alike cases (connected through alike pairs) of at least `CLUSTER_MIN`, by
    /// the index of each member.
    fn clusters(&self) -> HashMap<usize, Cluster> {
        let mut parent: Vec<usize> = (0..self.ids.len()).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for (a, b) in self.alike_pairs() {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            if ra != rb {
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..self.ids.len() {
            let r = root(&mut parent, i);
            groups.entry(r).or_default().push(i);
        }
        let mut out = HashMap::new();
        for members in groups.into_values().filter(|m| m.len() >= CLUSTER_MIN) {
            let cluster = Cluster {
                cases: natural_sorted(members.iter().map(|&i| self.ids[i].clone())),
                topic: self.topic_of(&members),
            };
            for &i in &members {
                out.insert(i, cluster.clone());
            }
        }
        out
    }

    /// The units most members use, rarer ones first, each grown into the longest phrase
    /// half the members share ("务费" → "服务费"): the story's own words.
    fn topic_of(&self, members: &[usize]) -> Vec<String> {
        let mut shared: HashMap<&str, usize> = HashMap::new();
        for &i in members {
            for unit in self.vectors[i].keys() {
                *shared.entry(unit.as_str()).or_insert(0) += 1;
            }
        }
        let mut ranked: Vec<(&str, f64)> = shared
            .into_iter()
            .filter(|(_, n)| n * 2 >= members.len())
            .map(|(u, n)| (u, n as f64 * self.idf.get(u).copied().unwrap_or(0.0)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let texts: Vec<&str> = members.iter().map(|&i| self.texts[i].as_str()).collect();
        let mut topic: Vec<String> = Vec::new();
        for (unit, _) in ranked {
            let phrase = grow(unit, &texts);
            if topic.iter().any(|t| t.contains(&phrase)) {
                continue;
            }
            topic.retain(|t| !phrase.contains(t.as_str()));
            topic.push(phrase);
            if topic.len() == 3 {
                break;
            }
        }
        topic
    }

    /// For each case, how many public complaints of its brand tell its story.
    fn public_alike(&self, public: &[(String, String)]) -> Vec<usize> {
        let mut counts = vec![0; self.ids.len()];
        for (brand, text) in public {
            for i in self.alike(brand, text) {
                counts[i] += 1;
            }
        }
        counts
    }

    /// The cases of `brand` whose story `text` tells.
    fn alike(&self, brand: &str, text: &str) -> Vec<usize> {
        let mut doc = HashMap::new();
        for unit in topic_units(text, &self.brand_words) {
            *doc.entry(unit).or_insert(0u32) += 1;
        }
        let vector = vectorize(&doc, &self.full_idf);
        (0..self.ids.len())
            .filter(|&i| {
                self.brands[i] == brand && cosine(&vector, &self.full_vectors[i]) >= PUBLIC_ALIKE
            })
            .collect()
    }
}

fn vectorize(doc: &HashMap<String, u32>, idf: &HashMap<String, f64>) -> HashMap<String, f64> {
    let mut vector: HashMap<String, f64> = doc
        .iter()
        .filter_map(|(u, n)| {
            idf.get(u)
                .map(|w| (u.clone(), (1.0 + (*n as f64).ln()) * w))
        })
        .filter(|(_, w)| *w > 0.0)
        .collect();
    let norm = vector.values().map(|w| w * w).sum::<f64>().sqrt();
    if norm > 0.0 {
        vector.values_mut().for_each(|w| *w /= norm);
    }
    vector
}

fn cosine(a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> f64 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .iter()
        .filter_map(|(u, w)| large.get(u).map(|v| w * v))
        .sum()
}

/// Case ids in natural order: C-X2 before C-X10.
pub fn natural_sorted(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.collect();
    ids.sort_by(|a, b| natural_cmp(a, b));
    ids
}

/// Compares ids as people read them: digit runs by their value.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match out.last_mut() {
                Some((d, run)) if *d == digit => run.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out
    }
    let (pa, pb) = (parts(a), parts(b));
    for ((da, ra), (db, rb)) in pa.iter().zip(pb.iter()) {
        let order = if *da && *db {
            let (ta, tb) = (ra.trim_start_matches('0'), rb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            ra.cmp(rb)
        };
        if order != std::cmp::Ordering::Equal {
            return order;
        }
    }
    pa.len().cmp(&pb.len()).then_with(|| a.cmp(b))
}

/// Risk moves smaller than this are not reported again: they are noise to a reader.
pub const REPORT_MOVE: f64 = 0.05;

/// A case's risk to report: its first, or a move of at least `REPORT_MOVE`.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskChange {
    pub case: String,
    pub at: DateTime<Utc>,
    pub risk: Risk,
    pub first: bool,
}

/// Follows the cases' risk over time, as `outcry replay` needs it: a case joins when its
/// opening time comes, a public complaint raises the cases like it, and only first risks and
/// real moves are reported.
pub struct RiskWatch {
    model: RiskModel,
    /// Cases not yet opened at the clock, latest opening first (so the next one is popped).
    waiting: Vec<Case>,
    open: Vec<Case>,
    topics: Option<(Topics, HashMap<usize, Cluster>)>,
    alike: HashMap<String, usize>,
    reported: HashMap<String, f64>,
}

impl RiskWatch {
    pub fn new(cases: Vec<Case>, brands: &[BrandConfig]) -> RiskWatch {
        let mut waiting: Vec<Case> = cases.into_iter().filter(|c| c.is_open()).collect();
        waiting.sort_by_key(|c| std::cmp::Reverse(c.opened_at));
        RiskWatch {
            model: RiskModel::new(brands),
            waiting,
            open: Vec::new(),
            topics: None,
            alike: HashMap::new(),
            reported: HashMap::new(),
        }
    }

    /// When the next case opens, if one is still waiting.
    pub fn next_opening(&self) -> Option<DateTime<Utc>> {
        self.waiting.last().map(|c| {
            c.opened_at
                .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc))
        })
    }

    /// Opens every case whose time has come by `now` and reports the risks that are new or
    /// moved (a new case can change its cluster's members too).
    pub fn advance(&mut self, now: DateTime<Utc>) -> Vec<RiskChange> {
        let mut opened = false;
        while self.next_opening().is_some_and(|t| t <= now) {
            if let Some(case) = self.waiting.pop() {
                self.open.push(case);
                opened = true;
            }
        }
        if !opened {
            return Vec::new();
        }
        let refs: Vec<&Case> = self.open.iter().collect();
        let topics = Topics::new(&refs, &self.model.brand_words);
        let clusters = topics.clusters();
        self.topics = Some((topics, clusters));
        self.report((0..self.open.len()).collect(), now)
    }

    /// A public complaint of `brand` linked to no case: the private cases telling the same
    /// story are more likely to follow it.
    pub fn public_complaint(
        &mut self,
        brand: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Vec<RiskChange> {
        let Some((topics, _)) = &self.topics else {
            return Vec::new();
        };
        let alike = topics.alike(brand, text);
        for &i in &alike {
            *self.alike.entry(self.open[i].id.clone()).or_insert(0) += 1;
        }
        self.report(alike, now)
    }

    fn report(&mut self, indexes: Vec<usize>, now: DateTime<Utc>) -> Vec<RiskChange> {
        let Some((_, clusters)) = &self.topics else {
            return Vec::new();
        };
        let mut changes = Vec::new();
        for i in indexes {
            let case = &self.open[i];
            let alike = self.alike.get(&case.id).copied().unwrap_or(0);
            let risk = self.model.assess(case, clusters.get(&i), alike, now);
            let last = self.reported.get(&case.id).copied();
            if last.is_none_or(|last| (risk.score - last).abs() >= REPORT_MOVE) {
                self.reported.insert(case.id.clone(), risk.score);
                changes.push(RiskChange {
                    case: case.id.clone(),
                    at: now,
                    first: last.is_none(),
                    risk,
                });
            }
        }
        changes.sort_by(|a, b| natural_cmp(&a.case, &b.case));
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseStatus, Complainant};
    use chrono::TimeZone;

    fn brands() -> Vec<BrandConfig> {
        vec![BrandConfig {
            name: "示例电器".into(),
            aliases: vec!["示例".into()],
            exclude: vec![],
        }]
    }

    fn case(id: &str, summary: &str, notes: &str) -> Case {
        Case {
            id: id.into(),
            brand: "示例电器".into(),
            status: CaseStatus::Open,
            opened_at: Some(
                chrono::FixedOffset::east_opt(8 * 3600)
                    .and_then(|tz| tz.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).single())
                    .expect("a valid time"),
            ),
            channel: Some("hotline".into()),
            severity: Some("medium".into()),
            complainant: Complainant::default(),
            summary: summary.into(),
            demand: String::new(),
            identifiers: vec![],
            notes: notes.into(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 2, 0, 0)
            .single()
            .expect("a valid time")
    }

    fn score(model: &RiskModel, case: &Case) -> Risk {
        model.assess(case, None, 0, now())
    }

    #[test]
    fn a_threat_to_go_public_ranks_above_a_calm_customer() {
        let model = RiskModel::new(&brands());
        let threat = case(
            "C-1",
            "空调买来一周不制冷",
            "客户说三天内不解决就发微博曝光, 还要找记者",
        );
        let calm = case("C-2", "空调买来一周不制冷", "客户语气平和, 等师傅上门");
        let (threat, calm) = (score(&model, &threat), score(&model, &calm));
        assert!(threat.score > calm.score + 0.3, "{threat:?} vs {calm:?}");
        assert!(threat
            .reasons
            .iter()
            .any(|r| matches!(r, RiskReason::PublicChannel { terms } if terms.contains(&"微博".to_string()))));
        assert!(calm
            .reasons
            .iter()
            .any(|r| matches!(r, RiskReason::Calm { .. })));
    }

    #[test]
    fn negated_threats_do_not_count() {
        let model = RiskModel::new(&brands());
        let negated = score(
            &model,
            &case("C-1", "热水器漏水", "客户没有说要曝光, 也不会发微博"),
        );
        assert!(
            !negated.reasons.iter().any(|r| matches!(
                r,
                RiskReason::PublicChannel { .. } | RiskReason::Press { .. }
            )),
            "{negated:?}"
        );
        let said = score(
            &model,
            &case("C-2", "热水器漏水", "客户说要曝光, 还要发微博"),
        );
        assert!(said.score > negated.score);
    }

    #[test]
    fn a_story_already_out_is_named_as_such() {
        let model = RiskModel::new(&brands());
        let out = score(
            &model,
            &case("C-1", "洗衣机漏电", "客户说已经在小红书发了帖子"),
        );
        assert!(out
            .reasons
            .iter()
            .any(|r| matches!(r, RiskReason::AlreadyPublic { terms } if terms.contains(&"小红书".to_string()))));
        let threat = score(&model, &case("C-2", "洗衣机漏电", "客户说要在小红书发帖子"));
        assert!(out.score > threat.score);
    }

    #[test]
    fn a_cluster_of_same_story_cases_raises_each_and_is_named() {
        let model = RiskModel::new(&brands());
        let story = |city: &str, day: u32| {
            format!("客户在{city}购买示例电器X9洗碗机, {day}日使用中突然断电跳闸, 门店称需返厂检测")
        };
        let mut cases = vec![
            case("C-10", &story("杭州", 3), "客户着急"),
            case("C-2", &story("宁波", 5), "客户着急"),
            case("C-3", &story("温州", 8), "客户着急"),
            case("C-4", "客户购买的电饭煲内胆涂层脱落, 要求换货", "客户着急"),
        ];
        let alone = model.assess_all(&cases[..1], &[], now())["C-10"].clone();
        let all = model.assess_all(&cases, &[], now());
        let clustered = &all["C-10"];
        assert!(clustered.score > alone.score, "{clustered:?} vs {alone:?}");
        let cluster = clustered
            .reasons
            .iter()
            .find_map(|r| match r {
                RiskReason::Cluster { size, topic, cases } => Some((size, topic, cases)),
                _ => None,
            })
            .expect("a cluster reason");
        assert_eq!(*cluster.0, 3);
        assert_eq!(
            cluster.2,
            &vec!["C-2".to_string(), "C-3".into(), "C-10".into()]
        );
        assert!(
            cluster
                .1
                .iter()
                .any(|t| t.contains("x9") || t.contains("断电")),
            "topic names the story: {:?}",
            cluster.1
        );
        assert!(!all["C-4"]
            .reasons
            .iter()
            .any(|r| matches!(r, RiskReason::Cluster { .. })));
        // The brand's own name is every case's word, not a story.
        cases[3].summary = "示例电器的电饭煲内胆涂层脱落".into();
        let all = model.assess_all(&cases, &[], now());
        assert!(!all["C-4"]
            .reasons
            .iter()
            .any(|r| matches!(r, RiskReason::Cluster { .. })));
    }

    #[test]
    fn a_public_complaint_on_the_same_topic_raises_the_private_cases_like_it() {
        let cases = vec![
            case(
                "C-1",
                "客户购买的X9洗碗机使用中突然断电跳闸, 门店称需返厂检测",
                "客户着急",
            ),
            case("C-2", "客户购买的电饭煲内胆涂层脱落, 要求换货", "客户着急"),
        ];
        let mut watch = RiskWatch::new(cases, &brands());
        let first = watch.advance(now());
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|c| c.first));
        let moved = watch.public_complaint(
            "示例电器",
            "示例的X9洗碗机又突然断电跳闸了, 返厂检测等了半个月",
            now(),
        );
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert_eq!(moved[0].case, "C-1");
        assert!(moved[0]
            .risk
            .reasons
            .iter()
            .any(|r| matches!(r, RiskReason::PublicAlike { count: 1 })));
        assert!(watch
            .public_complaint("其他品牌", "X9洗碗机突然断电跳闸", now())
            .is_empty());
    }

    #[test]
    fn cases_join_the_watch_when_they_open() {
        let mut later = case("C-2", "冰箱不制冷", "客户说要发抖音");
        later.opened_at = later.opened_at.map(|t| t + chrono::Duration::days(2));
        let mut watch = RiskWatch::new(
            vec![case("C-1", "冰箱不制冷", "客户着急"), later],
            &brands(),
        );
        let at_start = watch.advance(now());
        assert_eq!(
            at_start.iter().map(|c| c.case.as_str()).collect::<Vec<_>>(),
            ["C-1"]
        );
        let opening = watch.next_opening().expect("C-2 waits");
        let opened = watch.advance(opening);
        assert!(opened.iter().any(|c| c.case == "C-2" && c.first));
        assert!(watch.next_opening().is_none());
    }

    #[test]
    fn ids_sort_as_people_read_them() {
        let ids = natural_sorted(
            ["C-X10", "C-X2", "C-X1", "B-7"]
                .into_iter()
                .map(String::from),
        );
        assert_eq!(ids, ["B-7", "C-X1", "C-X2", "C-X10"]);
    }
}
