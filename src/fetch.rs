//! Polite HTTP fetching: conditional GET, time, size and redirect limits, and the server's
//! Retry-After passed on so that the scheduler can back off.

use crate::config::FetchConfig;
use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use std::time::Duration;

/// A Retry-After beyond this is treated as this: a server asking for a month's pause (or a
/// broken date) should not silence a source until an operator happens to notice.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// Feeds first, pages next; anything else is still accepted.
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                      application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5";

#[derive(Debug, Clone)]
pub struct FetchLimits {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// From connecting until the last body byte.
    pub timeout: Duration,
    /// Counted on the decompressed body.
    pub max_body_bytes: usize,
    pub max_redirects: usize,
}

impl From<&FetchConfig> for FetchLimits {
    fn from(c: &FetchConfig) -> Self {
        FetchLimits {
            user_agent: c.user_agent.clone(),
            connect_timeout: c.connect_timeout,
            timeout: c.timeout,
            max_body_bytes: c.max_body_bytes,
            max_redirects: c.max_redirects,
        }
    }
}

/// What the server said last time, for a conditional GET.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
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
    #[error("timed out (fetch.connect_timeout or fetch.timeout reached before the response was complete)")]
    Timeout,
    #[error("response body exceeds the limit of {limit} bytes (fetch.max_body_bytes, counted after decompression)")]
    TooLarge { limit: usize },
    #[error("server answered HTTP {status}{}{}", reason(*.status), retry_note(.retry_after))]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("too many redirects (more than fetch.max_redirects)")]
    TooManyRedirects,
    #[error("network error: {0}")]
    Network(String),
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
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
    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn from_reqwest(e: reqwest::Error) -> FetchError {
        let message = error_chain(&e);
        if e.is_timeout() {
            FetchError::Timeout
        } else if e.is_redirect() && message.contains("too many redirects") {
            FetchError::TooManyRedirects
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

/// One HTTP client for all sources, so that connections are pooled per host.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body_bytes: usize,
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(limits.user_agent)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .redirect(reqwest::redirect::Policy::limited(limits.max_redirects))
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(|e| FetchError::Client(error_chain(&e)))?;
        Ok(Fetcher {
            client,
            max_body_bytes: limits.max_body_bytes,
        })
    }

    /// GETs `url`, conditionally when `validators` hold anything.
    pub async fn fetch(
        &self,
        url: &str,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        let parsed =
            url::Url::parse(url).map_err(|e| FetchError::InvalidUrl(format!("`{url}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::InvalidUrl(format!(
                "`{url}`: scheme `{}` is not http or https",
                parsed.scheme()
            )));
        }

        let mut request = self
            .client
            .get(parsed)
            .header(header::ACCEPT, HeaderValue::from_static(ACCEPT));
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

        let mut response = request.send().await.map_err(FetchError::from_reqwest)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after: retry_after(response.headers(), Utc::now()),
            });
        }

        let limit = self.max_body_bytes;
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
        while let Some(chunk) = response.chunk().await.map_err(FetchError::from_reqwest)? {
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
            max_body_bytes: CAP,
            max_redirects: 3,
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

    async fn serve() -> String {
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
            .route("/trickle", get(|| async { trickle() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
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
            matches!(err, FetchError::Status { status: 429, retry_after: Some(d) } if d == Duration::from_secs(7)),
            "{err:?}"
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            err.to_string(),
            "server answered HTTP 429 Too Many Requests and asked to retry after 7s"
        );
        let err = f
            .fetch(&format!("{base}/gone"), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Status {
                    status: 503,
                    retry_after: None
                }
            ),
            "{err:?}"
        );
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
        assert!(matches!(err, FetchError::Timeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn refused_connection_and_bad_urls_are_told_apart() {
        // Bind and drop to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
        assert_eq!(l.user_agent, config.user_agent);
    }
}
