//! Delivery channels for alert emails: SMTP through lettre, or .eml files in a folder when no
//! mail server is configured (the first-run experience).

use crate::config::{Config, SmtpSecurity};
use crate::model::AlertKind;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::{Path, PathBuf};

const EML_FROM: &str = "outcry <alerts@localhost>";
const EML_TO: &str = "pr-team@localhost";

/// One email as the outbox holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMail {
    /// With angle brackets, deterministic per alert.
    pub message_id: String,
    pub kind: AlertKind,
    pub case_id: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("mail server unavailable: {0}")]
    Transient(String),
    #[error("mail server rejected the message: {0}")]
    Permanent(String),
    #[error("cannot write the .eml file: {0}")]
    Io(#[from] std::io::Error),
}

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        to: Recipients,
        describe: String,
    },
    EmlDir {
        dir: PathBuf,
        from: Mailbox,
        to: Recipients,
    },
}

/// Who gets what: alerts go to `[alerts].to`, the digest to `[digest].to` or else the same.
pub struct Recipients {
    alerts: Vec<Mailbox>,
    digest: Vec<Mailbox>,
}

impl Recipients {
    fn of(&self, kind: AlertKind) -> &[Mailbox] {
        match kind {
            AlertKind::Digest => &self.digest,
            _ => &self.alerts,
        }
    }
}

macro_rules! outcry_header {
    ($name:ident, $header:literal) => {
        #[derive(Debug, Clone)]
        struct $name(String);

        impl Header for $name {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($header)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($name(s.to_string()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

outcry_header!(StageHeader, "X-Outcry-Stage");
outcry_header!(CaseHeader, "X-Outcry-Case");

fn mailbox(field: &str, text: &str) -> Result<Mailbox, MailerError> {
    text.parse()
        .map_err(|e| MailerError::Config(format!("{field}: `{text}` is not a mail address: {e}")))
}

fn recipients(config: &Config, fallback: Option<&str>) -> Result<Recipients, MailerError> {
    let parse = |section: &str, list: &[String]| {
        list.iter()
            .enumerate()
            .map(|(i, t)| mailbox(&format!("{section}.to[{i}]"), t))
            .collect::<Result<Vec<_>, _>>()
    };
    let mut alerts = parse("alerts", &config.alerts.to)?;
    if alerts.is_empty() {
        match fallback {
            Some(fallback) => alerts.push(mailbox("alerts.to", fallback)?),
            None => return Err(MailerError::Config("alerts.to: names no recipient".into())),
        }
    }
    let digest = match &config.digest {
        Some(digest) if !digest.to.is_empty() => parse("digest", &digest.to)?,
        _ => alerts.clone(),
    };
    Ok(Recipients { alerts, digest })
}

impl Mailer {
    /// SMTP when the config has an [smtp] section, .eml files in `outbox_dir` otherwise.
    pub fn from_config(config: &Config, outbox_dir: &Path) -> Result<Mailer, MailerError> {
        let Some(smtp) = &config.smtp else {
            std::fs::create_dir_all(outbox_dir)?;
            return Ok(Mailer::EmlDir {
                dir: outbox_dir.to_path_buf(),
                from: mailbox("smtp.from", EML_FROM)?,
                to: recipients(config, Some(EML_TO))?,
            });
        };
        let builder = match smtp.security {
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            }
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                    .map_err(|e| MailerError::Config(format!("smtp.host: {e}")))?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| MailerError::Config(format!("smtp.host: {e}")))?,
        };
        let mut builder = builder.port(smtp.port).timeout(Some(smtp.timeout));
        if !smtp.username.is_empty() {
            let password = std::env::var("OUTCRY_SMTP_PASSWORD").map_err(|_| {
                MailerError::Config("smtp.username is set but OUTCRY_SMTP_PASSWORD is not".into())
            })?;
            builder = builder.credentials(Credentials::new(smtp.username.clone(), password));
        }
        Ok(Mailer::Smtp {
            transport: builder.build(),
            from: mailbox("smtp.from", &smtp.from)?,
            to: recipients(config, None)?,
            describe: format!("smtp://{}:{}", smtp.host, smtp.port),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp { describe, .. } => describe.clone(),
            Mailer::EmlDir { dir, .. } => format!("eml files in {}", dir.display()),
        }
    }

    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), MailerError> {
        match self {
            Mailer::Smtp {
                transport,
                from,
                to,
                ..
            } => {
                let message = build(mail, from, to.of(mail.kind))?;
                transport.send(message).await.map(|_| ()).map_err(|e| {
                    if e.is_permanent() {
                        MailerError::Permanent(e.to_string())
                    } else {
                        MailerError::Transient(e.to_string())
                    }
                })
            }
            Mailer::EmlDir { dir, from, to } => {
                let message = build(mail, from, to.of(mail.kind))?;
                write_eml(dir, &mail.message_id, &message.formatted())
            }
        }
    }
}

fn build(mail: &OutgoingMail, from: &Mailbox, to: &[Mailbox]) -> Result<Message, MailerError> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()))
        .header(StageHeader(mail.kind.as_str().to_string()));
    for recipient in to {
        builder = builder.to(recipient.clone());
    }
    if let Some(case) = &mail.case_id {
        builder = builder.header(CaseHeader(case.clone()));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| MailerError::Build(e.to_string()))
}

/// Writes atomically, named by the Message-ID, so a resend replaces instead of duplicating.
fn write_eml(dir: &Path, message_id: &str, bytes: &[u8]) -> Result<(), MailerError> {
    let name: String = message_id
        .chars()
        .filter(|c| !matches!(c, '<' | '>'))
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, dir.join(format!("{name}.eml")))?;
    Ok(())
}
