//! A real HTTP server on 127.0.0.1 (or another loopback address, to play another host) whose
//! documents tests change while the daemon polls it.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How a document is served, for servers that misbehave on purpose.
#[derive(Clone, Debug, PartialEq)]
pub enum Behaviour {
    Normal,
    /// The body one byte at a time, 200 ms apart.
    Trickle,
    /// The body gzip-compressed, with Content-Encoding: gzip.
    Gzip,
}

#[derive(Clone)]
struct Document {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    etag: String,
    headers: Vec<(String, String)>,
    behaviour: Behaviour,
}

#[derive(Default)]
struct Shared {
    documents: HashMap<String, Document>,
    requests: HashMap<String, usize>,
    arrivals: HashMap<String, Vec<std::time::Instant>>,
    /// The User-Agent of each arrival, in the same order.
    agents: HashMap<String, Vec<String>>,
    not_modified: HashMap<String, usize>,
    last_headers: HashMap<String, HeaderMap>,
    /// Every request's header values, to look for a leaked secret.
    header_values: Vec<String>,
    version: u64,
}

pub struct FeedServer {
    ip: &'static str,
    port: u16,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl FeedServer {
    pub async fn start() -> FeedServer {
        FeedServer::start_on("127.0.0.1").await
    }

    /// A server on loopback address `ip` (127.0.0.2 is "another host").
    pub async fn start_on(ip: &'static str) -> FeedServer {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/{*path}", get(serve))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FeedServer {
            ip,
            port,
            shared,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://{}:{}/{}",
            self.ip,
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Serves `body` at `path` from now on, with a fresh ETag.
    pub fn set(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        self.set_status(path, 200, content_type, body);
    }

    pub fn set_status(
        &self,
        path: &str,
        status: u16,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) {
        self.set_full(path, status, content_type, body, &[], Behaviour::Normal);
    }

    /// Serves `body` with `status`, extra response headers and a behaviour.
    pub fn set_full(
        &self,
        path: &str,
        status: u16,
        content_type: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
        behaviour: Behaviour,
    ) {
        let mut shared = self.shared.lock().unwrap();
        shared.version += 1;
        let etag = format!("\"v{}\"", shared.version);
        shared.documents.insert(
            path.trim_start_matches('/').to_string(),
            Document {
                status,
                content_type: content_type.to_string(),
                body: body.into(),
                etag,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                behaviour,
            },
        );
    }

    /// How many requests to `path` were answered 304.
    pub fn not_modified(&self, path: &str) -> usize {
        let shared = self.shared.lock().unwrap();
        shared
            .not_modified
            .get(path.trim_start_matches('/'))
            .copied()
            .unwrap_or(0)
    }

    /// The headers of the last request for `path`.
    pub fn last_request_headers(&self, path: &str) -> Option<HeaderMap> {
        let shared = self.shared.lock().unwrap();
        shared
            .last_headers
            .get(path.trim_start_matches('/'))
            .cloned()
    }

    pub fn requests(&self, path: &str) -> usize {
        let shared = self.shared.lock().unwrap();
        shared
            .requests
            .get(path.trim_start_matches('/'))
            .copied()
            .unwrap_or(0)
    }
}

impl FeedServer {
    /// Requests for every path so far.
    pub fn total_requests(&self) -> usize {
        self.shared.lock().unwrap().requests.values().sum()
    }

    /// Whether any request so far carried a header value containing `needle`.
    pub fn saw_header_value(&self, needle: &str) -> bool {
        let shared = self.shared.lock().unwrap();
        shared.header_values.iter().any(|v| v.contains(needle))
    }

    /// When the last request for any path arrived.
    pub fn last_arrival(&self) -> Option<std::time::Instant> {
        let shared = self.shared.lock().unwrap();
        shared.arrivals.values().flatten().max().copied()
    }

    /// When each request for `path` arrived and with which User-Agent (how tests tell
    /// instances apart), in order.
    pub fn arrivals_by_agent(&self, path: &str) -> Vec<(std::time::Instant, String)> {
        let path = path.trim_start_matches('/');
        let shared = self.shared.lock().unwrap();
        let arrivals = shared.arrivals.get(path).cloned().unwrap_or_default();
        let agents = shared.agents.get(path).cloned().unwrap_or_default();
        arrivals.into_iter().zip(agents).collect()
    }

    /// When each request for `path` arrived, in order.
    pub fn arrivals(&self, path: &str) -> Vec<std::time::Instant> {
        let shared = self.shared.lock().unwrap();
        shared
            .arrivals
            .get(path.trim_start_matches('/'))
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let document = {
        let mut shared = shared.lock().unwrap();
        *shared.requests.entry(path.clone()).or_default() += 1;
        shared
            .arrivals
            .entry(path.clone())
            .or_default()
            .push(std::time::Instant::now());
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        shared.agents.entry(path.clone()).or_default().push(agent);
        shared.last_headers.insert(path.clone(), headers.clone());
        shared.header_values.extend(
            headers
                .values()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        );
        shared.documents.get(&path).cloned()
    };
    let Some(document) = document else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap();
    };
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == document.etag);
    if not_modified && document.status == 200 {
        *shared
            .lock()
            .unwrap()
            .not_modified
            .entry(path.clone())
            .or_default() += 1;
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, document.etag)
            .body(Body::empty())
            .unwrap();
    }
    let mut response = Response::builder()
        .status(document.status)
        .header(header::CONTENT_TYPE, document.content_type)
        .header(header::ETAG, document.etag);
    for (name, value) in &document.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    let body = match document.behaviour {
        Behaviour::Normal => Body::from(document.body),
        Behaviour::Gzip => {
            response = response.header(header::CONTENT_ENCODING, "gzip");
            Body::from(gzip(&document.body))
        }
        Behaviour::Trickle => {
            let bytes = document.body;
            let stream = futures::stream::unfold(0usize, move |i| {
                let byte = bytes.get(i).copied();
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    byte.map(|b| {
                        (
                            Ok::<_, std::convert::Infallible>(Bytes::from(vec![b])),
                            i + 1,
                        )
                    })
                }
            });
            Body::from_stream(stream)
        }
    };
    response.body(body).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An RSS 2.0 document from owned (guid, title, body, author) items.
pub fn rss_owned(items: &[(String, String, String, String)]) -> String {
    let refs: Vec<(&str, &str, &str, &str)> = items
        .iter()
        .map(|(g, t, b, a)| (g.as_str(), t.as_str(), b.as_str(), a.as_str()))
        .collect();
    rss(&refs)
}

/// An RSS 2.0 document with one item per (guid, title, body, author).
pub fn rss(items: &[(&str, &str, &str, &str)]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>test feed</title><link>http://127.0.0.1/</link><description>t</description>\n",
    );
    for (guid, title, body, author) in items {
        xml.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{}</guid><title>{}</title><link>http://127.0.0.1/post/{}</link><description>{}</description><author>{}</author><pubDate>Mon, 02 Mar 2026 10:00:00 +0800</pubDate></item>\n",
            escape(guid), escape(title), escape(guid), escape(body), escape(author)
        ));
    }
    xml.push_str("</channel></rss>\n");
    xml
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
