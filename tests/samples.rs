//! The rendered samples under docs/ are made from invented data by this test, so they always
//! show what the code renders. After changing the rendering, write them again with
//! `OUTCRY_WRITE_SAMPLES=1 cargo test --test samples` and review the diff.

use chrono::{DateTime, FixedOffset};
use outcry::alert::digest::{render_digest, DigestContent};
use outcry::alert::render::{render, AlertContent, Evidence};
use outcry::model::{AlertKind, Case, CaseStatus, Channel, Complainant, Engagement, Stage};
use outcry::store::{CaseItem, CaseStanding, LinkState, ReviewLink, Sighting, UnlinkedItem};
use std::path::Path;

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
            "identifier order:NX-20260105-4471".into(),
            "author is the complainant's handle weibo:阿辰不吃辣".into(),
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
            "retells the case (text 0.58, public story 0.74)".into(),
            "product agrees".into(),
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
        link_evidence: vec!["retells the case (text 0.52, public story 0.81)".into()],
        marks: vec![],
    };
    AlertContent {
        kind: AlertKind::Viral,
        brand: "暖芯电器".into(),
        case: Some(sample_case()),
        headline: "多名消费者反映暖芯电暖器插头冒烟".into(),
        reasons: vec![
            "first public item: a social post by 阿辰不吃辣 on weibo-search, seen 2026-01-20T21:20:00+08:00".into(),
            "3 public items by 3 distinct authors on 3 sources".into(),
            "news pickup: 城市晚报".into(),
            "13889 interactions (reposts, comments, likes), growing 1550 per hour".into(),
            "1 \"me too\" retellings".into(),
            "threats to go public: 12315 (case notes), 找媒体, 找媒体 (case notes), 曝光 (case notes)"
                .into(),
            "rage in the posts: 推来推去, 没人管".into(),
            "safety words that move the public: 宝宝, 漏电".into(),
            "thresholds lowered ×0.6 because of threats or safety words".into(),
        ],
        evidence: vec![news, forum, social],
        created_at: at("2026-01-21T09:20:00+08:00"),
    }
}

#[test]
fn sample_alert_in_docs_is_what_the_code_renders() {
    let rendered = render(&sample_alert());
    check_sample(
        "sample-alert.txt",
        &format!("Subject: {}\n\n{}", rendered.subject, rendered.text),
    );
    check_sample("sample-alert.html", &format!("{}\n", rendered.html));
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
                "retells the case (text 0.44, public story 0.00)".into(),
                "place agrees".into(),
                "fits another case about as well (score 0.41)".into(),
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
            standing(quiet("C-2240", "遥控器失灵, 要求换货", "low"), None, 0, 0),
        ],
    }
}

#[test]
fn sample_digest_in_docs_is_what_the_code_renders() {
    let rendered = render_digest(&sample_digest());
    check_sample(
        "sample-digest.txt",
        &format!("Subject: {}\n\n{}", rendered.subject, rendered.text),
    );
    check_sample("sample-digest.html", &format!("{}\n", rendered.html));
}
