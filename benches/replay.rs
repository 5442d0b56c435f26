//! Replay throughput on a generated large set: 2,000 open cases over 6 brands and 200,000
//! observations, run through the same pipeline as `outcry replay` on one core.
//!
//!     cargo bench --bench replay            # full size
//!     OUTCRY_BENCH_OBSERVATIONS=20000 cargo bench --bench replay
//!
//! Prints observations per second and the peak resident memory of the process.

use chrono::{DateTime, Duration, FixedOffset};
use outcry::config::{AssessConfig, BrandConfig, LinkingConfig};
use outcry::model::{Case, CaseStatus, Channel, Complainant, Engagement, Observation};
use outcry::pipeline::{Event, Pipeline};
use std::time::Instant;

const BRANDS: [(&str, &str); 6] = [
    ("甲选商城", "甲选"),
    ("乙辰汽车", "乙辰"),
    ("丙宝贷", "丙宝"),
    ("丁途旅行", "丁途"),
    ("戊到家", "戊到家"),
    ("己柠通信", "己柠"),
];
const PLACES: [&str; 12] = [
    "西安", "成都", "杭州", "沈阳", "广州", "武汉", "南京", "郑州", "长沙", "昆明", "合肥", "济南",
];
const PROBLEMS: [&str; 12] = [
    "发动机漏油",
    "车窗升降器坏了",
    "退款一直不到账",
    "重复扣款",
    "航班取消不给退",
    "送来的菜是坏的",
    "宽带销户收违约金",
    "客服态度很差",
    "商品是假货",
    "催收打给家人",
    "会员自动续费",
    "酒店超售没房",
];
const NOISE: [&str; 6] = [
    "今天天气不错, 去公园走走",
    "外卖又洒了, 商家说是骑手的问题",
    "周末去看了场电影, 还挺好看",
    "新学了一道红烧肉, 家里人都说好吃",
    "地铁又晚点了, 上班要迟到",
    "春节回家的票终于抢到了",
];

/// A small deterministic generator, so every run measures the same work.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn brands() -> Vec<BrandConfig> {
    BRANDS
        .iter()
        .map(|(name, alias)| BrandConfig {
            name: name.to_string(),
            aliases: vec![alias.to_string()],
            exclude: vec![],
        })
        .collect()
}

fn cases(rng: &mut Rng, count: usize) -> Vec<Case> {
    (0..count)
        .map(|i| {
            let (brand, _) = BRANDS[i % BRANDS.len()];
            let place = PLACES[rng.below(PLACES.len())];
            let problem = PROBLEMS[rng.below(PROBLEMS.len())];
            Case {
                id: format!("C-{i:05}"),
                brand: brand.to_string(),
                status: CaseStatus::Open,
                opened_at: None,
                channel: Some("hotline".into()),
                severity: Some("medium".into()),
                complainant: Complainant {
                    name: Some("王女士".into()),
                    phone: Some(format!("138****{:04}", rng.below(10_000))),
                    email: None,
                    handles: vec![format!("weibo:用户{i}")],
                },
                summary: format!(
                    "客户{}月{}日在{place}门店, {problem}, 金额{}元, 门店说是正常现象",
                    1 + rng.below(12),
                    1 + rng.below(28),
                    100 + rng.below(5000)
                ),
                demand: "退款并道歉".into(),
                identifiers: vec![format!("order:OD{:010}", i * 7919 + 13)],
                notes: "客户情绪激动".into(),
            }
        })
        .collect()
}

fn observations(
    rng: &mut Rng,
    count: usize,
    cases: &[Case],
    start: DateTime<FixedOffset>,
) -> Vec<Observation> {
    let mut out = Vec::with_capacity(count);
    let mut published: Vec<usize> = Vec::new();
    for i in 0..count {
        let at = start + Duration::seconds(i as i64 * 3);
        let roll = rng.below(100);
        // A fifth of the stream re-observes an earlier item with more engagement.
        if roll < 20 && !published.is_empty() {
            let earlier: &Observation = &out[published[rng.below(published.len())]];
            let mut again = earlier.clone();
            again.fetched_at = at;
            again.engagement.likes =
                Some(again.engagement.likes.unwrap_or(0) + rng.below(500) as i64);
            out.push(again);
            continue;
        }
        let (body, author) = if roll < 65 {
            (
                NOISE[rng.below(NOISE.len())].to_string(),
                format!("路人{}", rng.below(50_000)),
            )
        } else if roll < 90 {
            let (brand, alias) = BRANDS[rng.below(BRANDS.len())];
            let problem = PROBLEMS[rng.below(PROBLEMS.len())];
            (
                format!("{alias}的客服太差了, {problem}, 投诉到{brand}也没用"),
                format!("网友{}", rng.below(50_000)),
            )
        } else {
            let case = &cases[rng.below(cases.len())];
            let (_, alias) = BRANDS
                .iter()
                .find(|(b, _)| *b == case.brand)
                .copied()
                .unwrap_or(BRANDS[0]);
            let order = case.identifiers[0].trim_start_matches("order:");
            (
                format!("{alias}售后: 订单{order}, {}", case.summary),
                format!("车主{}", rng.below(50_000)),
            )
        };
        published.push(out.len());
        out.push(Observation {
            source: ["weibo", "forum", "news"][rng.below(3)].to_string(),
            channel: [Channel::Social, Channel::Forum, Channel::News][rng.below(3)],
            guid: format!("g-{i}"),
            url: Some(format!("https://example.invalid/p/{i}")),
            title: None,
            body: Some(body),
            author: Some(author),
            author_followers: None,
            published_at: Some(at),
            fetched_at: at,
            engagement: Engagement {
                reposts: Some(rng.below(50) as i64),
                comments: Some(rng.below(50) as i64),
                likes: Some(rng.below(200) as i64),
                views: None,
            },
        });
    }
    out
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let count: usize = std::env::var("OUTCRY_BENCH_OBSERVATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        let cases = cases(&mut rng, 2_000);
        let start = DateTime::parse_from_rfc3339("2026-03-01T00:00:00+08:00").expect("time");
        let observations = observations(&mut rng, count, &cases, start);
        let store = outcry::store::open_in_memory().await.expect("store");
        for case in &cases {
            store.upsert_case(case, chrono::Utc::now()).await.expect("case");
        }
        let mut pipeline = Pipeline::new(store, &brands(), LinkingConfig::default(), AssessConfig::default()).await.expect("pipeline");
        let began = Instant::now();
        let (mut mentions, mut links, mut alerts) = (0, 0, 0);
        // Batches as `outcry replay` makes them.
        for batch in observations.chunks(outcry::replay::BATCH) {
            for event in pipeline.process_batch(batch).await.expect("process") {
                match event {
                    Event::Mention { .. } => mentions += 1,
                    Event::Link { .. } => links += 1,
                    Event::Alert { .. } => alerts += 1,
                }
            }
        }
        let seconds = began.elapsed().as_secs_f64();
        println!(
            "replay: {count} observations, 2000 cases, 6 brands in {seconds:.2}s on one core = {:.0} observations/s",
            count as f64 / seconds
        );
        println!("events: {mentions} mentions, {links} links, {alerts} alerts");
        match peak_rss_mb() {
            Some(mb) => println!("peak resident memory: {mb:.0} MB"),
            None => println!("peak resident memory: unknown (no /proc/self/status)"),
        }
    });
}
