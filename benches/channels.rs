//! Channels: 1,000 alerts fanned out to 3 webhook channels by the real `outcry run` binary,
//! each to its own local receiver that checks signatures and answers 429 past 600 messages
//! in any minute (the channel's pacing, `per_minute` of a webhook, is 600 by default).
//!
//!     cargo bench --bench channels
//!     OUTCRY_CHANNELS_ALERTS=300 cargo bench --bench channels
//!
//! The daemon starts first (its channels begin at the alerts made from then on); then the
//! alerts are written to its SQLite store at once, as a burst of decisions would. It prints
//! deliveries per second over the first 600 per channel (before pacing holds them) and over
//! the whole run, the most messages any receiver accepted in any minute, how often a receiver
//! throttled, and duplicates. The implicit email channel is off (`[alerts] to = []`) so that
//! only the channels are measured.

#[path = "../tests/support/mod.rs"]
mod support;

use chrono::{DateTime, Utc};
use outcry::model::AlertKind;
use outcry::store::NewAlert;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::chat::{start_with_window, Platform, Receiver};
use support::daemon::TestApp;

const CHANNELS: usize = 3;
const PER_MINUTE: usize = 600;
const MINUTE: Duration = Duration::from_secs(60);

fn alert(i: usize) -> NewAlert {
    let case = format!("B-{i:05}");
    let facts = serde_json::json!({
        "kind": "surfaced",
        "brand": "星驰汽车",
        "case": case,
        "severity": "high",
        "headline": format!("星驰车主投诉 {i}：提车就漏油"),
        "reasons": ["3 个独立作者", "转发 1.2万"],
        "evidence": [{"url": format!("https://weibo.example/p/{i}"), "channel": "social",
                      "author": "车主", "published_at": null}],
        "case_url": null,
    });
    NewAlert {
        kind: AlertKind::Surfaced,
        case_id: None,
        brand: "星驰汽车".into(),
        dedupe_key: format!("bench:{case}"),
        message_id: format!("<{case}.surfaced@bench>"),
        subject: format!("surfaced {case}"),
        text: "text".into(),
        html: "<p>html</p>".into(),
        created_at: DateTime::<Utc>::from(std::time::SystemTime::now()).fixed_offset(),
        facts: Some(facts.to_string()),
    }
}

fn accepted(receiver: &Receiver) -> usize {
    receiver.seen.lock().unwrap().accepted.len()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = std::env::var("OUTCRY_CHANNELS_ALERTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut receivers = Vec::new();
    for _ in 0..CHANNELS {
        receivers.push(
            start_with_window(Platform::Webhook, Some("bench-secret"), PER_MINUTE, MINUTE).await,
        );
    }
    let mut app = TestApp::new(&[], None);
    app.log_filter = "warn,outcry::daemon=info".into();
    app.edit_config("to = [\"pr-team@example.com\"]", "to = []");
    for (i, receiver) in receivers.iter().enumerate() {
        app.add_config(&format!(
            "\n[[channels]]\nname = \"hook-{i}\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"BENCH_HOOK_SECRET\"\n",
            receiver.url
        ));
    }
    app.start_with_env(&[("BENCH_HOOK_SECRET", "bench-secret")])
        .await;
    // The channels are recorded by their workers' first round.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let store = outcry::store::open(&app.sqlite_url()).await.unwrap();
    let started = Instant::now();
    for i in 0..n {
        assert!(store.queue_alert(&alert(i)).await.unwrap());
    }
    let queued = started.elapsed();
    let burst = PER_MINUTE.min(n);
    let mut burst_done = [None; CHANNELS];
    let deadline = started + Duration::from_secs(150);
    loop {
        for (i, receiver) in receivers.iter().enumerate() {
            if burst_done[i].is_none() && accepted(receiver) >= burst {
                burst_done[i] = Some(started.elapsed());
            }
        }
        if receivers.iter().all(|r| accepted(r) >= n) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    // Anything sent twice or late would arrive now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.stop().await;

    println!("{n} alerts queued in {:.1}s; {CHANNELS} webhook channels, pacing {PER_MINUTE} a minute each", queued.as_secs_f64());
    println!("| channel | delivered | distinct | first {burst} in s | all in s | max in any minute | throttled | refused |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut delivered = 0;
    for (i, receiver) in receivers.iter().enumerate() {
        let most = receiver.max_in_window(MINUTE);
        let seen = receiver.seen.lock().unwrap();
        let distinct: HashSet<&String> = seen.delivery_ids.iter().collect();
        delivered += seen.accepted.len();
        let first = burst_done[i].map_or("-".into(), |t| format!("{:.1}", t.as_secs_f64()));
        println!(
            "| hook-{i} | {} | {} | {first} | {:.1} | {most} | {} | {} |",
            seen.accepted.len(),
            distinct.len(),
            total.as_secs_f64(),
            seen.throttled,
            seen.refused.len(),
        );
    }
    let first_burst = burst_done.iter().flatten().max().copied().unwrap_or(total);
    println!(
        "unpaced: {:.0} deliveries/s ({} in {:.1}s); whole run: {:.0} deliveries/s ({delivered} in {:.1}s)",
        (burst * CHANNELS) as f64 / first_burst.as_secs_f64(),
        burst * CHANNELS,
        first_burst.as_secs_f64(),
        delivered as f64 / total.as_secs_f64(),
        total.as_secs_f64()
    );
}
