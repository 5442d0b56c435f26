//! Risk before the first post, against the real binary and a real SMTP server: the `at_risk`
//! alert goes out once per crossing, also across restarts, and a case imported while the
//! daemon runs is scored at once.

mod support;

use std::time::Duration;
use support::app::{case, App};
use support::daemon::TestApp;
use support::smtp::{ReceivedMail, SmtpServer};

/// A customer who says where she will go public, and a calm one.
const CASES: &str = concat!(
    r#"{"id": "C-1", "brand": "星驰汽车", "status": "open", "severity": "high", "summary": "车机黑屏三次未修好", "demand": "退车", "notes": "客户说再不解决就发微博曝光，还要找媒体"}"#,
    "\n",
    r#"{"id": "C-2", "brand": "星驰汽车", "status": "open", "severity": "low", "summary": "保养预约时间想改一下", "demand": "改期", "notes": "客户表示理解，不着急"}"#,
    "\n"
);

fn at_risk(mails: &[ReceivedMail]) -> Vec<String> {
    mails
        .iter()
        .filter(|m| m.header("X-Outcry-Alert").as_deref() == Some("at_risk"))
        .map(|m| m.header("X-Outcry-Case").unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_at_risk_alert_reaches_the_mail_server_once_across_restarts() {
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::new(&[], Some(smtp.port()));
    // A long interval: the round at start is the only one each run makes.
    app.add_config("[risk]\ninterval = \"1h\"\nalert_at = 0.5\n");
    app.import_cases(CASES);
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(at_risk(&mails), ["C-1"], "logs: {}", app.logs());
    let mail = &mails[0];
    assert!(mail.subject().contains("C-1"), "{}", mail.subject());
    for part in [mail.text_body(), mail.html_body()] {
        assert!(part.contains("微博"), "{part}");
        assert!(part.contains("媒体"), "{part}");
    }
    app.stop().await;

    app.start().await;
    assert!(
        app.wait_for_logs("risk recomputed", 2, Duration::from_secs(20))
            .await,
        "{}",
        app.logs()
    );
    // The second run's round is over; give delivery the time a send takes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(at_risk(&smtp.messages()), ["C-1"], "logs: {}", app.logs());
    app.stop().await;
}

/// The case's stored risk as the API shows it, once it is at least `least` (None when it
/// does not get there within a few seconds).
async fn risk_reaching(app: &App, id: &str, least: f64) -> Option<f64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body: serde_json::Value = app
            .get(&format!("/api/v1/cases/{id}"), Some(&app.viewer))
            .await
            .json()
            .await
            .unwrap();
        let risk = body["case"]["risk"].as_f64();
        if risk.is_some_and(|r| r >= least) || std::time::Instant::now() > deadline {
            return risk.filter(|r| *r >= least);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cases_written_through_the_api_are_scored_at_once() {
    // An hour between rounds: only the write itself can make the risk appear or move.
    let app = App::spawn_with("[risk]\ninterval = \"1h\"\nalert_at = 0.5\n").await;
    let mut calm = case("C-3");
    calm.severity = Some("low".into());
    calm.notes = "客户表示理解".into();
    let created = app
        .post(
            "/api/v1/cases",
            Some(&app.lead),
            Some(serde_json::to_value(&calm).unwrap()),
        )
        .await;
    assert_eq!(created.status(), 201);
    let before = risk_reaching(&app, "C-3", 0.0).await.expect("scored");
    assert!(before < 0.5, "{before}");

    let updated = app
        .patch(
            "/api/v1/cases/C-3",
            &app.lead,
            serde_json::json!({"notes": "客户说要发抖音曝光，还要找记者"}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let after = risk_reaching(&app, "C-3", 0.5).await;
    assert!(after.is_some(), "risk stayed at {before}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !app
        .outbox_files()
        .iter()
        .any(|mail| mail.contains("X-Outcry-Alert: at_risk"))
    {
        assert!(std::time::Instant::now() < deadline, "no at_risk mail");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}
