//! outcry.toml and sources/*.toml: serde types that reject unknown fields, plus the semantic
//! checks serde cannot express. Every problem names its file and field.

use crate::model::Channel;
pub use crate::present::Language;
use chrono::{DateTime, FixedOffset, NaiveTime, Offset, Utc};
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub sources: SourcesConfig,
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub fetch: FetchConfig,
    #[serde(default)]
    pub operator: OperatorConfig,
    #[serde(default)]
    pub linking: LinkingConfig,
    #[serde(default)]
    pub assess: AssessConfig,
    /// Without this section no digest is sent.
    #[serde(default)]
    pub digest: Option<DigestConfig>,
    #[serde(default)]
    pub cluster: ClusterConfig,
    #[serde(default)]
    pub review: ReviewConfig,
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub ui: UiConfig,
    #[serde(default)]
    pub risk: RiskConfig,
    /// Chat rooms and webhooks alerts also go to, besides `[alerts].to`.
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    /// Source templates filled from case handles and brand aliases (crate::watch).
    #[serde(default)]
    pub watch: Vec<WatchConfig>,
    pub brands: Vec<BrandConfig>,
}

/// A source template: one feed source per case handle of `platform` (`{handle}`, or
/// `{uid}` for handles that are numeric ids) or per alias of a brand with open cases
/// (`{alias}`), polled more often while a case it serves is at risk or public.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Generated sources are named `<name>:<handle or alias>`.
    pub name: String,
    /// Case handles `platform:handle` of this platform fill the template; absent, the
    /// template is filled with brand aliases.
    #[serde(default)]
    pub platform: Option<String>,
    /// An http(s) URL with one placeholder in its path or query.
    pub url: String,
    #[serde(default = "default_watch_channel")]
    pub channel: Channel,
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// The interval while a case served is public or its risk reaches `risky_from`;
    /// `interval` when absent.
    #[serde(default, deserialize_with = "optional_duration")]
    pub risky_interval: Option<Duration>,
    /// The risk from which a case is watched closely; `[risk] alert_at` when absent, or 0.5.
    #[serde(default)]
    pub risky_from: Option<f64>,
}

fn default_watch_channel() -> Channel {
    Channel::Social
}

/// How `outcry run` itself behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// After SIGINT/SIGTERM, the process exits within this, whatever its sources do; work
    /// still unfinished then is abandoned (transactions roll back, claimed alerts are retried).
    #[serde(default = "default_shutdown_timeout", deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            shutdown_timeout: default_shutdown_timeout(),
        }
    }
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}

/// How long what no case needs is kept: the rules of the daemon's pruning task.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Items linked to no case go this long after they were last seen (an alert sent about
    /// one keeps its row, so it never alerts again).
    #[serde(default = "default_unlinked_items", deserialize_with = "duration")]
    pub unlinked_items: Duration,
    /// The observations of items linked only to closed cases thin to one an hour once
    /// older than this...
    #[serde(default = "default_hourly_after", deserialize_with = "duration")]
    pub hourly_after: Duration,
    /// ...and to one a day once older than this.
    #[serde(default = "default_daily_after", deserialize_with = "duration")]
    pub daily_after: Duration,
    /// How often a pruning round starts.
    #[serde(default = "default_prune_every", deserialize_with = "duration")]
    pub every: Duration,
    /// Items one transaction of a round looks at, so no write waits long behind it.
    #[serde(default = "default_prune_batch")]
    pub batch: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            unlinked_items: default_unlinked_items(),
            hourly_after: default_hourly_after(),
            daily_after: default_daily_after(),
            every: default_prune_every(),
            batch: default_prune_batch(),
        }
    }
}

const DAY: u64 = 86_400;

fn default_unlinked_items() -> Duration {
    Duration::from_secs(90 * DAY)
}

fn default_hourly_after() -> Duration {
    Duration::from_secs(7 * DAY)
}

fn default_daily_after() -> Duration {
    Duration::from_secs(30 * DAY)
}

fn default_prune_every() -> Duration {
    Duration::from_secs(3600)
}

fn default_prune_batch() -> i64 {
    500
}

/// How outcry speaks to people: the language of every text it writes and the zone every
/// time is shown in (stored times stay UTC).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    #[serde(default)]
    pub language: Language,
    #[serde(default = "default_ui_zone", deserialize_with = "zone")]
    pub time_zone: Zone,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            language: Language::default(),
            time_zone: default_ui_zone(),
        }
    }
}

/// How often open cases' risk of going public is recomputed, and whether crossing a score
/// alerts (README.md, "Risk before the first post").
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    #[serde(default = "default_risk_interval", deserialize_with = "duration")]
    pub interval: Duration,
    /// A risk reaching this queues one `at_risk` alert per crossing; absent, none is sent.
    #[serde(default)]
    pub alert_at: Option<f64>,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            interval: default_risk_interval(),
            alert_at: None,
        }
    }
}

fn default_ui_zone() -> Zone {
    Zone::Fixed(CHINA)
}

fn default_risk_interval() -> Duration {
    Duration::from_secs(600)
}

/// How instances sharing one database divide the work (docs/scaling.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This instance's name in leases and logs; unique per process when absent.
    #[serde(default)]
    pub instance: Option<String>,
    /// How long a source lease outlives its holder's last heartbeat: after a crash, its
    /// sources wait this long before another instance (or the restarted one) takes them.
    #[serde(default = "default_source_lease", deserialize_with = "duration")]
    pub source_lease: Duration,
    /// How long a claimed alert stays with the instance sending it; an instance that dies
    /// mid-send leaves it to be retried after this. Longer than one SMTP exchange.
    #[serde(default = "default_alert_lease", deserialize_with = "duration")]
    pub alert_lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            instance: None,
            source_lease: default_source_lease(),
            alert_lease: default_alert_lease(),
        }
    }
}

fn default_source_lease() -> Duration {
    Duration::from_secs(30)
}

fn default_alert_lease() -> Duration {
    Duration::from_secs(120)
}

/// What people's decisions set in motion (README.md, "Reviewing links").
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// When a case gains a handle or identifier, mentions first seen this far back are
    /// linked again.
    #[serde(default = "default_relink_window", deserialize_with = "duration")]
    pub relink_window: Duration,
    /// How long a web sign-in lasts.
    #[serde(default = "default_session_ttl", deserialize_with = "duration")]
    pub session_ttl: Duration,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            relink_window: default_relink_window(),
            session_ttl: default_session_ttl(),
        }
    }
}

/// The daily digest email (README.md, "The daily digest").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// The time of day it goes out, "HH:MM" in `time_zone`.
    #[serde(default = "default_digest_at", deserialize_with = "time_of_day")]
    pub at: NaiveTime,
    /// A fixed UTC offset such as "+08:00"; the digest's day runs in it. `[ui] time_zone`
    /// (at the moment of reading) when absent.
    #[serde(default, deserialize_with = "optional_utc_offset")]
    pub time_zone: Option<FixedOffset>,
    /// Recipients; `[alerts].to` when empty.
    #[serde(default)]
    pub to: Vec<String>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            at: default_digest_at(),
            time_zone: None,
            to: Vec::new(),
        }
    }
}

fn default_relink_window() -> Duration {
    Duration::from_secs(14 * 24 * 3600)
}

fn default_session_ttl() -> Duration {
    Duration::from_secs(12 * 3600)
}

/// Checked when compiling: the constants below are valid.
const NINE_AM: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => panic!("09:00 is a time"),
};
/// China Standard Time: the channels outcry reads are Chinese.
const CHINA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(o) => o,
    None => panic!("+08:00 is an offset"),
};

fn default_digest_at() -> NaiveTime {
    NINE_AM
}

/// When a case moves up a stage (README.md, "Stages"). Counts are over the case's confirmed
/// public items; interactions are reposts + comments + likes at their latest observation.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssessConfig {
    /// Distinct authors retelling the story that make it `spreading`.
    pub spreading_authors: usize,
    pub spreading_interactions: i64,
    /// Interactions gained per hour, across re-observations.
    pub spreading_growth_per_hour: f64,
    /// `viral` means the story clearly left its circle, which threats and safety words do not
    /// change: the `viral_*` thresholds are never lowered by `heat_factor`.
    /// Distinct authors that make a story `viral`.
    pub viral_authors: usize,
    /// Interactions (mostly likes) stay in one account's circle far longer than reposts, so
    /// this lies well above what a story that only spreads collects.
    pub viral_interactions: i64,
    pub viral_growth_per_hour: f64,
    /// Reposts, summed over the story's items at their latest observation, that carry it to
    /// strangers: `viral`.
    pub viral_reposts: i64,
    /// A news pickup by an outlet that is not the complainant's own channel, with this many
    /// distinct authors in all (the outlet counted), makes a story `viral`.
    pub viral_authors_with_news: usize,
    /// `spreading` thresholds are multiplied by this when the customer threatened to go
    /// public or the story touches safety: such cases escalate sooner.
    pub heat_factor: f64,
    /// More `unlinked` alerts than this in an hour go to the digest instead of single emails.
    pub unlinked_per_hour: i64,
}

impl Default for AssessConfig {
    fn default() -> Self {
        AssessConfig {
            spreading_authors: 3,
            spreading_interactions: 500,
            spreading_growth_per_hour: 200.0,
            viral_authors: 8,
            viral_interactions: 50_000,
            viral_growth_per_hour: 2000.0,
            viral_reposts: 1000,
            viral_authors_with_news: 2,
            heat_factor: 0.6,
            unlinked_per_hour: 5,
        }
    }
}

/// Thresholds on the link score (0..1) that separate confirmed links from candidates for
/// review. README.md explains the score.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkingConfig {
    /// A post scoring at least this for one case, clearly ahead of the next, is linked.
    #[serde(default = "default_confirm")]
    pub confirm: f64,
    /// A post scoring at least this (but not confirmed) waits for a lead's review.
    #[serde(default = "default_candidate")]
    pub candidate: f64,
    /// How far the best case must lead the runner-up to be confirmed on text alone.
    #[serde(default = "default_margin")]
    pub margin: f64,
}

impl Default for LinkingConfig {
    fn default() -> Self {
        LinkingConfig {
            confirm: default_confirm(),
            candidate: default_candidate(),
            margin: default_margin(),
        }
    }
}

fn default_confirm() -> f64 {
    0.65
}

fn default_candidate() -> f64 {
    0.35
}

fn default_margin() -> f64 {
    0.15
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://PATH` (relative to the config file) or `postgres://...`; a SQLite file
    /// beside the config when absent.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    #[serde(default = "default_sources_dir")]
    pub dir: PathBuf,
    #[serde(default = "default_interval", deserialize_with = "duration")]
    pub default_interval: Duration,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            dir: default_sources_dir(),
            default_interval: default_interval(),
        }
    }
}

fn default_sources_dir() -> PathBuf {
    PathBuf::from("sources")
}

fn default_interval() -> Duration {
    Duration::from_secs(300)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default = "default_smtp_security")]
    pub security: SmtpSecurity,
    /// Empty means no authentication; the password comes from `OUTCRY_SMTP_PASSWORD`.
    #[serde(default)]
    pub username: String,
    pub from: String,
    #[serde(default = "default_smtp_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_smtp_port() -> u16 {
    25
}

fn default_smtp_security() -> SmtpSecurity {
    SmtpSecurity::None
}

fn default_smtp_timeout() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(default)]
    pub to: Vec<String>,
    /// Where alerts are written as .eml files when there is no `[smtp]` section.
    #[serde(default = "default_outbox_dir")]
    pub dir: PathBuf,
    /// First delay before a failed delivery is retried; doubles up to `retry_max`.
    #[serde(default = "default_retry_initial", deserialize_with = "duration")]
    pub retry_initial: Duration,
    #[serde(default = "default_retry_max", deserialize_with = "duration")]
    pub retry_max: Duration,
    /// The domain of every Message-ID (`<…@domain>`); the From address's domain otherwise.
    #[serde(default)]
    pub message_id_domain: Option<String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            to: Vec::new(),
            dir: default_outbox_dir(),
            retry_initial: default_retry_initial(),
            retry_max: default_retry_max(),
            message_id_domain: None,
        }
    }
}

fn default_outbox_dir() -> PathBuf {
    PathBuf::from("outbox")
}

fn default_retry_initial() -> Duration {
    Duration::from_secs(30)
}

fn default_retry_max() -> Duration {
    Duration::from_secs(3600)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_listen", deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// Who may use the API and the web pages. Without tokens only /healthz, /metrics and
    /// the API description answer.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Where people reach outcry (`https://outcry.example.com`): alerts, digests and operator
    /// mails link to pages under it, form posts must come from this origin, and https makes
    /// the session cookie `Secure`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed; anyone else's are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<IpRange>,
    /// Connections served at once; more wait in the listen queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A client must send a request's whole header within this, or is disconnected.
    #[serde(default = "default_header_timeout", deserialize_with = "duration")]
    pub header_timeout: Duration,
    /// Failed sign-ins (page or API) one client address may make per minute.
    #[serde(default = "default_failures_per_address")]
    pub sign_in_failures_per_address: u32,
    /// Failed sign-ins from all addresses together per minute.
    #[serde(default = "default_failures_total")]
    pub sign_in_failures_total: u32,
    /// Web sessions one token may hold; signing in once more ends its oldest.
    #[serde(default = "default_sessions_per_token")]
    pub sessions_per_token: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            tokens: Vec::new(),
            public_url: None,
            trusted_proxies: Vec::new(),
            max_connections: default_max_connections(),
            header_timeout: default_header_timeout(),
            sign_in_failures_per_address: default_failures_per_address(),
            sign_in_failures_total: default_failures_total(),
            sessions_per_token: default_sessions_per_token(),
        }
    }
}

fn default_max_connections() -> usize {
    512
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_failures_per_address() -> u32 {
    10
}

fn default_failures_total() -> u32 {
    100
}

fn default_sessions_per_token() -> usize {
    5
}

/// An address or a CIDR block: `127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl TryFrom<String> for IpRange {
    type Error = String;

    fn try_from(text: String) -> Result<IpRange, String> {
        let bad = || format!("`{text}` is neither an IP address nor a CIDR block like 10.0.0.0/8");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(bad)?,
            None => width,
        };
        Ok(IpRange { network, prefix })
    }
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u8) {
            match ip.to_canonical() {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        }
        let (net, width) = bits(self.network);
        let (addr, addr_width) = bits(ip);
        if width != addr_width {
            return false;
        }
        let shift = u32::from(width - self.prefix);
        // A shift by the whole width (a /0 block) would overflow: everything matches.
        net.checked_shr(shift).unwrap_or(0) == addr.checked_shr(shift).unwrap_or(0)
    }
}

/// A bearer token. The secret itself lives in an environment variable, never in the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who the token belongs to; the audit table records it.
    pub name: String,
    pub role: Role,
    /// The environment variable holding the token.
    pub token_env: String,
}

/// What a token may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also writes cases and decides links.
    Lead,
    /// Also resends alerts; everything.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Lead => "lead",
            Role::Operator => "operator",
        }
    }
}

/// The least a token must carry, so that guessing it is hopeless even without throttling.
pub const MIN_TOKEN_BITS: f64 = 128.0;

impl TokenConfig {
    /// The token's secret from its environment variable, if it is strong enough.
    pub fn secret(&self) -> Result<String, String> {
        let Ok(secret) = std::env::var(&self.token_env) else {
            return Err(format!(
                "environment variable {} is not set",
                self.token_env
            ));
        };
        let secret = secret.trim();
        match token_weakness(secret) {
            None => Ok(secret.to_string()),
            Some(why) => Err(format!(
                "environment variable {} holds {why}; make one with `openssl rand -hex 32`",
                self.token_env
            )),
        }
    }
}

/// Why a token is too weak, never quoting it; None when it is fine. Its strength is taken
/// as a generator's: length times log2 of the alphabet its characters are drawn from (digits
/// 10, hex digits 16, one letter case with digits 36, both cases 62, with punctuation 94).
/// That overrates made-up tokens, so one more than a quarter made of runs (`aaa`, `abc`,
/// `987`) or of stretches it already had is refused whatever its length: random tokens
/// almost never are.
pub fn token_weakness(secret: &str) -> Option<String> {
    let chars: Vec<u8> = secret.bytes().collect();
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("a token that is empty or not printable ASCII without spaces".into());
    }
    let patterned = (2..chars.len())
        .filter(|&i| {
            let step = i16::from(chars[i]) - i16::from(chars[i - 1]);
            let run = step.abs() <= 1 && step == i16::from(chars[i - 1]) - i16::from(chars[i - 2]);
            let triple = &chars[i - 2..=i];
            run || chars[..i].windows(3).any(|w| w == triple)
        })
        .count();
    if patterned * 4 > chars.len() {
        return Some("a token made mostly of repeats and runs of characters".into());
    }
    let has = |f: fn(&u8) -> bool| chars.iter().any(f);
    let alphabet: u32 = if chars.iter().all(u8::is_ascii_digit) {
        10
    } else if chars.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        || chars.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'))
    {
        16
    } else {
        [
            (has(u8::is_ascii_lowercase), 26),
            (has(u8::is_ascii_uppercase), 26),
            (has(u8::is_ascii_digit), 10),
            (has(u8::is_ascii_punctuation), 32),
        ]
        .iter()
        .filter(|(present, _)| *present)
        .map(|(_, size)| size)
        .sum()
    };
    let bits = chars.len() as f64 * f64::from(alphabet).log2();
    (bits < MIN_TOKEN_BITS).then(|| {
        format!("a token of about {bits:.0} bits; at least {MIN_TOKEN_BITS:.0} are needed")
    })
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// Limits that keep one source from hurting the daemon or the site it polls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    /// The whole User-Agent, when the default (`outcry/VERSION (+contact)`) will not do. It
    /// must still name outcry, so that a site can tell who polls it.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Where a site's webmaster reaches the operator (`mailto:ops@example.com` or a URL);
    /// goes into the default User-Agent.
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
    pub connect_timeout: Duration,
    #[serde(default = "default_total_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Longest wait for the next byte; a server that stalls is cut off before `timeout`.
    #[serde(default = "default_idle_timeout", deserialize_with = "duration")]
    pub idle_timeout: Duration,
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    #[serde(default = "default_max_redirects")]
    pub max_redirects: usize,
    /// Requests in flight to one host (name and port) at a time, over all sources.
    #[serde(default = "default_per_host_concurrency")]
    pub per_host_concurrency: usize,
    /// Least time between the starts of two requests to one host.
    #[serde(default = "default_per_host_delay", deserialize_with = "duration")]
    pub per_host_delay: Duration,
    /// Upper bound of the per-source exponential back-off after failed polls.
    #[serde(default = "default_backoff_max", deserialize_with = "duration")]
    pub backoff_max: Duration,
    /// Whether URLs taken from fetched pages (item pages, next pages, redirects) may lead to
    /// loopback, private, link-local or unique-local addresses. Off, a scraped post cannot
    /// make outcry probe the network it runs in; source URLs themselves may point anywhere.
    #[serde(default)]
    pub allow_private_networks: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            user_agent: None,
            contact: None,
            connect_timeout: default_connect_timeout(),
            timeout: default_total_timeout(),
            idle_timeout: default_idle_timeout(),
            max_body_bytes: default_max_body_bytes(),
            max_redirects: default_max_redirects(),
            per_host_concurrency: default_per_host_concurrency(),
            per_host_delay: default_per_host_delay(),
            backoff_max: default_backoff_max(),
            allow_private_networks: false,
        }
    }
}

impl FetchConfig {
    /// The User-Agent every request carries.
    pub fn user_agent(&self) -> String {
        match (&self.user_agent, &self.contact) {
            (Some(agent), _) => agent.clone(),
            (None, Some(contact)) => {
                format!("outcry/{} (+{})", env!("CARGO_PKG_VERSION"), contact.trim())
            }
            (None, None) => default_user_agent(),
        }
    }
}

fn default_user_agent() -> String {
    format!(
        "outcry/{} (+https://github.com/outcry/outcry)",
        env!("CARGO_PKG_VERSION")
    )
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_total_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(15)
}

fn default_per_host_concurrency() -> usize {
    2
}

fn default_per_host_delay() -> Duration {
    Duration::from_secs(1)
}

fn default_max_body_bytes() -> usize {
    8 * 1024 * 1024
}

fn default_max_redirects() -> usize {
    5
}

fn default_backoff_max() -> Duration {
    Duration::from_secs(3600)
}

/// Who hears about the daemon's own troubles (a source failing or blind for long), apart
/// from the PR team, who only get alerts about cases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// No addresses: source trouble shows in `outcry sources` and the logs only.
    #[serde(default)]
    pub to: Vec<String>,
    /// A source failing or blind for this long sends one email; its recovery sends another.
    #[serde(default = "default_source_down_after", deserialize_with = "duration")]
    pub source_down_after: Duration,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            to: Vec::new(),
            source_down_after: default_source_down_after(),
        }
    }
}

fn default_source_down_after() -> Duration {
    Duration::from_secs(3600)
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BrandConfig {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// The `[[brands]]` tables alone, as an evaluation set's brands.toml holds them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandsFile {
    pub brands: Vec<BrandConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Feed,
    Html,
}

/// One sources/NAME.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    pub url: String,
    pub channel: Channel,
    #[serde(default, deserialize_with = "optional_duration")]
    pub interval: Option<Duration>,
    /// CSS selectors of an `html` source. Boxed, as is `item_page`: most sources are feeds,
    /// and every byte of a source's settings is paid 100,000 times.
    #[serde(default)]
    pub selectors: Option<Box<HtmlSelectors>>,
    /// The zone the site prints its times in; the daemon's local zone otherwise.
    #[serde(default, deserialize_with = "optional_zone")]
    pub timezone: Option<Zone>,
    /// An HTTP(S) proxy for this source only.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Extra request headers with literal values (Referer, Accept-Language). Secrets go in
    /// `headers_env`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request headers whose values come from environment variables (header → variable),
    /// for cookies and tokens: they never appear in files or logs.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// Pages to read per poll when `selectors.next_page` is set (default 3).
    #[serde(default)]
    pub max_pages: Option<usize>,
    /// Phrases that mark a page the source cannot see through (a login wall, a captcha), on
    /// top of the built-in ones.
    #[serde(default)]
    pub blind_markers: Vec<String>,
    /// Zero items after a poll that had some is normal here (not a sign of blindness).
    #[serde(default)]
    pub allow_empty: bool,
    /// Re-fetch the pages of items linked to cases to follow their engagement.
    #[serde(default)]
    pub item_page: Option<Box<ItemPageConfig>>,
    /// Hosts besides the source's own that links in its pages (item pages, next pages,
    /// redirects) may lead to: `m.example.com`, or `*.example.com` for its subdomains.
    #[serde(default)]
    pub follow_hosts: Vec<String>,
    /// The file this source was read from, for messages.
    #[serde(skip)]
    pub file: PathBuf,
}

impl SourceConfig {
    /// A source's settings with everything optional left out, for tests and tools.
    pub fn new(name: &str, kind: SourceKind, url: &str, channel: Channel) -> SourceConfig {
        SourceConfig {
            name: name.to_string(),
            kind,
            url: url.to_string(),
            channel,
            interval: None,
            selectors: None,
            timezone: None,
            proxy: None,
            headers: BTreeMap::new(),
            headers_env: BTreeMap::new(),
            max_pages: None,
            blind_markers: Vec::new(),
            allow_empty: false,
            item_page: None,
            follow_hosts: Vec::new(),
            file: PathBuf::new(),
        }
    }

    /// Now, in the zone the site prints its times in.
    pub fn now(&self) -> DateTime<FixedOffset> {
        match &self.timezone {
            Some(zone) => zone.now(),
            None => chrono::Local::now().fixed_offset(),
        }
    }

    /// How many list pages one poll reads.
    pub fn pages(&self) -> usize {
        let paged = self
            .selectors
            .as_ref()
            .is_some_and(|s| s.next_page.is_some());
        match (paged, self.max_pages) {
            (false, _) => 1,
            (true, Some(n)) => n,
            (true, None) => 3,
        }
    }
}

/// A site's time zone: an IANA name (`Asia/Shanghai`) or a fixed offset (`+08:00`).
///
/// Named zones come from the IANA database compiled into the binary (jiff's bundle): the
/// same rules on every host, and as plain bytes rather than tables of pointers the loader
/// would have to relocate at every start (docs/performance.md).
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(jiff::tz::TimeZone),
}

impl Zone {
    pub fn parse(text: &str) -> Result<Zone, String> {
        let text = text.trim();
        if let Ok(tz) = jiff::tz::TimeZone::get(text) {
            return Ok(Zone::Named(tz));
        }
        text.parse::<FixedOffset>().map(Zone::Fixed).map_err(|_| {
            format!("`{text}` is neither a time zone name like \"Asia/Shanghai\" nor an offset like \"+08:00\"")
        })
    }

    /// The offset in force at `t`.
    pub fn offset_at(&self, t: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Fixed(offset) => *offset,
            Zone::Named(tz) => {
                let second = t.timestamp();
                let instant = jiff::Timestamp::from_second(second).unwrap_or(if second < 0 {
                    jiff::Timestamp::MIN
                } else {
                    jiff::Timestamp::MAX
                });
                let seconds = tz.to_offset(instant).seconds();
                FixedOffset::east_opt(seconds).unwrap_or(Utc.fix())
            }
        }
    }

    /// `t` as it reads in this zone.
    pub fn local<Z: chrono::TimeZone>(&self, t: DateTime<Z>) -> DateTime<FixedOffset> {
        let t = t.with_timezone(&Utc);
        t.with_timezone(&self.offset_at(t))
    }

    /// Now in this zone, with the offset in force now (relative times are read with it).
    pub fn now(&self) -> DateTime<FixedOffset> {
        self.local(Utc::now())
    }

    /// "UTC+08:00", or the zone's name ("Asia/Shanghai").
    pub fn name(&self) -> String {
        match self {
            Zone::Fixed(offset) if offset.local_minus_utc() == 0 => "UTC".into(),
            Zone::Fixed(offset) => format!("UTC{offset}"),
            Zone::Named(tz) => tz.iana_name().unwrap_or("UTC").to_string(),
        }
    }
}

/// Where to read a linked item's current engagement on its own page. Every selector is
/// applied to the whole page; the first match counts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ItemPageConfig {
    /// Time between two fetches of one item's page.
    #[serde(default = "default_item_page_interval", deserialize_with = "duration")]
    pub interval: Duration,
    /// Items first seen longer ago than this are no longer followed.
    #[serde(default = "default_item_page_max_age", deserialize_with = "duration")]
    pub max_age: Duration,
    pub reposts: Option<String>,
    pub comments: Option<String>,
    pub likes: Option<String>,
    pub views: Option<String>,
    /// The author's follower count.
    pub followers: Option<String>,
}

fn default_item_page_interval() -> Duration {
    Duration::from_secs(30 * 60)
}

fn default_item_page_max_age() -> Duration {
    Duration::from_secs(3 * 24 * 3600)
}

/// CSS selectors that turn a page into items (sources/README.md documents each).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HtmlSelectors {
    /// One match per item; every other selector is applied inside it.
    pub item: String,
    pub title: Option<String>,
    /// The element whose `link_attr` (default `href`) holds the item's URL.
    pub link: Option<String>,
    pub link_attr: Option<String>,
    pub body: Option<String>,
    pub author: Option<String>,
    /// The author's follower count.
    pub followers: Option<String>,
    pub time: Option<String>,
    /// An element whose attribute (e.g. `data-id`) gives a stable id; the link otherwise.
    pub guid: Option<String>,
    pub guid_attr: Option<String>,
    pub reposts: Option<String>,
    pub comments: Option<String>,
    pub likes: Option<String>,
    pub views: Option<String>,
    /// Applied to the whole page: the link (`href`) to the next page of the list.
    pub next_page: Option<String>,
}

/// A validated configuration with every path resolved against the config file's folder.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub config: Config,
    pub storage_url: String,
    pub outbox_dir: PathBuf,
    pub sources: Vec<SourceConfig>,
    /// What is allowed but probably not meant (no sources, an exposed listener without a
    /// public URL); `check` prints these.
    pub warnings: Vec<Problem>,
}

impl Loaded {
    pub fn interval_of(&self, source: &SourceConfig) -> Duration {
        source
            .interval
            .unwrap_or(self.config.sources.default_interval)
    }
}

/// One thing wrong with the configuration, located by file and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                self.field,
                self.message
            )
        }
    }
}

/// Every problem found, so that an operator fixes them in one go.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl Problems {
    fn push(&mut self, file: &Path, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            file: file.to_path_buf(),
            field: field.into(),
            message: message.into(),
        });
    }
}

/// Which secrets a command needs from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// `check`: the HTTP tokens must be set and strong, and every variable a source's
    /// `headers_env` names must be set (each poll of that source would fail otherwise).
    All,
    /// `run`: the HTTP tokens must be set and strong; a source whose header variable is
    /// missing fails visibly on its own (health, operator mail) without stopping the rest.
    Serve,
    /// Commands that serve no HTTP (`cases`, `sources`, `store`): tokens are not read, so a
    /// lead importing cases needs none of the operator's secrets.
    Skip,
}

/// Reads and checks outcry.toml and every source file it points to.
pub fn load(path: &Path) -> Result<Loaded, Problems> {
    load_with(path, Secrets::Serve)
}

/// As [`load`], reading only the secrets `secrets` asks for.
pub fn load_with(path: &Path, secrets: Secrets) -> Result<Loaded, Problems> {
    let mut problems = Problems(Vec::new());
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(path, "", format!("cannot read: {e}"));
            return Err(problems);
        }
    };
    // Type errors come first, all of them; the semantic checks then run on what parsed.
    let (config, type_problems) = parse_all::<Config>(&text, path);
    problems.0.extend(type_problems);
    let Some(config) = config else {
        return Err(problems);
    };
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    check_config(&config, path, secrets, &mut problems);

    let mut warnings = Vec::new();
    let sources_dir = base.join(&config.sources.dir);
    // Only `[[brands]]` is required: without a `[sources]` table and without the default
    // folder, there are simply no sources yet.
    let sources = if !sources_table_given(&text) && !sources_dir.exists() {
        Vec::new()
    } else {
        load_sources(&sources_dir, path, &mut problems)
    };
    if secrets == Secrets::All {
        for source in &sources {
            for (name, variable) in &source.headers_env {
                if std::env::var_os(variable).is_none() {
                    problems.push(
                        &source.file,
                        format!("headers_env.{name}"),
                        format!("environment variable {variable} is not set"),
                    );
                }
            }
        }
    }
    if sources.is_empty() {
        warnings.push(Problem {
            file: path.to_path_buf(),
            field: "sources.dir".into(),
            message: format!(
                "{} holds no source file, so nothing will be polled",
                sources_dir.display()
            ),
        });
    }
    if !config.http.listen.ip().is_loopback() && config.http.public_url.is_none() {
        warnings.push(Problem {
            file: path.to_path_buf(),
            field: "http.listen".into(),
            message: format!(
                "{} is reachable from other hosts but http.public_url is not set, so form \
                 posts are refused and alerts carry no links",
                config.http.listen
            ),
        });
    }

    let storage_url = resolve_storage_url(config.storage.url.as_deref(), &base);
    let outbox_dir = base.join(&config.alerts.dir);
    if problems.0.is_empty() {
        Ok(Loaded {
            path: path.to_path_buf(),
            config,
            storage_url,
            outbox_dir,
            sources,
            warnings,
        })
    } else {
        Err(problems)
    }
}

fn sources_table_given(text: &str) -> bool {
    text.parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("sources"))
}

/// Reads one source file on its own (`outcry source test FILE`).
pub fn load_source(path: &Path) -> Result<SourceConfig, Problems> {
    let mut source = parse_file::<SourceConfig>(path)?;
    let mut problems = Problems(Vec::new());
    source.file = path.to_path_buf();
    check_source(&source, &mut problems);
    if problems.0.is_empty() {
        Ok(source)
    } else {
        Err(problems)
    }
}

/// Reads an evaluation set's brands.toml.
pub fn load_brands(path: &Path) -> Result<Vec<BrandConfig>, Problems> {
    let file: BrandsFile = parse_file(path)?;
    let mut problems = Problems(Vec::new());
    check_brands(&file.brands, path, &mut problems);
    if problems.0.is_empty() {
        Ok(file.brands)
    } else {
        Err(problems)
    }
}

fn parse_file<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, Problems> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem {
            file: path.to_path_buf(),
            field: String::new(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    match parse_all(&text, path) {
        (Some(value), problems) if problems.is_empty() => Ok(value),
        (_, problems) => Err(Problems(problems)),
    }
}

/// At most this many type errors are collected from one file.
const MAX_TYPE_ERRORS: usize = 50;

/// Every type error of the file, not only the first: after each one the offending lines are
/// blanked (line numbers stay put) and the text parsed again, so a field with a default
/// takes it and the next error shows. Gives up when blanking would break the TOML itself or
/// leave a required field missing. The value is what parsed in the end, so that the
/// semantic checks can still run on the rest.
fn parse_all<T: for<'de> Deserialize<'de>>(text: &str, path: &Path) -> (Option<T>, Vec<Problem>) {
    let mut text = text.to_string();
    let mut problems: Vec<Problem> = Vec::new();
    for _ in 0..MAX_TYPE_ERRORS {
        let (problem, span) = match parse_str::<T>(&text, path) {
            Ok(value) => return (Some(value), problems),
            Err(found) => found,
        };
        let repeated = problems
            .iter()
            .any(|p| p.field == problem.field && p.message == problem.message);
        // `host = 5` blanked makes `host` missing: already said.
        let follows_blanking = problem.message.starts_with("missing field")
            && problems.iter().any(|p| {
                p.field.starts_with(&problem.field) && p.field.len() > problem.field.len()
            });
        if repeated || follows_blanking {
            break;
        }
        problems.push(problem);
        let Some(blanked) = span.and_then(|span| blank_lines(&text, span)) else {
            break;
        };
        text = blanked;
    }
    (None, problems)
}

/// `text` with the lines of `span` emptied, or None when that would change the file's
/// structure (a table header) or break its syntax.
fn blank_lines(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let end = text[span.end.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| span.end + i);
    let first = text[start..end].trim_start();
    if first.starts_with('[') || first.starts_with('{') {
        return None;
    }
    let mut blanked = String::with_capacity(text.len());
    blanked.push_str(&text[..start]);
    blanked.extend(text[start..end].chars().filter(|&c| c == '\n'));
    blanked.push_str(&text[end..]);
    blanked.parse::<toml::Table>().ok().map(|_| blanked)
}

fn parse_str<T: for<'de> Deserialize<'de>>(
    text: &str,
    path: &Path,
) -> Result<T, (Problem, Option<std::ops::Range<usize>>)> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let span = inner.span();
        let line = span
            .clone()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = match line {
            Some(line) => format!("{} (line {line})", inner.message()),
            None => inner.message().to_string(),
        };
        let problem = Problem {
            file: path.to_path_buf(),
            field: if field == "." { String::new() } else { field },
            message,
        };
        (problem, span)
    })
}

fn resolve_storage_url(url: Option<&str>, base: &Path) -> String {
    match url {
        None => format!("sqlite://{}", base.join("outcry.db").display()),
        Some(url) => match url.strip_prefix("sqlite://") {
            Some(rest) if !rest.starts_with('/') && !rest.starts_with(":memory:") => {
                format!("sqlite://{}", base.join(rest).display())
            }
            _ => url.to_string(),
        },
    }
}

fn check_config(config: &Config, file: &Path, secrets: Secrets, problems: &mut Problems) {
    if let Some(url) = &config.storage.url {
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push(
                file,
                "storage.url",
                format!("`{url}` is neither sqlite:// nor postgres://"),
            );
        }
    }
    if config.sources.default_interval < Duration::from_secs(1) {
        problems.push(file, "sources.default_interval", "must be at least 1s");
    }
    if let Some(smtp) = &config.smtp {
        if smtp.host.trim().is_empty() {
            problems.push(file, "smtp.host", "is empty");
        }
        if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            problems.push(
                file,
                "smtp.from",
                format!("`{}` is not a mail address", smtp.from),
            );
        }
        if config.alerts.to.is_empty() && config.channels.is_empty() {
            problems.push(
                file,
                "alerts.to",
                "names no recipient, so alerts could not be mailed",
            );
        }
    }
    if let Some(url) = &config.http.public_url {
        if let Err(why) = check_public_url(url) {
            problems.push(file, "http.public_url", why);
        }
    }
    let digest_to = config.digest.iter().flat_map(|d| d.to.iter());
    let recipients = config
        .alerts
        .to
        .iter()
        .enumerate()
        .map(|(i, to)| (format!("alerts.to[{i}]"), to))
        .chain(
            digest_to
                .enumerate()
                .map(|(i, to)| (format!("digest.to[{i}]"), to)),
        );
    for (field, to) in recipients {
        if to.parse::<lettre::message::Mailbox>().is_err() {
            problems.push(file, field, format!("`{to}` is not a mail address"));
        }
    }
    if config.alerts.retry_initial.is_zero()
        || config.alerts.retry_initial > config.alerts.retry_max
    {
        problems.push(
            file,
            "alerts.retry_initial",
            "must be above zero and not above alerts.retry_max",
        );
    }
    // Heartbeats come every third of the lease; under a second they would hammer the store.
    if config.cluster.source_lease < Duration::from_secs(1) {
        problems.push(file, "cluster.source_lease", "must be at least 1s");
    }
    if config.cluster.alert_lease < Duration::from_secs(1) {
        problems.push(file, "cluster.alert_lease", "must be at least 1s");
    }
    if config
        .cluster
        .instance
        .as_deref()
        .is_some_and(|i| i.trim().is_empty())
    {
        problems.push(file, "cluster.instance", "must not be empty");
    }
    let linking = &config.linking;
    if !(0.0..=1.0).contains(&linking.confirm) {
        problems.push(file, "linking.confirm", "must be between 0 and 1");
    }
    if !(0.0..=linking.confirm).contains(&linking.candidate) {
        problems.push(
            file,
            "linking.candidate",
            "must be between 0 and linking.confirm",
        );
    }
    if !(0.0..=1.0).contains(&linking.margin) {
        problems.push(file, "linking.margin", "must be between 0 and 1");
    }
    check_fetch(&config.fetch, file, problems);
    for (i, to) in config.operator.to.iter().enumerate() {
        if to.parse::<lettre::message::Mailbox>().is_err() {
            problems.push(
                file,
                format!("operator.to[{i}]"),
                format!("`{to}` is not a mail address"),
            );
        }
    }
    if config.operator.source_down_after < Duration::from_secs(1) {
        problems.push(file, "operator.source_down_after", "must be at least 1s");
    }
    if config.daemon.shutdown_timeout < Duration::from_secs(1) {
        problems.push(file, "daemon.shutdown_timeout", "must be at least 1s");
    }
    check_retention(&config.retention, file, problems);
    check_http(&config.http, file, secrets, problems);
    if let Some(domain) = &config.alerts.message_id_domain {
        let valid = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            problems.push(
                file,
                "alerts.message_id_domain",
                format!("`{domain}` is not a domain name like mail.example.com"),
            );
        }
    }
    if config.risk.interval < Duration::from_secs(1) {
        problems.push(file, "risk.interval", "must be at least 1s");
    }
    if config.risk.alert_at.is_some_and(|a| !(a > 0.0 && a <= 1.0)) {
        problems.push(file, "risk.alert_at", "must be above 0 and at most 1");
    }
    check_brands(&config.brands, file, problems);
    check_watches(&config.watch, file, problems);
    check_channels(config, file, problems);
}

fn check_retention(retention: &RetentionConfig, file: &Path, problems: &mut Problems) {
    if retention.unlinked_items < Duration::from_secs(DAY) {
        problems.push(file, "retention.unlinked_items", "must be at least 1d");
    }
    if retention.hourly_after < Duration::from_secs(DAY) {
        problems.push(file, "retention.hourly_after", "must be at least 1d");
    }
    if retention.daily_after < retention.hourly_after {
        problems.push(
            file,
            "retention.daily_after",
            "must be at least retention.hourly_after",
        );
    }
    if retention.every < Duration::from_secs(60) {
        problems.push(file, "retention.every", "must be at least 1m");
    }
    if !(1..=10_000).contains(&retention.batch) {
        problems.push(file, "retention.batch", "must be between 1 and 10000");
    }
}

fn check_http(http: &HttpConfig, file: &Path, secrets: Secrets, problems: &mut Problems) {
    check_tokens(&http.tokens, file, secrets, problems);
    for (field, value) in [
        ("http.max_connections", http.max_connections),
        ("http.sessions_per_token", http.sessions_per_token),
        (
            "http.sign_in_failures_per_address",
            http.sign_in_failures_per_address as usize,
        ),
        (
            "http.sign_in_failures_total",
            http.sign_in_failures_total as usize,
        ),
    ] {
        if value == 0 {
            problems.push(file, field, "must be at least 1");
        }
    }
    if http.header_timeout.is_zero() {
        problems.push(file, "http.header_timeout", "must be above zero");
    }
}

/// An http(s) URL without query or fragment: pages are linked by appending their paths.
fn check_public_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{text}` is not an http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "`{text}` must be a plain http(s) URL like https://outcry.example.com, without user, query or fragment"
        ));
    }
    Ok(())
}

fn check_tokens(tokens: &[TokenConfig], file: &Path, read: Secrets, problems: &mut Problems) {
    let mut names = HashSet::new();
    let mut secrets = HashSet::new();
    for (i, token) in tokens.iter().enumerate() {
        if token.name.trim().is_empty() {
            problems.push(file, format!("http.tokens[{i}].name"), "is empty");
        } else if !names.insert(token.name.as_str()) {
            problems.push(
                file,
                format!("http.tokens[{i}].name"),
                format!("`{}` names two tokens", token.name),
            );
        }
        if read == Secrets::Skip {
            continue;
        }
        match token.secret() {
            Ok(secret) => {
                if !secrets.insert(secret) {
                    problems.push(
                        file,
                        format!("http.tokens[{i}].token_env"),
                        "holds the same token as another entry",
                    );
                }
            }
            Err(message) => problems.push(file, format!("http.tokens[{i}].token_env"), message),
        }
    }
}

fn check_fetch(fetch: &FetchConfig, file: &Path, problems: &mut Problems) {
    if fetch.max_body_bytes == 0 {
        problems.push(file, "fetch.max_body_bytes", "must be above zero");
    }
    if fetch.per_host_concurrency == 0 {
        problems.push(file, "fetch.per_host_concurrency", "must be at least 1");
    }
    if fetch.idle_timeout.is_zero() || fetch.timeout.is_zero() {
        problems.push(file, "fetch.timeout", "timeouts must be above zero");
    }
    if let Some(agent) = &fetch.user_agent {
        let header_ok = reqwest::header::HeaderValue::from_str(agent).is_ok();
        if !header_ok || !agent.to_lowercase().contains("outcry") {
            problems.push(
                file,
                "fetch.user_agent",
                "must be one line that names outcry, so that sites can tell who polls them",
            );
        }
    }
    if let Some(contact) = &fetch.contact {
        let contact = contact.trim();
        let url_ok = url::Url::parse(contact)
            .is_ok_and(|u| matches!(u.scheme(), "mailto" | "http" | "https"));
        if !url_ok || reqwest::header::HeaderValue::from_str(contact).is_err() {
            problems.push(
                file,
                "fetch.contact",
                format!("`{contact}` is neither mailto:ADDRESS nor an http(s) URL"),
            );
        }
    }
}

fn check_watches(watches: &[WatchConfig], file: &Path, problems: &mut Problems) {
    let mut names = HashSet::new();
    for (i, watch) in watches.iter().enumerate() {
        let field = |name: &str| format!("watch[{i}].{name}");
        let name_ok = !watch.name.trim().is_empty()
            && watch
                .name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            problems.push(
                file,
                field("name"),
                format!("`{}` must be letters, digits, `-`, `_` or `.`", watch.name),
            );
        } else if !names.insert(watch.name.as_str()) {
            problems.push(
                file,
                field("name"),
                format!("`{}` appears twice", watch.name),
            );
        }
        match crate::watch::placeholder(&watch.url) {
            Err(why) => problems.push(file, field("url"), why),
            Ok(fill) => {
                if fill.needs_platform() != watch.platform.is_some() {
                    let why = if watch.platform.is_some() {
                        "is set, but the url is filled with brand aliases ({alias})"
                    } else {
                        "is needed to fill {handle} or {uid} from case handles"
                    };
                    problems.push(file, field("platform"), why);
                }
            }
        }
        if watch
            .platform
            .as_deref()
            .is_some_and(|p| p.trim().is_empty() || p.contains(':'))
        {
            problems.push(file, field("platform"), "must be a name without `:`");
        }
        if watch.interval < Duration::from_secs(1) {
            problems.push(file, field("interval"), "must be at least 1s");
        }
        if let Some(risky) = watch.risky_interval {
            if risky < Duration::from_secs(1) || risky > watch.interval {
                problems.push(
                    file,
                    field("risky_interval"),
                    "must be at least 1s and no longer than interval",
                );
            }
        }
        if watch.risky_from.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            problems.push(file, field("risky_from"), "must be between 0 and 1");
        }
    }
}

fn check_brands(brands: &[BrandConfig], file: &Path, problems: &mut Problems) {
    if brands.is_empty() {
        problems.push(file, "brands", "at least one [[brands]] table is needed");
    }
    let mut names = HashSet::new();
    for (i, brand) in brands.iter().enumerate() {
        if brand.name.trim().is_empty() {
            problems.push(file, format!("brands[{i}].name"), "is empty");
        }
        if !names.insert(brand.name.as_str()) {
            problems.push(
                file,
                format!("brands[{i}].name"),
                format!("`{}` appears twice", brand.name),
            );
        }
        for (j, alias) in brand.aliases.iter().enumerate() {
            if alias.trim().is_empty() {
                problems.push(file, format!("brands[{i}].aliases[{j}]"), "is empty");
            }
        }
        for (j, phrase) in brand.exclude.iter().enumerate() {
            if phrase.trim().is_empty() {
                problems.push(file, format!("brands[{i}].exclude[{j}]"), "is empty");
            }
        }
    }
}

fn load_sources(dir: &Path, config_file: &Path, problems: &mut Problems) -> Vec<SourceConfig> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(
                config_file,
                "sources.dir",
                format!("cannot read {}: {e}", dir.display()),
            );
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    let mut sources = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for path in paths {
        match parse_file::<SourceConfig>(&path) {
            Ok(mut source) => {
                source.file = path.clone();
                check_source(&source, problems);
                if !names.insert(source.name.clone()) {
                    problems.push(
                        &path,
                        "name",
                        format!("`{}` is used by another source file", source.name),
                    );
                }
                sources.push(source);
            }
            Err(p) => problems.0.extend(p.0),
        }
    }
    sources
}

fn check_source(source: &SourceConfig, problems: &mut Problems) {
    let file = &source.file;
    if source.name.trim().is_empty() {
        problems.push(file, "name", "is empty");
    }
    match url::Url::parse(&source.url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
        Ok(u) => problems.push(
            file,
            "url",
            format!("scheme `{}` is not http or https", u.scheme()),
        ),
        Err(e) => problems.push(file, "url", format!("`{}` is not a URL: {e}", source.url)),
    }
    if let Some(interval) = source.interval {
        if interval < Duration::from_secs(1) {
            problems.push(file, "interval", "must be at least 1s");
        }
    }
    match (source.kind, &source.selectors) {
        (SourceKind::Html, None) => problems.push(
            file,
            "selectors",
            "an html source needs a [selectors] table with at least `item`",
        ),
        (SourceKind::Feed, Some(_)) => {
            problems.push(file, "selectors", "only html sources take selectors")
        }
        (SourceKind::Html, Some(selectors)) => check_selectors(selectors, file, problems),
        (SourceKind::Feed, None) => {}
    }
    if let Some(proxy) = &source.proxy {
        match url::Url::parse(proxy) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => problems.push(
                file,
                "proxy",
                format!("`{proxy}` is not an http:// or https:// proxy URL"),
            ),
        }
    }
    for (name, value) in &source.headers {
        check_header_name(name, &format!("headers.{name}"), file, problems);
        if is_secret_header(name) {
            problems.push(
                file,
                format!("headers.{name}"),
                "holds a secret: name an environment variable in headers_env instead",
            );
        } else if reqwest::header::HeaderValue::from_str(value).is_err() {
            problems.push(
                file,
                format!("headers.{name}"),
                "is not a valid header value (one line of visible characters)",
            );
        }
    }
    for (name, variable) in &source.headers_env {
        check_header_name(name, &format!("headers_env.{name}"), file, problems);
        let valid_variable = variable
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && variable
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_variable {
            problems.push(
                file,
                format!("headers_env.{name}"),
                format!("`{variable}` is not an environment variable name"),
            );
        }
    }
    if let Some(pages) = source.max_pages {
        let paged = source
            .selectors
            .as_ref()
            .is_some_and(|s| s.next_page.is_some());
        if !(1..=MAX_PAGES).contains(&pages) {
            problems.push(
                file,
                "max_pages",
                format!("must be between 1 and {MAX_PAGES}"),
            );
        } else if pages > 1 && !paged {
            problems.push(
                file,
                "max_pages",
                "needs selectors.next_page to find the next page",
            );
        }
    }
    for (i, marker) in source.blind_markers.iter().enumerate() {
        if marker.trim().is_empty() {
            problems.push(file, format!("blind_markers[{i}]"), "is empty");
        }
    }
    if let Some(item_page) = &source.item_page {
        check_item_page(item_page, file, problems);
    }
    for (i, host) in source.follow_hosts.iter().enumerate() {
        let name = host.strip_prefix("*.").unwrap_or(host);
        if url::Host::parse(name).is_err() || name.contains([':', '/', '*']) {
            problems.push(
                file,
                format!("follow_hosts[{i}]"),
                format!("`{host}` is not a host name (like m.example.com or *.example.com)"),
            );
        }
    }
}

/// More pages than this per poll is a crawl, not a poll.
const MAX_PAGES: usize = 20;

fn is_secret_header(name: &str) -> bool {
    ["cookie", "authorization", "proxy-authorization"].contains(&name.to_lowercase().as_str())
}

fn check_header_name(name: &str, field: &str, file: &Path, problems: &mut Problems) {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        problems.push(file, field, format!("`{name}` is not a header name"));
    }
}

fn check_item_page(item_page: &ItemPageConfig, file: &Path, problems: &mut Problems) {
    if item_page.interval < Duration::from_secs(1) {
        problems.push(file, "item_page.interval", "must be at least 1s");
    }
    let fields = [
        ("reposts", &item_page.reposts),
        ("comments", &item_page.comments),
        ("likes", &item_page.likes),
        ("views", &item_page.views),
        ("followers", &item_page.followers),
    ];
    if fields.iter().all(|(_, s)| s.is_none()) {
        problems.push(
            file,
            "item_page",
            "names no selector (reposts, comments, likes, views or followers)",
        );
    }
    for (name, selector) in fields {
        check_selector(
            selector.as_deref(),
            &format!("item_page.{name}"),
            file,
            problems,
        );
    }
}

fn check_selector(selector: Option<&str>, field: &str, file: &Path, problems: &mut Problems) {
    if let Some(selector) = selector {
        if let Err(e) = scraper::Selector::parse(selector) {
            problems.push(
                file,
                field,
                format!(
                    "`{selector}` is not a CSS selector: {}",
                    selector_problem(&e)
                ),
            );
        }
    }
}

/// The selector parser's error in words an operator can act on; its own text for some
/// kinds is a debug dump asking to be reported to its developers.
fn selector_problem(kind: &scraper::error::SelectorErrorKind<'_>) -> String {
    use scraper::error::SelectorErrorKind as Kind;
    match kind {
        Kind::EndOfLine => {
            "it ends too early (an unclosed bracket or parenthesis, or nothing after a combinator)"
                .into()
        }
        Kind::UnexpectedSelectorParseError(inner) => {
            let debug = format!("{inner:?}");
            let name = debug
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or_default();
            match name {
                "UnsupportedPseudoClassOrElement" | "UnexpectedIdent" => {
                    "it uses a pseudo-class that cannot be matched on a fetched page (use \
                     structural ones such as :first-child, :nth-child(2) or :not(...))"
                        .into()
                }
                "EmptySelector" => "it is empty".into(),
                "DanglingCombinator" => "a combinator (>, +, ~) has nothing after it".into(),
                "EmptyNegation" => ":not() names nothing".into(),
                "ClassNeedsIdent" => "a `.` has no class name after it".into(),
                "NoIdentForPseudo" | "PseudoElementExpectedIdent" => {
                    "a `:` has no name after it".into()
                }
                _ => "it is not valid CSS selector syntax".into(),
            }
        }
        other => other.to_string(),
    }
}

fn check_selectors(selectors: &HtmlSelectors, file: &Path, problems: &mut Problems) {
    for (name, selector) in selectors.fields() {
        check_selector(selector, &format!("selectors.{name}"), file, problems);
    }
}

impl HtmlSelectors {
    /// Every selector by its field name, `item` first; unset ones as None.
    pub fn fields(&self) -> [(&'static str, Option<&str>); 13] {
        [
            ("item", Some(self.item.as_str())),
            ("title", self.title.as_deref()),
            ("link", self.link.as_deref()),
            ("body", self.body.as_deref()),
            ("author", self.author.as_deref()),
            ("followers", self.followers.as_deref()),
            ("time", self.time.as_deref()),
            ("guid", self.guid.as_deref()),
            ("reposts", self.reposts.as_deref()),
            ("comments", self.comments.as_deref()),
            ("likes", self.likes.as_deref()),
            ("views", self.views.as_deref()),
            ("next_page", self.next_page.as_deref()),
        ]
    }
}

/// Durations are written like "90s", "5m" or "1h 30m".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration like \"90s\" or \"5m\": {e}"))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

fn zone<'de, D: Deserializer<'de>>(d: D) -> Result<Zone, D::Error> {
    let text = String::deserialize(d)?;
    Zone::parse(&text).map_err(serde::de::Error::custom)
}

fn optional_utc_offset<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FixedOffset>, D::Error> {
    utc_offset(d).map(Some)
}

fn optional_zone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Zone>, D::Error> {
    let text = String::deserialize(d)?;
    Zone::parse(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// "09:00" or "21:30".
pub fn parse_time_of_day(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| format!("`{text}` is not a time of day like \"09:00\""))
}

/// "+08:00", "-05:30", "+0800", "UTC" or "Z".
pub fn parse_utc_offset(text: &str) -> Result<FixedOffset, String> {
    let bad = || format!("`{text}` is not a UTC offset like \"+08:00\" or \"UTC\"");
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("utc") || trimmed == "Z" {
        return FixedOffset::east_opt(0).ok_or_else(bad);
    }
    let (sign, rest) = match trimmed.split_at_checked(1) {
        Some(("+", rest)) => (1, rest),
        Some(("-", rest)) => (-1, rest),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) || rest.len() > 5 {
        return Err(bad());
    }
    let hours: i32 = digits[..2].parse().map_err(|_| bad())?;
    let minutes: i32 = digits[2..].parse().map_err(|_| bad())?;
    if hours > 14 || minutes > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(bad)
}

fn time_of_day<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
    let text = String::deserialize(d)?;
    parse_time_of_day(&text).map_err(serde::de::Error::custom)
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{text}` is not an IP address and port like 127.0.0.1:8080 (a host name will not do)"
        ))
    })
}

fn utc_offset<'de, D: Deserializer<'de>>(d: D) -> Result<FixedOffset, D::Error> {
    let text = String::deserialize(d)?;
    parse_utc_offset(&text).map_err(serde::de::Error::custom)
}

/// Where a `[[channels]]` entry delivers: a chat platform's robot, a webhook, or mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Email,
    Wecom,
    Dingtalk,
    Feishu,
    Slack,
    Webhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Wecom => "wecom",
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Slack => "slack",
            ChannelKind::Webhook => "webhook",
        }
    }

    /// Messages a robot accepts per minute before the platform throttles it (DingTalk and
    /// WeCom: 20; Feishu: 100, and 5 a second; Slack: about one a second).
    pub fn per_minute(self) -> u32 {
        match self {
            ChannelKind::Dingtalk | ChannelKind::Wecom => 20,
            ChannelKind::Feishu => 100,
            ChannelKind::Slack => 60,
            ChannelKind::Webhook | ChannelKind::Email => 600,
        }
    }
}

/// The alert kinds a route may name (`alerts = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    Surfaced,
    Spreading,
    Viral,
    Unlinked,
    AtRisk,
    Digest,
    Operator,
}

impl RouteKind {
    /// Whether an alert of `kind` (as the outbox stores it) is one of these.
    pub fn covers(self, kind: &str) -> bool {
        match self {
            RouteKind::Surfaced => kind == "surfaced",
            RouteKind::Spreading => kind == "spreading",
            RouteKind::Viral => kind == "viral",
            RouteKind::Unlinked => kind == "unlinked",
            RouteKind::AtRisk => kind == "at_risk" || kind == "at-risk",
            RouteKind::Digest => kind == "digest",
            RouteKind::Operator => kind == "source-down" || kind == "source-up",
        }
    }
}

/// A case's severity as routes compare it; anything unrecognised counts as low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn of(text: Option<&str>) -> Severity {
        match text.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
            Some("high" | "critical" | "高") => Severity::High,
            Some("medium" | "中") => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

/// One `[[channels]]` entry: a destination and the route of alerts it gets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
    /// The environment variable holding the endpoint (its token is a secret).
    #[serde(default)]
    pub url_env: Option<String>,
    /// An endpoint without a secret in it.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Default: every brand.
    #[serde(default)]
    pub brands: Option<Vec<String>>,
    /// Default: the case stages and unlinked.
    #[serde(default)]
    pub alerts: Option<Vec<RouteKind>>,
    #[serde(default)]
    pub min_severity: Severity,
    /// Recipients of a `kind = "email"` channel.
    #[serde(default)]
    pub to: Vec<String>,
    /// Mobile numbers mentioned (DingTalk `atMobiles`, WeCom `mentioned_mobile_list`) when a
    /// case goes viral: the on-call people.
    #[serde(default)]
    pub mention_mobiles: Vec<String>,
    /// Sends per minute, when lower than the platform's own limit.
    #[serde(default)]
    pub per_minute: Option<u32>,
}

/// A channel's endpoint and secret, read from the environment; never logged or printed.
#[derive(Clone)]
pub struct ChannelSecrets {
    pub url: String,
    pub secret: Option<String>,
}

impl fmt::Debug for ChannelSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelSecrets(..)")
    }
}

impl ChannelConfig {
    /// Whether an alert of `kind` about `brand` with a case of `severity` goes here.
    pub fn routes(&self, kind: &str, brand: &str, severity: Option<&str>) -> bool {
        let kind_ok = match &self.alerts {
            Some(kinds) => kinds.iter().any(|k| k.covers(kind)),
            None => matches!(kind, "surfaced" | "spreading" | "viral" | "unlinked"),
        };
        let brand_ok = self
            .brands
            .as_ref()
            .is_none_or(|brands| brands.iter().any(|b| b == brand));
        // Alerts without a case (unlinked, operator, digest) have no severity to fall short.
        let severity_ok = severity.is_none() || Severity::of(severity) >= self.min_severity;
        kind_ok && brand_ok && severity_ok
    }

    pub fn per_minute(&self) -> u32 {
        let platform = self.kind.per_minute();
        self.per_minute.map_or(platform, |p| p.clamp(1, platform))
    }

    /// The endpoint and secret; the error names the field and variable, never a value.
    pub fn secrets(&self) -> Result<ChannelSecrets, (String, String)> {
        let url = match (&self.url_env, &self.url) {
            (Some(variable), None) => std::env::var(variable)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| {
                    (
                        "url_env".to_string(),
                        format!("environment variable {variable} is not set"),
                    )
                })?,
            (None, Some(url)) => url.clone(),
            (Some(_), Some(_)) => {
                return Err(("url".into(), "give url or url_env, not both".into()));
            }
            (None, None) => return Err(("url_env".into(), "is missing".into())),
        };
        let url = url.trim().to_string();
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                let field = if self.url_env.is_some() {
                    "url_env"
                } else {
                    "url"
                };
                return Err((field.into(), "is not an http(s) URL".into()));
            }
        }
        let secret = match &self.secret_env {
            Some(variable) => Some(
                std::env::var(variable)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| {
                        (
                            "secret_env".to_string(),
                            format!("environment variable {variable} is not set"),
                        )
                    })?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        Ok(ChannelSecrets { url, secret })
    }
}

fn check_channels(config: &Config, file: &Path, problems: &mut Problems) {
    let mut names = HashSet::new();
    for (i, channel) in config.channels.iter().enumerate() {
        let at = |field: &str| format!("channels[{i}].{field}");
        if channel.name.trim().is_empty() {
            problems.push(file, at("name"), "is empty");
        } else if !names.insert(channel.name.as_str()) {
            problems.push(
                file,
                at("name"),
                format!("`{}` names two channels", channel.name),
            );
        }
        let named = format!("channel `{}`: ", channel.name);
        if channel.kind == ChannelKind::Email {
            if channel.to.is_empty() {
                problems.push(file, at("to"), format!("{named}names no recipient"));
            }
            for (j, to) in channel.to.iter().enumerate() {
                if to.parse::<lettre::message::Mailbox>().is_err() {
                    problems.push(
                        file,
                        at(&format!("to[{j}]")),
                        format!("{named}`{to}` is not a mail address"),
                    );
                }
            }
        } else {
            if !channel.to.is_empty() {
                problems.push(
                    file,
                    at("to"),
                    format!("{named}only email channels take `to`"),
                );
            }
            if let Err((field, why)) = channel.secrets() {
                problems.push(file, at(&field), format!("{named}{why}"));
            }
            if matches!(channel.kind, ChannelKind::Slack) && channel.secret_env.is_some() {
                problems.push(
                    file,
                    at("secret_env"),
                    format!("{named}Slack incoming webhooks are not signed"),
                );
            }
        }
        for (j, brand) in channel.brands.iter().flatten().enumerate() {
            if !config.brands.iter().any(|b| &b.name == brand) {
                problems.push(
                    file,
                    at(&format!("brands[{j}]")),
                    format!("{named}`{brand}` is not a configured brand"),
                );
            }
        }
        if channel.per_minute == Some(0) {
            problems.push(file, at("per_minute"), format!("{named}must be at least 1"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn times_are_read_in_the_zone_and_the_zone_is_named() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T12:37:28.698439788+00:00").unwrap();
        let china = Zone::parse("+08:00").unwrap();
        assert_eq!(
            china.local(t).format("%Y-%m-%d %H:%M").to_string(),
            "2026-11-30 20:37"
        );
        assert_eq!(china.name(), "UTC+08:00");
        assert_eq!(Zone::parse("UTC").unwrap().name(), "UTC");
        assert_eq!(Zone::parse("+00:00").unwrap().name(), "UTC");
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(
            berlin.local(t).format("%H:%M %z").to_string(),
            "13:37 +0100"
        );
        assert_eq!(berlin.name(), "Europe/Berlin");
        // Summer time is the database's, not a fixed offset.
        let july = DateTime::parse_from_rfc3339("2026-07-01T12:00:00Z").unwrap();
        assert_eq!(
            berlin.local(july).format("%H:%M %z").to_string(),
            "14:00 +0200"
        );
        let shanghai = Zone::parse(" asia/shanghai ").unwrap();
        assert_eq!(shanghai.name(), "Asia/Shanghai");
        assert_eq!(shanghai.offset_at(Utc::now()).local_minus_utc(), 8 * 3600);
        assert!(Zone::parse("Mars/Olympus_Mons").is_err());
        assert!(Zone::parse("").is_err());
    }

    const MINIMAL: &str = "[[brands]]\nname = \"星驰汽车\"\naliases = [\"星驰\"]\n";

    #[test]
    fn minimal_config_takes_documented_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let path = write(dir.path(), "outcry.toml", MINIMAL);
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.config.http.listen.to_string(), "127.0.0.1:8080");
        assert!(loaded.config.smtp.is_none());
        assert_eq!(loaded.outbox_dir, dir.path().join("outbox"));
        assert_eq!(
            loaded.storage_url,
            format!("sqlite://{}", dir.path().join("outcry.db").display())
        );
        assert_eq!(
            loaded.config.sources.default_interval,
            Duration::from_secs(300)
        );
    }

    #[test]
    fn follow_hosts_private_networks_and_shutdown_timeout() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let path = write(dir.path(), "outcry.toml", MINIMAL);
        let loaded = load(&path).unwrap();
        assert!(!loaded.config.fetch.allow_private_networks);
        assert_eq!(
            loaded.config.daemon.shutdown_timeout,
            Duration::from_secs(10)
        );
        let source = |follow: &str| {
            format!("name = \"a\"\nkind = \"feed\"\nurl = \"https://bbs.example.cn/f\"\nchannel = \"forum\"\nfollow_hosts = {follow}\n")
        };
        write(
            dir.path(),
            "sources/a.toml",
            &source("[\"m.example.com\", \"*.example.org\", \"https://x.example.com/\", \"\", \"a.*.example.com\"]"),
        );
        let text = format!("[daemon]\nshutdown_timeout = \"0s\"\n{MINIMAL}");
        write(dir.path(), "outcry.toml", &text);
        let shown = load(&path).unwrap_err().to_string();
        for expected in [
            "outcry.toml: daemon.shutdown_timeout: must be at least 1s",
            "a.toml: follow_hosts[2]: `https://x.example.com/` is not a host name",
            "a.toml: follow_hosts[3]: `` is not a host name",
            "a.toml: follow_hosts[4]: `a.*.example.com` is not a host name",
        ] {
            assert!(shown.contains(expected), "{expected}\n{shown}");
        }
        assert!(!shown.contains("follow_hosts[0]"), "{shown}");
        assert!(!shown.contains("follow_hosts[1]"), "{shown}");
        write(dir.path(), "sources/a.toml", &source("[\"127.0.0.2\"]"));
        let text = format!(
            "[fetch]\nallow_private_networks = true\n[daemon]\nshutdown_timeout = \"3s\"\n{MINIMAL}"
        );
        write(dir.path(), "outcry.toml", &text);
        let loaded = load(&path).unwrap();
        assert!(loaded.config.fetch.allow_private_networks);
        assert_eq!(
            loaded.config.daemon.shutdown_timeout,
            Duration::from_secs(3)
        );
        assert_eq!(loaded.sources[0].follow_hosts, ["127.0.0.2"]);
    }

    #[test]
    fn unknown_field_is_named_with_its_section() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("[smtp]\nhost = \"x\"\nfrom = \"a@b.c\"\nprot = 25\n{MINIMAL}");
        let path = write(dir.path(), "outcry.toml", &text);
        let problems = load(&path).unwrap_err();
        let shown = problems.to_string();
        assert!(
            shown.contains("outcry.toml: smtp.prot: unknown field `prot`"),
            "{shown}"
        );
        assert!(shown.contains("line 4"), "{shown}");
    }

    #[test]
    fn every_source_problem_is_listed_with_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "outcry.toml", MINIMAL);
        write(
            dir.path(),
            "sources/a.toml",
            "name = \"a\"\nkind = \"feed\"\nurl = \"ftp://x/feed\"\nchannel = \"social\"\ninterval = \"soon\"\n",
        );
        write(
            dir.path(),
            "sources/b.toml",
            "name = \"b\"\nkind = \"html\"\nurl = \"http://127.0.0.1/x\"\nchannel = \"tv\"\n",
        );
        write(
            dir.path(),
            "sources/c.toml",
            "name = \"c\"\nkind = \"html\"\nurl = \"notaurl\"\nchannel = \"forum\"\n",
        );
        let shown = load(&path).unwrap_err().to_string();
        assert!(
            shown.contains("a.toml: interval: `soon` is not a duration"),
            "{shown}"
        );
        assert!(
            shown.contains("b.toml: channel: unknown variant `tv`"),
            "{shown}"
        );
        assert!(
            shown.contains("c.toml: url: `notaurl` is not a URL"),
            "{shown}"
        );
        assert!(
            shown.contains("c.toml: selectors: an html source needs"),
            "{shown}"
        );
    }

    #[test]
    fn tokens_come_from_the_environment_and_problems_name_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("OUTCRY_TEST_TOKEN_LEAD", "7c1e9a24b58f03d6e2a9c4b7f1d08e35");
        std::env::set_var("OUTCRY_TEST_TOKEN_SHORT", "short");
        let path = write(
            dir.path(),
            "outcry.toml",
            "[http]\ntokens = [\n  { name = \"wang\", role = \"lead\", token_env = \"OUTCRY_TEST_TOKEN_LEAD\" },\n  { name = \"ops\", role = \"operator\", token_env = \"OUTCRY_TEST_TOKEN_SHORT\" },\n  { name = \"wang\", role = \"viewer\", token_env = \"OUTCRY_TEST_TOKEN_UNSET\" },\n]\n[review]\nrelink_window = \"3d\"\n[[brands]]\nname = \"b\"\naliases = [\"b\"]\n",
        );
        let problems = load(&path).unwrap_err().to_string();
        assert!(problems.contains("http.tokens[1].token_env"), "{problems}");
        assert!(problems.contains("at least 128 are needed"), "{problems}");
        assert!(problems.contains("http.tokens[2].name"), "{problems}");
        assert!(
            problems.contains("OUTCRY_TEST_TOKEN_UNSET is not set"),
            "{problems}"
        );
        assert!(!problems.contains("http.tokens[0]"), "{problems}");
        assert!(
            !problems.contains("7c1e9a24") && !problems.contains("short"),
            "secrets never show: {problems}"
        );
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"lead\"", "\"admin\"");
        std::fs::write(&path, text).unwrap();
        let problems = load(&path).unwrap_err().to_string();
        assert!(problems.contains("unknown variant `admin`"), "{problems}");
    }

    #[test]
    fn tokens_need_128_random_looking_bits() {
        for strong in [
            "7c1e9a24b58f03d6e2a9c4b7f1d08e35", // openssl rand -hex 16
            "Qm7vT2xK9pL4wZ8rN3cF6hJ1yB5dG0sE", // 32 letters and digits
            "kF9+2xQ/aLm7Pz0Rt5Wc8Yh1Nb3Ve6Ud", // base64
            "correct-horse-battery-staple-sunlit-meadow", // words, long enough
        ] {
            assert_eq!(token_weakness(strong), None, "{strong}");
        }
        for (weak, says) in [
            ("aaaaaaaaaaaaaaaa", "repeats and runs"),
            (&"a".repeat(80), "repeats and runs"),
            ("0123456789abcdef0123456789abcdef", "repeats and runs"),
            ("abcabcabcabcabcabcabcabcabcabcabc", "repeats and runs"),
            ("Xy7pXy7pXy7pXy7pXy7pXy7pXy7pXy7p", "repeats and runs"),
            ("7c1e9a24b58f03d6e2a9c4b7f1d08e3", "about 124 bits"),
            ("lead-secret-x7", "bits"),
            ("26718394051726394851", "bits"),
            (
                "token with spaces and enough length to pass",
                "printable ASCII",
            ),
            ("令牌令牌令牌令牌令牌令牌令牌令牌", "printable ASCII"),
            ("", "empty"),
        ] {
            let why = token_weakness(weak).unwrap_or_else(|| panic!("{weak} passed"));
            assert!(why.contains(says), "{weak}: {why}");
        }
    }

    #[test]
    fn http_section_reads_proxies_and_checks_limits_and_the_public_url() {
        let http: HttpConfig = toml::from_str(
            "public_url = \"https://outcry.example.com\"\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"fd00::/8\"]\nheader_timeout = \"5s\"\n",
        )
        .unwrap();
        let contains = |ip: &str| {
            http.trusted_proxies
                .iter()
                .any(|r| r.contains(ip.parse().unwrap()))
        };
        assert!(contains("127.0.0.1") && contains("10.200.3.4") && contains("fd12::1"));
        assert!(
            contains("::ffff:10.0.0.1"),
            "IPv4-mapped peers count as IPv4"
        );
        assert!(!contains("127.0.0.2") && !contains("11.0.0.1") && !contains("::1"));
        assert_eq!(http.header_timeout, Duration::from_secs(5));
        assert_eq!(http.max_connections, 512);
        let everyone: IpRange = IpRange::try_from("0.0.0.0/0".to_string()).unwrap();
        assert!(everyone.contains("203.0.113.9".parse().unwrap()));
        for bad in ["10.0.0.0/33", "localhost", "10.0.0/8"] {
            assert!(IpRange::try_from(bad.to_string()).is_err(), "{bad}");
        }

        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "outcry.toml",
            "[http]\npublic_url = \"ftp://x\"\nmax_connections = 0\nsign_in_failures_total = 0\ntrusted_proxies = [\"proxy\"]\n[alerts]\nmessage_id_domain = \"bad domain\"\n[[brands]]\nname = \"b\"\naliases = [\"b\"]\n",
        );
        let problems = load(&path).unwrap_err().to_string();
        assert!(problems.contains("http.trusted_proxies[0]"), "{problems}");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"proxy\"", "\"::1\"");
        std::fs::write(&path, text).unwrap();
        let problems = load(&path).unwrap_err().to_string();
        for field in [
            "http.public_url",
            "http.max_connections",
            "http.sign_in_failures_total",
            "alerts.message_id_domain",
        ] {
            assert!(problems.contains(field), "{field}: {problems}");
        }
    }

    #[test]
    fn review_defaults_to_a_fortnight() {
        let review = ReviewConfig::default();
        assert_eq!(review.relink_window, Duration::from_secs(14 * 86400));
        let parsed: ReviewConfig = toml::from_str("relink_window = \"3d\"").unwrap();
        assert_eq!(parsed.relink_window, Duration::from_secs(3 * 86400));
        assert_eq!(parsed.session_ttl, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn durations_accept_seconds_minutes_and_compound_forms() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("5 minutes please").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn semantic_problems_are_all_collected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let text = "[storage]\nurl = \"mysql://x\"\n[alerts]\nto = [\"not an address\"]\n[[brands]]\nname = \"\"\n";
        let path = write(dir.path(), "outcry.toml", text);
        let shown = load(&path).unwrap_err().to_string();
        assert!(shown.contains("storage.url"), "{shown}");
        assert!(shown.contains("alerts.to[0]"), "{shown}");
        assert!(shown.contains("brands[0].name: is empty"), "{shown}");
    }

    #[test]
    fn cluster_section_reads_leases_and_rejects_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let good = "[cluster]\ninstance = \"node-a\"\nsource_lease = \"10s\"\nalert_lease = \"1m\"\n[[brands]]\nname = \"X\"\naliases = [\"X\"]\n";
        let loaded = load(&write(dir.path(), "outcry.toml", good)).unwrap();
        assert_eq!(loaded.config.cluster.instance.as_deref(), Some("node-a"));
        assert_eq!(loaded.config.cluster.source_lease, Duration::from_secs(10));
        assert_eq!(loaded.config.cluster.alert_lease, Duration::from_secs(60));

        let bad = "[cluster]\ninstance = \" \"\nsource_lease = \"0s\"\n[[brands]]\nname = \"X\"\naliases = [\"X\"]\n";
        let shown = load(&write(dir.path(), "outcry.toml", bad))
            .unwrap_err()
            .to_string();
        assert!(shown.contains("cluster.source_lease"), "{shown}");
        assert!(shown.contains("cluster.instance"), "{shown}");
    }

    #[test]
    fn duplicate_source_names_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "outcry.toml", MINIMAL);
        let source =
            "name = \"same\"\nkind = \"feed\"\nurl = \"http://127.0.0.1/f\"\nchannel = \"news\"\n";
        write(dir.path(), "sources/a.toml", source);
        write(dir.path(), "sources/b.toml", source);
        let shown = load(&path).unwrap_err().to_string();
        assert!(
            shown.contains("b.toml: name: `same` is used by another source file"),
            "{shown}"
        );
    }

    #[test]
    fn new_source_fields_are_checked_with_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "outcry.toml", MINIMAL);
        write(
            dir.path(),
            "sources/a.toml",
            "name = \"a\"\nkind = \"html\"\nurl = \"http://127.0.0.1/a\"\nchannel = \"forum\"\n\
             proxy = \"socks5://127.0.0.1:1080\"\nmax_pages = 4\nheaders = { Cookie = \"SUB=x\" }\n\
             headers_env = { \"X-Token\" = \"1BAD\" }\n[selectors]\nitem = \"li\"\nfollowers = \"span[\"\n\
             [item_page]\ninterval = \"30m\"\n",
        );
        write(
            dir.path(),
            "sources/b.toml",
            "name = \"b\"\nkind = \"feed\"\nurl = \"http://127.0.0.1/b\"\nchannel = \"news\"\ntimezone = \"Mars/Base\"\n",
        );
        let shown = load(&path).unwrap_err().to_string();
        for expected in [
            "a.toml: proxy: `socks5://127.0.0.1:1080` is not an http:// or https:// proxy URL",
            "a.toml: max_pages: needs selectors.next_page",
            "a.toml: headers.Cookie: holds a secret: name an environment variable in headers_env",
            "a.toml: headers_env.X-Token: `1BAD` is not an environment variable name",
            "a.toml: selectors.followers: `span[` is not a CSS selector",
            "a.toml: item_page: names no selector",
            "b.toml: timezone: `Mars/Base` is neither a time zone name",
        ] {
            assert!(shown.contains(expected), "{expected}\n{shown}");
        }
    }

    #[test]
    fn fetch_and_operator_settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let text = format!(
            "[fetch]\nuser_agent = \"Mozilla/5.0\"\ncontact = \"ops at example\"\nper_host_concurrency = 0\n\
             [operator]\nto = [\"not an address\"]\n{MINIMAL}"
        );
        let path = write(dir.path(), "outcry.toml", &text);
        let shown = load(&path).unwrap_err().to_string();
        for expected in [
            "fetch.user_agent: must be one line that names outcry",
            "fetch.contact: `ops at example` is neither mailto:ADDRESS nor an http(s) URL",
            "fetch.per_host_concurrency: must be at least 1",
            "operator.to[0]: `not an address` is not a mail address",
        ] {
            assert!(shown.contains(expected), "{expected}\n{shown}");
        }
        let ok = format!(
            "[fetch]\ncontact = \"mailto:ops@example.com\"\nper_host_delay = \"0s\"\n\
             [operator]\nto = [\"ops@example.com\"]\nsource_down_after = \"30m\"\n{MINIMAL}"
        );
        let path = write(dir.path(), "outcry.toml", &ok);
        let loaded = load(&path).unwrap();
        assert_eq!(
            loaded.config.operator.source_down_after,
            Duration::from_secs(1800)
        );
        assert!(loaded
            .config
            .fetch
            .user_agent()
            .ends_with("(+mailto:ops@example.com)"));
    }

    #[test]
    fn relative_sqlite_path_is_resolved_beside_the_config() {
        let base = Path::new("/etc/outcry");
        assert_eq!(
            resolve_storage_url(Some("sqlite://data/o.db"), base),
            "sqlite:///etc/outcry/data/o.db"
        );
        assert_eq!(
            resolve_storage_url(Some("sqlite:///var/o.db"), base),
            "sqlite:///var/o.db"
        );
        assert_eq!(
            resolve_storage_url(Some("postgres://u@h/db"), base),
            "postgres://u@h/db"
        );
    }

    #[test]
    fn ui_speaks_chinese_in_china_time_by_default_and_public_url_must_be_a_web_url() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let path = write(dir.path(), "outcry.toml", MINIMAL);
        let config = load(&path).unwrap().config;
        assert_eq!(config.ui, UiConfig::default());
        assert_eq!(config.ui.language, Language::ZhCn);
        assert_eq!(config.ui.time_zone, Zone::Fixed(CHINA));
        assert_eq!(config.http.public_url, None);
        let path = write(
            dir.path(),
            "outcry.toml",
            &format!("[ui]\nlanguage = \"en\"\ntime_zone = \"Europe/Berlin\"\n[http]\npublic_url = \"https://outcry.example.com\"\n{MINIMAL}"),
        );
        let config = load(&path).unwrap().config;
        assert_eq!(config.ui.language, Language::En);
        assert_eq!(config.ui.time_zone.name(), "Europe/Berlin");
        for (section, line, message) in [
            (
                "ui",
                "language = \"fr\"",
                "ui.language: unknown variant `fr`",
            ),
            (
                "ui",
                "time_zone = \"Mars\"",
                "ui.time_zone: `Mars` is neither",
            ),
            (
                "http",
                "public_url = \"ftp://x.example\"",
                "http.public_url: `ftp://x.example` is not an http(s) URL",
            ),
            (
                "http",
                "public_url = \"outcry\"",
                "http.public_url: `outcry` is not a URL",
            ),
        ] {
            let path = write(
                dir.path(),
                "outcry.toml",
                &format!("[{section}]\n{line}\n{MINIMAL}"),
            );
            let problems = load(&path).unwrap_err().to_string();
            assert!(problems.contains(message), "{line}: {problems}");
        }
    }

    #[test]
    fn digest_is_off_by_default_and_takes_documented_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let path = write(dir.path(), "outcry.toml", MINIMAL);
        assert!(load(&path).unwrap().config.digest.is_none());
        let path = write(dir.path(), "outcry.toml", &format!("[digest]\n{MINIMAL}"));
        assert_eq!(
            load(&path).unwrap().config.digest,
            Some(DigestConfig::default())
        );
        assert_eq!(DigestConfig::default().at.to_string(), "09:00:00");
        assert_eq!(DigestConfig::default().time_zone, None);
        let text = format!(
            "[digest]\nat = \"18:30\"\ntime_zone = \"-05:00\"\nto = [\"lead@example.com\"]\n{MINIMAL}"
        );
        let path = write(dir.path(), "outcry.toml", &text);
        let digest = load(&path).unwrap().config.digest.unwrap();
        assert_eq!(digest.at.to_string(), "18:30:00");
        assert_eq!(
            digest.time_zone.map(|z| z.local_minus_utc()),
            Some(-5 * 3600)
        );
        assert_eq!(digest.to, ["lead@example.com"]);
    }

    #[test]
    fn digest_problems_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        for (line, expected) in [
            ("at = \"9am\"", "digest.at: `9am` is not a time of day"),
            (
                "time_zone = \"Asia/Shanghai\"",
                "digest.time_zone: `Asia/Shanghai` is not a UTC offset",
            ),
            (
                "to = [\"nobody\"]",
                "digest.to[0]: `nobody` is not a mail address",
            ),
            ("when = \"09:00\"", "digest.when: unknown field `when`"),
        ] {
            let path = write(
                dir.path(),
                "outcry.toml",
                &format!("[digest]\n{line}\n{MINIMAL}"),
            );
            let shown = load(&path).unwrap_err().to_string();
            assert!(shown.contains(expected), "{shown}");
        }
    }

    #[test]
    fn utc_offsets_in_the_forms_people_write() {
        let secs = |t: &str| parse_utc_offset(t).map(|o| o.local_minus_utc());
        assert_eq!(secs("+08:00"), Ok(8 * 3600));
        assert_eq!(secs("+0530"), Ok(5 * 3600 + 1800));
        assert_eq!(secs("-03:00"), Ok(-3 * 3600));
        assert_eq!(secs("UTC"), Ok(0));
        assert_eq!(secs("Z"), Ok(0));
        for bad in ["8", "+8", "+25:00", "+08:61", "CST", "", "+08:00:00"] {
            assert!(parse_utc_offset(bad).is_err(), "{bad}");
        }
    }
}
