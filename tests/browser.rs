//! A lead in headless Chromium (through chromedriver): signs in with a token, confirms a
//! candidate link with one click and sees the case page change. Needs the Debian packages
//! chromium and chromium-driver (.ci/run installs them); without them this test fails.

mod support;

use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use outcry::store::LinkState;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::app::{case, post, seed, App};
use support::words::english_catalog_words_in;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";

/// chromedriver, stopped when the test ends however it ends.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {CHROMEDRIVER} ({e}): install the Debian packages chromium and \
                 chromium-driver (.ci/run does) to run the browser test"
            )
        });
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install the Debian package chromium"
    );
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    driver
}

#[tokio::test]
async fn a_lead_confirms_a_link_in_the_browser_and_the_case_page_changes() {
    let app = App::spawn().await;
    app.store
        .upsert_case(&case("C-1"), chrono::Utc::now())
        .await
        .unwrap();
    seed(
        &app.store,
        &[(
            // Direction controls in the author and the body must not change what is read.
            post(
                "wb-1",
                "星驰新车漏油，\u{202E}4S店拒绝退车\u{202C}，订单XC-2026-00871",
                "路人\u{2067}甲\u{2069}",
                1,
            ),
            Some(("C-1", LinkState::Candidate)),
        )],
    )
    .await;

    let driver = start_driver();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        }),
    );
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromedriver session with headless Chromium");

    let result = async {
        // Before: the case has not surfaced.
        browser.goto(&app.url("/cases/C-1")).await?;
        assert!(browser.current_url().await?.path().ends_with("/login"));
        browser
            .find(Locator::Css("input[name='token']"))
            .await?
            .send_keys(&app.lead)
            .await?;
        browser
            .find(Locator::Css("form[action='/login'] button"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::Css("section.pair"))
            .await?;
        assert_eq!(browser.current_url().await?.path(), "/review");
        let post = browser.find(Locator::Css("section.pair .post")).await?;
        let shown = post.text().await?;
        assert!(
            shown.contains("星驰新车漏油，4S店拒绝退车，订单XC-2026-00871"),
            "Chinese renders, in its own order: {shown}"
        );
        assert!(shown.contains("路人甲"), "{shown}");
        // What the lead reads is Chinese: no word of the English catalog.
        let page = browser.find(Locator::Css("body")).await?.text().await?;
        let leaked = english_catalog_words_in(&page, &["outcry", "UTC", "wang", "weibo"]);
        assert!(leaked.is_empty(), "{leaked:?} in {page}");
        browser.goto(&app.url("/cases/C-1")).await?;
        let stage = browser.find(Locator::Id("stage")).await?.text().await?;
        assert_eq!(stage, "尚未公开");

        // One click from the case page's queue.
        browser
            .find(Locator::Css("button.confirm"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::Css("#timeline tr.alert"))
            .await?;
        assert!(browser.current_url().await?.path().ends_with("/cases/C-1"));
        let stage = browser.find(Locator::Id("stage")).await?.text().await?;
        assert_eq!(stage, "首次曝光");
        let row = browser
            .find(Locator::Css("#timeline tr.post"))
            .await?
            .text()
            .await?;
        assert!(row.contains("已确认"), "{row}");
        assert!(browser
            .find_all(Locator::Css("button.confirm"))
            .await?
            .is_empty());
        browser.find(Locator::Css("svg.chart circle")).await?;
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    result.unwrap();
    app.stop().await;
}
