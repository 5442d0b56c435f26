//! `outcry run`: wires store, pipeline, poller, delivery worker and HTTP server together and
//! shuts them down in order when asked, within `[daemon] shutdown_timeout` whatever the
//! sites or the mail server do.

use crate::alert::chat::{ChannelWorker, ChatError, Transport};
use crate::alert::digest::Digest;
use crate::alert::mailer::{Mailer, MailerError};
use crate::alert::outbox::Delivery;
use crate::config::Loaded;
use crate::fetch::{backoff, FetchError, FetchLimits, Fetcher};
use crate::http::auth::Auth;
use crate::http::{router, starting, AppState};
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, PipelineError};
use crate::present::Ui;
use crate::risk::task::RiskTask;
use crate::risk::RiskModel;
use crate::schedule::Poller;
use crate::store::{self, SharedStore, StoreError};
use crate::watch::WatchTask;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

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

impl DaemonError {
    /// The database is not reachable yet: worth waiting for at start.
    fn is_unavailable(&self) -> bool {
        match self {
            DaemonError::Store(e) | DaemonError::Pipeline(PipelineError::Store(e)) => {
                e.is_unavailable()
            }
            _ => false,
        }
    }
}

/// The longest wait between two attempts to open an unreachable store at start.
const OPEN_RETRY_MAX: Duration = Duration::from_secs(30);

/// Runs until `shutdown` is cancelled, then lets in-flight work finish, for up to
/// `[daemon] shutdown_timeout`.
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
    Auth::from_config(&loaded.config.http, loaded.config.review.session_ttl)
        .map_err(DaemonError::Tokens)
}

/// Runs the daemon on `listener` with `auth` deciding who may use the API and pages.
pub async fn serve(
    mut loaded: Loaded,
    listener: tokio::net::TcpListener,
    auth: Auth,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let config = &loaded.config;
    let ui = Ui::of(config);
    let fetcher = Fetcher::new(FetchLimits::from(&config.fetch))?;
    // HTTP first: a health probe gets a quick 503 while the store is not open yet.
    let listen = listener.local_addr().unwrap_or(config.http.listen);
    let app = Arc::new(OnceLock::new());
    let http_shutdown = shutdown.clone();
    let server = starting(app.clone());
    let http_config = Arc::new(config.http.clone());
    let server_config = http_config.clone();
    let http_task = tokio::spawn(async move {
        crate::http::serve(listener, server, &server_config, http_shutdown).await;
    });
    // Logged before the store opens, so whoever set `listen` to port 0 learns the port.
    info!(listen = %listen, "http listening");
    let Some((store, pipeline)) = open_store(&loaded, &shutdown).await? else {
        finish_http(http_task).await;
        info!("stopped before the store opened");
        return Ok(());
    };
    let pipeline = pipeline.with_ui(ui.clone());
    let installation = store.installation_id().await?;
    let mailer = Mailer::from_config(config, &loaded.outbox_dir, &installation)?;
    let metrics = Arc::new(Metrics::new());
    let instance = config
        .cluster
        .instance
        .clone()
        .unwrap_or_else(default_instance);
    let alert_queued = Arc::new(Notify::new());
    let poller = Arc::new(Poller {
        store: store.clone(),
        fetcher,
        pipeline: Mutex::new(pipeline),
        metrics: metrics.clone(),
        alert_queued: alert_queued.clone(),
        heartbeat: AtomicI64::new(chrono::Utc::now().timestamp()),
        backoff_max: config.fetch.backoff_max,
        instance: instance.clone(),
        lease: config.cluster.source_lease,
        book: Default::default(),
        source_down_after: (!config.operator.to.is_empty())
            .then_some(config.operator.source_down_after),
        ui: ui.clone(),
    });

    info!(
        listen = %listen,
        tokens = config.http.tokens.len(),
        storage = %store::redacted_url(&loaded.storage_url),
        instance = %instance,
        sources = loaded.sources.len(),
        brands = config.brands.len(),
        workers = tokio::runtime::Handle::current().metrics().num_workers(),
        "outcry running"
    );
    let released = crate::resident::release_start_code();
    debug!(kib = released / 1024, "start-only code unmapped");

    let digest_sources: Vec<String> = match config.digest {
        Some(_) => loaded.sources.iter().map(|s| s.name.clone()).collect(),
        None => Vec::new(),
    };
    let intervals: Vec<Duration> = loaded
        .sources
        .iter()
        .map(|s| loaded.interval_of(s))
        .collect();
    // The timetable keeps the sources' settings: one copy is plenty at 100,000 sources.
    let sources = std::mem::take(&mut loaded.sources)
        .into_iter()
        .zip(intervals)
        .collect();
    let (mut pollers, source_adder) = poller.spawn(sources, shutdown.clone());
    let risks_moved = Arc::new(Notify::new());
    // Among the source tasks: its sources stop, and their leases are handed back, with them.
    pollers.spawn(
        WatchTask {
            poller: poller.clone(),
            sources: source_adder,
            watches: config.watch.clone(),
            brands: config.brands.clone(),
            alert_at: config.risk.alert_at,
            risks_moved: risks_moved.clone(),
        }
        .run(shutdown.clone()),
    );

    let digest_task = config.digest.clone().map(|digest| {
        let digest = Digest::new(
            store.clone(),
            digest,
            config.assess,
            ui.clone(),
            alert_queued.clone(),
            digest_sources,
        );
        tokio::spawn(digest.run(shutdown.clone()))
    });

    let risk_due = Arc::new(Notify::new());
    let risk_task = tokio::spawn(
        RiskTask {
            store: store.clone(),
            model: RiskModel::new(&config.brands),
            config: config.risk,
            metrics: metrics.clone(),
            alert_queued: alert_queued.clone(),
            due: risk_due.clone(),
            moved: risks_moved,
            ui: ui.clone(),
        }
        .run(shutdown.clone()),
    );

    let retention_task = tokio::spawn(crate::retention::run(
        store.clone(),
        config.retention,
        shutdown.clone(),
    ));

    let delivery = Delivery {
        store: store.clone(),
        mailer,
        retry_initial: config.alerts.retry_initial,
        retry_max: config.alerts.retry_max,
        lease: config.cluster.alert_lease,
        metrics: metrics.clone(),
        wake: alert_queued,
        failing: AtomicBool::new(false),
    };
    let delivery_task = tokio::spawn(delivery.run(shutdown.clone()));
    // One task per channel: a channel down or throttled never delays another.
    let mut channel_tasks = tokio::task::JoinSet::new();
    for channel in &config.channels {
        let worker = ChannelWorker::new(
            store.clone(),
            channel.clone(),
            Transport::of(channel, config, &loaded.outbox_dir, &installation)?,
            ui.clone(),
            (config.alerts.retry_initial, config.alerts.retry_max),
            config.cluster.alert_lease,
            metrics.clone(),
        );
        channel_tasks.spawn(worker.run(shutdown.clone()));
    }

    let served = router(AppState {
        store,
        poller: poller.clone(),
        metrics,
        auth: Arc::new(auth),
        review: config.review,
        brands: Arc::new(config.brands.iter().map(|b| b.name.clone()).collect()),
        http: http_config.clone(),
        ui: Arc::new(ui),
        risk_due,
        at_risk: config.risk.alert_at.unwrap_or(crate::http::AT_RISK),
    });
    if app.set(served).is_err() {
        error!("http routes were set twice");
    }

    shutdown.cancelled().await;
    let budget = config.daemon.shutdown_timeout;
    let deadline = tokio::time::Instant::now() + budget;
    info!(timeout = ?budget, "shutting down");
    // Source tasks drop their reads at once; a commit under way finishes or, cut off, rolls
    // back. A fifth of the time is kept for handing back the leases and the rest.
    let stopped = tokio::time::timeout_at(deadline - budget / 5, async {
        while pollers.join_next().await.is_some() {}
    })
    .await;
    if stopped.is_err() {
        pollers.abort_all();
        error!("source tasks did not stop within daemon.shutdown_timeout; abandoned");
    }
    // Even after a timeout: a lease handed back now spares the next instance the wait.
    if tokio::time::timeout_at(deadline, poller.release_leases())
        .await
        .is_err()
    {
        error!("source leases not released in time; they expire on their own");
    }
    let rest = async {
        if let Some(task) = digest_task {
            if let Err(e) = task.await {
                error!(error = %e, "digest task ended abnormally");
            }
        }
        if let Err(e) = risk_task.await {
            error!(error = %e, "risk task ended abnormally");
        }
        if let Err(e) = retention_task.await {
            error!(error = %e, "retention task ended abnormally");
        }
        // Each channel's worker finishes the send it is in; a delivery cut off stays claimed
        // and is retried once its lease runs out.
        while channel_tasks.join_next().await.is_some() {}
        // An alert being sent is finished; one cut off stays claimed and is retried once
        // its lease runs out.
        if let Err(e) = delivery_task.await {
            error!(error = %e, "delivery worker ended abnormally");
        }
        finish_http(http_task).await;
    };
    if tokio::time::timeout_at(deadline, rest).await.is_err() {
        error!("did not stop within daemon.shutdown_timeout; exiting anyway");
    } else {
        info!("stopped");
    }
    Ok(())
}
/// Opens the store and the pipeline on it. While the database cannot be reached (a daemon
/// started before it, or during a restart) it waits and tries again with back-off, saying
/// so in the log; any other error ends the start. None when shutdown came first.
async fn open_store(
    loaded: &Loaded,
    shutdown: &CancellationToken,
) -> Result<Option<(SharedStore, Pipeline)>, DaemonError> {
    let config = &loaded.config;
    let mut attempts = 0;
    loop {
        let opening = async {
            let store = store::open(&loaded.storage_url).await?;
            let pipeline =
                Pipeline::new(store.clone(), &config.brands, config.linking, config.assess).await?;
            Ok::<_, DaemonError>((store, pipeline))
        };
        let error = tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            opened = opening => match opened {
                Ok(opened) => return Ok(Some(opened)),
                Err(e) if e.is_unavailable() => e,
                Err(e) => return Err(e),
            },
        };
        attempts += 1;
        let delay = backoff(attempts, Duration::from_secs(1), OPEN_RETRY_MAX, None);
        warn!(
            storage = %store::redacted_url(&loaded.storage_url),
            error = %error,
            attempts,
            retry_in = ?delay,
            "store unavailable; waiting for it"
        );
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Waits for the HTTP server to finish its graceful shutdown.
async fn finish_http(task: JoinHandle<()>) {
    if let Err(e) = task.await {
        error!(error = %e, "http server ended abnormally");
    }
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
