//! Chat and webhook channels: each alert's facts as a DingTalk or WeCom markdown message, a
//! Feishu card, Slack blocks or a signed webhook JSON, and the worker that sends one
//! channel's deliveries from the `alert_deliveries` outbox.
//!
//! Why deliveries are derived from the alert row rather than written beside it: the alert
//! row is already written in the decision's transaction by every path that makes one, so a
//! channel's worker deriving its (alert, channel) row from it can lose nothing, and the
//! row's primary key makes deriving twice harmless. A channel added later starts at the
//! alerts made from then on (`channels.first_alert`).

use super::mailer::{Mailer, MailerError, OutgoingMail};
use crate::config::{ChannelConfig, ChannelKind, ChannelSecrets, Config};
use crate::metrics::Metrics;
use crate::present::text::{clean, clip};
use crate::present::{Args, Ui};
use crate::store::{ClaimedDelivery, DeliveryOutcome, SharedStore, StoreError};
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument};

/// WeCom markdown content limit, in bytes.
const WECOM_BYTES: usize = 4096;
/// DingTalk's and Feishu's whole-request limit is 20 KB; the text leaves room for the rest.
const DINGTALK_BYTES: usize = 18_000;
const FEISHU_BYTES: usize = 18_000;
/// Slack section text limit, in characters (counted as bytes to stay under it).
const SLACK_BYTES: usize = 2900;
const WEBHOOK_EVIDENCE: usize = 20;
const EVIDENCE_SHOWN: usize = 5;
const HEADLINE_CHARS: usize = 120;
const REASON_CHARS: usize = 300;
const BATCH: i64 = 10;
const IDLE_POLL: Duration = Duration::from_secs(1);
/// DingTalk throttles a robot for ten minutes once it passes its limit.
const DINGTALK_PENALTY: Duration = Duration::from_secs(600);

/// What a chat message or webhook says about an alert, stored with it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub kind: String,
    pub brand: String,
    pub case: Option<String>,
    pub severity: Option<String>,
    pub headline: String,
    /// Why now, already in words.
    pub reasons: Vec<String>,
    pub evidence: Vec<EvidenceLink>,
    pub case_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceLink {
    pub url: Option<String>,
    pub channel: String,
    pub author: Option<String>,
    pub published_at: Option<String>,
}

impl Facts {
    pub fn of(content: &super::render::AlertContent, ui: &Ui) -> Facts {
        Facts {
            kind: content.kind.as_str().to_string(),
            brand: content.brand.clone(),
            case: content.case.as_ref().map(|c| c.id.clone()),
            severity: content.case.as_ref().and_then(|c| c.severity.clone()),
            headline: clip(&content.headline, HEADLINE_CHARS),
            reasons: content
                .reasons
                .iter()
                .map(|r| clip(&crate::present::facts::reason(ui, r), REASON_CHARS))
                .collect(),
            evidence: content
                .evidence
                .iter()
                .take(WEBHOOK_EVIDENCE)
                .map(|e| EvidenceLink {
                    url: super::render::web_url(e.url.as_deref()).map(String::from),
                    channel: e.channel.as_str().to_string(),
                    author: e.author.as_deref().map(|a| clip(a, 60)),
                    published_at: e.published_at.map(|t| t.to_rfc3339()),
                })
                .collect(),
            case_url: content.case.as_ref().and_then(|c| ui.case_url(&c.id)),
        }
    }

    /// Facts for an alert stored without them (operator mails, digests, older rows).
    fn fallback(delivery: &ClaimedDelivery) -> Facts {
        Facts {
            kind: delivery.kind.as_str().to_string(),
            brand: delivery.brand.clone(),
            case: delivery.case_id.clone(),
            severity: None,
            headline: clip(&delivery.subject, HEADLINE_CHARS),
            reasons: Vec::new(),
            evidence: Vec::new(),
            case_url: None,
        }
    }

    pub fn of_delivery(delivery: &ClaimedDelivery) -> Facts {
        delivery
            .facts
            .as_deref()
            .and_then(|f| serde_json::from_str(f).ok())
            .unwrap_or_else(|| Facts::fallback(delivery))
    }
}

/// Scraped text made inert for a chat's markdown: every character a platform reads as
/// markup, a link, a mention or an autolinked URL becomes its full-width twin, so it shows
/// but does nothing. Line breaks become spaces: one fact per line is ours to decide.
pub fn inert(text: &str) -> String {
    let text = clean(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        out.push(match c {
            '[' => '［',
            ']' => '］',
            '(' => '（',
            ')' => '）',
            '<' => '＜',
            '>' => '＞',
            '*' => '＊',
            '_' => '＿',
            '#' => '＃',
            '`' => '｀',
            '~' => '～',
            '|' => '｜',
            '@' => '＠',
            '!' => '！',
            '\\' => '＼',
            '&' => '＆',
            ':' => '：',
            '\r' | '\n' | '\t' => ' ',
            c => c,
        });
    }
    out
}

/// A URL as a markdown link target: characters that would end or break the target are
/// percent-encoded.
fn link_target(url: &str) -> String {
    url.replace('(', "%28")
        .replace(')', "%29")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace(' ', "%20")
        .replace('|', "%7C")
}

/// One message's lines, shortest first to drop: the first line and the link to the full
/// alert always stay.
struct Lines {
    first: String,
    body: Vec<String>,
    full: String,
}

impl Lines {
    fn of(facts: &Facts, ui: &Ui, link: fn(&str, &str) -> String) -> Lines {
        let stage = ui.t(
            "stage-heading",
            Args::new().with("kind", facts.kind.as_str()),
        );
        let first = ui.t(
            "chat-first-line",
            Args::new()
                .with("stage", stage)
                .with("brand", inert(&clip(&facts.brand, 40)))
                .with(
                    "case",
                    facts
                        .case
                        .as_deref()
                        .map(|c| inert(&clip(c, 40)))
                        .unwrap_or_else(|| ui.word("chat-no-case")),
                ),
        );
        let mut body = vec![inert(&facts.headline)];
        body.extend(
            facts
                .reasons
                .iter()
                .take(3)
                .map(|r| format!("- {}", inert(r))),
        );
        for (i, e) in facts.evidence.iter().take(EVIDENCE_SHOWN).enumerate() {
            let label = ui.t(
                "chat-evidence",
                Args::new()
                    .num("n", (i + 1) as f64)
                    .with("channel", e.channel.clone())
                    .with("author", e.author.as_deref().map(inert).unwrap_or_default()),
            );
            body.push(match &e.url {
                Some(url) => link(&label, url),
                None => label,
            });
        }
        let full = match &facts.case_url {
            Some(url) => link(&ui.word("chat-case-page"), url),
            None => ui.word("chat-full-in-email"),
        };
        Lines { first, body, full }
    }

    /// The lines joined, evidence and reasons dropped from the end until it fits `limit`
    /// bytes; a dropped line is announced by the link to the full alert.
    fn fit(mut self, limit: usize, ui: &Ui) -> String {
        let join = |lines: &Lines, cut: bool| {
            let mut text = lines.first.clone();
            for line in &lines.body {
                text.push('\n');
                text.push_str(line);
            }
            if cut {
                text.push('\n');
                text.push_str(&ui.word("chat-cut"));
            }
            text.push('\n');
            text.push_str(&lines.full);
            text
        };
        let mut cut = false;
        loop {
            let text = join(&self, cut);
            if text.len() <= limit || self.body.is_empty() {
                return truncate_bytes(text, limit);
            }
            self.body.pop();
            cut = true;
        }
    }
}

fn truncate_bytes(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn markdown_link(label: &str, url: &str) -> String {
    format!("[{label}]({})", link_target(url))
}

fn slack_link(label: &str, url: &str) -> String {
    format!("<{}|{label}>", link_target(url))
}

/// A request ready to send: the URL (with any signature in its query) and the JSON body.
pub struct Outgoing {
    pub url: String,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// The one id per alert and channel a receiver deduplicates by; the same on every retry.
pub fn delivery_id(alert_id: i64, channel: &str) -> String {
    let digest = Sha256::digest(format!("{alert_id}\n{channel}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// DingTalk: `sign` = Base64(HMAC-SHA256(secret, timestamp + "\n" + secret)).
pub fn dingtalk_sign(timestamp_ms: i64, secret: &str) -> String {
    base64(&hmac(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    ))
}

/// Feishu: the key is timestamp + "\n" + secret, the message empty.
pub fn feishu_sign(timestamp_s: i64, secret: &str) -> String {
    base64(&hmac(format!("{timestamp_s}\n{secret}").as_bytes(), b""))
}

/// The webhook signature header's value for `body`.
pub fn webhook_signature(body: &[u8], secret: &str) -> String {
    let mac = hmac(secret.as_bytes(), body);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Builds the platform's request for one alert.
pub fn outgoing(
    channel: &ChannelConfig,
    secrets: &ChannelSecrets,
    facts: &Facts,
    delivery: &str,
    ui: &Ui,
) -> Outgoing {
    let now = Utc::now();
    let mentions: &[String] = if facts.kind == "viral" {
        &channel.mention_mobiles
    } else {
        &[]
    };
    let mut url = secrets.url.clone();
    let mut headers = Vec::new();
    let body = match channel.kind {
        ChannelKind::Dingtalk => {
            let mut text = Lines::of(facts, ui, markdown_link).fit(DINGTALK_BYTES, ui);
            for mobile in mentions {
                text.push_str(&format!(" @{mobile}"));
            }
            if let Some(secret) = &secrets.secret {
                let ts = now.timestamp_millis();
                let sign =
                    url::form_urlencoded::byte_serialize(dingtalk_sign(ts, secret).as_bytes())
                        .collect::<String>();
                let sep = if url.contains('?') { '&' } else { '?' };
                url = format!("{url}{sep}timestamp={ts}&sign={sign}");
            }
            serde_json::json!({
                "msgtype": "markdown",
                "markdown": {"title": first_line(&text), "text": text},
                "at": {"atMobiles": mentions, "isAtAll": false},
            })
        }
        ChannelKind::Wecom => serde_json::json!({
            "msgtype": "markdown",
            "markdown": {"content": Lines::of(facts, ui, markdown_link).fit(WECOM_BYTES, ui)},
        }),
        ChannelKind::Feishu => {
            let text = Lines::of(facts, ui, markdown_link).fit(FEISHU_BYTES, ui);
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            let mut body = serde_json::json!({
                "msg_type": "interactive",
                "card": {
                    "header": {"title": {"tag": "plain_text", "content": first}},
                    "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": rest}}],
                },
            });
            if let Some(secret) = &secrets.secret {
                let ts = now.timestamp();
                body["timestamp"] = ts.to_string().into();
                body["sign"] = feishu_sign(ts, secret).into();
            }
            body
        }
        ChannelKind::Slack => {
            let text = Lines::of(facts, ui, slack_link).fit(SLACK_BYTES, ui);
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            serde_json::json!({
                "text": first,
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": clip(first, 150)}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": rest}},
                ],
            })
        }
        ChannelKind::Webhook | ChannelKind::Email => serde_json::json!({
            "delivery": delivery,
            "kind": facts.kind,
            "brand": facts.brand,
            "case": facts.case,
            "severity": facts.severity,
            "headline": facts.headline,
            "reasons": facts.reasons,
            "evidence": facts.evidence,
            "case_url": facts.case_url,
        }),
    };
    let body = body.to_string().into_bytes();
    if channel.kind == ChannelKind::Webhook {
        headers.push(("X-Outcry-Delivery", delivery.to_string()));
        if let Some(secret) = &secrets.secret {
            headers.push(("X-Outcry-Signature", webhook_signature(&body, secret)));
        }
    }
    Outgoing { url, body, headers }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// How a platform answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Accepted,
    /// The platform's rate limit: try again after the wait; not a failure.
    Throttled(Duration),
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("channel {channel}: {message}")]
    Config { channel: String, message: String },
    #[error("channel outbox: {0}")]
    Store(#[from] StoreError),
    #[error("email channel: {0}")]
    Mail(#[from] MailerError),
}

/// Reads a platform's answer: its HTTP status, then its own error code.
pub fn answer(kind: ChannelKind, status: u16, retry_after: Option<u64>, body: &str) -> Answer {
    let retry = Duration::from_secs(retry_after.unwrap_or(60).clamp(1, 3600));
    if status == 429 {
        return Answer::Throttled(retry);
    }
    if !(200..300).contains(&status) {
        return Answer::Failed(format!("HTTP {status}: {}", clip(body, 200)));
    }
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let code = |field: &str| json.get(field).and_then(serde_json::Value::as_i64);
    let failed = |code: i64| {
        let message = ["errmsg", "msg"]
            .iter()
            .find_map(|f| json.get(*f).and_then(serde_json::Value::as_str))
            .unwrap_or_default();
        Answer::Failed(format!("error {code}: {}", clip(message, 200)))
    };
    match kind {
        ChannelKind::Dingtalk => match code("errcode") {
            Some(0) => Answer::Accepted,
            Some(130101) => Answer::Throttled(DINGTALK_PENALTY),
            Some(other) => failed(other),
            None => Answer::Failed(format!("unreadable answer: {}", clip(body, 200))),
        },
        ChannelKind::Wecom => match code("errcode") {
            Some(0) => Answer::Accepted,
            Some(45009) => Answer::Throttled(retry),
            Some(other) => failed(other),
            None => Answer::Failed(format!("unreadable answer: {}", clip(body, 200))),
        },
        ChannelKind::Feishu => match code("code").or_else(|| code("StatusCode")) {
            Some(0) => Answer::Accepted,
            Some(11232) => Answer::Throttled(retry),
            Some(other) => failed(other),
            None => Answer::Failed(format!("unreadable answer: {}", clip(body, 200))),
        },
        ChannelKind::Slack | ChannelKind::Webhook | ChannelKind::Email => Answer::Accepted,
    }
}

/// Sends at most `count` messages in any `window`: the platform's limit, honoured before
/// the platform has to throttle.
struct Pacer {
    windows: Vec<(usize, Duration, VecDeque<Instant>)>,
}

impl Pacer {
    fn new(channel: &ChannelConfig) -> Pacer {
        let mut windows = vec![(
            channel.per_minute() as usize,
            Duration::from_secs(60),
            VecDeque::new(),
        )];
        if channel.kind == ChannelKind::Feishu {
            windows.push((5, Duration::from_secs(1), VecDeque::new()));
        }
        Pacer { windows }
    }

    /// Waits until one more send keeps every window within its count.
    async fn ready(&mut self) {
        loop {
            let now = Instant::now();
            let mut wait = None;
            for (count, window, sent) in &mut self.windows {
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= *window)
                {
                    sent.pop_front();
                }
                if sent.len() >= *count {
                    if let Some(oldest) = sent.front() {
                        let until = *oldest + *window;
                        wait = Some(wait.map_or(until, |w: Instant| w.max(until)));
                    }
                }
            }
            match wait {
                Some(until) => tokio::time::sleep_until(until).await,
                None => break,
            }
        }
    }

    /// Counts a send at its answer: the platform counted it on arrival, before that, so
    /// its window ends no later than ours and the next send cannot land inside it.
    fn sent(&mut self) {
        let now = Instant::now();
        for (_, _, sent) in &mut self.windows {
            sent.push_back(now);
        }
    }
}

/// Sends one request and reads the answer.
pub async fn send(
    client: &reqwest::Client,
    kind: ChannelKind,
    outgoing: &Outgoing,
) -> Result<(u16, String, Answer), String> {
    let mut request = client
        .post(&outgoing.url)
        .header("Content-Type", "application/json")
        .body(outgoing.body.clone());
    for (name, value) in &outgoing.headers {
        request = request.header(*name, value);
    }
    // The error's text may name the URL, and the URL carries the token: never shown.
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "cannot connect".to_string()
        } else {
            "request failed".to_string()
        }
    })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = response.text().await.unwrap_or_default();
    let answer = answer(kind, status, retry_after, &body);
    Ok((status, body, answer))
}

pub fn client() -> Result<reqwest::Client, ChatError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        // The endpoint is used exactly as given; a redirect would carry the message elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ChatError::Client)
}

/// How a channel's messages leave: a request to the platform's endpoint, or mail.
pub enum Transport {
    Http {
        client: reqwest::Client,
        secrets: ChannelSecrets,
    },
    Mail(Box<Mailer>),
}

impl Transport {
    /// A chat or webhook channel's endpoint and secret, read from the environment.
    pub fn http(channel: &ChannelConfig) -> Result<Transport, ChatError> {
        let secrets = channel
            .secrets()
            .map_err(|(field, message)| ChatError::Config {
                channel: channel.name.clone(),
                message: format!("{field}: {message}"),
            })?;
        Ok(Transport::Http {
            client: client()?,
            secrets,
        })
    }

    /// The channel's transport; a `kind = "email"` channel mails through [smtp], or
    /// writes .eml files in its own folder under `outbox_dir` (the implicit email channel
    /// writes the same Message-IDs there).
    pub fn of(
        channel: &ChannelConfig,
        config: &Config,
        outbox_dir: &Path,
        installation: &str,
    ) -> Result<Transport, ChatError> {
        if channel.kind != ChannelKind::Email {
            return Transport::http(channel);
        }
        let dir = outbox_dir.join(format!(
            "channel-{}",
            super::mailer::file_name(&channel.name)
        ));
        Ok(Transport::Mail(Box::new(Mailer::for_channel(
            config,
            &channel.to,
            &dir,
            installation,
        )?)))
    }
}

/// One channel's worker: routes new alerts, then sends its due deliveries, paced.
pub struct ChannelWorker {
    pub store: SharedStore,
    pub channel: ChannelConfig,
    transport: Transport,
    pub ui: Ui,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub lease: Duration,
    pacer: Pacer,
    metrics: Arc<Metrics>,
}

impl ChannelWorker {
    pub fn new(
        store: SharedStore,
        channel: ChannelConfig,
        transport: Transport,
        ui: Ui,
        retry: (Duration, Duration),
        lease: Duration,
        metrics: Arc<Metrics>,
    ) -> ChannelWorker {
        ChannelWorker {
            store,
            pacer: Pacer::new(&channel),
            channel,
            transport,
            ui,
            retry_initial: retry.0,
            retry_max: retry.1,
            lease,
            metrics,
        }
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        let name = self.channel.name.clone();
        let span = info_span!("channel", channel = %name, kind = self.channel.kind.as_str());
        async {
            if let Err(e) = self.store.add_channel(&name, Utc::now()).await {
                error!(error = %e, "cannot record the channel; it will be retried");
            }
            info!("channel worker started");
            loop {
                let pause = match self.round().await {
                    Ok(Some(pause)) => pause,
                    Ok(None) => IDLE_POLL,
                    Err(e) => {
                        error!(error = %e, "channel round stopped");
                        IDLE_POLL
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            info!("channel worker stopped");
        }
        .instrument(span)
        .await
    }

    /// Routes new alerts, sends what is due; the pause before the next round (zero when
    /// more is waiting, the platform's wait when it throttles).
    pub async fn round(&mut self) -> Result<Option<Duration>, ChatError> {
        self.store
            .add_channel(&self.channel.name, Utc::now())
            .await?;
        self.route().await?;
        let status = self.store.channel_status(&self.channel.name).await?;
        let now = Utc::now();
        let oldest = status
            .oldest_pending_ms
            .map_or(0, |ms| (now.timestamp_millis() - ms).max(0) / 1000);
        self.metrics
            .channel_queue(&self.channel.name, status.queued, oldest);
        let lease_until = now + chrono::Duration::from_std(self.lease).unwrap_or_default();
        let claimed = self
            .store
            .claim_deliveries(&self.channel.name, now, lease_until, BATCH)
            .await?;
        if claimed.is_empty() {
            return Ok(None);
        }
        let mut claimed = claimed.into_iter();
        while let Some(delivery) = claimed.next() {
            let span = info_span!("deliver", alert = delivery.alert_id, case = ?delivery.case_id);
            if let Some(wait) = self.deliver(delivery).instrument(span).await? {
                // The robot is throttled: the rest of the batch waits as long, uncounted.
                let now = Utc::now();
                let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                let outcome = DeliveryOutcome::Retry {
                    error: "rate limited",
                    next: next.timestamp_millis(),
                    count: false,
                };
                for rest in claimed {
                    self.store
                        .finish_delivery(rest.alert_id, &self.channel.name, &outcome, now)
                        .await?;
                }
                return Ok(Some(wait));
            }
        }
        Ok(Some(Duration::ZERO))
    }

    async fn route(&self) -> Result<(), ChatError> {
        loop {
            let alerts = self.store.unrouted_alerts(&self.channel.name, 200).await?;
            if alerts.is_empty() {
                return Ok(());
            }
            for alert in alerts {
                let severity = alert
                    .facts
                    .as_deref()
                    .and_then(|f| serde_json::from_str::<Facts>(f).ok())
                    .and_then(|f| f.severity);
                let routed = self
                    .channel
                    .routes(&alert.kind, &alert.brand, severity.as_deref());
                self.store
                    .add_delivery(alert.id, &self.channel.name, routed, Utc::now())
                    .await?;
            }
        }
    }

    async fn deliver(&mut self, delivery: ClaimedDelivery) -> Result<Option<Duration>, ChatError> {
        let name = self.channel.name.clone();
        let id = delivery.alert_id;
        if !delivery.case_open {
            info!("case closed before delivery; cancelled for this channel");
            self.store
                .finish_delivery(
                    id,
                    &name,
                    &DeliveryOutcome::Cancelled("case closed before delivery"),
                    Utc::now(),
                )
                .await?;
            return Ok(None);
        }
        let delivery_id = delivery_id(id, &name);
        let attempts = delivery.attempts;
        self.pacer.ready().await;
        let answer = match &self.transport {
            Transport::Http { client, secrets } => {
                let facts = Facts::of_delivery(&delivery);
                let outgoing = outgoing(&self.channel, secrets, &facts, &delivery_id, &self.ui);
                match send(client, self.channel.kind, &outgoing).await {
                    Ok((_, _, answer)) => answer,
                    Err(reason) => Answer::Failed(reason),
                }
            }
            // The alert's own Message-ID: a resend folds, in this channel's mailboxes and
            // beside the implicit email's.
            Transport::Mail(mailer) => match mailer.send(&mail_of(delivery)).await {
                Ok(()) => Answer::Accepted,
                Err(e) => Answer::Failed(e.to_string()),
            },
        };
        self.pacer.sent();
        let now = Utc::now();
        let counted = match &answer {
            Answer::Accepted => "delivered",
            Answer::Throttled(_) => "throttled",
            Answer::Failed(_) => "failed",
        };
        self.metrics.channel_sent(&name, counted);
        let (outcome, pause) = match &answer {
            Answer::Accepted => {
                info!(delivery = %delivery_id, "delivered");
                (DeliveryOutcome::Sent, None)
            }
            Answer::Throttled(wait) => {
                warn!(retry_in = ?wait, "platform rate limit; will retry");
                let next = now + chrono::Duration::from_std(*wait).unwrap_or_default();
                (
                    DeliveryOutcome::Retry {
                        error: "rate limited",
                        next: next.timestamp_millis(),
                        count: false,
                    },
                    Some(*wait),
                )
            }
            Answer::Failed(reason) => {
                let delay = retry_delay(attempts, self.retry_initial, self.retry_max);
                warn!(error = %reason, attempts = attempts + 1, retry_in = ?delay, "delivery failed; will retry");
                let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
                (
                    DeliveryOutcome::Retry {
                        error: reason,
                        next: next.timestamp_millis(),
                        count: true,
                    },
                    None,
                )
            }
        };
        self.store.finish_delivery(id, &name, &outcome, now).await?;
        Ok(pause)
    }
}

fn mail_of(delivery: ClaimedDelivery) -> OutgoingMail {
    OutgoingMail {
        message_id: delivery.message_id,
        kind: delivery.kind,
        case_id: delivery.case_id,
        source: delivery.source,
        subject: delivery.subject,
        text: delivery.text,
        html: delivery.html,
    }
}

/// Doubling back-off from `initial`, capped at `max`.
fn retry_delay(attempts: i64, initial: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempts.clamp(0, 30) as u32);
    initial.saturating_mul(factor).min(max)
}

/// `outcry channels test NAME`: sends a test message; the platform's HTTP status and answer.
pub async fn send_test(channel: &ChannelConfig, ui: &Ui) -> Result<(u16, String), ChatError> {
    let secrets = channel
        .secrets()
        .map_err(|(field, message)| ChatError::Config {
            channel: channel.name.clone(),
            message: format!("{field}: {message}"),
        })?;
    let facts = Facts {
        kind: "test".into(),
        brand: "outcry".into(),
        case: None,
        severity: None,
        headline: ui.word("chat-test"),
        reasons: Vec::new(),
        evidence: Vec::new(),
        case_url: ui.page_url("/"),
    };
    let id = delivery_id(0, &format!("test {}", Utc::now().timestamp_millis()));
    let outgoing = outgoing(channel, &secrets, &facts, &id, ui);
    let (status, body, _) = send(&client()?, channel.kind, &outgoing)
        .await
        .map_err(|message| ChatError::Config {
            channel: channel.name.clone(),
            message,
        })?;
    Ok((status, clip(&body, 2000)))
}
