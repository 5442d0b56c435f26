//! `outcry run`: wires store, pipeline, poller, delivery worker and HTTP server together and
//! shuts them down in order when asked.

use crate::alert::chat::{ChannelWorker, ChatError};
use crate::alert::digest::Digest;
use crate::alert::mailer::{Mailer, MailerError};
use crate::alert::outbox::Delivery;
use crate::config::ChannelKind;
use crate::config::Loaded;
use crate::fetch::{FetchError, FetchLimits, Fetcher};
use crate::http::auth::Auth;
use crate::http::{router, AppState};
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, PipelineError};
use crate::present::Ui;
use crate::schedule::Poller;
use crate::store::{self, StoreError};
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("http client: {0}")]
    Fetch(#[from] FetchError),
    #[error("mail: {0}")]
    Mailer(#[from] MailerError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tokens(String),
    #[error(transparent)]
    Channel(#[from] ChatError),
}

/// Runs until `shutdown` is cancelled, then lets in-flight work finish.
pub async fn run(loaded: Loaded, shutdown: CancellationToken) -> Result<(), DaemonError> {
    let listener = tokio::net::TcpListener::bind(loaded.config.http.listen)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: loaded.config.http.listen,
            source,
        })?;
    run_on(loaded, listener, shutdown).await
}

/// [`run`] serving HTTP on a listener already bound (tests bind port 0).
pub async fn run_on(
    loaded: Loaded,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let auth = auth_of(&loaded)?;
    serve(loaded, listener, auth, shutdown).await
}

/// The tokens of `[http] tokens`, their secrets read from the environment.
pub fn auth_of(loaded: &Loaded) -> Result<Auth, DaemonError> {
    Auth::from_config(&loaded.config.http.tokens, loaded.config.review.session_ttl)
        .map_err(DaemonError::Tokens)
}

/// Runs the daemon on `listener` with `auth` deciding who may use the API and pages.
pub async fn serve(
    loaded: Loaded,
    listener: tokio::net::TcpListener,
    auth: Auth,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let config = &loaded.config;
    let store = store::open(&loaded.storage_url).await?;
    let ui = Ui::of(config);
    let pipeline = Pipeline::new(store.clone(), &config.brands, config.linking, config.assess)
        .await?
        .with_ui(ui.clone());
    let mailer = Mailer::from_config(config, &loaded.outbox_dir)?;
    let metrics = Arc::new(Metrics::new());
    let instance = config
        .cluster
        .instance
        .clone()
        .unwrap_or_else(default_instance);
    let alert_queued = Arc::new(Notify::new());
    let poller = Arc::new(Poller {
        store: store.clone(),
        fetcher: Fetcher::new(FetchLimits::from(&config.fetch))?,
        pipeline: Mutex::new(pipeline),
        metrics: metrics.clone(),
        alert_queued: alert_queued.clone(),
        heartbeat: AtomicI64::new(chrono::Utc::now().timestamp()),
        backoff_max: config.fetch.backoff_max,
        instance: instance.clone(),
        lease: config.cluster.source_lease,
        source_down_after: (!config.operator.to.is_empty())
            .then_some(config.operator.source_down_after),
        ui: ui.clone(),
    });

    info!(
        listen = %listener.local_addr().unwrap_or(config.http.listen),
        tokens = config.http.tokens.len(),
        storage = %store::redacted_url(&loaded.storage_url),
        instance = %instance,
        sources = loaded.sources.len(),
        brands = config.brands.len(),
        "outcry running"
    );

    let sources = loaded
        .sources
        .iter()
        .map(|s| (s.clone(), loaded.interval_of(s)))
        .collect();
    let mut pollers = poller.spawn(sources, shutdown.clone());

    let digest_task = config.digest.clone().map(|digest| {
        let digest = Digest::new(
            store.clone(),
            digest,
            config.assess,
            ui.clone(),
            alert_queued.clone(),
        );
        tokio::spawn(digest.run(shutdown.clone()))
    });

    let delivery = Delivery {
        store: store.clone(),
        mailer,
        retry_initial: config.alerts.retry_initial,
        retry_max: config.alerts.retry_max,
        lease: config.cluster.alert_lease,
        metrics: metrics.clone(),
        wake: alert_queued,
    };
    let delivery_task = tokio::spawn(delivery.run(shutdown.clone()));
    // One task per channel: a channel down or throttled never delays another.
    let mut channel_tasks = tokio::task::JoinSet::new();
    for channel in config
        .channels
        .iter()
        .filter(|c| c.kind != ChannelKind::Email)
    {
        let worker = ChannelWorker::new(
            store.clone(),
            channel.clone(),
            ui.clone(),
            (config.alerts.retry_initial, config.alerts.retry_max),
            config.cluster.alert_lease,
            metrics.clone(),
        )?;
        channel_tasks.spawn(worker.run(shutdown.clone()));
    }

    let app = router(AppState {
        store,
        poller: poller.clone(),
        metrics,
        auth: Arc::new(auth),
        review: config.review,
        brands: Arc::new(config.brands.iter().map(|b| b.name.clone()).collect()),
        ui: Arc::new(ui),
    });
    let http_shutdown = shutdown.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(http_shutdown.cancelled_owned())
            .await
    });

    shutdown.cancelled().await;
    info!("shutting down");
    while pollers.join_next().await.is_some() {}
    poller.release_leases().await;
    if let Some(task) = digest_task {
        if let Err(e) = task.await {
            error!(error = %e, "digest task ended abnormally");
        }
    }
    if let Err(e) = delivery_task.await {
        error!(error = %e, "delivery worker ended abnormally");
    }
    while channel_tasks.join_next().await.is_some() {}
    match http_task.await {
        Ok(Err(e)) => error!(error = %e, "http server failed"),
        Err(e) => error!(error = %e, "http server ended abnormally"),
        Ok(Ok(())) => {}
    }
    info!("stopped");
    Ok(())
}

/// Host, process and a random tail: unique per process, readable in lease rows and logs.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "outcry".to_string());
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}
