//! A fresh PostgreSQL schema per test on the server `OUTCRY_TEST_POSTGRES` names (default
//! postgres://postgres@127.0.0.1:5432/test), so tests run in parallel without seeing each
//! other's rows.

use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PREFIX: &str = "outcry_test_";
/// Schemas of earlier runs older than this are dropped; younger ones may belong to a run
/// going on right now.
const STALE_SECS: u64 = 6 * 3600;

pub fn server_url() -> String {
    std::env::var("OUTCRY_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// Creates an empty schema and returns a URL whose connections use it.
pub async fn fresh_url() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = server_url();
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {base} (set OUTCRY_TEST_POSTGRES; see README): {e}")
        });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'outcry\\_test\\_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for name in stale {
        let born: Option<u64> = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|t| t.parse().ok());
        if born.is_some_and(|t| t + STALE_SECS < now) {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(&mut conn)
                .await;
        }
    }
    let schema = format!(
        "{PREFIX}{now}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={schema}"));
    url.to_string()
}
