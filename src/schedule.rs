//! The poller: one task per source, each on its own interval with jitter, so a slow or
//! failing source never delays another. A failing source backs off exponentially up to a
//! cap and keeps trying; it is never dropped.
//!
//! Instances sharing a store poll a source only while they hold its lease; a heartbeat
//! renews this instance's leases, and one whose holder died expires and is taken over,
//! keeping the source's interval from its last poll by whichever instance made it.

use crate::config::SourceConfig;
use crate::extract::{extract, ExtractError};
use crate::fetch::{backoff, FetchError, FetchOutcome, Fetcher, Validators};
use crate::metrics::Metrics;
use crate::model::Observation;
use crate::pipeline::{Event, Pipeline, PipelineError};
use crate::store::{SharedStore, SourceState, StoreError};
use chrono::Utc;
use rand::Rng;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};

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
}

impl PollError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Fetch(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// What one poll found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub not_modified: bool,
    pub items: usize,
    pub alerts: usize,
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
    /// This instance's name on its source leases.
    pub instance: String,
    /// How long a lease outlives this instance's last heartbeat.
    pub lease: Duration,
}

/// Interval jitter is ±10%; a poll may come this early after the last one, and no earlier.
const EARLIEST: f64 = 0.9;

impl Poller {
    /// Starts one task per source; they stop when `shutdown` is cancelled.
    pub fn spawn(
        self: &Arc<Self>,
        sources: Vec<(SourceConfig, Duration)>,
        shutdown: CancellationToken,
    ) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        for (source, interval) in sources {
            let poller = Arc::clone(self);
            let shutdown = shutdown.clone();
            let span = info_span!("source", source = %source.name);
            tasks.spawn(
                async move { poller.run_source(source, interval, shutdown).await }.instrument(span),
            );
        }
        let poller = Arc::clone(self);
        tasks.spawn(async move {
            // Beats even with zero sources: "alive" means the runtime schedules our tasks.
            let mut renewed = Instant::now();
            loop {
                poller.beat();
                if renewed.elapsed() >= poller.lease / 3 {
                    poller.renew_leases().await;
                    renewed = Instant::now();
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1).min(poller.lease / 3)) => {}
                }
            }
        });
        tasks
    }

    async fn renew_leases(&self) {
        let now = Utc::now();
        if let Err(e) = self
            .store
            .renew_leases(&self.instance, now, now + self.lease_delta())
            .await
        {
            error!(error = %e, "cannot renew source leases");
        }
    }

    /// Hands this instance's sources to the others at once; for after the source tasks
    /// stopped.
    pub async fn release_leases(&self) {
        if let Err(e) = self.store.release_leases(&self.instance).await {
            warn!(error = %e, "cannot release source leases; they expire on their own");
        }
    }

    fn lease_delta(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX)
    }

    /// Takes or keeps the source's lease. Ok when this instance may poll now; otherwise how
    /// long to wait before asking again.
    async fn take_turn(&self, source: &SourceConfig, interval: Duration) -> Result<(), Duration> {
        let now = Utc::now();
        let lease = self
            .store
            .lease_source(&source.name, &self.instance, now, now + self.lease_delta())
            .await;
        match lease {
            Ok(Some(lease)) => {
                let earliest = lease.last_polled.map(|last| {
                    last + chrono::Duration::from_std(interval.mul_f64(EARLIEST))
                        .unwrap_or(chrono::Duration::MAX)
                });
                match earliest.and_then(|t| (t - now).to_std().ok()) {
                    Some(wait) if !wait.is_zero() => Err(wait),
                    _ => Ok(()),
                }
            }
            Ok(None) => {
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

    async fn run_source(
        &self,
        source: SourceConfig,
        interval: Duration,
        shutdown: CancellationToken,
    ) {
        // Spread the first polls so that a restart does not hit every site at once.
        let mut wait = jitter(interval.min(Duration::from_secs(10)).mul_f64(0.5));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            self.beat();
            if let Err(not_yet) = self.take_turn(&source, interval).await {
                wait = not_yet;
                continue;
            }
            wait = match self.poll_and_record(&source).await {
                Ok(()) => interval.mul_f64(1.0 + rand::thread_rng().gen_range(-0.1..0.1)),
                Err(failures_and_delay) => failures_and_delay,
            };
        }
    }

    /// Polls once and records the outcome in the source's state. Returns the back-off delay
    /// on failure.
    async fn poll_and_record(&self, source: &SourceConfig) -> Result<(), Duration> {
        let started = Instant::now();
        let mut state = match self.store.source_state(&source.name).await {
            Ok(state) => state.unwrap_or_else(|| SourceState {
                name: source.name.clone(),
                ..SourceState::default()
            }),
            Err(e) => {
                error!(error = %e, "cannot read source state");
                return Err(backoff(1, Duration::from_secs(5), self.backoff_max, None));
            }
        };
        let result = self.poll(source, &mut state).await;
        self.metrics.polled(
            &source.name,
            started.elapsed().as_secs_f64(),
            result.is_ok(),
        );
        let outcome = match &result {
            Ok(report) => {
                if report.items > 0 || report.alerts > 0 {
                    info!(items = report.items, alerts = report.alerts, "polled");
                }
                // Only successes count towards the interval: a failing source keeps its
                // back-off, which may be shorter.
                match self
                    .store
                    .record_poll(&source.name, &self.instance, Utc::now())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => warn!("lease lost during the poll"),
                    Err(e) => error!(error = %e, "cannot record the poll"),
                }
                state.consecutive_failures = 0;
                state.last_success_at = Some(Utc::now());
                Ok(())
            }
            Err(e) => {
                state.consecutive_failures += 1;
                state.last_error = Some(e.to_string());
                state.last_error_at = Some(Utc::now());
                let failures = u32::try_from(state.consecutive_failures).unwrap_or(u32::MAX);
                let delay = backoff(
                    failures,
                    Duration::from_secs(5),
                    self.backoff_max,
                    e.retry_after(),
                );
                warn!(error = %e, failures, retry_in = ?delay, "poll failed");
                Err(delay)
            }
        };
        if let Err(e) = self.store.save_source_state(&state).await {
            error!(error = %e, "cannot save source state");
        }
        outcome
    }

    /// Fetches, extracts and processes one source. Validators are only advanced after every
    /// item went through, so a crash mid-poll refetches the same items next time.
    pub async fn poll(
        &self,
        source: &SourceConfig,
        state: &mut SourceState,
    ) -> Result<PollReport, PollError> {
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        let fetched = match self.fetcher.fetch(&source.url, &validators).await? {
            FetchOutcome::NotModified => {
                return Ok(PollReport {
                    not_modified: true,
                    ..PollReport::default()
                })
            }
            FetchOutcome::Fetched(fetched) => fetched,
        };
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
        let fetched_at = Utc::now().fixed_offset();
        let mut report = PollReport {
            items: extraction.items.len(),
            ..PollReport::default()
        };
        let observations: Vec<Observation> = extraction
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
        {
            let mut pipeline = self.pipeline.lock().await;
            pipeline.refresh_cases().await?;
            let events = pipeline.process_batch(&observations).await?;
            self.metrics.processed(&events);
            report.alerts = events
                .iter()
                .filter(|e| matches!(e, Event::Alert { .. }))
                .count();
        }
        if report.alerts > 0 {
            self.alert_queued.notify_one();
        }
        state.etag = fetched.validators.etag;
        state.last_modified = fetched.validators.last_modified;
        state.items_seen += i64::try_from(report.items).unwrap_or(i64::MAX);
        Ok(report)
    }
}

fn jitter(max: Duration) -> Duration {
    max.mul_f64(rand::thread_rng().gen_range(0.0..1.0))
}
