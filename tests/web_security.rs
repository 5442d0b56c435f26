//! Sign-in, sessions, cookies, headers, form origins, case ids and the server's connection
//! limits, against the real server on a random port (and the daemon binary for its logs).

mod support;

use outcry::store::{LinkQuery, LinkState};
use std::time::Duration;
use support::app::{case, post, rand_hex, seed, App};
use support::daemon::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A client on its own loopback address (127.0.0.0/8 all reach the server).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(address.parse().unwrap()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn login(client: &reqwest::Client, app: &App, token: &str) -> reqwest::Response {
    client
        .post(app.url("/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn api(client: &reqwest::Client, app: &App, token: &str) -> u16 {
    client
        .get(app.url("/api/v1/cases"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The value of one sample line of /metrics, 0 when absent.
async fn metric(app: &App, sample: &str) -> f64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_address_whatever_it_claims_to_be() {
    let app = App::spawn_configured("sign_in_failures_per_address = 3", "").await;
    let here = client_from("127.0.0.1");
    for n in 0..3 {
        // X-Forwarded-For from a client that is no trusted proxy changes nothing.
        let response = here
            .post(app.url("/login"))
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .form(&[("token", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    // Refused without being checked, even the right token, on the pages and the API.
    let refused = login(&here, &app, &app.lead).await;
    assert_eq!(refused.status(), 429);
    assert!(set_cookie(&refused).is_none());
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    assert_eq!(api(&here, &app, &app.viewer).await, 429);

    let there = client_from("127.0.0.2");
    assert_eq!(login(&there, &app, &app.lead).await.status(), 303);
    assert_eq!(api(&there, &app, &app.viewer).await, 200);

    assert_eq!(
        metric(&app, "outcry_sign_in_failures_total{via=\"login\"}").await,
        3.0
    );
    assert_eq!(
        metric(&app, "outcry_sign_ins_refused_total{limit=\"address\"}").await,
        2.0
    );
    app.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_are_limited_in_total() {
    let app = App::spawn_configured("sign_in_failures_total = 4", "").await;
    for address in ["127.0.0.1", "127.0.0.2"] {
        let client = client_from(address);
        assert_eq!(api(&client, &app, "wrong").await, 401);
        assert_eq!(login(&client, &app, "wrong").await.status(), 401);
    }
    let newcomer = client_from("127.0.0.3");
    assert_eq!(api(&newcomer, &app, &app.viewer).await, 429);
    assert_eq!(login(&newcomer, &app, &app.lead).await.status(), 429);
    assert_eq!(
        metric(&app, "outcry_sign_in_failures_total{via=\"api\"}").await,
        2.0
    );
    assert_eq!(
        metric(&app, "outcry_sign_ins_refused_total{limit=\"total\"}").await,
        2.0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_says_when_it_came_by_https() {
    let app = App::spawn_configured(
        "trusted_proxies = [\"127.0.0.1\"]\nsign_in_failures_per_address = 2",
        "",
    )
    .await;
    let proxy = client_from("127.0.0.1");
    let attempt = |forwarded: &'static str, token: String| {
        let request = proxy
            .post(app.url("/login"))
            .header("x-forwarded-for", forwarded)
            .header("x-forwarded-proto", "https")
            .form(&[("token", token)]);
        async move { request.send().await.unwrap() }
    };
    for _ in 0..2 {
        assert_eq!(attempt("203.0.113.5", "wrong".into()).await.status(), 401);
    }
    assert_eq!(attempt("203.0.113.5", app.lead.clone()).await.status(), 429);
    // The proxy appends the address it saw; what the client wrote before it is not believed.
    assert_eq!(
        attempt("203.0.113.5, 198.51.100.6", "wrong".into())
            .await
            .status(),
        401
    );
    let signed_in = attempt("192.0.2.10", app.lead.clone()).await;
    assert_eq!(signed_in.status(), 303);
    let cookie = set_cookie(&signed_in).unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // From anyone else X-Forwarded-Proto is ignored.
    let direct = client_from("127.0.0.2")
        .post(app.url("/login"))
        .header("x-forwarded-proto", "https")
        .form(&[("token", &app.lead)])
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 303);
    assert!(!set_cookie(&direct).unwrap().contains("Secure"));
    app.stop().await;
}

#[tokio::test]
async fn an_https_public_url_makes_the_cookie_secure_and_is_the_only_form_origin() {
    let app = App::spawn_configured("public_url = \"https://outcry.example.com\"", "").await;
    let sign_in = |origin: &str| {
        app.http
            .post(app.url("/login"))
            .header("origin", origin)
            .form(&[("token", &app.lead)])
            .send()
    };
    let response = sign_in("https://outcry.example.com").await.unwrap();
    assert_eq!(response.status(), 303);
    let cookie = set_cookie(&response).unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert_eq!(sign_in(&app.base).await.unwrap().status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn without_https_the_cookie_is_not_secure() {
    let app = App::spawn().await;
    let response = login(&app.http, &app, &app.lead).await;
    assert!(!set_cookie(&response).unwrap().contains("Secure"));
    app.stop().await;
}

#[tokio::test]
async fn every_form_post_must_come_from_our_own_pages() {
    let app = App::spawn().await;
    let login_with = |name: &'static str, value: String| {
        app.http
            .post(app.url("/login"))
            .header(name, value)
            .form(&[("token", &app.lead)])
            .send()
    };
    for (name, value) in [
        ("origin", "http://evil.example".to_string()),
        ("origin", "null".to_string()),
        ("referer", "http://evil.example/login".to_string()),
        // Same host, other scheme or port: another origin.
        ("origin", app.base.replace("http://", "https://")),
        ("origin", "http://127.0.0.1:1".to_string()),
    ] {
        let response = login_with(name, value.clone()).await.unwrap();
        assert_eq!(response.status(), 403, "{name}: {value}");
        assert!(set_cookie(&response).is_none(), "{name}: {value}");
    }
    let ours = login_with("referer", format!("{}/login", app.base))
        .await
        .unwrap();
    assert_eq!(ours.status(), 303);

    // Signed in, with the right CSRF token: a decision posted from elsewhere is refused.
    app.store
        .upsert_case(&case("C-1"), chrono::Utc::now())
        .await
        .unwrap();
    let ids = seed(
        &app.store,
        &[(
            post("wb-1", "星驰漏油", "小王", 1),
            Some(("C-1", LinkState::Candidate)),
        )],
    )
    .await;
    let cookie = app.sign_in(&app.lead).await;
    let (_, _, page) = app.page("/review", &cookie).await;
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..at + 64].to_string();
    let decide = |origin: &str| {
        app.http
            .post(app.url("/act"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .form(&[
                ("csrf", csrf.as_str()),
                ("item_id", &ids[0].to_string()),
                ("case_id", "C-1"),
                ("decision", "confirm"),
                ("back", "review"),
            ])
            .send()
    };
    assert_eq!(decide("http://evil.example").await.unwrap().status(), 403);
    let links = app
        .store
        .find_links(&LinkQuery {
            item_id: Some(ids[0]),
            limit: 1,
            ..LinkQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(links[0].state, LinkState::Candidate);
    let logout = app
        .http
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 403);
    assert_eq!(app.page("/review", &cookie).await.0, 200, "still signed in");
    assert_eq!(decide(&app.base).await.unwrap().status(), 303);

    // The API takes bearer tokens, not cookies: its origin does not matter.
    let created = app
        .http
        .post(app.url("/api/v1/cases"))
        .bearer_auth(&app.lead)
        .header("origin", "http://evil.example")
        .json(&case("C-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn a_token_holds_few_sessions_and_the_oldest_ends_first() {
    let app = App::spawn_configured("sessions_per_token = 2", "").await;
    let viewer = app.sign_in(&app.viewer).await;
    let mut leads = Vec::new();
    for _ in 0..3 {
        leads.push(app.sign_in(&app.lead).await);
    }
    let (status, _, _) = app.page("/review", &leads[0]).await;
    assert_eq!(status, 303, "the oldest session was ended");
    for cookie in [&leads[1], &leads[2], &viewer] {
        assert_eq!(app.page("/review", cookie).await.0, 200);
    }
    app.stop().await;
}

#[tokio::test]
async fn nothing_behind_sign_in_may_be_stored_by_a_cache() {
    let app = App::spawn().await;
    let cookie = app.sign_in(&app.viewer).await;
    app.store
        .upsert_case(&case("C-1"), chrono::Utc::now())
        .await
        .unwrap();
    let responses = [
        app.http
            .get(app.url("/review"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap(),
        app.http
            .get(app.url("/cases/C-1"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap(),
        app.get("/api/v1/cases", Some(&app.viewer)).await,
        app.get("/api/v1/cases/C-1", Some(&app.viewer)).await,
        app.get("/api/v1/cases", None).await,
        app.get("/login", None).await,
    ];
    for response in responses {
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{}",
            response.url()
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn case_ids_must_be_short_and_plain_everywhere() {
    let app = App::spawn().await;
    let long = "C".repeat(10_000);
    for bad in ["C-1\r\nX-Evil: 1", "../../x", long.as_str(), "C 1"] {
        let mut record = case("C-1");
        record.id = bad.to_string();
        let response = app
            .post(
                "/api/v1/cases",
                Some(&app.lead),
                Some(serde_json::to_value(&record).unwrap()),
            )
            .await;
        assert_eq!(response.status(), 400, "{bad:?}");
        let error = response.json::<serde_json::Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            error.contains("may hold only") || error.contains("at most 64"),
            "{error}"
        );
        assert!(error.len() < 200, "the error does not echo a huge id");
    }
    let import = format!(
        "{}\n{}\n",
        serde_json::to_string(&case("C-7")).unwrap(),
        serde_json::to_string(&outcry::model::Case {
            id: "C-8\nX".into(),
            ..case("C-8")
        })
        .unwrap()
    );
    let report: serde_json::Value = app
        .http
        .post(app.url("/api/v1/cases/import"))
        .bearer_auth(&app.lead)
        .body(import)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["imported"], 1);
    assert_eq!(report["problems"][0]["line"], 2);
    let ids: Vec<String> = app
        .store
        .cases(None)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["C-7"]);

    for path in ["..%2F..%2Fx", "C-1%0D%0AX-Evil:%201"] {
        let response = app
            .get(&format!("/api/v1/cases/{path}"), Some(&app.viewer))
            .await;
        assert_eq!(response.status(), 400, "{path}");
        let cookie = app.sign_in(&app.viewer).await;
        let (status, _, page) = app.page(&format!("/cases/{path}"), &cookie).await;
        assert_eq!(status, 400, "{path}");
        assert!(page.contains("案件号须为 1 到 64"), "{page}");
    }
    app.stop().await;
}

/// Sends half a request header and returns the stream.
async fn half_a_request(app: &App) -> tokio::net::TcpStream {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: outcry\r\nX-Slow: ")
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn a_client_that_never_finishes_its_header_is_disconnected() {
    let app = App::spawn_configured("header_timeout = \"1s\"", "").await;
    let mut stream = half_a_request(&app).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection");
    // Closed or reset, and never answered as if the request had been whole.
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{read:?}"
    );

    // A kept-alive connection that sends no next request is closed the same way.
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: outcry\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes an idle connection")
        .unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200 OK"));
    app.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_ends() {
    let app = App::spawn_configured("max_connections = 3\nheader_timeout = \"60s\"", "").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(half_a_request(&app).await);
    }
    let fresh = || {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap()
    };
    let waiting = fresh().get(app.url("/healthz")).send().await;
    assert!(
        waiting.as_ref().is_err_and(|e| e.is_timeout()),
        "{waiting:?}"
    );
    drop(held);
    let mut served = false;
    for _ in 0..50 {
        if let Ok(response) = fresh().get(app.url("/healthz")).send().await {
            served = response.status() == 200;
            break;
        }
    }
    assert!(served, "a freed slot serves the next connection");
    app.stop().await;
}

#[tokio::test]
async fn the_log_names_the_address_of_a_failed_sign_in_never_the_token() {
    let mut daemon = TestApp::new(&[], None);
    let token = rand_hex();
    daemon.edit_config(
        "[http]\n",
        "[http]\ntokens = [{ name = \"ops\", role = \"operator\", token_env = \"OUTCRY_WEB_SECURITY_TOKEN\" }]\n",
    );
    daemon
        .start_with_env(&[("OUTCRY_WEB_SECURITY_TOKEN", &token)])
        .await;
    let base = format!("http://127.0.0.1:{}", daemon.http_port());
    let client = client_from("127.0.0.2");
    let guessed = client
        .post(format!("{base}/login"))
        .form(&[("token", "guessed-Zq81vT5mXr")])
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), 401);
    let api = client
        .get(format!("{base}/api/v1/cases"))
        .bearer_auth("guessed-Wv72kP9sLq")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    assert!(
        daemon
            .wait_for_log("via=\"api\"", Duration::from_secs(10))
            .await,
        "{}",
        daemon.logs()
    );
    let logs = daemon.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("sign-in with an unknown token"))
        .collect();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(lines.iter().all(|l| l.contains("127.0.0.2")), "{logs}");
    for secret in ["Zq81vT5mXr", "Wv72kP9sLq", token.as_str()] {
        assert!(!logs.contains(secret), "a token reached the log: {logs}");
    }
    daemon.stop().await;
}
