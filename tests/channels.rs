//! Chat, webhook and email channels with the real `outcry run` binary: posts appear at a
//! local feed, the daemon links them to cases, and local receivers that check requests as
//! each platform does (tests/support/chat.rs) count what arrives — routing, throttling, a
//! receiver that is down for a while, SIGKILL during delivery, and email channels.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use support::chat::{start, start_down, start_with_window, Platform, Receiver};
use support::daemon::{eml_files, Source, TestApp};
use support::feeds::{rss_owned, FeedServer};
use support::smtp::SmtpServer;

const XINGCHI: &str = "星驰汽车";
const MOON: &str = "月影手机";
const MOON_BRAND: &str = "\n[[brands]]\nname = \"月影手机\"\naliases = [\"月影\"]\n";

/// A case: its id, brand and severity; its order number is its place in the list.
type CaseSpec<'a> = (&'a str, &'a str, &'a str);

fn order(orders: usize, i: usize) -> String {
    support::order_number(orders, i)
}

fn cases_jsonl(cases: &[CaseSpec<'_>], orders: usize) -> String {
    cases
        .iter()
        .enumerate()
        .map(|(i, (id, brand, severity))| {
            format!(
                r#"{{"id": "{id}", "brand": "{brand}", "status": "open", "severity": "{severity}", "complainant": {{"handles": []}}, "summary": "质量问题", "demand": "退货", "identifiers": ["order:{}"]}}"#,
                order(orders, i)
            ) + "\n"
        })
        .collect()
}

/// One public post per case, naming its brand and order number, so it links to that case.
fn posts(cases: &[CaseSpec<'_>], orders: usize) -> Vec<(String, String, String, String)> {
    cases
        .iter()
        .enumerate()
        .map(|(i, (id, brand, _))| {
            let title = if *brand == MOON {
                format!("月影手机售后投诉 {i}")
            } else {
                format!("星驰车主投诉 {i}")
            };
            (
                format!("post-{id}"),
                title,
                format!("订单号 {}，问题一直没人管", order(orders, i)),
                format!("用户{i}"),
            )
        })
        .collect()
}

/// `[[channels]]` for a receiver; `secret` names the environment variable, `route` adds
/// route lines.
fn channel(
    name: &str,
    kind: &str,
    receiver: &Receiver,
    secret_env: Option<&str>,
    route: &str,
) -> String {
    let secret = secret_env
        .map(|v| format!("secret_env = \"{v}\"\n"))
        .unwrap_or_default();
    let url = &receiver.url;
    format!(
        "\n[[channels]]\nname = \"{name}\"\nkind = \"{kind}\"\nurl = \"{url}\"\n{secret}{route}\n"
    )
}

/// A daemon polling one feed that carries a post for each case.
async fn app_with(
    cases: &[CaseSpec<'_>],
    orders: usize,
    smtp: Option<u16>,
) -> (FeedServer, TestApp) {
    let feeds = FeedServer::start().await;
    feeds.set(
        "posts.xml",
        "application/rss+xml",
        rss_owned(&posts(cases, orders)),
    );
    let app = TestApp::new(
        &[Source {
            name: "weibo",
            url: feeds.url("posts.xml"),
            channel: "social",
            interval: "1s",
        }],
        smtp,
    );
    (feeds, app)
}

/// The case ids a receiver's accepted messages are about, in arrival order: the webhook's
/// `case`, a chat message's first line.
fn cases_seen(receiver: &Receiver, platform: Platform, ids: &[&str]) -> Vec<String> {
    if platform == Platform::Webhook {
        return receiver
            .seen
            .lock()
            .unwrap()
            .accepted
            .iter()
            .map(|b| b["case"].as_str().unwrap_or_default().to_string())
            .collect();
    }
    receiver
        .texts()
        .iter()
        .map(|text| {
            let first = text.lines().next().unwrap_or_default();
            ids.iter()
                .find(|id| first.contains(**id))
                .map(|id| id.to_string())
                .unwrap_or_else(|| format!("none in `{first}`"))
        })
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

async fn wait_until(timeout: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

async fn metrics(app: &TestApp) -> String {
    reqwest::get(format!("http://127.0.0.1:{}/metrics", app.http_port()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one sample line of /metrics (0 when absent).
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn escalations_reach_each_routed_channel_once_and_no_unrouted_one() {
    const ORDERS: usize = 41000;
    let cases: [CaseSpec; 3] = [
        ("R-H", XINGCHI, "high"),
        ("R-L", XINGCHI, "low"),
        ("R-M", MOON, "high"),
    ];
    let ids: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let ding = start(Platform::Dingtalk, Some("SECding-secret"), 20).await;
    let wecom = start(Platform::Wecom, None, 20).await;
    let feishu = start(Platform::Feishu, Some("feishu-secret"), 100).await;
    let slack = start(Platform::Slack, None, 60).await;
    let hook = start(Platform::Webhook, Some("hook-secret"), 600).await;
    let (_feeds, mut app) = app_with(&cases, ORDERS, None).await;
    app.add_config(MOON_BRAND);
    app.import_cases(&cases_jsonl(&cases, ORDERS));
    app.add_config(&channel(
        "all",
        "dingtalk",
        &ding,
        Some("R_DING_SECRET"),
        "",
    ));
    app.add_config(&channel(
        "xingchi-high",
        "wecom",
        &wecom,
        None,
        "brands = [\"星驰汽车\"]\nmin_severity = \"high\"",
    ));
    app.add_config(&channel(
        "moon",
        "feishu",
        &feishu,
        Some("R_FEISHU_SECRET"),
        "brands = [\"月影手机\"]",
    ));
    app.add_config(&channel(
        "viral-only",
        "slack",
        &slack,
        None,
        "alerts = [\"viral\"]",
    ));
    app.add_config(&channel(
        "medium-surfaced",
        "webhook",
        &hook,
        Some("R_HOOK_SECRET"),
        "alerts = [\"surfaced\"]\nmin_severity = \"medium\"",
    ));
    app.start_with_env(&[
        ("R_DING_SECRET", "SECding-secret"),
        ("R_FEISHU_SECRET", "feishu-secret"),
        ("R_HOOK_SECRET", "hook-secret"),
    ])
    .await;

    let arrived = wait_until(Duration::from_secs(30), || {
        ding.seen.lock().unwrap().accepted.len() >= 3
            && hook.seen.lock().unwrap().accepted.len() >= 2
            && !wecom.seen.lock().unwrap().accepted.is_empty()
            && !feishu.seen.lock().unwrap().accepted.is_empty()
    })
    .await;
    assert!(arrived, "not every routed alert arrived: {}", app.logs());
    // Time for anything extra (a second send, an unrouted one) to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;

    for receiver in [&ding, &wecom, &feishu, &slack, &hook] {
        let seen = receiver.seen.lock().unwrap();
        assert!(seen.refused.is_empty(), "refused: {:?}", seen.refused);
    }
    assert_eq!(
        sorted(cases_seen(&ding, Platform::Dingtalk, &ids)),
        ["R-H", "R-L", "R-M"],
        "the default route takes every brand and severity, once"
    );
    assert_eq!(
        cases_seen(&wecom, Platform::Wecom, &ids),
        ["R-H"],
        "brand and severity route"
    );
    assert_eq!(
        cases_seen(&feishu, Platform::Feishu, &ids),
        ["R-M"],
        "brand route"
    );
    assert_eq!(
        sorted(cases_seen(&hook, Platform::Webhook, &ids)),
        ["R-H", "R-M"],
        "kind and least severity route"
    );
    assert!(
        slack.seen.lock().unwrap().accepted.is_empty(),
        "a channel for viral alerts gets no surfaced one"
    );
    // The implicit email channel of [alerts] keeps getting every alert.
    assert_eq!(eml_files(&app.outbox()).len(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_channels_catch_up_without_loss_or_duplicates() {
    const ORDERS: usize = 42000;
    const N: usize = 30;
    let names: Vec<String> = (0..N).map(|i| format!("T-{i:03}")).collect();
    let cases: Vec<CaseSpec> = names
        .iter()
        .map(|n| (n.as_str(), XINGCHI, "high"))
        .collect();
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    // Each answers its platform's rate-limit error past 20 messages in 3 s (a minute,
    // shortened), with Retry-After: 1; the daemon's own pacing would allow 60 and 600 a
    // minute, so the platforms' throttling is what holds them back.
    let slack = start_with_window(Platform::Slack, None, 20, Duration::from_secs(3)).await;
    let hook = start_with_window(
        Platform::Webhook,
        Some("hook-secret"),
        20,
        Duration::from_secs(3),
    )
    .await;
    let (_feeds, mut app) = app_with(&cases, ORDERS, None).await;
    app.import_cases(&cases_jsonl(&cases, ORDERS));
    app.add_config(&channel("slack", "slack", &slack, None, ""));
    app.add_config(&channel(
        "hook",
        "webhook",
        &hook,
        Some("T_HOOK_SECRET"),
        "",
    ));
    app.start_with_env(&[("T_HOOK_SECRET", "hook-secret")])
        .await;

    let arrived = wait_until(Duration::from_secs(60), || {
        slack.seen.lock().unwrap().accepted.len() >= N
            && hook.seen.lock().unwrap().accepted.len() >= N
    })
    .await;
    assert!(arrived, "not all caught up: {}", app.logs());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut all: Vec<String> = names.clone();
    all.sort();
    for (receiver, platform) in [(&slack, Platform::Slack), (&hook, Platform::Webhook)] {
        let seen = receiver.seen.lock().unwrap();
        assert!(seen.throttled > 0, "{platform:?} was never throttled");
        assert!(seen.refused.is_empty(), "{:?}", seen.refused);
        drop(seen);
        assert_eq!(
            sorted(cases_seen(receiver, platform, &ids)),
            all,
            "{platform:?}: every alert once"
        );
    }
    let delivery_ids: HashSet<String> = hook
        .seen
        .lock()
        .unwrap()
        .delivery_ids
        .iter()
        .cloned()
        .collect();
    assert_eq!(delivery_ids.len(), N);
    let text = metrics(&app).await;
    assert!(
        sample(
            &text,
            "outcry_channel_sends_total{channel=\"slack\",outcome=\"throttled\"}"
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "outcry_channel_sends_total{channel=\"hook\",outcome=\"delivered\"}"
        ),
        N as f64,
        "{text}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_down_for_a_while_gets_everything_and_delays_no_other() {
    const ORDERS: usize = 43000;
    let names: Vec<String> = (0..6).map(|i| format!("D-{i:03}")).collect();
    let cases: Vec<CaseSpec> = names
        .iter()
        .map(|n| (n.as_str(), XINGCHI, "high"))
        .collect();
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    let down = start_down(Platform::Webhook, None, 600);
    let up = start(Platform::Wecom, None, 20).await;
    let (_feeds, mut app) = app_with(&cases, ORDERS, None).await;
    app.import_cases(&cases_jsonl(&cases, ORDERS));
    app.add_config(&channel("down", "webhook", &down, None, ""));
    app.add_config(&channel("up", "wecom", &up, None, ""));
    app.start().await;

    // The channel that answers gets everything while the other fails and retries.
    assert!(
        wait_until(Duration::from_secs(20), || up
            .seen
            .lock()
            .unwrap()
            .accepted
            .len()
            >= 6)
        .await,
        "the working channel was held up: {}",
        app.logs()
    );
    assert!(
        app.wait_for_log("delivery failed; will retry", Duration::from_secs(10))
            .await
    );
    let text = metrics(&app).await;
    assert_eq!(
        sample(&text, "outcry_channel_queue_depth{channel=\"down\"}"),
        6.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "outcry_channel_sends_total{channel=\"down\",outcome=\"failed\"}"
        ) >= 1.0
    );
    assert_eq!(
        sample(&text, "outcry_channel_queue_depth{channel=\"up\"}"),
        0.0
    );
    // The gauge is refreshed as the delivery loop runs: read it until it shows the age, or
    // give up well after it should have.
    let oldest = "outcry_channel_oldest_pending_seconds{channel=\"down\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = metrics(&app).await;
    while sample(&text, oldest) < 2.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        text = metrics(&app).await;
    }
    assert!(sample(&text, oldest) >= 2.0, "{text}");
    let status = app.command(&["channels"]);
    let listing = String::from_utf8_lossy(&status.stdout);
    let line = listing
        .lines()
        .find(|l| l.starts_with("down\t"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("\t6\t") && line.contains("cannot connect"),
        "{listing}"
    );

    down.come_up();
    assert!(
        wait_until(Duration::from_secs(20), || down
            .seen
            .lock()
            .unwrap()
            .accepted
            .len()
            >= 6)
        .await,
        "the backlog did not arrive after the receiver returned: {}",
        app.logs()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut all = names.clone();
    all.sort();
    assert_eq!(sorted(cases_seen(&down, Platform::Webhook, &ids)), all);
    assert_eq!(sorted(cases_seen(&up, Platform::Wecom, &ids)), all);
    let text = metrics(&app).await;
    assert_eq!(
        sample(&text, "outcry_channel_queue_depth{channel=\"down\"}"),
        0.0
    );
    assert_eq!(
        sample(
            &text,
            "outcry_channel_sends_total{channel=\"down\",outcome=\"delivered\"}"
        ),
        6.0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_delivery_loses_nothing_and_resends_only_the_same_delivery() {
    const ORDERS: usize = 44000;
    const N: usize = 40;
    const KILLS: usize = 3;
    let names: Vec<String> = (0..N).map(|i| format!("K-{i:03}")).collect();
    let cases: Vec<CaseSpec> = names
        .iter()
        .map(|n| (n.as_str(), XINGCHI, "high"))
        .collect();
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    let hook = start(Platform::Webhook, Some("hook-secret"), 600).await;
    let feishu = start(Platform::Feishu, Some("feishu-secret"), 100).await;
    let slack = start(Platform::Slack, None, 60).await;
    let (_feeds, mut app) = app_with(&cases, ORDERS, None).await;
    app.import_cases(&cases_jsonl(&cases, ORDERS));
    app.add_config(&channel(
        "hook",
        "webhook",
        &hook,
        Some("K_HOOK_SECRET"),
        "",
    ));
    app.add_config(&channel(
        "feishu",
        "feishu",
        &feishu,
        Some("K_FEISHU_SECRET"),
        "",
    ));
    app.add_config(&channel("slack", "slack", &slack, None, ""));
    app.start_with_env(&[
        ("K_HOOK_SECRET", "hook-secret"),
        ("K_FEISHU_SECRET", "feishu-secret"),
    ])
    .await;
    let total = || {
        [&hook, &feishu, &slack]
            .iter()
            .map(|r| r.seen.lock().unwrap().accepted.len())
            .sum::<usize>()
    };
    assert!(
        wait_until(Duration::from_secs(20), || total() > 0).await,
        "nothing delivered: {}",
        app.logs()
    );
    let mut delivered_at_kills = Vec::new();
    for _ in 0..KILLS {
        let after = Duration::from_millis(100 + rand::random::<u64>() % 900);
        tokio::time::sleep(after).await;
        app.kill();
        delivered_at_kills.push(total());
        app.start().await;
    }
    let arrived = wait_until(Duration::from_secs(90), || {
        [
            (&hook, Platform::Webhook),
            (&feishu, Platform::Feishu),
            (&slack, Platform::Slack),
        ]
        .iter()
        .all(|(r, p)| {
            cases_seen(r, *p, &ids)
                .into_iter()
                .collect::<HashSet<_>>()
                .len()
                == N
        })
    })
    .await;
    assert!(arrived, "alerts lost after SIGKILL: {}", app.logs());
    assert!(
        delivered_at_kills[0] < 3 * N,
        "the first kill came during delivery: {delivered_at_kills:?}"
    );
    eprintln!(
        "delivered when killed: {delivered_at_kills:?}, in all: {}",
        total()
    );
    tokio::time::sleep(Duration::from_secs(4)).await;

    for (receiver, platform) in [
        (&hook, Platform::Webhook),
        (&feishu, Platform::Feishu),
        (&slack, Platform::Slack),
    ] {
        assert!(receiver.seen.lock().unwrap().refused.is_empty());
        let seen = cases_seen(receiver, platform, &ids);
        let distinct: HashSet<&String> = seen.iter().collect();
        assert_eq!(distinct.len(), N, "{platform:?}: every alert");
        // A resend happens only for the send a kill cut off between the platform's
        // acceptance and our commit: at most one per channel per kill, and the same message.
        assert!(
            seen.len() - N <= KILLS,
            "{platform:?}: {} duplicates after {KILLS} kills",
            seen.len() - N
        );
        let mut first: HashMap<String, String> = HashMap::new();
        for (case, text) in seen.iter().zip(receiver.texts()) {
            let earlier = first.entry(case.clone()).or_insert_with(|| text.clone());
            assert_eq!(*earlier, text, "{platform:?}: a resend of {case} differs");
        }
    }
    // The webhook's resends carry the same delivery id: its receiver folds them.
    let by_case: HashMap<String, HashSet<String>> = {
        let seen = hook.seen.lock().unwrap();
        seen.accepted
            .iter()
            .zip(&seen.delivery_ids)
            .fold(HashMap::new(), |mut m, (body, id)| {
                m.entry(body["case"].as_str().unwrap().to_string())
                    .or_default()
                    .insert(id.clone());
                m
            })
    };
    assert!(by_case.values().all(|ids| ids.len() == 1), "{by_case:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_channel_mails_its_route_and_an_empty_alerts_to_turns_the_implicit_one_off() {
    const ORDERS: usize = 45000;
    let cases: [CaseSpec; 2] = [("E-H", XINGCHI, "high"), ("E-L", XINGCHI, "low")];
    let smtp = SmtpServer::start().await;
    let (_feeds, mut app) = app_with(&cases, ORDERS, Some(smtp.port())).await;
    app.import_cases(&cases_jsonl(&cases, ORDERS));
    app.edit_config("to = [\"pr-team@example.com\"]", "to = []");
    app.add_config(
        "\n[[channels]]\nname = \"crisis\"\nkind = \"email\"\nto = [\"crisis@example.com\"]\nmin_severity = \"high\"\n",
    );
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "{}", app.logs());
    // Time for the low-severity alert to be mailed, were it routed or the team's list on.
    assert!(
        app.wait_for_log("goes to the channels only", Duration::from_secs(10))
            .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = smtp.messages();
    assert_eq!(
        mails.len(),
        1,
        "only the routed alert, once: {}",
        app.logs()
    );
    assert_eq!(mails[0].to, ["crisis@example.com"]);
    assert_eq!(mails[0].header("X-Outcry-Case").as_deref(), Some("E-H"));
    assert_eq!(
        mails[0].header("X-Outcry-Stage").as_deref(),
        Some("surfaced")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_smtp_an_email_channel_writes_eml_files_beside_the_team_ones() {
    const ORDERS: usize = 46000;
    let cases: [CaseSpec; 1] = [("F-1", XINGCHI, "high")];
    let (_feeds, mut app) = app_with(&cases, ORDERS, None).await;
    app.import_cases(&cases_jsonl(&cases, ORDERS));
    app.add_config(
        "\n[[channels]]\nname = \"crisis\"\nkind = \"email\"\nto = [\"crisis@example.com\"]\n",
    );
    app.start().await;
    let folder = app.outbox().join("channel-crisis");
    assert!(
        wait_until(Duration::from_secs(20), || !eml_files(&folder).is_empty()
            && !eml_files(&app.outbox()).is_empty())
        .await,
        "{}",
        app.logs()
    );
    let channel_mail = std::fs::read_to_string(&eml_files(&folder)[0]).unwrap();
    assert!(
        channel_mail.contains("To: crisis@example.com"),
        "{channel_mail}"
    );
    assert!(channel_mail.contains("X-Outcry-Case: F-1"));
    let team_mail = std::fs::read_to_string(&eml_files(&app.outbox())[0]).unwrap();
    assert!(team_mail.contains("To: pr-team@example.com"), "{team_mail}");
    app.stop().await;
}
