//! The poller: every source on its own interval with jitter (one timetable for all, each
//! poll a task of its own while it runs), so a slow or failing source never delays another.
//! A failing or blind source backs off exponentially up to a cap and keeps trying; it is
//! never dropped. Its health is recorded after every poll (crate::health), and sources with an `item_page` get a second task that re-reads the
//! pages of their items linked to open cases, so that engagement growth is seen.
//!
//! Instances sharing a store poll a source (and follow its item pages) only while they hold
//! its lease; a heartbeat renews this instance's leases, and one whose holder died expires
//! and is taken over, keeping the source's interval from its last poll by whichever
//! instance made it.

mod timetable;
mod unbranded;

pub use timetable::SourceAdder;
use timetable::Timetable;
use unbranded::Unbranded;

use crate::config::{ItemPageConfig, SourceConfig};
use crate::extract::{decode, extract, html, ExtractError, ExtractedItem};
use crate::fetch::{
    backoff, FetchError, FetchOutcome, Fetcher, RequestOptions, UrlFrom, Validators,
};
use crate::health::{self, Notice, PollResult};
use crate::metrics::Metrics;
use crate::model::Observation;
use crate::pipeline::{Pipeline, PipelineError, Processed};
use crate::present::Ui;
use crate::store::{LeaseCondition, RecordedPoll, SharedStore, SourceState, StoreError};
use chrono::Utc;
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};

/// Item pages re-read per source and round, at most: the per-host spacing makes each one
/// cost a delay, and only the newest linked items matter for growth.
const MAX_FOLLOWED: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("fetch failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("cannot extract items: {0}")]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The site answered, but with no content for us (crate::health).
    #[error("blind: {reason}")]
    Blind {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Shutdown came before the poll wrote anything: it is dropped, to be made again.
    #[error("stopped: the daemon is shutting down")]
    Stopped,
}

impl PollError {
    /// The poll's source lease was lost before its results were committed.
    fn lease_lost(&self) -> bool {
        matches!(
            self,
            PollError::Store(StoreError::LeaseLost { .. })
                | PollError::Pipeline(PipelineError::Store(StoreError::LeaseLost { .. }))
        )
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Fetch(e) => e.retry_after(),
            PollError::Blind { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What one poll found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub not_modified: bool,
    pub items: usize,
    pub pages: usize,
    pub alerts: usize,
    /// What was repaired to read an ill-formed feed (the first page that needed it).
    pub repaired: Option<String>,
}

/// One page a read fetched.
#[derive(Debug, Clone)]
pub struct PageRead {
    pub url: url::Url,
    pub items: usize,
    pub encoding: &'static encoding_rs::Encoding,
    pub decode_errors: bool,
    /// Selectors that matched in no item on this page.
    pub unmatched: Vec<&'static str>,
    /// What had to be repaired to read this page as a feed.
    pub repaired: Option<String>,
}

/// What reading a source once (all its pages) gave, before the pipeline.
#[derive(Debug, Default)]
pub struct SourceRead {
    pub not_modified: bool,
    /// Every page's items, each guid once.
    pub items: Vec<ExtractedItem>,
    /// The first page's validators, for the next conditional GET.
    pub validators: Validators,
    pub pages: Vec<PageRead>,
    /// Why the source looks blind (a login wall on the page, or suddenly no items).
    pub blind: Option<String>,
}

/// Fetches a source's first page (conditionally, with `validators`) and, when it has a
/// `next_page` selector, the following pages of the same host up to its page cap.
/// `previous_items` (what the last read found) tells sudden emptiness from a quiet source.
pub async fn read_source(
    fetcher: &Fetcher,
    source: &SourceConfig,
    validators: &Validators,
    previous_items: Option<i64>,
) -> Result<SourceRead, PollError> {
    let options = RequestOptions::for_source(source)?;
    let mut read = SourceRead::default();
    let mut url = source.url.clone();
    let mut seen_pages = HashSet::new();
    let mut seen_guids = HashSet::new();
    for page in 0..source.pages() {
        let first = page == 0;
        let conditional = if first {
            validators.clone()
        } else {
            Validators::default()
        };
        let from = if first {
            UrlFrom::Config
        } else {
            UrlFrom::Content
        };
        let fetched = match fetcher.fetch_with(&url, &conditional, &options, from).await {
            Ok(FetchOutcome::Fetched(fetched)) => fetched,
            Ok(FetchOutcome::NotModified) => {
                read.not_modified = first;
                break;
            }
            Err(FetchError::Status {
                status,
                retry_after,
                snippet,
            }) if first => {
                return Err(
                    match health::blind_status(status, &snippet, &source.blind_markers) {
                        Some(reason) => PollError::Blind {
                            reason,
                            retry_after,
                        },
                        None => PollError::Fetch(FetchError::Status {
                            status,
                            retry_after,
                            snippet,
                        }),
                    },
                );
            }
            Err(e) if first => return Err(e.into()),
            Err(e) => {
                // The first page decides the source's health; a later one failing only
                // shortens this read.
                warn!(page = page + 1, error = %e, "next page not read");
                break;
            }
        };
        seen_pages.insert(fetched.final_url.clone());
        let extraction = extract(
            source,
            &fetched.bytes,
            fetched.content_type.as_deref(),
            &fetched.final_url,
        )?;
        if extraction.decode_errors {
            warn!(
                encoding = extraction.encoding.name(),
                "page text had bytes that do not decode; some characters are replaced"
            );
        }
        if first {
            read.validators = fetched.validators;
            read.blind = match (&extraction.blind_marker, extraction.items.len()) {
                (Some(marker), 0) => Some(format!("the page shows \"{marker}\"")),
                (None, 0) if !source.allow_empty => previous_items
                    .filter(|n| *n > 0)
                    .map(|n| format!("no items, where the last read found {n}")),
                _ => None,
            };
        }
        read.pages.push(PageRead {
            url: fetched.final_url.clone(),
            items: extraction.items.len(),
            encoding: extraction.encoding,
            decode_errors: extraction.decode_errors,
            unmatched: extraction.unmatched,
            repaired: extraction.repaired,
        });
        read.items.extend(
            extraction
                .items
                .into_iter()
                .filter(|item| seen_guids.insert(item.guid.clone())),
        );
        // Only onward to hosts the source may follow, and never back to a page already read.
        match extraction.next_page {
            Some(next) if options.may_follow(&next) && !seen_pages.contains(&next) => {
                url = next.to_string();
            }
            _ => break,
        }
    }
    Ok(read)
}

/// Everything the source tasks share.
pub struct Poller {
    pub store: SharedStore,
    pub fetcher: Fetcher,
    pub pipeline: Mutex<Pipeline>,
    pub metrics: Arc<Metrics>,
    /// Woken when a poll queued an alert, so delivery need not wait for its next look.
    pub alert_queued: Arc<Notify>,
    /// Unix seconds of the last sign of life of any source task, for /healthz.
    pub heartbeat: AtomicI64,
    pub backoff_max: Duration,
    /// How long a source may fail or be blind before the operator is mailed; `None` when no
    /// operator address is configured.
    pub source_down_after: Option<Duration>,
    /// This instance's name on its source leases.
    pub instance: String,
    /// How long a lease outlives this instance's last heartbeat.
    pub lease: Duration,
    /// How operator mails are worded.
    pub ui: Ui,
    pub book: Bookkeeping,
}

/// What this instance remembers between polls, so that a poll which finds nothing new
/// costs no statement of its own: leases are renewed by the heartbeat in bulk, and polls
/// are recorded in batches.
#[derive(Default)]
pub struct Bookkeeping {
    /// Until when (this instance's clock) each lease it holds surely lasts: from the grant
    /// or the heartbeat's last renewal, both no earlier than the database's statement.
    held: std::sync::Mutex<HashMap<String, Instant>>,
    /// Successful polls not yet recorded, oldest first.
    unrecorded: std::sync::Mutex<Vec<RecordedPoll>>,
    /// Held while source states are written, so that a batch taken before a source's
    /// failure or pause was saved cannot land after it and undo it.
    writing: tokio::sync::Mutex<()>,
    /// The newest case revision seen (by the heartbeat, or the pipeline as it decided):
    /// what sources remember of unbranded items holds only under it.
    cases_revision: AtomicI64,
}

/// What this instance keeps of a source between its polls.
#[derive(Default)]
struct Kept {
    /// The source's state as this instance last wrote it: None until read from the store.
    state: Option<SourceState>,
    unbranded: Unbranded,
    /// Whether the wait after a poll already placed this source at a random point of its
    /// interval (see [`wait_after_poll`]).
    placed: bool,
}

impl Bookkeeping {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes room for the leases of `sources` sources at once.
    fn expect_sources(&self, sources: usize) {
        self.held().reserve(sources);
    }

    fn unrecorded(&self) -> std::sync::MutexGuard<'_, Vec<RecordedPoll>> {
        self.unrecorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How often successful polls are written, in one transaction for all of them.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// Interval jitter is ±10%; a poll may come this early after the last one, and no earlier.
const EARLIEST: f64 = 0.9;

/// A fetch starts only while at least this share of the lease is left: should the store
/// stall from then on, the fetch is over long before another instance could take the source.
const LEASE_LEFT_TO_FETCH: f64 = 0.5;

impl Poller {
    /// Starts polling `sources` (and what the returned adder adds), the batched recording
    /// of polls and the heartbeat; all stop when `shutdown` is cancelled.
    pub fn spawn(
        self: &Arc<Self>,
        sources: Vec<(SourceConfig, Duration)>,
        shutdown: CancellationToken,
    ) -> (JoinSet<()>, SourceAdder) {
        let mut tasks = JoinSet::new();
        let (timetable, adder) = Timetable::new(Arc::clone(self));
        tasks.spawn(timetable.run(sources, shutdown.clone()));
        let (poller, stop) = (Arc::clone(self), shutdown.clone());
        // Apart from the heartbeat: a stalled store must not stop the beats /healthz reads.
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(RECORD_EVERY) => {}
                }
                poller.record_polls().await;
            }
        });
        let poller = Arc::clone(self);
        tasks.spawn(async move {
            // Beats even with zero sources: "alive" means the runtime schedules our tasks.
            let mut renewed = Instant::now();
            loop {
                poller.beat();
                if renewed.elapsed() >= poller.lease / 3 {
                    poller.renew_leases().await;
                    poller.note_cases_revision().await;
                    renewed = Instant::now();
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1).min(poller.lease / 3)) => {}
                }
            }
        });
        (tasks, adder)
    }

    /// Cases imported or changed elsewhere reach the pipeline at its next decision; this
    /// look makes sources forget the unbranded items they remember by then, even when none
    /// of them has anything new to decide.
    async fn note_cases_revision(&self) {
        match self.store.cases_revision().await {
            Ok(revision) => self.saw_cases_revision(Some(revision)),
            Err(e) => error!(error = %e, "cannot read the case revision"),
        }
    }

    fn saw_cases_revision(&self, revision: Option<i64>) {
        if let Some(revision) = revision {
            self.book
                .cases_revision
                .fetch_max(revision, Ordering::Relaxed);
        }
    }

    async fn renew_leases(&self) {
        let asked = Instant::now();
        if let Err(e) = self.store.renew_leases(&self.instance, self.lease).await {
            error!(error = %e, "cannot renew source leases");
            return;
        }
        // A lease surely unexpired when the statement ended was unexpired when it ran, so it
        // was renewed; any other may have expired and is taken again before its next poll.
        let done = Instant::now();
        self.book.held().retain(|_, until| {
            let renewed = *until > done;
            if renewed {
                *until = (*until).max(asked + self.lease);
            }
            renewed
        });
    }

    /// Writes the successful polls made since the last call, in one transaction. A source
    /// whose lease was lost meanwhile is taken again (and its state read) before its next
    /// poll; when the store fails, the polls wait for the next call.
    pub async fn record_polls(&self) {
        let _writing = self.book.writing.lock().await;
        let polls = std::mem::take(&mut *self.book.unrecorded());
        if polls.is_empty() {
            return;
        }
        let mut polls = newest_of_each(polls);
        match self.store.record_polls(&self.instance, &polls).await {
            Ok(recorded) => {
                if recorded.len() < polls.len() {
                    let recorded: HashSet<String> = recorded.into_iter().collect();
                    let mut held = self.book.held();
                    for name in polls.iter().map(RecordedPoll::name) {
                        if !recorded.contains(name) {
                            warn!(source = %name, "lease lost after the poll; poll not recorded");
                            held.remove(name);
                        }
                    }
                }
            }
            Err(e) => {
                error!(error = %e, polls = polls.len(), "cannot record polls; trying again");
                let mut unrecorded = self.book.unrecorded();
                polls.append(&mut unrecorded);
                *unrecorded = polls;
            }
        }
    }

    /// Hands this instance's sources to the others at once, after recording its last polls
    /// so that they keep the sources' intervals; for after the source tasks stopped.
    pub async fn release_leases(&self) {
        self.record_polls().await;
        self.book.held().clear();
        if let Err(e) = self.store.release_leases(&self.instance).await {
            warn!(error = %e, "cannot release source leases; they expire on their own");
        }
    }

    /// Takes or keeps the source's lease. When this instance may poll now, Ok with the
    /// moment by this instance's clock until which the lease is surely held; otherwise how
    /// long to wait before asking again.
    async fn take_turn(
        &self,
        source: &SourceConfig,
        interval: Duration,
    ) -> Result<Instant, Duration> {
        let asked = Instant::now();
        let lease = self
            .store
            .lease_source(&source.name, &self.instance, self.lease)
            .await;
        match lease {
            Ok(Some(lease)) => {
                self.book
                    .held()
                    .insert(source.name.clone(), asked + lease.remaining());
                // Both times are the database's, so instances' clocks never disagree here.
                let since_poll = lease
                    .last_polled
                    .and_then(|last| (lease.granted_at - last).to_std().ok());
                match since_poll.and_then(|since| interval.mul_f64(EARLIEST).checked_sub(since)) {
                    Some(wait) if !wait.is_zero() => Err(wait),
                    // Granted no earlier than it was asked for, so it lasts at least this long.
                    _ => Ok(asked + lease.remaining()),
                }
            }
            Ok(None) => {
                self.book.held().remove(&source.name);
                debug!("leased by another instance");
                Err(self.lease.min(interval))
            }
            Err(e) => {
                error!(error = %e, "cannot lease source");
                Err(Duration::from_secs(5).min(interval))
            }
        }
    }

    fn beat(&self) {
        self.heartbeat
            .store(Utc::now().timestamp(), Ordering::Relaxed);
    }

    /// Seconds since the scheduler last showed life.
    pub fn seconds_since_heartbeat(&self) -> i64 {
        Utc::now().timestamp() - self.heartbeat.load(Ordering::Relaxed)
    }

    /// Takes the lease if need be and polls; returns the wait before the next turn.
    async fn turn(
        &self,
        source: &SourceConfig,
        interval: Duration,
        kept: &mut Kept,
        shutdown: &CancellationToken,
    ) -> Duration {
        let held_until = match self.holding(&source.name) {
            Some(held_until) => held_until,
            None => {
                kept.state = None;
                match self.take_turn(source, interval).await {
                    Ok(held_until) => held_until,
                    Err(not_yet) => return not_yet,
                }
            }
        };
        match self
            .poll_and_record(source, kept, held_until, shutdown)
            .await
        {
            Ok(()) => wait_after_poll(interval, std::mem::replace(&mut kept.placed, true)),
            Err(failures_and_delay) => failures_and_delay,
        }
    }

    /// Whether enough of the lease is left to start fetching: the store may have stalled
    /// since the lease was taken (`held_until`, from [`Poller::take_turn`]).
    fn may_fetch(&self, held_until: Instant) -> bool {
        held_until.saturating_duration_since(Instant::now())
            >= self.lease.mul_f64(LEASE_LEFT_TO_FETCH)
    }

    /// Until when this instance surely holds the source's lease, when enough of it is left
    /// to fetch without asking the store.
    fn holding(&self, name: &str) -> Option<Instant> {
        let held_until = self.book.held().get(name).copied()?;
        self.may_fetch(held_until).then_some(held_until)
    }

    /// The condition a poll's commit carries: this instance still holds the source.
    fn lease_condition(&self, source: &SourceConfig) -> LeaseCondition {
        LeaseCondition {
            source: source.name.clone(),
            owner: self.instance.clone(),
            extend: self.lease,
        }
    }

    /// Polls once and records the outcome and the source's health. Returns the back-off
    /// delay on failure, the rest of a pause its host asked for, or no delay when the lease
    /// must be taken again first. The source's state is read from the store unless `kept`
    /// has it from this instance's last poll.
    async fn poll_and_record(
        &self,
        source: &SourceConfig,
        kept: &mut Kept,
        held_until: Instant,
        shutdown: &CancellationToken,
    ) -> Result<(), Duration> {
        let started = Instant::now();
        let Kept {
            state: cached,
            unbranded,
            ..
        } = kept;
        let state = match cached {
            Some(state) => state,
            None => match self.store.source_state(&source.name).await {
                Ok(state) => cached.insert(state.unwrap_or_else(|| SourceState {
                    name: source.name.clone(),
                    ..SourceState::default()
                })),
                Err(e) => {
                    error!(error = %e, "cannot read source state");
                    return Err(backoff(1, Duration::from_secs(5), self.backoff_max, None));
                }
            },
        };
        if !self.may_fetch(held_until) {
            warn!("source lease ran short before the fetch; taking it again first");
            return Err(Duration::ZERO);
        }
        let result = self.poll(source, state, unbranded, shutdown).await;
        if result.as_ref().is_err_and(PollError::lease_lost) {
            // Another instance may hold the source now; it polls and records it.
            warn!("lease lost during the poll; its results are dropped");
            self.book.held().remove(&source.name);
            *cached = None;
            return Err(Duration::ZERO);
        }
        let (outcome, health) = match &result {
            Err(PollError::Stopped) => return Ok(()),
            // Nothing was asked of the site: another source's answer paused its host. That
            // is neither a poll nor this source's failure.
            Err(PollError::Fetch(FetchError::HostPaused { host, remaining })) => {
                debug!(host = %host, retry_in = ?remaining, "host paused; not polled");
                let until = Utc::now()
                    + chrono::Duration::from_std(*remaining).unwrap_or(chrono::Duration::MAX);
                let health = PollResult::Paused {
                    until,
                    host: host.clone(),
                };
                self.record_health(source, state, &health, false).await;
                return Err(*remaining);
            }
            _ => {
                self.metrics.polled(
                    &source.name,
                    started.elapsed().as_secs_f64(),
                    result.is_ok(),
                );
                self.outcome(state, &result)
            }
        };
        self.record_health(source, state, &health, outcome.is_ok())
            .await;
        outcome
    }

    /// The delay before the next poll and the health a finished poll's `result` gives.
    fn outcome(
        &self,
        state: &SourceState,
        result: &Result<PollReport, PollError>,
    ) -> (Result<(), Duration>, PollResult) {
        match result {
            Ok(report) => {
                if report.items > 0 || report.alerts > 0 {
                    info!(
                        items = report.items,
                        pages = report.pages,
                        alerts = report.alerts,
                        "polled"
                    );
                }
                let items = (!report.not_modified).then_some(report.items);
                let repaired = report.repaired.clone();
                (Ok(()), PollResult::Ok { items, repaired })
            }
            Err(e) => {
                let failures =
                    u32::try_from(state.consecutive_failures.saturating_add(1)).unwrap_or(u32::MAX);
                let delay = backoff(
                    failures,
                    Duration::from_secs(5),
                    self.backoff_max,
                    e.retry_after(),
                );
                let health = match e {
                    PollError::Blind { reason, .. } => {
                        warn!(reason = %reason, failures, retry_in = ?delay, "source is blind");
                        PollResult::Blind(reason.clone())
                    }
                    _ => {
                        warn!(error = %e, failures, retry_in = ?delay, "poll failed");
                        PollResult::Failed(e.to_string())
                    }
                };
                (Err(delay), health)
            }
        }
    }

    /// Saves the source's new state; when the change of health calls for an operator email,
    /// queues it in the same transaction. A successful poll (`polled`) is recorded with its
    /// state in the next batch ([`Poller::record_polls`]): only successes count towards the
    /// interval, since a failing source keeps its back-off, which may be shorter.
    async fn record_health(
        &self,
        source: &SourceConfig,
        state: &mut SourceState,
        result: &PollResult,
        polled: bool,
    ) {
        let now = Utc::now();
        let outage_start = state.failing_since;
        let quiet = health::only_times_change(state, result);
        let notice = health::apply(
            state,
            result,
            now,
            self.source_down_after.unwrap_or(Duration::MAX),
            self.source_down_after.is_some(),
        );
        let alert = notice.and_then(|notice| {
            let start = match notice {
                Notice::Down => state.failing_since,
                Notice::Recovered => outage_start,
            }?;
            Some(health::operator_alert(
                notice,
                state,
                &source.url,
                start,
                now,
                &self.ui,
            ))
        });
        // The state saved below carries every earlier poll of the source; a batched one
        // still queued would only overwrite it with older news.
        let _writing = if polled && alert.is_none() {
            None
        } else {
            let writing = self.book.writing.lock().await;
            self.book.unrecorded().retain(|p| p.name() != source.name);
            Some(writing)
        };
        let saved = match &alert {
            Some(alert) => self
                .store
                .save_source_state_with_alert(state, alert)
                .await
                .map(|queued| {
                    if queued {
                        info!(kind = %alert.kind, "operator alert queued");
                        self.alert_queued.notify_one();
                    }
                }),
            None if polled => Ok(()),
            None => self.store.save_source_state(state).await,
        };
        if let Err(e) = saved {
            error!(error = %e, "cannot save source state");
        }
        if polled {
            self.book.unrecorded().push(if quiet {
                RecordedPoll::Quiet(source.name.clone())
            } else {
                RecordedPoll::Changed(state.clone())
            });
        }
    }

    /// Reads, extracts and processes one source. Validators are only advanced after every
    /// item went through (and never to a blind page), so a crash mid-poll refetches the same
    /// items next time.
    ///
    /// Shutdown cancels the read (waits at host gates and fetches alike), never the
    /// processing after it: that commits whole or rolls back.
    async fn poll(
        &self,
        source: &SourceConfig,
        state: &mut SourceState,
        unbranded: &mut Unbranded,
        shutdown: &CancellationToken,
    ) -> Result<PollReport, PollError> {
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        let read = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Err(PollError::Stopped),
            read = read_source(&self.fetcher, source, &validators, state.last_items) => read?,
        };
        if read.not_modified {
            return Ok(PollReport {
                not_modified: true,
                ..PollReport::default()
            });
        }
        if let Some(reason) = read.blind {
            return Err(PollError::Blind {
                reason,
                retry_after: None,
            });
        }
        let fetched_at = Utc::now().fixed_offset();
        let mut report = PollReport {
            items: read.items.len(),
            pages: read.pages.len(),
            repaired: read.pages.iter().find_map(|p| p.repaired.clone()),
            ..PollReport::default()
        };
        if let Some(repaired) = &report.repaired {
            warn!(repaired = %repaired, "the feed is ill-formed; its items were read after repair");
        }
        let observations: Vec<Observation> = read
            .items
            .into_iter()
            .map(|item| Observation {
                source: source.name.clone(),
                channel: source.channel,
                guid: item.guid,
                url: item.url,
                title: item.title,
                body: item.body,
                author: item.author,
                author_followers: item.author_followers,
                published_at: item.published_at,
                fetched_at,
                engagement: item.engagement,
            })
            .collect();
        let revision = self.book.cases_revision.load(Ordering::Relaxed);
        let (fresh, known) = unbranded.sort_out(observations, revision);
        if fresh.is_empty() {
            // Nothing to decide: no statement, and not even the pipeline's lock.
            debug!(
                items = known.len(),
                "every item read is known to mention no brand"
            );
            unbranded.remember(known, std::iter::empty(), Some(revision));
        } else {
            let processed = self.process(source, &fresh).await?;
            report.alerts = processed.alerts();
            let found = processed.unbranded.iter().filter_map(|&i| fresh.get(i));
            unbranded.remember(known, found, processed.cases_revision);
        }
        state.etag = read.validators.etag;
        state.last_modified = read.validators.last_modified;
        Ok(report)
    }

    /// Runs observations of `source` through the pipeline, committing them only while this
    /// instance holds the source's lease.
    async fn process(
        &self,
        source: &SourceConfig,
        observations: &[Observation],
    ) -> Result<Processed, PollError> {
        let processed = {
            let mut pipeline = self.pipeline.lock().await;
            pipeline.refresh_cases().await?;
            pipeline
                .process_leased(observations, Some(self.lease_condition(source)))
                .await?
        };
        self.metrics.processed(&processed.events);
        self.saw_cases_revision(processed.cases_revision);
        if processed.alerts() > 0 {
            self.alert_queued.notify_one();
        }
        Ok(processed)
    }

    /// Every `item_page.interval`, re-reads the pages of the source's items linked to open
    /// cases and records their engagement as new observations.
    async fn follow_items(
        &self,
        source: &SourceConfig,
        item_page: &ItemPageConfig,
        shutdown: CancellationToken,
    ) {
        loop {
            let wait = item_page
                .interval
                .mul_f64(1.0 + rand::thread_rng().gen_range(-0.1..0.1));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            // Item pages go with the source: only its lease holder reads them.
            let held_until = match self.holding(&source.name) {
                Some(held_until) => held_until,
                None => match self.take_turn(source, Duration::ZERO).await {
                    Ok(held_until) => held_until,
                    Err(_) => continue,
                },
            };
            if !self.may_fetch(held_until) {
                continue;
            }
            match self.refresh_item_pages(source, item_page, &shutdown).await {
                Ok((read, alerts)) if read > 0 => info!(items = read, alerts, "item pages read"),
                Ok(_) => {}
                Err(PollError::Stopped) => return,
                Err(e) => warn!(error = %e, "item pages not read"),
            }
        }
    }

    /// One round of [`Poller::follow_items`]; returns the pages read and the alerts queued.
    /// Shutdown drops the round before it writes anything.
    pub async fn refresh_item_pages(
        &self,
        source: &SourceConfig,
        item_page: &ItemPageConfig,
        shutdown: &CancellationToken,
    ) -> Result<(usize, usize), PollError> {
        let max_age =
            chrono::Duration::from_std(item_page.max_age).unwrap_or(chrono::Duration::MAX);
        let since = Utc::now()
            .checked_sub_signed(max_age)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let mut followed = self.store.followed_items(&source.name, since).await?;
        // The newest items matter most for growth.
        let skip = followed.len().saturating_sub(MAX_FOLLOWED);
        followed.drain(..skip);
        let options = RequestOptions::for_source(source)?;
        let mut observations = Vec::new();
        let unconditional = Validators::default();
        for item in followed {
            let span = info_span!("item_page", guid = %item.guid);
            let counts = async {
                let fetch =
                    self.fetcher
                        .fetch_with(&item.url, &unconditional, &options, UrlFrom::Content);
                let fetched = match tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return Err(PollError::Stopped),
                    fetched = fetch => fetched?,
                } {
                    FetchOutcome::Fetched(fetched) => fetched,
                    FetchOutcome::NotModified => return Ok(None),
                };
                let text = decode(&fetched.bytes, fetched.content_type.as_deref()).text;
                Ok::<_, PollError>(Some(html::extract_counts(&text, item_page)?))
            }
            .instrument(span.clone())
            .await;
            if matches!(counts, Err(PollError::Stopped)) {
                return Err(PollError::Stopped);
            }
            let observation = span.in_scope(|| match counts {
                Ok(Some((engagement, followers)))
                    if engagement.reposts.is_some()
                        || engagement.comments.is_some()
                        || engagement.likes.is_some()
                        || engagement.views.is_some()
                        || followers.is_some() =>
                {
                    Some(Observation {
                        source: source.name.clone(),
                        channel: source.channel,
                        guid: item.guid,
                        url: Some(item.url),
                        title: item.title,
                        body: item.body,
                        author: item.author,
                        author_followers: followers,
                        published_at: item.published_at,
                        fetched_at: Utc::now().fixed_offset(),
                        engagement,
                    })
                }
                Ok(Some(_)) => {
                    warn!("no item_page selector matched on the item's page");
                    None
                }
                Ok(None) => None,
                Err(e) => {
                    warn!(error = %e, "item page not read");
                    None
                }
            });
            observations.extend(observation);
        }
        let read = observations.len();
        let alerts = if read > 0 {
            self.process(source, &observations).await?.alerts()
        } else {
            0
        };
        Ok((read, alerts))
    }
}

/// One poll per source, as a statement may write a row only once: the newest state of each
/// (a quiet poll after it adds only a time, which the batch records anyway), or its quiet
/// poll. Oldest first in, in no particular order out.
fn newest_of_each(polls: Vec<RecordedPoll>) -> Vec<RecordedPoll> {
    let mut newest: HashMap<String, RecordedPoll> = HashMap::with_capacity(polls.len());
    for poll in polls {
        match newest.get(poll.name()) {
            Some(RecordedPoll::Changed(_)) if matches!(poll, RecordedPoll::Quiet(_)) => {}
            _ => {
                newest.insert(poll.name().to_string(), poll);
            }
        }
    }
    newest.into_values().collect()
}

/// The wait after a successful poll: the interval ±10 %, except after a source's first
/// success (`placed` false), when it is the earliest allowed wait plus a random share of one
/// interval. A start polls every source within a short spread (timetable::start_spread), and
/// ±10 % alone would keep their polls in that burst for hours: 10,000 sources a minute as
/// 500 polls a second for 20 s, then nothing. A random share of the interval on top of any
/// first poll time makes the sources' places in their interval uniform from then on.
fn wait_after_poll(interval: Duration, placed: bool) -> Duration {
    let mut rng = rand::thread_rng();
    if placed {
        interval.mul_f64(1.0 + rng.gen_range(-0.1..0.1))
    } else {
        interval.mul_f64(EARLIEST + rng.gen_range(0.0..1.0))
    }
}

fn jitter(max: Duration) -> Duration {
    max.mul_f64(rand::thread_rng().gen_range(0.0..1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(name: &str, items_seen: i64) -> RecordedPoll {
        RecordedPoll::Changed(SourceState {
            name: name.into(),
            items_seen,
            ..SourceState::default()
        })
    }

    fn quiet(name: &str) -> RecordedPoll {
        RecordedPoll::Quiet(name.into())
    }

    #[test]
    fn sources_started_in_a_burst_poll_evenly_over_their_interval_after_their_first_poll() {
        let interval = Duration::from_secs(60);
        let mut tenths = [0usize; 10];
        for source in 0..10_000u32 {
            // All first polls within the first fifth of the interval, as at a start.
            let first = interval.mul_f64(0.2 * f64::from(source) / 10_000.0);
            let wait = wait_after_poll(interval, false);
            assert!(wait >= interval.mul_f64(EARLIEST), "{wait:?}");
            let second = (first + wait).as_secs_f64() % interval.as_secs_f64();
            tenths[(second / interval.as_secs_f64() * 10.0) as usize] += 1;
        }
        assert!(
            tenths.iter().all(|&n| (800..1200).contains(&n)),
            "second polls by tenth of the interval: {tenths:?}"
        );
        for _ in 0..1_000 {
            let wait = wait_after_poll(interval, true);
            assert!(wait >= interval.mul_f64(0.9) && wait <= interval.mul_f64(1.1));
        }
    }

    #[test]
    fn a_batch_keeps_each_sources_newest_state_past_its_quiet_polls() {
        let mut kept = newest_of_each(vec![
            changed("a", 1),
            quiet("a"),
            quiet("b"),
            changed("c", 1),
            changed("c", 2),
            quiet("d"),
            changed("d", 3),
            quiet("b"),
        ]);
        kept.sort_by(|x, y| x.name().cmp(y.name()));
        assert_eq!(
            kept,
            [
                changed("a", 1),
                quiet("b"),
                changed("c", 2),
                changed("d", 3)
            ]
        );
    }
}
