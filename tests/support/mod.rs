//! Real peers for integration tests: a feed server, an SMTP server, the daemon binary, and
//! the daemon in-process with a fresh store.
#![allow(dead_code)]

pub mod app;
pub mod chat;
pub mod daemon;
pub mod feeds;
pub mod postgres;
pub mod smtp;
pub mod words;

/// A UTC offset under which it is now about noon, so that a digest "at 11:00" is due and
/// midnight is far.
pub fn noon_offset() -> String {
    use chrono::Timelike;
    let hour = chrono::Utc::now().hour() as i32;
    let offset = (12 - hour + 11).rem_euclid(24) - 11;
    format!("{offset:+03}:00")
}

/// Order number `first + i`, as case i of [`numbered_cases`] carries it.
pub fn order_number(first: usize, i: usize) -> String {
    format!("XC-2026-{:05}", first + i)
}

/// cases.jsonl with open cases `<prefix>-1..=n`; case i's only identifier is
/// `order_number(first, i)`, so a post naming it links to that case alone.
pub fn numbered_cases(prefix: &str, n: usize, first: usize) -> String {
    (1..=n)
        .map(|i| {
            format!(
                r#"{{"id": "{prefix}-{i}", "brand": "星驰汽车", "status": "open", "complainant": {{"handles": []}}, "summary": "发动机漏油", "demand": "退车", "identifiers": ["order:{}"]}}"#,
                order_number(first, i)
            ) + "\n"
        })
        .collect()
}
