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

/// A free port for a server another process binds and may stop and start again (the private
/// PostgreSQL server). The kernel hands a port of its ephemeral range to any `bind(0)` or
/// outgoing connection, so such a port could be taken while that server is down; one below
/// the range is never handed out. Ports given out in this process are not given out again.
pub fn port_outside_the_ephemeral_range() -> u16 {
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = ephemeral_low.saturating_sub(10_000).max(1024);
    let mut given = GIVEN.lock().unwrap();
    for _ in 0..1000 {
        let port = rand::Rng::gen_range(&mut rand::thread_rng(), low..ephemeral_low);
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free port in {low}..{ephemeral_low}");
}

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
