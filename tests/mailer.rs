//! The mailer against a real SMTP server on 127.0.0.1, and the .eml folder.

mod support;

use outcry::alert::mailer::{Mailer, MailerError, OutgoingMail};
use outcry::config::Config;
use outcry::model::AlertKind;
use std::time::Duration;
use support::smtp::SmtpServer;

/// An installation id as the store makes them.
const INSTALLATION: &str = "5e1f0c9a7b3d2468";

fn config(smtp_port: Option<u16>) -> Config {
    let smtp = smtp_port
        .map(|port| format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"outcry <alerts@example.com>\"\ntimeout = \"3s\"\n"))
        .unwrap_or_default();
    let text = format!("{smtp}[alerts]\nto = [\"pr@example.com\", \"crisis@example.com\"]\n[operator]\nto = [\"ops@example.com\"]\n[[brands]]\nname = \"星驰汽车\"\n");
    toml::from_str(&text).unwrap()
}

fn mail(kind: AlertKind, case: Option<&str>) -> OutgoingMail {
    OutgoingMail {
        message_id: "<outcry.abc123.surfaced@outcry.local>".into(),
        kind,
        case_id: case.map(str::to_string),
        source: None,
        subject: "[outcry] SURFACED: 星驰汽车 C-1042 — 提车就漏油".into(),
        text: "纯文本 body".into(),
        html: "<p>HTML body</p>".into(),
    }
}

#[tokio::test]
async fn smtp_mail_carries_headers_parts_and_the_deterministic_message_id() {
    let server = SmtpServer::start().await;
    let mailer = Mailer::from_config(
        &config(Some(server.port())),
        std::path::Path::new("unused"),
        INSTALLATION,
    )
    .unwrap();
    mailer
        .send(&mail(AlertKind::Surfaced, Some("C-1042")))
        .await
        .unwrap();
    mailer.send(&mail(AlertKind::Unlinked, None)).await.unwrap();
    let received = server.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 2);
    let first = &received[0];
    assert_eq!(first.to, ["pr@example.com", "crisis@example.com"]);
    assert_eq!(first.header("X-Outcry-Stage").as_deref(), Some("surfaced"));
    assert_eq!(first.header("X-Outcry-Case").as_deref(), Some("C-1042"));
    assert_eq!(
        first.header("Message-ID").as_deref(),
        Some("<outcry.abc123.surfaced.5e1f0c9a7b3d2468@example.com>")
    );
    assert_eq!(
        first.subject(),
        "[outcry] SURFACED: 星驰汽车 C-1042 — 提车就漏油"
    );
    assert_eq!(first.text_body().trim(), "纯文本 body");
    assert_eq!(first.html_body().trim(), "<p>HTML body</p>");
    assert_eq!(
        received[1].header("X-Outcry-Stage").as_deref(),
        Some("unlinked")
    );
    assert_eq!(received[1].header("X-Outcry-Case"), None);
}

#[tokio::test]
async fn a_server_that_is_down_is_a_transient_error() {
    let server = SmtpServer::down();
    let port = server.port();
    let mailer = Mailer::from_config(
        &config(Some(port)),
        std::path::Path::new("unused"),
        INSTALLATION,
    )
    .unwrap();
    let error = mailer
        .send(&mail(AlertKind::Surfaced, Some("C-1042")))
        .await
        .unwrap_err();
    assert!(matches!(error, MailerError::Transient(_)), "{error:?}");
}

#[tokio::test]
async fn eml_folder_keeps_one_file_per_alert_even_when_resent() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mailer = Mailer::from_config(&config(None), &outbox, INSTALLATION).unwrap();
    assert!(mailer.describe().contains("eml files"));
    mailer
        .send(&mail(AlertKind::Surfaced, Some("C-1042")))
        .await
        .unwrap();
    mailer
        .send(&mail(AlertKind::Surfaced, Some("C-1042")))
        .await
        .unwrap();
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains("X-Outcry-Case: C-1042"), "{eml}");
    assert!(
        eml.contains("Message-ID: <outcry.abc123.surfaced.5e1f0c9a7b3d2468@localhost>"),
        "{eml}"
    );
}

#[tokio::test]
async fn source_alerts_go_to_the_operator_only_and_name_the_source() {
    let server = SmtpServer::start().await;
    let mailer = Mailer::from_config(
        &config(Some(server.port())),
        std::path::Path::new("unused"),
        INSTALLATION,
    )
    .unwrap();
    let down = OutgoingMail {
        message_id: "<outcry.source.abc@outcry.local>".into(),
        source: Some("weibo-search".into()),
        subject: "[outcry] source weibo-search is blind (for 1h)".into(),
        ..mail(AlertKind::SourceDown, None)
    };
    mailer.send(&down).await.unwrap();
    let received = server.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.to, ["ops@example.com"], "never to the PR team");
    assert_eq!(
        mail.header("X-Outcry-Source").as_deref(),
        Some("weibo-search")
    );
    assert_eq!(
        mail.header("X-Outcry-Alert").as_deref(),
        Some("source-down")
    );
    assert_eq!(mail.header("X-Outcry-Stage"), None);
    assert_eq!(mail.header("X-Outcry-Case"), None);

    // Without an operator address a source alert is refused (and so kept for a retry), not
    // sent to the PR team.
    let no_operator: Config = toml::from_str(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"outcry <alerts@example.com>\"\n[alerts]\nto = [\"pr@example.com\"]\n[[brands]]\nname = \"星驰汽车\"\n",
        server.port()
    ))
    .unwrap();
    let mailer =
        Mailer::from_config(&no_operator, std::path::Path::new("unused"), INSTALLATION).unwrap();
    let error = mailer.send(&down).await.unwrap_err();
    assert!(matches!(error, MailerError::Permanent(_)), "{error:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn the_digest_goes_to_its_own_recipients_or_else_the_alerts_ones() {
    let server = SmtpServer::start().await;
    let mut with_own = config(Some(server.port()));
    with_own.digest = Some(outcry::config::DigestConfig {
        to: vec!["leads@example.com".into()],
        ..Default::default()
    });
    let mailer =
        Mailer::from_config(&with_own, std::path::Path::new("unused"), INSTALLATION).unwrap();
    mailer.send(&mail(AlertKind::Digest, None)).await.unwrap();
    mailer
        .send(&mail(AlertKind::Viral, Some("C-1042")))
        .await
        .unwrap();
    let mut falls_back = config(Some(server.port()));
    falls_back.digest = Some(Default::default());
    let mailer =
        Mailer::from_config(&falls_back, std::path::Path::new("unused"), INSTALLATION).unwrap();
    mailer.send(&mail(AlertKind::Digest, None)).await.unwrap();
    let received = server.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 3);
    assert_eq!(received[0].to, ["leads@example.com"]);
    // The digest is not an alert: X-Outcry-Stage stays the PR team's alert filter.
    assert_eq!(received[0].header("X-Outcry-Stage"), None);
    assert_eq!(
        received[0].header("X-Outcry-Alert").as_deref(),
        Some("digest")
    );
    assert_eq!(received[1].to, ["pr@example.com", "crisis@example.com"]);
    assert_eq!(received[2].to, ["pr@example.com", "crisis@example.com"]);
}

#[tokio::test]
async fn message_ids_differ_between_installations_and_stay_put_within_one() {
    let server = SmtpServer::start().await;
    let (one, two) = (
        outcry::store::open_in_memory().await.unwrap(),
        outcry::store::open_in_memory().await.unwrap(),
    );
    let (one, two) = (
        one.installation_id().await.unwrap(),
        two.installation_id().await.unwrap(),
    );
    let mut own_domain = config(Some(server.port()));
    own_domain.alerts.message_id_domain = Some("mail.example.org".into());
    let unused = std::path::Path::new("unused");
    let first = Mailer::from_config(&config(Some(server.port())), unused, &one).unwrap();
    let second = Mailer::from_config(&own_domain, unused, &two).unwrap();
    let alert = mail(AlertKind::Surfaced, Some("C-1042"));
    first.send(&alert).await.unwrap();
    first.send(&alert).await.unwrap();
    second.send(&alert).await.unwrap();
    let received = server.wait_for(3, Duration::from_secs(5)).await;
    let ids: Vec<String> = received
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(
        ids[0],
        format!("<outcry.abc123.surfaced.{one}@example.com>")
    );
    assert_eq!(ids[1], ids[0], "a resend folds into the first");
    assert_eq!(
        ids[2],
        format!("<outcry.abc123.surfaced.{two}@mail.example.org>")
    );
    assert_ne!(one, two);
}

#[tokio::test]
async fn a_header_value_with_a_line_break_is_refused_not_sent() {
    let server = SmtpServer::start().await;
    let mailer = Mailer::from_config(
        &config(Some(server.port())),
        std::path::Path::new("unused"),
        INSTALLATION,
    )
    .unwrap();
    let injected = [
        mail(AlertKind::Surfaced, Some("C-1\r\nBcc: all@evil.example")),
        OutgoingMail {
            subject: "[outcry] SURFACED\nBcc: all@evil.example".into(),
            ..mail(AlertKind::Surfaced, Some("C-1042"))
        },
        OutgoingMail {
            source: Some("weibo\r\nX-Spam: no".into()),
            ..mail(AlertKind::SourceDown, None)
        },
    ];
    for (mail, header) in injected
        .iter()
        .zip(["X-Outcry-Case", "Subject", "X-Outcry-Source"])
    {
        let error = mailer.send(mail).await.unwrap_err();
        assert!(
            matches!(&error, MailerError::Build(m) if m.contains(header)),
            "{error:?}"
        );
    }
    mailer
        .send(&mail(AlertKind::Surfaced, Some("C-1042")))
        .await
        .unwrap();
    let received = server.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        server.messages().len(),
        1,
        "nothing of the refused ones went out"
    );
}
