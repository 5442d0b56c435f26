//! `outcry demo` as a newcomer runs it: it prints where the pages are and a lead token;
//! signing in shows the demo's cases in Chinese, and the alert links to its case page. A
//! second demo started while one runs fails before it deletes anything. Uses the demo's
//! fixed feeds port (127.0.0.1:8089).

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::words::{english_catalog_words_in, visible};

/// The demo process, killed when the test ends however it ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The demo in `dir`, its log going to `log` (a pipe nobody reads would stall it).
fn start(dir: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_outcry"))
        .args(["demo", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_prints_a_sign_in_and_shows_its_cases_in_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("demo"), &dir);
    // Any free port for the pages, so the test does not depend on 8080 being free.
    let config = std::fs::read_to_string(dir.join("outcry.toml"))
        .unwrap()
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")
        .replace("public_url = \"http://127.0.0.1:8080\"\n", "");
    std::fs::write(dir.join("outcry.toml"), config).unwrap();

    let log = tmp.path().join("demo.log");
    let mut demo = Demo(start(&dir, &log));
    let stdout = demo.0.stdout.take().unwrap();
    let demo_log = log.clone();
    let (url, token) = tokio::task::spawn_blocking(move || {
        let mut url = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("outcry demo: pages at ") {
                url = Some(u.to_string());
            }
            if let Some(t) = line.strip_prefix("sign in with token ") {
                return (url.unwrap(), t.to_string());
            }
        }
        // It exited: its log says why (the feeds' fixed port 8089 taken, for one).
        panic!(
            "the demo printed no sign-in; its log: {}",
            std::fs::read_to_string(&demo_log).unwrap_or_default()
        );
    })
    .await
    .unwrap();
    assert!(url.ends_with("/login"), "{url}");
    assert!(token.len() >= 16);

    // The alert lands, then the lead signs in and sees it on the pages.
    let outbox = dir.join("outbox");
    let deadline = Instant::now() + Duration::from_secs(90);
    let eml = loop {
        let found = std::fs::read_dir(&outbox)
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "eml"));
        if let Some(found) = found {
            break std::fs::read(found.path()).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no alert in the demo's outbox: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mail = mail_parser::MessageParser::default().parse(&eml).unwrap();
    let subject = mail.subject().unwrap_or_default().to_string();
    assert!(subject.starts_with("【舆情预警·"), "{subject}");

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client
        .post(&url)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let base = url.trim_end_matches("/login");
    let brands = client
        .get(format!("{base}/brands"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(brands.status(), 200);
    let brands = brands.text().await.unwrap();
    assert!(brands.contains("<html lang=\"zh-CN\">"), "{brands}");
    assert!(
        brands.contains("在办案件") && brands.contains("星驰汽车"),
        "{brands}"
    );
    let leaked = english_catalog_words_in(&visible(&brands), &["outcry", "UTC", "demo-lead"]);
    assert!(leaked.is_empty(), "{leaked:?} in {brands}");
    let case = mail
        .header("X-Outcry-Case")
        .and_then(|h| h.as_text())
        .map(String::from);
    if let Some(case) = case {
        let page = client
            .get(format!("{base}/cases/{case}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("公开时间线"), "{page}");
    }

    // A second demo in the same folder fails at once and deletes nothing.
    let second_log = tmp.path().join("second.log");
    let second = start(&dir, &second_log).wait_with_output().unwrap();
    assert!(!second.status.success());
    let stderr = std::fs::read_to_string(&second_log).unwrap();
    assert!(stderr.contains("127.0.0.1:8089"), "{stderr}");
    assert!(
        dir.join("outcry.db").exists(),
        "the running demo's store is kept"
    );
    assert!(
        std::fs::read_dir(&outbox).unwrap().count() > 0,
        "the running demo's outbox is kept"
    );
}
