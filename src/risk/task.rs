//! The daemon's risk task: recomputes every open case's risk from the store, saves the ones
//! that are new or moved, and queues one `at_risk` alert per upward crossing of `alert_at`.

use super::{Risk, RiskModel, REPORT_MOVE};
use crate::alert::render::{page_links, rendered_or, Field, PageLink};
use crate::config::RiskConfig;
use crate::metrics::Metrics;
use crate::model::{AlertKind, Case, CaseStatus};
use crate::present::text::{clip, escape_html};
use crate::present::{facts, Args, Ui};
use crate::store::{CaseRisk, NewAlert, SharedStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Public complaints linked to no case count towards a case's risk while this recent.
const PUBLIC_WINDOW_DAYS: i64 = 14;
/// At most this many of them are read per round.
const PUBLIC_LIMIT: i64 = 1000;
/// A crossing is over once the risk falls this far below `alert_at`, so a score hovering at
/// the line does not alert on every wobble.
const RESET_BELOW: f64 = 0.1;

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refreshed {
    /// Every open case's current risk, by case id.
    pub risks: HashMap<String, Risk>,
    /// Risks written (new or moved by at least [`REPORT_MOVE`], or crossing changed).
    pub saved: usize,
    /// `at_risk` alerts queued.
    pub alerts: usize,
}

/// Recomputes and saves the risks of every open case at `now`.
pub async fn refresh(
    store: &SharedStore,
    model: &RiskModel,
    alert_at: Option<f64>,
    now: DateTime<Utc>,
    ui: &Ui,
) -> Result<Refreshed, StoreError> {
    let cases = store.cases(Some(CaseStatus::Open)).await?;
    let public: Vec<(String, String)> = store
        .unlinked_items(now - Duration::days(PUBLIC_WINDOW_DAYS), now, PUBLIC_LIMIT)
        .await?
        .into_iter()
        .map(|u| {
            let text = [u.item.title, u.item.body]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("\n");
            (u.brand, text)
        })
        .collect();
    let risks = model.assess_all(&cases, &public, now);
    let stored: HashMap<String, CaseRisk> = store
        .case_risks(None)
        .await?
        .into_iter()
        .map(|r| (r.case_id.clone(), r))
        .collect();
    let by_id: HashMap<&str, &Case> = cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut changed = Vec::new();
    let mut alerts = Vec::new();
    for (id, risk) in &risks {
        let before = stored.get(id);
        let was_crossed = before.and_then(|b| b.crossed_at);
        let crossed_at = match alert_at {
            None => None,
            Some(line) if risk.score >= line => Some(was_crossed.unwrap_or(now)),
            Some(line) if risk.score < line - RESET_BELOW => None,
            Some(_) => was_crossed,
        };
        if let (Some(at), None, Some(case)) = (crossed_at, was_crossed, by_id.get(id.as_str())) {
            alerts.push(at_risk_alert(case, risk, at, ui));
        }
        let moved = before.is_none_or(|b| (b.risk.score - risk.score).abs() >= REPORT_MOVE);
        if moved || crossed_at != was_crossed {
            changed.push(CaseRisk {
                case_id: id.clone(),
                risk: risk.clone(),
                computed_at: now,
                crossed_at,
            });
        }
    }
    let queued = store.save_risks(&changed, &alerts).await?;
    Ok(Refreshed {
        risks: risks.into_iter().collect(),
        saved: changed.len(),
        alerts: queued,
    })
}

/// The `at_risk` email: the case, its score and the reasons, one per line, worded through
/// the catalogs like every mail; it carries no stage, since nothing is public yet.
fn at_risk_alert(case: &Case, risk: &Risk, crossed_at: DateTime<Utc>, ui: &Ui) -> NewAlert {
    let dedupe_key = format!("case:{}:at_risk:{}", case.id, crossed_at.timestamp_millis());
    let hash = Sha256::digest(dedupe_key.as_bytes());
    let hex: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    let score = facts::score(risk.score);
    let subject = ui.t(
        "risk-subject",
        Args::new()
            .with("brand", clip(&case.brand, 40))
            .with("case", case.id.clone())
            .with("score", score.clone()),
    );
    let mut fields = vec![
        Field {
            label: ui.word("risk-field-case"),
            value: case.id.clone(),
        },
        Field {
            label: ui.word("risk-field-score"),
            value: score,
        },
    ];
    fields.extend(risk.reasons.iter().map(|reason| Field {
        label: ui.word("risk-field-reason"),
        value: clip(&facts::risk_reason(ui, reason), 300),
    }));
    let view = RiskView {
        subject: subject.clone(),
        fields,
        advice: ui.word("risk-advice"),
        links: page_links(ui, Some(&case.id)),
        signature: ui.t(
            "signature",
            Args::new().with("at", ui.when(crossed_at.fixed_offset())),
        ),
    };
    NewAlert {
        kind: AlertKind::AtRisk,
        case_id: Some(case.id.clone()),
        brand: case.brand.clone(),
        dedupe_key,
        message_id: format!("<at-risk.{hex}@outcry>"),
        text: rendered_or(ui.render("operator.txt", &view), &subject),
        html: rendered_or(ui.render("operator.html", &view), &escape_html(&subject)),
        subject,
        created_at: crossed_at.fixed_offset(),
        // Chat channels route the case stages and unlinked alerts; this one is email only.
        facts: None,
    }
}

/// The notice layout's view (templates/operator.*): a subject, labelled fields, advice.
#[derive(serde::Serialize)]
struct RiskView {
    subject: String,
    fields: Vec<Field>,
    advice: String,
    links: Vec<PageLink>,
    signature: String,
}

/// The background task: a round at start, every `interval` and whenever `due` is woken,
/// until shutdown.
pub struct RiskTask {
    pub store: SharedStore,
    pub model: RiskModel,
    pub config: RiskConfig,
    pub metrics: Arc<Metrics>,
    /// Woken when a round queued an alert, so delivery need not wait for its next look.
    pub alert_queued: Arc<Notify>,
    /// A case or a link changed (API, review): a round now rather than at the interval.
    pub due: Arc<Notify>,
    /// Woken when a round saved moved risks, so the watch's intervals follow at once.
    pub moved: Arc<Notify>,
    pub ui: Ui,
}

impl RiskTask {
    pub async fn run(self, shutdown: CancellationToken) {
        let interval = self.config.interval;
        loop {
            match refresh(
                &self.store,
                &self.model,
                self.config.alert_at,
                Utc::now(),
                &self.ui,
            )
            .await
            {
                Ok(round) => {
                    self.metrics
                        .observe_risks(round.risks.values().map(|r| r.score));
                    if round.alerts > 0 {
                        self.alert_queued.notify_one();
                    }
                    if round.saved > 0 {
                        self.moved.notify_one();
                    }
                    info!(
                        cases = round.risks.len(),
                        saved = round.saved,
                        alerts = round.alerts,
                        "risk recomputed"
                    );
                }
                // Kept running: the next round reads the store afresh.
                Err(e) => warn!(error = %e, "risk round failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
                _ = self.due.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    #[tokio::test]
    async fn a_crossing_alerts_once_and_moves_are_saved() {
        let store = store::open_in_memory().await.unwrap();
        let case: Case = serde_json::from_str(
            r#"{"id": "C-7", "brand": "Acme", "status": "open", "severity": "high",
                "summary": "refund refused"}"#,
        )
        .unwrap();
        let now = Utc::now();
        store.upsert_case(&case, now).await.unwrap();
        let model = RiskModel::new(&[]);
        let first = refresh(&store, &model, Some(0.1), now, &Ui::default())
            .await
            .unwrap();
        let score = first.risks["C-7"].score;
        assert!(score >= 0.1, "{first:?}");
        assert_eq!((first.saved, first.alerts), (1, 1));
        // Nothing moved: nothing saved, no second alert, also after a "restart" (a new round).
        let again = refresh(
            &store,
            &model,
            Some(0.1),
            now + Duration::minutes(10),
            &Ui::default(),
        )
        .await
        .unwrap();
        assert_eq!((again.saved, again.alerts), (0, 0));
        let stored = store.case_risks(Some("C-7")).await.unwrap();
        assert_eq!(stored[0].crossed_at, Some(now));
        assert_eq!(stored[0].risk.score, score);
        let alerts = store.alerts().await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::AtRisk);
        assert!(alerts[0].subject.contains("C-7"), "{}", alerts[0].subject);
        // Without alert_at no alert is queued and no crossing kept.
        let off = refresh(&store, &model, None, now, &Ui::default())
            .await
            .unwrap();
        assert_eq!(off.alerts, 0);
        assert_eq!(
            store.case_risks(Some("C-7")).await.unwrap()[0].crossed_at,
            None
        );
    }
}
