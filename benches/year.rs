//! A simulated year of feeds on a SQLite file: sources polled every 5 minutes, each showing
//! its newest 20 items, with a realistic share of brand posts, engagement that grows while a
//! post is fresh, edits, and cases that open and close; the pipeline and the retention task
//! run on a fake clock as replay does, faster than real time. Reports the store's size and
//! the pipeline's rate in the first and the last 30 days.
//!
//!     cargo bench --bench year                               # 50 sources, 365 days
//!     OUTCRY_YEAR_SOURCES=10 OUTCRY_YEAR_DAYS=120 cargo bench --bench year
//!
//! Only brand posts are fed: a post naming no watched brand is never stored, so it costs
//! detection time (constant over the year) and no storage. Sizes are per source and scale
//! linearly with the number of sources (every row belongs to one source's post).

use chrono::{DateTime, Duration, FixedOffset, Utc};
use outcry::config::{AssessConfig, BrandConfig, LinkingConfig, RetentionConfig};
use outcry::model::{Case, CaseStatus, Channel, Complainant, Engagement, Observation};
use outcry::pipeline::Pipeline;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

const WINDOW: usize = 20;
const POLL_MINUTES: i64 = 5;
/// New posts per source per day, of which [`BRAND_SHARE_PERCENT`] name the brand: a busy
/// keyword feed turns over its 20 items in about ten hours.
const POSTS_PER_DAY: u64 = 48;
const BRAND_SHARE_PERCENT: u64 = 5;
/// Of brand posts, those carrying an open case's order number.
const CASE_SHARE_PERCENT: u64 = 3;
const CASES: usize = 120;
const CASE_DAYS: i64 = 30;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A brand post in one source's window, as the feed shows it now.
struct Post {
    observation: Observation,
    born: DateTime<FixedOffset>,
    /// How many posts the source had when this one arrived: it leaves the window once
    /// [`WINDOW`] newer ones came.
    seq: u64,
}

fn case(i: usize, days: i64) -> Case {
    Case {
        id: format!("C-{i:04}"),
        brand: "星驰汽车".into(),
        status: CaseStatus::Open,
        opened_at: None,
        channel: Some("hotline".into()),
        severity: Some("medium".into()),
        complainant: Complainant {
            name: Some("王女士".into()),
            phone: None,
            email: None,
            handles: vec![],
        },
        summary: format!("第{i}号投诉, 发动机漏油, 4S店推来推去, 已过{days}天"),
        demand: "退车".into(),
        identifiers: vec![format!("order:XC-{:06}", 100_000 + i)],
        notes: String::new(),
    }
}

/// The case open on `day`, if any: cases open one after another, each for a month.
fn case_open_on(day: i64, days: i64) -> usize {
    ((day * CASES as i64) / days.max(1)) as usize % CASES
}

fn new_post(
    rng: &mut Rng,
    (source, seq): (usize, u64),
    n: u64,
    at: DateTime<FixedOffset>,
    case: Option<usize>,
) -> Post {
    let body = match case {
        Some(i) => format!(
            "星驰售后太差, 订单XC-{:06}, 发动机漏油, 4S店推来推去",
            100_000 + i
        ),
        None => {
            [
                "星驰新车试驾体验",
                "星驰4S店服务一般",
                "星驰的续航还行",
                "有人开星驰吗",
            ][rng.below(4) as usize]
                .to_string()
                + &format!(" #{n}")
        }
    };
    Post {
        observation: Observation {
            source: format!("s{source:04}"),
            channel: Channel::Social,
            guid: format!("s{source}-{n}"),
            url: Some(format!("https://example.invalid/{source}/{n}")),
            title: None,
            body: Some(body),
            author: Some(format!("用户{}", rng.below(100_000))),
            author_followers: Some(rng.below(5000) as i64),
            published_at: Some(at),
            fetched_at: at,
            engagement: Engagement {
                reposts: Some(0),
                comments: Some(0),
                likes: Some(0),
                views: None,
            },
        },
        born: at,
        seq,
    }
}

fn main() {
    let env = |name: &str, default: i64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let sources = env("OUTCRY_YEAR_SOURCES", 50) as usize;
    let days = env("OUTCRY_YEAR_DAYS", 365);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("year.db").display());
        let store = outcry::store::open(&url).await.expect("store");
        let brands = [BrandConfig {
            name: "星驰汽车".into(),
            aliases: vec!["星驰".into()],
            exclude: vec![],
        }];
        let mut pipeline = Pipeline::new(
            store.clone(),
            &brands,
            LinkingConfig::default(),
            AssessConfig::default(),
        )
        .await
        .expect("pipeline");
        let retention = RetentionConfig::default();
        let never = CancellationToken::new();
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00+08:00").expect("time");
        let mut rng = Rng(0x5eed_0018_abcd_ef01);
        let mut windows: Vec<(u64, Vec<Post>)> = (0..sources).map(|_| (0, Vec::new())).collect();
        let mut posts = 0u64;
        let ticks_per_day = 24 * 60 / POLL_MINUTES;
        let mut open_case = None;
        // (observations, seconds) in the first and the last 30 days.
        let mut first = (0u64, 0f64);
        let mut last = (0u64, 0f64);
        let began = Instant::now();
        for day in 0..days {
            let today = case_open_on(day, days);
            if open_case != Some(today) {
                if let Some(old) = open_case {
                    let closed = Case {
                        status: CaseStatus::Closed,
                        ..case(old, CASE_DAYS)
                    };
                    store.upsert_case(&closed, Utc::now()).await.expect("close");
                }
                store.upsert_case(&case(today, CASE_DAYS), Utc::now()).await.expect("open");
                pipeline.refresh_cases().await.expect("cases");
                open_case = Some(today);
            }
            let day_began = Instant::now();
            let mut day_observations = 0u64;
            for tick in 0..ticks_per_day {
                let now = start + Duration::minutes((day * ticks_per_day + tick) * POLL_MINUTES);
                let mut batch = Vec::with_capacity(sources * 4);
                for (source, (arrived, window)) in windows.iter_mut().enumerate() {
                    // Posts arrive at random, a few naming the brand; each pushes the oldest
                    // item out of the feed's window.
                    if rng.below(ticks_per_day as u64) < POSTS_PER_DAY {
                        *arrived += 1;
                        if rng.below(100) < BRAND_SHARE_PERCENT {
                            posts += 1;
                            let case = (rng.below(100) < CASE_SHARE_PERCENT).then_some(today);
                            window.push(new_post(&mut rng, (source, *arrived), posts, now, case));
                        }
                        let arrived = *arrived;
                        window.retain(|p| arrived - p.seq < WINDOW as u64);
                    }
                    for post in window.iter_mut() {
                        let obs = &mut post.observation;
                        obs.fetched_at = now;
                        let fresh = now - post.born < Duration::hours(2);
                        if rng.below(100) < if fresh { 60 } else { 5 } {
                            let e = &mut obs.engagement;
                            e.likes = e.likes.map(|l| l + 1 + rng.below(20) as i64);
                            e.comments = e.comments.map(|c| c + rng.below(3) as i64);
                        }
                        if rng.below(10_000) < 5 {
                            obs.body = obs.body.take().map(|b| b + " (已编辑)");
                        }
                        batch.push(obs.clone());
                    }
                }
                day_observations += batch.len() as u64;
                for chunk in batch.chunks(outcry::replay::BATCH) {
                    pipeline.process_batch(chunk).await.expect("process");
                }
            }
            let seconds = day_began.elapsed().as_secs_f64();
            if day < 30 {
                first.0 += day_observations;
                first.1 += seconds;
            }
            if day >= days - 30 {
                last.0 += day_observations;
                last.1 += seconds;
            }
            let now = (start + Duration::days(day + 1)).with_timezone(&Utc);
            let pruned = outcry::retention::round(&store, &retention, now, &never)
                .await
                .expect("retention");
            if day % 30 == 29 || day == days - 1 {
                let stats = store.storage_stats().await.expect("stats");
                let rows = |t: &str| {
                    stats.tables.iter().find(|s| s.table == t).map_or(0, |s| s.rows)
                };
                println!(
                    "day {:>3}: {} items, {} observations, {:.1} MB; pruned today {} items, {} observations; {:.0}s so far",
                    day + 1,
                    rows("items"),
                    rows("observations"),
                    stats.bytes as f64 / 1e6,
                    pruned.items,
                    pruned.observations,
                    began.elapsed().as_secs_f64()
                );
            }
        }
        let stats = store.storage_stats().await.expect("stats");
        let rate = |(n, s): (u64, f64)| n as f64 / s.max(1e-9);
        println!(
            "{sources} sources, {days} days: store {:.1} MB ({:.2} MB per source; x{} for 1,000 sources: {:.0} MB)",
            stats.bytes as f64 / 1e6,
            stats.bytes as f64 / 1e6 / sources as f64,
            1000 / sources.max(1),
            stats.bytes as f64 / 1e6 * 1000.0 / sources as f64
        );
        println!(
            "pipeline rate: first 30 days {:.0} observations/s, last 30 days {:.0} observations/s ({:+.1} %)",
            rate(first),
            rate(last),
            (rate(last) / rate(first) - 1.0) * 100.0
        );
        println!("brand posts: {posts}; wall time {:.0}s", began.elapsed().as_secs_f64());
    });
}
