//! One observation through detect → link → assess → outbox, shared by the daemon and by
//! replay so that both make the same decisions. Everything decided about an observation is
//! written in one store transaction.

use crate::alert::render::{render, AlertContent, Evidence};
use crate::assess::{Assessment, Assessor};
use crate::config::{AssessConfig, BrandConfig, LinkingConfig};
use crate::detect::{BrandDetector, DetectError};
use crate::link::{ItemText, LinkError, Linker};
use crate::model::{AlertKind, Case, LinkEvidence, Observation, Reason, Stage};
use crate::normalize::{fold, html_to_text, urls_in};
use crate::present::Ui;
use crate::store::{
    Batch, CaseEvidence, CaseItem, Committed, EvidenceScope, ItemKey, ItemRef, LeaseCondition,
    LinkState, NewAlert, NewItem, NewLink, ObservationRef, ObservationRun, SharedStore, Sighting,
    StoreError,
};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;
use tracing::{debug, info, info_span};

mod review;
pub use review::{Decision, ReviewError};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// What the pipeline decided, in the shape `outcry replay` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Event {
    Mention {
        at: DateTime<FixedOffset>,
        guid: String,
        brand: String,
    },
    Link {
        at: DateTime<FixedOffset>,
        guid: String,
        case: String,
        score: f64,
    },
    Alert {
        at: DateTime<FixedOffset>,
        stage: AlertKind,
        case: Option<String>,
        brand: String,
        guid: String,
    },
}

/// What [`Pipeline::process_leased`] decided about a batch.
#[derive(Debug)]
pub struct Processed {
    pub events: Vec<Event>,
    /// The observations (by index) seen for the first time that mention no brand: nothing
    /// was kept of them.
    pub unbranded: Vec<usize>,
    /// The case revision the brands' vocabulary came from; None when it was not settled.
    pub cases_revision: Option<i64>,
}

impl Processed {
    /// How many alerts the batch queued.
    pub fn alerts(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Alert { .. }))
            .count()
    }
}

pub struct Pipeline {
    store: SharedStore,
    detector: BrandDetector,
    linker: Linker,
    linking: LinkingConfig,
    assessor: Assessor,
    unlinked_per_hour: i64,
    /// When recent `unlinked` alerts were queued, to route a flood to the digest. Kept in
    /// memory: after a restart the hour starts afresh.
    recent_unlinked: VecDeque<DateTime<FixedOffset>>,
    cases_revision: Option<i64>,
    evidence: EvidenceCache,
    /// How the alerts it queues are worded.
    ui: Ui,
}

/// How long a case's record read from the store is trusted. Other instances may add to a
/// case as well; what they add is seen within this time.
const EVIDENCE_FRESH: std::time::Duration = std::time::Duration::from_secs(60);

/// Case records kept between batches with the moment they were read, so that a case touched
/// batch after batch is not read from the store each time. A record holds what this
/// pipeline committed since, and is dropped whenever that may not be so.
#[derive(Default)]
struct EvidenceCache {
    records: HashMap<String, (Instant, CaseEvidence)>,
}

impl EvidenceCache {
    /// Takes out the fresh records among `case_ids`; the caller puts them back after a
    /// successful commit, so a failed batch leaves nothing half-applied behind.
    fn take_fresh(&mut self, case_ids: &[String]) -> HashMap<String, (Instant, CaseEvidence)> {
        case_ids
            .iter()
            .filter_map(|id| self.records.remove_entry(id))
            .filter(|(_, (read_at, _))| read_at.elapsed() < EVIDENCE_FRESH)
            .collect()
    }

    fn keep(&mut self, records: HashMap<String, (Instant, CaseEvidence)>) {
        self.records.extend(records);
    }

    fn forget(&mut self, case_id: &str) {
        self.records.remove(case_id);
    }

    fn clear(&mut self) {
        self.records.clear();
    }
}

/// One observation of a batch and what was decided about it.
struct Step<'a> {
    observation: &'a Observation,
    /// None for an item that mentions no brand (it is not kept).
    item: Option<ItemRef>,
    /// True when this observation is the item's first sighting.
    first: bool,
    /// The links decided on this first sighting.
    links: Vec<NewLink>,
    /// Every case the item is linked to, in any state.
    linked: Vec<(String, LinkState)>,
    events: Vec<Event>,
    /// Indexes into the batch's alerts.
    alerts: Vec<usize>,
    /// True when the sighting changed nothing and extends the item's newest row.
    seen_again: bool,
}

impl<'a> Step<'a> {
    fn new(
        observation: &'a Observation,
        item: Option<ItemRef>,
        linked: Vec<(String, LinkState)>,
        first: bool,
    ) -> Step<'a> {
        Step {
            observation,
            item,
            first,
            links: Vec::new(),
            linked,
            events: Vec::new(),
            alerts: Vec::new(),
            seen_again: false,
        }
    }
}

/// An item's text as matching sees it, kept together so linking can learn from it.
struct PreparedText {
    folded: String,
    brand: Option<String>,
    brand_spans: Vec<(usize, usize)>,
    /// The brand as written when it was a variant spelling, and the alias it stands for.
    brand_variant: Option<(String, String)>,
    linked_urls: Vec<String>,
}

impl PreparedText {
    fn new(
        detector: &BrandDetector,
        title: Option<&str>,
        body: Option<&str>,
        author: Option<&str>,
    ) -> PreparedText {
        let folded = fold(&plain_text(title, body));
        let author = author.map(|a| fold(a.trim()));
        let found = detector
            .detect_by(&folded, author.as_deref())
            .into_iter()
            .next();
        let linked_urls = body.map(urls_in).unwrap_or_default();
        PreparedText {
            brand: found.as_ref().map(|m| m.brand.clone()),
            brand_variant: found
                .as_ref()
                .and_then(|m| m.variant.as_ref().map(|v| (v.clone(), m.alias.clone()))),
            brand_spans: found.map(|m| m.spans).unwrap_or_default(),
            folded,
            linked_urls,
        }
    }

    fn item_text<'a>(
        &'a self,
        detector: &BrandDetector,
        author: Option<&'a str>,
        url: Option<&'a str>,
        published_at: Option<DateTime<FixedOffset>>,
    ) -> ItemText<'a> {
        ItemText {
            folded: &self.folded,
            brand_spans: &self.brand_spans,
            author,
            published_at,
            brand_variant: self
                .brand_variant
                .as_ref()
                .map(|(written, alias)| (written.as_str(), alias.as_str())),
            author_is_brand: author.is_some_and(|a| !detector.detect(&fold(a)).is_empty()),
            url,
            linked_urls: &self.linked_urls,
        }
    }
}

impl Pipeline {
    pub async fn new(
        store: SharedStore,
        brands: &[BrandConfig],
        linking: LinkingConfig,
        assess: AssessConfig,
    ) -> Result<Pipeline, PipelineError> {
        let detector = BrandDetector::new(brands)?;
        let linker = Linker::new(Vec::new(), &detector, linking)?;
        let mut pipeline = Pipeline {
            store,
            detector,
            linker,
            linking,
            assessor: Assessor::new(assess),
            unlinked_per_hour: assess.unlinked_per_hour,
            recent_unlinked: VecDeque::new(),
            cases_revision: None,
            evidence: EvidenceCache::default(),
            ui: Ui::default(),
        };
        pipeline.refresh_cases().await?;
        Ok(pipeline)
    }

    /// Words the alerts it queues as `ui` says (the default: Chinese, China time).
    pub fn with_ui(mut self, ui: Ui) -> Pipeline {
        self.ui = ui;
        self
    }

    /// The assessor deciding stages, for the pages' reading of unlinked complaints.
    pub fn assessor(&self) -> &Assessor {
        &self.assessor
    }

    /// Rebuilds the case index when cases changed since the last look (imports and closes
    /// may come from other processes), and relearns each case's public story from its
    /// confirmed links.
    pub async fn refresh_cases(&mut self) -> Result<(), PipelineError> {
        let revision = self.store.cases_revision().await?;
        if self.cases_revision == Some(revision) {
            return Ok(());
        }
        let cases = self.store.cases(None).await?;
        let count = cases.len();
        self.detector.learn_vocabulary(&cases);
        self.linker = Linker::new(cases, &self.detector, self.linking)?;
        for linked in self.store.confirmed_link_texts().await? {
            let text = PreparedText::new(
                &self.detector,
                linked.title.as_deref(),
                linked.body.as_deref(),
                linked.author.as_deref(),
            );
            self.linker.learn(
                &linked.case_id,
                &text.item_text(
                    &self.detector,
                    linked.author.as_deref(),
                    linked.url.as_deref(),
                    None,
                ),
            );
        }
        self.cases_revision = Some(revision);
        self.evidence.clear();
        debug!(revision, cases = count, "case index rebuilt");
        Ok(())
    }

    /// Decides about a batch of observations in order, as if one at a time, and writes
    /// everything decided in one store transaction. Returns the events in observation order.
    pub async fn process_batch(
        &mut self,
        observations: &[Observation],
    ) -> Result<Vec<Event>, PipelineError> {
        Ok(self.process_leased(observations, None).await?.events)
    }

    /// [`Pipeline::process_batch`] for a poll made under a source lease: the commit writes
    /// nothing unless the lease is still held (`StoreError::LeaseLost`).
    pub async fn process_leased(
        &mut self,
        observations: &[Observation],
        lease: Option<LeaseCondition>,
    ) -> Result<Processed, PipelineError> {
        let result = self.decide_and_commit(observations, lease).await;
        if result.is_err() {
            // The linker may have learned from posts that were not committed: relearn from
            // the store before the next batch.
            self.cases_revision = None;
            self.evidence.clear();
        }
        result
    }

    async fn decide_and_commit(
        &mut self,
        observations: &[Observation],
        lease: Option<LeaseCondition>,
    ) -> Result<Processed, PipelineError> {
        let mut processed = Processed {
            events: Vec::new(),
            unbranded: Vec::new(),
            cases_revision: self.cases_revision,
        };
        if observations.is_empty() {
            return Ok(processed);
        }
        let mut keys: Vec<ItemKey> = observations.iter().map(ItemKey::of).collect();
        keys.sort();
        keys.dedup();
        let stored = self.store.items(&keys).await?;
        // Each item's newest row, which a sighting that changes nothing extends.
        let mut latest: HashMap<ItemKey, (ObservationRef, ObservationRun)> = stored
            .iter()
            .filter_map(|(key, item)| {
                let (id, run) = item.latest?;
                Some((key.clone(), (ObservationRef::Stored(id), run)))
            })
            .collect();
        let mut known: HashMap<ItemKey, (ItemRef, Vec<(String, LinkState)>)> = stored
            .into_iter()
            .map(|(key, item)| (key, (ItemRef::Stored(item.id), item.linked_cases)))
            .collect();

        let mut batch = Batch {
            lease,
            ..Batch::default()
        };
        let mut steps = Vec::with_capacity(observations.len());
        for (index, obs) in observations.iter().enumerate() {
            let span = info_span!("item", source = %obs.source, guid = %obs.guid);
            let _entered = span.enter();
            let key = ItemKey::of(obs);
            let run = ObservationRun::of(obs);
            let step = match known.get(&key) {
                Some((item, linked)) => {
                    let mut step = Step::new(obs, Some(*item), linked.clone(), false);
                    match latest.get_mut(&key) {
                        Some((row, last)) if last.absorbs(&run) => {
                            batch.seen_again.push((*row, obs.fetched_at));
                            last.last_seen = obs.fetched_at;
                            step.seen_again = true;
                        }
                        _ => {
                            batch.observations.push((*item, obs));
                            let row = ObservationRef::New(batch.observations.len() - 1);
                            latest.insert(key, (row, run));
                        }
                    }
                    step
                }
                None => match self.first_sighting(obs, &mut batch) {
                    Some(step) => {
                        if let Some(item) = step.item {
                            let row = ObservationRef::New(batch.observations.len() - 1);
                            latest.insert(key.clone(), (row, run));
                            known.insert(key, (item, step.linked.clone()));
                        }
                        step
                    }
                    None => {
                        processed.unbranded.push(index);
                        Step::new(obs, None, Vec::new(), false)
                    }
                },
            };
            steps.push(step);
        }

        let mut records = self.case_records(&steps).await?;
        self.assess_cases(&mut steps, &mut batch, &mut records);

        // Posts that mention no brand leave nothing to write: no transaction for them.
        let committed = if batch.writes_nothing() {
            Committed {
                new_item_ids: Vec::new(),
                inserted_alerts: Vec::new(),
            }
        } else {
            self.store.commit(&batch).await?
        };
        self.evidence.keep(records);
        let inserted: HashSet<usize> = committed.inserted_alerts.into_iter().collect();
        let events = &mut processed.events;
        for step in steps {
            events.extend(step.events);
            for index in step.alerts {
                if !inserted.contains(&index) {
                    continue;
                }
                let alert = &batch.alerts[index].1;
                info!(source = %step.observation.source, guid = %step.observation.guid,
                      kind = %alert.kind, case = ?alert.case_id, subject = %alert.subject,
                      "alert queued");
                events.push(Event::Alert {
                    at: step.observation.fetched_at,
                    stage: alert.kind,
                    case: alert.case_id.clone(),
                    brand: alert.brand.clone(),
                    guid: step.observation.guid.clone(),
                });
            }
        }
        Ok(processed)
    }

    /// Detects and links an item seen for the first time. Items that mention no brand are
    /// not kept; the rest join the batch with their links, and a confirmed link teaches the
    /// linker the case's public story at once, so later posts of the batch can use it.
    fn first_sighting<'a>(
        &mut self,
        obs: &'a Observation,
        batch: &mut Batch<'a>,
    ) -> Option<Step<'a>> {
        let text = PreparedText::new(
            &self.detector,
            obs.title.as_deref(),
            obs.body.as_deref(),
            obs.author.as_deref(),
        );
        let brand = text.brand.clone()?;
        let item_text = text.item_text(
            &self.detector,
            obs.author.as_deref(),
            obs.url.as_deref(),
            obs.published_at,
        );
        let links: Vec<NewLink> = self.linker.link(&brand, &item_text).into_iter().collect();
        let item = ItemRef::New(batch.new_items.len());
        let linked = links.iter().map(|l| (l.case_id.clone(), l.state)).collect();
        let mut step = Step::new(obs, Some(item), linked, true);
        step.events.push(Event::Mention {
            at: obs.fetched_at,
            guid: obs.guid.clone(),
            brand: brand.clone(),
        });
        for link in links.iter().filter(|l| l.state == LinkState::Confirmed) {
            step.events.push(Event::Link {
                at: obs.fetched_at,
                guid: obs.guid.clone(),
                case: link.case_id.clone(),
                score: link.score,
            });
            self.linker.learn(&link.case_id, &item_text);
        }
        if links.is_empty() && self.assessor.is_complaint(&text.folded, obs.channel) {
            if let Some(alert) = self.unlinked_alert(&brand, obs) {
                step.alerts.push(batch.alerts.len());
                batch.alerts.push((item, alert));
            }
        }
        step.links = links.clone();
        batch.new_items.push(NewItem {
            observation: obs,
            brand,
            links,
        });
        batch.observations.push((item, obs));
        Some(step)
    }

    /// The records of the cases the steps reach through confirmed links (only those count
    /// towards a stage, so a case touched through a candidate alone cannot move): fresh
    /// ones from the cache, the rest from the store.
    async fn case_records(
        &mut self,
        steps: &[Step<'_>],
    ) -> Result<HashMap<String, (Instant, CaseEvidence)>, PipelineError> {
        let mut case_ids: Vec<String> = steps
            .iter()
            .flat_map(|s| s.linked.iter())
            .filter(|(_, state)| *state == LinkState::Confirmed)
            .map(|(case, _)| case.clone())
            .collect();
        case_ids.sort();
        case_ids.dedup();
        let mut records = self.evidence.take_fresh(&case_ids);
        let missing: Vec<String> = case_ids
            .into_iter()
            .filter(|id| !records.contains_key(id))
            .collect();
        if !missing.is_empty() {
            let read_at = Instant::now();
            let loaded = self
                .store
                .case_evidence(&missing, EvidenceScope::Confirmed)
                .await?;
            records.extend(loaded.into_iter().map(|(id, r)| (id, (read_at, r))));
        }
        Ok(records)
    }

    /// Assesses, in observation order, every case a step's item is confirmed for, against
    /// the case's record plus what the batch added before that step.
    fn assess_cases<'a>(
        &self,
        steps: &mut [Step<'a>],
        batch: &mut Batch<'a>,
        records: &mut HashMap<String, (Instant, CaseEvidence)>,
    ) {
        for step in steps.iter_mut() {
            let obs = step.observation;
            for (case_id, state) in &step.linked {
                if *state != LinkState::Confirmed {
                    continue;
                }
                let (Some(case), Some((_, record))) =
                    (self.linker.case(case_id), records.get_mut(case_id))
                else {
                    continue;
                };
                let span =
                    info_span!("case", case = %case.id, source = %obs.source, guid = %obs.guid);
                let _entered = span.enter();
                match step.links.iter().find(|l| &l.case_id == case_id) {
                    Some(link) if step.first => record.items.push(pending_item(obs, link)),
                    _ => {
                        if let Some(item) = record
                            .items
                            .iter_mut()
                            .find(|i| i.source == obs.source && i.guid == obs.guid)
                        {
                            // As the store keeps it: a sighting that changed nothing extends
                            // the newest row.
                            match item.sightings.last_mut() {
                                Some(last) if step.seen_again => last.last_seen = obs.fetched_at,
                                _ => item.sightings.push(Sighting::of(obs)),
                            }
                        }
                    }
                }
                let Some(assessment) = self.assessor.assess(case, &record.items) else {
                    continue;
                };
                if !is_step_up(record.stage, assessment.stage) {
                    continue;
                }
                record.stage = Some(assessment.stage);
                let alert = case_alert(case, assessment, &record.items, obs, &self.ui);
                if let Some(item) = step.item {
                    step.alerts.push(batch.alerts.len());
                    batch.alerts.push((item, alert));
                }
            }
        }
    }

    /// A public complaint about a watched brand that matches no case: news in itself, since
    /// few unhappy customers complain at all. Past `unlinked_per_hour` it waits for the digest.
    fn unlinked_alert(&mut self, brand: &str, obs: &Observation) -> Option<NewAlert> {
        let hour_ago = obs.fetched_at - chrono::Duration::hours(1);
        while self.recent_unlinked.front().is_some_and(|t| *t <= hour_ago) {
            self.recent_unlinked.pop_front();
        }
        if self.recent_unlinked.len() as i64 >= self.unlinked_per_hour {
            info!(
                brand,
                "unlinked complaint left for the digest: too many this hour"
            );
            return None;
        }
        self.recent_unlinked.push_back(obs.fetched_at);
        let item = pending_item(
            obs,
            &NewLink {
                case_id: String::new(),
                state: LinkState::Candidate,
                score: 0.0,
                evidence: vec![LinkEvidence::NoCaseFits],
            },
        );
        let mut evidence = Evidence::of(&item);
        evidence.link_score = None;
        let content = AlertContent {
            kind: AlertKind::Unlinked,
            brand: brand.to_string(),
            case: None,
            headline: headline(obs),
            reasons: vec![Reason::Unlinked {
                channel: obs.channel,
                brand: brand.to_string(),
            }],
            evidence: vec![evidence],
            created_at: obs.fetched_at,
        };
        let dedupe_key = format!("item:{}:{}:unlinked", obs.source, obs.guid);
        Some(new_alert(
            AlertKind::Unlinked,
            None,
            &content,
            dedupe_key,
            &self.ui,
        ))
    }
}

/// Title and body as plain text, the way matching and quoting see an item.
pub fn plain_text(title: Option<&str>, body: Option<&str>) -> String {
    let title = title.map(html_to_text).unwrap_or_default();
    let body = body.map(html_to_text).unwrap_or_default();
    match (title.is_empty(), body.is_empty()) {
        (false, false) => format!("{title}\n{body}"),
        (false, true) => title.into_owned(),
        _ => body.into_owned(),
    }
}

fn pending_item(obs: &Observation, link: &NewLink) -> CaseItem {
    CaseItem {
        item_id: 0,
        source: obs.source.clone(),
        guid: obs.guid.clone(),
        channel: obs.channel,
        url: obs.url.clone(),
        title: obs.title.clone(),
        body: obs.body.clone(),
        author: obs.author.clone(),
        published_at: obs.published_at,
        first_seen_at: obs.fetched_at,
        link_state: link.state,
        link_score: link.score,
        link_evidence: link.evidence.clone(),
        sightings: vec![Sighting::of(obs)],
    }
}

fn case_alert(
    case: &Case,
    assessment: Assessment,
    items: &[CaseItem],
    trigger: &Observation,
    ui: &Ui,
) -> NewAlert {
    let kind = AlertKind::from(assessment.stage);
    // The triggering item leads the evidence; the rest follow newest first.
    let mut ordered: Vec<&CaseItem> = items.iter().collect();
    ordered.sort_by_key(|i| {
        (
            !(i.source == trigger.source && i.guid == trigger.guid),
            std::cmp::Reverse(i.first_seen_at),
        )
    });
    let evidence = ordered.into_iter().map(Evidence::of).collect();
    let content = AlertContent {
        kind,
        brand: case.brand.clone(),
        case: Some(case.clone()),
        headline: headline(trigger),
        reasons: assessment.reasons,
        evidence,
        created_at: trigger.fetched_at,
    };
    let dedupe_key = format!("case:{}:{}", case.id, assessment.stage.as_str());
    new_alert(kind, Some(case.id.clone()), &content, dedupe_key, ui)
}

fn new_alert(
    kind: AlertKind,
    case_id: Option<String>,
    content: &AlertContent,
    dedupe_key: String,
    ui: &Ui,
) -> NewAlert {
    let rendered = render(content, ui);
    NewAlert {
        kind,
        case_id,
        brand: content.brand.clone(),
        message_id: message_id(&dedupe_key, kind),
        dedupe_key,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        created_at: content.created_at,
        facts: serde_json::to_string(&crate::alert::chat::Facts::of(content, ui)).ok(),
    }
}

/// The same alert always gets the same Message-ID, so a resend after a crash between the
/// mail server's acceptance and our commit folds into one message in mail clients.
fn message_id(dedupe_key: &str, kind: AlertKind) -> String {
    let digest = Sha256::digest(dedupe_key.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("<outcry.{hex}.{kind}@outcry.local>")
}

fn headline(obs: &Observation) -> String {
    let text = plain_text(obs.title.as_deref(), obs.body.as_deref());
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// Stages only move up; a case never alerts twice for one stage.
fn is_step_up(current: Option<Stage>, next: Stage) -> bool {
    current.is_none_or(|c| next > c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseStatus, Channel, Complainant, Engagement};
    use crate::store::open_in_memory;

    fn case() -> Case {
        Case {
            id: "C-1".into(),
            brand: "星驰汽车".into(),
            status: CaseStatus::Open,
            opened_at: None,
            channel: None,
            severity: None,
            complainant: Complainant {
                name: None,
                phone: None,
                email: None,
                handles: vec![],
            },
            summary: "车机经常黑屏".into(),
            demand: "退车".into(),
            identifiers: vec!["order:XC-2026-00871".into()],
            notes: String::new(),
        }
    }

    fn sighting(guid: &str, hour: i64, likes: i64) -> Observation {
        let start = DateTime::parse_from_rfc3339("2026-03-05T09:00:00+08:00").unwrap();
        Observation {
            source: "weibo".into(),
            channel: Channel::Social,
            guid: guid.into(),
            url: None,
            title: None,
            body: Some("星驰的车有问题, 订单 XC-2026-00871".into()),
            author: Some(format!("车主{guid}")),
            author_followers: None,
            published_at: None,
            fetched_at: start + chrono::Duration::hours(hour),
            engagement: Engagement {
                likes: Some(likes),
                ..Engagement::default()
            },
        }
    }

    fn stages(events: &[Event]) -> Vec<AlertKind> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Alert { stage, .. } => Some(*stage),
                _ => None,
            })
            .collect()
    }

    async fn pipeline() -> Pipeline {
        let store = open_in_memory().await.unwrap();
        store
            .upsert_case(&case(), chrono::Utc::now())
            .await
            .unwrap();
        let brands = [BrandConfig {
            name: "星驰汽车".into(),
            aliases: vec!["星驰".into()],
            exclude: vec![],
        }];
        Pipeline::new(
            store,
            &brands,
            LinkingConfig::default(),
            AssessConfig::default(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn posts_that_mention_no_brand_are_reported_and_commit_nothing() {
        let mut pipeline = pipeline().await;
        // Nobody holds this lease: a commit under it would fail.
        let lease = || {
            Some(LeaseCondition {
                source: "weibo".into(),
                owner: "elsewhere".into(),
                extend: std::time::Duration::from_secs(30),
            })
        };
        let mut chat = sighting("chat", 0, 1);
        chat.body = Some("今天天气不错".into());
        let brand = sighting("brand", 0, 1);

        let processed = pipeline
            .process_leased(&[chat.clone()], lease())
            .await
            .unwrap();
        assert!(processed.events.is_empty());
        assert_eq!(processed.unbranded, [0]);
        assert!(processed.cases_revision.is_some());

        let failed = pipeline.process_leased(&[chat, brand], lease()).await;
        assert!(
            matches!(
                failed,
                Err(PipelineError::Store(StoreError::LeaseLost { .. }))
            ),
            "{failed:?}"
        );
    }

    #[tokio::test]
    async fn sightings_that_change_nothing_extend_a_row_and_a_row_starts_hourly() {
        let mut pipeline = pipeline().await;
        let minutes = |m: i64, likes: i64| {
            let mut o = sighting("a", 0, likes);
            o.fetched_at += chrono::Duration::minutes(m);
            o
        };
        // Unchanged at 0, 5 and 10 minutes (two of them in one batch), then more likes at
        // 15, unchanged at 20, the same again at 80 (the heartbeat) and an edit at 85.
        pipeline
            .process_batch(&[minutes(0, 10), minutes(5, 10)])
            .await
            .unwrap();
        for batch in [
            vec![minutes(10, 10)],
            vec![minutes(15, 40), minutes(20, 40)],
            vec![minutes(80, 40)],
        ] {
            pipeline.process_batch(&batch).await.unwrap();
        }
        let mut edited = minutes(85, 40);
        edited.body = Some("星驰的车有问题, 订单 XC-2026-00871, 4S店不管".into());
        pipeline.process_batch(&[edited]).await.unwrap();

        let read = pipeline
            .store
            .case_evidence(&["C-1".into()], EvidenceScope::Confirmed)
            .await
            .unwrap()
            .remove("C-1")
            .unwrap();
        let rows: Vec<(i64, i64, Option<i64>)> = read.items[0]
            .sightings
            .iter()
            .map(|s| {
                let start = sighting("a", 0, 0).fetched_at;
                (
                    (s.at - start).num_minutes(),
                    (s.last_seen - start).num_minutes(),
                    s.engagement.likes,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (0, 10, Some(10)),
                (15, 20, Some(40)),
                (80, 80, Some(40)),
                (85, 85, Some(40))
            ]
        );
        // The record kept between batches says the same as the store.
        let kept = &pipeline.evidence.records["C-1"].1;
        assert_eq!(kept.items[0].sightings, read.items[0].sightings);
        // Growth is read between the last two fetches: 85 after 80, nothing gained.
        assert_eq!(read.items[0].growth_per_hour(), Some(0.0));
    }

    #[tokio::test]
    async fn a_case_record_carries_what_earlier_batches_added() {
        let mut pipeline = pipeline().await;
        // Each batch sees what the ones before it added: the item and its sightings from the
        // kept record, the new author's post on top.
        let first = pipeline
            .process_batch(&[sighting("a", 0, 10)])
            .await
            .unwrap();
        assert_eq!(stages(&first), [AlertKind::Surfaced]);
        let growing = pipeline
            .process_batch(&[sighting("a", 1, 60), sighting("b", 1, 10)])
            .await
            .unwrap();
        assert!(stages(&growing).is_empty(), "{growing:?}");
        let spread = pipeline
            .process_batch(&[sighting("c", 2, 10), sighting("a", 2, 900)])
            .await
            .unwrap();
        assert_eq!(stages(&spread), [AlertKind::Spreading]);
        // The kept record agrees with a pipeline that reads everything from the store.
        let kept = pipeline.evidence.records["C-1"].1.clone();
        let read = pipeline
            .store
            .case_evidence(&["C-1".into()], EvidenceScope::Confirmed)
            .await
            .unwrap()
            .remove("C-1")
            .unwrap();
        let sightings = |e: &CaseEvidence| -> Vec<(String, usize)> {
            e.items
                .iter()
                .map(|i| (i.guid.clone(), i.sightings.len()))
                .collect()
        };
        assert_eq!(sightings(&kept), sightings(&read));
        assert_eq!(kept.stage, read.stage);
    }

    #[tokio::test]
    async fn a_change_of_cases_drops_the_kept_records() {
        let mut pipeline = pipeline().await;
        pipeline
            .process_batch(&[sighting("a", 0, 10)])
            .await
            .unwrap();
        assert!(pipeline.evidence.records.contains_key("C-1"));
        let mut updated = case();
        updated.notes = "客户说要找媒体曝光".into();
        pipeline
            .store
            .upsert_case(&updated, chrono::Utc::now())
            .await
            .unwrap();
        pipeline.refresh_cases().await.unwrap();
        assert!(pipeline.evidence.records.is_empty());
    }
}
