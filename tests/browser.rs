//! A lead in headless Chromium (through chromedriver): signs in with a token, confirms a
//! candidate link with one click and sees the case page change. Needs the Debian packages
//! chromium and chromium-driver (./test installs them); without them this test fails.

mod support;

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use outcry::store::LinkState;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::app::{case, post, seed, App};
use support::words::english_catalog_words_in;

/// The browser and its driver: where `./test` found them, else Debian's places.
fn chromium() -> String {
    std::env::var("OUTCRY_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn chromedriver() -> String {
    std::env::var("OUTCRY_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into())
}

/// chromedriver, stopped when the test ends however it ends.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: a test that fails before closing its session would otherwise
        // leave chromedriver's Chromium running.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
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
    let (chromium, chromedriver) = (chromium(), chromedriver());
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {chromedriver} ({e}): install the Debian packages chromium and \
                 chromium-driver (./test does) to run the browser test"
            )
        });
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: install the Debian package chromium"
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

/// A headless Chromium session; with `phone`, its viewport is 390 CSS pixels wide (a
/// headless window is never narrower than 500).
async fn open_browser(driver: &Driver, phone: bool) -> Client {
    let mut options = serde_json::json!({
        "binary": chromium(),
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    if phone {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 1.0 }
        });
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromedriver session with headless Chromium")
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
    let browser = open_browser(&driver, false).await;

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
            .for_element(Locator::Css("nav a[href='/cases']"))
            .await?;
        assert_eq!(browser.current_url().await?.path(), "/");
        browser.goto(&app.url("/review")).await?;
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

async fn sign_in(browser: &Client, app: &App, token: &str) -> Result<(), CmdError> {
    browser.goto(&app.url("/login")).await?;
    browser
        .find(Locator::Css("input[name='token']"))
        .await?
        .send_keys(token)
        .await?;
    browser
        .find(Locator::Css("form[action='/login'] button"))
        .await?
        .click()
        .await?;
    browser
        .wait()
        .for_element(Locator::Css("nav a[href='/cases']"))
        .await?;
    Ok(())
}

/// Clicks an action's button and waits for the page it leads back to (`?done=<action>`);
/// returns what that page says was done.
async fn click_and_wait(browser: &Client, css: &str) -> Result<String, CmdError> {
    let button = browser.find(Locator::Css(css)).await?;
    let action = button.attr("value").await?.unwrap_or_default();
    button.click().await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !browser
        .current_url()
        .await?
        .query()
        .is_some_and(|q| q.contains(&format!("done={action}")))
    {
        assert!(Instant::now() < deadline, "{css} led nowhere");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.wait().for_element(Locator::Id("flash")).await?;
    browser.find(Locator::Id("flash")).await?.text().await
}

async fn count(browser: &Client, css: &str) -> Result<usize, CmdError> {
    Ok(browser.find_all(Locator::Css(css)).await?.len())
}

/// The document's width and the window's, in CSS pixels.
async fn widths(browser: &Client) -> Result<(u64, u64), CmdError> {
    let value = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            Vec::new(),
        )
        .await?;
    let pair = |i: usize| value[i].as_u64().unwrap_or(u64::MAX);
    Ok((pair(0), pair(1)))
}

#[tokio::test]
async fn a_lead_works_through_the_day_on_a_phone_wide_screen() {
    use outcry::model::Channel;
    use outcry::risk::{Risk, RiskReason};
    use outcry::store::CaseRisk;
    use support::smtp::SmtpServer;

    let smtp = SmtpServer::start().await;
    let app = App::spawn_with(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"outcry <alerts@example.com>\"\ntimeout = \"5s\"\n\n[review]\nrelink_window = \"7d\"\n",
        smtp.port()
    ))
    .await;
    let mut quiet = case("C-2");
    quiet.summary = "车机黑屏，多次维修无果".into();
    quiet.identifiers = vec!["order:XC-2026-00999".into()];
    quiet.complainant.name = Some("李先生".into());
    for record in [case("C-1"), quiet] {
        app.store
            .upsert_case(&record, chrono::Utc::now())
            .await
            .unwrap();
    }
    // C-2 only at risk; C-1 goes public below, so it ranks first.
    app.store
        .save_risks(
            &[CaseRisk {
                case_id: "C-2".into(),
                risk: Risk {
                    score: 0.9,
                    reasons: vec![RiskReason::Waiting { days: 3 }],
                },
                computed_at: chrono::Utc::now(),
                crossed_at: None,
            }],
            &[],
        )
        .await
        .unwrap();
    let mut complaint = post(
        "tousu-1",
        "星驰车机黑屏，多次维修无果，4S店拒绝退车，大家评评理",
        "车主小刘",
        0,
    );
    complaint.channel = Channel::Complaint;
    let mut long = post(
        "wb-long",
        &format!("星驰漏油{}", "很长的一段话没有空格".repeat(30)),
        "路人丙",
        1,
    );
    long.url = Some(format!("https://weibo.example/{}", "x".repeat(300)));
    let ids = seed(
        &app.store,
        &[
            (
                post("wb-1", "星驰新车漏油，4S店拒绝退车，要曝光", "路人甲", 1),
                Some(("C-1", LinkState::Candidate)),
            ),
            (
                post("wb-wrong", "星驰的售后电话打不通", "路人乙", 1),
                Some(("C-1", LinkState::Confirmed)),
            ),
            (complaint, None),
            (
                post("wb-new", "星驰的车漏油，没人管", "小王爱吃梨", 2),
                None,
            ),
            (long, Some(("C-1", LinkState::Candidate))),
        ],
    )
    .await;
    let (public, wrong, unlinked) = (ids[0], ids[1], ids[2]);
    let confirm = app
        .post(
            &format!("/api/v1/links/{public}/C-1/confirm"),
            Some(&app.lead),
            None,
        )
        .await;
    assert_eq!(confirm.status(), 200);

    let driver = start_driver();
    let browser = open_browser(&driver, true).await;
    let result = async {
        browser.goto(&app.url("/login")).await?;
        let (width, window) = widths(&browser).await?;
        assert_eq!(window, 390, "the window is phone-wide");
        assert!(width <= 390, "/login scrolls sideways: {width}");
        sign_in(&browser, &app, &app.lead).await?;
        assert_eq!(browser.current_url().await?.path(), "/");

        // No page scrolls sideways at 390 px.
        for path in [
            "/".to_string(),
            "/review".to_string(),
            "/cases".to_string(),
            "/unlinked".to_string(),
            "/cases/C-1".to_string(),
            "/cases/C-2".to_string(),
            format!("/posts/{public}"),
            format!("/posts/{}", ids[4]),
            "/brands".to_string(),
            "/sources".to_string(),
        ] {
            browser.goto(&app.url(&path)).await?;
            let (width, _) = widths(&browser).await?;
            assert!(width <= 390, "{path} scrolls sideways: {width} px");
        }

        // Home: the case that went public ranks before the one only at risk.
        browser.goto(&app.url("/")).await?;
        let first = browser
            .find(Locator::Css("#attention tr.case"))
            .await?
            .attr("data-case")
            .await?;
        assert_eq!(first.as_deref(), Some("C-1"));
        browser
            .find(Locator::Css("#attention tr.case a[href='/cases/C-1']"))
            .await?
            .click()
            .await?;
        browser.wait().for_element(Locator::Id("timeline")).await?;

        // Unlink the wrong automatic confirmation: the stage's evidence loses it.
        let confirmed = "#timeline tr.state-confirmed";
        assert_eq!(count(&browser, confirmed).await?, 2);
        let said = click_and_wait(
            &browser,
            &format!("#timeline tr[data-item='{wrong}'] button.unlink"),
        )
        .await?;
        assert!(said.contains("已取消关联"), "{said}");
        assert_eq!(count(&browser, confirmed).await?, 1);
        assert_eq!(
            count(&browser, &format!("#rejected li[data-item='{wrong}']")).await?,
            1
        );

        // Link the unlinked complaint to C-2 by hand; its alert goes out by mail.
        browser.goto(&app.url("/unlinked")).await?;
        let row = format!("section.unlinked[data-item='{unlinked}']");
        let select = browser
            .find(Locator::Css(&format!("{row} select[name='case_id']")))
            .await?;
        select.select_by_value("C-2").await?;
        let said = click_and_wait(&browser, &format!("{row} button.link")).await?;
        assert!(said.contains("帖子已关联到本案"), "{said}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !smtp
            .messages()
            .iter()
            .any(|m| m.header("X-Outcry-Case").as_deref() == Some("C-2"))
        {
            assert!(
                Instant::now() < deadline,
                "the alert of C-2 never reached the mail server"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Teach C-1 the complainant's handle: the recent post by it is linked.
        browser.goto(&app.url("/cases/C-1")).await?;
        assert!(!browser.source().await?.contains("星驰的车漏油，没人管"));
        browser
            .find(Locator::Css("form.learn input[name='value']"))
            .await?
            .send_keys("weibo:小王爱吃梨")
            .await?;
        let said = click_and_wait(&browser, "button.add-handle").await?;
        assert!(said.contains("账号已添加"), "{said}");
        let timeline = browser.find(Locator::Id("timeline")).await?.text().await?;
        assert!(timeline.contains("星驰的车漏油，没人管"), "{timeline}");

        // Close and reopen.
        let said = click_and_wait(&browser, "button.close").await?;
        assert!(said.contains("案件已结案"), "{said}");
        let said = click_and_wait(&browser, "button.reopen").await?;
        assert!(said.contains("案件已重新打开"), "{said}");
        browser.find(Locator::Css("button.close")).await?;

        // The chart scales to the screen.
        browser.goto(&app.url(&format!("/posts/{public}"))).await?;
        let chart = browser.find(Locator::Css("svg.chart")).await?;
        assert_eq!(chart.attr("width").await?.as_deref(), Some("100%"));
        Ok::<_, CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    result.unwrap();
    app.stop().await;
    smtp.stop().await;
}
