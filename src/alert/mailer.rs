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
    /// With angle brackets, deterministic per alert; its local part goes out qualified by
    /// [`MessageIds`].
    pub message_id: String,
    pub kind: AlertKind,
    pub case_id: Option<String>,
    /// The source an operator alert is about.
    pub source: Option<String>,
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

/// Who gets what: case alerts go to the PR team, the digest to `[digest].to` (else the
/// team), source alerts to the operator.
#[derive(Debug, Clone)]
pub struct Recipients {
    from: Mailbox,
    team: Vec<Mailbox>,
    digest: Vec<Mailbox>,
    operator: Vec<Mailbox>,
}

impl Recipients {
    fn of(&self, kind: AlertKind) -> Result<&[Mailbox], MailerError> {
        if kind == AlertKind::Digest {
            return Ok(&self.digest);
        }
        if !kind.is_operator() {
            return Ok(&self.team);
        }
        if self.operator.is_empty() {
            // Kept and retried, never dropped: an operator address may be added.
            return Err(MailerError::Permanent(
                "no [operator].to address for a source alert".into(),
            ));
        }
        Ok(&self.operator)
    }
}

/// Message-IDs unique to this installation: two installations mailing the same mailbox
/// must never share one (a client drops a second message with a Message-ID it has), while a
/// resend of one alert keeps its own so that it folds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIds {
    installation: String,
    domain: String,
}

impl MessageIds {
    /// `installation` is the store's id, `domain` the configured or the From domain.
    pub fn new(installation: &str, domain: &str) -> MessageIds {
        MessageIds {
            installation: installation.to_string(),
            domain: domain.to_string(),
        }
    }

    /// `<local.installation@domain>`, the local part taken from the alert's stored id.
    pub fn of(&self, stored: &str) -> String {
        let bare = stored.trim().trim_start_matches('<').trim_end_matches('>');
        let local = bare.split_once('@').map_or(bare, |(local, _)| local);
        format!("<{local}.{}@{}>", self.installation, self.domain)
    }
}

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        recipients: Recipients,
        ids: MessageIds,
        describe: String,
    },
    EmlDir {
        dir: PathBuf,
        recipients: Recipients,
        ids: MessageIds,
    },
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
outcry_header!(AlertHeader, "X-Outcry-Alert");
outcry_header!(SourceHeader, "X-Outcry-Source");

fn mailbox(field: &str, text: &str) -> Result<Mailbox, MailerError> {
    text.parse()
        .map_err(|e| MailerError::Config(format!("{field}: `{text}` is not a mail address: {e}")))
}

fn mailboxes(field: &str, list: &[String]) -> Result<Vec<Mailbox>, MailerError> {
    list.iter()
        .enumerate()
        .map(|(i, t)| mailbox(&format!("{field}[{i}]"), t))
        .collect()
}

fn recipients(
    config: &Config,
    from: Mailbox,
    fallback: Option<&str>,
) -> Result<Recipients, MailerError> {
    let mut team = mailboxes("alerts.to", &config.alerts.to)?;
    // Beside [[channels]], an empty `[alerts] to` turns the implicit email channel off.
    if team.is_empty() && config.channels.is_empty() {
        match fallback {
            Some(fallback) => team.push(mailbox("alerts.to", fallback)?),
            None => return Err(MailerError::Config("alerts.to: names no recipient".into())),
        }
    }
    let digest = match &config.digest {
        Some(digest) if !digest.to.is_empty() => mailboxes("digest.to", &digest.to)?,
        _ => team.clone(),
    };
    Ok(Recipients {
        from,
        team,
        digest,
        operator: mailboxes("operator.to", &config.operator.to)?,
    })
}

/// `[alerts].message_id_domain`, else the From address's domain.
fn message_ids(config: &Config, from: &Mailbox, installation: &str) -> MessageIds {
    let domain = config
        .alerts
        .message_id_domain
        .as_deref()
        .unwrap_or(from.email.domain());
    MessageIds::new(installation, domain)
}

impl Mailer {
    /// SMTP when the config has an [smtp] section, .eml files in `outbox_dir` otherwise;
    /// `installation` is the store's installation id.
    pub fn from_config(
        config: &Config,
        outbox_dir: &Path,
        installation: &str,
    ) -> Result<Mailer, MailerError> {
        Mailer::with_recipients(config, outbox_dir, installation, |from, eml| {
            recipients(config, from, eml.then_some(EML_TO))
        })
    }

    /// The mailer of a `kind = "email"` channel: every alert routed to it goes to `to`,
    /// through [smtp] or as .eml files in `outbox_dir`.
    pub fn for_channel(
        config: &Config,
        to: &[String],
        outbox_dir: &Path,
        installation: &str,
    ) -> Result<Mailer, MailerError> {
        Mailer::with_recipients(config, outbox_dir, installation, |from, _| {
            let to = mailboxes("to", to)?;
            Ok(Recipients {
                from,
                team: to.clone(),
                digest: to.clone(),
                operator: to,
            })
        })
    }

    /// `recipients` is given the From address and whether mail goes to .eml files.
    fn with_recipients(
        config: &Config,
        outbox_dir: &Path,
        installation: &str,
        recipients: impl FnOnce(Mailbox, bool) -> Result<Recipients, MailerError>,
    ) -> Result<Mailer, MailerError> {
        let Some(smtp) = &config.smtp else {
            std::fs::create_dir_all(outbox_dir)?;
            let from = mailbox("smtp.from", EML_FROM)?;
            return Ok(Mailer::EmlDir {
                dir: outbox_dir.to_path_buf(),
                ids: message_ids(config, &from, installation),
                recipients: recipients(from, true)?,
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
        let from = mailbox("smtp.from", &smtp.from)?;
        Ok(Mailer::Smtp {
            transport: builder.build(),
            ids: message_ids(config, &from, installation),
            recipients: recipients(from, false)?,
            describe: format!("smtp://{}:{}", smtp.host, smtp.port),
        })
    }

    /// Whether an alert of `kind` has anyone to go to (case alerts have none when `[alerts]
    /// to` is empty beside [[channels]]).
    pub fn addressed(&self, kind: AlertKind) -> bool {
        let recipients = match self {
            Mailer::Smtp { recipients, .. } | Mailer::EmlDir { recipients, .. } => recipients,
        };
        recipients.of(kind).map_or(true, |to| !to.is_empty())
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp { describe, .. } => describe.clone(),
            Mailer::EmlDir { dir, .. } => format!("eml files in {}", dir.display()),
        }
    }

    /// Whether the mail server accepts a connection now (an .eml folder always does): asked
    /// while sends fail, so that the alerts waiting out their back-off go when it is back.
    pub async fn reachable(&self) -> bool {
        match self {
            Mailer::Smtp { transport, .. } => transport.test_connection().await.unwrap_or(false),
            Mailer::EmlDir { .. } => true,
        }
    }

    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), MailerError> {
        match self {
            Mailer::Smtp {
                transport,
                recipients,
                ids,
                ..
            } => {
                let message = build(mail, recipients, ids)?;
                transport.send(message).await.map(|_| ()).map_err(|e| {
                    if e.is_permanent() {
                        MailerError::Permanent(e.to_string())
                    } else {
                        MailerError::Transient(e.to_string())
                    }
                })
            }
            Mailer::EmlDir {
                dir,
                recipients,
                ids,
            } => {
                let message = build(mail, recipients, ids)?;
                write_eml(dir, &ids.of(&mail.message_id), &message.formatted())
            }
        }
    }
}

/// Every header value outcry writes, checked: a line break in one would let stored text
/// (a case id, a source name) add headers of its own or split the message. The message is
/// refused, so kept and retried, rather than sent with a mangled header; what people and
/// sites write is kept out of headers before this (case ids are checked on the way in, the
/// subject's headline is made one line).
fn header_value(name: &str, value: &str) -> Result<String, MailerError> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(MailerError::Build(format!(
            "the {name} header would hold a line break"
        )));
    }
    Ok(value.to_string())
}

fn build(
    mail: &OutgoingMail,
    recipients: &Recipients,
    ids: &MessageIds,
) -> Result<Message, MailerError> {
    let mut builder = Message::builder()
        .from(recipients.from.clone())
        .subject(header_value("Subject", &mail.subject)?)
        .message_id(Some(header_value("Message-ID", &ids.of(&mail.message_id))?));
    // X-Outcry-Stage is the PR team's filter for alerts (CONTRACT.md); the digest, the
    // at_risk warning (nothing is public yet) and operator mail must not trip it, so they
    // say what they are in X-Outcry-Alert.
    let kind = mail.kind.as_str().to_string();
    builder =
        if mail.kind.is_operator() || matches!(mail.kind, AlertKind::Digest | AlertKind::AtRisk) {
            builder.header(AlertHeader(kind))
        } else {
            builder.header(StageHeader(kind))
        };
    for recipient in recipients.of(mail.kind)? {
        builder = builder.to(recipient.clone());
    }
    if let Some(case) = &mail.case_id {
        builder = builder.header(CaseHeader(header_value("X-Outcry-Case", case)?));
    }
    if let Some(source) = &mail.source {
        builder = builder.header(SourceHeader(header_value("X-Outcry-Source", source)?));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| MailerError::Build(e.to_string()))
}

/// `text` as a file or folder name: letters, digits, `.`, `-` and `_` only.
pub fn file_name(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '<' | '>'))
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes atomically, named by the Message-ID, so a resend replaces instead of duplicating.
fn write_eml(dir: &Path, message_id: &str, bytes: &[u8]) -> Result<(), MailerError> {
    let name = file_name(message_id);
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, dir.join(format!("{name}.eml")))?;
    Ok(())
}
