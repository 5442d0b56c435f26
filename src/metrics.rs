//! Prometheus metrics. The pipeline stages stay free of metrics code: the scheduler and the
//! delivery worker count what they see here.

use crate::model::AlertKind;
use crate::pipeline::Event;
use crate::store::{LinkState, StoreStats};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelOutcomeLabel {
    channel: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ViaLabel {
    via: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BandLabel {
    band: String,
}

pub struct Metrics {
    registry: Registry,
    polls: Family<SourceLabel, Counter>,
    fetch_errors: Family<SourceLabel, Counter>,
    /// One histogram for all sources: a dozen buckets per source would be most of a
    /// source's memory at 100,000 sources, and dashboards sum them anyway.
    poll_seconds: Histogram,
    items: Counter,
    mentions: Counter,
    links: Counter,
    alerts_queued: Family<StageLabel, Counter>,
    alerts_delivered: Family<StageLabel, Counter>,
    delivery_failures: Counter,
    links_stored: Family<StateLabel, Gauge>,
    outbox_depth: Gauge,
    sign_in_failures: Family<ViaLabel, Counter>,
    sign_ins_refused: Family<LimitLabel, Counter>,
    cases_by_risk: Family<BandLabel, Gauge>,
    channel_sends: Family<ChannelOutcomeLabel, Counter>,
    channel_queue: Family<ChannelLabel, Gauge>,
    channel_oldest: Family<ChannelLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("outcry");
        let polls = Family::<SourceLabel, Counter>::default();
        let fetch_errors = Family::<SourceLabel, Counter>::default();
        let poll_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 12));
        let items = Counter::default();
        let mentions = Counter::default();
        let links = Counter::default();
        let alerts_queued = Family::<StageLabel, Counter>::default();
        let alerts_delivered = Family::<StageLabel, Counter>::default();
        let delivery_failures = Counter::default();
        let links_stored = Family::<StateLabel, Gauge>::default();
        let outbox_depth = Gauge::default();
        let cases_by_risk = Family::<BandLabel, Gauge>::default();
        registry.register("polls", "Polls per source", polls.clone());
        registry.register(
            "fetch_errors",
            "Failed polls per source",
            fetch_errors.clone(),
        );
        registry.register(
            "poll_duration_seconds",
            "Time to fetch and process one poll",
            poll_seconds.clone(),
        );
        registry.register(
            "items_observed",
            "Item observations processed",
            items.clone(),
        );
        registry.register(
            "mentions",
            "Items recognised as mentioning a brand",
            mentions.clone(),
        );
        registry.register("links", "Items linked to a case", links.clone());
        registry.register(
            "alerts_queued",
            "Alerts written to the outbox",
            alerts_queued.clone(),
        );
        registry.register(
            "alerts_delivered",
            "Alerts delivered",
            alerts_delivered.clone(),
        );
        registry.register(
            "delivery_failures",
            "Failed delivery attempts",
            delivery_failures.clone(),
        );
        registry.register(
            "links_stored",
            "Links in the store by state (candidate, confirmed, rejected)",
            links_stored.clone(),
        );
        registry.register(
            "outbox_depth",
            "Alerts waiting in the outbox",
            outbox_depth.clone(),
        );
        let sign_in_failures = Family::<ViaLabel, Counter>::default();
        registry.register(
            "sign_in_failures",
            "Sign-ins with an unknown token, by way in (login page, api)",
            sign_in_failures.clone(),
        );
        let sign_ins_refused = Family::<LimitLabel, Counter>::default();
        registry.register(
            "sign_ins_refused",
            "Sign-ins refused unchecked because failures passed a limit (address, total)",
            sign_ins_refused.clone(),
        );
        registry.register(
            "cases_by_risk",
            "Open cases by risk band (low < 0.4 <= medium < 0.7 <= high)",
            cases_by_risk.clone(),
        );
        let channel_sends = Family::<ChannelOutcomeLabel, Counter>::default();
        let channel_queue = Family::<ChannelLabel, Gauge>::default();
        let channel_oldest = Family::<ChannelLabel, Gauge>::default();
        registry.register(
            "channel_sends",
            "Chat and webhook sends per channel by outcome (delivered, failed, throttled)",
            channel_sends.clone(),
        );
        registry.register(
            "channel_queue_depth",
            "Deliveries waiting per channel",
            channel_queue.clone(),
        );
        registry.register(
            "channel_oldest_pending_seconds",
            "Age of the oldest waiting delivery per channel",
            channel_oldest.clone(),
        );
        Metrics {
            sign_in_failures,
            sign_ins_refused,
            cases_by_risk,
            channel_sends,
            channel_queue,
            channel_oldest,
            links_stored,
            outbox_depth,
            registry,
            polls,
            fetch_errors,
            poll_seconds,
            items,
            mentions,
            links,
            alerts_queued,
            alerts_delivered,
            delivery_failures,
        }
    }

    pub fn polled(&self, source: &str, seconds: f64, ok: bool) {
        let label = SourceLabel {
            source: source.to_string(),
        };
        self.polls.get_or_create(&label).inc();
        self.poll_seconds.observe(seconds);
        if !ok {
            self.fetch_errors.get_or_create(&label).inc();
        }
    }

    pub fn processed(&self, events: &[Event]) {
        self.items.inc();
        self.counted(events);
    }

    /// Counts decisions: the pipeline's, and people's through the API and pages.
    pub fn counted(&self, events: &[Event]) {
        for event in events {
            match event {
                Event::Mention { .. } => self.mentions.inc(),
                Event::Link { .. } => self.links.inc(),
                Event::Alert { stage, .. } => self
                    .alerts_queued
                    .get_or_create(&StageLabel {
                        stage: stage.as_str().to_string(),
                    })
                    .inc(),
            };
        }
    }

    pub fn delivered(&self, kind: AlertKind) {
        self.alerts_delivered
            .get_or_create(&StageLabel {
                stage: kind.as_str().to_string(),
            })
            .inc();
    }

    pub fn delivery_failed(&self) {
        self.delivery_failures.inc();
    }

    /// A token that matched no one, given on the login page or to the API.
    pub fn sign_in_failed(&self, via: &'static str) {
        self.sign_in_failures.get_or_create(&ViaLabel { via }).inc();
    }

    /// A sign-in refused by the failure limit of one address or of all.
    pub fn sign_in_refused(&self, limit: &'static str) {
        self.sign_ins_refused
            .get_or_create(&LimitLabel { limit })
            .inc();
    }

    /// Counts one send to a channel: `delivered`, `failed` or `throttled`.
    pub fn channel_sent(&self, channel: &str, outcome: &str) {
        self.channel_sends
            .get_or_create(&ChannelOutcomeLabel {
                channel: channel.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A channel's waiting deliveries and the oldest one's age, as its worker last read them.
    pub fn channel_queue(&self, channel: &str, queued: i64, oldest_seconds: i64) {
        let label = ChannelLabel {
            channel: channel.to_string(),
        };
        self.channel_queue.get_or_create(&label).set(queued);
        self.channel_oldest
            .get_or_create(&label)
            .set(oldest_seconds);
    }

    /// Sets the gauges read from the store. States without links read 0.
    pub fn observe_store(&self, stats: &StoreStats) {
        for state in [
            LinkState::Candidate,
            LinkState::Confirmed,
            LinkState::Rejected,
        ] {
            let count = stats
                .links
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            self.links_stored
                .get_or_create(&StateLabel {
                    state: state.as_str().to_string(),
                })
                .set(count);
        }
        self.outbox_depth.set(stats.outbox_depth);
    }

    /// Sets the open cases per risk band from every open case's current score.
    pub fn observe_risks(&self, scores: impl Iterator<Item = f64>) {
        let mut counts = [0i64; 3];
        for score in scores {
            counts[usize::from(score >= 0.4) + usize::from(score >= 0.7)] += 1;
        }
        for (band, count) in ["low", "medium", "high"].into_iter().zip(counts) {
            self.cases_by_risk
                .get_or_create(&BandLabel { band: band.into() })
                .set(count);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_cases_are_counted_per_risk_band() {
        let metrics = Metrics::new();
        metrics.observe_risks([0.1, 0.4, 0.69, 0.7, 0.95].into_iter());
        let text = metrics.render();
        for line in [
            "outcry_cases_by_risk{band=\"low\"} 1",
            "outcry_cases_by_risk{band=\"medium\"} 2",
            "outcry_cases_by_risk{band=\"high\"} 2",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
