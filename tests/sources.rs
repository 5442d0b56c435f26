//! Sources against real servers on 127.0.0.1 that misbehave (trickle, gzip bomb, redirect
//! loop, 429, 304, login walls, Weibo's 432): each is handled as it should be while the other
//! sources keep delivering; health is reported by `outcry sources` and mailed to the operator.

mod support;

use std::time::{Duration, Instant};
use support::daemon::{Source, TestApp};
use support::feeds::{rss, Behaviour, FeedServer};
use support::smtp::{ReceivedMail, SmtpServer};

const CASE: &str = r#"{"id": "C-2001", "brand": "星驰汽车", "status": "open", "opened_at": "2026-03-01T10:00:00+08:00", "complainant": {"name": "刘先生", "handles": []}, "summary": "新车变速箱顿挫，多次返厂", "demand": "换车", "identifiers": ["order:XC-2026-04417"], "notes": ""}
"#;

const QUIET: (&str, &str, &str, &str) = ("q-1", "周末去哪儿玩", "郊游路线推荐", "路人乙");
const COMPLAINT: (&str, &str, &str, &str) = (
    "c-1",
    "星驰变速箱顿挫",
    "订单 XC-2026-04417 返厂三次还是顿挫，4S店说正常",
    "刘先生的车",
);

fn source<'a>(name: &'a str, server: &FeedServer, path: &str) -> Source<'a> {
    Source {
        name,
        url: server.url(path),
        channel: "social",
        interval: "1s",
    }
}

/// `outcry sources`' line for `name`, split at tabs.
fn health_line(app: &TestApp, name: &str) -> Vec<String> {
    let output = app.command(&["sources"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    stdout
        .lines()
        .find(|l| l.split('\t').next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"))
        .split('\t')
        .map(str::to_string)
        .collect()
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn misbehaving_servers_are_cut_off_while_other_sources_deliver() {
    let trickle = FeedServer::start().await;
    trickle.set_full(
        "feed.xml",
        200,
        "application/rss+xml",
        rss(&[QUIET]),
        &[],
        Behaviour::Trickle,
    );
    let bomb = FeedServer::start().await;
    // 32 MB of spaces inside a feed, about 32 KB on the wire.
    let mut inflated = rss(&[QUIET]).into_bytes();
    inflated.splice(0..0, vec![b' '; 32 * 1024 * 1024]);
    bomb.set_full(
        "feed.xml",
        200,
        "application/rss+xml",
        inflated,
        &[],
        Behaviour::Gzip,
    );
    let looping = FeedServer::start().await;
    looping.set_full(
        "feed.xml",
        302,
        "text/plain",
        "",
        &[("location", "/feed.xml")],
        Behaviour::Normal,
    );
    let limited = FeedServer::start().await;
    limited.set_full(
        "feed.xml",
        429,
        "text/plain",
        "slow down",
        &[("retry-after", "60")],
        Behaviour::Normal,
    );
    let good = FeedServer::start().await;
    good.set("news.xml", "application/rss+xml", rss(&[QUIET]));
    good.set("weibo.xml", "application/rss+xml", rss(&[QUIET]));
    let smtp = SmtpServer::start().await;
    let sources = [
        source("trickle", &trickle, "feed.xml"),
        source("bomb", &bomb, "feed.xml"),
        source("loop", &looping, "feed.xml"),
        source("limited", &limited, "feed.xml"),
        source("news", &good, "news.xml"),
        source("weibo", &good, "weibo.xml"),
    ];
    let mut app = TestApp::with_config(
        &sources,
        Some(smtp.port()),
        "idle_timeout = \"2s\"\nmax_body_bytes = 1048576\nmax_redirects = 3\nper_host_delay = \"100ms\"\ncontact = \"mailto:ops@example.com\"\n",
        "",
    );
    app.import_cases(CASE);
    app.start().await;

    // While the bad servers are misbehaving, the good source is polled, answers 304 to
    // conditional requests, and a complaint on it is mailed.
    wait_until("304s on the news feed", Duration::from_secs(20), || {
        good.not_modified("news.xml") >= 2
    })
    .await;
    good.set("weibo.xml", "application/rss+xml", rss(&[QUIET, COMPLAINT]));
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "logs: {}", app.logs());
    assert_eq!(mails[0].header("X-Outcry-Case").as_deref(), Some("C-2001"));

    // The trickle is cut at the total timeout (5s), so give it time to fail twice.
    wait_until("the trickle cut off", Duration::from_secs(30), || {
        health_line(&app, "trickle")[1] == "failing"
    })
    .await;
    let line = health_line(&app, "trickle");
    assert!(line[8].contains("fetch.timeout"), "{line:?}");
    let line = health_line(&app, "bomb");
    assert_eq!(line[1], "failing", "{line:?}");
    assert!(line[8].contains("after decompression"), "{line:?}");
    let line = health_line(&app, "loop");
    assert_eq!(line[1], "failing", "{line:?}");
    assert!(line[8].contains("too many redirects"), "{line:?}");
    let line = health_line(&app, "limited");
    assert_eq!(line[1], "failing", "{line:?}");
    assert!(line[8].contains("429"), "{line:?}");
    // Failing sources are retried, never dropped...
    assert!(
        looping.requests("feed.xml") >= 2 * 4,
        "the loop was given up: {} requests",
        looping.requests("feed.xml")
    );
    // ...but a server that asked for 60 s of quiet gets it.
    assert_eq!(limited.requests("feed.xml"), 1);
    let line = health_line(&app, "news");
    assert_eq!(line[1], "ok", "{line:?}");
    assert_eq!(line[2], "0", "{line:?}");
    let polls_before = good.requests("weibo.xml");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        good.requests("weibo.xml") > polls_before,
        "the good source stopped"
    );
    let agent = good
        .last_request_headers("weibo.xml")
        .unwrap()
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        agent.starts_with("outcry/") && agent.contains("mailto:ops@example.com"),
        "{agent}"
    );
    assert_eq!(smtp.messages().len(), 1, "no other mail");
    app.stop().await;
}

fn from_source<'a>(mails: &'a [ReceivedMail], name: &str) -> Vec<&'a ReceivedMail> {
    mails
        .iter()
        .filter(|m| m.header("X-Outcry-Source").as_deref() == Some(name))
        .collect()
}

const LOGIN_PAGE: &str = "<html><head><title>登录</title></head><body><form>请登录后查看本版帖子<input name=user></form></body></html>";

fn forum_page(threads: &[(&str, &str)]) -> String {
    let rows: String = threads
        .iter()
        .map(|(id, title)| {
            format!("<tr class=\"thread\"><td><a class=\"title\" href=\"/t/{id}\">{title}</a></td><td class=\"author\">车友</td></tr>")
        })
        .collect();
    format!("<html><body><table>{rows}</table></body></html>")
}

const FORUM_SOURCE: &str = "kind = \"html\"\nchannel = \"forum\"\ninterval = \"1s\"\n\n[selectors]\nitem = \"tr.thread\"\ntitle = \"a.title\"\nlink = \"a.title\"\nauthor = \"td.author\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn blind_sources_are_reported_and_the_operator_mailed_once_each_way() {
    let forum = FeedServer::start().await;
    forum.set("list.html", "text/html; charset=utf-8", LOGIN_PAGE);
    let weibo = FeedServer::start().await;
    weibo.set_status("feed.xml", 432, "text/html", "<html>Forbidden</html>");
    let rsshub = FeedServer::start().await;
    rsshub.set_status(
        "weibo/keyword/x",
        503,
        "text/html",
        "<html><body>Error: Cookies expired, please renew them</body></html>",
    );
    let emptied = FeedServer::start().await;
    emptied.set("feed.xml", "application/rss+xml", rss(&[QUIET]));
    let smtp = SmtpServer::start().await;
    let sources = [
        source("weibo-432", &weibo, "feed.xml"),
        source("rsshub-cookie", &rsshub, "weibo/keyword/x"),
        source("emptied", &emptied, "feed.xml"),
    ];
    let mut app = TestApp::with_config(
        &sources,
        Some(smtp.port()),
        "per_host_delay = \"100ms\"\n",
        "[operator]\nto = [\"ops@example.com\"]\nsource_down_after = \"2s\"\n",
    );
    app.write_source(
        "forum",
        &format!(
            "name = \"forum\"\nurl = \"{}\"\n{FORUM_SOURCE}",
            forum.url("list.html")
        ),
    );
    app.start().await;
    wait_until(
        "the first read of the emptied feed",
        Duration::from_secs(20),
        || emptied.requests("feed.xml") >= 1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    emptied.set("feed.xml", "application/rss+xml", rss(&[]));

    let mails = smtp.wait_for(4, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 4, "logs: {}", app.logs());
    for name in ["forum", "weibo-432", "rsshub-cookie", "emptied"] {
        let down = from_source(&mails, name);
        assert_eq!(down.len(), 1, "{name}: {mails:?}");
        let mail = down[0];
        assert_eq!(mail.to, ["ops@example.com"], "never the PR team");
        assert_eq!(
            mail.header("X-Outcry-Alert").as_deref(),
            Some("source-down")
        );
        assert_eq!(mail.header("X-Outcry-Stage"), None);
        // In [ui] language (Chinese by default), its times in [ui] time_zone.
        assert!(
            mail.subject()
                .starts_with(&format!("【outcry 运维】数据源 {name} 看不到内容（已 ")),
            "{}",
            mail.subject()
        );
        assert!(mail.text_body().contains("时间均为 UTC+08:00"));
    }
    let line = health_line(&app, "forum");
    assert_eq!(line[1], "blind", "{line:?}");
    assert!(line[8].contains("请登录"), "{line:?}");
    assert!(health_line(&app, "weibo-432")[8].contains("432"));
    assert!(health_line(&app, "rsshub-cookie")[8].contains("cookies expired"));
    let line = health_line(&app, "emptied");
    assert_eq!(line[1], "blind", "{line:?}");
    assert!(
        line[8].contains("no items, where the last read found 1"),
        "{line:?}"
    );

    // The forum comes back: one recovery mail; the others stay blind without more mail.
    forum.set(
        "list.html",
        "text/html; charset=utf-8",
        forum_page(&[("1", "星驰车友聚会")]),
    );
    let mails = smtp.wait_for(5, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 5, "logs: {}", app.logs());
    let up = mails.last().unwrap();
    assert_eq!(up.header("X-Outcry-Source").as_deref(), Some("forum"));
    assert_eq!(up.header("X-Outcry-Alert").as_deref(), Some("source-up"));
    assert!(up.subject().contains("已恢复"), "{}", up.subject());
    assert_eq!(health_line(&app, "forum")[1], "ok");
    let polls = weibo.requests("feed.xml");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        weibo.requests("feed.xml") > polls,
        "a blind source is retried"
    );
    assert_eq!(smtp.messages().len(), 5, "one mail each way, no more");

    // A restart does not mail the same outage again.
    app.stop().await;
    app.start().await;
    let polls = weibo.requests("feed.xml");
    wait_until("polls after the restart", Duration::from_secs(20), || {
        weibo.requests("feed.xml") >= polls + 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.messages().len(), 5, "logs: {}", app.logs());
    app.stop().await;
}

/// The Tieba-like fixture; its second thread gets id `tid` and the given text. The first
/// thread is the same on every page, as a pinned thread would be.
fn tieba_page(tid: &str, second: (&str, &str, &str), next: &str) -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/html/tieba-threads.html"),
    )
    .unwrap();
    text.replace("8800000002", tid)
        .replace("{SECOND_TITLE}", second.0)
        .replace("{SECOND_AUTHOR}", second.1)
        .replace("{SECOND_BODY}", second.2)
        .replace("{NEXT}", next)
}

#[tokio::test(flavor = "multi_thread")]
async fn paged_html_source_with_a_cookie_follows_linked_item_pages() {
    let tieba = FeedServer::start().await;
    let html = "text/html; charset=utf-8";
    tieba.set(
        "f/p1.html",
        html,
        tieba_page(
            "8800000003",
            ("周末车友会", "平常心", "一切正常"),
            "p2.html",
        ),
    );
    tieba.set(
        "f/p2.html",
        html,
        tieba_page(
            "8800000002",
            (
                "星驰变速箱顿挫",
                "刘先生的车",
                "订单 XC-2026-04417 返厂三次还是顿挫",
            ),
            "p3.html",
        ),
    );
    tieba.set(
        "f/p3.html",
        html,
        tieba_page("8800000004", ("第三页", "某人", "第三页的帖子"), "p1.html"),
    );
    // The linked thread's own page, whose likes the list does not show.
    tieba.set(
        "p/8800000002",
        html,
        "<html><body><div class=thread><span class=like>2.1万</span></div></body></html>",
    );
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::with_config(&[], Some(smtp.port()), "per_host_delay = \"50ms\"\n", "");
    app.write_source(
        "tieba",
        &format!(
            "name = \"tieba\"\nkind = \"html\"\nurl = \"{}\"\nchannel = \"forum\"\ninterval = \"1s\"\ntimezone = \"Asia/Shanghai\"\nmax_pages = 2\nheaders_env = {{ Cookie = \"OUTCRY_TEST_TIEBA_COOKIE\" }}\n\n[selectors]\nitem = \"li.j_thread_list\"\ntitle = \"a.j_th_tit\"\nlink = \"a.j_th_tit\"\nbody = \".threadlist_abs\"\nauthor = \".frs-author-name\"\nguid_attr = \"data-tid\"\ncomments = \".threadlist_rep_num\"\nnext_page = \"a.next\"\n\n[item_page]\ninterval = \"1s\"\nlikes = \".like\"\n",
            tieba.url("f/p1.html")
        ),
    );
    app.import_cases(CASE);
    app.start_with_env(&[("OUTCRY_TEST_TIEBA_COOKIE", "BDUSS=very-secret-cookie-value")])
        .await;

    // The complaint is on page 2: found, linked and mailed. (Page 1's complaint about the
    // brand matches no case: an `unlinked` alert, not counted here.)
    let stages = || {
        smtp.messages()
            .iter()
            .filter(|m| m.header("X-Outcry-Case").as_deref() == Some("C-2001"))
            .filter_map(|m| m.header("X-Outcry-Stage"))
            .collect::<Vec<_>>()
    };
    wait_until("the case to surface", Duration::from_secs(20), || {
        !stages().is_empty()
    })
    .await;
    assert_eq!(stages()[0], "surfaced", "logs: {}", app.logs());
    // Its own page shows 21000 likes: the follower sees the growth and the case escalates.
    wait_until("the case to go viral", Duration::from_secs(20), || {
        stages().len() >= 2
    })
    .await;
    assert_eq!(stages(), ["surfaced", "viral"], "logs: {}", app.logs());
    assert!(tieba.requests("p/8800000002") >= 1);
    assert_eq!(
        tieba.requests("p/8800000001"),
        0,
        "only items linked to a case are followed"
    );
    // The page cap holds, however the pages link on.
    assert!(tieba.requests("f/p2.html") >= 1);
    assert_eq!(tieba.requests("f/p3.html"), 0);
    for path in ["f/p1.html", "f/p2.html", "p/8800000002"] {
        let headers = tieba.last_request_headers(path).unwrap();
        assert_eq!(
            headers.get("cookie").and_then(|v| v.to_str().ok()),
            Some("BDUSS=very-secret-cookie-value"),
            "{path}"
        );
    }
    let line = health_line(&app, "tieba");
    assert_eq!(line[1], "ok", "{line:?}");
    assert_eq!(
        line[4], "3",
        "two items on each of two pages, the pinned one once: {line:?}"
    );
    app.stop().await;
    assert!(
        !app.logs().contains("very-secret-cookie-value"),
        "the cookie reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn source_test_names_selectors_that_matched_nothing_and_blind_pages() {
    let forum = FeedServer::start().await;
    forum.set(
        "list.html",
        "text/html",
        forum_page(&[("7", "星驰的帖子"), ("8", "另一个帖子")]),
    );
    forum.set("login.html", "text/html", LOGIN_PAGE);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("forum.toml");
    let write = |path: &str| {
        std::fs::write(
            &file,
            format!(
                "name = \"forum\"\nurl = \"{}\"\n{FORUM_SOURCE}likes = \".like-count\"\n",
                forum.url(path)
            ),
        )
        .unwrap();
    };
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_outcry"))
            .args(["source", "test"])
            .arg(&file)
            .arg("--config")
            .arg(dir.path().join("none.toml"))
            .output()
            .unwrap()
    };
    write("list.html");
    let output = run();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("forum: 2 items from 1 page(s)"), "{stdout}");
    for field in [
        "guid:",
        "url:",
        "title:",
        "author:",
        "followers:",
        "published:",
        "reposts:",
        "comments:",
        "likes:",
        "views:",
        "body:",
    ] {
        assert_eq!(stdout.matches(field).count(), 2, "{field}: {stdout}");
    }
    assert!(stdout.contains("title:     星驰的帖子"), "{stdout}");
    assert!(
        stdout.contains("selector likes = `.like-count` matched nothing"),
        "{stdout}"
    );
    assert!(!stdout.contains("selector title"), "{stdout}");

    write("login.html");
    let output = run();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("selector item = `tr.thread` matched nothing"),
        "{stdout}"
    );
    assert!(stderr.contains("blind"), "{stderr}");
    assert!(stderr.contains("请登录"), "{stderr}");
}

const XHOST_COOKIE: &str = "SUB=cross-host-secret-cookie";
const XHOST_KEY: &str = "cross-host-secret-key";

/// A forum list page whose threads link to `href`s, with a next-page link.
fn thread_list(threads: &[(&str, &str)], next: &str) -> String {
    let rows: String = threads
        .iter()
        .map(|(href, title)| {
            format!("<tr class=\"thread\"><td><a class=\"title\" href=\"{href}\">{title}</a></td><td class=\"author\">车友</td></tr>")
        })
        .collect();
    format!("<html><body><table>{rows}</table><a class=\"next\" href=\"{next}\">下一页</a></body></html>")
}

#[tokio::test(flavor = "multi_thread")]
async fn links_in_pages_keep_secrets_at_home_and_stay_off_private_addresses() {
    // The operator's source is on 127.0.0.1; its posts link to 127.0.0.2, "another host":
    // directly (an item page, the next page) and through a redirect on the source's host.
    let home = FeedServer::start().await;
    let other = FeedServer::start_on("127.0.0.2").await;
    let html = "text/html; charset=utf-8";
    let list = thread_list(
        &[
            (&other.url("t/1"), "星驰变速箱顿挫 订单 XC-2026-04417"),
            ("/go/2", "星驰又顿挫了 订单 XC-2026-04417 第二次返厂"),
            ("/t/3", "星驰顿挫第三回 订单 XC-2026-04417 还没修好"),
        ],
        &other.url("list2.html"),
    );
    home.set("list.html", html, list.clone());
    home.set_full(
        "go/2",
        302,
        "text/plain",
        "",
        &[("location", &other.url("t/2"))],
        Behaviour::Normal,
    );
    let item = "<html><body><span class=like>12</span></body></html>";
    home.set("t/3", html, item);
    other.set("t/1", html, item);
    other.set("t/2", html, item);
    other.set(
        "list2.html",
        html,
        thread_list(&[("/t/9", "周末车友会")], "/list3.html"),
    );
    let mut app = TestApp::with_config(&[], None, "per_host_delay = \"0s\"\n", "");
    app.write_source(
        "forum",
        &format!(
            "name = \"forum\"\nkind = \"html\"\nurl = \"{}\"\nchannel = \"forum\"\ninterval = \"1s\"\nmax_pages = 2\nfollow_hosts = [\"127.0.0.2\"]\nheaders_env = {{ Cookie = \"OUTCRY_TEST_XHOST_COOKIE\", X-Api-Key = \"OUTCRY_TEST_XHOST_KEY\" }}\n\n[selectors]\nitem = \"tr.thread\"\ntitle = \"a.title\"\nlink = \"a.title\"\nauthor = \"td.author\"\nnext_page = \"a.next\"\n\n[item_page]\ninterval = \"1s\"\nlikes = \".like\"\n",
            home.url("list.html")
        ),
    );
    app.import_cases(CASE);
    let env = [
        ("OUTCRY_TEST_XHOST_COOKIE", XHOST_COOKIE),
        ("OUTCRY_TEST_XHOST_KEY", XHOST_KEY),
    ];

    // fetch.allow_private_networks is off: 127.0.0.2 is in follow_hosts, but a loopback
    // address, so no link reaches it. The source's own origin is the operator's choice.
    app.start_with_env(&env).await;
    wait_until(
        "item pages on the source's own host",
        Duration::from_secs(20),
        || home.requests("t/3") >= 2 && home.requests("go/2") >= 2,
    )
    .await;
    assert_eq!(
        other.total_requests(),
        0,
        "neither the next page, nor an item page, nor a redirect's target: {}",
        app.logs()
    );
    assert!(app.logs().contains("private address"), "{}", app.logs());
    for path in ["list.html", "t/3", "go/2"] {
        let headers = home.last_request_headers(path).unwrap();
        assert_eq!(
            headers.get("cookie").and_then(|v| v.to_str().ok()),
            Some(XHOST_COOKIE),
            "{path}"
        );
        assert_eq!(
            headers.get("x-api-key").and_then(|v| v.to_str().ok()),
            Some(XHOST_KEY),
            "{path}"
        );
    }
    app.stop().await;

    // Allowed: the links are followed, without the cookie or the key. (A fresh ETag, so
    // that the list is read again, not answered 304.)
    home.set("list.html", html, list);
    app.edit_config(
        "per_host_delay = \"0s\"",
        "per_host_delay = \"0s\"\nallow_private_networks = true",
    );
    app.start_with_env(&env).await;
    wait_until("the other host's pages", Duration::from_secs(20), || {
        other.requests("t/1") >= 1
            && other.requests("t/2") >= 1
            && other.requests("list2.html") >= 1
    })
    .await;
    assert!(
        !other.saw_header_value("cross-host-secret"),
        "a secret went to the other host"
    );
    assert!(home.saw_header_value(XHOST_COOKIE) && home.saw_header_value(XHOST_KEY));
    assert_eq!(other.requests("list3.html"), 0, "the page cap holds");
    app.stop().await;
    assert!(
        !app.logs().contains("cross-host-secret"),
        "a secret reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_paused_by_retry_after_is_no_failure_of_its_other_sources() {
    let site = FeedServer::start().await;
    site.set_full(
        "limited.xml",
        429,
        "text/plain",
        "slow down",
        &[("retry-after", "30")],
        Behaviour::Normal,
    );
    site.set("sibling.xml", "application/rss+xml", rss(&[QUIET]));
    let smtp = SmtpServer::start().await;
    let mut app = TestApp::with_config(
        &[
            source("limited", &site, "limited.xml"),
            source("sibling", &site, "sibling.xml"),
        ],
        Some(smtp.port()),
        "per_host_delay = \"0s\"\n",
        "[operator]\nto = [\"ops@example.com\"]\nsource_down_after = \"1s\"\n",
    );
    app.start().await;
    wait_until("the sibling shown paused", Duration::from_secs(20), || {
        health_line(&app, "sibling")[8].starts_with("paused until ")
    })
    .await;
    // Past source_down_after, and polled (or not) every second meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let line = health_line(&app, "sibling");
    assert_eq!(line[1], "ok", "{line:?}");
    assert_eq!(line[2], "0", "no failure counted: {line:?}");
    assert_eq!(line[7], "-", "no outage: {line:?}");
    assert!(line[8].contains("asked to wait (Retry-After)"), "{line:?}");
    let line = health_line(&app, "limited");
    assert_eq!(line[1], "failing", "the source that got the 429: {line:?}");
    assert_eq!(site.requests("limited.xml"), 1, "the pause is kept");
    assert!(
        smtp.messages()
            .iter()
            .all(|m| !m.subject().contains("sibling")),
        "the operator was told the sibling is down"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_stops_every_request_within_seconds_and_loses_nothing() {
    // A feed that takes over a minute to trickle out, a host that asked for a minute's
    // pause, fifty sources queued at a third host's gate, and a complaint whose alert the
    // mail server (down) has not taken yet.
    let trickle = FeedServer::start().await;
    trickle.set_full(
        "feed.xml",
        200,
        "application/rss+xml",
        rss(&[QUIET]),
        &[],
        Behaviour::Trickle,
    );
    let paused = FeedServer::start().await;
    paused.set_full(
        "limited.xml",
        429,
        "text/plain",
        "slow down",
        &[("retry-after", "60")],
        Behaviour::Normal,
    );
    let gated = FeedServer::start().await;
    let news = FeedServer::start().await;
    news.set("news.xml", "application/rss+xml", rss(&[QUIET, COMPLAINT]));
    let smtp = SmtpServer::down();
    let smtp_port = smtp.port();

    let names: Vec<String> = (0..50).map(|i| format!("g{i:02}")).collect();
    let siblings: Vec<String> = (0..3).map(|i| format!("p{i}")).collect();
    let mut sources = vec![
        source("trickle", &trickle, "feed.xml"),
        source("limited", &paused, "limited.xml"),
        source("news", &news, "news.xml"),
    ];
    for name in &siblings {
        paused.set(&format!("{name}.xml"), "application/rss+xml", rss(&[QUIET]));
        sources.push(source(name, &paused, &format!("{name}.xml")));
    }
    for name in &names {
        gated.set(&format!("{name}.xml"), "application/rss+xml", rss(&[QUIET]));
        sources.push(source(name, &gated, &format!("{name}.xml")));
    }
    let mut app = TestApp::with_config(
        &sources,
        Some(smtp_port),
        "per_host_concurrency = 1\nper_host_delay = \"2s\"\n",
        "[daemon]\nshutdown_timeout = \"5s\"\n",
    );
    app.edit_config(
        "timeout = \"5s\"\nbackoff_max",
        "timeout = \"120s\"\nbackoff_max",
    );
    app.import_cases(CASE);
    app.start().await;
    assert!(
        app.wait_for_log("alerts=1", Duration::from_secs(30)).await,
        "the complaint was not committed: {}",
        app.logs()
    );
    wait_until("a paused host and a queue", Duration::from_secs(30), || {
        trickle.requests("feed.xml") >= 1
            && gated.total_requests() >= 2
            && siblings
                .iter()
                .any(|s| health_line(&app, s)[8].starts_with("paused until"))
    })
    .await;
    assert!(
        smtp_port > 0 && app.logs().contains("C-2001"),
        "{}",
        app.logs()
    );

    let signalled = Instant::now();
    app.stop().await;
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    // Signal delivery is not instant; anything later was started after the signal.
    let grace = signalled + Duration::from_millis(300);
    for (server, what) in [
        (&trickle, "trickle"),
        (&paused, "paused"),
        (&gated, "gated"),
        (&news, "news"),
    ] {
        let last = server.last_arrival().unwrap();
        assert!(
            last <= grace,
            "{what}: a request {:?} after the signal",
            last - signalled
        );
    }
    // The complaint committed before the signal is mailed after the restart, once.
    let smtp = smtp.come_up();
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "logs: {}", app.logs());
    assert_eq!(mails[0].header("X-Outcry-Case").as_deref(), Some("C-2001"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_keeps_its_timeout_when_the_mail_server_hangs_mid_send() {
    let smtp = SmtpServer::start_silent().await;
    let smtp_port = smtp.port();
    let news = FeedServer::start().await;
    news.set("news.xml", "application/rss+xml", rss(&[QUIET, COMPLAINT]));
    let mut app = TestApp::with_config(
        &[source("news", &news, "news.xml")],
        Some(smtp_port),
        "",
        "[daemon]\nshutdown_timeout = \"3s\"\n",
    );
    // The send would wait a minute for the greeting.
    app.edit_config(
        "timeout = \"5s\"\n\n[alerts]",
        "timeout = \"60s\"\n\n[alerts]",
    );
    app.import_cases(CASE);
    app.start().await;
    assert!(
        app.wait_for_log("alerts=1", Duration::from_secs(20)).await,
        "{}",
        app.logs()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let signalled = Instant::now();
    app.stop().await;
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(
        app.logs().contains("daemon.shutdown_timeout"),
        "{}",
        app.logs()
    );

    // The alert cut off mid-send stayed claimed, and goes out once its claim runs out.
    smtp.speak();
    app.start().await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "logs: {}", app.logs());
    assert_eq!(mails[0].header("X-Outcry-Case").as_deref(), Some("C-2001"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_test_reads_an_ill_formed_feed_and_says_what_was_repaired() {
    let site = FeedServer::start().await;
    site.set(
        "feed.xml",
        "application/rss+xml",
        "<rss><channel><title>t</title>\n<item><title>AT&T 的帖子</title><guid>g1</guid></item>\n\
         <item><title>没关上的 <b>标签</title><guid>g2</guid></item></channel></rss>",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"broken\"\nkind = \"feed\"\nchannel = \"forum\"\nurl = \"{}\"\n",
            site.url("feed.xml")
        ),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_outcry"))
        .args(["source", "test"])
        .arg(&file)
        .arg("--config")
        .arg(dir.path().join("none.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("broken: 2 items from 1 page(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("title:     AT&T 的帖子"), "{stdout}");
    assert_eq!(
        stdout.matches("ill-formed feed, read after repair").count(),
        1,
        "said once: {stdout}"
    );
    assert!(
        stdout.contains("page 1: ill-formed feed, read after repair: line 2: a bare `&` not starting an entity (and 1 more)"),
        "{stdout}"
    );
}
