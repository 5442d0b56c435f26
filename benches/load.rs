//! Load: N feed sources at a 60 s interval, served by a local HTTP server, polled by the real
//! `outcry run` binary — 1 instance on SQLite, 1 and 2 instances on PostgreSQL — while case-
//! linked posts appear at random feeds and a real SMTP server receives the alerts.
//!
//!     cargo bench --bench load                                   # N = 1,000 and 10,000
//!     OUTCRY_LOAD_SIZES=1000 OUTCRY_LOAD_WINDOW=120 cargo bench --bench load
//!     OUTCRY_LOAD_CHURN=0 cargo bench --bench load                # no churn: only the case-linked posts
//!     OUTCRY_LOAD_SIZES=100000 OUTCRY_LOAD_INTERVAL=300 OUTCRY_LOAD_SETUPS=sqlite:1 \
//!         cargo bench --bench load
//!
//! Per setup it prints polls per second over the measured window, the daemons' CPU seconds
//! per 1,000 polls, each instance's peak resident memory, and the time from a post appearing
//! at its feed to its alert email arriving, and from the poll that fetched it to the email
//! (median, 95th percentile and worst). The window is at least one interval (60 s unless
//! `OUTCRY_LOAD_INTERVAL` says otherwise), after the start's first polls, one interval and 10 s more; `OUTCRY_LOAD_SETUPS` picks
//! the setups (default `sqlite:1,postgres:1,postgres:2`). PostgreSQL is the server
//! `OUTCRY_TEST_POSTGRES` names (default postgres://postgres@127.0.0.1:5432/test), each setup
//! in a fresh schema; the server's own CPU is not counted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::daemon::{Source, TestApp};
use support::feeds::{rss_owned, FeedServer};
use support::smtp::SmtpServer;

/// Measuring begins one interval and this long after the first polls are over: the start
/// polls every source within its spread, but a source's second poll comes at a random point
/// of the interval after (schedule::wait_after_poll), so from then on polls are as even as a
/// long-running daemon's.
const SETTLE: Duration = Duration::from_secs(10);
/// The daemon starts at most this many sources a second (schedule::timetable).
const START_RATE: f64 = 500.0;

/// Until every source's first poll is over: a full read of every feed, its items through
/// the pipeline, is not what a steady poll costs, and the start's queue of such reads may
/// outlast the start's spread. The daemons count finished polls in their /metrics; the wait
/// ends at the latest when half an interval is over past the start's spread.
async fn first_polls_over(apps: &[TestApp], n: usize, interval: Duration) {
    let spread = Duration::from_secs_f64(n as f64 / START_RATE).min(interval / 2);
    let deadline = Instant::now() + spread + interval / 2;
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        let mut done = 0.0;
        for app in apps {
            let metrics = client
                .get(format!("http://127.0.0.1:{}/metrics", app.http_port()))
                .send()
                .await;
            let text = match metrics {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            done += text
                .lines()
                .find_map(|l| l.strip_prefix("outcry_poll_duration_seconds_count "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
        }
        if done >= n as f64 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!("(the first polls were not all over in time: the window includes some)");
}
/// A case-linked post appears this often during the window.
const POST_EVERY: Duration = Duration::from_secs(3);
/// Share of feeds that get a new (unrelated) item per interval, so some polls carry work
/// (`OUTCRY_LOAD_CHURN` overrides it, to tell a quiet poll's cost from a busy one's).
const CHURN_PER_INTERVAL: f64 = 0.1;
const ITEMS_PER_FEED: usize = 10;
/// Where this bench's order numbers start.
const ORDERS: usize = 20000;

/// A small deterministic generator, so every run changes the same feeds.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

struct Feeds {
    server: FeedServer,
    items: Vec<Vec<(String, String, String, String)>>,
    made: usize,
}

impl Feeds {
    async fn start(n: usize) -> Feeds {
        let mut feeds = Feeds {
            server: FeedServer::start().await,
            items: vec![Vec::new(); n],
            made: 0,
        };
        for feed in 0..n {
            feeds.add(feed, "今天天气不错, 去公园走走".into(), "路人".into());
        }
        feeds
    }

    fn path(feed: usize) -> String {
        format!("f/{feed}.xml")
    }

    fn add(&mut self, feed: usize, body: String, author: String) {
        self.made += 1;
        let items = &mut self.items[feed];
        items.push((
            format!("g-{}", self.made),
            format!("帖子 {}", self.made),
            body,
            author,
        ));
        if items.len() > ITEMS_PER_FEED {
            items.remove(0);
        }
        self.server
            .set(&Self::path(feed), "application/rss+xml", rss_owned(items));
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One measured run: N sources polled every `interval` by `instances` daemons on `backend`.
struct Setup<'a> {
    n: usize,
    backend: &'a str,
    instances: usize,
    interval: Duration,
    window: Duration,
    churn: f64,
}

async fn run(setup: &Setup<'_>) -> String {
    let &Setup {
        n,
        backend,
        instances,
        interval,
        window,
        churn,
    } = setup;
    let interval_setting = format!("{}s", interval.as_secs());
    let mut feeds = Feeds::start(n).await;
    let smtp = SmtpServer::start().await;
    let storage = match backend {
        "postgres" => Some(support::postgres::fresh_url().await),
        _ => None,
    };
    let names: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
    let sources: Vec<Source<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Source {
            name,
            url: feeds.server.url(&Feeds::path(i)),
            channel: "social",
            interval: &interval_setting,
        })
        .collect();
    let posts = (window.as_secs_f64() / POST_EVERY.as_secs_f64()).ceil() as usize;
    let mut apps: Vec<TestApp> = Vec::new();
    for i in 0..instances {
        let shared = match (&storage, apps.first()) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(first)) => Some(first.sqlite_url()),
            (None, None) => None,
        };
        let storage = shared
            .map(|url| format!("[storage]\nurl = \"{url}\"\n"))
            .unwrap_or_default();
        // Every feed is on one local host: lift the per-host politeness meant for real sites.
        let mut app = TestApp::with_config(
            &sources,
            Some(smtp.port()),
            "per_host_concurrency = 64\nper_host_delay = \"0s\"\n",
            &storage,
        );
        // Production lease lengths: tests shorten them, a load run must not.
        app.edit_config("source_lease = \"2s\"", "source_lease = \"30s\"");
        app.edit_config("alert_lease = \"3s\"", "alert_lease = \"2m\"");
        app.log_filter = "warn,outcry::daemon=info".into();
        if i == 0 {
            app.import_cases(&support::numbered_cases("L", posts, ORDERS));
        }
        apps.push(app);
    }
    for app in &mut apps {
        app.start().await;
    }
    let pids: Vec<u32> = apps.iter().filter_map(|a| a.pid()).collect();
    first_polls_over(&apps, n, interval).await;
    tokio::time::sleep(interval + SETTLE).await;

    let polls_before = feeds.server.total_requests();
    let cpu_before: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    let window_start = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    // Case → (feed, when its post appeared).
    let mut posted: HashMap<String, (usize, Instant)> = HashMap::new();
    let churn_per_tick = n as f64 * churn / interval.as_secs_f64() / 10.0;
    let mut churn_due = 0.0;
    let mut next_post = window_start;
    while window_start.elapsed() < window {
        churn_due += churn_per_tick;
        while churn_due >= 1.0 {
            churn_due -= 1.0;
            let feed = rng.below(n);
            feeds.add(feed, "周末去看了场电影, 还挺好看".into(), "影迷".into());
        }
        if Instant::now() >= next_post && posted.len() < posts {
            let case = posted.len() + 1;
            let feed = rng.below(n);
            feeds.add(
                feed,
                format!(
                    "星驰 订单号 XC-2026-{:05} 发动机漏油, 4S店不管",
                    20000 + case
                ),
                format!("车主{case}"),
            );
            posted.insert(format!("L-{case}"), (feed, Instant::now()));
            next_post += POST_EVERY;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let measured = window_start.elapsed().as_secs_f64();
    let polls = feeds.server.total_requests() - polls_before;
    let cpu: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - cpu_before;

    // Every post waits for its feed's next poll: up to one interval and its jitter.
    let deadline = Instant::now() + interval.mul_f64(1.3);
    // Per case: (post → email, poll that fetched the post → email).
    let mut latencies: HashMap<String, (f64, f64)> = HashMap::new();
    while latencies.len() < posted.len() && Instant::now() < deadline {
        for mail in smtp.messages() {
            let Some(case) = mail.header("X-Outcry-Case") else {
                continue;
            };
            let Some(&(feed, at)) = posted.get(&case) else {
                continue;
            };
            if latencies.contains_key(&case) {
                continue;
            }
            let polled = feeds
                .server
                .arrivals(&Feeds::path(feed))
                .into_iter()
                .find(|t| *t >= at)
                .unwrap_or(mail.at);
            latencies.insert(
                case,
                (
                    mail.at.saturating_duration_since(at).as_secs_f64(),
                    mail.at.saturating_duration_since(polled).as_secs_f64(),
                ),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss: Vec<String> = pids
        .iter()
        .map(|p| format!("{:.1}", peak_rss_mib(*p)))
        .collect();
    for app in &mut apps {
        app.stop().await;
    }
    let spread = |pick: fn(&(f64, f64)) -> f64| {
        let mut sorted: Vec<f64> = latencies.values().map(pick).collect();
        sorted.sort_by(f64::total_cmp);
        let at = |share: f64| {
            let rank = ((sorted.len() as f64 * share).ceil() as usize).max(1) - 1;
            sorted.get(rank).copied().unwrap_or(f64::NAN)
        };
        format!("{:.1} / {:.1} / {:.1}", at(0.5), at(0.95), at(1.0))
    };
    format!(
        "| {n} | {}s | {backend} | {instances} | {:.1} of {:.1} | {:.2} | {} | {} | {} | {}/{} |",
        interval.as_secs(),
        polls as f64 / measured,
        n as f64 / interval.as_secs_f64(),
        cpu / (polls as f64 / 1000.0),
        rss.join(" + "),
        spread(|l| l.0),
        spread(|l| l.1),
        latencies.len(),
        posted.len(),
    )
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("OUTCRY_LOAD_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let setups: Vec<(String, usize)> = std::env::var("OUTCRY_LOAD_SETUPS")
        .unwrap_or_else(|_| "sqlite:1,postgres:1,postgres:2".into())
        .split(',')
        .filter_map(|s| {
            let (backend, instances) = s.trim().split_once(':')?;
            Some((backend.to_string(), instances.parse().ok()?))
        })
        .collect();
    let interval = Duration::from_secs(env_or("OUTCRY_LOAD_INTERVAL", 60));
    // Every source is polled about once per interval, so a shorter window measures nothing.
    let window = Duration::from_secs(env_or("OUTCRY_LOAD_WINDOW", 0)).max(interval);
    let churn = env_or("OUTCRY_LOAD_CHURN", CHURN_PER_INTERVAL);
    println!(
        "window {}s after the first polls and {}s more, interval {}s, {:.0} % of feeds change per interval",
        window.as_secs(),
        (interval + SETTLE).as_secs(),
        interval.as_secs(),
        churn * 100.0
    );
    println!("| sources | interval | store | instances | polls/s (of asked) | CPU s per 1,000 polls | peak RSS MiB per instance | post → email s (median / p95 / worst) | poll → email s (median / p95 / worst) | alerts |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for n in sizes {
        for (backend, instances) in &setups {
            let setup = Setup {
                n,
                backend,
                instances: *instances,
                interval,
                window,
                churn,
            };
            println!("{}", run(&setup).await);
        }
    }
}
