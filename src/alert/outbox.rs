//! The delivery worker: claims due alerts from the outbox, sends them, and marks them sent.
//! A failed send is retried with back-off, never dropped; an alert whose case was closed
//! before it went out is cancelled, because closed cases never alert. When the mail server
//! answers again after failures, every alert waiting out its back-off is sent at once.

use super::mailer::{Mailer, MailerError, OutgoingMail};
use crate::metrics::Metrics;
use crate::store::{ClaimedAlert, SharedStore, StoreError};
use chrono::Utc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument};

const BATCH: i64 = 20;

/// How often the worker looks for due alerts when nobody has woken it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// While sends fail, how often the worker asks the mail server whether it is back (at most;
/// `retry_initial` when shorter).
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// What stopped a delivery round; the worker logs it and tries again at its next look.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot claim alerts from the outbox: {0}")]
    Claim(StoreError),
    #[error(
        "alert {id} was sent but cannot be marked as sent; \
         it will be sent again with the same Message-ID: {error}"
    )]
    MarkSent { id: i64, error: StoreError },
    #[error("alert {id} failed and its retry cannot be recorded: {error}")]
    MarkFailed { id: i64, error: StoreError },
    #[error("alert {id} cannot be cancelled: {error}")]
    Cancel { id: i64, error: StoreError },
}

pub struct Delivery {
    pub store: SharedStore,
    pub mailer: Mailer,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// How long a claimed alert stays leased to this worker; longer than an SMTP exchange.
    pub lease: Duration,
    pub metrics: Arc<Metrics>,
    /// Woken when an alert is queued, so it goes out at once.
    pub wake: Arc<Notify>,
    /// Whether this worker's last send failed for want of the mail server (a rejection does
    /// not count): the next success, or the server answering a probe, means it is back, and
    /// the alerts that failed meanwhile need not wait out their back-off.
    pub failing: AtomicBool,
}

impl Delivery {
    /// Runs until `shutdown`; an alert being sent when shutdown comes is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        info!(mailer = %self.mailer.describe(), "delivery worker started");
        let mut probed = Instant::now();
        loop {
            match self.deliver_due().await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(e) => error!(error = %e, "delivery round stopped"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
            if shutdown.is_cancelled() {
                break;
            }
            if self.failing.load(Ordering::Relaxed)
                && probed.elapsed() >= PROBE_EVERY.min(self.retry_initial)
            {
                probed = Instant::now();
                if self.mailer.reachable().await {
                    self.failing.store(false, Ordering::Relaxed);
                    self.retry_failed_now().await;
                }
            }
        }
        info!("delivery worker stopped");
    }

    /// Sends every alert that is due now; returns how many were claimed.
    pub async fn deliver_due(&self) -> Result<usize, DeliveryError> {
        let now = Utc::now();
        let lease_until = now + chrono::Duration::from_std(self.lease).unwrap_or_default();
        let claimed = self
            .store
            .claim_alerts(now, lease_until, BATCH)
            .await
            .map_err(DeliveryError::Claim)?;
        let count = claimed.len();
        for alert in claimed {
            let span =
                info_span!("deliver", alert = alert.id, case = ?alert.case_id, kind = %alert.kind);
            self.deliver(alert).instrument(span).await?;
        }
        Ok(count)
    }

    async fn deliver(&self, alert: ClaimedAlert) -> Result<(), DeliveryError> {
        let id = alert.id;
        if !alert.case_open {
            info!("case closed before delivery; alert cancelled");
            return self
                .store
                .cancel_alert(id, "case closed before delivery")
                .await
                .map_err(|error| DeliveryError::Cancel { id, error });
        }
        if !self.mailer.addressed(alert.kind) {
            info!("no email recipient for this alert; it goes to the channels only");
            return self
                .store
                .cancel_alert(id, "no email recipient: [alerts] to is empty")
                .await
                .map_err(|error| DeliveryError::Cancel { id, error });
        }
        let mail = OutgoingMail {
            message_id: alert.message_id.clone(),
            kind: alert.kind,
            case_id: alert.case_id.clone(),
            source: alert.source.clone(),
            subject: alert.subject.clone(),
            text: alert.text.clone(),
            html: alert.html.clone(),
        };
        match self.mailer.send(&mail).await {
            Ok(()) => {
                self.store
                    .mark_alert_sent(id, Utc::now())
                    .await
                    .map_err(|error| DeliveryError::MarkSent { id, error })?;
                self.metrics.delivered(alert.kind);
                info!(subject = %alert.subject, "alert delivered");
                // This alert's own failures may have been another instance's.
                if self.failing.swap(false, Ordering::Relaxed) || alert.attempts > 0 {
                    self.retry_failed_now().await;
                }
                Ok(())
            }
            Err(e) => {
                let delay = retry_delay(alert.attempts, self.retry_initial, self.retry_max, &e);
                self.metrics.delivery_failed();
                if !matches!(e, MailerError::Permanent(_)) {
                    self.failing.store(true, Ordering::Relaxed);
                }
                warn!(error = %e, attempts = alert.attempts + 1, retry_in = ?delay, "alert delivery failed; will retry");
                let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                self.store
                    .mark_alert_failed(id, &e.to_string(), next)
                    .await
                    .map_err(|error| DeliveryError::MarkFailed { id, error })
            }
        }
    }

    /// The mail server answers again after failures: the alerts that failed meanwhile are due
    /// now, not at the end of their back-off.
    async fn retry_failed_now(&self) {
        match self.store.retry_failed_alerts(Utc::now()).await {
            Ok(0) => {}
            Ok(n) => info!(
                alerts = n,
                "mail server answers again; failed alerts retried now"
            ),
            Err(e) => {
                warn!(error = %e, "cannot retry failed alerts now; they wait out their back-off")
            }
        }
    }
}

/// Doubling back-off from `initial`; a permanent rejection waits the longest, because only
/// an operator can fix it, but it is still retried rather than dropped.
fn retry_delay(attempts: i64, initial: Duration, max: Duration, error: &MailerError) -> Duration {
    if matches!(error, MailerError::Permanent(_)) {
        return max;
    }
    let factor = 2u32.saturating_pow(attempts.clamp(0, 30) as u32);
    initial.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let transient = MailerError::Transient("down".into());
        let initial = Duration::from_secs(1);
        let max = Duration::from_secs(10);
        let delays: Vec<u64> = (0..6)
            .map(|a| retry_delay(a, initial, max, &transient).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        let permanent = MailerError::Permanent("550".into());
        assert_eq!(retry_delay(0, initial, max, &permanent), max);
    }
}
