//! Chat channels against local receivers that check requests as each platform does:
//! routing, signatures, inert scraped text, and catching up after throttling.

mod support;

use chrono::{DateTime, Utc};
use outcry::alert::chat::{ChannelWorker, EvidenceLink, Facts, Transport};
use outcry::config::{ChannelConfig, ChannelKind, RouteKind, Severity};
use outcry::metrics::Metrics;
use outcry::model::AlertKind;
use outcry::present::Ui;
use outcry::store::{self, NewAlert, SharedStore};
use std::sync::Arc;
use std::time::Duration;
use support::chat::{shown, start, start_with_window, Platform, Receiver};

const HOSTILE: &str =
    "[点我](http://evil.example/x) @all <at user_id=\"all\">所有人</at> <!channel> <@U123> **粗** # 标题";

fn facts(kind: &str, case: &str, severity: &str) -> Facts {
    Facts {
        kind: kind.into(),
        brand: "星驰汽车".into(),
        case: Some(case.into()),
        severity: Some(severity.into()),
        headline: format!("漏油 {HOSTILE}"),
        reasons: vec![format!("转发 1.2万 {HOSTILE}")],
        evidence: vec![EvidenceLink {
            url: Some("https://weibo.example/p/1?q=(x)".into()),
            channel: "social".into(),
            author: Some(format!("作者 {HOSTILE}")),
            published_at: None,
        }],
        case_url: Some(format!("https://outcry.example/cases/{case}")),
    }
}

async fn queue(store: &SharedStore, kind: AlertKind, case: &str, severity: &str) {
    let facts = facts(kind.as_str(), case, severity);
    let alert = NewAlert {
        kind,
        case_id: Some(case.into()),
        brand: "星驰汽车".into(),
        dedupe_key: format!("case:{case}:{kind}"),
        message_id: format!("<{case}.{kind}@test>"),
        subject: format!("{kind} {case}"),
        text: "text".into(),
        html: "<p>html</p>".into(),
        created_at: DateTime::<Utc>::from(std::time::SystemTime::now()).fixed_offset(),
        facts: serde_json::to_string(&facts).ok(),
    };
    assert!(store.queue_alert(&alert).await.unwrap());
}

fn channel(
    name: &str,
    kind: ChannelKind,
    receiver: &Receiver,
    secret_env: Option<&str>,
) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        kind,
        url_env: None,
        url: Some(receiver.url.clone()),
        secret_env: secret_env.map(String::from),
        brands: None,
        alerts: None,
        min_severity: Severity::Low,
        to: Vec::new(),
        mention_mobiles: vec!["13800000000".into()],
        per_minute: None,
    }
}

fn worker(store: &SharedStore, channel: ChannelConfig) -> ChannelWorker {
    let transport = Transport::http(&channel).unwrap();
    ChannelWorker::new(
        store.clone(),
        channel,
        transport,
        Ui::default(),
        (Duration::from_millis(200), Duration::from_secs(1)),
        Duration::from_secs(30),
        Arc::new(Metrics::new()),
    )
}

/// Runs rounds until the channel's queue is empty (or the time is up).
async fn drain(worker: &mut ChannelWorker, store: &SharedStore, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pause = worker.round().await.unwrap();
        let status = store.channel_status(name).await.unwrap();
        if status.queued == 0 || tokio::time::Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(
            pause
                .unwrap_or(Duration::from_millis(50))
                .min(Duration::from_secs(2)),
        )
        .await;
    }
}

fn assert_inert(platform: Platform, text: &str) {
    for bad in [
        "](http://evil",
        "@all",
        "<at ",
        "<!channel>",
        "<@U123>",
        "**粗",
        "# 标题",
        "http://evil",
    ] {
        assert!(
            !text.contains(bad),
            "{platform:?} message carries `{bad}`: {text}"
        );
    }
    assert!(text.contains("漏油"), "{platform:?}: {text}");
}

#[tokio::test]
async fn every_platform_gets_its_routed_alerts_once_signed_and_inert() {
    std::env::set_var("CHAT_TEST_DING_SECRET", "SECdingtalk-secret");
    std::env::set_var("CHAT_TEST_FEISHU_SECRET", "feishu-secret");
    let store = store::open_in_memory().await.unwrap();
    let platforms = [
        (
            Platform::Dingtalk,
            ChannelKind::Dingtalk,
            Some("CHAT_TEST_DING_SECRET"),
        ),
        (Platform::Wecom, ChannelKind::Wecom, None),
        (
            Platform::Feishu,
            ChannelKind::Feishu,
            Some("CHAT_TEST_FEISHU_SECRET"),
        ),
        (Platform::Slack, ChannelKind::Slack, None),
    ];
    let mut workers = Vec::new();
    for (platform, kind, secret) in platforms {
        let receiver = start(
            platform,
            secret.map(|v| std::env::var(v).unwrap()).as_deref(),
            20,
        )
        .await;
        let name = format!("{kind:?}");
        let mut config = channel(&name, kind, &receiver, secret);
        config.alerts = Some(vec![RouteKind::Spreading, RouteKind::Viral]);
        let mut w = worker(&store, config);
        w.round().await.unwrap();
        workers.push((platform, name, receiver, w));
    }
    // An unrouted channel: another brand only.
    let other = start(Platform::Wecom, None, 20).await;
    let mut elsewhere = channel("elsewhere", ChannelKind::Wecom, &other, None);
    elsewhere.brands = Some(vec!["别的品牌".into()]);
    let mut elsewhere = worker(&store, elsewhere);
    elsewhere.round().await.unwrap();

    queue(&store, AlertKind::Surfaced, "C-1", "high").await;
    queue(&store, AlertKind::Spreading, "C-1", "high").await;
    queue(&store, AlertKind::Viral, "C-1", "high").await;
    for (_, name, _, w) in &mut workers {
        drain(w, &store, name).await;
        // A second pass finds nothing more to send.
        w.round().await.unwrap();
    }
    drain(&mut elsewhere, &store, "elsewhere").await;

    for (platform, _, receiver, _) in &workers {
        let seen = receiver.seen.lock().unwrap();
        assert!(
            seen.refused.is_empty(),
            "{platform:?} refused: {:?}",
            seen.refused
        );
        assert_eq!(
            seen.accepted.len(),
            2,
            "{platform:?}: spreading and viral, once each"
        );
        let first = shown(*platform, &seen.accepted[0]);
        let line = first.lines().next().unwrap();
        assert!(
            line.contains("扩散") || line.contains("SPREADING") || line.contains("传播"),
            "{platform:?} first line names the stage: {line}"
        );
        assert!(
            line.contains("星驰汽车") && line.contains("C-1"),
            "{platform:?}: {line}"
        );
        assert!(
            first.contains("https://outcry.example/cases/C-1"),
            "{platform:?} links the case page"
        );
        for body in &seen.accepted {
            assert_inert(*platform, &shown(*platform, body));
        }
    }
    let ding = &workers[0].2.seen.lock().unwrap().accepted;
    assert_eq!(
        ding[1]["at"]["atMobiles"][0], "13800000000",
        "VIRAL mentions the on-call"
    );
    assert!(ding[0]["at"]["atMobiles"].as_array().unwrap().is_empty());
    assert!(
        other.seen.lock().unwrap().accepted.is_empty(),
        "an unrouted channel gets nothing"
    );
}

#[tokio::test]
async fn a_signed_webhook_is_throttled_then_catches_up_without_loss_or_duplicates() {
    std::env::set_var("CHAT_TEST_HOOK_SECRET", "hook-secret");
    let store = store::open_in_memory().await.unwrap();
    // Throttles past 3 in two seconds with Retry-After: 1.
    let receiver = start_with_window(
        Platform::Webhook,
        Some("hook-secret"),
        3,
        Duration::from_secs(2),
    )
    .await;
    let mut w = worker(
        &store,
        channel(
            "hook",
            ChannelKind::Webhook,
            &receiver,
            Some("CHAT_TEST_HOOK_SECRET"),
        ),
    );
    w.round().await.unwrap();
    for i in 0..5 {
        queue(&store, AlertKind::Surfaced, &format!("C-{i}"), "low").await;
    }
    for _ in 0..3 {
        w.round().await.unwrap();
    }
    let throttled = receiver.seen.lock().unwrap().throttled;
    assert!(throttled > 0, "the receiver throttled");
    let status = store.channel_status("hook").await.unwrap();
    assert_eq!(status.queued, 2, "throttled ones wait, not fail");
    assert_eq!(
        status.last_error.map(|e| e.1).as_deref(),
        Some("rate limited")
    );
    drain(&mut w, &store, "hook").await;
    let seen = receiver.seen.lock().unwrap();
    assert_eq!(seen.accepted.len(), 5, "all caught up");
    assert!(seen.refused.is_empty(), "{:?}", seen.refused);
    let mut ids = seen.delivery_ids.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), seen.accepted.len(), "no delivery twice");
    let body = &seen.accepted[0];
    assert_eq!(body["kind"], "surfaced");
    assert_eq!(body["brand"], "星驰汽车");
    assert_eq!(body["evidence"][0]["channel"], "social");
    assert_eq!(body["case_url"], "https://outcry.example/cases/C-0");
}

fn outcry(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_outcry"));
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

const BRANDS: &str = "[[brands]]\nname = \"星驰汽车\"\n";

#[tokio::test]
async fn check_names_bad_channels_and_test_sends_without_showing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sources")).unwrap();
    let config = dir.path().join("outcry.toml");
    let path = config.to_str().unwrap().to_string();
    std::fs::write(
        &config,
        format!("[[channels]]\nname = \"room\"\nkind = \"teams\"\nurl = \"http://127.0.0.1:9/x\"\n{BRANDS}"),
    )
    .unwrap();
    let output = outcry(&["check", "--config", &path], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("channels") && stderr.contains("kind") && stderr.contains("teams"),
        "{stderr}"
    );

    let receiver = start(Platform::Dingtalk, Some("SECsecret-value-1"), 20).await;
    std::fs::write(
        &config,
        format!(
            "[[channels]]\nname = \"ding\"\nkind = \"dingtalk\"\nurl_env = \"T_DING_URL\"\nsecret_env = \"T_DING_SECRET\"\nbrands = [\"别的品牌\"]\n{BRANDS}"
        ),
    )
    .unwrap();
    let output = outcry(
        &["check", "--config", &path],
        &[("T_DING_URL", &receiver.url)],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "channels[0].secret_env: channel `ding`: environment variable T_DING_SECRET is not set"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "channels[0].brands[0]: channel `ding`: `别的品牌` is not a configured brand"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("t0ken"),
        "the endpoint's token is never shown: {stderr}"
    );

    std::fs::write(
        &config,
        format!(
            "[[channels]]\nname = \"ding\"\nkind = \"dingtalk\"\nurl_env = \"T_DING_URL\"\nsecret_env = \"T_DING_SECRET\"\n{BRANDS}"
        ),
    )
    .unwrap();
    let url: &'static str = Box::leak(receiver.url.clone().into_boxed_str());
    let env = [("T_DING_URL", url), ("T_DING_SECRET", "SECsecret-value-1")];
    let check = tokio::task::spawn_blocking({
        let path = path.clone();
        move || outcry(&["check", "--config", &path], &env)
    });
    let output = check.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !stdout.contains("t0ken") && !stdout.contains("SECsecret"),
        "{stdout}"
    );
    let test = tokio::task::spawn_blocking({
        let path = path.clone();
        move || outcry(&["channels", "test", "ding", "--config", &path], &env)
    });
    let output = test.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("ding: HTTP 200") && stdout.contains("\"errcode\":0"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("t0ken") && !stdout.contains("SECsecret"),
        "{stdout}"
    );
    let seen = receiver.seen.lock().unwrap();
    assert!(seen.refused.is_empty(), "{:?}", seen.refused);
    assert_eq!(
        seen.accepted.len(),
        1,
        "the test message was signed and accepted"
    );
}

#[tokio::test]
async fn a_message_too_long_for_the_platform_is_cut_and_links_the_full_alert() {
    let store = store::open_in_memory().await.unwrap();
    let mut sent = Vec::new();
    for (platform, kind) in [
        (Platform::Wecom, ChannelKind::Wecom),
        (Platform::Dingtalk, ChannelKind::Dingtalk),
        (Platform::Feishu, ChannelKind::Feishu),
        (Platform::Slack, ChannelKind::Slack),
    ] {
        let receiver = start(platform, None, 20).await;
        let name = format!("long-{kind:?}");
        let mut w = worker(&store, channel(&name, kind, &receiver, None));
        w.round().await.unwrap();
        sent.push((platform, name, receiver, w));
    }
    // Reasons and authors far past every platform's limit (WeCom: 4,096 bytes of content).
    let mut long = facts("surfaced", "C-LONG", "high");
    long.reasons = (0..3)
        .map(|i| format!("理由{i} {}", "很长".repeat(2000)))
        .collect();
    long.evidence = (0..5)
        .map(|i| EvidenceLink {
            url: Some(format!("https://weibo.example/p/{i}")),
            channel: "social".into(),
            author: Some("作者".repeat(3000)),
            published_at: None,
        })
        .collect();
    let alert = NewAlert {
        kind: AlertKind::Surfaced,
        case_id: Some("C-LONG".into()),
        brand: "星驰汽车".into(),
        dedupe_key: "case:C-LONG:surfaced".into(),
        message_id: "<C-LONG.surfaced@test>".into(),
        subject: "surfaced C-LONG".into(),
        text: "text".into(),
        html: "<p>html</p>".into(),
        created_at: DateTime::<Utc>::from(std::time::SystemTime::now()).fixed_offset(),
        facts: serde_json::to_string(&long).ok(),
    };
    assert!(store.queue_alert(&alert).await.unwrap());
    for (platform, name, receiver, w) in &mut sent {
        drain(w, &store, name).await;
        let seen = receiver.seen.lock().unwrap();
        assert!(
            seen.refused.is_empty(),
            "{platform:?} refused: {:?}",
            seen.refused
        );
        assert_eq!(seen.accepted.len(), 1, "{platform:?}: sent, not rejected");
        let text = shown(*platform, &seen.accepted[0]);
        assert!(
            text.lines().next().unwrap().contains("C-LONG"),
            "{platform:?}"
        );
        assert!(
            text.contains("已截断"),
            "{platform:?} says it was cut: {text}"
        );
        assert!(
            text.contains("https://outcry.example/cases/C-LONG"),
            "{platform:?} links the full alert"
        );
    }
}
