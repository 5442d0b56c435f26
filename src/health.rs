//! Source health: whether each source still sees its site. A source is `ok`, `failing` (it
//! gets errors) or `blind`: it gets answers, but they are a login wall, a captcha, an
//! expired-cookie notice (Weibo answers 432, or 503 "Cookies expired") or suddenly no items
//! at all. Blind is worse than quiet, because it looks like quiet. A source failing or blind
//! for longer than `[operator].source_down_after` queues one operator email, and its recovery
//! one more; both go through the alert outbox, keyed by the start of the outage, so they are
//! neither lost nor sent twice. A source not polled because its host asked everyone to wait
//! (Retry-After, answered to another source) is `paused`: shown, but no failure.

use crate::alert::render::{rendered_or, Field, PageLink};
use crate::model::AlertKind;
use crate::present::text::{clip, escape_html};
use crate::present::{Args, Ui};
use crate::store::{NewAlert, SourceHealth, SourceState};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Phrases that sites put on the page instead of content when they will not show it to us.
/// A source's `blind_markers` add to these.
pub const BUILTIN_BLIND_MARKERS: &[&str] = &[
    "cookies expired",
    "cookie expired",
    "cookie已过期",
    "cookie 已过期",
    "cookie已失效",
    "请先登录",
    "请登录",
    "登录后查看",
    "登录后可查看",
    "扫码登录",
    "验证码",
    "安全验证",
    "人机验证",
    "滑动验证",
    "captcha",
    "sina visitor system",
    "访问过于频繁",
    "访问异常",
];

/// The first blindness marker `text` contains, matched without regard to letter case.
pub fn blind_marker(text: &str, extra: &[String]) -> Option<String> {
    let text = text.to_lowercase();
    BUILTIN_BLIND_MARKERS
        .iter()
        .map(|m| m.to_string())
        .chain(extra.iter().map(|m| m.trim().to_string()))
        .find(|m| !m.is_empty() && text.contains(&m.to_lowercase()))
}

/// Whether an error status means the site refuses to show us anything (rather than being
/// down), and why.
pub fn blind_status(status: u16, snippet: &str, extra: &[String]) -> Option<String> {
    match status {
        432 => Some("HTTP 432: the site refuses this client (on Weibo: the cookie expired)".into()),
        401 | 403 => Some(format!(
            "HTTP {status}: the site refuses access (a login or a fresh cookie may be needed)"
        )),
        _ => blind_marker(snippet, extra)
            .map(|m| format!("HTTP {status} with a page saying \"{m}\"")),
    }
}

/// What one poll of a source came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollResult {
    /// Items read (`None`: the server said 304, nothing changed), and what was repaired
    /// to read them when the feed is ill-formed.
    Ok {
        items: Option<usize>,
        repaired: Option<String>,
    },
    Blind(String),
    Failed(String),
    /// Not polled: `host` asked (through another source's request) to wait until `until`.
    Paused {
        until: DateTime<Utc>,
        host: String,
    },
}

/// The operator email a change of health calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Down,
    Recovered,
}

/// Whether [`apply`]ing `result` changes nothing but the state's poll times: a healthy
/// source that answered 304. Such a poll is recorded by its time alone.
pub fn only_times_change(state: &SourceState, result: &PollResult) -> bool {
    matches!(
        result,
        PollResult::Ok {
            items: None,
            repaired: None
        }
    ) && state.health == SourceHealth::Ok
        && state.consecutive_failures == 0
        && state.failing_since.is_none()
        && !state.down_alerted
}

/// Applies one poll's result to the source's state and says which operator email, if any,
/// it calls for. `notify` is false when no operator address is configured: then nothing is
/// announced and nothing is owed later.
pub fn apply(
    state: &mut SourceState,
    result: &PollResult,
    now: DateTime<Utc>,
    down_after: Duration,
    notify: bool,
) -> Option<Notice> {
    match result {
        PollResult::Paused { until, host } => {
            // No request was made: the failure count, the outage and the last poll stay.
            state.last_error = Some(format!(
                "paused until {}: host {host} asked to wait (Retry-After)",
                until.format("%Y-%m-%d %H:%M:%SZ")
            ));
            state.last_error_at = Some(now);
            None
        }
        PollResult::Ok { items, repaired } => {
            state.last_poll_at = Some(now);
            state.health = SourceHealth::Ok;
            // Read, so healthy; but the site should hear that its feed is broken, and a
            // worse breakage may not be repairable. The note stays until the next error.
            if let Some(repaired) = repaired {
                state.last_error = Some(format!("feed repaired: {repaired}"));
                state.last_error_at = Some(now);
            }
            state.consecutive_failures = 0;
            state.last_success_at = Some(now);
            if let Some(items) = items {
                let items = i64::try_from(*items).unwrap_or(i64::MAX);
                state.last_items = Some(items);
                state.items_seen = state.items_seen.saturating_add(items);
            }
            let notice = state.down_alerted.then_some(Notice::Recovered);
            state.failing_since = None;
            state.down_alerted = false;
            notice
        }
        PollResult::Blind(reason) | PollResult::Failed(reason) => {
            state.last_poll_at = Some(now);
            let blind = matches!(result, PollResult::Blind(_));
            state.health = if blind {
                SourceHealth::Blind
            } else {
                SourceHealth::Failing
            };
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            state.last_error = Some(if blind {
                format!("blind: {reason}")
            } else {
                reason.clone()
            });
            state.last_error_at = Some(now);
            let since = *state.failing_since.get_or_insert(now);
            let long_enough = (now - since).to_std().unwrap_or_default() >= down_after;
            if notify && long_enough && !state.down_alerted {
                state.down_alerted = true;
                Some(Notice::Down)
            } else {
                None
            }
        }
    }
}

/// The operator email for `notice`, rendered. `state` is the state after [`apply`]; for a
/// recovery, `outage_start` is when the outage began (the state no longer holds it).
pub fn operator_alert(
    notice: Notice,
    state: &SourceState,
    url: &str,
    outage_start: DateTime<Utc>,
    now: DateTime<Utc>,
    ui: &Ui,
) -> NewAlert {
    let (kind, what) = match notice {
        Notice::Down => (AlertKind::SourceDown, "down"),
        Notice::Recovered => (AlertKind::SourceUp, "up"),
    };
    let dedupe_key = format!(
        "source:{}:{what}:{}",
        state.name,
        outage_start.timestamp_millis()
    );
    let digest = Sha256::digest(dedupe_key.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let minutes = (now - outage_start).num_minutes().max(0);
    let lasted = ui.t(
        "duration",
        Args::new()
            .num("hours", (minutes / 60) as f64)
            .num("minutes", (minutes % 60) as f64),
    );
    let health = ui.t(
        "operator-health",
        Args::new().with("health", state.health.as_str()),
    );
    let source = clip(&state.name, 80);
    let subject = match notice {
        Notice::Down => ui.t(
            "operator-subject-down",
            Args::new()
                .with("source", source.clone())
                .with("health", state.health.as_str())
                .with("lasted", lasted),
        ),
        Notice::Recovered => ui.t(
            "operator-subject-up",
            Args::new()
                .with("source", source.clone())
                .with("lasted", lasted),
        ),
    };
    let time = |t: Option<DateTime<Utc>>| {
        t.map_or_else(|| ui.word("operator-never"), |t| ui.when(t.fixed_offset()))
    };
    let advice = match (notice, state.health) {
        (Notice::Recovered, _) => "operator-advice-up",
        (_, SourceHealth::Blind) => "operator-advice-blind",
        _ => "operator-advice-failing",
    };
    let fields = [
        ("operator-field-source", source),
        ("operator-field-url", clip(url, 300)),
        ("operator-field-health", health),
        ("operator-field-since", ui.when(outage_start.fixed_offset())),
        (
            "operator-field-failures",
            ui.number(state.consecutive_failures),
        ),
        (
            "operator-field-last-error",
            state
                .last_error
                .as_deref()
                .map_or_else(|| "-".into(), |e| clip(e, 500)),
        ),
        ("operator-field-last-success", time(state.last_success_at)),
        ("operator-field-items", ui.number(state.items_seen)),
    ]
    .map(|(key, value)| Field {
        label: ui.word(key),
        value,
    });
    let view = OperatorView {
        subject: subject.clone(),
        fields: fields.into(),
        advice: ui.word(advice),
        links: ui
            .page_url("/sources")
            .map(|url| PageLink {
                label: ui.word("link-sources"),
                url,
            })
            .into_iter()
            .collect(),
        signature: ui.t(
            "signature",
            Args::new().with("at", ui.when(now.fixed_offset())),
        ),
    };
    NewAlert {
        kind,
        case_id: None,
        brand: String::new(),
        dedupe_key,
        message_id: format!("<outcry.source.{hex}@outcry.local>"),
        text: rendered_or(ui.render("operator.txt", &view), &subject),
        html: rendered_or(ui.render("operator.html", &view), &escape_html(&subject)),
        subject,
        created_at: now.fixed_offset(),
        facts: None,
    }
}

#[derive(Serialize)]
struct OperatorView {
    subject: String,
    fields: Vec<Field>,
    advice: String,
    links: Vec<PageLink>,
    signature: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::minutes(minute)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_304_to_a_healthy_source_is_the_one_result_that_changes_only_its_times() {
        let healthy = SourceState {
            name: "weibo".into(),
            etag: Some("\"v1\"".into()),
            last_success_at: Some(at(0)),
            last_poll_at: Some(at(0)),
            last_items: Some(10),
            items_seen: 10,
            ..SourceState::default()
        };
        let recovering = SourceState {
            health: SourceHealth::Failing,
            consecutive_failures: 2,
            failing_since: Some(at(0)),
            down_alerted: true,
            ..healthy.clone()
        };
        let not_modified = PollResult::Ok {
            items: None,
            repaired: None,
        };
        let results = [
            not_modified.clone(),
            PollResult::Ok {
                items: Some(3),
                repaired: None,
            },
            PollResult::Ok {
                items: None,
                repaired: Some("an unescaped &".into()),
            },
            PollResult::Failed("timed out".into()),
            PollResult::Blind("login wall".into()),
        ];
        for state in [&healthy, &recovering] {
            for result in &results {
                let mut applied = state.clone();
                apply(&mut applied, result, at(1), HOUR, true);
                let times_alone = SourceState {
                    last_success_at: state.last_success_at,
                    last_poll_at: state.last_poll_at,
                    ..applied.clone()
                };
                assert_eq!(
                    only_times_change(state, result),
                    times_alone == *state,
                    "{result:?} to {state:?}"
                );
            }
        }
        assert!(only_times_change(&healthy, &not_modified));
    }

    #[test]
    fn markers_are_found_in_any_letter_case_and_extra_ones_count() {
        assert_eq!(
            blind_marker("<p>Cookies Expired</p>", &[]).as_deref(),
            Some("cookies expired")
        );
        assert_eq!(
            blind_marker("<div>请登录后继续</div>", &[]).as_deref(),
            Some("请登录")
        );
        assert_eq!(blind_marker("<p>星驰汽车</p>", &[]), None);
        let extra = vec!["会员专享".to_string(), " ".to_string()];
        assert_eq!(
            blind_marker("本帖为会员专享", &extra).as_deref(),
            Some("会员专享")
        );
    }

    #[test]
    fn weibo_refusals_and_login_pages_are_blind_but_outages_are_not() {
        assert!(blind_status(432, "", &[]).unwrap().contains("432"));
        assert!(blind_status(403, "", &[]).is_some());
        let cookie = blind_status(503, "Error: Cookies expired, please renew", &[]).unwrap();
        assert!(cookie.contains("cookies expired"), "{cookie}");
        assert_eq!(blind_status(503, "Service Unavailable", &[]), None);
        assert_eq!(blind_status(500, "", &[]), None);
    }

    #[test]
    fn one_down_notice_after_the_threshold_and_one_recovery() {
        let mut state = SourceState {
            name: "weibo".into(),
            ..SourceState::default()
        };
        let failed = PollResult::Failed("refused".into());
        assert_eq!(apply(&mut state, &failed, at(0), HOUR, true), None);
        assert_eq!(state.health, SourceHealth::Failing);
        assert_eq!(state.failing_since, Some(at(0)));
        assert_eq!(apply(&mut state, &failed, at(30), HOUR, true), None);
        assert_eq!(
            apply(&mut state, &failed, at(61), HOUR, true),
            Some(Notice::Down)
        );
        // Still failing: no second email.
        assert_eq!(apply(&mut state, &failed, at(90), HOUR, true), None);
        assert_eq!(state.consecutive_failures, 4);
        assert_eq!(state.failing_since, Some(at(0)));
        let ok = PollResult::Ok {
            items: Some(5),
            repaired: None,
        };
        assert_eq!(
            apply(&mut state, &ok, at(95), HOUR, true),
            Some(Notice::Recovered)
        );
        assert_eq!(state.health, SourceHealth::Ok);
        assert_eq!(state.consecutive_failures, 0);
        assert_eq!(state.failing_since, None);
        assert_eq!(state.items_seen, 5);
        assert_eq!(state.last_items, Some(5));
        assert_eq!(apply(&mut state, &ok, at(96), HOUR, true), None);
    }

    #[test]
    fn a_host_pause_is_shown_but_is_no_failure_and_no_outage() {
        let mut state = SourceState {
            name: "weibo".into(),
            ..SourceState::default()
        };
        let ok = PollResult::Ok {
            items: Some(2),
            repaired: None,
        };
        apply(&mut state, &ok, at(0), HOUR, true);
        let paused = PollResult::Paused {
            until: at(180),
            host: "s.example.com:443".into(),
        };
        // Paused for hours, past the threshold: still ok, no failure, no email.
        for minute in [1, 30, 90, 170] {
            assert_eq!(apply(&mut state, &paused, at(minute), HOUR, true), None);
        }
        assert_eq!(state.health, SourceHealth::Ok);
        assert_eq!(state.consecutive_failures, 0);
        assert_eq!(state.failing_since, None);
        assert_eq!(state.last_poll_at, Some(at(0)), "no request was made");
        assert_eq!(
            state.last_error.as_deref(),
            Some("paused until 2026-11-20 11:00:00Z: host s.example.com:443 asked to wait (Retry-After)")
        );
        // A pause during an outage neither ends nor extends it.
        let failed = PollResult::Failed("refused".into());
        apply(&mut state, &failed, at(200), HOUR, true);
        apply(&mut state, &paused, at(210), HOUR, true);
        assert_eq!(state.health, SourceHealth::Failing);
        assert_eq!(state.consecutive_failures, 1);
        assert_eq!(state.failing_since, Some(at(200)));
    }

    #[test]
    fn short_outages_and_unconfigured_operators_send_nothing() {
        let mut state = SourceState::default();
        let blind = PollResult::Blind("login page".into());
        assert_eq!(apply(&mut state, &blind, at(0), HOUR, true), None);
        assert_eq!(state.health, SourceHealth::Blind);
        assert_eq!(state.last_error.as_deref(), Some("blind: login page"));
        let not_modified = PollResult::Ok {
            items: None,
            repaired: None,
        };
        assert_eq!(apply(&mut state, &not_modified, at(10), HOUR, true), None);
        assert_eq!(state.last_items, None, "a 304 counts no items");

        let mut state = SourceState::default();
        assert_eq!(apply(&mut state, &blind, at(0), HOUR, false), None);
        assert_eq!(apply(&mut state, &blind, at(120), HOUR, false), None);
        assert!(!state.down_alerted);
        assert_eq!(
            apply(
                &mut state,
                &PollResult::Ok {
                    items: Some(1),
                    repaired: None,
                },
                at(121),
                HOUR,
                false
            ),
            None
        );
    }

    #[test]
    fn a_repaired_feed_is_healthy_and_says_what_was_repaired() {
        let mut state = SourceState::default();
        let repaired = PollResult::Ok {
            items: Some(3),
            repaired: Some("line 7: a bare `&` not starting an entity".into()),
        };
        assert_eq!(apply(&mut state, &repaired, at(0), HOUR, true), None);
        assert_eq!(state.health, SourceHealth::Ok);
        assert_eq!(state.consecutive_failures, 0);
        assert_eq!(state.items_seen, 3);
        assert_eq!(
            state.last_error.as_deref(),
            Some("feed repaired: line 7: a bare `&` not starting an entity")
        );
        assert_eq!(state.last_error_at, Some(at(0)));
    }

    #[test]
    fn operator_alerts_are_keyed_by_the_outage_and_escape_what_they_quote() {
        let state = SourceState {
            name: "forum".into(),
            health: SourceHealth::Blind,
            consecutive_failures: 7,
            last_error: Some("blind: page saying \"<b>请登录</b>\"".into()),
            ..SourceState::default()
        };
        let en = Ui {
            language: crate::present::Language::En,
            ..Ui::default()
        };
        let down = operator_alert(Notice::Down, &state, "http://x/", at(0), at(70), &en);
        assert_eq!(down.kind, AlertKind::SourceDown);
        assert_eq!(down.case_id, None);
        assert!(down.dedupe_key.starts_with("source:forum:down:"));
        assert_eq!(
            down,
            operator_alert(Notice::Down, &state, "http://x/", at(0), at(70), &en),
            "the same outage gives the same alert"
        );
        assert!(down.subject.contains("forum is blind"), "{}", down.subject);
        assert!(down.subject.contains("1 h 10 min"), "{}", down.subject);
        assert!(down.html.contains("&lt;b&gt;请登录"), "{}", down.html);
        assert!(!down.html.contains("<b>请登录"));
        assert!(down.text.contains("Consecutive failures: 7"));
        assert!(
            down.text.contains("Outage since: 2026-11-20 16:00"),
            "{}",
            down.text
        );
        let zh = operator_alert(
            Notice::Down,
            &state,
            "http://x/",
            at(0),
            at(70),
            &Ui::default(),
        );
        assert!(
            zh.subject
                .starts_with("【outcry 运维】数据源 forum 看不到内容（已 1 小时 10 分钟）"),
            "{}",
            zh.subject
        );
        assert!(zh.text.contains("连续失败次数：7"), "{}", zh.text);
        assert!(zh.text.contains("时间均为 UTC+08:00"), "{}", zh.text);
        let up = operator_alert(Notice::Recovered, &state, "http://x/", at(0), at(70), &en);
        assert_eq!(up.kind, AlertKind::SourceUp);
        assert_ne!(up.dedupe_key, down.dedupe_key);
        assert_ne!(up.message_id, down.message_id);
        let later = operator_alert(Notice::Down, &state, "http://x/", at(500), at(600), &en);
        assert_ne!(
            later.dedupe_key, down.dedupe_key,
            "a new outage mails again"
        );
    }
}
