//! The web pages over real HTTP: sign-in, CSRF, roles, and scraped text that tries to be
//! HTML staying inert on every page.

mod support;

use outcry::model::Observation;
use outcry::store::{LinkQuery, LinkState};
use support::app::{case, post, seed, App};

/// Raw markup, and markup entity-encoded in the feed (which decodes to markup as text).
const PAYLOADS: [&str; 6] = [
    "&lt;script&gt;alert(6)&lt;/script&gt;",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "\"><svg onload=alert(3)>",
    "<a href=\"javascript:alert(4)\">点我</a>",
    "</textarea><iframe src=//evil.example>",
];

/// Markup that must never reach a page unescaped.
const FORBIDDEN: [&str; 7] = [
    "<script>alert",
    "<img src=x",
    "<svg onload",
    "href=\"javascript:",
    "<iframe",
    "onerror=alert(2)>",
    "<b>坏人</b>",
];

fn hostile(guid: &str) -> Observation {
    let mut obs = post(guid, &PAYLOADS.join(" 星驰漏油 "), "<b>坏人</b>", 1);
    obs.title = Some(format!("{} 星驰", PAYLOADS[0]));
    obs.url = Some("javascript:alert(5)".into());
    obs
}

async fn candidate_state(app: &App, item_id: i64) -> LinkState {
    app.store
        .find_links(&LinkQuery {
            item_id: Some(item_id),
            limit: 1,
            ..LinkQuery::default()
        })
        .await
        .unwrap()[0]
        .state
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..at + 64].to_string()
}

#[tokio::test]
async fn scraped_html_stays_inert_on_every_page_and_chinese_renders() {
    let app = App::spawn().await;
    let mut hostile_case = case("C-1");
    hostile_case.summary = "<img src=x onerror=alert(2)> 新车发动机漏油".into();
    hostile_case.complainant.handles = vec!["weibo:\"><svg onload=alert(3)>".into()];
    app.store
        .upsert_case(&hostile_case, chrono::Utc::now())
        .await
        .unwrap();
    let ids = seed(
        &app.store,
        &[
            (hostile("wb-1"), Some(("C-1", LinkState::Candidate))),
            (hostile("wb-2"), Some(("C-1", LinkState::Confirmed))),
            (hostile("wb-3"), None),
        ],
    )
    .await;
    let cookie = app.sign_in(&app.lead).await;
    let post_pages = [format!("/posts/{}", ids[0]), format!("/posts/{}", ids[2])];
    for path in [
        "/",
        "/?brand=%3Cscript%3E&stage=%3Cb%3E&severity=%22%3E",
        "/review",
        "/cases",
        "/cases?q=%3Cscript%3E&status=all",
        "/unlinked",
        "/cases/C-1",
        &post_pages[0],
        &post_pages[1],
        "/brands",
        "/review?brand=%3Cscript%3E",
    ] {
        let (status, content_type, page) = app.page(path, &cookie).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(content_type, "text/html; charset=utf-8", "{path}");
        assert!(page.contains("<meta charset=\"utf-8\">"), "{path}");
        for bad in FORBIDDEN {
            assert!(!page.contains(bad), "{path} carries {bad}");
        }
        assert!(page.contains("星驰"), "{path} shows Chinese as written");
    }
    let (_, _, review) = app.page("/review", &cookie).await;
    // Markup in a scraped body is read as markup and shown as its text; text that only
    // looks like markup is shown escaped; what leads typed is escaped too.
    assert!(
        review.contains("&lt;script&gt;alert(6)&lt;/script&gt;"),
        "escaped, not dropped"
    );
    assert!(review.contains("&lt;img src=x onerror=alert(2)&gt; 新车发动机漏油"));
    assert!(review.contains("&lt;b&gt;坏人&lt;/b&gt;"));
    assert!(review.contains(&format!("data-item=\"{}\"", ids[0])));
    let (_, _, case_page) = app.page("/cases/C-1", &cookie).await;
    assert!(
        case_page.contains("<svg"),
        "the engagement chart is inline SVG"
    );
    assert!(
        case_page.contains("javascript:alert(5)"),
        "shown as text, never a link"
    );

    // The API hands scraped text back as data, JSON-encoded, never as HTML.
    let response = app.get("/api/v1/links", Some(&app.viewer)).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    app.stop().await;
}

#[tokio::test]
async fn forms_need_a_session_its_csrf_token_and_the_lead_role() {
    let app = App::spawn().await;
    app.store
        .upsert_case(&case("C-1"), chrono::Utc::now())
        .await
        .unwrap();
    let ids = seed(
        &app.store,
        &[(
            post("wb-1", "星驰漏油", "甲", 1),
            Some(("C-1", LinkState::Candidate)),
        )],
    )
    .await;
    let form = |csrf: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("item_id", ids[0].to_string()),
            ("case_id", "C-1".to_string()),
            ("decision", "confirm".to_string()),
            ("back", "case".to_string()),
        ]
    };

    // Pages send strangers to the sign-in page; a wrong token does not sign in.
    let (status, _, _) = app.page("/review", "outcry_session=forged").await;
    assert_eq!(status, 303);
    let wrong = app
        .http
        .post(app.url("/login"))
        .form(&[("token", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    // A viewer sees the queue without the buttons, and cannot decide even with its token.
    let viewer = app.sign_in(&app.viewer).await;
    let (_, _, page) = app.page("/review", &viewer).await;
    assert!(!page.contains("class=\"confirm\""));
    let csrf = csrf_of(&page);
    let response = app
        .http
        .post(app.url("/act"))
        .header("cookie", &viewer)
        .form(&form(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // A lead's form without the session's token (a forged cross-site post) is refused.
    let lead = app.sign_in(&app.lead).await;
    let (_, _, page) = app.page("/review", &lead).await;
    assert!(page.contains("class=\"confirm\""));
    let response = app
        .http
        .post(app.url("/act"))
        .header("cookie", &lead)
        .form(&form(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "another session's token");
    let response = app
        .http
        .post(app.url("/act"))
        .form(&form(&csrf_of(&page)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "no cookie: to the sign-in page");
    assert_eq!(response.headers()["location"], "/login");
    assert_eq!(candidate_state(&app, ids[0]).await, LinkState::Candidate);

    // With its own token the click confirms, lands on the case page and is audited.
    let response = app
        .http
        .post(app.url("/act"))
        .header("cookie", &lead)
        .form(&form(&csrf_of(&page)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/cases/C-1?done=confirm");
    let (_, _, case_page) = app.page("/cases/C-1?done=confirm", &lead).await;
    assert!(case_page.contains("<p class=\"flash\" id=\"flash\" role=\"status\">关联已确认。</p>"));
    // A word that is no action says nothing.
    let (_, _, case_page) = app.page("/cases/C-1?done=%3Cb%3E", &lead).await;
    assert!(!case_page.contains("class=\"flash\""));
    assert_eq!(candidate_state(&app, ids[0]).await, LinkState::Confirmed);
    let (_, _, case_page) = app.page("/cases/C-1", &lead).await;
    assert!(
        case_page
            .contains("<span class=\"stage\" id=\"stage\" data-stage=\"surfaced\">首次曝光</span>"),
        "{case_page}"
    );
    let audit = app.store.audit_log(1).await.unwrap();
    assert_eq!(
        (
            audit[0].entry.actor.as_str(),
            audit[0].entry.action.as_str()
        ),
        ("wang", "link.confirm")
    );

    // Signing out ends the session.
    let response = app
        .http
        .post(app.url("/logout"))
        .header("cookie", &lead)
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(app.page("/review", &lead).await.0, 303);
    app.stop().await;
}

/// A feed item stamped in UTC and an HTML-source item stamped in +08:00 (as the extractors
/// store them), both linked to C-1, and a candidate whose author, title and body carry
/// direction controls.
async fn seed_two_zones(app: &App) -> Vec<i64> {
    app.store
        .upsert_case(&case("C-1"), chrono::Utc::now())
        .await
        .unwrap();
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    let mut feed = post("feed-1", "星驰漏油, 订单 XC-2026-00871", "车主甲", 1);
    feed.published_at = Some(at("2026-03-05T13:40:00+00:00"));
    feed.fetched_at = at("2026-03-05T13:45:00+00:00");
    let mut html = post("html-1", "星驰漏油 我也是", "车主乙", 1);
    html.source = "forum".into();
    html.published_at = Some(at("2026-03-05T21:50:00+08:00"));
    html.fetched_at = at("2026-03-05T21:55:00+08:00");
    let mut tricky = post(
        "tricky-1",
        "星驰\u{202E}漏油\u{202C}，\u{2066}退车\u{2069}",
        "小王\u{202E}说好\u{200F}",
        1,
    );
    tricky.title = Some("标题\u{2067}星驰\u{2069}".into());
    seed(
        &app.store,
        &[
            (feed, Some(("C-1", LinkState::Confirmed))),
            (html, Some(("C-1", LinkState::Confirmed))),
            (tricky, Some(("C-1", LinkState::Candidate))),
        ],
    )
    .await
}

#[tokio::test]
async fn pages_speak_the_configured_language_in_one_zone_with_direction_controls_removed() {
    use support::words::{chinese_catalog_phrases_in, english_catalog_words_in, visible};
    let data = [
        "weibo",
        "forum",
        "hotline",
        "high",
        "order:XC-2026-00871",
        "outcry",
        "UTC",
    ];
    for (extra, first, second, zone) in [
        (
            "",
            "2026-03-05 21:40",
            "2026-03-05 21:50",
            "时间均为 UTC+08:00",
        ),
        (
            "[ui]\nlanguage = \"en\"\ntime_zone = \"Europe/Berlin\"\n",
            "2026-03-05 14:40",
            "2026-03-05 14:50",
            "All times in Europe/Berlin",
        ),
    ] {
        let app = App::spawn_with(extra).await;
        let ids = seed_two_zones(&app).await;
        let cookie = app.sign_in(&app.lead).await;
        let post_page = format!("/posts/{}", ids[2]);
        for path in [
            "/",
            "/review",
            "/cases",
            "/unlinked",
            "/cases/C-1",
            &post_page,
            "/brands",
            "/sources",
        ] {
            let (status, _, page) = app.page(path, &cookie).await;
            assert_eq!(status, 200, "{path}");
            assert!(
                !page.chars().any(outcry::present::text::is_hidden_control),
                "{path}: a direction control reached the page"
            );
            assert_eq!(page.matches(zone).count(), 1, "{path}: {page}");
            let seen = visible(&page);
            if extra.is_empty() {
                assert!(page.contains("<html lang=\"zh-CN\">"));
                let leaked = english_catalog_words_in(&seen, &data);
                assert!(leaked.is_empty(), "{path}: {leaked:?} in {seen}");
            } else {
                assert!(page.contains("<html lang=\"en\">"));
                let leaked = chinese_catalog_phrases_in(
                    &seen,
                    "星驰汽车漏油订单我也是车主甲乙小王说好标题退车新车发动机店拒绝王女士",
                );
                assert!(leaked.is_empty(), "{path}: {leaked:?} in {seen}");
            }
        }
        let (_, _, review) = app.page("/review", &cookie).await;
        // The controls are gone; the text reads as typed, in its own order.
        for shown in ["小王说好", "标题星驰", "星驰漏油，退车"] {
            assert!(visible(&review).contains(shown), "{shown}: {review}");
        }
        let (_, _, case_page) = app.page("/cases/C-1", &cookie).await;
        let timeline = &case_page[case_page.find("id=\"timeline\"").unwrap()..];
        let (a, b) = (timeline.find(first), timeline.find(second));
        assert!(
            a.is_some() && b.is_some() && a < b,
            "the UTC item ({first}) before the +08:00 one ({second}): {timeline}"
        );
        assert!(!case_page.contains("+00:00") && !case_page.contains("T13:40"));
        app.stop().await;
    }
}

/// Posts a lead's action form as the pages do, from our own origin.
async fn act(app: &App, cookie: &str, fields: &[(&str, String)]) -> reqwest::Response {
    app.http
        .post(app.url("/act"))
        .header("cookie", cookie)
        .header("origin", &app.base)
        .form(fields)
        .send()
        .await
        .unwrap()
}

fn position(page: &str, needle: &str) -> usize {
    page.find(needle)
        .unwrap_or_else(|| panic!("{needle} missing in {page}"))
}

#[tokio::test]
async fn the_workbench_ranks_what_needs_attention_and_every_action_says_what_it_did() {
    use outcry::model::Channel;
    use outcry::risk::{Risk, RiskReason};
    use outcry::store::CaseRisk;
    let app = App::spawn().await;
    for id in ["C-2", "C-3", "C-10"] {
        app.store
            .upsert_case(&case(id), chrono::Utc::now())
            .await
            .unwrap();
    }
    app.store
        .save_risks(
            &[CaseRisk {
                case_id: "C-10".into(),
                risk: Risk {
                    score: 0.9,
                    reasons: vec![RiskReason::Waiting { days: 3 }],
                },
                computed_at: chrono::Utc::now(),
                crossed_at: None,
            }],
            &[],
        )
        .await
        .unwrap();
    let mut complaint = post(
        "tousu-1",
        "星驰漏油投诉无门，4S店态度恶劣，退车",
        "车主老李",
        0,
    );
    complaint.channel = Channel::Complaint;
    let ids = seed(
        &app.store,
        &[
            (
                post("wb-1", "星驰新车漏油，4S店拒绝退车，要曝光", "路人甲", 1),
                Some(("C-2", LinkState::Candidate)),
            ),
            (
                post("wb-2", "星驰也漏油了", "路人乙", 1),
                Some(("C-3", LinkState::Candidate)),
            ),
            (complaint, None),
        ],
    )
    .await;
    let (escalating, waiting, unlinked) = (ids[0], ids[1], ids[2]);
    let lead = app.sign_in(&app.lead).await;
    let (_, _, review) = app.page("/review", &lead).await;
    let csrf = csrf_of(&review);
    let form = |decision: &str, case_id: &str, item: Option<i64>, back: &str| {
        let mut fields = vec![
            ("csrf", csrf.clone()),
            ("decision", decision.to_string()),
            ("case_id", case_id.to_string()),
            ("back", back.to_string()),
        ];
        if let Some(item) = item {
            fields.push(("item_id", item.to_string()));
        }
        fields
    };

    // Before: only the case at risk needs attention; two links wait; one complaint is
    // unlinked.
    let (status, _, home) = app.page("/", &lead).await;
    assert_eq!(status, 200);
    assert!(home.contains("data-case=\"C-10\""), "{home}");
    assert!(!home.contains("data-case=\"C-3\""));
    assert!(home.contains("2 条候选关联等待审核"), "{home}");
    assert!(home.contains(&format!("data-item=\"{unlinked}\"")));
    assert!(home.contains(&format!("/posts/{waiting}\"")));

    // Confirming from the home page: back home, told so, and the case that just surfaced
    // ranks before the one only at risk.
    let response = act(
        &app,
        &lead,
        &form("confirm", "C-2", Some(escalating), "home"),
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/?done=confirm");
    let (_, _, home) = app.page("/?done=confirm", &lead).await;
    assert!(home.contains("关联已确认。"));
    let attention = &home[position(&home, "id=\"attention\"")..];
    assert!(
        position(attention, "data-case=\"C-2\"") < position(attention, "data-case=\"C-10\""),
        "{attention}"
    );
    assert!(attention.contains("data-stage=\"surfaced\""));
    let (_, _, surfaced) = app.page("/?stage=surfaced", &lead).await;
    assert!(surfaced.contains("data-case=\"C-2\"") && !surfaced.contains("data-case=\"C-10\""));

    // The case list searches identifiers, complainants and handles, in natural id order.
    let (_, _, list) = app.page("/cases?q=xc-2026-00871", &lead).await;
    let rows = &list[position(&list, "id=\"cases\"")..];
    assert!(
        position(rows, "data-case=\"C-2\"") < position(rows, "data-case=\"C-3\"")
            && position(rows, "data-case=\"C-3\"") < position(rows, "data-case=\"C-10\""),
        "{rows}"
    );
    let (_, _, by_stage) = app.page("/cases?sort=stage", &lead).await;
    let rows = &by_stage[position(&by_stage, "id=\"cases\"")..];
    assert!(
        position(rows, "data-case=\"C-2\"") < position(rows, "data-case=\"C-3\"")
            && position(rows, "data-case=\"C-3\"") < position(rows, "data-case=\"C-10\""),
        "surfaced first, then by id: {rows}"
    );
    let (_, _, none) = app
        .page(
            "/cases?q=weibo%3A%E8%BD%A6%E4%B8%BB%E8%80%81%E6%9D%8E",
            &lead,
        )
        .await;
    assert!(none.contains("没有符合条件的案件"), "{none}");

    // Linking the unlinked complaint by hand from its list.
    let response = act(
        &app,
        &lead,
        &form("link", "C-3", Some(unlinked), "unlinked"),
    )
    .await;
    assert_eq!(response.headers()["location"], "/unlinked?done=link");
    let (_, _, post_page) = app.page(&format!("/posts/{unlinked}"), &lead).await;
    assert!(post_page.contains("由 wang 手动关联"), "{post_page}");
    assert!(post_page.contains("id=\"sightings\""));
    assert!(post_page.contains("data-state=\"confirmed\""));
    let (_, _, by_activity) = app.page("/cases?sort=activity", &lead).await;
    let rows = &by_activity[position(&by_activity, "id=\"cases\"")..];
    assert!(
        position(rows, "data-case=\"C-3\"") < position(rows, "data-case=\"C-2\"")
            && position(rows, "data-case=\"C-2\"") < position(rows, "data-case=\"C-10\""),
        "the case just linked to first, the one without links last: {rows}"
    );

    // Teaching a case a handle: the list finds it by that handle now.
    let mut fields = form("add_handle", "C-3", None, "case");
    fields.push(("value", "weibo:车主老李".into()));
    let response = act(&app, &lead, &fields).await;
    assert_eq!(response.headers()["location"], "/cases/C-3?done=add_handle");
    let (_, _, found) = app
        .page(
            "/cases?q=weibo%3A%E8%BD%A6%E4%B8%BB%E8%80%81%E6%9D%8E",
            &lead,
        )
        .await;
    assert!(found.contains("data-case=\"C-3\""), "{found}");

    // Unlinking the wrong confirmation on the case page; the post page offers it back.
    let response = act(
        &app,
        &lead,
        &form("unlink", "C-2", Some(escalating), "case"),
    )
    .await;
    assert_eq!(response.headers()["location"], "/cases/C-2?done=unlink");
    let (_, _, case_page) = app.page("/cases/C-2?done=unlink", &lead).await;
    assert!(case_page.contains("已取消关联"));
    assert!(
        !case_page.contains("class=\"post state-confirmed\""),
        "{case_page}"
    );
    assert!(case_page.contains("class=\"unreject\""));
    let (_, _, post_page) = app.page(&format!("/posts/{escalating}"), &lead).await;
    assert!(post_page.contains("data-state=\"rejected\""));
    // The alert the confirmation caused stays on record.
    assert!(post_page.contains("id=\"post-alerts\""), "{post_page}");

    // Close and reopen.
    let response = act(&app, &lead, &form("close", "C-3", None, "case")).await;
    assert_eq!(response.headers()["location"], "/cases/C-3?done=close");
    let (_, _, closed) = app.page("/cases/C-3", &lead).await;
    assert!(closed.contains("class=\"reopen\"") && !closed.contains("class=\"close\""));
    let (_, _, home) = app.page("/", &lead).await;
    // A closed case's candidates wait no more.
    assert!(home.contains(">0 条候选关联等待审核"), "{home}");
    assert!(!home.contains(&format!("/posts/{waiting}\"")));
    act(&app, &lead, &form("reopen", "C-3", None, "case")).await;
    let (_, _, reopened) = app.page("/cases/C-3", &lead).await;
    assert!(reopened.contains("class=\"close\""));

    // A stale form shows the page as it is, saying nothing was changed.
    let mut stale = form("reopen", "C-2", None, "case");
    stale[0].1 = "0".repeat(64);
    let response = act(&app, &lead, &stale).await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("表单已过期，未做任何更改"), "{body}");
    assert!(body.contains("id=\"timeline\""), "the case page: {body}");

    // Brands list open cases in natural order; the unlinked count leads to the list.
    let (_, _, brands) = app.page("/brands", &lead).await;
    assert!(
        position(&brands, "/cases/C-2\"") < position(&brands, "/cases/C-3\"")
            && position(&brands, "/cases/C-3\"") < position(&brands, "/cases/C-10\""),
        "{brands}"
    );
    assert!(brands.contains("href=\"/unlinked?brand="));

    // Every action is audited as the lead's.
    let actions: Vec<String> = app
        .store
        .audit_log(20)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.entry.action)
        .collect();
    for action in [
        "link.confirm",
        "link.add",
        "case.update",
        "case.relink",
        "link.unlink",
        "case.close",
        "case.reopen",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
    // A viewer sees no action forms.
    let viewer = app.sign_in(&app.viewer).await;
    let (_, _, home) = app.page("/", &viewer).await;
    assert!(!home.contains("action=\"/act\""));
    app.stop().await;
}
