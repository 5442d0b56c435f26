//! Local stand-ins for the chat platforms' robots on 127.0.0.1, checking each request as
//! the platform does (signature and timestamp window, body shape, size limit) and answering
//! like it (error codes, throttling past its per-minute limit).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Dingtalk,
    Wecom,
    Feishu,
    Slack,
    Webhook,
}

/// What a receiver accepted, and what it refused and why.
#[derive(Default)]
pub struct Seen {
    pub accepted: Vec<Value>,
    pub delivery_ids: Vec<String>,
    pub refused: Vec<String>,
    pub throttled: usize,
    sent_at: Vec<Instant>,
}

pub struct Receiver {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
    config: Arc<Config>,
    /// The port of a receiver that is down: bound, so nobody else can take it, but not
    /// listening, so senders get "connection refused".
    reserved: Mutex<Option<tokio::net::TcpSocket>>,
}

impl Receiver {
    /// Starts listening on the port it was down on.
    pub fn come_up(&self) {
        let socket = self
            .reserved
            .lock()
            .unwrap()
            .take()
            .expect("a receiver that is down");
        let listener = socket.listen(1024).unwrap();
        serve(listener, self.config.clone());
    }

    /// The most messages accepted within any `window`: what pacing held to.
    pub fn max_in_window(&self, window: Duration) -> usize {
        let seen = self.seen.lock().unwrap();
        let times = &seen.sent_at;
        let mut most = 0;
        let mut start = 0;
        for (end, t) in times.iter().enumerate() {
            while t.duration_since(times[start]) >= window {
                start += 1;
            }
            most = most.max(end + 1 - start);
        }
        most
    }

    /// The accepted messages' texts as each platform shows them, in arrival order.
    pub fn texts(&self) -> Vec<String> {
        let platform = self.config.platform;
        self.seen
            .lock()
            .unwrap()
            .accepted
            .iter()
            .map(|body| shown(platform, body))
            .collect()
    }
}

/// The text a message shows, as one string.
pub fn shown(platform: Platform, body: &Value) -> String {
    match platform {
        Platform::Dingtalk => body["markdown"]["text"].as_str().unwrap().to_string(),
        Platform::Wecom => body["markdown"]["content"].as_str().unwrap().to_string(),
        Platform::Feishu => format!(
            "{}\n{}",
            body["card"]["header"]["title"]["content"].as_str().unwrap(),
            body["card"]["elements"][0]["text"]["content"]
                .as_str()
                .unwrap()
        ),
        Platform::Slack => body["blocks"].to_string(),
        Platform::Webhook => body.to_string(),
    }
}

fn serve(listener: tokio::net::TcpListener, config: Arc<Config>) {
    let app = Router::new()
        .route("/robot", post(receive))
        .with_state(config);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

struct Config {
    platform: Platform,
    secret: Option<String>,
    per_minute: usize,
    window: Duration,
    seen: Arc<Mutex<Seen>>,
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Starts a receiver; past `per_minute` accepted messages in a minute it throttles.
pub async fn start(platform: Platform, secret: Option<&str>, per_minute: usize) -> Receiver {
    start_with_window(platform, secret, per_minute, Duration::from_secs(60)).await
}

/// A receiver that throttles past `count` accepted messages in any `window`.
pub async fn start_with_window(
    platform: Platform,
    secret: Option<&str>,
    count: usize,
    window: Duration,
) -> Receiver {
    let receiver = down_with_window(platform, secret, count, window);
    receiver.come_up();
    receiver
}

/// A receiver that is down until [`Receiver::come_up`].
pub fn start_down(platform: Platform, secret: Option<&str>, per_minute: usize) -> Receiver {
    down_with_window(platform, secret, per_minute, Duration::from_secs(60))
}

fn down_with_window(
    platform: Platform,
    secret: Option<&str>,
    per_minute: usize,
    window: Duration,
) -> Receiver {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let config = Arc::new(Config {
        platform,
        secret: secret.map(String::from),
        per_minute,
        window,
        seen: seen.clone(),
    });
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = socket.local_addr().unwrap();
    Receiver {
        url: format!("http://{addr}/robot?access_token=t0ken"),
        seen,
        config,
        reserved: Mutex::new(Some(socket)),
    }
}

fn refuse(config: &Config, why: String) -> Response {
    config.seen.lock().unwrap().refused.push(why.clone());
    let body = match config.platform {
        Platform::Dingtalk | Platform::Wecom => json!({"errcode": 310000, "errmsg": why}),
        Platform::Feishu => json!({"code": 19021, "msg": why}),
        Platform::Slack | Platform::Webhook => {
            return (StatusCode::BAD_REQUEST, why).into_response()
        }
    };
    axum::Json(body).into_response()
}

async fn receive(
    State(config): State<Arc<Config>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let limit = match config.platform {
        Platform::Feishu | Platform::Dingtalk => 20 * 1024,
        _ => 1 << 20,
    };
    if body.len() > limit {
        return refuse(&config, format!("body of {} bytes", body.len()));
    }
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&config, "not JSON".into());
    };
    if let Err(why) = check(&config, &query, &headers, &body, &json) {
        return refuse(&config, why);
    }
    let mut seen = config.seen.lock().unwrap();
    let now = Instant::now();
    let in_minute = seen
        .sent_at
        .iter()
        .filter(|t| now.duration_since(**t) < config.window)
        .count();
    if in_minute >= config.per_minute {
        seen.throttled += 1;
        return match config.platform {
            Platform::Dingtalk => {
                axum::Json(json!({"errcode": 130101, "errmsg": "send too fast"})).into_response()
            }
            Platform::Wecom => {
                axum::Json(json!({"errcode": 45009, "errmsg": "api freq out of limit"}))
                    .into_response()
            }
            Platform::Feishu => {
                axum::Json(json!({"code": 11232, "msg": "frequency limited"})).into_response()
            }
            Platform::Slack | Platform::Webhook => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "rate_limited",
            )
                .into_response(),
        };
    }
    seen.sent_at.push(now);
    if let Some(id) = headers
        .get("x-outcry-delivery")
        .and_then(|v| v.to_str().ok())
    {
        seen.delivery_ids.push(id.to_string());
    }
    seen.accepted.push(json);
    match config.platform {
        Platform::Dingtalk | Platform::Wecom => {
            axum::Json(json!({"errcode": 0, "errmsg": "ok"})).into_response()
        }
        Platform::Feishu => axum::Json(json!({"code": 0, "msg": "success"})).into_response(),
        Platform::Slack | Platform::Webhook => "ok".into_response(),
    }
}

fn check(
    config: &Config,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
    json: &Value,
) -> Result<(), String> {
    match config.platform {
        Platform::Dingtalk => {
            if let Some(secret) = &config.secret {
                let ts: i64 = query
                    .get("timestamp")
                    .and_then(|t| t.parse().ok())
                    .ok_or("no timestamp")?;
                if (now_ms() - ts).abs() > 3_600_000 {
                    return Err("timestamp outside the hour".into());
                }
                let expected = b64(&hmac(
                    secret.as_bytes(),
                    format!("{ts}\n{secret}").as_bytes(),
                ));
                if query.get("sign") != Some(&expected) {
                    return Err("bad sign".into());
                }
            }
            if json["msgtype"] != "markdown"
                || !json["markdown"]["text"].is_string()
                || !json["markdown"]["title"].is_string()
            {
                return Err("not a markdown message".into());
            }
        }
        Platform::Wecom => {
            let content = json["markdown"]["content"]
                .as_str()
                .ok_or("no markdown.content")?;
            if json["msgtype"] != "markdown" || content.len() > 4096 {
                return Err("bad markdown message".into());
            }
        }
        Platform::Feishu => {
            if let Some(secret) = &config.secret {
                let ts: i64 = json["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .ok_or("timestamp not a string of seconds")?;
                if (now_ms() / 1000 - ts).abs() > 3600 {
                    return Err("timestamp outside the hour".into());
                }
                let expected = b64(&hmac(format!("{ts}\n{secret}").as_bytes(), b""));
                if json["sign"] != expected.as_str() {
                    return Err("bad sign".into());
                }
            }
            if json["msg_type"] != "interactive" || !json["card"]["elements"].is_array() {
                return Err("not an interactive card".into());
            }
        }
        Platform::Slack => {
            if !json["blocks"].is_array() || !json["text"].is_string() {
                return Err("no blocks".into());
            }
        }
        Platform::Webhook => {
            let delivery = headers
                .get("x-outcry-delivery")
                .and_then(|v| v.to_str().ok())
                .ok_or("no delivery id")?;
            if json["delivery"] != delivery {
                return Err("delivery id differs from the body's".into());
            }
            if let Some(secret) = &config.secret {
                let mac = hmac(secret.as_bytes(), body);
                let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
                let signature = headers
                    .get("x-outcry-signature")
                    .and_then(|v| v.to_str().ok());
                if signature != Some(format!("sha256={hex}").as_str()) {
                    return Err("bad signature".into());
                }
            }
        }
    }
    Ok(())
}
