//! Feed parsing speed over a mixed set: RSS 2.0, RSS 1.0, Atom and JSON Feed, each with
//! Chinese text, markup in CDATA and escaped, dates and authors, as `extract_feed` reads them
//! on every poll.
//!
//!     cargo bench --bench feeds

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use outcry::extract::feed::extract_feed;
use std::fmt::Write;

const ITEMS: usize = 40;

fn title(i: usize) -> String {
    format!("第{i}号帖子：发动机漏油，4S店态度恶劣，客服不理")
}

fn body(i: usize) -> String {
    format!(
        "<p>车主投诉第{i}次，刚买半年的车<b>发动机漏油</b>三次，要求退车并赔偿损失。</p>\
         <p>详情见 <a href=\"http://bbs.example.cn/t/{i}?a=1&amp;b=2\">原帖</a>。</p>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn rss2() -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\n<channel>\
         <title>车友论坛</title><link>http://bbs.example.cn/</link>\
         <description>车友交流，维权投诉</description>\n",
    );
    for i in 0..ITEMS {
        let _ = writeln!(
            s,
            "<item><title>{}</title><link>http://bbs.example.cn/thread/{i}</link>\
             <guid isPermaLink=\"false\">thread-{i}</guid>\
             <description><![CDATA[{}]]></description>\
             <content:encoded>{}</content:encoded>\
             <dc:creator>车主{i}</dc:creator>\
             <pubDate>Fri, 20 Nov 2026 08:{:02}:00 +0800</pubDate></item>",
            title(i),
            body(i),
            escape(&body(i)),
            i % 60
        );
    }
    s.push_str("</channel></rss>\n");
    s
}

fn rss1() -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
         xmlns=\"http://purl.org/rss/1.0/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n\
         <channel rdf:about=\"http://news.example.cn/\"><title>新闻</title>\
         <link>http://news.example.cn/</link><description>新闻</description></channel>\n",
    );
    for i in 0..ITEMS {
        let _ = writeln!(
            s,
            "<item rdf:about=\"http://news.example.cn/a/{i}\"><title>{}</title>\
             <link>http://news.example.cn/a/{i}</link><description>{}</description>\
             <dc:date>2026-11-20T08:{:02}:00+08:00</dc:date><dc:creator>记者{i}</dc:creator></item>",
            title(i),
            escape(&body(i)),
            i % 60
        );
    }
    s.push_str("</rdf:RDF>\n");
    s
}

fn atom() -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>新闻</title><id>urn:example:news</id><updated>2026-11-20T09:30:00+08:00</updated>\
         <link rel=\"alternate\" href=\"https://news.example.com/\"/>\n",
    );
    for i in 0..ITEMS {
        let _ = writeln!(
            s,
            "<entry><id>urn:example:news:{i}</id><title type=\"text\">{}</title>\
             <link rel=\"alternate\" type=\"text/html\" href=\"https://news.example.com/a/{i}.html\"/>\
             <published>2026-11-20T09:{:02}:00+08:00</published>\
             <updated>2026-11-20T10:00:00+08:00</updated>\
             <author><name>记者 李明</name></author>\
             <summary>摘要{i}</summary><content type=\"html\">{}</content></entry>",
            title(i),
            i % 60,
            escape(&body(i))
        );
    }
    s.push_str("</feed>\n");
    s
}

fn json_feed() -> String {
    let items: Vec<serde_json::Value> = (0..ITEMS)
        .map(|i| {
            serde_json::json!({
                "id": format!("post-{i}"),
                "url": format!("https://blog.example.com/posts/{i}"),
                "title": title(i),
                "content_html": body(i),
                "date_published": format!("2026-11-19T20:{:02}:00+08:00", i % 60),
                "authors": [{"name": "维权车主"}],
            })
        })
        .collect();
    serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "博客",
        "items": items,
    })
    .to_string()
}

fn bench(c: &mut Criterion) {
    let feeds = [rss2(), rss1(), atom(), json_feed()];
    let page = url::Url::parse("http://bbs.example.cn/feed").expect("a valid URL");
    for feed in &feeds {
        let items = extract_feed(feed, &page)
            .map(|f| f.items.len())
            .unwrap_or(0);
        assert_eq!(items, ITEMS, "every bench feed must read in full");
    }
    let mut group = c.benchmark_group("extract_feed");
    group.throughput(Throughput::Bytes(
        feeds.iter().map(|f| f.len() as u64).sum(),
    ));
    group.bench_function("mixed", |b| {
        b.iter(|| {
            for feed in &feeds {
                let _ = std::hint::black_box(extract_feed(std::hint::black_box(feed), &page));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
