//! One observation through detect → link → assess → outbox, shared by the daemon and by
//! replay so that both make the same decisions. Everything decided about an observation is
//! written in one store transaction.

use crate::alert::render::{render, AlertContent, Evidence};
use crate::assess::{Assessment, Assessor};
use crate::config::{AssessConfig, BrandConfig, LinkingConfig};
use crate::detect::{BrandDetector, DetectError};
use crate::link::{ItemText, LinkError, Linker};
use crate::model::{AlertKind, Case, Observation, Stage};
use crate::normalize::{fold, html_to_text, urls_in};
use crate::store::{
    CaseItem, Commit, FirstSighting, LinkState, NewAlert, NewLink, SharedStore, StoreError,
};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use tracing::{debug, info, info_span, Instrument};

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
}

/// An item's text as matching sees it, kept together so linking can learn from it.
struct PreparedText {
    folded: String,
    brand: Option<String>,
    brand_spans: Vec<(usize, usize)>,
    linked_urls: Vec<String>,
}

impl PreparedText {
    fn new(detector: &BrandDetector, title: Option<&str>, body: Option<&str>) -> PreparedText {
        let folded = fold(&plain_text(title, body));
        let found = detector.detect(&folded).into_iter().next();
        let linked_urls = body.map(urls_in).unwrap_or_default();
        PreparedText {
            brand: found.as_ref().map(|m| m.brand.clone()),
            brand_spans: found.map(|m| m.spans).unwrap_or_default(),
            folded,
            linked_urls,
        }
    }

    fn item_text<'a>(&'a self, author: Option<&'a str>, url: Option<&'a str>) -> ItemText<'a> {
        ItemText {
            folded: &self.folded,
            brand_spans: &self.brand_spans,
            author,
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
        };
        pipeline.refresh_cases().await?;
        Ok(pipeline)
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
            );
            self.linker.learn(
                &linked.case_id,
                &text.item_text(None, linked.url.as_deref()),
            );
        }
        self.cases_revision = Some(revision);
        debug!(revision, cases = count, "case index rebuilt");
        Ok(())
    }

    pub async fn process(
        &mut self,
        observation: &Observation,
    ) -> Result<Vec<Event>, PipelineError> {
        let span = info_span!("item", source = %observation.source, guid = %observation.guid);
        self.process_inner(observation).instrument(span).await
    }

    async fn process_inner(&mut self, obs: &Observation) -> Result<Vec<Event>, PipelineError> {
        let mut events = Vec::new();
        let stored = self.store.item(&obs.source, &obs.guid).await?;
        let mut learned: Option<(String, PreparedText)> = None;
        let mut alerts = Vec::new();
        let (first_sighting, linked_cases) = match &stored {
            Some(item) => (None, item.linked_cases.clone()),
            None => {
                let text =
                    PreparedText::new(&self.detector, obs.title.as_deref(), obs.body.as_deref());
                let first = self.first_sighting(obs, &text);
                if let Some(brand) = first.brand.as_deref().filter(|_| first.links.is_empty()) {
                    if self.assessor.is_complaint(&text.folded, obs.channel) {
                        alerts.extend(self.unlinked_alert(brand, obs));
                    }
                }
                if let Some(link) = first.links.iter().find(|l| l.state == LinkState::Confirmed) {
                    learned = Some((link.case_id.clone(), text));
                }
                if let Some(brand) = &first.brand {
                    events.push(Event::Mention {
                        at: obs.fetched_at,
                        guid: obs.guid.clone(),
                        brand: brand.clone(),
                    });
                }
                for link in &first.links {
                    if link.state == LinkState::Confirmed {
                        events.push(Event::Link {
                            at: obs.fetched_at,
                            guid: obs.guid.clone(),
                            case: link.case_id.clone(),
                            score: link.score,
                        });
                    }
                }
                let linked = first
                    .links
                    .iter()
                    .map(|l| (l.case_id.clone(), l.state))
                    .collect();
                (Some(first), linked)
            }
        };

        for (case_id, state) in &linked_cases {
            if *state == LinkState::Rejected {
                continue;
            }
            let Some(case) = self.linker.case(case_id) else {
                continue;
            };
            let span = info_span!("case", case = %case.id);
            if let Some(alert) = self
                .assess_case(case, obs, first_sighting.as_ref())
                .instrument(span)
                .await?
            {
                alerts.push(alert);
            }
        }

        let committed = self
            .store
            .commit(&Commit {
                observation: obs,
                first_sighting,
                alerts,
            })
            .await?;
        // Only once committed does the post join its case's story.
        if let Some((case_id, text)) = learned {
            self.linker.learn(
                &case_id,
                &text.item_text(obs.author.as_deref(), obs.url.as_deref()),
            );
        }
        for alert in committed.inserted_alerts {
            info!(kind = %alert.kind, case = ?alert.case_id, subject = %alert.subject, "alert queued");
            events.push(Event::Alert {
                at: obs.fetched_at,
                stage: alert.kind,
                case: alert.case_id,
                brand: alert.brand,
                guid: obs.guid.clone(),
            });
        }
        Ok(events)
    }

    fn first_sighting(&mut self, obs: &Observation, text: &PreparedText) -> FirstSighting {
        let links = match &text.brand {
            Some(brand) => {
                let item = text.item_text(obs.author.as_deref(), obs.url.as_deref());
                self.linker.link(brand, &item).into_iter().collect()
            }
            None => Vec::new(),
        };
        FirstSighting {
            brand: text.brand.clone(),
            links,
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
                evidence: vec!["no open case fits".into()],
            },
        );
        let mut evidence = evidence_of(&item);
        evidence.link_score = None;
        let content = AlertContent {
            kind: AlertKind::Unlinked,
            brand: brand.to_string(),
            case: None,
            headline: headline(obs),
            reasons: vec![format!(
                "a {} post complains about {brand} and fits no case on record",
                obs.channel
            )],
            evidence: vec![evidence],
            created_at: obs.fetched_at,
        };
        let dedupe_key = format!("item:{}:{}:unlinked", obs.source, obs.guid);
        Some(new_alert(AlertKind::Unlinked, None, &content, dedupe_key))
    }

    /// The alert this observation raises for `case`, if it moves the case up a stage.
    async fn assess_case(
        &self,
        case: &Case,
        obs: &Observation,
        first_sighting: Option<&FirstSighting>,
    ) -> Result<Option<NewAlert>, PipelineError> {
        let mut evidence = self.store.case_evidence(&case.id).await?;
        // The observation is not stored yet: it is written with the alert, in one transaction.
        match first_sighting {
            Some(first) => {
                if let Some(link) = first.links.iter().find(|l| l.case_id == case.id) {
                    evidence.items.push(pending_item(obs, link));
                }
            }
            None => {
                for item in &mut evidence.items {
                    if item.source == obs.source && item.guid == obs.guid {
                        item.observations.push((obs.fetched_at, obs.engagement));
                    }
                }
            }
        }
        let Some(assessment) = self.assessor.assess(case, &evidence.items) else {
            return Ok(None);
        };
        if !is_step_up(evidence.stage, assessment.stage) {
            return Ok(None);
        }
        Ok(Some(case_alert(case, assessment, &evidence.items, obs)))
    }
}

/// Title and body as plain text, the way matching and quoting see an item.
fn plain_text(title: Option<&str>, body: Option<&str>) -> String {
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
        observations: vec![(obs.fetched_at, obs.engagement)],
    }
}

fn case_alert(
    case: &Case,
    assessment: Assessment,
    items: &[CaseItem],
    trigger: &Observation,
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
    let evidence = ordered.into_iter().map(evidence_of).collect();
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
    new_alert(kind, Some(case.id.clone()), &content, dedupe_key)
}

fn new_alert(
    kind: AlertKind,
    case_id: Option<String>,
    content: &AlertContent,
    dedupe_key: String,
) -> NewAlert {
    let rendered = render(content);
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

fn evidence_of(item: &CaseItem) -> Evidence {
    let text = [item.title.as_deref(), item.body.as_deref()]
        .into_iter()
        .flatten()
        .map(|t| html_to_text(t).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let (seen_at, engagement) = item
        .observations
        .last()
        .copied()
        .unwrap_or((item.first_seen_at, Default::default()));
    Evidence {
        source: item.source.clone(),
        channel: item.channel,
        author: item.author.clone(),
        url: item.url.clone(),
        title: item.title.as_deref().map(|t| html_to_text(t).into_owned()),
        text,
        published_at: item.published_at,
        seen_at,
        engagement,
        link_score: Some(item.link_score),
        link_evidence: item.link_evidence.clone(),
        marks: marks_of(&item.link_evidence),
    }
}

/// The matched identifier values, to mark in the quote.
fn marks_of(link_evidence: &[String]) -> Vec<String> {
    link_evidence
        .iter()
        .filter_map(|e| e.strip_prefix("identifier "))
        .map(|id| id.split_once(':').map_or(id, |(_, v)| v).to_string())
        .collect()
}

/// Stages only move up; a case never alerts twice for one stage.
fn is_step_up(current: Option<Stage>, next: Stage) -> bool {
    current.is_none_or(|c| next > c)
}
