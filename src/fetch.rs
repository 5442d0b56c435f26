//! Polite HTTP fetching: per-host concurrency and spacing, conditional GET, time, idle, size
//! and redirect limits, per-source proxies and headers, and the server's Retry-After honoured
//! for the whole host and passed on so that the scheduler can back off.
//!
//! Where requests may go: a URL taken from fetched content (an item's page, a next page, a
//! redirect) is followed only onto the source's own host or its `follow_hosts`, and never to
//! a loopback, private, link-local or unique-local address (checked on the resolved address)
//! unless `fetch.allow_private_networks` is on. Redirects are followed here, hop by hop, so
//! that the source's secret headers go to its configured origin only, never past a redirect
//! that left it.

use crate::config::{FetchConfig, SourceConfig};
use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A Retry-After beyond this is treated as this: a server asking for a month's pause (or a
/// broken date) should not silence a source until an operator happens to notice.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// How much of an error page is kept to tell a login wall or "Cookies expired" from an
/// outage.
const ERROR_SNIPPET_BYTES: usize = 16 * 1024;

/// Feeds first, pages next; anything else is still accepted.
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                      application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5";

#[derive(Debug, Clone)]
pub struct FetchLimits {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// From connecting until the last body byte.
    pub timeout: Duration,
    /// Longest silence while reading.
    pub idle_timeout: Duration,
    /// Counted on the decompressed body.
    pub max_body_bytes: usize,
    pub max_redirects: usize,
    pub per_host_concurrency: usize,
    pub per_host_delay: Duration,
    /// Content-derived URLs may reach private addresses (tests, intranet sites).
    pub allow_private_networks: bool,
}

impl From<&FetchConfig> for FetchLimits {
    fn from(c: &FetchConfig) -> Self {
        FetchLimits {
            user_agent: c.user_agent(),
            connect_timeout: c.connect_timeout,
            timeout: c.timeout,
            idle_timeout: c.idle_timeout,
            max_body_bytes: c.max_body_bytes,
            max_redirects: c.max_redirects,
            per_host_concurrency: c.per_host_concurrency.max(1),
            per_host_delay: c.per_host_delay,
            allow_private_networks: c.allow_private_networks,
        }
    }
}

/// What the server said last time, for a conditional GET.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Where a URL to fetch came from, which decides where it may lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlFrom {
    /// The operator's source file: it may point anywhere (RSSHub often runs on localhost).
    Config,
    /// A fetched page (an item's link, a next page): anyone who can post there chose it.
    Content,
}

/// What one source adds to its requests: its own proxy and extra headers, and where links
/// in its pages may lead. Header values from the environment are marked sensitive, and Debug
/// shows header names only, so that a cookie never reaches a log.
#[derive(Clone, Default)]
pub struct RequestOptions {
    pub proxy: Option<String>,
    /// Literal headers (Referer, Accept-Language): with every request of the source.
    headers: HeaderMap,
    /// Headers from the environment (cookies, tokens): only to `home`.
    secret_headers: HeaderMap,
    /// The source's configured URL: its origin gets the secret headers, its host may be
    /// followed.
    home: Option<url::Url>,
    /// Lower-case host names (`*.example.com` for subdomains) links may also lead to.
    follow_hosts: Vec<String>,
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestOptions")
            .field("proxy", &self.proxy.is_some())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field(
                "secret_headers",
                &self.secret_headers.keys().collect::<Vec<_>>(),
            )
            .field("home", &self.home.as_ref().map(|u| u.origin()))
            .field("follow_hosts", &self.follow_hosts)
            .finish()
    }
}

impl RequestOptions {
    /// The source's proxy and headers, with `headers_env` read from the environment now.
    pub fn for_source(source: &SourceConfig) -> Result<RequestOptions, FetchError> {
        let mut headers = HeaderMap::new();
        let mut secret_headers = HeaderMap::new();
        let name_of = |field: &str, name: &str| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| FetchError::Config(format!("{field}: `{name}` is not a header name")))
        };
        for (name, value) in &source.headers {
            let field = format!("headers.{name}");
            let value = HeaderValue::from_str(value)
                .map_err(|_| FetchError::Config(format!("{field}: not a valid header value")))?;
            headers.insert(name_of(&field, name)?, value);
        }
        for (name, variable) in &source.headers_env {
            let field = format!("headers_env.{name}");
            let text = std::env::var(variable).map_err(|_| {
                FetchError::Config(format!(
                    "{field}: environment variable `{variable}` is not set"
                ))
            })?;
            let mut value = HeaderValue::from_str(text.trim()).map_err(|_| {
                FetchError::Config(format!(
                    "{field}: environment variable `{variable}` is not a valid header value"
                ))
            })?;
            value.set_sensitive(true);
            secret_headers.insert(name_of(&field, name)?, value);
        }
        Ok(RequestOptions {
            proxy: source.proxy.clone(),
            headers,
            secret_headers,
            home: url::Url::parse(&source.url).ok(),
            follow_hosts: source
                .follow_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        })
    }

    /// Whether a link found in the source's pages may be followed to `url`: onto the
    /// source's own host or one of its `follow_hosts`.
    pub fn may_follow(&self, url: &url::Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let home = self.home.as_ref().and_then(|h| h.host_str());
        home.is_some_and(|h| h.eq_ignore_ascii_case(&host))
            || self
                .follow_hosts
                .iter()
                .any(|allowed| match allowed.strip_prefix("*.") {
                    Some(domain) => host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                    None => *allowed == host,
                })
    }

    /// Whether `url` is on the source's configured origin (scheme, host and port).
    fn at_home(&self, url: &url::Url) -> bool {
        self.home.as_ref().is_some_and(|h| same_origin(h, url))
    }
}

#[derive(Debug)]
pub enum FetchOutcome {
    /// 304: nothing changed since the validators were issued.
    NotModified,
    Fetched(Fetched),
}

#[derive(Debug)]
pub struct Fetched {
    /// The decompressed body, not yet decoded to text.
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    /// To send with the next request to this URL.
    pub validators: Validators,
    /// After redirects; relative links in the page resolve against it.
    pub final_url: url::Url,
}

#[derive(thiserror::Error, Debug)]
pub enum FetchError {
    #[error("{}", timeout_message(*.idle))]
    Timeout {
        /// Cut off for silence (fetch.idle_timeout or connect_timeout) rather than for the
        /// total time.
        idle: bool,
    },
    #[error("response body exceeds the limit of {limit} bytes (fetch.max_body_bytes, counted after decompression)")]
    TooLarge { limit: usize },
    #[error("server answered HTTP {status}{}{}", reason(*.status), retry_note(.retry_after))]
    Status {
        status: u16,
        retry_after: Option<Duration>,
        /// The start of the error page, decoded leniently; never shown (it is the site's
        /// text), only searched for signs of a login wall.
        snippet: String,
    },
    #[error("host {host} asked us to wait (Retry-After); {}s left", .remaining.as_secs())]
    HostPaused { host: String, remaining: Duration },
    #[error("too many redirects (more than fetch.max_redirects)")]
    TooManyRedirects,
    /// A content-derived URL (or a redirect) that leads where it may not.
    #[error("not followed: {0}")]
    Refused(String),
    #[error("network error: {0}")]
    Network(String),
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("source settings: {0}")]
    Config(String),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

fn timeout_message(idle: bool) -> &'static str {
    if idle {
        "timed out: the server sent nothing for fetch.idle_timeout (or did not connect within fetch.connect_timeout)"
    } else {
        "timed out: the response was not complete within fetch.timeout"
    }
}

fn reason(status: u16) -> String {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn retry_note(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" and asked to retry after {}s", d.as_secs()),
        None => String::new(),
    }
}

impl FetchError {
    /// How long the server (or its host, earlier) asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            FetchError::HostPaused { remaining, .. } => Some(*remaining),
            _ => None,
        }
    }

    fn from_reqwest(e: reqwest::Error, elapsed: Duration, total: Duration) -> FetchError {
        let message = error_chain(&e);
        if let Some(private) = find_cause::<PrivateName>(&e) {
            FetchError::Refused(private.to_string())
        } else if e.is_timeout() {
            // The total timeout fires at `total`; anything well before it was a silence.
            FetchError::Timeout {
                idle: elapsed + Duration::from_millis(100) < total,
            }
        } else if e.is_builder() {
            FetchError::InvalidUrl(message)
        } else {
            FetchError::Network(message)
        }
    }
}

/// reqwest's own message is "error sending request for url (...)"; the cause (refused,
/// DNS, TLS, bad gzip) is further down the chain and is what an operator needs.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// The first error of type `T` in `e`'s chain of causes.
fn find_cause<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(found) = c.downcast_ref::<T>() {
            return Some(found);
        }
        cause = c.source();
    }
    None
}

/// Whether `ip` is in a loopback, private, link-local, unique-local (or otherwise
/// non-global: unspecified, shared, multicast) range, looking inside IPv4-mapped, -compatible
/// and NAT64 IPv6 addresses.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                // 100.64.0.0/10, carrier-grade NAT: another operator's private network.
                || (a == 100 && (b & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded_v4 = if let Some(v4) = v6.to_ipv4_mapped() {
                Some(v4)
            } else if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                // ::a.b.c.d, the deprecated IPv4-compatible form.
                v6.to_ipv4()
            } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // 64:ff9b::/96, NAT64: the gateway connects to the IPv4 address inside.
                Some(std::net::Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                ))
            } else {
                None
            };
            if let Some(v4) = embedded_v4 {
                return is_private(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
                || (s[0] & 0xffc0) == 0xfe80 // fe80::/10, link local
                || (s[0] & 0xffc0) == 0xfec0 // fec0::/10, the old site-local
        }
    }
}

/// A host name that resolved to private addresses only.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` resolves to a private address (fetch.allow_private_networks is off)")]
struct PrivateName(String);

/// Resolves as the system does, then drops private addresses, so that a content-derived
/// URL cannot reach the local network through a name (DNS rebinding included: the address
/// checked is the one connected to).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(Box::new(PrivateName(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// One host's share of politeness: how many requests may be in flight, when the next may
/// start, and until when the host asked everyone to stay away.
struct HostGate {
    permits: Arc<Semaphore>,
    next_start: tokio::sync::Mutex<Instant>,
    paused_until: Mutex<Option<Instant>>,
}

/// One HTTP client for all sources (one more per distinct proxy), so that connections are
/// pooled per host, and one gate per host shared by every source that polls it.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    limits: FetchLimits,
    client: reqwest::Client,
    /// For content-derived URLs by name: connects to public addresses only. None when
    /// private networks are allowed.
    public_only: Option<reqwest::Client>,
    proxied: Mutex<HashMap<String, reqwest::Client>>,
    hosts: Mutex<HashMap<String, Arc<HostGate>>>,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("limits", &self.inner.limits)
            .finish()
    }
}

/// Host name and port: what "one site" means for politeness.
fn host_key(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

/// Whether `a` and `b`, both http(s) URLs, have one origin; `Url::origin` would allocate
/// both, on every poll.
fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold no invariant a panicking holder could break halfway.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Fetcher, FetchError> {
        let client = build_client(&limits, None, false)?;
        let public_only = (!limits.allow_private_networks)
            .then(|| build_client(&limits, None, true))
            .transpose()?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                limits,
                client,
                public_only,
                proxied: Mutex::new(HashMap::new()),
                hosts: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// GETs `url`, an operator-configured URL, with no per-source settings.
    pub async fn fetch(
        &self,
        url: &str,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        self.fetch_with(url, validators, &RequestOptions::default(), UrlFrom::Config)
            .await
    }

    /// GETs `url`, conditionally when `validators` hold anything, once the host's gate lets
    /// it through; refuses a content-derived `url` the source may not follow.
    pub async fn fetch_with(
        &self,
        url: &str,
        validators: &Validators,
        options: &RequestOptions,
        from: UrlFrom,
    ) -> Result<FetchOutcome, FetchError> {
        let parsed = http_url(url::Url::parse(url), url)?;
        if from == UrlFrom::Content && !options.may_follow(&parsed) {
            return Err(not_followed(&parsed));
        }
        let host = host_key(&parsed);
        let gate = self.gate(&host);
        let _permit = self.enter(&host, &gate).await?;
        let result = self.request(parsed, validators, options, from).await;
        if let Err(FetchError::Status {
            status: 429 | 503,
            retry_after: Some(delay),
            ..
        }) = &result
        {
            // The server spoke for the whole host, not for this one URL.
            let until = Instant::now() + *delay;
            let mut paused = lock(&gate.paused_until);
            *paused = Some(paused.map_or(until, |p| p.max(until)));
        }
        result
    }

    /// The client for one hop to `url`. With `guard`, its address must not be private: an
    /// IP literal is checked here, a name by the public-only resolver, or, through a proxy
    /// (which resolves it itself), by looking it up here first.
    async fn client_for(
        &self,
        options: &RequestOptions,
        url: &url::Url,
        guard: bool,
    ) -> Result<reqwest::Client, FetchError> {
        if guard {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                Some(url::Host::Domain(_)) => None,
                None => return Err(FetchError::InvalidUrl(format!("`{url}` names no host"))),
            };
            match (literal, &options.proxy, &self.inner.public_only) {
                (Some(ip), _, _) if is_private(ip) => {
                    return Err(FetchError::Refused(format!(
                        "`{ip}` is a private address (fetch.allow_private_networks is off)"
                    )))
                }
                (Some(_), _, _) => {}
                (None, None, Some(public_only)) => return Ok(public_only.clone()),
                (None, _, _) => {
                    let name = url.host_str().unwrap_or_default();
                    let port = url.port_or_known_default().unwrap_or(80);
                    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                        .await
                        .map_err(|e| FetchError::Network(format!("cannot resolve `{name}`: {e}")))?
                        .collect();
                    if addrs.iter().any(|a| is_private(a.ip())) {
                        return Err(FetchError::Refused(
                            PrivateName(name.to_string()).to_string(),
                        ));
                    }
                }
            }
        }
        let Some(proxy) = &options.proxy else {
            return Ok(self.inner.client.clone());
        };
        let mut clients = lock(&self.inner.proxied);
        if let Some(client) = clients.get(proxy) {
            return Ok(client.clone());
        }
        let client = build_client(&self.inner.limits, Some(proxy), false)?;
        clients.insert(proxy.clone(), client.clone());
        Ok(client)
    }

    fn gate(&self, host: &str) -> Arc<HostGate> {
        let mut hosts = lock(&self.inner.hosts);
        if let Some(gate) = hosts.get(host) {
            return gate.clone();
        }
        hosts
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(HostGate {
                    permits: Arc::new(Semaphore::new(self.inner.limits.per_host_concurrency)),
                    next_start: tokio::sync::Mutex::new(Instant::now()),
                    paused_until: Mutex::new(None),
                })
            })
            .clone()
    }

    /// Waits for a slot on the host and for its spacing; refuses at once while the host
    /// asked us to stay away, so that the caller backs off instead of sleeping here.
    async fn enter(&self, host: &str, gate: &HostGate) -> Result<OwnedSemaphorePermit, FetchError> {
        let paused = |gate: &HostGate| {
            let until = (*lock(&gate.paused_until))?;
            let remaining = until.saturating_duration_since(Instant::now());
            (!remaining.is_zero()).then(|| FetchError::HostPaused {
                host: host.to_string(),
                remaining,
            })
        };
        if let Some(e) = paused(gate) {
            return Err(e);
        }
        let permit = gate
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| FetchError::Client(e.to_string()))?;
        let mut next_start = gate.next_start.lock().await;
        // Only a wait to come costs a timer: with no spacing, most polls have none.
        if *next_start > Instant::now() {
            tokio::time::sleep_until((*next_start).into()).await;
        }
        // A pause may have begun while we queued.
        if let Some(e) = paused(gate) {
            return Err(e);
        }
        *next_start = Instant::now() + self.inner.limits.per_host_delay;
        Ok(permit)
    }

    /// Sends the request and follows its redirects, checking every hop: a content-derived
    /// chain stays on the hosts the source may follow, every hop but an operator-configured
    /// URL and its own origin must reach a public address, and the secret headers go only
    /// to the configured origin before the chain ever left it.
    async fn request(
        &self,
        mut url: url::Url,
        validators: &Validators,
        options: &RequestOptions,
        from: UrlFrom,
    ) -> Result<FetchOutcome, FetchError> {
        let limits = &self.inner.limits;
        let started = Instant::now();
        let failed =
            |e: reqwest::Error| FetchError::from_reqwest(e, started.elapsed(), limits.timeout);
        // The operator chose a configured URL's origin, as they chose the source's.
        let trusted = (from == UrlFrom::Config).then(|| url.clone());
        let mut left_home = false;
        for hop in 0..=limits.max_redirects {
            left_home |= !options.at_home(&url);
            let guard = (from == UrlFrom::Content || hop > 0)
                && !limits.allow_private_networks
                && !options.at_home(&url)
                && !trusted.as_ref().is_some_and(|t| same_origin(t, &url));
            let client = self.client_for(options, &url, guard).await?;
            // fetch.timeout covers the whole chain, not each hop.
            let remaining = limits
                .timeout
                .checked_sub(started.elapsed())
                .filter(|d| !d.is_zero())
                .ok_or(FetchError::Timeout { idle: false })?;
            let mut request = client
                .get(url.clone())
                .timeout(remaining)
                .header(header::ACCEPT, HeaderValue::from_static(ACCEPT))
                .headers(options.headers.clone());
            if !left_home {
                request = request.headers(options.secret_headers.clone());
            }
            // A stored validator that is not a valid header value (it came from some server)
            // costs us the conditional GET, not the fetch.
            if let Some(v) = validators
                .etag
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                request = request.header(header::IF_NONE_MATCH, v);
            }
            if let Some(v) = validators
                .last_modified
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                request = request.header(header::IF_MODIFIED_SINCE, v);
            }
            let response = request.send().await.map_err(failed)?;
            let location = matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308)
                .then(|| header_text(response.headers(), header::LOCATION))
                .flatten();
            let Some(location) = location else {
                return self.read(response, &started).await;
            };
            let next = http_url(url.join(&location), &location)?;
            if from == UrlFrom::Content && !options.may_follow(&next) {
                return Err(not_followed(&next));
            }
            url = next;
        }
        Err(FetchError::TooManyRedirects)
    }

    /// The final response of a chain: its body within the limits, or the error its status
    /// means.
    async fn read(
        &self,
        mut response: reqwest::Response,
        started: &Instant,
    ) -> Result<FetchOutcome, FetchError> {
        let limits = &self.inner.limits;
        let failed =
            |e: reqwest::Error| FetchError::from_reqwest(e, started.elapsed(), limits.timeout);
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            let retry_after = retry_after(response.headers(), Utc::now());
            let mut snippet = Vec::new();
            // A broken error body still tells its status; what was read is enough.
            while let Ok(Some(chunk)) = response.chunk().await {
                snippet.extend_from_slice(&chunk);
                if snippet.len() >= ERROR_SNIPPET_BYTES {
                    break;
                }
            }
            snippet.truncate(ERROR_SNIPPET_BYTES);
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after,
                snippet: String::from_utf8_lossy(&snippet).into_owned(),
            });
        }

        let limit = limits.max_body_bytes;
        // Content-Length (when the body is not compressed) lets us refuse before reading.
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(FetchError::TooLarge { limit });
        }
        let headers = response.headers();
        let content_type = header_text(headers, header::CONTENT_TYPE);
        let new_validators = Validators {
            etag: header_text(headers, header::ETAG),
            last_modified: header_text(headers, header::LAST_MODIFIED),
        };
        let final_url = response.url().clone();

        // Chunks arrive already decompressed, so the cap bounds memory even for a gzip
        // bomb: we stop pulling (and so stop inflating) as soon as it is passed.
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if bytes.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Fetched(Fetched {
            bytes,
            content_type,
            validators: new_validators,
            final_url,
        }))
    }
}

/// `parsed` (the text `text`) when it is an http(s) URL.
fn http_url(parsed: Result<url::Url, url::ParseError>, text: &str) -> Result<url::Url, FetchError> {
    let url = parsed.map_err(|e| FetchError::InvalidUrl(format!("`{text}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::InvalidUrl(format!(
            "`{text}`: scheme `{}` is not http or https",
            url.scheme()
        )));
    }
    Ok(url)
}

fn not_followed(url: &url::Url) -> FetchError {
    FetchError::Refused(format!(
        "`{}` is neither on the source's host nor in its follow_hosts",
        url.host_str().unwrap_or_default()
    ))
}

/// `public_only` for the client of content-derived URLs by name.
fn build_client(
    limits: &FetchLimits,
    proxy: Option<&str>,
    public_only: bool,
) -> Result<reqwest::Client, FetchError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(limits.user_agent.clone())
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.timeout)
        .read_timeout(limits.idle_timeout)
        // Followed by hand (Fetcher::request), to check each hop and choose its headers.
        .redirect(reqwest::redirect::Policy::none())
        .gzip(true)
        .brotli(true)
        .deflate(true);
    if public_only {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    if let Some(proxy) = proxy {
        let proxy = reqwest::Proxy::all(proxy)
            .map_err(|e| FetchError::Config(format!("proxy: {}", error_chain(&e))))?;
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| FetchError::Client(error_chain(&e)))
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}
/// Retry-After as delay-seconds or as an HTTP date (RFC 7231 §7.1.3), capped.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is valid RFC 2822.
        let at = DateTime::parse_from_rfc2822(value).ok()?;
        // A date in the past means "now".
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Some(delay.min(RETRY_AFTER_CAP))
}

/// Exponential back-off per source: `base * 2^(failures-1)` capped at `max`, never below a
/// Retry-After the server asked for. Zero failures means no back-off beyond Retry-After.
pub fn backoff(
    consecutive_failures: u32,
    base: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let exponential = if consecutive_failures == 0 {
        Duration::ZERO
    } else {
        // 2^31 × any base is past any sane max already; the shift must not overflow.
        let factor = 1u32 << (consecutive_failures - 1).min(31);
        base.checked_mul(factor).unwrap_or(max).min(max)
    };
    exponential.max(retry_after.unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::extract::RawQuery;
    use axum::http::{HeaderMap as AxHeaders, StatusCode as AxStatus};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::Router;
    use std::convert::Infallible;
    use std::io::Write;

    const CAP: usize = 1024 * 1024;

    fn limits(timeout: Duration) -> FetchLimits {
        FetchLimits {
            user_agent: "outcry-test/1".into(),
            connect_timeout: Duration::from_secs(2),
            timeout,
            idle_timeout: Duration::from_secs(5),
            max_body_bytes: CAP,
            max_redirects: 3,
            per_host_concurrency: 4,
            per_host_delay: Duration::ZERO,
            allow_private_networks: false,
        }
    }

    async fn etag(headers: AxHeaders) -> Response {
        let ua_ok = headers
            .get("user-agent")
            .is_some_and(|v| v == "outcry-test/1");
        if !ua_ok {
            return (AxStatus::BAD_REQUEST, "no user agent").into_response();
        }
        if headers.get("if-none-match").is_some_and(|v| v == "\"v1\"")
            && headers
                .get("if-modified-since")
                .is_some_and(|v| v == "Fri, 20 Nov 2026 08:00:00 GMT")
        {
            return AxStatus::NOT_MODIFIED.into_response();
        }
        (
            [
                ("etag", "\"v1\""),
                ("last-modified", "Fri, 20 Nov 2026 08:00:00 GMT"),
                ("content-type", "application/rss+xml; charset=utf-8"),
            ],
            "<rss/>",
        )
            .into_response()
    }

    fn gzip_of_zeros(len: usize) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let block = vec![0u8; 1024 * 1024];
        for _ in 0..len / block.len() {
            encoder.write_all(&block).unwrap();
        }
        encoder.finish().unwrap()
    }

    /// A small body whose bytes come one at a time, 200 ms apart.
    fn trickle() -> Body {
        let stream = futures::stream::unfold(0u32, |n| async move {
            if n >= 50 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            Some((Ok::<_, Infallible>(Bytes::from_static(b"x")), n + 1))
        });
        Body::from_stream(stream)
    }

    /// A few bytes, then silence far longer than any test waits.
    fn stall() -> Body {
        let stream = futures::stream::unfold(0u32, |n| async move {
            if n > 0 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Some((Ok::<_, Infallible>(Bytes::from_static(b"<rss>")), n + 1))
        });
        Body::from_stream(stream)
    }

    /// The request headers as "name: value" lines.
    async fn echo(headers: AxHeaders) -> String {
        headers
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or("?")))
            .collect()
    }

    static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static MOST_IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Holds each request a while, counting how many overlap.
    async fn slow() -> &'static str {
        use std::sync::atomic::Ordering::SeqCst;
        let now = IN_FLIGHT.fetch_add(1, SeqCst) + 1;
        MOST_IN_FLIGHT.fetch_max(now, SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        IN_FLIGHT.fetch_sub(1, SeqCst);
        "ok"
    }

    async fn serve() -> String {
        serve_on("127.0.0.1").await.0
    }

    /// The test server on loopback address `ip`, and how many requests it got.
    async fn serve_on(ip: &str) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let app = Router::new()
            .route("/etag", get(etag))
            .route("/big", get(|| async { vec![b'a'; CAP + 1] }))
            .route(
                "/big-chunked",
                get(|| async {
                    let chunks =
                        (0..3).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'a'; CAP / 2])));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            )
            .route(
                "/exact",
                get(|| async {
                    Body::from_stream(futures::stream::iter([Ok::<_, Infallible>(Bytes::from(
                        vec![b'a'; CAP],
                    ))]))
                }),
            )
            .route(
                "/bomb",
                get(|| async {
                    // 50 MB of zeros, about 50 KB on the wire.
                    let bomb = tokio::task::spawn_blocking(|| gzip_of_zeros(50 * 1024 * 1024))
                        .await
                        .unwrap();
                    (
                        [("content-encoding", "gzip"), ("content-type", "text/html")],
                        bomb,
                    )
                }),
            )
            .route(
                "/gz",
                get(|| async {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    e.write_all("星驰汽车".as_bytes()).unwrap();
                    ([("content-encoding", "gzip")], e.finish().unwrap())
                }),
            )
            .route(
                "/loop",
                get(|| async { (AxStatus::FOUND, [("location", "/loop")]) }),
            )
            .route(
                "/hop",
                get(|| async { (AxStatus::FOUND, [("location", "/etag")]) }),
            )
            .route(
                "/limited",
                get(|| async { (AxStatus::TOO_MANY_REQUESTS, [("retry-after", "7")]) }),
            )
            .route("/gone", get(|| async { AxStatus::SERVICE_UNAVAILABLE }))
            .route(
                "/unavailable",
                get(|| async {
                    (
                        AxStatus::SERVICE_UNAVAILABLE,
                        [("retry-after", "5")],
                        "Error: Cookies expired",
                    )
                }),
            )
            .route("/trickle", get(|| async { trickle() }))
            .route("/stall", get(|| async { stall() }))
            .route("/echo", get(echo))
            .route("/proxied", get(|| async { "via proxy" }))
            .route("/slow", get(slow))
            // Redirects to the URL that is its whole query string.
            .route(
                "/away",
                get(|RawQuery(to): RawQuery| async move {
                    (AxStatus::FOUND, [("location", to.unwrap_or_default())])
                }),
            )
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    next.run(request)
                },
            ));
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), hits)
    }

    fn fetcher() -> Fetcher {
        Fetcher::new(limits(Duration::from_secs(10))).unwrap()
    }

    #[tokio::test]
    async fn etag_then_not_modified() {
        let base = serve().await;
        let f = fetcher();
        let first = f
            .fetch(&format!("{base}/etag"), &Validators::default())
            .await
            .unwrap();
        let FetchOutcome::Fetched(fetched) = first else {
            panic!("expected a body, got {first:?}");
        };
        assert_eq!(fetched.bytes, b"<rss/>");
        assert_eq!(
            fetched.content_type.as_deref(),
            Some("application/rss+xml; charset=utf-8")
        );
        assert_eq!(fetched.validators.etag.as_deref(), Some("\"v1\""));
        let second = f
            .fetch(&format!("{base}/etag"), &fetched.validators)
            .await
            .unwrap();
        assert!(matches!(second, FetchOutcome::NotModified), "{second:?}");
    }

    #[tokio::test]
    async fn redirects_are_followed_and_final_url_reported() {
        let base = serve().await;
        let outcome = fetcher()
            .fetch(&format!("{base}/hop"), &Validators::default())
            .await
            .unwrap();
        let FetchOutcome::Fetched(fetched) = outcome else {
            panic!("expected a body");
        };
        assert_eq!(fetched.final_url.path(), "/etag");
    }

    #[tokio::test]
    async fn gzip_bodies_are_decompressed() {
        let base = serve().await;
        let outcome = fetcher()
            .fetch(&format!("{base}/gz"), &Validators::default())
            .await
            .unwrap();
        let FetchOutcome::Fetched(fetched) = outcome else {
            panic!("expected a body");
        };
        assert_eq!(fetched.bytes, "星驰汽车".as_bytes());
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused() {
        let base = serve().await;
        let f = fetcher();
        for path in ["/big", "/big-chunked"] {
            let err = f
                .fetch(&format!("{base}{path}"), &Validators::default())
                .await
                .unwrap_err();
            assert!(
                matches!(err, FetchError::TooLarge { limit: CAP }),
                "{path}: {err:?}"
            );
        }
        let exact = f
            .fetch(&format!("{base}/exact"), &Validators::default())
            .await
            .unwrap();
        assert!(matches!(exact, FetchOutcome::Fetched(ref b) if b.bytes.len() == CAP));
    }

    #[tokio::test]
    async fn gzip_bomb_stops_at_the_cap() {
        let base = serve().await;
        let err = fetcher()
            .fetch(&format!("{base}/bomb"), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: CAP }),
            "{err:?}"
        );
        assert!(err.to_string().contains("after decompression"));
    }

    #[tokio::test]
    async fn redirect_loop_is_cut_off() {
        let base = serve().await;
        let err = fetcher()
            .fetch(&format!("{base}/loop"), &Validators::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::TooManyRedirects), "{err:?}");
    }

    #[tokio::test]
    async fn status_errors_carry_retry_after() {
        let base = serve().await;
        let f = fetcher();
        let err = f
            .fetch(&format!("{base}/limited"), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: 429, retry_after: Some(d), .. } if d == Duration::from_secs(7)),
            "{err:?}"
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            err.to_string(),
            "server answered HTTP 429 Too Many Requests and asked to retry after 7s"
        );
        // The server spoke for its whole host: another URL there is not even requested.
        let err = f
            .fetch(&format!("{base}/etag"), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::HostPaused { remaining, .. } if remaining <= Duration::from_secs(7) && remaining > Duration::from_secs(5)),
            "{err:?}"
        );
        assert!(err.retry_after().is_some());
        let err = fetcher()
            .fetch(&format!("{base}/gone"), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Status {
                    status: 503,
                    retry_after: None,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_stalled_server_hits_the_idle_timeout_before_the_total_one() {
        let base = serve().await;
        let f = Fetcher::new(FetchLimits {
            idle_timeout: Duration::from_millis(500),
            ..limits(Duration::from_secs(30))
        })
        .unwrap();
        let started = std::time::Instant::now();
        let err = f
            .fetch(&format!("{base}/stall"), &Validators::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Timeout { idle: true }), "{err:?}");
        assert!(err.to_string().contains("fetch.idle_timeout"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn one_host_gets_a_limited_number_of_spaced_requests() {
        use std::sync::atomic::Ordering::SeqCst;
        let base = serve().await;
        let f = Fetcher::new(FetchLimits {
            per_host_concurrency: 2,
            per_host_delay: Duration::from_millis(20),
            ..limits(Duration::from_secs(30))
        })
        .unwrap();
        let started = std::time::Instant::now();
        let fetches = (0..6).map(|_| {
            let f = f.clone();
            let url = format!("{base}/slow");
            async move { f.fetch(&url, &Validators::default()).await }
        });
        for result in futures::future::join_all(fetches).await {
            assert!(matches!(result, Ok(FetchOutcome::Fetched(_))), "{result:?}");
        }
        assert_eq!(MOST_IN_FLIGHT.load(SeqCst), 2, "two at a time, not more");
        // Six requests, two at a time, 150 ms each: at least three rounds, and five gaps.
        assert!(started.elapsed() >= Duration::from_millis(450));
    }

    #[tokio::test]
    async fn source_headers_are_sent_and_secret_ones_never_shown() {
        let base = serve().await;
        let mut source = SourceConfig::new(
            "s",
            crate::config::SourceKind::Feed,
            &format!("{base}/echo"),
            crate::model::Channel::Social,
        );
        source
            .headers
            .insert("Referer".into(), "https://s.weibo.com/".into());
        source
            .headers_env
            .insert("Cookie".into(), "OUTCRY_TEST_FETCH_COOKIE".into());
        let err = RequestOptions::for_source(&source).unwrap_err();
        assert!(
            err.to_string().contains(
                "headers_env.Cookie: environment variable `OUTCRY_TEST_FETCH_COOKIE` is not set"
            ),
            "{err}"
        );
        std::env::set_var("OUTCRY_TEST_FETCH_COOKIE", "SUB=secret-token-123");
        let options = RequestOptions::for_source(&source).unwrap();
        assert!(
            !format!("{options:?}").contains("secret-token"),
            "{options:?}"
        );
        let outcome = fetcher()
            .fetch_with(
                &source.url,
                &Validators::default(),
                &options,
                UrlFrom::Config,
            )
            .await
            .unwrap();
        let FetchOutcome::Fetched(fetched) = outcome else {
            panic!("expected a body");
        };
        let echoed = String::from_utf8(fetched.bytes).unwrap();
        assert!(echoed.contains("cookie: SUB=secret-token-123"), "{echoed}");
        assert!(echoed.contains("referer: https://s.weibo.com/"), "{echoed}");
        assert!(echoed.contains("user-agent: outcry-test/1"), "{echoed}");
    }

    #[tokio::test]
    async fn a_source_proxy_carries_its_requests() {
        let proxy = serve().await;
        let options = RequestOptions {
            proxy: Some(proxy.clone()),
            ..RequestOptions::default()
        };
        // No such host exists: only the proxy can answer.
        let outcome = fetcher()
            .fetch_with(
                "http://forum.invalid/proxied",
                &Validators::default(),
                &options,
                UrlFrom::Config,
            )
            .await
            .unwrap();
        let FetchOutcome::Fetched(fetched) = outcome else {
            panic!("expected a body");
        };
        assert_eq!(fetched.bytes, b"via proxy");
    }

    #[tokio::test]
    async fn a_503_with_retry_after_pauses_the_host_and_keeps_its_page() {
        let base = serve().await;
        let f = fetcher();
        let err = f
            .fetch(&format!("{base}/unavailable"), &Validators::default())
            .await
            .unwrap_err();
        let FetchError::Status {
            status: 503,
            retry_after: Some(delay),
            ref snippet,
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!(delay, Duration::from_secs(5));
        assert_eq!(snippet, "Error: Cookies expired");
        assert!(
            !err.to_string().contains("Cookies"),
            "the site's text is not shown: {err}"
        );
        let err = f
            .fetch(&format!("{base}/etag"), &Validators::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::HostPaused { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn slow_trickle_hits_the_total_timeout() {
        let base = serve().await;
        let f = Fetcher::new(limits(Duration::from_secs(1))).unwrap();
        let started = std::time::Instant::now();
        let err = f
            .fetch(&format!("{base}/trickle"), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Timeout { idle: false }),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn refused_connection_and_bad_urls_are_told_apart() {
        // A port bound but not listening refuses connections, and nobody else can take it.
        let closed = tokio::net::TcpSocket::new_v4().unwrap();
        closed.bind(([127, 0, 0, 1], 0).into()).unwrap();
        let port = closed.local_addr().unwrap().port();
        let err = fetcher()
            .fetch(&format!("http://127.0.0.1:{port}/"), &Validators::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Network(_)), "{err:?}");
        let err = fetcher()
            .fetch("ftp://example.com/x", &Validators::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl(_)), "{err:?}");
        let err = fetcher()
            .fetch("not a url", &Validators::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl(_)), "{err:?}");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-20T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(120)));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Fri, 20 Nov 2026 08:01:30 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(90)));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Fri, 20 Nov 2026 07:00:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("99999999"));
        assert_eq!(retry_after(&h, now), Some(RETRY_AFTER_CAP));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn backoff_doubles_caps_and_respects_retry_after() {
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(300);
        let secs = |n| backoff(n, base, max, None).as_secs();
        assert_eq!(
            [secs(0), secs(1), secs(2), secs(3), secs(4)],
            [0, 5, 10, 20, 40]
        );
        assert_eq!(secs(7), 300);
        assert_eq!(secs(40), 300);
        assert_eq!(secs(u32::MAX), 300);
        assert_eq!(
            backoff(1, base, max, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(
            backoff(5, base, max, Some(Duration::from_secs(7))),
            Duration::from_secs(80)
        );
        // Retry-After beats even the cap: the server asked for it.
        assert_eq!(
            backoff(9, base, max, Some(Duration::from_secs(900))),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn limits_come_from_config() {
        let config = FetchConfig::default();
        let l = FetchLimits::from(&config);
        assert_eq!(l.max_body_bytes, config.max_body_bytes);
        assert_eq!(l.max_redirects, config.max_redirects);
        assert_eq!(l.timeout, config.timeout);
        assert_eq!(l.user_agent, config.user_agent());
        assert!(l.user_agent.starts_with("outcry/"), "{}", l.user_agent);
        let with_contact = FetchConfig {
            contact: Some("mailto:ops@example.com".into()),
            ..FetchConfig::default()
        };
        assert_eq!(
            with_contact.user_agent(),
            format!(
                "outcry/{} (+mailto:ops@example.com)",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    /// A source on `home` whose Cookie and X-Api-Key come from the environment.
    fn secret_options(home: &str, follow_hosts: &[&str]) -> RequestOptions {
        std::env::set_var("OUTCRY_TEST_NET_COOKIE", "SUB=net-secret-cookie");
        std::env::set_var("OUTCRY_TEST_NET_KEY", "net-secret-key");
        let mut source = SourceConfig::new(
            "s",
            crate::config::SourceKind::Feed,
            &format!("{home}/feed"),
            crate::model::Channel::Social,
        );
        source
            .headers
            .insert("Referer".into(), "https://s.example.com/".into());
        source
            .headers_env
            .insert("Cookie".into(), "OUTCRY_TEST_NET_COOKIE".into());
        source
            .headers_env
            .insert("X-Api-Key".into(), "OUTCRY_TEST_NET_KEY".into());
        source.follow_hosts = follow_hosts.iter().map(|h| h.to_string()).collect();
        RequestOptions::for_source(&source).unwrap()
    }

    async fn body_of(
        f: &Fetcher,
        url: &str,
        options: &RequestOptions,
        from: UrlFrom,
    ) -> Result<(String, url::Url), FetchError> {
        match f
            .fetch_with(url, &Validators::default(), options, from)
            .await?
        {
            FetchOutcome::Fetched(fetched) => {
                Ok((String::from_utf8(fetched.bytes).unwrap(), fetched.final_url))
            }
            FetchOutcome::NotModified => panic!("no validators were sent"),
        }
    }

    #[tokio::test]
    async fn secret_headers_reach_the_configured_origin_only() {
        let (a, _) = serve_on("127.0.0.1").await;
        let (b, _) = serve_on("127.0.0.2").await;
        let f = Fetcher::new(FetchLimits {
            allow_private_networks: true,
            ..limits(Duration::from_secs(10))
        })
        .unwrap();
        let options = secret_options(&a, &["127.0.0.2"]);
        let secret = |echoed: &str| {
            echoed.contains("net-secret-cookie") || echoed.contains("net-secret-key")
        };

        let (echoed, _) = body_of(&f, &format!("{a}/echo"), &options, UrlFrom::Config)
            .await
            .unwrap();
        assert!(echoed.contains("cookie: SUB=net-secret-cookie"), "{echoed}");
        assert!(echoed.contains("x-api-key: net-secret-key"), "{echoed}");
        // A same-origin item page gets them too.
        let (echoed, _) = body_of(&f, &format!("{a}/echo"), &options, UrlFrom::Content)
            .await
            .unwrap();
        assert!(secret(&echoed), "{echoed}");

        // The configured URL redirects to another host, a link leads there directly, or
        // through the source's own host, or there and back: never a secret past the home
        // origin. Literal headers are no secret and go along.
        for (url, from) in [
            (format!("{a}/away?{b}/echo"), UrlFrom::Config),
            (format!("{b}/echo"), UrlFrom::Content),
            (format!("{a}/away?{b}/echo"), UrlFrom::Content),
            (format!("{a}/away?{b}/away?{a}/echo"), UrlFrom::Content),
        ] {
            let (echoed, final_url) = body_of(&f, &url, &options, from).await.unwrap();
            assert!(!secret(&echoed), "{url}: {echoed}");
            assert!(
                echoed.contains("referer: https://s.example.com/"),
                "{url}: {echoed}"
            );
            assert_eq!(final_url.path(), "/echo");
        }

        // Without follow_hosts, a link (or its redirect) stays on the source's host.
        let own_only = secret_options(&a, &[]);
        for url in [format!("{b}/echo"), format!("{a}/away?{b}/echo")] {
            let err = body_of(&f, &url, &own_only, UrlFrom::Content)
                .await
                .unwrap_err();
            assert!(matches!(err, FetchError::Refused(_)), "{url}: {err:?}");
            assert!(err.to_string().contains("follow_hosts"), "{err}");
        }
    }

    #[tokio::test]
    async fn content_links_never_reach_private_addresses_unless_allowed() {
        let (a, a_hits) = serve_on("127.0.0.1").await;
        let (b, b_hits) = serve_on("127.0.0.2").await;
        let b_port = url::Url::parse(&b).unwrap().port().unwrap();
        let f = fetcher();
        let options = secret_options(&a, &["127.0.0.2", "localhost"]);
        // The operator's URL may be anywhere, and so may links on its own origin.
        body_of(&f, &format!("{a}/echo"), &options, UrlFrom::Config)
            .await
            .unwrap();
        body_of(&f, &format!("{a}/echo"), &options, UrlFrom::Content)
            .await
            .unwrap();
        let a_before = a_hits.load(std::sync::atomic::Ordering::SeqCst);
        for (url, from) in [
            (format!("{b}/echo"), UrlFrom::Content),
            // By name: the resolved address is what counts.
            (format!("http://localhost:{b_port}/echo"), UrlFrom::Content),
            (format!("{a}/away?{b}/echo"), UrlFrom::Content),
            // A configured URL's redirect off its origin is content too.
            (format!("{a}/away?{b}/echo"), UrlFrom::Config),
        ] {
            let err = body_of(&f, &url, &options, from).await.unwrap_err();
            assert!(matches!(err, FetchError::Refused(_)), "{url}: {err:?}");
            assert!(err.to_string().contains("private address"), "{err}");
        }
        assert_eq!(b_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(
            a_hits.load(std::sync::atomic::Ordering::SeqCst),
            a_before + 2,
            "only the two redirects were asked of the source's host"
        );

        let allowing = Fetcher::new(FetchLimits {
            allow_private_networks: true,
            ..limits(Duration::from_secs(10))
        })
        .unwrap();
        let (echoed, _) = body_of(&allowing, &format!("{b}/echo"), &options, UrlFrom::Content)
            .await
            .unwrap();
        assert!(!echoed.contains("net-secret"), "{echoed}");
        assert_eq!(b_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn private_ranges_are_recognised_in_every_form() {
        for private in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn an_origin_is_scheme_host_and_port_with_default_ports_filled_in() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        let same = |a: &str, b: &str| same_origin(&url(a), &url(b));
        assert!(same(
            "http://Bbs.Example.cn/a",
            "http://bbs.example.cn:80/b?c"
        ));
        assert!(same("https://127.0.0.1/", "https://127.0.0.1:443/x"));
        assert!(!same("http://bbs.example.cn/", "https://bbs.example.cn/"));
        assert!(!same(
            "http://bbs.example.cn/",
            "http://bbs.example.cn:8080/"
        ));
        assert!(!same("http://bbs.example.cn/", "http://m.example.cn/"));
        assert!(!same("http://127.0.0.1/", "http://[::1]/"));
    }

    #[test]
    fn links_follow_the_source_host_and_its_follow_hosts() {
        let options = secret_options(
            "https://bbs.example.cn",
            &["m.example.com", "*.cdn.example.org"],
        );
        let may = |u: &str| options.may_follow(&url::Url::parse(u).unwrap());
        assert!(may("https://bbs.example.cn/p/1"));
        assert!(may("http://BBS.example.cn:8080/p/1"));
        assert!(may("https://m.example.com/detail/1"));
        assert!(may("https://a.cdn.example.org/x"));
        assert!(!may("https://cdn.example.org/x"));
        assert!(!may("https://evilcdn.example.org/x"));
        assert!(!may("https://example.com/"));
        assert!(!may("https://bbs.example.cn.evil.com/"));
        assert!(!may("http://127.0.0.1/"));
    }
}
