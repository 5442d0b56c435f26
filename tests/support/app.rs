//! The daemon in-process on a random port with a fresh SQLite store, tokens for each role,
//! and helpers to seed stored posts and talk to the API, as a client would.

use super::daemon::BRANDS;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use outcry::model::{
    Case, CaseStatus, Channel, Complainant, Engagement, LinkEvidence, Observation,
};
use outcry::store::{self, Batch, ItemRef, LinkState, NewItem, NewLink, SharedStore};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_util::sync::CancellationToken;

static APPS: AtomicUsize = AtomicUsize::new(0);

pub struct App {
    pub base: String,
    pub store: SharedStore,
    pub dir: tempfile::TempDir,
    pub viewer: String,
    pub lead: String,
    pub operator: String,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl App {
    pub async fn spawn() -> App {
        Self::spawn_with("").await
    }

    /// `extra` is appended to the configuration (before the brands).
    pub async fn spawn_with(extra: &str) -> App {
        Self::spawn_configured("", extra).await
    }

    /// `http` lines go into `[http]`, `extra` is appended (before the brands).
    pub async fn spawn_configured(http: &str, extra: &str) -> App {
        let dir = tempfile::tempdir().unwrap();
        let n = APPS.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("OUTCRY_T{}_{n}", std::process::id());
        let mut tokens = String::new();
        let mut secrets = Vec::new();
        for (name, role) in [("zhao", "viewer"), ("wang", "lead"), ("ops", "operator")] {
            let env = format!("{prefix}_{}", role.to_uppercase());
            let secret = rand_hex();
            std::env::set_var(&env, &secret);
            secrets.push(secret);
            tokens.push_str(&format!(
                "  {{ name = \"{name}\", role = \"{role}\", token_env = \"{env}\" }},\n"
            ));
        }
        let config = format!(
            "[http]\nlisten = \"127.0.0.1:0\"\ntokens = [\n{tokens}]\n{http}\n\n[alerts]\nto = [\"pr-team@example.com\"]\nretry_initial = \"1s\"\nretry_max = \"2s\"\n{extra}\n{BRANDS}"
        );
        std::fs::write(dir.path().join("outcry.toml"), config).unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let loaded = outcry::config::load(&dir.path().join("outcry.toml")).unwrap();
        // Opened (and migrated) before the daemon opens its own pool on the same file.
        let store = store::open(&loaded.storage_url).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(outcry::daemon::run_on(loaded, listener, shutdown.clone()));
        let task = tokio::spawn(async move {
            task.await.unwrap().unwrap();
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "app not healthy in time"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let [viewer, lead, operator] = <[String; 3]>::try_from(secrets).unwrap();
        App {
            base,
            store,
            dir,
            viewer,
            lead,
            operator,
            http,
            shutdown,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Signs in on the web page with a token and returns the session cookie.
    pub async fn sign_in(&self, token: &str) -> String {
        let response = self
            .http
            .post(self.url("/login"))
            .header("origin", &self.base)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        cookie.split(';').next().unwrap().to_string()
    }

    pub async fn page(&self, path: &str, cookie: &str) -> (u16, String, String) {
        let response = self
            .http
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    }

    pub fn outbox_files(&self) -> Vec<String> {
        match std::fs::read_dir(self.dir.path().join("outbox")) {
            Ok(entries) => entries
                .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// 256 random bits, as `openssl rand -hex 32` makes them.
pub fn rand_hex() -> String {
    format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    )
}

pub fn case(id: &str) -> Case {
    Case {
        id: id.into(),
        brand: "星驰汽车".into(),
        status: CaseStatus::Open,
        opened_at: Some(DateTime::parse_from_rfc3339("2026-03-02T09:14:00+08:00").unwrap()),
        channel: Some("hotline".into()),
        severity: Some("high".into()),
        complainant: Complainant {
            name: Some("王女士".into()),
            phone: Some("13800002291".into()),
            email: None,
            handles: vec![],
        },
        summary: "新车发动机漏油，4S店拒绝退车".into(),
        demand: "退车".into(),
        identifiers: vec!["order:XC-2026-00871".into()],
        notes: String::new(),
    }
}

/// A post mentioning the brand, first seen `days_ago`.
pub fn post(guid: &str, body: &str, author: &str, days_ago: i64) -> Observation {
    let at: DateTime<FixedOffset> = (Utc::now() - Duration::days(days_ago)).fixed_offset();
    Observation {
        source: "weibo".into(),
        channel: Channel::Social,
        guid: guid.into(),
        url: Some(format!("https://weibo.example/{guid}")),
        title: None,
        body: Some(body.into()),
        author: Some(author.into()),
        author_followers: Some(1200),
        published_at: Some(at),
        fetched_at: at,
        engagement: Engagement {
            reposts: Some(3),
            comments: Some(4),
            likes: Some(20),
            views: None,
        },
    }
}

/// Stores posts as the pipeline would have, each with the link given (or none); returns
/// their ids.
pub async fn seed(
    store: &SharedStore,
    posts: &[(Observation, Option<(&str, LinkState)>)],
) -> Vec<i64> {
    let mut batch = Batch::default();
    for (n, (obs, link)) in posts.iter().enumerate() {
        batch.new_items.push(NewItem {
            observation: obs,
            brand: "星驰汽车".into(),
            links: link
                .iter()
                .map(|(case_id, state)| NewLink {
                    case_id: case_id.to_string(),
                    state: *state,
                    score: 0.62,
                    evidence: vec![
                        LinkEvidence::Retells {
                            score: 0.41,
                            case_text: 0.41,
                            story: 0.0,
                        },
                        LinkEvidence::FactAgrees {
                            fact: "place".into(),
                        },
                    ],
                })
                .collect(),
        });
        batch.observations.push((ItemRef::New(n), obs));
    }
    store.commit(&batch).await.unwrap().new_item_ids
}
