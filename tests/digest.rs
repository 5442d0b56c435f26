//! The daily digest against a real SQLite store: what it lists, that scraped strings are
//! inert in its HTML, and that each day's digest is queued once however many ask. And
//! through the real daemon and a real SMTP server: the private cases most likely to go
//! public come first, riskiest first.

mod support;

use chrono::{DateTime, FixedOffset, NaiveTime, Utc};
use outcry::alert::digest::{render_digest, Digest};
use outcry::config::{AssessConfig, DigestConfig};
use outcry::model::{
    AlertKind, Case, CaseStatus, Channel, Complainant, Engagement, LinkEvidence, Observation, Stage,
};
use outcry::present::{Language, Ui};
use outcry::store::{
    self, Batch, ItemRef, LinkState, NewAlert, NewItem, NewLink, SharedStore, SourceState,
};
use std::sync::Arc;
use std::time::Duration;
use support::daemon::TestApp;
use support::noon_offset;
use support::smtp::SmtpServer;
use tokio::sync::Notify;

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    at(text).with_timezone(&Utc)
}

fn case(id: &str, status: CaseStatus, summary: &str) -> Case {
    Case {
        id: id.into(),
        brand: "星驰汽车".into(),
        status,
        opened_at: Some(at("2026-03-01T09:00:00+08:00")),
        channel: Some("hotline".into()),
        severity: Some("high".into()),
        complainant: Complainant {
            name: Some("王女士".into()),
            phone: Some("13800001111".into()),
            email: None,
            handles: vec![],
        },
        summary: summary.into(),
        demand: "退车".into(),
        identifiers: vec![],
        notes: String::new(),
    }
}

fn post(
    guid: &str,
    channel: Channel,
    title: &str,
    body: &str,
    author: &str,
    seen: &str,
) -> Observation {
    Observation {
        source: "forum".into(),
        channel,
        guid: guid.into(),
        url: Some(format!("https://bbs.example/{guid}")),
        title: Some(title.into()),
        body: Some(body.into()),
        author: Some(author.into()),
        author_followers: None,
        published_at: None,
        fetched_at: at(seen),
        engagement: Engagement {
            likes: Some(12),
            ..Engagement::default()
        },
    }
}

fn stage_alert(case_id: &str, stage: Stage, created: &str) -> NewAlert {
    NewAlert {
        kind: AlertKind::from(stage),
        case_id: Some(case_id.into()),
        brand: "星驰汽车".into(),
        dedupe_key: format!("case:{case_id}:{stage}"),
        message_id: format!("<{case_id}.{stage}@test>"),
        subject: "s".into(),
        text: "t".into(),
        html: "h".into(),
        created_at: at(created),
        facts: None,
    }
}

fn unlinked_alert(guid: &str, created: &str) -> NewAlert {
    NewAlert {
        kind: AlertKind::Unlinked,
        case_id: None,
        brand: "星驰汽车".into(),
        dedupe_key: format!("item:forum:{guid}:unlinked"),
        message_id: format!("<{guid}.unlinked@test>"),
        subject: "s".into(),
        text: "t".into(),
        html: "h".into(),
        created_at: at(created),
        facts: None,
    }
}

const PAYLOAD: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

/// A store with: a viral case, a spreading one and one not public yet (and a closed one);
/// a candidate link waiting for review; unlinked complaints — one emailed, one held back by
/// the hourly cap, one from before the window — and an unlinked post that is no complaint.
async fn seeded() -> SharedStore {
    let store = store::open_in_memory().await.unwrap();
    for c in [
        case("C-1", CaseStatus::Open, "发动机漏油, 4S店推来推去"),
        case("C-2", CaseStatus::Open, "车机黑屏"),
        case("C-3", CaseStatus::Open, "异响"),
        case("C-9", CaseStatus::Closed, "已解决"),
    ] {
        store.upsert_case(&c, Utc::now()).await.unwrap();
    }
    let viral = post(
        "p-1",
        Channel::Social,
        "漏油",
        "订单号 XC-1",
        "车主",
        "2026-03-04T10:00:00+08:00",
    );
    let spreading = post(
        "p-2",
        Channel::Social,
        "黑屏",
        "车机黑屏",
        "车主二",
        "2026-03-04T11:00:00+08:00",
    );
    let candidate = post(
        "p-3",
        Channel::Forum,
        &format!("星驰车机也黑屏了{PAYLOAD}"),
        &format!("我的星驰车机黑屏三次 {PAYLOAD}"),
        &format!("路人{PAYLOAD}"),
        "2026-03-05T08:00:00+08:00",
    );
    let closed_candidate = post(
        "p-4",
        Channel::Forum,
        "已解决",
        "星驰",
        "甲",
        "2026-03-05T08:00:00+08:00",
    );
    let emailed = post(
        "u-1",
        Channel::Social,
        "星驰客服推来推去",
        "打了十次电话没人管, 我要曝光",
        "小李",
        "2026-03-05T08:10:00+08:00",
    );
    let held = post(
        "u-2",
        Channel::Social,
        &format!("星驰 刹车失灵 {PAYLOAD}"),
        &format!("高速上刹车失灵, 太离谱了 &lt;b&gt;{PAYLOAD}"),
        &format!("<b>车主小赵</b>{PAYLOAD}"),
        "2026-03-05T08:20:00+08:00",
    );
    let old = post(
        "u-0",
        Channel::Social,
        "星驰客服推来推去",
        "没人管",
        "旧帖",
        "2026-03-03T08:00:00+08:00",
    );
    let no_complaint = post(
        "u-3",
        Channel::News,
        "星驰新车发布",
        "续航提升",
        "晚报",
        "2026-03-05T08:30:00+08:00",
    );
    let link = |case_id: &str, state, score| NewLink {
        case_id: case_id.into(),
        state,
        score,
        evidence: vec![LinkEvidence::Retells {
            score: 0.4,
            case_text: 0.4,
            story: 0.0,
        }],
    };
    let observations = [
        &viral,
        &spreading,
        &candidate,
        &closed_candidate,
        &emailed,
        &held,
        &old,
        &no_complaint,
    ];
    let links = [
        vec![link("C-1", LinkState::Confirmed, 1.0)],
        vec![link("C-2", LinkState::Confirmed, 1.0)],
        vec![link("C-2", LinkState::Candidate, 0.47)],
        vec![link("C-9", LinkState::Candidate, 0.5)],
        vec![],
        vec![],
        vec![],
        vec![],
    ];
    let batch = Batch {
        new_items: observations
            .iter()
            .zip(links)
            .map(|(o, links)| NewItem {
                observation: o,
                brand: "星驰汽车".into(),
                links,
            })
            .collect(),
        observations: observations
            .iter()
            .enumerate()
            .map(|(i, o)| (ItemRef::New(i), *o))
            .collect(),
        alerts: vec![
            (
                ItemRef::New(0),
                stage_alert("C-1", Stage::Surfaced, "2026-03-04T10:00:00+08:00"),
            ),
            (
                ItemRef::New(0),
                stage_alert("C-1", Stage::Viral, "2026-03-04T20:00:00+08:00"),
            ),
            (
                ItemRef::New(1),
                stage_alert("C-2", Stage::Surfaced, "2026-03-04T11:00:00+08:00"),
            ),
            (
                ItemRef::New(1),
                stage_alert("C-2", Stage::Spreading, "2026-03-04T12:00:00+08:00"),
            ),
            (
                ItemRef::New(4),
                unlinked_alert("u-1", "2026-03-05T08:10:00+08:00"),
            ),
        ],
        ..Batch::default()
    };
    store.commit(&batch).await.unwrap();
    store
}

fn en() -> Ui {
    Ui {
        language: Language::En,
        ..Ui::default()
    }
}

fn digest(store: &SharedStore) -> Digest {
    digest_of(store, &[])
}

/// The digest of an installation with these sources.
fn digest_of(store: &SharedStore, sources: &[&str]) -> Digest {
    Digest::new(
        store.clone(),
        DigestConfig {
            at: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            // The day runs in [ui] time_zone (+08:00 by default).
            time_zone: None,
            to: vec![],
        },
        AssessConfig::default(),
        en(),
        Arc::new(Notify::new()),
        sources.iter().map(|s| s.to_string()).collect(),
    )
}

#[tokio::test]
async fn digest_lists_links_to_review_unlinked_complaints_and_cases_by_stage() {
    let store = seeded().await;
    let content = digest(&store)
        .compose(utc("2026-03-05T09:00:00+08:00"), None)
        .await
        .unwrap();
    assert_eq!(content.day.to_string(), "2026-03-05");
    assert_eq!(content.since, at("2026-03-04T09:00:00+08:00"));

    let review: Vec<(&str, &str)> = content
        .review
        .iter()
        .map(|l| (l.case_id.as_str(), l.item.guid.as_str()))
        .collect();
    assert_eq!(review, [("C-2", "p-3")], "only open cases' candidates");
    assert_eq!(content.review_total, 1);

    let unlinked: Vec<(&str, bool)> = content
        .unlinked
        .iter()
        .map(|u| (u.item.guid.as_str(), u.alerted))
        .collect();
    assert_eq!(
        unlinked,
        [("u-2", false), ("u-1", true)],
        "complaints in the window, newest first; not the news about a new model"
    );
    assert_eq!((content.unlinked_total, content.unlinked_held), (2, 1));

    let cases: Vec<(&str, Option<Stage>)> = content
        .cases
        .iter()
        .map(|c| (c.case.id.as_str(), c.stage.map(|(s, _)| s)))
        .collect();
    assert_eq!(
        cases,
        [
            ("C-1", Some(Stage::Viral)),
            ("C-2", Some(Stage::Spreading)),
            ("C-3", None)
        ]
    );

    let rendered = render_digest(&content, &en());
    assert_eq!(
        rendered.subject,
        "[outcry] DIGEST 2026-03-05: 1 link to review, 2 unlinked complaints, 3 open cases (1 viral, 1 spreading, 0 surfaced)"
    );
    for part in [&rendered.text, &rendered.html] {
        assert!(
            part.contains("case C-2 — candidate link, score 0.47"),
            "{part}"
        );
        assert!(part.contains("https://bbs.example/p-3"), "{part}");
        assert!(part.contains("not emailed on its own"), "{part}");
        assert!(part.contains("emailed on its own"), "{part}");
        assert!(
            part.to_lowercase()
                .contains("(2; 1 held back from single emails)"),
            "{part}"
        );
        assert!(
            part.contains("VIRAL (1)") && part.contains("NOT PUBLIC YET (1)"),
            "{part}"
        );
        assert!(part.contains("C-1 [high] 星驰汽车 — 发动机漏油"), "{part}");
        assert!(!part.contains("C-9") && !part.contains("u-0"), "{part}");
        assert!(
            !part.contains("13800001111"),
            "no complainant contact in the digest"
        );
    }
    let text = &rendered.text;
    let viral = text.find("VIRAL (1)").unwrap();
    let spreading = text.find("SPREADING (1)").unwrap();
    assert!(viral < spreading, "{text}");
}

#[tokio::test]
async fn scraped_markup_is_inert_in_the_digest_html() {
    let store = seeded().await;
    let content = digest(&store)
        .compose(utc("2026-03-05T09:00:00+08:00"), None)
        .await
        .unwrap();
    let html = render_digest(&content, &en()).html;
    for forbidden in ["<script", "<img", "onerror=alert(2)>", "<b>车主小赵"] {
        assert!(!html.contains(forbidden), "{forbidden} in {html}");
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;车主小赵&lt;/b&gt;"), "{html}");
}

#[tokio::test]
async fn each_days_digest_is_queued_once_however_many_ask() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("o.db").display());
    let store = store::open(&url).await.unwrap();
    store
        .upsert_case(&case("C-1", CaseStatus::Open, "漏油"), Utc::now())
        .await
        .unwrap();
    // Two instances of the daemon on one database.
    let one = digest(&store);
    let other = digest(&store::open(&url).await.unwrap());

    assert!(
        !one.send_due(utc("2026-03-05T08:59:00+08:00"))
            .await
            .unwrap(),
        "not yet due"
    );
    let (a, b) = tokio::join!(
        one.send_due(utc("2026-03-05T09:00:30+08:00")),
        other.send_due(utc("2026-03-05T09:00:31+08:00"))
    );
    assert!(
        a.unwrap() ^ b.unwrap(),
        "exactly one instance queues the day's digest"
    );
    assert!(!one
        .send_due(utc("2026-03-05T15:00:00+08:00"))
        .await
        .unwrap());
    // After a restart later that day: still only one.
    let restarted = digest(&store::open(&url).await.unwrap());
    assert!(!restarted
        .send_due(utc("2026-03-05T23:59:00+08:00"))
        .await
        .unwrap());
    // The day runs in the digest's time zone: 23:30 UTC is already 07:30 on the 6th there,
    // before that day's time.
    assert!(!restarted
        .send_due(utc("2026-03-05T23:30:00Z"))
        .await
        .unwrap());
    assert!(restarted
        .send_due(utc("2026-03-06T09:00:00+08:00"))
        .await
        .unwrap());

    let digests: Vec<String> = store
        .alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == AlertKind::Digest)
        .map(|a| a.subject)
        .collect();
    assert_eq!(digests.len(), 2, "{digests:?}");
    assert!(digests[0].starts_with("[outcry] DIGEST 2026-03-05"));
    assert!(digests[1].starts_with("[outcry] DIGEST 2026-03-06"));

    // The second digest's window starts where the first one's ended.
    let content = one
        .compose(
            utc("2026-03-07T09:00:00+08:00"),
            store.last_alert_at(AlertKind::Digest).await.unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(content.since, at("2026-03-06T09:00:00+08:00"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mailed_digest_opens_with_the_cases_most_likely_to_go_public_in_order() {
    // A calm case below the floor, one naming a platform, one naming a platform and the press.
    let cases = [
        r#"{"id": "C-12", "brand": "星驰汽车", "status": "open", "severity": "low", "summary": "保养预约想改期", "notes": "客户表示理解"}"#,
        r#"{"id": "C-11", "brand": "星驰汽车", "status": "open", "severity": "medium", "summary": "车窗异响", "notes": "客户说要发抖音"}"#,
        r#"{"id": "C-10", "brand": "星驰汽车", "status": "open", "severity": "high", "summary": "刹车失灵两次", "notes": "客户说要在微博曝光，还要找记者"}"#,
    ]
    .join("\n");
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(&[], Some(smtp.port()));
    app.add_config(&format!(
        "[digest]\nat = \"11:00\"\ntime_zone = \"{}\"\nto = [\"leads@example.com\"]\n",
        noon_offset()
    ));
    app.import_cases(&cases);
    // An installation that polled everything before today's time, so today's digest is due
    // (a new one's first digest waits for its first full poll round).
    let store = store::open(&app.sqlite_url()).await.unwrap();
    let before = chrono::Utc::now() - chrono::Duration::hours(2);
    assert!(store.first_round(Some(before)).await.unwrap() < Some(chrono::Utc::now()));
    drop(store);
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    let digest = mails
        .iter()
        .find(|m| m.header("X-Outcry-Alert").as_deref() == Some("digest"))
        .unwrap_or_else(|| panic!("no digest: {}", app.logs()));
    for part in [digest.text_body(), digest.html_body()] {
        let start = part.find("最可能公开的案件（2）").expect(&part);
        let end = part.find("待审核的关联").expect(&part);
        assert!(start < end, "the first section: {part}");
        let section = &part[start..end];
        let (ten, eleven) = (section.find("C-10"), section.find("C-11"));
        assert!(ten.is_some() && ten < eleven, "{section}");
        assert!(!section.contains("C-12"), "{section}");
        assert!(section.contains("公开风险 0."), "{section}");
        assert!(
            section.contains("提到媒体：") && section.contains("记者"),
            "{section}"
        );
        assert!(section.contains("提到公开平台：抖音"), "{section}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_new_installations_first_digest_is_the_first_due_after_a_full_poll_round() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("o.db").display());
    let store = store::open(&url).await.unwrap();
    let digest = digest_of(&store, &["forum", "weibo"]);
    let polled = |name: &str, at: &str| SourceState {
        name: name.into(),
        last_poll_at: Some(utc(at)),
        ..SourceState::default()
    };
    // Installed at 15:00, after the day's time: nothing polled yet, nothing mailed.
    assert!(!digest
        .send_due(utc("2026-03-05T15:00:00+08:00"))
        .await
        .unwrap());
    store
        .save_source_state(&polled("forum", "2026-03-05T15:01:00+08:00"))
        .await
        .unwrap();
    assert!(!digest
        .send_due(utc("2026-03-05T15:02:00+08:00"))
        .await
        .unwrap());
    let mut failed = polled("weibo", "2026-03-05T15:03:00+08:00");
    failed.last_poll_at = None;
    failed.last_error_at = Some(utc("2026-03-05T15:03:00+08:00"));
    store.save_source_state(&failed).await.unwrap();
    // The round is done, but today's time passed before it: still nothing today, also
    // after a restart.
    assert!(!digest
        .send_due(utc("2026-03-05T15:04:00+08:00"))
        .await
        .unwrap());
    let restarted = digest_of(&store::open(&url).await.unwrap(), &["forum", "weibo"]);
    assert!(!restarted
        .send_due(utc("2026-03-05T20:00:00+08:00"))
        .await
        .unwrap());
    assert_eq!(
        store.first_round(None).await.unwrap(),
        Some(utc("2026-03-05T15:04:00+08:00"))
    );
    // The next day's is the first.
    assert!(!restarted
        .send_due(utc("2026-03-06T08:59:00+08:00"))
        .await
        .unwrap());
    assert!(restarted
        .send_due(utc("2026-03-06T09:00:00+08:00"))
        .await
        .unwrap());
    let digests: Vec<String> = store
        .alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == AlertKind::Digest)
        .map(|a| a.subject)
        .collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    assert!(digests[0].starts_with("[outcry] DIGEST 2026-03-06"));
    // Once a digest went out, a daemon down at the day's time sends it when it starts.
    assert!(restarted
        .send_due(utc("2026-03-07T18:00:00+08:00"))
        .await
        .unwrap());
}
