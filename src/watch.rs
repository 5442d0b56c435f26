//! The closer watch: `[[watch]]` templates filled with the handles of open cases (or the
//! aliases of brands with open cases) make feed sources of their own, polled through the
//! same timetable as configured sources (leases, host politeness, health), and more
//! often while a case they serve is public or its risk is high. The set is read again from
//! the store whenever risks move, and at least every minute.

use crate::config::{BrandConfig, SourceConfig, SourceKind, WatchConfig};
use crate::risk::natural_sorted;
use crate::schedule::{Poller, SourceAdder};
use crate::store::{CaseStanding, SharedStore, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The longest the set of generated sources goes unread: cases imported by another
/// process, or gone public, are seen within this.
const LOOK_EVERY: Duration = Duration::from_secs(60);

/// What fills a template's placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// A case handle of the watch's platform.
    Handle,
    /// A case handle of the watch's platform that is a numeric user id.
    Uid,
    /// A name or alias of a brand with open cases.
    Alias,
}

impl Fill {
    pub fn needs_platform(self) -> bool {
        self != Fill::Alias
    }
}

/// The one placeholder of a template URL, or why the template cannot be used. The
/// placeholder may stand only in the path or query: the operator, not a case record,
/// chooses the host requests go to.
pub fn placeholder(template: &str) -> Result<Fill, String> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("`{template}` has a `{{` without its `}}`"));
        };
        found.push(&after[..close]);
        rest = &after[close + 1..];
    }
    let fill = match found.as_slice() {
        [] => return Err("has no placeholder: {handle}, {uid} or {alias}".into()),
        ["handle"] => Fill::Handle,
        ["uid"] => Fill::Uid,
        ["alias"] => Fill::Alias,
        [other] => {
            return Err(format!(
                "unknown placeholder {{{other}}}; known are {{handle}}, {{uid}} and {{alias}}"
            ))
        }
        _ => return Err("has more than one placeholder".into()),
    };
    let parsed = |value| url::Url::parse(&fill_in(template, value));
    match (parsed("a1"), parsed("b2")) {
        (Err(e), _) | (_, Err(e)) => Err(format!("`{template}` is not a URL: {e}")),
        (Ok(a), _) if !matches!(a.scheme(), "http" | "https") => {
            Err(format!("scheme `{}` is not http or https", a.scheme()))
        }
        (Ok(a), Ok(b)) if a[..url::Position::BeforePath] != b[..url::Position::BeforePath] => {
            Err("the placeholder must be in the path or query, not the host".into())
        }
        _ => Ok(fill),
    }
}

/// The template with its placeholder replaced by `value`, percent-encoded whole: a handle
/// never adds a path segment, a query parameter or a fragment.
pub fn fill_in(template: &str, value: &str) -> String {
    let (Some(open), Some(close)) = (template.find('{'), template.find('}')) else {
        return template.to_string();
    };
    let mut url = String::with_capacity(template.len() + value.len() * 3);
    url.push_str(&template[..open]);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            url.push(byte as char);
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url.push_str(&template[close + 1..]);
    url
}

/// A source a template made, and why it exists.
#[derive(Debug, Clone)]
pub struct Generated {
    pub source: SourceConfig,
    pub interval: Duration,
    pub watch: String,
    /// The open cases whose handle filled it, or all open cases of the brand whose alias
    /// did, in natural order.
    pub cases: Vec<String>,
    /// The brand, for an alias template.
    pub brand: Option<String>,
    /// Polled at `risky_interval`: a case it serves is public or at risk.
    pub risky: bool,
}

/// The sources `watches` make for these open cases and their risks (case id → score).
pub fn generate(
    watches: &[WatchConfig],
    brands: &[BrandConfig],
    cases: &[CaseStanding],
    risks: &HashMap<String, f64>,
    alert_at: Option<f64>,
) -> Vec<Generated> {
    let mut generated = Vec::new();
    for watch in watches {
        let Ok(fill) = placeholder(&watch.url) else {
            continue;
        };
        let line = watch
            .risky_from
            .or(alert_at)
            .unwrap_or(crate::http::AT_RISK);
        let risky = |standing: &CaseStanding| {
            standing.stage.is_some()
                || risks
                    .get(&standing.case.id)
                    .is_some_and(|score| *score >= line)
        };
        // Value → (cases, brand, risky); a handle two cases share makes one source.
        let mut values: BTreeMap<String, (Vec<String>, Option<String>, bool)> = BTreeMap::new();
        for standing in cases.iter().filter(|s| s.case.is_open()) {
            let case = &standing.case;
            let fills: Vec<String> = match fill {
                Fill::Handle | Fill::Uid => {
                    let platform = watch.platform.as_deref().unwrap_or_default();
                    case.complainant
                        .handles
                        .iter()
                        .filter_map(|h| h.split_once(':'))
                        .filter(|(p, _)| p.trim().eq_ignore_ascii_case(platform.trim()))
                        .map(|(_, value)| value.trim().to_string())
                        .filter(|value| {
                            !value.is_empty()
                                && (fill == Fill::Handle
                                    || value.chars().all(|c| c.is_ascii_digit()))
                        })
                        .collect()
                }
                Fill::Alias => brands
                    .iter()
                    .filter(|b| b.name == case.brand)
                    .flat_map(|b| std::iter::once(&b.name).chain(&b.aliases))
                    .map(|alias| alias.trim().to_string())
                    .filter(|alias| !alias.is_empty())
                    .collect(),
            };
            for value in fills {
                let entry = values.entry(value).or_default();
                entry.0.push(case.id.clone());
                if fill == Fill::Alias {
                    entry.1 = Some(case.brand.clone());
                }
                entry.2 |= risky(standing);
            }
        }
        for (value, (served, brand, risky)) in values {
            let interval = if risky {
                watch.risky_interval.unwrap_or(watch.interval)
            } else {
                watch.interval
            };
            let mut source = SourceConfig::new(
                &format!("{}:{value}", watch.name),
                SourceKind::Feed,
                &fill_in(&watch.url, &value),
                watch.channel,
            );
            source.interval = Some(interval);
            source.file = PathBuf::from(format!("[[watch]] {}", watch.name));
            generated.push(Generated {
                source,
                interval,
                watch: watch.name.clone(),
                cases: natural_sorted(served.into_iter()),
                brand,
                risky,
            });
        }
    }
    generated
}

/// The sources the watches make now, from the store's open cases and stored risks.
pub async fn current(
    store: &SharedStore,
    watches: &[WatchConfig],
    brands: &[BrandConfig],
    alert_at: Option<f64>,
) -> Result<Vec<Generated>, StoreError> {
    if watches.is_empty() {
        return Ok(Vec::new());
    }
    let cases = store.case_standings().await?;
    let risks: HashMap<String, f64> = store
        .case_risks(None)
        .await?
        .into_iter()
        .map(|r| (r.case_id, r.risk.score))
        .collect();
    Ok(generate(watches, brands, &cases, &risks, alert_at))
}

/// The daemon's watch: starts a source task for each generated source, stops those no
/// longer made, and starts again at the new interval those whose cases' risk crossed.
pub struct WatchTask {
    pub poller: Arc<Poller>,
    /// Where generated sources start being polled.
    pub sources: SourceAdder,
    pub watches: Vec<WatchConfig>,
    pub brands: Vec<BrandConfig>,
    pub alert_at: Option<f64>,
    /// Woken when the risk task saved moved risks.
    pub risks_moved: Arc<Notify>,
}

impl WatchTask {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut running: HashMap<String, (Duration, CancellationToken)> = HashMap::new();
        loop {
            let store = &self.poller.store;
            match current(store, &self.watches, &self.brands, self.alert_at).await {
                Ok(generated) => self.reconcile(generated, &mut running, &shutdown),
                Err(e) => warn!(error = %e, "cannot read the cases watched; trying again"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(LOOK_EVERY) => {}
                _ = self.risks_moved.notified() => {}
            }
        }
    }

    fn reconcile(
        &self,
        generated: Vec<Generated>,
        running: &mut HashMap<String, (Duration, CancellationToken)>,
        shutdown: &CancellationToken,
    ) {
        let wanted: HashMap<String, Generated> = generated
            .into_iter()
            .map(|g| (g.source.name.clone(), g))
            .collect();
        running.retain(|name, (interval, stop)| {
            let keep = wanted.get(name).is_some_and(|g| g.interval == *interval);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for generated in wanted.into_values() {
            if running.contains_key(&generated.source.name) {
                continue;
            }
            info!(
                source = %generated.source.name,
                interval = ?generated.interval,
                cases = ?generated.cases,
                risky = generated.risky,
                "watching"
            );
            let stop = shutdown.child_token();
            running.insert(
                generated.source.name.clone(),
                (generated.interval, stop.clone()),
            );
            self.sources.add(generated.source, generated.interval, stop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_one_known_placeholder_after_the_host() {
        assert_eq!(
            placeholder("http://rsshub.example/weibo/user/{uid}"),
            Ok(Fill::Uid)
        );
        assert_eq!(
            placeholder("https://s.example/search?q={alias}&sort=new"),
            Ok(Fill::Alias)
        );
        for (template, why) in [
            ("http://rsshub.example/weibo/user", "no placeholder"),
            ("http://rsshub.example/{user}", "unknown placeholder {user}"),
            ("http://{handle}.example/feed", "not the host"),
            ("http://a.example/{handle}/{alias}", "more than one"),
            ("ftp://a.example/{handle}", "scheme `ftp`"),
            ("not a url {handle}", "not a URL"),
            ("http://a.example/{handle", "without its"),
        ] {
            let error = placeholder(template).unwrap_err();
            assert!(error.contains(why), "{template}: {error}");
        }
    }

    #[test]
    fn a_filled_value_is_encoded_whole() {
        assert_eq!(
            fill_in("http://r.example/u/{handle}?f=1", "小王 a/b?c#d"),
            "http://r.example/u/%E5%B0%8F%E7%8E%8B%20a%2Fb%3Fc%23d?f=1"
        );
    }
}
