//! The store's behaviour, written once and run against every backend.

mod support;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use outcry::model::{
    AlertKind, Case, CaseStatus, Channel, Complainant, Engagement, LinkEvidence, Observation, Stage,
};
use outcry::risk::{Risk, RiskReason};
use outcry::store::CaseRisk;
use outcry::store::{
    self, AlertStatus, AuditEntry, Batch, DeliveryOutcome, EvidenceScope, ItemKey, ItemQuery,
    ItemRef, LeaseCondition, LinkChange, LinkQuery, LinkState, NewAlert, NewItem, NewLink,
    ObservationRef, ObservationRun, RecordedPoll, SharedStore, SourceHealth, SourceState,
    StoreError,
};
use std::time::Duration as StdDuration;

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

fn case(id: &str, status: CaseStatus) -> Case {
    Case {
        id: id.into(),
        brand: "星驰汽车".into(),
        status,
        opened_at: Some(at("2026-03-02T09:14:00+08:00")),
        channel: Some("hotline".into()),
        severity: Some("high".into()),
        complainant: Complainant {
            name: Some("王女士".into()),
            phone: Some("138****2291".into()),
            email: None,
            handles: vec!["weibo:小王爱吃梨".into()],
        },
        summary: "发动机漏油".into(),
        demand: "退车".into(),
        identifiers: vec!["order:XC-2026-00871".into()],
        notes: "要曝光".into(),
    }
}

fn observation(guid: &str, fetched_at: &str, likes: i64) -> Observation {
    Observation {
        source: "weibo".into(),
        channel: Channel::Social,
        guid: guid.into(),
        url: Some(format!("https://weibo.example/{guid}")),
        title: None,
        body: Some("星驰漏油 XC-2026-00871".into()),
        author: Some("小王爱吃梨".into()),
        author_followers: None,
        published_at: Some(at("2026-03-05T21:40:00+08:00")),
        fetched_at: at(fetched_at),
        engagement: Engagement {
            reposts: Some(1),
            comments: None,
            likes: Some(likes),
            views: None,
        },
    }
}

fn alert(case_id: &str, stage: Stage, created_at: &str) -> NewAlert {
    NewAlert {
        kind: AlertKind::from(stage),
        case_id: Some(case_id.into()),
        brand: "星驰汽车".into(),
        dedupe_key: format!("case:{case_id}:{stage}"),
        message_id: format!("<{case_id}.{stage}@test>"),
        subject: format!("{stage} {case_id}"),
        text: "text".into(),
        html: "<p>html</p>".into(),
        created_at: at(created_at),
        facts: None,
    }
}

fn new_item<'a>(observation: &'a Observation, case_id: &str) -> NewItem<'a> {
    NewItem {
        observation,
        brand: "星驰汽车".into(),
        links: vec![NewLink {
            case_id: case_id.into(),
            state: LinkState::Confirmed,
            score: 0.93,
            evidence: vec![LinkEvidence::Identifier {
                identifier: "order:XC-2026-00871".into(),
            }],
        }],
    }
}

/// A batch holding one new item, its observation and the given alerts on it.
fn first_sighting<'a>(
    observation: &'a Observation,
    case_id: &str,
    alerts: Vec<NewAlert>,
) -> Batch<'a> {
    Batch {
        new_items: vec![new_item(observation, case_id)],
        observations: vec![(ItemRef::New(0), observation)],
        alerts: alerts.into_iter().map(|a| (ItemRef::New(0), a)).collect(),
        ..Batch::default()
    }
}

fn key(guid: &str) -> ItemKey {
    ItemKey {
        source: "weibo".into(),
        guid: guid.into(),
    }
}

async fn cases_insert_update_close_and_revision(store: SharedStore) {
    assert_eq!(store.cases_revision().await.unwrap(), 0);
    store
        .upsert_case(&case("C-1", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let r1 = store.cases_revision().await.unwrap();
    let mut updated = case("C-1", CaseStatus::Open);
    updated.summary = "更新后的摘要".into();
    store.upsert_case(&updated, Utc::now()).await.unwrap();
    assert!(store.cases_revision().await.unwrap() > r1);
    assert_eq!(store.case("C-1").await.unwrap(), Some(updated));
    store
        .upsert_case(&case("C-2", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    assert!(store.close_case("C-2", Utc::now()).await.unwrap());
    assert!(!store.close_case("C-404", Utc::now()).await.unwrap());
    let open: Vec<String> = store
        .cases(Some(CaseStatus::Open))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(open, ["C-1"]);
    assert_eq!(store.cases(None).await.unwrap().len(), 2);
}

async fn items_dedupe_keep_observations_and_alert_once(store: SharedStore) {
    store
        .upsert_case(&case("C-1", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let first = observation("wb-1", "2026-03-05T21:52:00+08:00", 85);
    assert!(store.items(&[key("wb-1")]).await.unwrap().is_empty());
    let committed = store
        .commit(&first_sighting(
            &first,
            "C-1",
            vec![alert("C-1", Stage::Surfaced, "2026-03-05T21:52:00+08:00")],
        ))
        .await
        .unwrap();
    assert_eq!(committed.inserted_alerts, [0]);
    let items = store.items(&[key("wb-1"), key("wb-404")]).await.unwrap();
    assert_eq!(items.len(), 1, "only stored items come back");
    let item = &items[&key("wb-1")];
    assert_eq!(item.id, committed.new_item_ids[0]);
    assert_eq!(item.brand, "星驰汽车");
    assert_eq!(
        item.linked_cases,
        [("C-1".to_string(), LinkState::Confirmed)]
    );
    // What the linker relearns after a restart: the case, the text and who wrote it.
    let learned = store.confirmed_link_texts().await.unwrap();
    assert_eq!(learned.len(), 1);
    assert_eq!(learned[0].case_id, "C-1");
    assert_eq!(learned[0].author.as_deref(), Some("小王爱吃梨"));
    assert_eq!(learned[0].body.as_deref(), Some("星驰漏油 XC-2026-00871"));

    // A re-observation adds engagement history; the same stage cannot alert again.
    let second = observation("wb-1", "2026-03-06T09:00:00+08:00", 900);
    let committed = store
        .commit(&Batch {
            new_items: vec![],
            observations: vec![(ItemRef::Stored(item.id), &second)],
            alerts: vec![(
                ItemRef::Stored(item.id),
                alert("C-1", Stage::Surfaced, "2026-03-06T09:00:00+08:00"),
            )],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert!(committed.inserted_alerts.is_empty());
    let evidence = store
        .case_evidence(&["C-1".into()], EvidenceScope::Confirmed)
        .await
        .unwrap();
    let evidence = &evidence["C-1"];
    assert_eq!(evidence.stage, Some(Stage::Surfaced));
    assert_eq!(evidence.items.len(), 1);
    let likes: Vec<Option<i64>> = evidence.items[0]
        .sightings
        .iter()
        .map(|s| s.engagement.likes)
        .collect();
    assert_eq!(likes, [Some(85), Some(900)]);
    assert_eq!(
        evidence.items[0].link_evidence,
        [LinkEvidence::Identifier {
            identifier: "order:XC-2026-00871".into()
        }]
    );
    assert_eq!(evidence.items[0].author.as_deref(), Some("小王爱吃梨"));
}

/// Sightings that change nothing extend a row's run, of a row stored before or of one
/// written in the same batch; the newest row comes back with the item, with what it showed.
async fn sightings_that_change_nothing_extend_their_row(store: SharedStore) {
    store
        .upsert_case(&case("C-1", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let first = observation("wb-1", "2026-03-05T21:00:00+08:00", 85);
    let id = store
        .commit(&first_sighting(&first, "C-1", vec![]))
        .await
        .unwrap()
        .new_item_ids[0];
    let stored = store.items(&[key("wb-1")]).await.unwrap()[&key("wb-1")].clone();
    let (row, run) = stored.latest.expect("the first row");
    assert_eq!(run, ObservationRun::of(&first));

    let again = observation("wb-1", "2026-03-05T21:05:00+08:00", 85);
    assert!(run.absorbs(&ObservationRun::of(&again)));
    let grown = observation("wb-1", "2026-03-05T21:10:00+08:00", 90);
    let grown_again = observation("wb-1", "2026-03-05T21:15:00+08:00", 90);
    store
        .commit(&Batch {
            observations: vec![(ItemRef::Stored(id), &grown)],
            seen_again: vec![
                (ObservationRef::Stored(row), again.fetched_at),
                (ObservationRef::New(0), grown_again.fetched_at),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let sightings = store.sightings(&[id]).await.unwrap().remove(&id).unwrap();
    let runs: Vec<(String, String, Option<i64>)> = sightings
        .iter()
        .map(|s| {
            (
                s.at.to_rfc3339(),
                s.last_seen.to_rfc3339(),
                s.engagement.likes,
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            (
                "2026-03-05T21:00:00+08:00".to_string(),
                "2026-03-05T21:05:00+08:00".to_string(),
                Some(85)
            ),
            (
                "2026-03-05T21:10:00+08:00".to_string(),
                "2026-03-05T21:15:00+08:00".to_string(),
                Some(90)
            ),
        ]
    );
    let (newest, run) = store.items(&[key("wb-1")]).await.unwrap()[&key("wb-1")]
        .latest
        .unwrap();
    assert_ne!(newest, row);
    assert_eq!(run.last_seen, grown_again.fetched_at);
    // An edit is news even with the same counts; so is the heartbeat an hour on.
    let mut edited = observation("wb-1", "2026-03-05T21:20:00+08:00", 90);
    edited.body = Some("星驰漏油 XC-2026-00871 已投诉".into());
    assert!(!run.absorbs(&ObservationRun::of(&edited)));
    let hour_on = observation("wb-1", "2026-03-05T22:10:00+08:00", 90);
    assert!(!run.absorbs(&ObservationRun::of(&hour_on)));
}

/// A brand item at `fetched_at` (RFC 3339), linked as `link` says (None: to no case).
async fn stored_item(
    store: &SharedStore,
    guid: &str,
    fetched: &[&str],
    link: Option<(&str, LinkState)>,
    alert: Option<NewAlert>,
) -> i64 {
    let observations: Vec<Observation> = fetched
        .iter()
        .enumerate()
        .map(|(n, t)| observation(guid, t, n as i64))
        .collect();
    let mut item = new_item(&observations[0], "-");
    item.links = link
        .map(|(case_id, state)| NewLink {
            case_id: case_id.into(),
            state,
            score: 0.5,
            evidence: vec![],
        })
        .into_iter()
        .collect();
    let id = store
        .commit(&Batch {
            new_items: vec![item],
            observations: vec![(ItemRef::New(0), &observations[0])],
            alerts: alert.map(|a| (ItemRef::New(0), a)).into_iter().collect(),
            ..Batch::default()
        })
        .await
        .unwrap()
        .new_item_ids[0];
    for later in &observations[1..] {
        store
            .commit(&Batch {
                observations: vec![(ItemRef::Stored(id), later)],
                ..Batch::default()
            })
            .await
            .unwrap();
    }
    id
}

/// Retention removes items no case needs and thins closed cases' series, in batches,
/// keeping what open cases and pending alerts need, and a sent alert's dedupe key.
async fn retention_prunes_only_what_nothing_needs(store: SharedStore) {
    use outcry::config::RetentionConfig;
    for (id, status) in [
        ("C-open", CaseStatus::Open),
        ("C-closed", CaseStatus::Closed),
    ] {
        store
            .upsert_case(&case(id, status), Utc::now())
            .await
            .unwrap();
    }
    let now: DateTime<Utc> = "2026-09-01T00:00:00Z".parse().unwrap();
    let old = "2026-05-01T08:00:00+00:00";
    let sent = stored_item(
        &store,
        "old-sent",
        &[old],
        None,
        Some(unlinked_alert("old-sent", old)),
    )
    .await;
    let claimed = store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    store.mark_alert_sent(claimed[0].id, now).await.unwrap();
    let pending = unlinked_alert("old-pending", old);
    let kept_for_alert = stored_item(&store, "old-pending", &[old], None, Some(pending)).await;
    let recent = stored_item(&store, "recent", &["2026-08-20T08:00:00+00:00"], None, None).await;
    let rejected = stored_item(
        &store,
        "rejected",
        &[old],
        Some(("C-open", LinkState::Rejected)),
        None,
    )
    .await;
    // Three rows one day 40 days back, three within one hour 10 days back and one 2 days
    // back.
    let series = [
        "2026-07-20T01:00:00+00:00",
        "2026-07-20T05:00:00+00:00",
        "2026-07-20T09:00:00+00:00",
        "2026-08-20T10:00:00+00:00",
        "2026-08-20T10:20:00+00:00",
        "2026-08-20T10:40:00+00:00",
        "2026-08-30T10:00:00+00:00",
    ];
    let closed = stored_item(
        &store,
        "closed",
        &series,
        Some(("C-closed", LinkState::Confirmed)),
        None,
    )
    .await;
    let open = stored_item(
        &store,
        "open",
        &series,
        Some(("C-open", LinkState::Candidate)),
        None,
    )
    .await;

    let config = RetentionConfig {
        batch: 2,
        ..RetentionConfig::default()
    };
    let rules = outcry::retention::rules(&config, now);
    let foreseen = store.prunable(&rules).await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let pruned = outcry::retention::round(&store, &config, now, &shutdown)
        .await
        .unwrap();
    assert_eq!(
        pruned,
        store::Pruned {
            items: 1,
            observations: 1 + 2 + 2
        }
    );
    assert_eq!(foreseen, pruned, "stats foresee what a round does");
    assert_eq!(
        store.prunable(&rules).await.unwrap(),
        store::Pruned::default()
    );

    let sightings = store
        .sightings(&[sent, kept_for_alert, recent, rejected, closed, open])
        .await
        .unwrap();
    let rows = |id: i64| {
        sightings
            .get(&id)
            .map(|s| s.iter().map(|s| s.at.to_rfc3339()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(rows(sent).is_empty());
    for kept in [kept_for_alert, recent, rejected] {
        assert_eq!(rows(kept).len(), 1);
    }
    assert_eq!(
        rows(closed),
        [
            "2026-07-20T09:00:00+00:00",
            "2026-08-20T10:40:00+00:00",
            "2026-08-30T10:00:00+00:00"
        ]
    );
    assert_eq!(rows(open).len(), series.len());
    let left = store
        .items(&[key("old-sent"), key("old-pending"), key("closed")])
        .await
        .unwrap();
    assert!(!left.contains_key(&key("old-sent")));
    assert_eq!(left.len(), 2);
    // The sent alert stays, and its key still stops a second one.
    let alerts = store.alerts().await.unwrap();
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().any(|a| a.status == AlertStatus::Sent));
    let again = observation("old-sent", "2026-09-01T08:00:00+00:00", 0);
    let committed = store
        .commit(&Batch {
            new_items: vec![NewItem {
                links: vec![],
                ..new_item(&again, "-")
            }],
            observations: vec![(ItemRef::New(0), &again)],
            alerts: vec![(
                ItemRef::New(0),
                unlinked_alert("old-sent", "2026-09-01T08:00:00+00:00"),
            )],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert!(committed.inserted_alerts.is_empty());

    let stats = store.storage_stats().await.unwrap();
    let count = |table: &str| {
        stats
            .tables
            .iter()
            .find(|t| t.table == table)
            .map(|t| t.rows)
    };
    assert_eq!(count("items"), Some(6));
    assert_eq!(count("cases"), Some(2));
    assert!(stats.bytes > 0);
    assert_eq!(
        stats.observed.map(|(oldest, _)| oldest),
        Some(at(old).timestamp_millis())
    );
}

async fn a_batch_writes_many_items_and_maps_alerts_back(store: SharedStore) {
    for id in ["C-1", "C-2"] {
        store
            .upsert_case(&case(id, CaseStatus::Open), Utc::now())
            .await
            .unwrap();
    }
    // More rows than one multi-row statement holds, so the chunking is exercised too.
    let observations: Vec<Observation> = (0..1200)
        .map(|n| observation(&format!("wb-{n}"), "2026-03-05T21:52:00+08:00", n))
        .collect();
    let batch = Batch {
        new_items: observations
            .iter()
            .enumerate()
            .map(|(n, o)| new_item(o, if n % 2 == 0 { "C-1" } else { "C-2" }))
            .collect(),
        observations: observations
            .iter()
            .enumerate()
            .map(|(n, o)| (ItemRef::New(n), o))
            .collect(),
        alerts: vec![
            (
                ItemRef::New(0),
                alert("C-1", Stage::Surfaced, "2026-03-05T21:52:00+08:00"),
            ),
            (
                ItemRef::New(1),
                alert("C-2", Stage::Surfaced, "2026-03-05T21:52:00+08:00"),
            ),
            // A second alert with a key already in this batch is dropped, not an error.
            (
                ItemRef::New(3),
                alert("C-2", Stage::Surfaced, "2026-03-05T21:52:00+08:00"),
            ),
        ],
        ..Batch::default()
    };
    let committed = store.commit(&batch).await.unwrap();
    assert_eq!(committed.new_item_ids.len(), 1200);
    assert_eq!(committed.inserted_alerts, [0, 1]);

    let keys: Vec<ItemKey> = (0..1200).map(|n| key(&format!("wb-{n}"))).collect();
    let items = store.items(&keys).await.unwrap();
    assert_eq!(items.len(), 1200);
    for (n, id) in committed.new_item_ids.iter().enumerate() {
        assert_eq!(items[&keys[n]].id, *id, "ids come back in batch order");
    }
    let evidence = store
        .case_evidence(
            &["C-1".into(), "C-2".into(), "C-404".into()],
            EvidenceScope::Confirmed,
        )
        .await
        .unwrap();
    assert_eq!(evidence["C-1"].items.len(), 600);
    assert_eq!(evidence["C-2"].items.len(), 600);
    assert_eq!(evidence["C-2"].items[0].guid, "wb-1");
    assert_eq!(
        evidence["C-2"].items[1].sightings[0].engagement.likes,
        Some(3)
    );
    assert!(evidence.get("C-404").is_none_or(|e| e.items.is_empty()));

    // A candidate link waits for review: in the reviewers' scope, not in the confirmed one.
    let maybe = observation("wb-maybe", "2026-03-05T22:00:00+08:00", 1);
    let mut candidate = new_item(&maybe, "C-1");
    candidate.links[0].state = LinkState::Candidate;
    store
        .commit(&Batch {
            new_items: vec![candidate],
            observations: vec![(ItemRef::New(0), &maybe)],
            ..Batch::default()
        })
        .await
        .unwrap();
    let count = |scope| {
        let store = store.clone();
        async move {
            store.case_evidence(&["C-1".into()], scope).await.unwrap()["C-1"]
                .items
                .len()
        }
    };
    assert_eq!(count(EvidenceScope::Confirmed).await, 600);
    assert_eq!(count(EvidenceScope::Unrejected).await, 601);
    let alert_cases: Vec<(Option<String>, Option<i64>)> = store
        .alerts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.case_id, a.item_id))
        .collect();
    // Each alert names the post that caused it.
    assert_eq!(
        alert_cases,
        [
            (Some("C-1".into()), Some(committed.new_item_ids[0])),
            (Some("C-2".into()), Some(committed.new_item_ids[1])),
        ]
    );
}

async fn a_failed_commit_writes_nothing(store: SharedStore) {
    // The link names a case that does not exist: the foreign key fails, and neither the item
    // nor its observation nor the alert may remain.
    let obs = observation("wb-2", "2026-03-05T21:52:00+08:00", 1);
    let result = store
        .commit(&first_sighting(
            &obs,
            "C-404",
            vec![alert("C-404", Stage::Surfaced, "2026-03-05T21:52:00+08:00")],
        ))
        .await;
    assert!(result.is_err());
    assert!(store.items(&[key("wb-2")]).await.unwrap().is_empty());
    assert!(store.alerts().await.unwrap().is_empty());
}

/// When the mail server answers again, every alert that failed is due at once, whatever
/// its back-off; sent alerts and alerts never tried are left alone.
async fn failed_alerts_are_all_made_due_at_once(store: SharedStore) {
    for id in ["C-1", "C-2", "C-3"] {
        store
            .upsert_case(&case(id, CaseStatus::Open), Utc::now())
            .await
            .unwrap();
    }
    let obs = observation("wb-1", "2026-03-05T21:52:00+08:00", 1);
    store
        .commit(&first_sighting(
            &obs,
            "C-1",
            vec![
                alert("C-1", Stage::Surfaced, "2026-03-05T21:52:00+08:00"),
                alert("C-2", Stage::Surfaced, "2026-03-05T21:52:00+08:00"),
            ],
        ))
        .await
        .unwrap();
    let now = Utc::now();
    let claimed = store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    store.mark_alert_sent(claimed[0].id, now).await.unwrap();
    store
        .mark_alert_failed(
            claimed[1].id,
            "connection refused",
            now + Duration::hours(1),
        )
        .await
        .unwrap();
    let later = observation("wb-2", "2026-03-05T21:53:00+08:00", 1);
    store
        .commit(&first_sighting(
            &later,
            "C-3",
            vec![alert("C-3", Stage::Surfaced, "2026-03-05T21:53:00+08:00")],
        ))
        .await
        .unwrap();

    assert_eq!(store.retry_failed_alerts(now).await.unwrap(), 1);
    let due = store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    let ids: Vec<i64> = due.iter().map(|a| a.id).collect();
    assert!(ids.contains(&claimed[1].id), "the failed alert is due now");
    assert_eq!(
        due.len(),
        2,
        "and the new one, sent alerts are not: {ids:?}"
    );
    let retried = due.iter().find(|a| a.id == claimed[1].id).unwrap();
    assert_eq!(retried.attempts, 1, "its failure still counts");
    assert_eq!(store.retry_failed_alerts(now).await.unwrap(), 0);
}

async fn outbox_claims_leases_retries_and_cancels(store: SharedStore) {
    store
        .upsert_case(&case("C-1", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    store
        .upsert_case(&case("C-2", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let obs = observation("wb-1", "2026-03-05T21:52:00+08:00", 1);
    store
        .commit(&first_sighting(
            &obs,
            "C-1",
            vec![
                alert("C-1", Stage::Surfaced, "2026-03-05T21:52:00+08:00"),
                alert("C-2", Stage::Surfaced, "2026-03-05T21:52:00+08:00"),
            ],
        ))
        .await
        .unwrap();
    let now = Utc::now();
    let claimed = store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed[0].id < claimed[1].id);
    assert_eq!(claimed[0].message_id, "<C-1.surfaced@test>");
    // Leased rows are not handed out again while the lease lasts.
    assert!(store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap()
        .is_empty());

    store.mark_alert_sent(claimed[0].id, now).await.unwrap();
    store
        .mark_alert_failed(
            claimed[1].id,
            "connection refused",
            now + Duration::seconds(30),
        )
        .await
        .unwrap();
    // Not due yet, then due after the back-off.
    assert!(store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap()
        .is_empty());
    let later = now + Duration::seconds(31);
    let retry = store
        .claim_alerts(later, later + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempts, 1);
    assert!(retry[0].case_open);

    // A case closed before delivery: the claim says so, and the alert can be cancelled.
    store.close_case("C-2", Utc::now()).await.unwrap();
    let much_later = later + Duration::seconds(120);
    let retry = store
        .claim_alerts(much_later, much_later + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert!(!retry[0].case_open);
    store
        .cancel_alert(retry[0].id, "case closed")
        .await
        .unwrap();
    let rows = store.alerts().await.unwrap();
    let statuses: Vec<AlertStatus> = rows.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [AlertStatus::Sent, AlertStatus::Cancelled]);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[1].last_error.as_deref(), Some("case closed"));

    // An expired lease (a worker that died mid-send) is claimed again.
    store
        .upsert_case(&case("C-3", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let obs = observation("wb-3", "2026-03-05T21:52:00+08:00", 1);
    store
        .commit(&first_sighting(
            &obs,
            "C-3",
            vec![alert("C-3", Stage::Surfaced, "2026-03-05T21:52:00+08:00")],
        ))
        .await
        .unwrap();
    let t = Utc::now();
    assert_eq!(
        store
            .claim_alerts(t, t + Duration::seconds(5), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let after = t + Duration::seconds(6);
    assert_eq!(
        store
            .claim_alerts(after, after + Duration::seconds(5), 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn source_state_round_trips(store: SharedStore) {
    assert!(store.source_state("weibo").await.unwrap().is_none());
    let state = SourceState {
        name: "weibo".into(),
        etag: Some("\"v1\"".into()),
        last_modified: Some("Mon, 02 Mar 2026 10:00:00 GMT".into()),
        consecutive_failures: 3,
        last_success_at: Some(
            DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ),
        last_error: Some("timeout".into()),
        last_error_at: None,
        items_seen: 42,
        health: SourceHealth::Blind,
        failing_since: Some(
            DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ),
        down_alerted: true,
        last_items: Some(12),
        last_poll_at: Some(
            DateTime::parse_from_rfc3339("2026-03-02T11:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ),
    };
    store.save_source_state(&state).await.unwrap();
    assert_eq!(
        store.source_state("weibo").await.unwrap(),
        Some(state.clone())
    );
    let cleared = SourceState {
        consecutive_failures: 0,
        last_error: None,
        health: SourceHealth::Ok,
        failing_since: None,
        down_alerted: false,
        ..state
    };
    store.save_source_state(&cleared).await.unwrap();
    assert_eq!(
        store.source_state("weibo").await.unwrap(),
        Some(cleared.clone())
    );
    let forum = SourceState {
        name: "forum".into(),
        ..SourceState::default()
    };
    store.save_source_state(&forum).await.unwrap();
    assert_eq!(store.source_states().await.unwrap(), [forum, cleared]);
}

fn source_alert(kind: AlertKind, key: &str) -> NewAlert {
    NewAlert {
        kind,
        case_id: None,
        brand: String::new(),
        dedupe_key: key.into(),
        message_id: format!("<{key}@test>"),
        subject: format!("source {key}"),
        text: "text".into(),
        html: "<p>html</p>".into(),
        created_at: at("2026-03-05T21:52:00+08:00"),
        facts: None,
    }
}

async fn source_alerts_are_saved_with_the_state_once_per_key(store: SharedStore) {
    let state = SourceState {
        name: "weibo".into(),
        health: SourceHealth::Failing,
        down_alerted: true,
        consecutive_failures: 9,
        ..SourceState::default()
    };
    let down = source_alert(AlertKind::SourceDown, "source:weibo:down:1");
    assert!(store
        .save_source_state_with_alert(&state, &down)
        .await
        .unwrap());
    assert_eq!(
        store.source_state("weibo").await.unwrap(),
        Some(state.clone())
    );
    // The same outage again (a retry after a crash, another instance): no second alert, but
    // the state is still written.
    let later = SourceState {
        consecutive_failures: 10,
        ..state
    };
    assert!(!store
        .save_source_state_with_alert(&later, &down)
        .await
        .unwrap());
    assert_eq!(
        store.source_state("weibo").await.unwrap(),
        Some(later.clone())
    );
    let up = source_alert(AlertKind::SourceUp, "source:weibo:up:1");
    assert!(store
        .save_source_state_with_alert(&later, &up)
        .await
        .unwrap());

    let now = Utc::now();
    let claimed = store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].kind, AlertKind::SourceDown);
    assert_eq!(claimed[1].kind, AlertKind::SourceUp);
    for alert in &claimed {
        assert_eq!(alert.source.as_deref(), Some("weibo"));
        assert_eq!(alert.case_id, None);
        assert!(alert.case_open, "no case to be closed");
    }
    let rows = store.alerts().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].kind, AlertKind::SourceDown);
}

async fn followed_items_are_recent_items_linked_to_open_cases(store: SharedStore) {
    for (id, status) in [("C-1", CaseStatus::Open), ("C-2", CaseStatus::Closed)] {
        store
            .upsert_case(&case(id, status), Utc::now())
            .await
            .unwrap();
    }
    let linked = observation("wb-1", "2026-03-05T21:52:00+08:00", 1);
    let closed = observation("wb-2", "2026-03-05T21:53:00+08:00", 1);
    let old = observation("wb-3", "2026-02-01T10:00:00+08:00", 1);
    let rejected = observation("wb-4", "2026-03-05T21:54:00+08:00", 1);
    let mut other_source = observation("x-1", "2026-03-05T21:55:00+08:00", 1);
    other_source.source = "forum".into();
    let mut no_url = observation("wb-5", "2026-03-05T21:56:00+08:00", 1);
    no_url.url = None;
    let mut rejected_item = new_item(&rejected, "C-1");
    rejected_item.links[0].state = LinkState::Rejected;
    let new_items = vec![
        new_item(&linked, "C-1"),
        new_item(&closed, "C-2"),
        new_item(&old, "C-1"),
        rejected_item,
        new_item(&other_source, "C-1"),
        new_item(&no_url, "C-1"),
    ];
    let observations = [&linked, &closed, &old, &rejected, &other_source, &no_url]
        .into_iter()
        .enumerate()
        .map(|(i, o)| (ItemRef::New(i), o))
        .collect();
    store
        .commit(&Batch {
            new_items,
            observations,
            ..Batch::default()
        })
        .await
        .unwrap();
    let since = at("2026-03-01T00:00:00Z").with_timezone(&Utc);
    let followed = store.followed_items("weibo", since).await.unwrap();
    let guids: Vec<&str> = followed.iter().map(|i| i.guid.as_str()).collect();
    assert_eq!(guids, ["wb-1"]);
    let item = &followed[0];
    assert_eq!(item.url, "https://weibo.example/wb-1");
    assert_eq!(item.author.as_deref(), Some("小王爱吃梨"));
    assert_eq!(item.first_seen_at, at("2026-03-05T21:52:00+08:00"));
    assert_eq!(item.published_at, Some(at("2026-03-05T21:40:00+08:00")));
    let all_time = store
        .followed_items("weibo", at("2026-01-01T00:00:00Z").with_timezone(&Utc))
        .await
        .unwrap();
    assert_eq!(all_time.len(), 2, "the old one too, once its age allows");
}

fn audit(action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        actor: "lead-wang".into(),
        action: action.into(),
        target: target.into(),
        detail: serde_json::json!({"note": "审核"}),
        at: Utc::now(),
    }
}

/// Stores items wb-0 .. wb-2 for C-1: a confirmed link, a candidate, and a mention without
/// a link; returns their ids.
async fn three_items(store: &SharedStore, observations: &[Observation]) -> Vec<i64> {
    let mut batch = Batch::default();
    for (n, obs) in observations.iter().enumerate() {
        let mut item = new_item(obs, "C-1");
        match n {
            0 => {}
            1 => item.links[0].state = LinkState::Candidate,
            _ => item.links.clear(),
        }
        batch.new_items.push(item);
        batch.observations.push((ItemRef::New(n), obs));
    }
    store.commit(&batch).await.unwrap().new_item_ids
}

async fn items_and_links_are_found_by_filters(store: SharedStore) {
    store
        .upsert_case(&case("C-1", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let mut observations: Vec<Observation> = (0..3)
        .map(|n| observation(&format!("wb-{n}"), "2026-03-05T21:52:00+08:00", n))
        .collect();
    observations[1].fetched_at = at("2026-03-06T10:00:00+08:00");
    observations[2].body = Some("星驰 100%_退款 <b>真的</b>".into());
    observations[2].fetched_at = at("2026-03-07T10:00:00+00:00");
    let ids = three_items(&store, &observations).await;
    let later = observation("wb-0", "2026-03-08T10:00:00+08:00", 50);
    store
        .commit(&Batch {
            observations: vec![(ItemRef::Stored(ids[0]), &later)],
            ..Batch::default()
        })
        .await
        .unwrap();

    let find = |query: ItemQuery| {
        let store = store.clone();
        async move {
            store
                .find_items(&ItemQuery {
                    limit: if query.limit == 0 { 100 } else { query.limit },
                    ..query
                })
                .await
                .unwrap()
                .into_iter()
                .map(|i| i.guid)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find(ItemQuery::default()).await, ["wb-2", "wb-1", "wb-0"]);
    assert_eq!(
        find(ItemQuery {
            limit: 1,
            ..ItemQuery::default()
        })
        .await
        .len(),
        1
    );
    let brand = Some("星驰汽车".to_string());
    assert_eq!(
        find(ItemQuery {
            brand: Some("别的牌子".into()),
            ..ItemQuery::default()
        })
        .await
        .len(),
        0
    );
    assert_eq!(
        find(ItemQuery {
            brand,
            case_id: Some("C-1".into()),
            ..ItemQuery::default()
        })
        .await,
        ["wb-1", "wb-0"]
    );
    // LIKE's wildcards are taken literally.
    assert_eq!(
        find(ItemQuery {
            text: Some("100%_退".into()),
            ..ItemQuery::default()
        })
        .await,
        ["wb-2"]
    );
    assert!(find(ItemQuery {
        text: Some("1%0".into()),
        ..ItemQuery::default()
    })
    .await
    .is_empty());
    assert_eq!(
        find(ItemQuery {
            text: Some("小王".into()),
            ..ItemQuery::default()
        })
        .await
        .len(),
        3,
        "author text matches"
    );
    // First sightings at 13:52Z on the 5th, 02:00Z on the 6th, 10:00Z on the 7th: the
    // window compares instants, not the texts with their different offsets.
    let utc = |t: &str| at(t).with_timezone(&Utc);
    assert_eq!(
        find(ItemQuery {
            since: Some(utc("2026-03-06T02:00:00Z")),
            until: Some(utc("2026-03-07T10:00:00Z")),
            ..ItemQuery::default()
        })
        .await,
        ["wb-1"]
    );
    assert_eq!(
        find(ItemQuery {
            ids: vec![ids[2], ids[0]],
            ..ItemQuery::default()
        })
        .await,
        ["wb-2", "wb-0"]
    );
    let rows = store
        .find_items(&ItemQuery {
            ids: vec![ids[1]],
            limit: 10,
            ..ItemQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rows[0].links, [("C-1".to_string(), LinkState::Candidate)]);
    assert_eq!(rows[0].brand, "星驰汽车");
    assert_eq!(rows[0].first_seen_at, at("2026-03-06T10:00:00+08:00"));

    let sightings = store.sightings(&[ids[0], ids[2]]).await.unwrap();
    let likes: Vec<Option<i64>> = sightings[&ids[0]]
        .iter()
        .map(|s| s.engagement.likes)
        .collect();
    assert_eq!(likes, [Some(0), Some(50)]);
    assert_eq!(sightings[&ids[2]].len(), 1);

    let links = store
        .find_links(&LinkQuery {
            state: Some(LinkState::Candidate),
            limit: 10,
            ..LinkQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(
        (links[0].item_id, links[0].case_id.as_str()),
        (ids[1], "C-1")
    );
    assert_eq!(
        links[0].evidence,
        [LinkEvidence::Identifier {
            identifier: "order:XC-2026-00871".into()
        }]
    );
    assert_eq!(links[0].decided_by, None);
    for query in [
        LinkQuery {
            case_id: Some("C-1".into()),
            ..LinkQuery::default()
        },
        LinkQuery {
            brand: Some("星驰汽车".into()),
            ..LinkQuery::default()
        },
    ] {
        let found = store
            .find_links(&LinkQuery { limit: 10, ..query })
            .await
            .unwrap();
        assert_eq!(found.len(), 2);
    }
    let found = store
        .find_links(&LinkQuery {
            item_id: Some(ids[0]),
            limit: 10,
            ..LinkQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found[0].state, LinkState::Confirmed);
    assert!(store
        .find_links(&LinkQuery {
            brand: Some("别的牌子".into()),
            limit: 10,
            ..LinkQuery::default()
        })
        .await
        .unwrap()
        .is_empty());
}

async fn review_writes_are_atomic_with_their_audit(store: SharedStore) {
    store
        .upsert_case(&case("C-1", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let observations: Vec<Observation> = (0..3)
        .map(|n| observation(&format!("wb-{n}"), "2026-03-05T21:52:00+08:00", n))
        .collect();
    let ids = three_items(&store, &observations).await;
    let revision = store.cases_revision().await.unwrap();
    let mut updated = case("C-1", CaseStatus::Open);
    updated.complainant.handles.push("douyin:王女士".into());
    let now = Utc::now();
    let proposed = |item_id: i64, state: LinkState| LinkChange::Propose {
        item_id,
        link: NewLink {
            case_id: "C-1".into(),
            state,
            score: 0.97,
            evidence: vec![LinkEvidence::AuthorIsHandle {
                handle: "douyin:王女士".into(),
            }],
        },
        at: now,
    };
    let committed = store
        .commit(&Batch {
            cases: vec![(updated.clone(), now)],
            link_changes: vec![
                LinkChange::Decide {
                    item_id: ids[1],
                    case_id: "C-1".into(),
                    state: LinkState::Rejected,
                    actor: "lead-wang".into(),
                    at: now,
                },
                // Re-linking never revives a rejected link, and adds a missing one.
                proposed(ids[1], LinkState::Confirmed),
                proposed(ids[2], LinkState::Candidate),
            ],
            audit: vec![
                audit("case.update", "case:C-1"),
                audit("link.reject", "link"),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert!(committed.new_item_ids.is_empty());
    assert!(store.cases_revision().await.unwrap() > revision);
    assert_eq!(store.case("C-1").await.unwrap(), Some(updated));
    let state_of = |item_id: i64| {
        let store = store.clone();
        async move {
            store
                .find_links(&LinkQuery {
                    item_id: Some(item_id),
                    limit: 10,
                    ..LinkQuery::default()
                })
                .await
                .unwrap()
                .remove(0)
        }
    };
    let rejected = state_of(ids[1]).await;
    assert_eq!(rejected.state, LinkState::Rejected);
    assert_eq!(rejected.decided_by.as_deref(), Some("lead-wang"));
    assert!(rejected.decided_at.is_some());
    assert_eq!(state_of(ids[2]).await.state, LinkState::Candidate);
    // A proposal upgrades an undecided candidate to confirmed, and never downgrades.
    store
        .commit(&Batch {
            link_changes: vec![
                proposed(ids[2], LinkState::Confirmed),
                proposed(ids[0], LinkState::Candidate),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(state_of(ids[2]).await.state, LinkState::Confirmed);
    assert_eq!(state_of(ids[0]).await.state, LinkState::Confirmed);

    let log = store.audit_log(10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions, ["link.reject", "case.update"], "newest first");
    assert_eq!(log[1].entry.actor, "lead-wang");
    assert_eq!(log[1].entry.detail["note"], "审核");
    assert_eq!(store.audit_log(1).await.unwrap().len(), 1);

    // A failing batch writes neither the change nor its audit row.
    let failing = store
        .commit(&Batch {
            link_changes: vec![LinkChange::Decide {
                item_id: ids[0],
                case_id: "C-1".into(),
                state: LinkState::Rejected,
                actor: "x".into(),
                at: now,
            }],
            audit: vec![audit("link.reject", "again")],
            alerts: vec![(
                ItemRef::Stored(9_999_999),
                alert("C-1", Stage::Viral, "2026-03-05T21:52:00+08:00"),
            )],
            ..Batch::default()
        })
        .await;
    assert!(failing.is_err());
    assert_eq!(state_of(ids[0]).await.state, LinkState::Confirmed);
    assert_eq!(store.audit_log(10).await.unwrap().len(), 2);
}

async fn alerts_are_resent_and_counted(store: SharedStore) {
    store
        .upsert_case(&case("C-1", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let obs = observation("wb-1", "2026-03-05T21:52:00+08:00", 1);
    let mut batch = first_sighting(
        &obs,
        "C-1",
        vec![alert("C-1", Stage::Surfaced, "2026-03-05T21:52:00+08:00")],
    );
    batch.new_items[0].links[0].state = LinkState::Candidate;
    store.commit(&batch).await.unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.links, [(LinkState::Candidate, 1)]);
    assert_eq!(stats.outbox_depth, 1);

    let now = Utc::now();
    let claimed = store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    store.mark_alert_sent(claimed[0].id, now).await.unwrap();
    assert_eq!(store.stats().await.unwrap().outbox_depth, 0);
    store
        .commit(&Batch {
            alert_resends: vec![(claimed[0].id, now)],
            audit: vec![audit("alert.resend", "alert")],
            ..Batch::default()
        })
        .await
        .unwrap();
    let row = &store.alerts().await.unwrap()[0];
    assert_eq!(row.status, AlertStatus::Pending);
    assert_eq!(row.sent_at, None);
    assert_eq!(store.stats().await.unwrap().outbox_depth, 1);
    let again = store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "a resent alert is due at once");
}

fn digest_alert(day: &str, created_at: &str) -> NewAlert {
    NewAlert {
        kind: AlertKind::Digest,
        case_id: None,
        brand: String::new(),
        dedupe_key: format!("digest:{day}"),
        message_id: format!("<digest.{day}@test>"),
        subject: format!("digest {day}"),
        text: "text".into(),
        html: "<p>html</p>".into(),
        created_at: at(created_at),
        facts: None,
    }
}

async fn a_standalone_alert_is_queued_once_per_key(store: SharedStore) {
    assert_eq!(store.last_alert_at(AlertKind::Digest).await.unwrap(), None);
    let digest = digest_alert("2026-03-05", "2026-03-05T09:00:10+08:00");
    // Two instances racing for the same day: exactly one queues it.
    let (a, b) = tokio::join!(store.queue_alert(&digest), store.queue_alert(&digest));
    assert!(
        a.unwrap() ^ b.unwrap(),
        "exactly one of two racing inserts wins"
    );
    assert!(!store.queue_alert(&digest).await.unwrap());
    assert!(store
        .queue_alert(&digest_alert("2026-03-06", "2026-03-06T09:00:03+08:00"))
        .await
        .unwrap());
    assert_eq!(
        store.last_alert_at(AlertKind::Digest).await.unwrap(),
        Some(at("2026-03-06T09:00:03+08:00"))
    );
    assert_eq!(store.last_alert_at(AlertKind::Viral).await.unwrap(), None);
    let now = Utc::now();
    let claimed = store
        .claim_alerts(now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].kind, AlertKind::Digest);
    assert_eq!(claimed[0].case_id, None);
    assert!(
        claimed[0].case_open,
        "a digest belongs to no case and goes out"
    );
}

fn unlinked_alert(guid: &str, created_at: &str) -> NewAlert {
    NewAlert {
        kind: AlertKind::Unlinked,
        case_id: None,
        brand: "星驰汽车".into(),
        dedupe_key: format!("item:weibo:{guid}:unlinked"),
        message_id: format!("<{guid}.unlinked@test>"),
        subject: format!("unlinked {guid}"),
        text: "text".into(),
        html: "<p>html</p>".into(),
        created_at: at(created_at),
        facts: None,
    }
}

async fn digest_lists_links_to_review_unlinked_items_and_case_standings(store: SharedStore) {
    for (id, status) in [
        ("C-1", CaseStatus::Open),
        ("C-2", CaseStatus::Open),
        ("C-3", CaseStatus::Closed),
    ] {
        store
            .upsert_case(&case(id, status), Utc::now())
            .await
            .unwrap();
    }
    let linked = observation("wb-1", "2026-03-05T10:00:00+08:00", 10);
    let candidate = observation("wb-2", "2026-03-05T11:00:00+08:00", 20);
    let candidate_again = observation("wb-2", "2026-03-05T12:00:00+08:00", 220);
    let closed_candidate = observation("wb-3", "2026-03-05T11:00:00+08:00", 1);
    let alerted = observation("wb-4", "2026-03-05T12:00:00+08:00", 5);
    let held = observation("wb-5", "2026-03-05T05:00:00+00:00", 6);
    let before_window = observation("wb-6", "2026-03-04T08:00:00+08:00", 7);
    let candidate_link = |case_id: &str, score: f64| NewLink {
        case_id: case_id.into(),
        state: LinkState::Candidate,
        score,
        evidence: vec![LinkEvidence::Retells {
            score: 0.41,
            case_text: 0.41,
            story: 0.0,
        }],
    };
    let unlinked_item = |o| NewItem {
        observation: o,
        brand: "星驰汽车".into(),
        links: vec![],
    };
    let batch = Batch {
        new_items: vec![
            new_item(&linked, "C-1"),
            NewItem {
                observation: &candidate,
                brand: "星驰汽车".into(),
                links: vec![candidate_link("C-2", 0.45), candidate_link("C-1", 0.4)],
            },
            NewItem {
                observation: &closed_candidate,
                brand: "星驰汽车".into(),
                links: vec![candidate_link("C-3", 0.5)],
            },
            unlinked_item(&alerted),
            unlinked_item(&held),
            unlinked_item(&before_window),
        ],
        observations: vec![
            (ItemRef::New(0), &linked),
            (ItemRef::New(1), &candidate),
            (ItemRef::New(1), &candidate_again),
            (ItemRef::New(2), &closed_candidate),
            (ItemRef::New(3), &alerted),
            (ItemRef::New(4), &held),
            (ItemRef::New(5), &before_window),
        ],
        alerts: vec![
            (
                ItemRef::New(0),
                alert("C-1", Stage::Surfaced, "2026-03-05T10:00:00+08:00"),
            ),
            (
                ItemRef::New(0),
                alert("C-1", Stage::Spreading, "2026-03-05T12:30:00+08:00"),
            ),
            (
                ItemRef::New(3),
                unlinked_alert("wb-4", "2026-03-05T12:00:00+08:00"),
            ),
        ],
        ..Batch::default()
    };
    store.commit(&batch).await.unwrap();

    let (links, total) = store.review_links(10).await.unwrap();
    let listed: Vec<(&str, &str, f64)> = links
        .iter()
        .map(|l| (l.case_id.as_str(), l.item.guid.as_str(), l.item.link_score))
        .collect();
    assert_eq!(
        listed,
        [("C-2", "wb-2", 0.45), ("C-1", "wb-2", 0.4)],
        "open cases' candidates, best first"
    );
    assert_eq!(total, 2);
    assert_eq!(links[0].item.link_state, LinkState::Candidate);
    assert_eq!(
        links[0].item.link_evidence,
        [LinkEvidence::Retells {
            score: 0.41,
            case_text: 0.41,
            story: 0.0
        }]
    );
    let likes: Vec<Option<i64>> = links[1]
        .item
        .sightings
        .iter()
        .map(|s| s.engagement.likes)
        .collect();
    assert_eq!(likes, [Some(20), Some(220)]);
    let (first, total) = store.review_links(1).await.unwrap();
    assert_eq!((first.len(), total), (1, 2));

    let since = at("2026-03-05T00:00:00+08:00").with_timezone(&Utc);
    let until = at("2026-03-06T00:00:00+08:00").with_timezone(&Utc);
    let unlinked = store.unlinked_items(since, until, 10).await.unwrap();
    let listed: Vec<(&str, bool)> = unlinked
        .iter()
        .map(|u| (u.item.guid.as_str(), u.alerted))
        .collect();
    // wb-5 was seen at 13:00 +08:00, written in UTC: the window compares instants.
    assert_eq!(listed, [("wb-5", false), ("wb-4", true)], "newest first");
    assert_eq!(unlinked[0].brand, "星驰汽车");
    assert_eq!(unlinked[0].item.sightings.len(), 1);
    assert_eq!(unlinked[0].item.link_evidence, Vec::<LinkEvidence>::new());
    let newest = store.unlinked_items(since, until, 1).await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].item.guid, "wb-5");
    let utc = |t: &str| at(t).with_timezone(&Utc);
    let window = store
        .unlinked_items(utc("2026-03-05T12:00:00+08:00"), until, 10)
        .await
        .unwrap();
    assert_eq!(window.len(), 2, "the window's start is inclusive");
    let window = store
        .unlinked_items(
            utc("2026-03-05T12:30:00+08:00"),
            utc("2026-03-05T13:00:00+08:00"),
            10,
        )
        .await
        .unwrap();
    assert!(window.is_empty(), "and its end exclusive");

    let standings = store.case_standings().await.unwrap();
    let shown: Vec<(&str, Option<Stage>, i64, i64)> = standings
        .iter()
        .map(|s| {
            (
                s.case.id.as_str(),
                s.stage.map(|(stage, _)| stage),
                s.confirmed_items,
                s.candidate_items,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [("C-1", Some(Stage::Spreading), 1, 1), ("C-2", None, 0, 1),],
        "open cases only"
    );
    assert_eq!(
        standings[0].stage.map(|(_, at)| at),
        Some(at("2026-03-05T12:30:00+08:00"))
    );
}

/// Lease lengths for the tests below: long enough never to run out by accident on a busy
/// machine, and short ones that do run out after a short sleep.
const HELD: StdDuration = StdDuration::from_secs(60);
const BRIEF: StdDuration = StdDuration::from_millis(300);

async fn past(lease: StdDuration) {
    tokio::time::sleep(lease + StdDuration::from_millis(300)).await;
}

/// Polls that changed their sources' states to `states`.
fn changed(states: &[SourceState]) -> Vec<RecordedPoll> {
    states.iter().cloned().map(RecordedPoll::Changed).collect()
}

/// `stored` is `state` but for the times, which the record of the poll moved to `recorded`
/// or later.
fn recorded_as(stored: &SourceState, state: &SourceState, recorded: DateTime<Utc>) {
    assert_eq!(
        SourceState {
            last_success_at: state.last_success_at,
            last_poll_at: state.last_poll_at,
            ..stored.clone()
        },
        *state
    );
    for time in [stored.last_success_at, stored.last_poll_at] {
        assert!(
            time.is_some_and(|t| t >= recorded - Duration::milliseconds(1)),
            "{time:?} is the record's time ({recorded}) or later"
        );
    }
}

/// More polls than one statement takes, some of sources held by another instance: each
/// held source gets its poll time and state, the others keep theirs.
async fn polls_are_recorded_in_batches_only_for_held_sources(store: SharedStore) {
    let names: Vec<String> = (0..700).map(|i| format!("feed-{i:03}")).collect();
    for (i, name) in names.iter().enumerate() {
        let owner = if i % 7 == 0 { "b" } else { "a" };
        assert!(store
            .lease_source(name, owner, BRIEF)
            .await
            .unwrap()
            .is_some());
    }
    let states: Vec<SourceState> = names
        .iter()
        .map(|name| SourceState {
            name: name.clone(),
            etag: Some(format!("\"{name}\"")),
            items_seen: 3,
            health: SourceHealth::Ok,
            last_poll_at: Some(Utc::now()),
            ..SourceState::default()
        })
        .collect();
    let before = Utc::now();
    let mut recorded = store.record_polls("a", &changed(&states)).await.unwrap();
    recorded.sort();
    let held: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 7 != 0)
        .map(|(_, n)| n.clone())
        .collect();
    assert_eq!(recorded, held);
    let stored = store.source_states().await.unwrap();
    assert_eq!(stored.len(), held.len());
    for stored in &stored {
        assert!(held.contains(&stored.name));
        let state = states.iter().find(|s| s.name == stored.name).unwrap();
        recorded_as(stored, state, before);
    }
    // The poll time is remembered for whoever takes a source over.
    past(BRIEF).await;
    let taken = store
        .lease_source(&held[0], "c", HELD)
        .await
        .unwrap()
        .expect("an expired lease is taken over");
    assert!(taken.last_polled.is_some());
    let never = store
        .lease_source(&names[0], "c", HELD)
        .await
        .unwrap()
        .expect("an expired lease is taken over");
    assert_eq!(never.last_polled, None);
}

/// A quiet poll (a 304 to a healthy source) writes only its time, with the lease; the state
/// read back carries that time and everything else as the last changed poll left it.
async fn a_quiet_poll_moves_only_the_states_times(store: SharedStore) {
    store
        .lease_source("weibo", "a", HELD)
        .await
        .unwrap()
        .unwrap();
    let state = SourceState {
        name: "weibo".into(),
        etag: Some("\"v1\"".into()),
        last_items: Some(10),
        items_seen: 10,
        last_error: Some("feed repaired: an unescaped &".into()),
        ..SourceState::default()
    };
    store
        .record_polls("a", &changed(std::slice::from_ref(&state)))
        .await
        .unwrap();
    let first = store.source_state("weibo").await.unwrap().unwrap();
    tokio::time::sleep(StdDuration::from_millis(20)).await;
    let quiet = Utc::now();
    assert_eq!(
        store
            .record_polls("a", &[RecordedPoll::Quiet("weibo".into())])
            .await
            .unwrap(),
        ["weibo"]
    );
    let second = store.source_state("weibo").await.unwrap().unwrap();
    recorded_as(&second, &state, quiet);
    assert!(second.last_poll_at > first.last_poll_at);
    assert_eq!(
        store.source_states().await.unwrap(),
        std::slice::from_ref(&second)
    );

    // A failure saved later is newer than the quiet poll: its time stands.
    let failed_at = Utc::now() + Duration::seconds(5);
    let failed = SourceState {
        health: SourceHealth::Failing,
        consecutive_failures: 1,
        last_poll_at: Some(failed_at),
        ..second.clone()
    };
    store.save_source_state(&failed).await.unwrap();
    let third = store.source_state("weibo").await.unwrap().unwrap();
    assert_eq!(third.last_poll_at, Some(failed_at));
    assert_eq!(third.last_success_at, second.last_success_at);
    assert_eq!(third.health, SourceHealth::Failing);
}

async fn source_leases_exclude_take_over_and_keep_the_interval(store: SharedStore) {
    let a = store
        .lease_source("weibo", "a", HELD)
        .await
        .unwrap()
        .expect("a free source is leased");
    assert_eq!(a.last_polled, None);
    // Held by a: b is refused, a keeps it.
    assert!(store
        .lease_source("weibo", "b", HELD)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .lease_source("weibo", "a", HELD)
        .await
        .unwrap()
        .is_some());
    let weibo = [SourceState {
        name: "weibo".into(),
        health: SourceHealth::Ok,
        ..SourceState::default()
    }];
    assert_eq!(
        store.record_polls("a", &changed(&weibo)).await.unwrap(),
        ["weibo"]
    );
    let recorded = store.source_state("weibo").await.unwrap().unwrap();
    recorded_as(&recorded, &weibo[0], a.granted_at);
    // b does not hold it: its poll and state are not written.
    let stale = [SourceState {
        items_seen: 7,
        ..weibo[0].clone()
    }];
    assert!(store
        .record_polls("b", &changed(&stale))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .record_polls("b", &[RecordedPoll::Quiet("weibo".into())])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.source_state("weibo").await.unwrap(), Some(recorded));

    // The heartbeat keeps a lease past its first expiry.
    assert!(store
        .lease_source("forum", "c", BRIEF)
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.renew_leases("c", HELD).await.unwrap(), 1);
    past(BRIEF).await;
    assert!(store
        .lease_source("forum", "b", HELD)
        .await
        .unwrap()
        .is_none());

    // d dies: no more heartbeats, the lease expires and b takes it over, learning when the
    // source was last polled.
    let d = store
        .lease_source("video", "d", BRIEF)
        .await
        .unwrap()
        .unwrap();
    let video = [SourceState {
        name: "video".into(),
        ..SourceState::default()
    }];
    assert_eq!(
        store.record_polls("d", &changed(&video)).await.unwrap(),
        ["video"]
    );
    past(BRIEF).await;
    let b = store
        .lease_source("video", "b", HELD)
        .await
        .unwrap()
        .expect("an expired lease is taken over");
    let polled = b.last_polled.expect("d's poll is remembered");
    assert!(
        d.granted_at <= polled && polled <= b.granted_at,
        "{polled} is between d's grant at {} and b's at {}",
        d.granted_at,
        b.granted_at
    );
    // d comes back late: its heartbeat renews nothing and its polls are refused.
    assert_eq!(store.renew_leases("d", HELD).await.unwrap(), 0);
    assert!(store
        .record_polls("d", &changed(&video))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .lease_source("video", "d", HELD)
        .await
        .unwrap()
        .is_none());

    // A clean shutdown hands over at once.
    store.release_leases("b").await.unwrap();
    assert!(store
        .lease_source("video", "d", HELD)
        .await
        .unwrap()
        .is_some());
}

/// Expiries come from the database's clock and only ever move later: a renewal or a re-take
/// asking for less than is left keeps the lease as it was.
async fn lease_renewals_never_shorten_and_use_the_database_clock(store: SharedStore) {
    let before = Utc::now();
    let a = store
        .lease_source("weibo", "a", HELD)
        .await
        .unwrap()
        .unwrap();
    let after = Utc::now();
    assert_eq!(a.remaining(), HELD);
    // The database runs on this machine, so its clock reads between the two local reads
    // (a little slack for the clocks' different resolutions).
    let slack = Duration::milliseconds(50);
    assert!(
        before - slack <= a.granted_at && a.granted_at <= after + slack,
        "granted at {} by the database's clock, asked between {before} and {after}",
        a.granted_at
    );

    let again = store
        .lease_source("weibo", "a", BRIEF)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.expires, a.expires,
        "a re-take asking for less keeps the expiry"
    );
    assert_eq!(store.renew_leases("a", BRIEF).await.unwrap(), 1);
    past(BRIEF).await;
    assert!(
        store
            .lease_source("weibo", "b", HELD)
            .await
            .unwrap()
            .is_none(),
        "a short renewal did not shorten the lease"
    );
    let longer = store
        .lease_source("weibo", "a", HELD * 2)
        .await
        .unwrap()
        .unwrap();
    assert!(longer.expires > a.expires, "asking for more extends it");
}

/// A poll's commit carries its source lease: written and the lease extended while it is
/// held, nothing written once another instance took the source over.
async fn a_commit_under_a_lost_lease_writes_nothing(store: SharedStore) {
    store
        .upsert_case(&case("C-1", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let under = |owner: &str, extend: StdDuration| LeaseCondition {
        source: "weibo".into(),
        owner: owner.into(),
        extend,
    };
    store
        .lease_source("weibo", "a", BRIEF)
        .await
        .unwrap()
        .unwrap();
    let first = observation("wb-1", "2026-03-05T21:52:00+08:00", 1);
    let batch = Batch {
        lease: Some(under("a", HELD)),
        ..first_sighting(&first, "C-1", Vec::new())
    };
    store
        .commit(&batch)
        .await
        .expect("committed under a's lease");
    assert_eq!(store.items(&[key("wb-1")]).await.unwrap().len(), 1);
    past(BRIEF).await;
    assert!(
        store
            .lease_source("weibo", "b", HELD)
            .await
            .unwrap()
            .is_none(),
        "the commit extended a's lease"
    );

    store.release_leases("a").await.unwrap();
    store
        .lease_source("weibo", "b", HELD)
        .await
        .unwrap()
        .unwrap();
    let second = observation("wb-2", "2026-03-05T21:53:00+08:00", 1);
    let batch = Batch {
        lease: Some(under("a", HELD)),
        ..first_sighting(&second, "C-1", Vec::new())
    };
    match store.commit(&batch).await {
        Err(StoreError::LeaseLost { name }) => assert_eq!(name, "weibo"),
        other => panic!("a commit under a lost lease: {other:?}"),
    }
    assert!(store.items(&[key("wb-2")]).await.unwrap().is_empty());
    let batch = Batch {
        lease: Some(under("b", HELD)),
        ..first_sighting(&second, "C-1", Vec::new())
    };
    store
        .commit(&batch)
        .await
        .expect("committed under b's lease");
    assert_eq!(store.items(&[key("wb-2")]).await.unwrap().len(), 1);
}

/// Several claimers at once, as several instances are: every source and every alert goes to
/// exactly one of them, and racing commits of one decision store one alert.
async fn racing_claims_and_commits_never_share(store: SharedStore) {
    let now = Utc::now();
    let sources: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    let mut tasks = Vec::new();
    for owner in ["a", "b", "c", "d"] {
        let store = store.clone();
        let sources = sources.clone();
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for name in &sources {
                if store
                    .lease_source(name, owner, HELD)
                    .await
                    .unwrap()
                    .is_some()
                {
                    won.push(name.clone());
                }
            }
            won
        }));
    }
    let mut won: Vec<String> = Vec::new();
    for task in tasks {
        won.extend(task.await.unwrap());
    }
    won.sort();
    let mut expected = sources.clone();
    expected.sort();
    assert_eq!(won, expected, "each source leased exactly once");

    store
        .upsert_case(&case("C-1", CaseStatus::Open), Utc::now())
        .await
        .unwrap();
    let observations: Vec<Observation> = (0..8)
        .map(|i| observation(&format!("wb-{i}"), "2026-03-05T21:52:00+08:00", i))
        .collect();
    let mut tasks = Vec::new();
    for obs in observations {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Every item independently decides the same alert for the case.
            let batch = first_sighting(
                &obs,
                "C-1",
                vec![alert("C-1", Stage::Surfaced, "2026-03-05T21:52:00+08:00")],
            );
            store.commit(&batch).await.unwrap().inserted_alerts.len()
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        inserted += task.await.unwrap();
    }
    assert_eq!(inserted, 1);
    assert_eq!(store.alerts().await.unwrap().len(), 1);

    for i in 2..=6 {
        let obs = observation(&format!("more-{i}"), "2026-03-05T21:52:00+08:00", 1);
        let mut batch = first_sighting(&obs, "C-1", Vec::new());
        batch.alerts = vec![(
            ItemRef::New(0),
            alert(
                &format!("C-1x{i}"),
                Stage::Surfaced,
                "2026-03-05T21:52:00+08:00",
            ),
        )];
        store.commit(&batch).await.unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let claimed = store
                    .claim_alerts(now, now + Duration::seconds(60), 1)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return ids;
                }
                ids.extend(claimed.into_iter().map(|a| a.id));
            }
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.unwrap());
    }
    claimed.sort();
    let all: Vec<i64> = store.alerts().await.unwrap().iter().map(|a| a.id).collect();
    assert_eq!(claimed, all, "each alert claimed exactly once");
}

async fn the_installation_id_is_made_once_and_kept(store: SharedStore) {
    // Instances starting together on one store agree on one id.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.installation_id().await.unwrap() })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let id = ids[0].clone();
    assert!(ids.iter().all(|i| *i == id), "{ids:?}");
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(store.installation_id().await.unwrap(), id);
    let other = store::open_in_memory().await.unwrap();
    assert_ne!(other.installation_id().await.unwrap(), id);

    // The first full poll round is recorded once; a later one does not move it.
    assert_eq!(store.first_round(None).await.unwrap(), None);
    let first: DateTime<Utc> = "2026-03-05T07:00:00Z".parse().unwrap();
    assert_eq!(store.first_round(Some(first)).await.unwrap(), Some(first));
    let later = first + Duration::hours(3);
    assert_eq!(store.first_round(Some(later)).await.unwrap(), Some(first));
    assert_eq!(store.installation_id().await.unwrap(), id);
    // A store whose id was never asked for gets one on the way.
    let fresh = store::open_in_memory().await.unwrap();
    assert_eq!(fresh.first_round(Some(later)).await.unwrap(), Some(later));
    assert_eq!(fresh.installation_id().await.unwrap().len(), 16);
}

fn case_risk(id: &str, score: f64, crossed_at: Option<&str>) -> CaseRisk {
    CaseRisk {
        case_id: id.into(),
        risk: Risk {
            score,
            reasons: vec![
                RiskReason::PublicChannel {
                    terms: vec!["微博".into()],
                },
                RiskReason::Waiting { days: 12 },
            ],
        },
        computed_at: at("2026-03-05T10:00:00+08:00").with_timezone(&Utc),
        crossed_at: crossed_at.map(|t| at(t).with_timezone(&Utc)),
    }
}

async fn risks_are_replaced_per_case_with_their_alerts_once(store: SharedStore) {
    assert!(store.case_risks(None).await.unwrap().is_empty());
    let crossing = "2026-03-05T10:00:00+08:00";
    let alert = NewAlert {
        kind: AlertKind::AtRisk,
        case_id: Some("C-2".into()),
        dedupe_key: format!("case:C-2:at_risk:{crossing}"),
        ..digest_alert("x", crossing)
    };
    let saved = store
        .save_risks(
            &[
                case_risk("C-2", 0.75, Some(crossing)),
                case_risk("C-10", 0.2, None),
            ],
            std::slice::from_ref(&alert),
        )
        .await
        .unwrap();
    assert_eq!(saved, 1);
    let all = store.case_risks(None).await.unwrap();
    assert_eq!(all.len(), 2);
    let c2 = all.iter().find(|r| r.case_id == "C-2").unwrap();
    assert_eq!(c2, &case_risk("C-2", 0.75, Some(crossing)));
    // The same crossing saved again (a restart mid-way) queues no second alert.
    assert_eq!(
        store
            .save_risks(&[case_risk("C-2", 0.5, None)], &[alert])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.case_risks(Some("C-2")).await.unwrap(),
        vec![case_risk("C-2", 0.5, None)]
    );
    assert!(store.case_risks(Some("C-3")).await.unwrap().is_empty());
    let alerts = store.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::AtRisk);
    assert_eq!(alerts[0].case_id.as_deref(), Some("C-2"));
}

/// The per-channel outbox: a channel gets the alerts made after it was added, one row per
/// (alert, channel) however often it is routed, claims exclude each other and every
/// outcome is kept.
async fn channel_deliveries_route_claim_retry_and_count(store: SharedStore) {
    let now = Utc::now();
    let later = now + Duration::seconds(600);
    assert!(store
        .queue_alert(&digest_alert("2026-03-04", "2026-03-04T09:00:00+08:00"))
        .await
        .unwrap());
    store.add_channel("ding", now).await.unwrap();
    // Adding it again keeps where it started.
    store.add_channel("ding", later).await.unwrap();
    assert!(store.unrouted_alerts("ding", 10).await.unwrap().is_empty());
    store
        .upsert_case(&case("C-1", CaseStatus::Open), now)
        .await
        .unwrap();
    for stage in [Stage::Surfaced, Stage::Viral] {
        let made = alert("C-1", stage, "2026-03-05T21:52:00+08:00");
        assert!(store.queue_alert(&made).await.unwrap());
    }
    let unrouted = store.unrouted_alerts("ding", 10).await.unwrap();
    assert_eq!(
        unrouted.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(),
        ["surfaced", "viral"]
    );
    assert_eq!(unrouted[0].brand, "星驰汽车");
    let (surfaced, viral) = (unrouted[0].id, unrouted[1].id);
    store
        .add_delivery(surfaced, "ding", true, now)
        .await
        .unwrap();
    store.add_delivery(viral, "ding", false, now).await.unwrap();
    // A second worker routing the same alert changes nothing.
    store.add_delivery(viral, "ding", true, now).await.unwrap();
    assert!(store.unrouted_alerts("ding", 10).await.unwrap().is_empty());
    // Another channel has its own rows and starts now.
    store.add_channel("hook", now).await.unwrap();
    assert!(store.unrouted_alerts("hook", 10).await.unwrap().is_empty());

    let lease = now + Duration::seconds(30);
    let (a, b) = tokio::join!(
        store.claim_deliveries("ding", now, lease, 10),
        store.claim_deliveries("ding", now, lease, 10)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.len() + b.len(),
        1,
        "one claim wins, the skipped row is never claimed"
    );
    let claimed = a.into_iter().chain(b).next().unwrap();
    assert_eq!(claimed.alert_id, surfaced);
    assert_eq!(claimed.kind, AlertKind::Surfaced);
    assert_eq!(claimed.case_id.as_deref(), Some("C-1"));
    assert!(claimed.case_open);
    assert_eq!(claimed.attempts, 0);
    // An email channel sends the alert as the implicit email does.
    assert_eq!(claimed.message_id, "<C-1.surfaced@test>");
    assert_eq!(claimed.subject, "surfaced C-1");
    assert_eq!(claimed.html, "<p>html</p>");
    assert_eq!(claimed.source, None);
    assert!(store
        .claim_deliveries("hook", now, lease, 10)
        .await
        .unwrap()
        .is_empty());

    // A rate limit waits without counting as an attempt; a failure counts.
    let wait = (now + Duration::seconds(60)).timestamp_millis();
    store
        .finish_delivery(
            surfaced,
            "ding",
            &DeliveryOutcome::Retry {
                error: "rate limited",
                next: wait,
                count: false,
            },
            now,
        )
        .await
        .unwrap();
    assert!(store
        .claim_deliveries("ding", now, lease, 10)
        .await
        .unwrap()
        .is_empty());
    let after = now + Duration::seconds(61);
    let again = store
        .claim_deliveries("ding", after, after + Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(again[0].attempts, 0);
    store
        .finish_delivery(
            surfaced,
            "ding",
            &DeliveryOutcome::Retry {
                error: "HTTP 500",
                next: after.timestamp_millis(),
                count: true,
            },
            after,
        )
        .await
        .unwrap();
    let status = store.channel_status("ding").await.unwrap();
    assert_eq!(status.queued, 1);
    assert_eq!(status.sent, 0);
    assert_eq!(
        status.last_error.as_ref().map(|e| e.1.as_str()),
        Some("HTTP 500")
    );
    assert_eq!(status.oldest_pending_ms, Some(now.timestamp_millis()));
    let third = store
        .claim_deliveries("ding", after, after + Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(third[0].attempts, 1);
    store
        .finish_delivery(surfaced, "ding", &DeliveryOutcome::Sent, after)
        .await
        .unwrap();
    let status = store.channel_status("ding").await.unwrap();
    assert_eq!((status.queued, status.sent), (0, 1));
    assert_eq!(status.last_success_ms, Some(after.timestamp_millis()));
    assert_eq!(status.oldest_pending_ms, None);
    assert!(store
        .claim_deliveries("ding", later, later, 10)
        .await
        .unwrap()
        .is_empty());

    // A closed case's delivery is claimed with the case closed, then cancelled.
    store
        .upsert_case(&case("C-2", CaseStatus::Closed), now)
        .await
        .unwrap();
    let made = alert("C-2", Stage::Surfaced, "2026-03-05T21:52:00+08:00");
    assert!(store.queue_alert(&made).await.unwrap());
    let closed = store.unrouted_alerts("hook", 10).await.unwrap();
    assert_eq!(closed.len(), 1);
    store
        .add_delivery(closed[0].id, "hook", true, now)
        .await
        .unwrap();
    let claimed = store
        .claim_deliveries("hook", now, lease, 10)
        .await
        .unwrap();
    assert!(!claimed[0].case_open);
    store
        .finish_delivery(
            closed[0].id,
            "hook",
            &DeliveryOutcome::Cancelled("case closed"),
            now,
        )
        .await
        .unwrap();
    assert_eq!(store.channel_status("hook").await.unwrap().queued, 0);
}

/// Runs every behaviour against fresh stores made by `open`.
macro_rules! behaviours {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn cases() {
                cases_insert_update_close_and_revision($open.await).await;
            }

            #[tokio::test]
            async fn items() {
                items_dedupe_keep_observations_and_alert_once($open.await).await;
            }

            #[tokio::test]
            async fn observation_runs() {
                sightings_that_change_nothing_extend_their_row($open.await).await;
            }

            #[tokio::test]
            async fn retention() {
                retention_prunes_only_what_nothing_needs($open.await).await;
            }

            #[tokio::test]
            async fn batch() {
                a_batch_writes_many_items_and_maps_alerts_back($open.await).await;
            }

            #[tokio::test]
            async fn failed_commit() {
                a_failed_commit_writes_nothing($open.await).await;
            }

            #[tokio::test]
            async fn outbox() {
                outbox_claims_leases_retries_and_cancels($open.await).await;
            }

            #[tokio::test]
            async fn failed_alerts_retried_at_once() {
                failed_alerts_are_all_made_due_at_once($open.await).await;
            }

            #[tokio::test]
            async fn source_state() {
                source_state_round_trips($open.await).await;
            }

            #[tokio::test]
            async fn source_leases() {
                source_leases_exclude_take_over_and_keep_the_interval($open.await).await;
            }

            #[tokio::test]
            async fn quiet_polls() {
                a_quiet_poll_moves_only_the_states_times($open.await).await;
            }

            #[tokio::test]
            async fn batched_polls() {
                polls_are_recorded_in_batches_only_for_held_sources($open.await).await;
            }

            #[tokio::test]
            async fn lease_renewals() {
                lease_renewals_never_shorten_and_use_the_database_clock($open.await).await;
            }

            #[tokio::test]
            async fn leased_commit() {
                a_commit_under_a_lost_lease_writes_nothing($open.await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn racing() {
                racing_claims_and_commits_never_share($open.await).await;
            }

            #[tokio::test]
            async fn item_and_link_queries() {
                items_and_links_are_found_by_filters($open.await).await;
            }

            #[tokio::test]
            async fn review_writes() {
                review_writes_are_atomic_with_their_audit($open.await).await;
            }

            #[tokio::test]
            async fn resend_and_stats() {
                alerts_are_resent_and_counted($open.await).await;
            }

            #[tokio::test]
            async fn source_alerts() {
                source_alerts_are_saved_with_the_state_once_per_key($open.await).await;
            }

            #[tokio::test]
            async fn followed_items() {
                followed_items_are_recent_items_linked_to_open_cases($open.await).await;
            }

            #[tokio::test]
            async fn standalone_alert() {
                a_standalone_alert_is_queued_once_per_key($open.await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn installation_id() {
                the_installation_id_is_made_once_and_kept($open.await).await;
            }

            #[tokio::test]
            async fn risks() {
                risks_are_replaced_per_case_with_their_alerts_once($open.await).await;
            }

            #[tokio::test]
            async fn channel_deliveries() {
                channel_deliveries_route_claim_retry_and_count($open.await).await;
            }

            #[tokio::test]
            async fn digest_queries() {
                digest_lists_links_to_review_unlinked_items_and_case_standings($open.await).await;
            }
        }
    };
}

async fn sqlite_file() -> SharedStore {
    // The directory must outlive the store; leaking it keeps the file for the test's life.
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap()
}

async fn sqlite_memory() -> SharedStore {
    store::open_in_memory().await.unwrap()
}

async fn postgres_schema() -> SharedStore {
    store::open(&support::postgres::fresh_url().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_installation_id_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let first = store::open(&url)
        .await
        .unwrap()
        .installation_id()
        .await
        .unwrap();
    let again = store::open(&url)
        .await
        .unwrap()
        .installation_id()
        .await
        .unwrap();
    assert_eq!(first, again);
    let pg = support::postgres::fresh_url().await;
    let first = store::open(&pg)
        .await
        .unwrap()
        .installation_id()
        .await
        .unwrap();
    let again = store::open(&pg)
        .await
        .unwrap()
        .installation_id()
        .await
        .unwrap();
    assert_eq!(first, again);
}

behaviours!(sqlite, sqlite_file());
behaviours!(sqlite_in_memory, sqlite_memory());
behaviours!(postgres, postgres_schema());

/// Connections a PostgreSQL restart cut are replaced before use: the first statements after
/// the restart succeed instead of failing on a dead connection.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_connections_cut_by_a_restart_are_replaced_unnoticed() {
    let server = support::postgres::PrivateServer::start();
    let store = store::open(&server.url()).await.unwrap();
    // Several pooled connections, all idle when the server goes.
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .lease_source(&format!("s{i}"), "a", HELD)
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().is_some());
    }
    server.stop();
    server.start_again();
    for i in 0..4 {
        assert!(
            store
                .lease_source(&format!("s{i}"), "a", HELD)
                .await
                .expect("a statement after the restart")
                .is_some(),
            "a still holds s{i}"
        );
    }
    store.ping().await.expect("the store answers");
}
