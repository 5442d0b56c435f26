//! The daemon's HTTP surface: health and metrics for operators, the JSON API under /api/v1
//! (described by /api/v1/openapi.json) and the server-rendered pages complaint leads use.

mod api;
pub mod auth;
mod client;
mod html;
mod pages;
mod server;
mod workbench;

pub use server::serve;

use crate::config::{HttpConfig, ReviewConfig};
use crate::metrics::Metrics;
use crate::pipeline::Event;
use crate::schedule::Poller;
use crate::store::SharedStore;
use auth::{Auth, Limit, Principal, Verdict};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use client::Client;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::ServiceExt;
use tracing::warn;

/// The scheduler counts as dead when it has not beaten for this long.
const HEARTBEAT_LIMIT_SECS: i64 = 30;

/// How long `/healthz` waits for the store: a probe learns of an outage from a quick 503,
/// not from its own timeout while the store waits for a connection.
const STORE_PING_LIMIT: Duration = Duration::from_millis(800);

/// The API description, written by hand; a test checks it names every route served.
pub const OPENAPI: &str = include_str!("openapi.json");

#[derive(Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub poller: Arc<Poller>,
    pub metrics: Arc<Metrics>,
    pub auth: Arc<Auth>,
    pub review: ReviewConfig,
    /// The configured brands' names, for the overview.
    pub brands: Arc<Vec<String>>,
    pub http: Arc<HttpConfig>,
    /// How pages and messages are worded.
    pub ui: Arc<crate::present::Ui>,
    /// An open case whose risk of going public reaches this needs attention on the home
    /// page before anything about it is public: `[risk] alert_at`, else [`AT_RISK`].
    pub at_risk: f64,
}

/// Without `[risk] alert_at`, an even chance of going public counts as at risk.
pub const AT_RISK: f64 = 0.5;

/// Why a presented token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Unknown,
    /// Too many failures first; try again after this many seconds.
    Throttled(u64),
}

impl AppState {
    /// Checks a token given on the login page or to the API (`via`), counting and logging
    /// failures by client address (never the token).
    fn check_token(
        &self,
        client: &Client,
        secret: &str,
        via: &'static str,
    ) -> Result<Principal, Refusal> {
        match self.auth.check(client.address, secret) {
            Verdict::Known(principal) => Ok(principal),
            Verdict::Unknown { exhausted } => {
                self.metrics.sign_in_failed(via);
                warn!(client = %client.address, via, "sign-in with an unknown token");
                if let Some(limit) = exhausted {
                    let whose = match limit {
                        Limit::Address => "this address",
                        Limit::Total => "all addresses",
                    };
                    warn!(client = %client.address, limit = limit.as_str(),
                        "failed sign-ins from {whose} reached the limit; refusing more for now");
                }
                Err(Refusal::Unknown)
            }
            Verdict::Refused { limit, retry_after } => {
                self.metrics.sign_in_refused(limit.as_str());
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Err(Refusal::Throttled(seconds.max(1)))
            }
        }
    }

    /// Counts what a decision caused and wakes delivery for any alert it queued.
    fn decided(&self, events: &[Event]) {
        self.metrics.counted(events);
        if events.iter().any(|e| matches!(e, Event::Alert { .. })) {
            self.poller.alert_queued.notify_one();
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .merge(api::routes())
        .merge(pages::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client::same_origin_forms,
        ))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            api::with_message,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The server from the daemon's first moment: until `app` is set (once the store is open)
/// every request, `/healthz` included, is answered 503 at once; then `app` serves them.
pub fn starting(app: Arc<OnceLock<Router>>) -> Router {
    Router::new().fallback(move |request: Request| {
        let app = app.get().cloned();
        async move {
            match app {
                Some(app) => match app.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                None => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(serde_json::json!({
                        "store": "not open yet",
                        "scheduler": "not started",
                    })),
                )
                    .into_response(),
            }
        }
    })
}

/// Even if some scraped text escaped its escaping, the browser would run no script from it
/// and load nothing from elsewhere. Nothing is stored by the browser or a proxy: pages and
/// API answers hold case records. The referrer goes to our own pages only, so a form post
/// carries its Origin (`no-referrer` would make it `null`) and no outside site learns a
/// case URL.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn healthz(State(state): State<AppState>) -> Response {
    let store = match tokio::time::timeout(STORE_PING_LIMIT, state.store.ping()).await {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} ms",
            STORE_PING_LIMIT.as_millis()
        )),
    };
    let since_beat = state.poller.seconds_since_heartbeat();
    let scheduler_alive = since_beat <= HEARTBEAT_LIMIT_SECS;
    let body = serde_json::json!({
        "store": store.as_ref().map(|_| "ok").unwrap_or_else(|e| e.as_str()),
        "scheduler": if scheduler_alive { "ok".to_string() } else { format!("no heartbeat for {since_beat}s") },
    });
    let status = if store.is_ok() && scheduler_alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    // Links by state and the outbox depth are read from the store at each scrape, so they
    // are right across restarts and for writes by other processes.
    match state.store.stats().await {
        Ok(stats) => state.metrics.observe_store(&stats),
        Err(e) => warn!(error = %e, "metrics: cannot read store counts"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// (method, path) of every `.route(...)` call in a router's source.
    fn routes_in(source: &str) -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for call in source.split(".route(").skip(1) {
            // The call's own text: up to the parenthesis that closes it.
            let mut depth = 1;
            let end = call
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(call.len(), |(i, _)| i);
            let call = &call[..end];
            let Some((path, handlers)) = call
                .trim_start()
                .strip_prefix('"')
                .and_then(|c| c.split_once('"'))
            else {
                continue;
            };
            for method in ["get", "post", "patch", "put", "delete"] {
                let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0 || !handlers[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if called {
                    found.insert((method.to_string(), path.to_string()));
                }
            }
        }
        found
    }

    #[test]
    fn the_api_description_names_every_api_route_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(|m| (m.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let served: BTreeSet<(String, String)> = routes_in(include_str!("api.rs"))
            .into_iter()
            .chain(routes_in(include_str!("mod.rs")))
            .filter(|(_, path)| path.starts_with("/api/"))
            .collect();
        assert!(served.len() >= 12, "route parsing broke: {served:?}");
        assert_eq!(served, documented);
    }

    #[tokio::test]
    async fn health_is_503_while_the_scheduler_shows_no_life() {
        use crate::config::{AssessConfig, FetchConfig, LinkingConfig};
        use crate::fetch::{FetchLimits, Fetcher};
        use crate::pipeline::Pipeline;
        use std::sync::atomic::{AtomicI64, Ordering};

        let store = crate::store::open_in_memory().await.unwrap();
        let pipeline = Pipeline::new(
            store.clone(),
            &[],
            LinkingConfig::default(),
            AssessConfig::default(),
        )
        .await
        .unwrap();
        let now = chrono::Utc::now().timestamp();
        let poller = Arc::new(Poller {
            store: store.clone(),
            fetcher: Fetcher::new(FetchLimits::from(&FetchConfig::default())).unwrap(),
            pipeline: tokio::sync::Mutex::new(pipeline),
            metrics: Arc::new(Metrics::new()),
            alert_queued: Arc::new(tokio::sync::Notify::new()),
            heartbeat: AtomicI64::new(now - 2 * HEARTBEAT_LIMIT_SECS),
            backoff_max: std::time::Duration::from_secs(60),
            instance: "test".into(),
            lease: std::time::Duration::from_secs(30),
            book: Default::default(),
            source_down_after: None,
            ui: crate::present::Ui::default(),
        });
        let app = router(AppState {
            store,
            poller: poller.clone(),
            metrics: Arc::new(Metrics::new()),
            auth: Arc::new(
                Auth::from_config(&HttpConfig::default(), std::time::Duration::from_secs(60))
                    .unwrap(),
            ),
            review: ReviewConfig::default(),
            brands: Arc::new(Vec::new()),
            at_risk: AT_RISK,
            http: Arc::new(HttpConfig::default()),
            ui: Arc::new(crate::present::Ui::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/healthz", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 503);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["store"], "ok");
        assert!(body["scheduler"]
            .as_str()
            .unwrap()
            .starts_with("no heartbeat for"));

        poller.heartbeat.store(now, Ordering::Relaxed);
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    }
}
