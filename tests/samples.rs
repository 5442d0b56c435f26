//! The rendered samples under docs/ are made from invented data by this test, so they always
//! show what the code renders: `sample-*.txt|html` in Chinese (the default), `sample-*.en.*`
//! in English. After changing the rendering, write them again with
//! `OUTCRY_WRITE_SAMPLES=1 cargo test --test samples` and review the diff. The same data
//! checks that each language speaks only its own words and that both carry the same facts.

mod support;

use chrono::{DateTime, FixedOffset};
use outcry::alert::digest::{render_digest, DigestContent, RiskyCase};
use outcry::alert::render::{render, AlertContent, Evidence, RenderedEmail};
use outcry::health::{operator_alert, Notice};
use outcry::model::{
    AlertKind, Case, CaseStatus, Channel, Complainant, Engagement, LinkEvidence, Reason, Stage,
};
use outcry::present::{Language, Ui};
use outcry::risk::{Risk, RiskReason};
use outcry::store::{
    CaseItem, CaseStanding, LinkState, ReviewLink, Sighting, SourceHealth, SourceState,
    UnlinkedItem,
};
use std::path::Path;
use support::words::{chinese_catalog_phrases_in, english_catalog_words_in, readable};

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

/// Compares `rendered` with the file, or writes the file when asked to.
fn check_sample(file: &str, rendered: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(file);
    if std::env::var_os("OUTCRY_WRITE_SAMPLES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, rendered).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == rendered,
        "docs/{file} is out of date: run `OUTCRY_WRITE_SAMPLES=1 cargo test --test samples`"
    );
}

/// An invented case: a space heater whose plug smoked, a customer who threatened to go to
/// the media, and a story that reached a local paper.
pub fn sample_case() -> Case {
    Case {
        id: "C-2207".into(),
        brand: "暖芯电器".into(),
        status: CaseStatus::Open,
        opened_at: Some(at("2026-01-08T10:05:00+08:00")),
        channel: Some("hotline".into()),
        severity: Some("high".into()),
        complainant: Complainant {
            name: Some("陈先生".into()),
            phone: Some("13912345678".into()),
            email: None,
            handles: vec!["weibo:阿辰不吃辣".into()],
        },
        summary: "NX-3 电暖器使用第三天插头处冒烟, 有焦糊味; 客服要求寄回检测, 已等12天无进展"
            .into(),
        demand: "全额退款, 书面说明冒烟原因".into(),
        identifiers: vec!["order:NX-20260105-4471".into()],
        notes: "第二次来电情绪激动, 说再拖就打12315并找媒体曝光".into(),
    }
}

fn sample_alert() -> AlertContent {
    let social = Evidence {
        source: "weibo-search".into(),
        channel: Channel::Social,
        author: Some("阿辰不吃辣".into()),
        url: Some("https://weibo.example/7781203344/NoqA8xZ1".into()),
        title: None,
        text: "买的暖芯NX-3电暖器第三天插头就冒烟了, 摸着还有点漏电, 订单 NX-20260105-4471。\
               客服让我寄回检测, 12天了推来推去没人管。家里有宝宝, 再不处理我就找媒体。"
            .into(),
        published_at: Some(at("2026-01-20T21:14:00+08:00")),
        first_seen_at: at("2026-01-20T21:20:00+08:00"),
        seen_at: at("2026-01-21T09:20:00+08:00"),
        engagement: Engagement {
            reposts: Some(2140),
            comments: Some(1385),
            likes: Some(9620),
            views: None,
        },
        growth_per_hour: Some(1240.0),
        author_followers: Some(2300),
        link_score: Some(1.0),
        link_evidence: vec![
            LinkEvidence::Identifier {
                identifier: "order:NX-20260105-4471".into(),
            },
            LinkEvidence::AuthorIsHandle {
                handle: "weibo:阿辰不吃辣".into(),
            },
        ],
        marks: vec!["NX-20260105-4471".into(), "阿辰不吃辣".into()],
    };
    let forum = Evidence {
        source: "appliance-forum".into(),
        channel: Channel::Forum,
        author: Some("老周修家电".into()),
        url: Some("https://bbs.example/thread-90211-1-1.html".into()),
        title: Some("暖芯NX-3插头冒烟不是个例".into()),
        text: "我也是, 同款暖芯NX-3用了一周插头发黑冒烟, 看到微博上那位的遭遇才发帖。".into(),
        published_at: Some(at("2026-01-21T07:48:00+08:00")),
        first_seen_at: at("2026-01-21T08:00:00+08:00"),
        seen_at: at("2026-01-21T09:20:00+08:00"),
        engagement: Engagement {
            reposts: None,
            comments: Some(214),
            likes: Some(530),
            views: Some(18200),
        },
        growth_per_hour: Some(310.0),
        author_followers: None,
        link_score: Some(0.71),
        link_evidence: vec![
            LinkEvidence::Retells {
                score: 0.58,
                case_text: 0.58,
                story: 0.74,
            },
            LinkEvidence::FactAgrees {
                fact: "date".into(),
            },
        ],
        marks: vec![],
    };
    let news = Evidence {
        source: "city-evening-news".into(),
        channel: Channel::News,
        author: Some("城市晚报".into()),
        url: Some("https://news.example/2026/01/21/heater.html".into()),
        title: Some("多名消费者反映暖芯电暖器插头冒烟".into()),
        text: "多名消费者反映暖芯电暖器插头冒烟, 记者已联系厂家, 截至发稿未获回复。".into(),
        published_at: Some(at("2026-01-21T09:02:00+08:00")),
        first_seen_at: at("2026-01-21T09:20:00+08:00"),
        seen_at: at("2026-01-21T09:20:00+08:00"),
        engagement: Engagement::default(),
        growth_per_hour: None,
        author_followers: None,
        link_score: Some(0.66),
        link_evidence: vec![LinkEvidence::Retells {
            score: 0.52,
            case_text: 0.52,
            story: 0.81,
        }],
        marks: vec![],
    };
    AlertContent {
        kind: AlertKind::Viral,
        brand: "暖芯电器".into(),
        case: Some(sample_case()),
        headline: "多名消费者反映暖芯电暖器插头冒烟".into(),
        reasons: vec![
            Reason::FirstItem {
                channel: Channel::Social,
                author: Some("阿辰不吃辣".into()),
                source: "weibo-search".into(),
                // Stored in UTC, shown in the configured zone.
                seen_at: at("2026-01-20T13:20:00+00:00"),
            },
            Reason::Spread {
                items: 3,
                authors: 3,
                sources: 3,
            },
            Reason::NewsPickup {
                outlets: vec!["城市晚报".into()],
            },
            Reason::Interactions {
                total: 13889,
                growth_per_hour: 1550.0,
            },
            Reason::MeToo { retellings: 1 },
            Reason::Threats {
                in_posts: vec!["找媒体".into()],
                in_notes: vec!["12315".into(), "找媒体".into(), "曝光".into()],
            },
            Reason::Rage {
                terms: vec!["推来推去".into(), "没人管".into()],
            },
            Reason::Safety {
                terms: vec!["宝宝".into(), "漏电".into()],
            },
            Reason::ThresholdsLowered { factor: 0.6 },
        ],
        evidence: vec![news, forum, social],
        created_at: at("2026-01-21T09:20:00+08:00"),
    }
}

fn ui(language: Language) -> Ui {
    Ui {
        language,
        public_url: Some("https://outcry.example.com".into()),
        ..Ui::default()
    }
}

/// The file name of a sample in `language`: Chinese bare, others tagged.
fn sample_name(stem: &str, language: Language, ext: &str) -> String {
    match language {
        Language::ZhCn => format!("{stem}.{ext}"),
        other => format!("{stem}.{}.{ext}", other.tag()),
    }
}

fn check_samples(stem: &str, language: Language, rendered: &RenderedEmail) {
    check_sample(
        &sample_name(stem, language, "txt"),
        &format!("Subject: {}\n\n{}", rendered.subject, rendered.text),
    );
    check_sample(
        &sample_name(stem, language, "html"),
        &format!("{}\n", rendered.html),
    );
}

#[test]
fn sample_alert_in_docs_is_what_the_code_renders() {
    for language in Language::ALL {
        check_samples(
            "sample-alert",
            language,
            &render(&sample_alert(), &ui(language)),
        );
    }
}

fn item(
    guid: &str,
    channel: Channel,
    author: &str,
    title: &str,
    body: &str,
    seen: &str,
) -> CaseItem {
    CaseItem {
        item_id: 0,
        source: match channel {
            Channel::Complaint => "complaint-board".into(),
            Channel::Forum => "appliance-forum".into(),
            _ => "weibo-search".into(),
        },
        guid: guid.into(),
        channel,
        url: Some(format!("https://posts.example/{guid}")),
        title: Some(title.into()),
        body: Some(body.into()),
        author: Some(author.into()),
        published_at: None,
        first_seen_at: at(seen),
        link_state: LinkState::Candidate,
        link_score: 0.0,
        link_evidence: vec![],
        sightings: vec![Sighting {
            at: at(seen),
            last_seen: at(seen),
            engagement: Engagement {
                comments: Some(14),
                likes: Some(63),
                ..Engagement::default()
            },
            author_followers: None,
        }],
    }
}

fn sample_digest() -> DigestContent {
    let review = ReviewLink {
        case_id: "C-2231".into(),
        item: CaseItem {
            link_score: 0.48,
            link_evidence: vec![
                LinkEvidence::Retells {
                    score: 0.44,
                    case_text: 0.44,
                    story: 0.0,
                },
                LinkEvidence::FactAgrees {
                    fact: "place".into(),
                },
                LinkEvidence::AnotherCaseFits { score: 0.41 },
            ],
            ..item(
                "fr-5512",
                Channel::Forum,
                "杭州的小林",
                "暖芯暖风机吹出来有塑料味",
                "杭州买的暖芯暖风机, 开机十分钟就有塑料味, 客服说正常。",
                "2026-01-21T16:40:00+08:00",
            )
        },
    };
    let held = UnlinkedItem {
        brand: "暖芯电器".into(),
        item: item(
            "cp-90331",
            Channel::Complaint,
            "匿名用户",
            "暖芯售后推来推去",
            "电暖器坏了报修一周, 售后推来推去, 没人管。",
            "2026-01-21T19:05:00+08:00",
        ),
        alerted: false,
    };
    let emailed = UnlinkedItem {
        brand: "暖芯电器".into(),
        item: item(
            "wb-77120",
            Channel::Social,
            "冬天不冷",
            "",
            "暖芯的取暖器用了两天就漏电, 家里有宝宝, 太吓人了",
            "2026-01-21T11:30:00+08:00",
        ),
        alerted: true,
    };
    let standing = |case: Case, stage: Option<(Stage, &str)>, confirmed, candidate| CaseStanding {
        case,
        stage: stage.map(|(s, t)| (s, at(t))),
        confirmed_items: confirmed,
        candidate_items: candidate,
    };
    let quiet = |id: &str, summary: &str, severity: &str| Case {
        id: id.into(),
        summary: summary.into(),
        severity: Some(severity.into()),
        identifiers: vec![],
        notes: String::new(),
        ..sample_case()
    };
    let remote = standing(quiet("C-2240", "遥控器失灵, 要求换货", "low"), None, 0, 0);
    let smoke = standing(
        quiet("C-2252", "暖风机插头冒烟, 孩子吓哭了", "high"),
        None,
        0,
        0,
    );
    let terms = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    let at_risk = vec![
        RiskyCase {
            standing: smoke.clone(),
            risk: Risk {
                score: 0.74,
                reasons: vec![
                    RiskReason::PublicChannel {
                        terms: terms(&["微博", "黑猫投诉"]),
                    },
                    RiskReason::Safety {
                        terms: terms(&["冒烟", "孩子"]),
                    },
                    RiskReason::Severity {
                        level: "high".into(),
                    },
                ],
            },
        },
        RiskyCase {
            standing: remote.clone(),
            risk: Risk {
                score: 0.41,
                reasons: vec![
                    RiskReason::Cluster {
                        size: 4,
                        topic: terms(&["遥控器", "失灵"]),
                        cases: terms(&["C-2233", "C-2236", "C-2238", "C-2240"]),
                    },
                    RiskReason::Waiting { days: 12 },
                ],
            },
        },
    ];
    DigestContent {
        day: at("2026-01-22T09:00:00+08:00").date_naive(),
        since: at("2026-01-21T09:00:00+08:00"),
        until: at("2026-01-22T09:00:00+08:00"),
        review: vec![review],
        review_total: 1,
        unlinked: vec![held, emailed],
        unlinked_total: 2,
        unlinked_held: 1,
        cases: vec![
            standing(
                sample_case(),
                Some((Stage::Viral, "2026-01-21T09:20:00+08:00")),
                3,
                0,
            ),
            standing(
                quiet("C-2231", "暖风机有异味, 担心有毒", "medium"),
                Some((Stage::Surfaced, "2026-01-20T14:02:00+08:00")),
                1,
                1,
            ),
            remote,
            smoke,
        ],
        at_risk,
    }
}

#[test]
fn sample_digest_in_docs_is_what_the_code_renders() {
    for language in Language::ALL {
        check_samples(
            "sample-digest",
            language,
            &render_digest(&sample_digest(), &ui(language)),
        );
    }
}

/// Everything the samples' data says, which may appear in any language.
const DATA: &[&str] = &[
    "weibo-search",
    "appliance-forum",
    "city-evening-news",
    "complaint-board",
    "hotline",
    "high",
    "medium",
    "low",
    "order:NX-20260105-4471",
    "weibo:阿辰不吃辣",
    "outcry.example.com",
    "posts.example",
    "bbs.example",
    "news.example",
    "weibo.example",
    "NX-3",
    "outcry",
];

/// What the forum shows instead of posts.
const LOGIN_WALL: &str = "页面显示“请登录后查看”";

/// An invented outage: the forum shows a login wall instead of posts.
fn sample_operator(language: Language) -> RenderedEmail {
    let state = SourceState {
        name: "appliance-forum".into(),
        health: SourceHealth::Blind,
        consecutive_failures: 14,
        last_error: Some(LOGIN_WALL.into()),
        items_seen: 12_840,
        last_success_at: Some(utc("2026-01-21T01:00:00Z")),
        ..SourceState::default()
    };
    let alert = operator_alert(
        Notice::Down,
        &state,
        "https://bbs.example/forum-12-1.html",
        utc("2026-01-21T01:10:00Z"),
        utc("2026-01-21T02:20:00Z"),
        &ui(language),
    );
    RenderedEmail {
        subject: alert.subject,
        text: alert.text,
        html: alert.html,
    }
}

fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    at(text).with_timezone(&chrono::Utc)
}

#[test]
fn sample_operator_mail_in_docs_is_what_the_code_renders() {
    for language in Language::ALL {
        check_samples("sample-operator", language, &sample_operator(language));
    }
}

fn samples(language: Language) -> Vec<RenderedEmail> {
    vec![
        render(&sample_alert(), &ui(language)),
        render_digest(&sample_digest(), &ui(language)),
        sample_operator(language),
    ]
}

#[test]
fn chinese_output_has_no_english_catalog_word_and_english_no_chinese_one() {
    for rendered in samples(Language::ZhCn) {
        let leaked = english_catalog_words_in(&readable(&rendered), DATA);
        assert!(leaked.is_empty(), "{leaked:?} in\n{}", rendered.text);
    }
    // Chinese the data itself carries (quotes, names, terms) is no leak.
    let data = format!("{:?}{:?}{LOGIN_WALL}", sample_alert(), sample_digest());
    for rendered in samples(Language::En) {
        let leaked = chinese_catalog_phrases_in(&readable(&rendered), &data);
        assert!(leaked.is_empty(), "{leaked:?} in\n{}", rendered.text);
    }
    // The checks can fail: each language's own output trips the other's.
    let zh = readable(&samples(Language::ZhCn)[0]);
    assert!(!chinese_catalog_phrases_in(&zh, &data).is_empty());
    let en = readable(&samples(Language::En)[0]);
    assert!(!english_catalog_words_in(&en, DATA).is_empty());
}

/// Every "YYYY-MM-DD HH:MM" in `text`, in order.
fn times(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let shape = "0000-00-00 00:00";
    chars
        .windows(shape.len())
        .filter(|w| {
            w.iter().zip(shape.chars()).all(|(c, s)| {
                if s == '0' {
                    c.is_ascii_digit()
                } else {
                    *c == s
                }
            })
        })
        .map(|w| w.iter().collect())
        .collect()
}

/// Every "0.dd" score and every URL in `text`.
fn scores_and_urls(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|w| w.len() == 4 && w.starts_with("0.") || w.starts_with("1.00"))
        .map(String::from)
        .collect();
    found.extend(
        text.split_whitespace()
            .filter_map(|w| w.find("http").map(|at| w[at..].to_string())),
    );
    found.sort();
    found
}

#[test]
fn both_languages_carry_the_same_facts() {
    for (zh, en) in samples(Language::ZhCn).iter().zip(samples(Language::En)) {
        assert_eq!(times(&zh.text), times(&en.text), "times, in the same order");
        assert_eq!(times(&zh.html), times(&en.html));
        assert_eq!(scores_and_urls(&zh.text), scores_and_urls(&en.text));
        for tag in ["<li", "<tr", "<h3", "<mark>", "<a href"] {
            assert_eq!(
                zh.html.matches(tag).count(),
                en.html.matches(tag).count(),
                "{tag}"
            );
        }
        assert_eq!(zh.text.lines().count(), en.text.lines().count());
        // The same case, stage and brand named in both subjects.
        for fact in ["C-2207", "暖芯电器"] {
            assert_eq!(
                zh.subject.contains(fact),
                en.subject.contains(fact),
                "{fact}"
            );
        }
    }
    // One zone for every time, named once, stored UTC shown in it.
    let zh = render(&sample_alert(), &ui(Language::ZhCn));
    assert!(zh.text.contains("时间均为 UTC+08:00"), "{}", zh.text);
    assert!(zh.text.contains("发现于 2026-01-20 21:20"), "{}", zh.text);
    assert!(
        !zh.text.contains("+08:00 ") && !zh.text.contains("T21:"),
        "{}",
        zh.text
    );
}

#[test]
fn alerts_and_digests_link_to_the_pages() {
    let alert = render(&sample_alert(), &ui(Language::ZhCn));
    for part in [&alert.text, &alert.html] {
        assert!(
            part.contains("https://outcry.example.com/cases/C-2207"),
            "{part}"
        );
        assert!(part.contains("https://outcry.example.com/review"), "{part}");
    }
    let digest = render_digest(&sample_digest(), &ui(Language::En));
    assert!(digest
        .html
        .contains("<a href=\"https://outcry.example.com/cases/C-2231\">C-2231</a>"));
    let without = render(&sample_alert(), &Ui::default());
    assert!(!without.text.contains("/cases/"), "no public_url, no links");
}
