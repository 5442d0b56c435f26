//! The daily digest: once a day at `[digest].at`, one email through the outbox with what
//! single alerts leave out — candidate links waiting for a lead's review, public complaints
//! that fit no case since the last digest (those held back by the hourly cap too), and the
//! open cases by stage. Its dedupe key names the day, so neither a restart nor a second
//! instance sends a second one.

use super::render::{
    clip, escape_html, evidence_html, evidence_text, html_start, when, Evidence, RenderedEmail,
};
use crate::assess::Assessor;
use crate::config::{AssessConfig, DigestConfig};
use crate::model::{AlertKind, Stage};
use crate::normalize::fold;
use crate::pipeline::plain_text;
use crate::store::{CaseStanding, NewAlert, ReviewLink, SharedStore, StoreError, UnlinkedItem};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use std::fmt::Write;
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
}

pub struct Digest {
    store: SharedStore,
    config: DigestConfig,
    assessor: Assessor,
    /// Woken when a digest is queued, so the delivery worker sends it at once.
    wake: Arc<Notify>,
}

impl Digest {
    pub fn new(
        store: SharedStore,
        config: DigestConfig,
        assess: AssessConfig,
        wake: Arc<Notify>,
    ) -> Digest {
        Digest {
            store,
            config,
            assessor: Assessor::new(assess),
            wake,
        }
    }

    /// Today's digest time, in the digest's time zone.
    fn today_at(&self, now: DateTime<Utc>) -> Option<DateTime<FixedOffset>> {
        let local = now.with_timezone(&self.config.time_zone);
        local
            .date_naive()
            .and_time(self.config.at)
            .and_local_timezone(self.config.time_zone)
            .single()
    }

    /// Queues today's digest when its time has come and no digest was queued since; true
    /// when this call queued it. A daemon that was down at that time sends it when it starts.
    pub async fn send_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(due) = self.today_at(now).filter(|due| *due <= now) else {
            return Ok(false);
        };
        let last = self.store.last_alert_at(AlertKind::Digest).await?;
        if last.is_some_and(|last| last >= due) {
            return Ok(false);
        }
        let content = self.compose(now, last).await?;
        let queued = self.store.queue_alert(&digest_alert(&content)).await?;
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

    /// Gathers the digest as of `now`, the unlinked complaints since `last` (the previous
    /// digest), or over the last day for the first one.
    pub async fn compose(
        &self,
        now: DateTime<Utc>,
        last: Option<DateTime<FixedOffset>>,
    ) -> Result<DigestContent, StoreError> {
        let until = now.with_timezone(&self.config.time_zone);
        let since = last
            .map(|t| t.with_timezone(&self.config.time_zone))
            .unwrap_or(until - Duration::hours(FIRST_WINDOW_HOURS));
        let (review, review_total) = self.store.review_links(ROWS_SHOWN as i64).await?;
        // The items that an `unlinked` alert went out for, and those that read as complaints
        // by the same test the pipeline uses: the ones it held back past the hourly cap.
        let mut unlinked: Vec<UnlinkedItem> = self
            .store
            .unlinked_items(since.with_timezone(&Utc), now, UNLINKED_READ)
            .await?
            .into_iter()
            .filter(|u| {
                u.alerted || {
                    let text = plain_text(u.item.title.as_deref(), u.item.body.as_deref());
                    self.assessor.is_complaint(&fold(&text), u.item.channel)
                }
            })
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
        })
    }

    /// Runs until `shutdown`: queues each day's digest when it is due.
    pub async fn run(self, shutdown: CancellationToken) {
        info!(at = %self.config.at, time_zone = %self.config.time_zone, "digest task started");
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

/// The outbox row: one per day, ever.
pub fn digest_alert(content: &DigestContent) -> NewAlert {
    let rendered = render_digest(content);
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
    }
}

fn stage_name(stage: Option<Stage>) -> &'static str {
    match stage {
        Some(Stage::Viral) => "VIRAL",
        Some(Stage::Spreading) => "SPREADING",
        Some(Stage::Surfaced) => "SURFACED",
        None => "NOT PUBLIC YET",
    }
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

pub fn subject(content: &DigestContent) -> String {
    let count = |stage| cases_at(content, Some(stage)).len();
    format!(
        "[outcry] DIGEST {}: {} links to review, {} unlinked complaints, {} open cases ({} viral, {} spreading, {} surfaced)",
        content.day,
        content.review_total,
        content.unlinked_total,
        content.cases.len(),
        count(Stage::Viral),
        count(Stage::Spreading),
        count(Stage::Surfaced),
    )
}

/// One line about a case: id, severity, summary, since when at its stage, its public items.
fn case_line(standing: &CaseStanding) -> String {
    let case = &standing.case;
    let mut line = clip(&case.id, 40);
    if let Some(severity) = case.severity.as_deref().filter(|s| !s.trim().is_empty()) {
        let _ = write!(line, " [{}]", clip(severity, 20));
    }
    let _ = write!(line, " {}", clip(&case.brand, 40));
    if !case.summary.trim().is_empty() {
        let _ = write!(line, " — {}", clip(&case.summary, SUMMARY_CHARS));
    }
    if let Some((_, at)) = standing.stage {
        let _ = write!(line, " — since {}", when(at));
    }
    let _ = write!(
        line,
        "; {} linked public items, {} waiting for review",
        standing.confirmed_items, standing.candidate_items
    );
    line
}

fn more(shown: usize, total: usize) -> Option<String> {
    (total > shown).then(|| format!("… and {} more", total - shown))
}

/// A list of public items under a heading; the text and HTML parts show the same.
struct Section {
    heading: String,
    /// A note on each item (its case and score, or whether it was emailed) and the item.
    entries: Vec<(String, Evidence)>,
    more: Option<String>,
}

fn evidence_sections(content: &DigestContent) -> [Section; 2] {
    let review = Section {
        heading: format!("Links waiting for review ({})", content.review_total),
        entries: content
            .review
            .iter()
            .map(|link| {
                let note = format!(
                    "case {} — candidate link, score {:.2}",
                    clip(&link.case_id, 40),
                    link.item.link_score
                );
                (note, Evidence::of(&link.item))
            })
            .collect(),
        more: more(content.review.len(), content.review_total as usize),
    };
    let unlinked = Section {
        heading: format!(
            "Unlinked complaints since {} ({}; {} held back from single emails)",
            when(content.since),
            content.unlinked_total,
            content.unlinked_held
        ),
        entries: content
            .unlinked
            .iter()
            .map(|u| {
                let sent = if u.alerted {
                    "emailed on its own"
                } else {
                    "not emailed on its own"
                };
                let evidence = Evidence {
                    link_score: None,
                    ..Evidence::of(&u.item)
                };
                (format!("{} — {sent}", clip(&u.brand, 40)), evidence)
            })
            .collect(),
        more: more(content.unlinked.len(), content.unlinked_total),
    };
    [review, unlinked]
}

pub fn render_digest(content: &DigestContent) -> RenderedEmail {
    RenderedEmail {
        subject: subject(content),
        text: render_text(content),
        html: render_html(content),
    }
}

fn render_text(content: &DigestContent) -> String {
    let mut t = format!("{}\n\n", subject(content));
    for section in evidence_sections(content) {
        let _ = writeln!(t, "{}", section.heading.to_uppercase());
        if section.entries.is_empty() {
            let _ = writeln!(t, "none");
        }
        for (i, (note, evidence)) in section.entries.iter().enumerate() {
            t.push_str(&evidence_text(i + 1, evidence, Some(note)));
        }
        if let Some(more) = &section.more {
            let _ = writeln!(t, "{more}");
        }
        t.push('\n');
    }
    let _ = writeln!(t, "OPEN CASES BY STAGE ({})", content.cases.len());
    for stage in STAGES {
        let cases = cases_at(content, stage);
        let _ = writeln!(t, "{} ({})", stage_name(stage), cases.len());
        for standing in cases.iter().take(ROWS_SHOWN) {
            let _ = writeln!(t, "- {}", case_line(standing));
        }
        if let Some(more) = more(ROWS_SHOWN.min(cases.len()), cases.len()) {
            let _ = writeln!(t, "{more}");
        }
    }
    let _ = writeln!(
        t,
        "\n-- outcry digest for {}, {}",
        content.day,
        when(content.until)
    );
    t
}

fn render_html(content: &DigestContent) -> String {
    let e = escape_html;
    let mut h = html_start(&subject(content));
    let _ = write!(
        h,
        "<h2 style=\"color:#475569\">Daily digest — {}</h2>",
        e(&content.day.to_string())
    );
    for section in evidence_sections(content) {
        let _ = write!(h, "<h3>{}</h3>", e(&section.heading));
        if section.entries.is_empty() {
            h.push_str("<p>none</p>");
        } else {
            h.push_str("<ol>");
            for (note, evidence) in &section.entries {
                h.push_str(&evidence_html(evidence, Some(note)));
            }
            h.push_str("</ol>");
        }
        if let Some(more) = &section.more {
            let _ = write!(h, "<p>{}</p>", e(more));
        }
    }

    let _ = write!(h, "<h3>Open cases by stage ({})</h3>", content.cases.len());
    for stage in STAGES {
        let cases = cases_at(content, stage);
        let _ = write!(h, "<h4>{} ({})</h4>", stage_name(stage), cases.len());
        if cases.is_empty() {
            continue;
        }
        h.push_str("<ul>");
        for standing in cases.iter().take(ROWS_SHOWN) {
            let _ = write!(h, "<li>{}</li>", e(&case_line(standing)));
        }
        h.push_str("</ul>");
        if let Some(more) = more(ROWS_SHOWN.min(cases.len()), cases.len()) {
            let _ = write!(h, "<p>{}</p>", e(&more));
        }
    }
    let _ = write!(
        h,
        "<p style=\"color:#666;font-size:0.9em\">outcry digest for {}, {}</p></body></html>",
        e(&content.day.to_string()),
        e(&when(content.until))
    );
    h
}
