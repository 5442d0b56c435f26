//! The JSON API over real HTTP: the daemon in-process on a random port with a fresh store.

mod support;

use outcry::store::{ItemQuery, LinkQuery, LinkState};
use serde_json::{json, Value};
use support::app::{case, post, seed, App};

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text}: {e}"))
}

async fn create_case(app: &App, id: &str) {
    let response = app
        .post(
            "/api/v1/cases",
            Some(&app.lead),
            Some(serde_json::to_value(case(id)).unwrap()),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn link_state(app: &App, item_id: i64, case_id: &str) -> Option<LinkState> {
    app.store
        .find_links(&LinkQuery {
            item_id: Some(item_id),
            case_id: Some(case_id.into()),
            limit: 1,
            ..LinkQuery::default()
        })
        .await
        .unwrap()
        .first()
        .map(|l| l.state)
}

#[tokio::test]
async fn tokens_and_roles_guard_every_route() {
    let app = App::spawn().await;
    create_case(&app, "C-1").await;
    let ids = seed(
        &app.store,
        &[(
            post("wb-1", "星驰漏油，4S店不给退", "路人甲", 1),
            Some(("C-1", LinkState::Candidate)),
        )],
    )
    .await;
    let confirm = format!("/api/v1/links/{}/C-1/confirm", ids[0]);

    // No token, an unknown token, a token in the wrong scheme: 401 with a challenge.
    let response = app.get("/api/v1/cases", None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert!(json_of(response).await["message"]
        .as_str()
        .unwrap()
        .starts_with("需要令牌"));
    assert_eq!(
        app.get("/api/v1/cases", Some("not-a-token-at-all"))
            .await
            .status(),
        401
    );
    let basic = app
        .http
        .get(app.url("/api/v1/cases"))
        .header("authorization", format!("Basic {}", app.lead))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(app.post(&confirm, None, None).await.status(), 401);

    // A viewer reads but cannot confirm, create, close or resend.
    assert_eq!(
        app.get("/api/v1/cases", Some(&app.viewer)).await.status(),
        200
    );
    let response = app.post(&confirm, Some(&app.viewer), None).await;
    assert_eq!(response.status(), 403);
    // The detail for programs, and a message for people in [ui] language (Chinese).
    let body = json_of(response).await;
    assert_eq!(body["error"], "the lead role is required");
    assert_eq!(body["message"], "需要组长权限。");
    assert_eq!(
        link_state(&app, ids[0], "C-1").await,
        Some(LinkState::Candidate)
    );
    for (path, body) in [
        (
            "/api/v1/cases",
            Some(serde_json::to_value(case("C-2")).unwrap()),
        ),
        ("/api/v1/cases/C-1/close", None),
    ] {
        assert_eq!(
            app.post(path, Some(&app.viewer), body).await.status(),
            403,
            "{path}"
        );
    }
    assert_eq!(
        app.patch("/api/v1/cases/C-1", &app.viewer, json!({"notes": "x"}))
            .await
            .status(),
        403
    );
    // A lead decides links but resending alerts and the audit log are the operator's.
    assert_eq!(
        app.post("/api/v1/alerts/1/resend", Some(&app.lead), None)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.get("/api/v1/audit", Some(&app.lead)).await.status(),
        403
    );
    assert_eq!(
        app.post(&confirm, Some(&app.operator), None).await.status(),
        200
    );

    // Health, metrics and the API description need no token.
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    assert_eq!(app.get("/api/v1/openapi.json", None).await.status(), 200);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("outcry_links_stored{state=\"confirmed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("outcry_links_stored{state=\"candidate\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("outcry_outbox_depth"), "{metrics}");
    assert!(
        metrics.contains("outcry_links_total 1"),
        "a decision counts: {metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn confirming_counts_in_assessment_and_alerts_once_with_audit() {
    let app = App::spawn().await;
    create_case(&app, "C-1").await;
    let ids = seed(
        &app.store,
        &[
            (
                post("wb-1", "星驰新车漏油，4S店拒绝退车，要曝光", "路人甲", 1),
                Some(("C-1", LinkState::Candidate)),
            ),
            (
                post("wb-2", "星驰也漏油了", "路人乙", 1),
                Some(("C-1", LinkState::Candidate)),
            ),
        ],
    )
    .await;

    // Candidates wait: the case has not surfaced.
    let links = json_of(
        app.get("/api/v1/links?state=candidate&case=C-1", Some(&app.viewer))
            .await,
    )
    .await;
    assert_eq!(links.as_array().unwrap().len(), 2);
    // The evidence as facts, and in words in the configured language (Chinese by default).
    assert_eq!(
        links[0]["evidence"][0],
        serde_json::json!({"kind": "retells", "score": 0.41, "case_text": 0.41, "story": 0.0})
    );
    assert_eq!(
        links[0]["evidence_text"][0],
        "复述本案：计分 0.41（与案件记录相似度 0.41，与公开经过相似度 0.00）"
    );
    assert_eq!(
        links[0]["item"]["author"].as_str().unwrap().chars().count(),
        3
    );
    let one = json_of(app.get("/api/v1/cases/C-1", Some(&app.viewer)).await).await;
    assert_eq!(one["stage"], Value::Null);

    let response = app
        .post(
            &format!("/api/v1/links/{}/C-1/confirm", ids[0]),
            Some(&app.lead),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let decided = json_of(response).await;
    assert_eq!(decided["link"]["state"], "confirmed");
    assert_eq!(decided["link"]["decided_by"], "wang");
    let kinds: Vec<&str> = decided["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["link", "alert"]);
    assert_eq!(decided["events"][1]["stage"], "surfaced");
    assert_eq!(
        json_of(app.get("/api/v1/cases/C-1", Some(&app.viewer)).await).await["stage"],
        "surfaced"
    );

    // Confirming again changes nothing and alerts nothing.
    let again = json_of(
        app.post(
            &format!("/api/v1/links/{}/C-1/confirm", ids[0]),
            Some(&app.lead),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(again["events"], json!([]));

    // The alert goes out through the outbox like any other.
    let alerts = json_of(app.get("/api/v1/alerts?case=C-1", Some(&app.viewer)).await).await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["stage"], "surfaced");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.outbox_files().is_empty() {
        assert!(std::time::Instant::now() < deadline, "alert not delivered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let eml = &app.outbox_files()[0];
    assert!(
        eml.contains("X-Outcry-Stage: surfaced") && eml.contains("X-Outcry-Case: C-1"),
        "{eml}"
    );

    // A candidate is not confirmed, so unlinking it is refused; then it is rejected.
    let response = app
        .post(
            &format!("/api/v1/links/{}/C-1/unlink", ids[1]),
            Some(&app.lead),
            None,
        )
        .await;
    assert_eq!(response.status(), 409);
    let reject = format!("/api/v1/links/{}/C-1/reject", ids[1]);
    assert_eq!(
        json_of(app.post(&reject, Some(&app.lead), None).await).await["link"]["state"],
        "rejected"
    );
    assert_eq!(
        link_state(&app, ids[1], "C-1").await,
        Some(LinkState::Rejected)
    );
    assert_eq!(
        app.post("/api/v1/links/999/C-1/confirm", Some(&app.lead), None)
            .await
            .status(),
        404
    );

    // Operators resend; the audit log has every write, who and when.
    let sent_id = alerts[0]["id"].as_i64().unwrap();
    let resent = json_of(
        app.post(
            &format!("/api/v1/alerts/{sent_id}/resend"),
            Some(&app.operator),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(resent["status"], "pending");
    assert_eq!(
        app.post("/api/v1/alerts/4242/resend", Some(&app.operator), None)
            .await
            .status(),
        404
    );
    let audit = json_of(app.get("/api/v1/audit", Some(&app.operator)).await).await;
    let rows: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().into(),
                r["action"].as_str().unwrap().into(),
                r["target"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "ops".to_string(),
                "alert.resend".to_string(),
                format!("alert:{sent_id}")
            ),
            (
                "wang".into(),
                "link.reject".into(),
                format!("link:{}:C-1", ids[1])
            ),
            (
                "wang".into(),
                "link.confirm".into(),
                format!("link:{}:C-1", ids[0])
            ),
            ("wang".into(), "case.create".into(), "case:C-1".into()),
        ]
    );
    assert!(audit[0]["at"].as_str().unwrap().starts_with("20"));
    app.stop().await;
}

#[tokio::test]
async fn a_new_handle_relinks_recent_mentions_but_never_a_rejected_one() {
    let app = App::spawn_with("[review]\nrelink_window = \"7d\"\n").await;
    create_case(&app, "C-1").await;
    let ids = seed(
        &app.store,
        &[
            (post("wb-old", "星驰的车又坏了", "小王爱吃梨", 10), None),
            (
                post("wb-new", "星驰的车漏油，没人管", "小王爱吃梨", 2),
                None,
            ),
            (
                post("wb-rej", "小王爱吃梨：星驰这事没完", "小王爱吃梨", 1),
                Some(("C-1", LinkState::Candidate)),
            ),
        ],
    )
    .await;
    let reject = format!("/api/v1/links/{}/C-1/reject", ids[2]);
    assert_eq!(app.post(&reject, Some(&app.lead), None).await.status(), 200);

    let response = app
        .patch(
            "/api/v1/cases/C-1",
            &app.lead,
            json!({"add_handles": ["weibo:小王爱吃梨"], "notes": "投诉人微博"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let updated = json_of(response).await;
    assert_eq!(
        updated["case"]["complainant"]["handles"],
        json!(["weibo:小王爱吃梨"])
    );
    assert_eq!(updated["case"]["notes"], "投诉人微博");
    let events = updated["relinked"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["guid"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("link", "wb-new"), ("alert", "wb-new")],
        "{events:?}"
    );
    assert_eq!(events[1]["stage"], "surfaced");

    assert_eq!(
        link_state(&app, ids[1], "C-1").await,
        Some(LinkState::Confirmed)
    );
    assert_eq!(
        link_state(&app, ids[0], "C-1").await,
        None,
        "outside the window"
    );
    assert_eq!(
        link_state(&app, ids[2], "C-1").await,
        Some(LinkState::Rejected)
    );

    // Updating again with nothing new re-links nothing.
    let again = json_of(
        app.patch(
            "/api/v1/cases/C-1",
            &app.lead,
            json!({"add_handles": ["weibo:小王爱吃梨"]}),
        )
        .await,
    )
    .await;
    assert_eq!(again["relinked"], json!([]));
    let audit = json_of(app.get("/api/v1/audit", Some(&app.operator)).await).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "case.update",
            "case.relink",
            "case.update",
            "link.reject",
            "case.create"
        ]
    );
    assert_eq!(audit[1]["detail"]["relinked"], 1);
    app.stop().await;
}

#[tokio::test]
async fn cases_are_created_listed_updated_closed_and_imported() {
    let app = App::spawn().await;
    create_case(&app, "C-1").await;
    let response = app
        .post(
            "/api/v1/cases",
            Some(&app.lead),
            Some(serde_json::to_value(case("C-1")).unwrap()),
        )
        .await;
    assert_eq!(response.status(), 409);
    let mut blank = serde_json::to_value(case("C-9")).unwrap();
    blank["brand"] = json!(" ");
    assert_eq!(
        app.post("/api/v1/cases", Some(&app.lead), Some(blank))
            .await
            .status(),
        400
    );
    let response = app
        .post(
            "/api/v1/cases",
            Some(&app.lead),
            Some(json!({"id": "C-8", "brand": "b", "status": "open", "sumary": "x"})),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(json_of(response).await["error"]
        .as_str()
        .unwrap()
        .contains("sumary"));
    let response = app
        .patch("/api/v1/cases/C-1", &app.lead, json!({"colour": "red"}))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        app.patch("/api/v1/cases/C-404", &app.lead, json!({}))
            .await
            .status(),
        404
    );

    let jsonl = format!(
        "{}\nnot json\n{}\n",
        serde_json::to_string(&case("C-2")).unwrap(),
        serde_json::to_string(&case("C-3")).unwrap()
    );
    let response = app
        .http
        .post(app.url("/api/v1/cases/import"))
        .bearer_auth(&app.lead)
        .header("content-type", "application/x-ndjson")
        .body(jsonl)
        .send()
        .await
        .unwrap();
    let report = json_of(response).await;
    assert_eq!(report["imported"], 2);
    assert_eq!(report["problems"][0]["line"], 2);

    let closed = json_of(
        app.post("/api/v1/cases/C-2/close", Some(&app.lead), None)
            .await,
    )
    .await;
    assert_eq!(closed["status"], "closed");
    let open = json_of(
        app.get("/api/v1/cases?status=open", Some(&app.viewer))
            .await,
    )
    .await;
    let ids: Vec<&str> = open
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["C-1", "C-3"]);
    let found = json_of(
        app.get(
            "/api/v1/cases?q=C-3&brand=%E6%98%9F%E9%A9%B0%E6%B1%BD%E8%BD%A6",
            Some(&app.viewer),
        )
        .await,
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/v1/cases?status=pending", Some(&app.viewer))
            .await
            .status(),
        400
    );
    assert_eq!(
        app.get("/api/v1/cases/C-404", Some(&app.viewer))
            .await
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn items_are_searched_by_brand_case_text_and_time() {
    let app = App::spawn().await;
    create_case(&app, "C-1").await;
    seed(
        &app.store,
        &[
            (
                post("wb-1", "星驰漏油", "甲", 5),
                Some(("C-1", LinkState::Confirmed)),
            ),
            (post("wb-2", "星驰异响 100%", "乙", 3), None),
            (post("wb-3", "星驰刹车", "丙", 1), None),
        ],
    )
    .await;
    let guids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["guid"].as_str().unwrap().to_string())
            .collect()
    };
    let q = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let all = json_of(
        app.get(
            &format!("/api/v1/items?brand={}", q("星驰汽车")),
            Some(&app.viewer),
        )
        .await,
    )
    .await;
    assert_eq!(guids(all), ["wb-3", "wb-2", "wb-1"]);
    let linked = json_of(app.get("/api/v1/items?case=C-1", Some(&app.viewer)).await).await;
    assert_eq!(guids(linked.clone()), ["wb-1"]);
    assert_eq!(
        linked[0]["links"],
        json!([{"case_id": "C-1", "state": "confirmed"}])
    );
    let text = json_of(
        app.get(&format!("/api/v1/items?q={}", q("100%")), Some(&app.viewer))
            .await,
    )
    .await;
    assert_eq!(guids(text), ["wb-2"]);
    let since = (chrono::Utc::now() - chrono::Duration::days(4)).to_rfc3339();
    let until = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    let window = json_of(
        app.get(
            &format!("/api/v1/items?since={}&until={}", q(&since), q(&until)),
            Some(&app.viewer),
        )
        .await,
    )
    .await;
    assert_eq!(guids(window), ["wb-2"]);
    assert_eq!(
        guids(json_of(app.get("/api/v1/items?limit=1", Some(&app.viewer)).await).await).len(),
        1
    );
    let bad = app
        .get("/api/v1/items?since=yesterday", Some(&app.viewer))
        .await;
    assert_eq!(bad.status(), 400);
    assert!(json_of(bad).await["error"]
        .as_str()
        .unwrap()
        .contains("since"));
    let stored = app
        .store
        .find_items(&ItemQuery {
            limit: 10,
            ..ItemQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn the_description_names_every_route_and_method_served() {
    let app = App::spawn().await;
    let doc = json_of(app.get("/api/v1/openapi.json", None).await).await;
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    // Every documented operation answers (401 without a token rather than 404 or 405).
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", "C-1")
                .replace("{item_id}", "1")
                .replace("{case_id}", "C-1");
            let request = app
                .http
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete));
            let status = request.send().await.unwrap().status().as_u16();
            let expected = if path == "/api/v1/openapi.json" {
                200
            } else {
                401
            };
            assert_eq!(status, expected, "{method} {path}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn cases_show_their_risk_and_sort_by_it() {
    use outcry::risk::{Risk, RiskReason};
    use outcry::store::CaseRisk;
    let app = App::spawn().await;
    for id in ["C-1", "C-2", "C-3"] {
        create_case(&app, id).await;
    }
    let risk = |id: &str, score: f64| CaseRisk {
        case_id: id.into(),
        risk: Risk {
            score,
            reasons: vec![RiskReason::Waiting { days: 3 }],
        },
        computed_at: chrono::Utc::now(),
        crossed_at: None,
    };
    app.store
        .save_risks(&[risk("C-1", 0.2), risk("C-2", 0.8)], &[])
        .await
        .unwrap();
    let listed = json_of(app.get("/api/v1/cases?sort=risk", Some(&app.viewer)).await).await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["C-2", "C-1", "C-3"], "{listed}");
    assert_eq!(listed[0]["risk"], json!(0.8));
    assert_eq!(listed[2]["risk"], Value::Null);
    let one = json_of(app.get("/api/v1/cases/C-2", Some(&app.viewer)).await).await;
    assert_eq!(one["case"]["risk"], json!(0.8), "{one}");
    assert_eq!(
        one["case"]["risk_reasons"],
        json!([{"kind": "waiting", "days": 3}])
    );
    assert_eq!(
        app.get("/api/v1/cases?sort=nonsense", Some(&app.viewer))
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn viewers_get_the_complainants_phone_and_email_masked() {
    let app = App::spawn().await;
    let mut record = case("C-1");
    record.complainant.email = Some("wang.li@example.com".into());
    let response = app
        .post(
            "/api/v1/cases",
            Some(&app.lead),
            Some(serde_json::to_value(&record).unwrap()),
        )
        .await;
    assert_eq!(response.status(), 201);
    for (token, phone, email) in [
        (&app.viewer, "138****2291", "w***@example.com"),
        (&app.lead, "13800002291", "wang.li@example.com"),
        (&app.operator, "13800002291", "wang.li@example.com"),
    ] {
        let one = json_of(app.get("/api/v1/cases/C-1", Some(token)).await).await;
        assert_eq!(one["case"]["complainant"]["phone"], phone);
        assert_eq!(one["case"]["complainant"]["email"], email);
        let list = json_of(app.get("/api/v1/cases", Some(token)).await).await;
        assert_eq!(list[0]["complainant"]["phone"], phone);
        assert_eq!(list[0]["complainant"]["email"], email);
        let text = app
            .get("/api/v1/cases?status=open", Some(token))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(text.contains("13800002291"), token != &app.viewer, "{text}");
    }
    app.stop().await;
}

fn actions_of(audit: &Value) -> Vec<String> {
    audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["action"].as_str().unwrap(),
                r["target"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn every_decision_can_be_undone_by_a_lead_and_not_by_a_viewer_and_is_audited() {
    let app = App::spawn().await;
    create_case(&app, "C-1").await;
    let ids = seed(
        &app.store,
        &[
            (
                post("wb-1", "星驰新车漏油，4S店拒绝退车，要曝光", "路人甲", 1),
                Some(("C-1", LinkState::Confirmed)),
            ),
            (
                post("wb-2", "星驰也漏油了", "路人乙", 1),
                Some(("C-1", LinkState::Rejected)),
            ),
        ],
    )
    .await;
    let (wrong, rejected) = (ids[0], ids[1]);
    let unlink = format!("/api/v1/links/{wrong}/C-1/unlink");
    let unreject = format!("/api/v1/links/{rejected}/C-1/unreject");
    let confirm = format!("/api/v1/links/{rejected}/C-1/confirm");

    // A viewer may do none of it, and nothing changes.
    for path in [
        &unlink,
        &unreject,
        &confirm,
        &"/api/v1/cases/C-1/reopen".to_string(),
    ] {
        assert_eq!(
            app.post(path, Some(&app.viewer), None).await.status(),
            403,
            "{path}"
        );
    }
    let by_hand = json!({"item_id": rejected, "case_id": "C-1"});
    assert_eq!(
        app.post("/api/v1/links", Some(&app.viewer), Some(by_hand.clone()))
            .await
            .status(),
        403
    );
    assert_eq!(
        link_state(&app, wrong, "C-1").await,
        Some(LinkState::Confirmed)
    );
    assert_eq!(
        link_state(&app, rejected, "C-1").await,
        Some(LinkState::Rejected)
    );

    // Unlinking a wrong automatic confirmation: it stops counting for the case.
    let body = json_of(app.post(&unlink, Some(&app.lead), None).await).await;
    assert_eq!(body["link"]["state"], "rejected");
    assert_eq!(body["link"]["decided_by"], "wang");
    let confirmed = json_of(
        app.get("/api/v1/links?state=confirmed&case=C-1", Some(&app.viewer))
            .await,
    )
    .await;
    assert_eq!(confirmed, json!([]));
    // Unreject takes a rejection back to the candidates; a candidate cannot be unlinked.
    let body = json_of(app.post(&unreject, Some(&app.lead), None).await).await;
    assert_eq!(body["link"]["state"], "candidate");
    let unreject_wrong = format!("/api/v1/links/{wrong}/C-1/unreject");
    let refused = app
        .post(
            &format!("/api/v1/links/{rejected}/C-1/unlink"),
            Some(&app.lead),
            None,
        )
        .await;
    assert_eq!(refused.status(), 409);
    assert_eq!(
        json_of(refused).await["error"],
        format!(
            "the link of item {rejected} to case C-1 is candidate; unlink applies to confirmed links only"
        )
    );
    let refused = app.post(&confirm, Some(&app.viewer), None).await;
    assert_eq!(refused.status(), 403);
    // A rejected link may be confirmed after all.
    let body = json_of(app.post(&unreject_wrong, Some(&app.lead), None).await).await;
    assert_eq!(body["link"]["state"], "candidate");
    let reject_wrong = format!("/api/v1/links/{wrong}/C-1/reject");
    json_of(app.post(&reject_wrong, Some(&app.lead), None).await).await;
    let body = json_of(
        app.post(
            &format!("/api/v1/links/{wrong}/C-1/confirm"),
            Some(&app.lead),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(body["link"]["state"], "confirmed");
    assert_eq!(
        link_state(&app, wrong, "C-1").await,
        Some(LinkState::Confirmed)
    );

    // Close and reopen, each answered with the case as it now is.
    let closed = json_of(
        app.post("/api/v1/cases/C-1/close", Some(&app.lead), None)
            .await,
    )
    .await;
    assert_eq!(closed["status"], "closed");
    // A closed case takes no link by hand.
    let response = app
        .post("/api/v1/links", Some(&app.lead), Some(by_hand.clone()))
        .await;
    assert_eq!(response.status(), 409);
    let reopened = json_of(
        app.post("/api/v1/cases/C-1/reopen", Some(&app.lead), None)
            .await,
    )
    .await;
    assert_eq!(reopened["status"], "open");
    assert_eq!(
        json_of(app.get("/api/v1/cases/C-1", Some(&app.viewer)).await).await["case"]["status"],
        "open"
    );
    for (body, status) in [
        (json!({"item_id": 999, "case_id": "C-1"}), 404),
        (json!({"item_id": rejected, "case_id": "C-404"}), 404),
        (json!({"item_id": rejected, "case_id": "C 1"}), 400),
        (json!({"item_id": rejected}), 400),
    ] {
        assert_eq!(
            app.post("/api/v1/links", Some(&app.lead), Some(body.clone()))
                .await
                .status(),
            status,
            "{body}"
        );
    }

    let audit = json_of(app.get("/api/v1/audit", Some(&app.operator)).await).await;
    let mut actions = actions_of(&audit);
    actions.reverse();
    assert_eq!(
        actions,
        [
            "case.create case:C-1".to_string(),
            format!("link.unlink link:{wrong}:C-1"),
            format!("link.unreject link:{rejected}:C-1"),
            format!("link.unreject link:{wrong}:C-1"),
            format!("link.reject link:{wrong}:C-1"),
            format!("link.confirm link:{wrong}:C-1"),
            "case.close case:C-1".to_string(),
            "case.reopen case:C-1".to_string(),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_post_linked_by_hand_is_confirmed_with_the_lead_as_evidence_and_alerts() {
    let app = App::spawn().await;
    create_case(&app, "C-1").await;
    let ids = seed(
        &app.store,
        &[(
            post(
                "wb-9",
                "星驰新车漏油，4S店拒绝退车，大家评评理",
                "车主小王",
                0,
            ),
            None,
        )],
    )
    .await;
    let body = json_of(
        app.post(
            "/api/v1/links",
            Some(&app.lead),
            Some(json!({"item_id": ids[0], "case_id": "C-1"})),
        )
        .await,
    )
    .await;
    assert_eq!(body["link"]["state"], "confirmed");
    assert_eq!(body["link"]["decided_by"], "wang");
    assert_eq!(
        body["link"]["evidence"],
        json!([{"kind": "by_hand", "by": "wang"}])
    );
    assert_eq!(body["link"]["evidence_text"][0], "由 wang 手动关联");
    let kinds: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["link", "alert"], "{body}");
    // The alert reaches the mail folder through the outbox.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.outbox_files().is_empty() {
        assert!(std::time::Instant::now() < deadline, "alert not delivered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(app.outbox_files()[0].contains("X-Outcry-Case: C-1"));
    // Linking it again changes nothing and alerts nothing.
    let again = json_of(
        app.post(
            "/api/v1/links",
            Some(&app.lead),
            Some(json!({"item_id": ids[0], "case_id": "C-1"})),
        )
        .await,
    )
    .await;
    assert_eq!(again["events"], json!([]));
    let audit = json_of(app.get("/api/v1/audit", Some(&app.operator)).await).await;
    assert_eq!(
        actions_of(&audit)[0],
        format!("link.add link:{}:C-1", ids[0])
    );
    app.stop().await;
}
