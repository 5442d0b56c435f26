//! Risk before the first post, against the real binary and a real SMTP server: the `at_risk`
//! alert goes out once per crossing, also across restarts, and a case imported while the
//! daemon runs is scored at once.

mod support;

use std::time::Duration;
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
