//! Crash safety and several instances, against the real binary, a local feed server whose
//! feeds keep producing case-linked posts, and a real SMTP server: on SQLite and PostgreSQL.

mod support;

use rand::Rng;
use std::collections::BTreeMap;
use std::time::Duration;
use support::daemon::{Source, TestApp};
use support::feeds::{rss_owned, FeedServer};
use support::smtp::{ReceivedMail, SmtpServer};

const FEEDS: usize = 3;

/// Where this test's order numbers start.
const ORDERS: usize = 10000;

fn cases(n: usize) -> String {
    support::numbered_cases("C", n, ORDERS)
}

/// Posts accumulate round-robin over the feeds; post i is about case C-i.
struct Producer<'a> {
    feeds: &'a FeedServer,
    posts: Vec<Vec<(String, String, String, String)>>,
    made: usize,
}

impl<'a> Producer<'a> {
    fn new(feeds: &'a FeedServer) -> Producer<'a> {
        let producer = Producer {
            feeds,
            posts: vec![Vec::new(); FEEDS],
            made: 0,
        };
        for feed in 0..FEEDS {
            producer.publish(feed);
        }
        producer
    }

    fn path(feed: usize) -> String {
        format!("feed-{feed}.xml")
    }

    fn post(&mut self) {
        self.made += 1;
        let i = self.made;
        let feed = i % FEEDS;
        self.posts[feed].push((
            format!("post-{i}"),
            format!("星驰车主第{i}次维权"),
            format!(
                "订单号 {}，发动机漏油，4S店不管",
                support::order_number(ORDERS, i)
            ),
            format!("车主{i}"),
        ));
        self.publish(feed);
    }

    fn publish(&self, feed: usize) {
        self.feeds.set(
            &Self::path(feed),
            "application/rss+xml",
            rss_owned(&self.posts[feed]),
        );
    }
}

fn app(feeds: &FeedServer, smtp: &SmtpServer, storage: Option<&str>, interval: &str) -> TestApp {
    let names: Vec<String> = (0..FEEDS).map(|f| format!("feed-{f}")).collect();
    let sources: Vec<Source<'_>> = names
        .iter()
        .enumerate()
        .map(|(f, name)| Source {
            name,
            url: feeds.url(&Producer::path(f)),
            channel: "social",
            interval,
        })
        .collect();
    TestApp::with_storage(&sources, Some(smtp.port()), storage)
}

/// Mails per (case, stage); panics if two mails for one step differ in Message-ID, the one
/// kind of duplicate that is never allowed. Returns the steps and how many resends there were.
fn steps(mails: &[ReceivedMail]) -> (BTreeMap<(String, String), Vec<String>>, usize) {
    let mut steps: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for mail in mails {
        let key = (
            mail.header("X-Outcry-Case").unwrap_or_default(),
            mail.header("X-Outcry-Stage").unwrap_or_default(),
        );
        steps
            .entry(key)
            .or_default()
            .push(mail.header("Message-ID").unwrap_or_default());
    }
    let mut resends = 0;
    for (step, ids) in &steps {
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "{step:?} was mailed twice with different Message-IDs: {ids:?}"
        );
        resends += ids.len() - 1;
    }
    (steps, resends)
}

/// The mails once `n` distinct steps arrived, or when `timeout` passed. A resend is a mail
/// too, so waiting for `n` mails could stop before the last step's.
async fn wait_for_steps(smtp: &SmtpServer, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mails = smtp.messages();
        if steps(&mails).0.len() >= n || std::time::Instant::now() >= deadline {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Kills the daemon with SIGKILL at 20 random moments while posts keep coming, then lets it
/// finish: every case's `surfaced` alert arrives, and any duplicate is a same-Message-ID
/// resend, which is counted and reported.
async fn survives_sigkill(storage: Option<String>, backend: &str) {
    const KILLS: usize = 20;
    const POSTS_PER_ROUND: usize = 2;
    let total = KILLS * POSTS_PER_ROUND + 4;
    let feeds = FeedServer::start().await;
    let smtp = SmtpServer::start().await;
    let mut producer = Producer::new(&feeds);
    let mut app = app(&feeds, &smtp, storage.as_deref(), "1s");
    app.import_cases(&cases(total));
    app.start().await;
    for _ in 0..KILLS {
        for _ in 0..POSTS_PER_ROUND {
            producer.post();
        }
        let moment = rand::thread_rng().gen_range(50..1500);
        tokio::time::sleep(Duration::from_millis(moment)).await;
        app.kill();
        app.start().await;
    }
    while producer.made < total {
        producer.post();
    }
    let mails = wait_for_steps(&smtp, total, Duration::from_secs(60)).await;
    // Anything still in flight gets its chance to show up as a duplicate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.stop().await;
    let (steps, resends) = steps(&smtp.messages());
    let expected: Vec<(String, String)> = (1..=total)
        .map(|i| (format!("C-{i}"), "surfaced".to_string()))
        .collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|k| !steps.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "{backend}: alerts lost after {KILLS} kills: {missing:?} (got {} mails)\n{}",
        mails.len(),
        app.logs()
    );
    assert_eq!(
        steps.len(),
        total,
        "{backend}: unexpected alerts: {steps:?}"
    );
    // Sends are one at a time, so a kill can interrupt at most one between the server's
    // acceptance and our commit.
    assert!(
        resends <= KILLS,
        "{backend}: {resends} resends for {KILLS} kills"
    );
    eprintln!(
        "crash test ({backend}): {KILLS} SIGKILLs, {total} alerts expected and delivered, \
         {resends} same-Message-ID resends"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_survives_sigkill_without_losing_an_alert() {
    survives_sigkill(None, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_survives_sigkill_without_losing_an_alert() {
    let url = support::postgres::fresh_url().await;
    survives_sigkill(Some(url), "postgres").await;
}

/// Two instances on one store while posts keep coming; halfway the first dies and the
/// other takes its sources over. Every alert arrives exactly once, and no source is ever
/// polled twice within one interval.
async fn two_instances_share_without_duplicates_and_take_over(storage: Option<String>) {
    const POSTS: usize = 24;
    let feeds = FeedServer::start().await;
    let smtp = SmtpServer::start().await;
    let mut producer = Producer::new(&feeds);
    let mut first = app(&feeds, &smtp, storage.as_deref(), "1s");
    let shared = storage.unwrap_or_else(|| first.sqlite_url());
    let mut second = app(&feeds, &smtp, Some(&shared), "1s");
    first.import_cases(&cases(POSTS));
    first.start().await;
    second.start().await;
    for round in 0..POSTS {
        producer.post();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if round == POSTS / 2 {
            first.kill();
        }
    }
    let mails = wait_for_steps(&smtp, POSTS, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    second.stop().await;
    let (steps, resends) = steps(&smtp.messages());
    assert_eq!(
        steps.len(),
        POSTS,
        "every case alerts once (got {} mails)\n{}\n{}",
        mails.len(),
        first.logs(),
        second.logs()
    );
    // The one instance killed may have been mid-send; nothing else may repeat a mail.
    assert!(resends <= 1, "{resends} resends: {steps:?}");
    for feed in 0..FEEDS {
        let arrivals = feeds.arrivals(&Producer::path(feed));
        assert!(arrivals.len() >= 5, "feed-{feed} polled {}", arrivals.len());
        for pair in arrivals.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= Duration::from_millis(850),
                "feed-{feed} polled twice within {gap:?} of a 1s interval"
            );
        }
    }
    let polled_by = |app: &TestApp| app.logs().contains("polled");
    assert!(
        polled_by(&second),
        "the survivor took the sources over: {}",
        second.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_postgres_instances_share_without_duplicates_and_take_over() {
    let url = support::postgres::fresh_url().await;
    two_instances_share_without_duplicates_and_take_over(Some(url)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sqlite_instances_share_without_duplicates_and_take_over() {
    two_instances_share_without_duplicates_and_take_over(None).await;
}

/// The PostgreSQL server restarts mid-run (a private server of the test's own, so the
/// shared one is left alone), once briefly and once for longer than the store waits for a
/// connection, while posts keep coming: nothing is lost, and nothing is mailed twice under
/// different Message-IDs.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_restart_mid_run_loses_nothing() {
    const POSTS: usize = 12;
    let server = support::postgres::PrivateServer::start();
    let feeds = FeedServer::start().await;
    let smtp = SmtpServer::start().await;
    let mut producer = Producer::new(&feeds);
    let mut app = app(&feeds, &smtp, Some(&server.url()), "1s");
    app.import_cases(&cases(POSTS));
    app.start().await;
    for round in 0..POSTS {
        producer.post();
        tokio::time::sleep(Duration::from_millis(400)).await;
        if round == 3 {
            server.stop();
            server.start_again();
        }
        if round == 7 {
            // Past the pool's 10 s acquire timeout: store calls fail and are retried.
            server.stop();
            tokio::time::sleep(Duration::from_secs(12)).await;
            server.start_again();
        }
    }
    let mails = wait_for_steps(&smtp, POSTS, Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.stop().await;
    let (steps, resends) = steps(&smtp.messages());
    assert_eq!(
        steps.len(),
        POSTS,
        "every alert arrives (got {} mails)\n{}",
        mails.len(),
        app.logs()
    );
    assert!(
        app.logs().contains("poll failed") || app.logs().contains("cannot"),
        "the outage was noticed: {}",
        app.logs()
    );
    eprintln!(
        "postgres restart: {} alerts, {resends} resends",
        steps.len()
    );
}

/// Tells instances apart in the feed server's log.
fn named(app: &TestApp, name: &str) {
    app.edit_config(
        "per_host_delay = \"0s\"",
        &format!("per_host_delay = \"0s\"\nuser_agent = \"outcry-test ({name})\""),
    );
}

/// Two instances with a 2 s source lease on a PostgreSQL server that goes away for longer
/// than the lease: once while their statements wait for a connection, once for longer than
/// the pool waits. When it is back, the two never fetch one source within half its interval,
/// and every alert arrives.
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_never_fetch_one_source_together_after_a_database_stall() {
    const POSTS: usize = 10;
    const QUIET: usize = 15;
    let interval = Duration::from_secs(2);
    let server = support::postgres::PrivateServer::start();
    let feeds = FeedServer::start().await;
    let smtp = SmtpServer::start().await;
    let mut producer = Producer::new(&feeds);
    let mut first = app(&feeds, &smtp, Some(&server.url()), "2s");
    let mut second = app(&feeds, &smtp, Some(&server.url()), "2s");
    named(&first, "first");
    named(&second, "second");
    // More sources, more chances for two instances to meet on one.
    let quiet: Vec<String> = (0..QUIET).map(|q| format!("quiet-{q}.xml")).collect();
    for (q, path) in quiet.iter().enumerate() {
        feeds.set(path, "application/rss+xml", rss_owned(&[]));
        for app in [&first, &second] {
            app.write_source(
                &format!("quiet-{q}"),
                &format!(
                    "name = \"quiet-{q}\"\nkind = \"feed\"\nurl = \"{}\"\nchannel = \"forum\"\ninterval = \"2s\"\n",
                    feeds.url(path)
                ),
            );
        }
    }
    first.import_cases(&cases(POSTS));
    first.start().await;
    second.start().await;
    for round in 0..POSTS {
        producer.post();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Longer than the lease, then longer than the pool's 10 s wait for a connection.
        let stall = match round {
            2 => Duration::from_secs(5),
            6 => Duration::from_secs(12),
            _ => continue,
        };
        server.stop();
        tokio::time::sleep(stall).await;
        server.start_again();
    }
    let mails = wait_for_steps(&smtp, POSTS, Duration::from_secs(40)).await;
    tokio::time::sleep(interval).await;
    first.stop().await;
    second.stop().await;
    let (steps, _) = steps(&smtp.messages());
    assert_eq!(
        steps.len(),
        POSTS,
        "every case alerts (got {} mails)\n{}\n{}",
        mails.len(),
        first.logs(),
        second.logs()
    );
    let paths = (0..FEEDS).map(Producer::path).chain(quiet);
    for path in paths {
        let arrivals = feeds.arrivals_by_agent(&path);
        let agents: std::collections::BTreeSet<&str> =
            arrivals.iter().map(|(_, agent)| agent.as_str()).collect();
        for pair in arrivals.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!(
                gap >= interval / 2,
                "{path} fetched by `{}` and then by `{}` within {gap:?}\n{}\n{}",
                pair[0].1,
                pair[1].1,
                first.logs(),
                second.logs()
            );
        }
        eprintln!(
            "stall test: {path} fetched {} times by {agents:?}",
            arrivals.len()
        );
    }
}

/// An instance started while its database is down answers /healthz with a quick 503, waits
/// for the database, and then serves: healthy, polling, alerting. A later outage is again a
/// quick 503, not a probe's timeout.
#[tokio::test(flavor = "multi_thread")]
async fn an_instance_started_before_its_database_waits_and_then_serves() {
    const POSTS: usize = 3;
    let server = support::postgres::PrivateServer::start();
    server.stop();
    let feeds = FeedServer::start().await;
    let smtp = SmtpServer::start().await;
    let mut producer = Producer::new(&feeds);
    let mut app = app(&feeds, &smtp, Some(&server.url()), "1s");
    app.launch();
    let mut answered = 0;
    for _ in 0..20 {
        // Until the port is bound, nothing answers; then always a 503 within the second.
        match app.health(Duration::from_secs(1)).await {
            Some(status) => {
                assert_eq!(status, 503, "healthy without a database");
                answered += 1;
            }
            None if answered > 0 => panic!("/healthz did not answer within 1 s"),
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(answered >= 10, "/healthz answered {answered} of 20 probes");
    assert!(
        app.wait_for_log("store unavailable; waiting for it", Duration::from_secs(15))
            .await,
        "the wait is logged: {}",
        app.logs()
    );

    server.start_again();
    app.wait_healthy(Duration::from_secs(40)).await;
    app.import_cases(&cases(POSTS));
    for _ in 0..POSTS {
        producer.post();
    }
    let mails = smtp.wait_for(POSTS, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), POSTS, "{}", app.logs());

    server.stop();
    let started = std::time::Instant::now();
    let status = app.health(Duration::from_secs(1)).await;
    assert_eq!(
        status,
        Some(503),
        "/healthz during an outage, after {:?}",
        started.elapsed()
    );
    server.start_again();
    app.stop().await;
}
