//! `outcry demo`: the first-run experience. Serves the bundled example feeds on loopback,
//! imports the example cases and runs the daemon with the example config, so a newcomer sees
//! an alert land in demo/outbox/ without a mail server or any network, and signs in to the
//! pages with a lead token made for the run.

use crate::config::{self, Problems, Role};
use crate::daemon::{self, DaemonError};
use crate::http::auth::{Auth, Principal};
use crate::store::{self, StoreError};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Where the demo's sources expect their feeds.
pub const FEEDS_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 8089);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Config(Problems),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot reset {path}: {source}")]
    Reset {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serve the demo feeds on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Case {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// What a newcomer needs to see the pages: where they are and the token to sign in with.
#[derive(Debug, Clone, PartialEq)]
pub struct SignIn {
    pub url: String,
    pub token: String,
}

/// Runs the demo until `shutdown`. `started` hears, once everything listens, where the
/// pages are and the lead token this run signs in with (it lives as long as the process).
pub async fn run(
    dir: &Path,
    shutdown: CancellationToken,
    started: impl FnOnce(&SignIn),
) -> Result<(), DemoError> {
    let loaded = config::load(&dir.join("outcry.toml")).map_err(DemoError::Config)?;
    // Both ports are taken before anything is reset: a second demo started while one runs
    // fails here, with the first one's database and outbox untouched.
    let addr = SocketAddr::from(FEEDS_ADDR);
    let feeds_listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DemoError::Listen { addr, source })?;
    let http_addr = loaded.config.http.listen;
    let http_listener = tokio::net::TcpListener::bind(http_addr)
        .await
        .map_err(|source| DemoError::Listen {
            addr: http_addr,
            source,
        })?;
    let pages_at = http_listener.local_addr().unwrap_or(http_addr);

    // Every demo run starts from nothing, so the alert shows up again each time.
    for name in ["outcry.db", "outcry.db-wal", "outcry.db-shm"] {
        remove_if_present(&dir.join(name), false)?;
    }
    remove_if_present(&loaded.outbox_dir, true)?;

    let feeds = Router::new()
        .route("/{file}", get(serve_file))
        .with_state(dir.join("feeds"));
    let feeds_shutdown = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(feeds_listener, feeds)
            .with_graceful_shutdown(feeds_shutdown.cancelled_owned())
            .await
    });

    let cases_path = dir.join("cases.jsonl");
    let cases_text = std::fs::read_to_string(&cases_path).map_err(|source| DemoError::Read {
        path: cases_path.clone(),
        source,
    })?;
    {
        let store = store::open(&loaded.storage_url).await?;
        let report =
            crate::cases::import(store.as_ref(), &cases_text, &loaded.config.brands).await?;
        if let Some(problem) = report.problems.first() {
            return Err(DemoError::Case {
                path: cases_path,
                line: problem.line,
                message: problem.message.clone(),
            });
        }
        info!(cases = report.imported, "demo cases imported");
    }
    let token = Auth::new_secret();
    let auth = daemon::auth_of(&loaded)?.with_token(
        &token,
        Principal {
            name: "demo-lead".into(),
            role: Role::Lead,
        },
    );
    let base = loaded
        .config
        .http
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{pages_at}"));
    started(&SignIn {
        url: format!("{}/login", base.trim_end_matches('/')),
        token,
    });
    info!(
        outbox = %loaded.outbox_dir.display(),
        "demo running: alerts appear as .eml files in the outbox within a minute; Ctrl-C stops"
    );
    daemon::serve(loaded, http_listener, auth, shutdown).await?;
    Ok(())
}

fn remove_if_present(path: &Path, is_dir: bool) -> Result<(), DemoError> {
    let result = if is_dir {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DemoError::Reset {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

async fn serve_file(State(dir): State<PathBuf>, UrlPath(file): UrlPath<String>) -> Response {
    // Only plain file names inside the feeds folder are served.
    if !file
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || file.starts_with('.')
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let content_type = match Path::new(&file).extension().and_then(|e| e.to_str()) {
        Some("xml") => "application/rss+xml; charset=utf-8",
        Some("json") => "application/feed+json",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
