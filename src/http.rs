//! The daemon's HTTP surface: health, metrics and the API description.

use crate::metrics::Metrics;
use crate::schedule::Poller;
use crate::store::SharedStore;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// The scheduler counts as dead when it has not beaten for this long.
const HEARTBEAT_LIMIT_SECS: i64 = 30;

#[derive(Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub poller: Arc<Poller>,
    pub metrics: Arc<Metrics>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    let store = state.store.ping().await;
    let since_beat = state.poller.seconds_since_heartbeat();
    let scheduler_alive = since_beat <= HEARTBEAT_LIMIT_SECS;
    let body = serde_json::json!({
        "store": store.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
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
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "openapi": "3.0.3",
        "info": {
            "title": "outcry",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Health, metrics and (growing) JSON API of the outcry daemon."
        },
        "paths": {
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "The OpenAPI document"}}
                }
            }
        }
    }))
}
