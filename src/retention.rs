//! The daemon's pruning task (`[retention]`): rounds of small batches over the items, each
//! its own short transaction, so polls and review never wait long behind it. What an open
//! case or a pending alert needs is never touched (the store's `prune` decides that).

use crate::config::RetentionConfig;
use crate::store::{Pruned, Retention, SharedStore, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A breath between two batches of a round, for the writers that queued behind one.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// The cut-offs `config` sets at `now`.
pub fn rules(config: &RetentionConfig, now: DateTime<Utc>) -> Retention {
    let before = |age: Duration| {
        let age = chrono::TimeDelta::from_std(age).unwrap_or(chrono::TimeDelta::MAX);
        now.checked_sub_signed(age)
            .map_or(i64::MIN, |t| t.timestamp_millis())
    };
    Retention {
        unlinked_before: before(config.unlinked_items),
        hourly_before: before(config.hourly_after),
        daily_before: before(config.daily_after),
    }
}

/// One round over every item, batch by batch; stops early (keeping what it pruned) when
/// `shutdown` is cancelled.
pub async fn round(
    store: &SharedStore,
    config: &RetentionConfig,
    now: DateTime<Utc>,
    shutdown: &CancellationToken,
) -> Result<Pruned, StoreError> {
    let rules = rules(config, now);
    let mut total = Pruned::default();
    let mut after = 0;
    while let Some((last, pruned)) = store.prune(&rules, after, config.batch).await? {
        total += pruned;
        after = last;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(BETWEEN_BATCHES) => {}
        }
    }
    Ok(total)
}

/// Runs a round every `[retention] every` until `shutdown`.
pub async fn run(store: SharedStore, config: RetentionConfig, shutdown: CancellationToken) {
    loop {
        match round(&store, &config, Utc::now(), &shutdown).await {
            Ok(pruned) => info!(
                items = pruned.items,
                observations = pruned.observations,
                "retention round done"
            ),
            // Kept running: the next round starts over.
            Err(e) => warn!(error = %e, "retention round failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.every) => {}
        }
    }
}
