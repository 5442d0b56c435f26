//! People's decisions fed back into linking and assessment: a lead confirms or rejects a
//! link, or teaches a case a handle or identifier and the recent mentions are linked again.
//! Each decision is one store transaction with its audit row and any alert it causes.

use super::{case_alert, is_step_up, Event, Pipeline, PipelineError, PreparedText};
use crate::model::{LinkEvidence, Observation};
use crate::store::{
    AuditEntry, Batch, CaseItem, EvidenceScope, ItemQuery, ItemRef, ItemRow, LinkChange, LinkQuery,
    LinkState, NewLink, Sighting, StoreError,
};
use chrono::{DateTime, Utc};
use tracing::{info, info_span};

/// Stored items looked at when re-linking: far more than a brand's mentions in a fortnight.
const RELINK_ITEMS_MAX: i64 = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("item {item_id} has no link to case {case_id}")]
    NoSuchLink { item_id: i64, case_id: String },
    #[error("no case has id {0}")]
    NoSuchCase(String),
    #[error("the link of item {item_id} to case {case_id} is {state}; {decision} applies to {from} links only")]
    WrongState {
        item_id: i64,
        case_id: String,
        state: &'static str,
        decision: &'static str,
        from: String,
    },
    #[error("no item has id {0}")]
    NoSuchItem(i64),
    #[error("case {0} is closed; reopen it first")]
    CaseClosed(String),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// What a lead does with a stored link. Every decision can be undone by another: a rejected
/// link goes back to the candidates or is confirmed after all, a confirmed one is unlinked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A candidate, or a link rejected by mistake, counts for the case.
    Confirm,
    Reject,
    /// A rejected link waits for review again.
    Unreject,
    /// A confirmed link (often an automatic one) stops counting for the case.
    Unlink,
}

impl Decision {
    pub fn parse(word: &str) -> Option<Decision> {
        [
            Decision::Confirm,
            Decision::Reject,
            Decision::Unreject,
            Decision::Unlink,
        ]
        .into_iter()
        .find(|d| d.as_str() == word)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Confirm => "confirm",
            Decision::Reject => "reject",
            Decision::Unreject => "unreject",
            Decision::Unlink => "unlink",
        }
    }

    /// The audit log's action.
    pub fn action(self) -> String {
        format!("link.{}", self.as_str())
    }

    /// The state the link is left in.
    pub fn state(self) -> LinkState {
        match self {
            Decision::Confirm => LinkState::Confirmed,
            Decision::Reject | Decision::Unlink => LinkState::Rejected,
            Decision::Unreject => LinkState::Candidate,
        }
    }

    /// The states the decision applies to, besides the one it leaves (which is a no-op).
    fn from(self) -> &'static [LinkState] {
        match self {
            Decision::Confirm => &[LinkState::Candidate, LinkState::Rejected],
            Decision::Reject => &[LinkState::Candidate, LinkState::Confirmed],
            Decision::Unreject => &[LinkState::Rejected],
            Decision::Unlink => &[LinkState::Confirmed],
        }
    }
}

impl From<StoreError> for ReviewError {
    fn from(e: StoreError) -> Self {
        ReviewError::Pipeline(PipelineError::Store(e))
    }
}

impl Pipeline {
    /// Decides about a stored link. A confirmed link counts in the case's assessment at once
    /// and may queue an alert through the outbox; a rejected one is not proposed again until
    /// a person takes the rejection back. Deciding what a link already is writes nothing.
    pub async fn decide_link(
        &mut self,
        item_id: i64,
        case_id: &str,
        decision: Decision,
        audit: AuditEntry,
    ) -> Result<Vec<Event>, ReviewError> {
        let state = decision.state();
        let span = info_span!("case", case = %case_id, item = item_id, actor = %audit.actor);
        let _entered = span.enter();
        self.refresh_cases().await?;
        let no_link = || ReviewError::NoSuchLink {
            item_id,
            case_id: case_id.to_string(),
        };
        let link = self
            .store
            .find_links(&LinkQuery {
                item_id: Some(item_id),
                case_id: Some(case_id.to_string()),
                limit: 1,
                ..LinkQuery::default()
            })
            .await?
            .pop()
            .ok_or_else(no_link)?;
        if link.state == state {
            return Ok(Vec::new());
        }
        if !decision.from().contains(&link.state) {
            return Err(ReviewError::WrongState {
                item_id,
                case_id: case_id.to_string(),
                state: link.state.as_str(),
                decision: decision.as_str(),
                from: decision
                    .from()
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
            });
        }
        let item = self.stored_item(item_id).await?.ok_or_else(no_link)?;
        let now = audit.at;
        let mut batch = Batch::default();
        batch.link_changes.push(LinkChange::Decide {
            item_id,
            case_id: case_id.to_string(),
            state,
            actor: audit.actor.clone(),
            at: now,
        });
        batch.audit.push(audit);
        let mut confirmed = Vec::new();
        if state == LinkState::Confirmed {
            self.learn_item(case_id, &item);
            confirmed.push(item);
        }
        // The case's record changes with this decision; the next batch reads it afresh.
        self.evidence.forget(case_id);
        let result = self
            .assess_and_commit(case_id, confirmed, Vec::new(), batch, now)
            .await;
        if result.is_err() || link.state != LinkState::Candidate {
            // The linker learned from a link that is not (or no longer) confirmed, or keeps
            // away from one that is no longer rejected: rebuild it from the store before the
            // next batch.
            self.cases_revision = None;
        }
        info!(state = state.as_str(), "link decided");
        result
    }

    /// Links a stored post to an open case by hand, confirmed, with the lead as its evidence;
    /// a post already linked to the case is confirmed instead. The case is assessed with it
    /// and the step up it causes queues an alert, as any confirmation does.
    pub async fn link_by_hand(
        &mut self,
        item_id: i64,
        case_id: &str,
        audit: AuditEntry,
    ) -> Result<Vec<Event>, ReviewError> {
        self.refresh_cases().await?;
        let case = self
            .store
            .case(case_id)
            .await?
            .ok_or_else(|| ReviewError::NoSuchCase(case_id.to_string()))?;
        if !case.is_open() {
            return Err(ReviewError::CaseClosed(case_id.to_string()));
        }
        let item = self
            .stored_item(item_id)
            .await?
            .ok_or(ReviewError::NoSuchItem(item_id))?;
        if item.links.iter().any(|(case, _)| case == case_id) {
            return self
                .decide_link(item_id, case_id, Decision::Confirm, audit)
                .await;
        }
        let span = info_span!("case", case = %case_id, item = item_id, actor = %audit.actor);
        let _entered = span.enter();
        let now = audit.at;
        let link = NewLink {
            case_id: case_id.to_string(),
            state: LinkState::Confirmed,
            score: 1.0,
            evidence: vec![LinkEvidence::ByHand {
                by: audit.actor.clone(),
            }],
        };
        let mut batch = Batch::default();
        batch.link_changes.push(LinkChange::Propose {
            item_id,
            link: link.clone(),
            at: now,
        });
        // A person's link: automatic linking never overwrites a decided one.
        batch.link_changes.push(LinkChange::Decide {
            item_id,
            case_id: case_id.to_string(),
            state: LinkState::Confirmed,
            actor: audit.actor.clone(),
            at: now,
        });
        batch.audit.push(audit);
        self.learn_item(case_id, &item);
        self.evidence.forget(case_id);
        let result = self
            .assess_and_commit(case_id, Vec::new(), vec![(item, link)], batch, now)
            .await;
        if result.is_err() {
            self.cases_revision = None;
        }
        info!("linked by hand");
        result
    }

    /// Links the brand's items first seen since `since` again, after `case_id` learned a
    /// handle or identifier. A new fit to that case is stored (a rejected one never is), a
    /// candidate the new evidence makes clear is confirmed, and the case is assessed: the
    /// new links may queue an alert.
    pub async fn relink_recent(
        &mut self,
        case_id: &str,
        since: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<Vec<Event>, ReviewError> {
        let span = info_span!("case", case = %case_id, actor = %audit.actor);
        let _entered = span.enter();
        self.refresh_cases().await?;
        let brand = self
            .linker
            .case(case_id)
            .ok_or_else(|| ReviewError::NoSuchCase(case_id.to_string()))?
            .brand
            .clone();
        let mut items = self
            .store
            .find_items(&ItemQuery {
                brand: Some(brand.clone()),
                since: Some(since),
                limit: RELINK_ITEMS_MAX,
                ..ItemQuery::default()
            })
            .await?;
        // Oldest first, as the posts came in.
        items.reverse();
        let now = audit.at;
        let mut batch = Batch::default();
        let mut confirmed = Vec::new();
        let mut proposed = Vec::new();
        for item in items {
            let text = PreparedText::new(
                &self.detector,
                item.title.as_deref(),
                item.body.as_deref(),
                item.author.as_deref(),
            );
            let item_text = text.item_text(
                &self.detector,
                item.author.as_deref(),
                item.url.as_deref(),
                item.published_at,
            );
            let Some(link) = self.linker.link(&brand, &item_text) else {
                continue;
            };
            if link.case_id != case_id {
                continue;
            }
            let before = item
                .links
                .iter()
                .find(|(case, _)| case == case_id)
                .map(|(_, state)| *state);
            let upgrade =
                before == Some(LinkState::Candidate) && link.state == LinkState::Confirmed;
            if before.is_some() && !upgrade {
                continue;
            }
            if link.state == LinkState::Confirmed {
                self.linker.learn(case_id, &item_text);
            }
            batch.link_changes.push(LinkChange::Propose {
                item_id: item.id,
                link: link.clone(),
                at: now,
            });
            match (before, link.state) {
                (None, _) => proposed.push((item, link)),
                (_, LinkState::Confirmed) => confirmed.push(item),
                _ => {}
            }
        }
        let mut audit = audit;
        audit.detail["relinked"] = serde_json::json!(batch.link_changes.len());
        batch.audit.push(audit);
        self.evidence.forget(case_id);
        let result = self
            .assess_and_commit(case_id, confirmed, proposed, batch, now)
            .await;
        if result.is_err() {
            self.cases_revision = None;
        }
        result
    }

    async fn stored_item(&self, item_id: i64) -> Result<Option<ItemRow>, StoreError> {
        Ok(self
            .store
            .find_items(&ItemQuery {
                ids: vec![item_id],
                limit: 1,
                ..ItemQuery::default()
            })
            .await?
            .pop())
    }

    fn learn_item(&mut self, case_id: &str, item: &ItemRow) {
        let text = PreparedText::new(
            &self.detector,
            item.title.as_deref(),
            item.body.as_deref(),
            item.author.as_deref(),
        );
        self.linker.learn(
            case_id,
            &text.item_text(
                &self.detector,
                item.author.as_deref(),
                item.url.as_deref(),
                item.published_at,
            ),
        );
    }

    /// Assesses the case with `confirmed` (items whose link to it becomes confirmed) and
    /// `added` (items newly linked to it) as the batch leaves them, adds the alert of a step
    /// up to the batch, and commits it.
    async fn assess_and_commit(
        &self,
        case_id: &str,
        confirmed: Vec<ItemRow>,
        added: Vec<(ItemRow, NewLink)>,
        mut batch: Batch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, ReviewError> {
        let mut record = self
            .store
            .case_evidence(&[case_id.to_string()], EvidenceScope::Unrejected)
            .await?
            .remove(case_id)
            .unwrap_or_default();
        for item in &confirmed {
            if let Some(stored) = record.items.iter_mut().find(|i| i.item_id == item.id) {
                stored.link_state = LinkState::Confirmed;
            }
        }
        let added_ids: Vec<i64> = added.iter().map(|(item, _)| item.id).collect();
        let mut sightings = self.store.sightings(&added_ids).await?;
        for (item, link) in added {
            let history = sightings.remove(&item.id).unwrap_or_default();
            record.items.push(case_item(item, link, history));
        }
        record.items.sort_by_key(|i| i.item_id);

        let newly_confirmed: Vec<&CaseItem> = record
            .items
            .iter()
            .filter(|i| i.link_state == LinkState::Confirmed)
            .filter(|i| {
                confirmed.iter().any(|c| c.id == i.item_id) || added_ids.contains(&i.item_id)
            })
            .collect();
        let at = now.fixed_offset();
        let mut events: Vec<Event> = newly_confirmed
            .iter()
            .map(|item| Event::Link {
                at,
                guid: item.guid.clone(),
                case: case_id.to_string(),
                score: item.link_score,
            })
            .collect();
        let trigger = newly_confirmed.iter().max_by_key(|i| i.item_id);
        let alert = match (self.linker.case(case_id), trigger) {
            (Some(case), Some(trigger)) => self
                .assessor
                .assess(case, &record.items)
                .filter(|a| is_step_up(record.stage, a.stage))
                .map(|assessment| {
                    let observation = observation_of(trigger, now);
                    (
                        trigger.item_id,
                        observation.guid.clone(),
                        case_alert(case, assessment, &record.items, &observation, &self.ui),
                    )
                }),
            _ => None,
        };
        let alert_index = alert.map(|(item_id, guid, alert)| {
            batch.alerts.push((ItemRef::Stored(item_id), alert));
            (batch.alerts.len() - 1, guid)
        });
        let committed = self.store.commit(&batch).await?;
        if let Some((index, guid)) = alert_index {
            if committed.inserted_alerts.contains(&index) {
                let alert = &batch.alerts[index].1;
                info!(kind = %alert.kind, subject = %alert.subject, "alert queued");
                events.push(Event::Alert {
                    at: alert.created_at,
                    stage: alert.kind,
                    case: alert.case_id.clone(),
                    brand: alert.brand.clone(),
                    guid,
                });
            }
        }
        Ok(events)
    }
}

fn case_item(item: ItemRow, link: NewLink, sightings: Vec<Sighting>) -> CaseItem {
    CaseItem {
        item_id: item.id,
        source: item.source,
        guid: item.guid,
        channel: item.channel,
        url: item.url,
        title: item.title,
        body: item.body,
        author: item.author,
        published_at: item.published_at,
        first_seen_at: item.first_seen_at,
        link_state: link.state,
        link_score: link.score,
        link_evidence: link.evidence,
        sightings,
    }
}

/// A stored item as if seen again at the moment of the decision, to lead an alert.
fn observation_of(item: &CaseItem, now: DateTime<Utc>) -> Observation {
    let last = item.sightings.last();
    Observation {
        source: item.source.clone(),
        channel: item.channel,
        guid: item.guid.clone(),
        url: item.url.clone(),
        title: item.title.clone(),
        body: item.body.clone(),
        author: item.author.clone(),
        author_followers: last.and_then(|s| s.author_followers),
        published_at: item.published_at,
        fetched_at: now.fixed_offset(),
        engagement: last.map(|s| s.engagement).unwrap_or_default(),
    }
}
