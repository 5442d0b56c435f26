//! The daily digest: once a day at `[digest].at`, one email through the outbox with what
//! single alerts leave out — first the private cases most likely to go public, then candidate links waiting for a lead's review, public complaints
//! that fit no case since the last digest (those held back by the hourly cap too), and the
//! open cases by stage. Its dedupe key names the day, so neither a restart nor a second
//! instance sends a second one.

use super::render::{
    self, evidence_view, more, page_links, rendered_or, Evidence, EvidenceView, PageLink,
    RenderedEmail,
};
use crate::assess::Assessor;
use crate::config::{AssessConfig, DigestConfig};
use crate::model::{AlertKind, Case, Stage};
use crate::normalize::fold;
use crate::pipeline::plain_text;
use crate::present::text::{clip, escape_html};
use crate::present::{facts, Args, Ui};
use crate::risk::{natural_cmp, Risk, RiskReason};
use crate::store::{CaseStanding, NewAlert, ReviewLink, SharedStore, StoreError, UnlinkedItem};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, Instrument};

/// Rows shown per section; the rest are counted.
const ROWS_SHOWN: usize = 50;
/// Unlinked items read per digest, newest first: far more than a day brings, and a bound
/// when the daemon was down for long.
const UNLINKED_READ: i64 = 5000;
/// How far back the very first digest looks.
const FIRST_WINDOW_HOURS: i64 = 24;
/// The longest the task sleeps between looks at the clock, so that a clock change or a
/// suspended machine delays the digest by this much at most.
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
const SUMMARY_CHARS: usize = 80;
/// The "most likely to go public" section lists at most this many cases…
const RISKY_SHOWN: usize = 5;
/// …whose risk is at least this: below it a case is ordinary business, not a warning.
const RISKY_FROM: f64 = 0.3;

/// What one digest lists.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestContent {
    /// The day it is for, in the digest's time zone.
    pub day: NaiveDate,
    /// The unlinked complaints are those first seen in `[since, until)`.
    pub since: DateTime<FixedOffset>,
    pub until: DateTime<FixedOffset>,
    /// Best score first, at most [`ROWS_SHOWN`].
    pub review: Vec<ReviewLink>,
    pub review_total: i64,
    /// Newest first, at most [`ROWS_SHOWN`].
    pub unlinked: Vec<UnlinkedItem>,
    pub unlinked_total: usize,
    /// Of `unlinked_total`, those that got no single email.
    pub unlinked_held: usize,
    /// Highest stage first, then the latest to get there; cases not public yet last.
    pub cases: Vec<CaseStanding>,
    /// Open cases not public yet, riskiest first, at most [`RISKY_SHOWN`] from [`RISKY_FROM`].
    pub at_risk: Vec<RiskyCase>,
}

/// A private case and its stored risk.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskyCase {
    pub standing: CaseStanding,
    pub risk: Risk,
}

pub struct Digest {
    store: SharedStore,
    config: DigestConfig,
    assessor: Assessor,
    ui: Ui,
    /// Woken when a digest is queued, so the delivery worker sends it at once.
    wake: Arc<Notify>,
    /// The configured sources: a first digest waits until each was polled once.
    sources: Vec<String>,
}

impl Digest {
    pub fn new(
        store: SharedStore,
        config: DigestConfig,
        assess: AssessConfig,
        ui: Ui,
        wake: Arc<Notify>,
        sources: Vec<String>,
    ) -> Digest {
        Digest {
            store,
            config,
            assessor: Assessor::new(assess),
            ui,
            wake,
            sources,
        }
    }

    /// The digest's zone: its own offset, else the offset `[ui] time_zone` has at `now`.
    fn zone(&self, now: DateTime<Utc>) -> FixedOffset {
        self.config
            .time_zone
            .unwrap_or_else(|| *self.ui.local(now.fixed_offset()).offset())
    }

    /// Today's digest time, in the digest's time zone.
    fn today_at(&self, now: DateTime<Utc>) -> Option<DateTime<FixedOffset>> {
        let zone = self.zone(now);
        local_day(now, zone)
            .and_time(self.config.at)
            .and_local_timezone(zone)
            .single()
    }

    /// Queues today's digest when its time has come and no digest was queued since; true
    /// when this call queued it. A daemon that was down at that time sends it when it starts.
    /// The very first digest is the first one due after every source was polled once, so a
    /// new installation does not mail one about nothing at once.
    pub async fn send_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let first_round = self.first_round(now).await?;
        let Some(due) = self.today_at(now).filter(|due| *due <= now) else {
            return Ok(false);
        };
        let last = self.store.last_alert_at(AlertKind::Digest).await?;
        if last.is_some_and(|last| last >= due) {
            return Ok(false);
        }
        if last.is_none() && first_round.is_none_or(|done| done > due) {
            return Ok(false);
        }
        let content = self.compose(now, last).await?;
        let queued = self
            .store
            .queue_alert(&digest_alert(&content, &self.ui))
            .await?;
        if queued {
            info!(
                day = %content.day,
                review = content.review_total,
                unlinked = content.unlinked_total,
                held = content.unlinked_held,
                cases = content.cases.len(),
                "digest queued"
            );
            self.wake.notify_one();
        }
        Ok(queued)
    }

    /// When the first full poll round ended, recording `now` the first time every source
    /// is seen polled (or failed).
    async fn first_round(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        if let Some(done) = self.store.first_round(None).await? {
            return Ok(Some(done));
        }
        let polled: HashSet<String> = self
            .store
            .source_states()
            .await?
            .into_iter()
            .filter(|s| s.last_poll_at.is_some() || s.last_error_at.is_some())
            .map(|s| s.name)
            .collect();
        if !self.sources.iter().all(|s| polled.contains(s)) {
            return Ok(None);
        }
        self.store.first_round(Some(now)).await
    }

    /// Gathers the digest as of `now`, the unlinked complaints since `last` (the previous
    /// digest), or over the last day for the first one.
    pub async fn compose(
        &self,
        now: DateTime<Utc>,
        last: Option<DateTime<FixedOffset>>,
    ) -> Result<DigestContent, StoreError> {
        let zone = self.zone(now);
        let until = now.with_timezone(&zone);
        let since = last
            .map(|t| t.with_timezone(&zone))
            .unwrap_or(until - Duration::hours(FIRST_WINDOW_HOURS));
        let (review, review_total) = self.store.review_links(ROWS_SHOWN as i64).await?;
        // The items that an `unlinked` alert went out for, and those that read as complaints
        // by the same test the pipeline uses: the ones it held back past the hourly cap.
        let mut unlinked: Vec<UnlinkedItem> = self
            .store
            .unlinked_items(since.with_timezone(&Utc), now, UNLINKED_READ)
            .await?
            .into_iter()
            .filter(|u| is_unlinked_complaint(&self.assessor, u))
            .collect();
        let unlinked_total = unlinked.len();
        let unlinked_held = unlinked.iter().filter(|u| !u.alerted).count();
        unlinked.truncate(ROWS_SHOWN);
        let mut cases = self.store.case_standings().await?;
        cases.sort_by(|a, b| {
            b.stage
                .cmp(&a.stage)
                .then_with(|| a.case.id.cmp(&b.case.id))
        });
        let at_risk = riskiest(&cases, self.store.case_risks(None).await?);
        Ok(DigestContent {
            day: until.date_naive(),
            since,
            until,
            review,
            review_total,
            unlinked,
            unlinked_total,
            unlinked_held,
            cases,
            at_risk,
        })
    }

    /// Runs until `shutdown`: queues each day's digest when it is due.
    pub async fn run(self, shutdown: CancellationToken) {
        info!(at = %self.config.at, time_zone = %self.zone(Utc::now()), "digest task started");
        loop {
            let now = Utc::now();
            let span = info_span!("digest");
            if let Err(e) = self.send_due(now).instrument(span).await {
                error!(error = %e, "cannot prepare the digest; will try again");
            }
            let wait = self.until_next_look(now);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        info!("digest task stopped");
    }

    /// Until the next digest time, or [`LOOK_EVERY`] when that is sooner.
    fn until_next_look(&self, now: DateTime<Utc>) -> std::time::Duration {
        let next = self.today_at(now).map(|due| {
            if due > now {
                due
            } else {
                due + Duration::days(1)
            }
        });
        next.and_then(|next| (next.with_timezone(&Utc) - now).to_std().ok())
            .map_or(LOOK_EVERY, |wait| wait.min(LOOK_EVERY))
    }
}

/// The open cases with nothing public yet whose stored risk is the highest.
fn riskiest(cases: &[CaseStanding], risks: Vec<crate::store::CaseRisk>) -> Vec<RiskyCase> {
    let mut risks: std::collections::HashMap<String, Risk> =
        risks.into_iter().map(|r| (r.case_id, r.risk)).collect();
    let mut risky: Vec<RiskyCase> = cases
        .iter()
        .filter(|standing| standing.stage.is_none())
        .filter_map(|standing| {
            let risk = risks.remove(&standing.case.id)?;
            (risk.score >= RISKY_FROM).then(|| RiskyCase {
                standing: standing.clone(),
                risk,
            })
        })
        .collect();
    risky.sort_by(|a, b| {
        b.risk
            .score
            .total_cmp(&a.risk.score)
            .then_with(|| natural_cmp(&a.standing.case.id, &b.standing.case.id))
    });
    risky.truncate(RISKY_SHOWN);
    risky
}

fn local_day(now: DateTime<Utc>, zone: FixedOffset) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// The outbox row: one per day, ever.
pub fn digest_alert(content: &DigestContent, ui: &Ui) -> NewAlert {
    let rendered = render_digest(content, ui);
    NewAlert {
        kind: AlertKind::Digest,
        case_id: None,
        brand: String::new(),
        dedupe_key: format!("digest:{}", content.day),
        message_id: format!("<outcry.digest.{}@outcry.local>", content.day),
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        created_at: content.until,
        facts: None,
    }
}

/// The stage a standing is at, as the catalogs' `kind` selector names it.
fn stage_kind(stage: Option<Stage>) -> &'static str {
    stage.map_or("none", Stage::as_str)
}

const STAGES: [Option<Stage>; 4] = [
    Some(Stage::Viral),
    Some(Stage::Spreading),
    Some(Stage::Surfaced),
    None,
];

fn cases_at(content: &DigestContent, stage: Option<Stage>) -> Vec<&CaseStanding> {
    content
        .cases
        .iter()
        .filter(|c| c.stage.map(|(s, _)| s) == stage)
        .collect()
}

pub fn subject(content: &DigestContent, ui: &Ui) -> String {
    let count = |stage| cases_at(content, Some(stage)).len();
    ui.t(
        "digest-subject",
        Args::new()
            .with("day", content.day.to_string())
            .num("review", content.review_total as f64)
            .count("unlinked", content.unlinked_total)
            .count("cases", content.cases.len())
            .count("viral", count(Stage::Viral))
            .count("spreading", count(Stage::Spreading))
            .count("surfaced", count(Stage::Surfaced)),
    )
}

/// One case in the list: its id (linked when the pages are reachable) and the rest of the
/// line: severity, brand, summary, since when at its stage, its public items.
#[derive(Debug, Serialize)]
struct CaseLine {
    id: String,
    url: Option<String>,
    line: String,
}

/// Severity, brand and summary: what a case is, in a line.
fn case_head(ui: &Ui, case: &Case) -> CaseLine {
    let mut line = String::new();
    if let Some(severity) = case.severity.as_deref().filter(|s| !s.trim().is_empty()) {
        line.push_str(&format!(" [{}]", render::severity(ui, severity)));
    }
    line.push_str(&format!(" {}", clip(&case.brand, 40)));
    if !case.summary.trim().is_empty() {
        line.push_str(&format!(" — {}", clip(&case.summary, SUMMARY_CHARS)));
    }
    CaseLine {
        id: clip(&case.id, 40),
        url: ui.case_url(&case.id),
        line,
    }
}

fn case_line(ui: &Ui, standing: &CaseStanding) -> CaseLine {
    let CaseLine { id, url, mut line } = case_head(ui, &standing.case);
    if let Some((_, at)) = standing.stage {
        line.push_str(" — ");
        line.push_str(&ui.t("digest-case-since", Args::new().with("at", ui.when(at))));
    }
    line.push_str(&ui.word("clause-separator"));
    line.push_str(
        &ui.t(
            "digest-case-items",
            Args::new()
                .num("confirmed", standing.confirmed_items as f64)
                .num("candidates", standing.candidate_items as f64),
        ),
    );
    CaseLine { id, url, line }
}

/// A case likely to go public: its line, its score, why, and the cluster it belongs to.
#[derive(Debug, Serialize)]
struct RiskyLine {
    case: CaseLine,
    score: String,
    reasons: Vec<String>,
    cluster: Option<String>,
}

fn risky_line(ui: &Ui, risky: &RiskyCase) -> RiskyLine {
    let (clusters, reasons): (Vec<&RiskReason>, Vec<&RiskReason>) = risky
        .risk
        .reasons
        .iter()
        .partition(|r| matches!(r, RiskReason::Cluster { .. }));
    RiskyLine {
        case: case_head(ui, &risky.standing.case),
        score: ui.t(
            "digest-risk-score",
            Args::new().with("score", facts::score(risky.risk.score)),
        ),
        reasons: reasons
            .into_iter()
            .map(|r| clip(&facts::risk_reason(ui, r), 300))
            .collect(),
        cluster: clusters.first().and_then(|c| facts::risk_cluster(ui, c)),
    }
}

/// A list of public items under a heading; the text and HTML parts show the same.
#[derive(Debug, Serialize)]
struct Section {
    heading: String,
    /// Each with a note (its case and score, or whether it was emailed).
    entries: Vec<EvidenceView>,
    more: Option<String>,
}

fn evidence_sections(ui: &Ui, content: &DigestContent) -> [Section; 2] {
    let review = Section {
        heading: ui.t(
            "digest-review-heading",
            Args::new().num("total", content.review_total as f64),
        ),
        entries: content
            .review
            .iter()
            .enumerate()
            .map(|(i, link)| {
                let note = ui.t(
                    "digest-review-note",
                    Args::new()
                        .with("case", clip(&link.case_id, 40))
                        .with("score", facts::score(link.item.link_score)),
                );
                evidence_view(ui, i + 1, &Evidence::of(&link.item), Some(note))
            })
            .collect(),
        more: more(ui, content.review.len(), content.review_total as usize),
    };
    let unlinked = Section {
        heading: ui.t(
            "digest-unlinked-heading",
            Args::new()
                .with("since", ui.when(content.since))
                .count("total", content.unlinked_total)
                .count("held", content.unlinked_held),
        ),
        entries: content
            .unlinked
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let note = ui.t(
                    "digest-unlinked-note",
                    Args::new()
                        .with("brand", clip(&u.brand, 40))
                        .with("emailed", if u.alerted { "yes" } else { "no" }),
                );
                let evidence = Evidence {
                    link_score: None,
                    ..Evidence::of(&u.item)
                };
                evidence_view(ui, i + 1, &evidence, Some(note))
            })
            .collect(),
        more: more(ui, content.unlinked.len(), content.unlinked_total),
    };
    [review, unlinked]
}

#[derive(Debug, Serialize)]
struct StageView {
    heading: String,
    cases: Vec<CaseLine>,
    more: Option<String>,
}

#[derive(Debug, Serialize)]
struct DigestView {
    subject: String,
    title: String,
    risk_heading: String,
    risky: Vec<RiskyLine>,
    sections: [Section; 2],
    cases_heading: String,
    stages: Vec<StageView>,
    links: Vec<PageLink>,
    signature: String,
}

pub fn render_digest(content: &DigestContent, ui: &Ui) -> RenderedEmail {
    let subject = subject(content, ui);
    let day = content.day.to_string();
    let view = DigestView {
        subject: subject.clone(),
        title: ui.t("digest-title", Args::new().with("day", day.clone())),
        risk_heading: ui.t(
            "digest-risk-heading",
            Args::new().count("count", content.at_risk.len()),
        ),
        risky: content.at_risk.iter().map(|r| risky_line(ui, r)).collect(),
        sections: evidence_sections(ui, content),
        cases_heading: ui.t(
            "digest-cases-heading",
            Args::new().count("count", content.cases.len()),
        ),
        stages: STAGES
            .iter()
            .map(|stage| {
                let cases = cases_at(content, *stage);
                StageView {
                    heading: ui.t(
                        "digest-stage-count",
                        Args::new()
                            .with("kind", stage_kind(*stage))
                            .count("count", cases.len()),
                    ),
                    cases: cases
                        .iter()
                        .take(ROWS_SHOWN)
                        .map(|s| case_line(ui, s))
                        .collect(),
                    more: more(ui, ROWS_SHOWN.min(cases.len()), cases.len()),
                }
            })
            .collect(),
        links: page_links(ui, None),
        signature: ui.t(
            "digest-signature",
            Args::new()
                .with("day", day)
                .with("at", ui.when(content.until)),
        ),
    };
    RenderedEmail {
        text: rendered_or(ui.render("digest.txt", &view), &subject),
        html: rendered_or(ui.render("digest.html", &view), &escape_html(&subject)),
        subject,
    }
}

/// An unlinked item worth a lead's look: one an `unlinked` alert went out for, or one that
/// reads as a complaint by the test the pipeline uses (those it held back past the hourly
/// cap). The digest and the pages show the same ones.
pub fn is_unlinked_complaint(assessor: &Assessor, u: &UnlinkedItem) -> bool {
    u.alerted || {
        let text = plain_text(u.item.title.as_deref(), u.item.body.as_deref());
        assessor.is_complaint(&fold(&text), u.item.channel)
    }
}
