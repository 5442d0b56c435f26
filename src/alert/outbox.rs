//! The delivery worker: claims due alerts from the outbox, sends them, and marks them sent.
//! A failed send is retried with back-off, never dropped; an alert whose case was closed
//! before it went out is cancelled, because closed cases never alert.

use super::mailer::{Mailer, MailerError, OutgoingMail};
use crate::metrics::Metrics;
use crate::store::{ClaimedAlert, SharedStore, StoreError};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument};

const BATCH: i64 = 20;
/// How often the worker looks for due alerts when nobody has woken it.
const IDLE_POLL: Duration = Duration::from_secs(1);

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
}

impl Delivery {
    /// Runs until `shutdown`; an alert being sent when shutdown comes is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        info!(mailer = %self.mailer.describe(), "delivery worker started");
        loop {
            match self.deliver_due().await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(e) => error!(error = %e, "cannot read the alert outbox"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        info!("delivery worker stopped");
    }

    /// Sends every alert that is due now; returns how many were claimed.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let now = Utc::now();
        let lease_until = now + chrono::Duration::from_std(self.lease).unwrap_or_default();
        let claimed = self.store.claim_alerts(now, lease_until, BATCH).await?;
        let count = claimed.len();
        for alert in claimed {
            let span =
                info_span!("deliver", alert = alert.id, case = ?alert.case_id, kind = %alert.kind);
            self.deliver(alert).instrument(span).await?;
        }
        Ok(count)
    }

    async fn deliver(&self, alert: ClaimedAlert) -> Result<(), StoreError> {
        if !alert.case_open {
            info!("case closed before delivery; alert cancelled");
            return self
                .store
                .cancel_alert(alert.id, "case closed before delivery")
                .await;
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
                self.store.mark_alert_sent(alert.id, Utc::now()).await?;
                self.metrics.delivered(alert.kind);
                info!(subject = %alert.subject, "alert delivered");
                Ok(())
            }
            Err(e) => {
                let delay = retry_delay(alert.attempts, self.retry_initial, self.retry_max, &e);
                self.metrics.delivery_failed();
                warn!(error = %e, attempts = alert.attempts + 1, retry_in = ?delay, "alert delivery failed; will retry");
                let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                self.store
                    .mark_alert_failed(alert.id, &e.to_string(), next)
                    .await
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
