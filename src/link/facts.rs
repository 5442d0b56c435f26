//! Facts a complaint lead would compare between a post and a case: where it happened, when,
//! how much money, and who (a platform's masked name like "谢**"). Two retellings of one
//! story agree on them; a decoy about the same kind of problem by someone else contradicts
//! them.

use crate::normalize::places::Gazetteer;
use crate::normalize::{fold, is_han};
use std::collections::BTreeSet;

/// Two-character surnames, so that "欧阳**" is compared on 欧阳 and not on 欧.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "慕容", "东方", "皇甫", "令狐", "司徒", "夏侯", "尉迟", "长孙",
    "宇文", "公孙",
];

/// The comparable facts of one text (already folded).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    provinces: BTreeSet<u16>,
    /// Provinces of someone else the text alludes to ("看到黑龙江那个车主的事，想起我自己"):
    /// they agree when the post retells that story, and say nothing about the author's own.
    alluded_provinces: BTreeSet<u16>,
    /// Cities (as the gazetteer numbers them): two stories in one province are still told
    /// apart by their cities.
    cities: BTreeSet<u16>,
    /// Amounts of money in yuan, times 100.
    amounts: BTreeSet<u64>,
    /// Percentages (interest rates, fees), times 100.
    rates: BTreeSet<u64>,
    /// (month, day) pairs.
    days: BTreeSet<(u8, u8)>,
    /// Days of the month named without their month ("8日，绵阳一名孕妇…"): news writes the
    /// current month's days so. They can only agree: the same report names the days since.
    bare_days: BTreeSet<u8>,
    months: BTreeSet<u8>,
    /// Ages ("68岁的母亲"): only agreement counts, as a story names its people's relatives.
    ages: BTreeSet<u16>,
    /// Surnames of people named by title ("宁女士", "赵先生"): a retelling names the
    /// complainant so; staff are named so too, hence only agreement counts.
    titled_surnames: BTreeSet<char>,
    /// Model names: words of letters and digits ("c200", "e8", "s5").
    models: BTreeSet<String>,
    /// What someone said, as quoted ("“电池属于易损件”"): staff's words are what a retelling
    /// keeps and another customer's story does not share.
    quotes: Vec<String>,
    /// The text says its author had the same trouble ("我也是…", "我家也…"): its own story.
    me_too: bool,
    /// The surname of a masked author name ("谢**"), for posts.
    masked_surname: Option<String>,
    /// Provinces the author's name places them in ("济南开车的小王"), or their own words
    /// do (a Hong Kong writer's "香港" beside "内地"), for posts.
    author_provinces: BTreeSet<u16>,
}

impl Facts {
    pub fn of_text(folded: &str, gazetteer: &Gazetteer) -> Facts {
        let (alluded, places): (Vec<_>, Vec<_>) = gazetteer
            .places_in(folded)
            .into_iter()
            .partition(|p| alludes_to_someone(&folded[p.end..]));
        // "内地物业…香港屋苑至少有人": a story set on the mainland, told by a writer who names
        // their own Hong Kong (or Macau, or Taiwan) beside it.
        let mainland = names_the_mainland(folded);
        let (vantage, places): (Vec<_>, Vec<_>) = places
            .into_iter()
            .partition(|p| p.beyond_mainland && mainland);
        let mut facts = Facts {
            provinces: places.iter().map(|p| p.province).collect(),
            alluded_provinces: alluded.iter().map(|p| p.province).collect(),
            cities: places.iter().filter_map(|p| p.city).collect(),
            author_provinces: vantage.iter().map(|p| p.province).collect(),
            ..Facts::default()
        };
        scan_numbers(folded, &mut facts);
        scan_english_dates(folded, &mut facts);
        facts.titled_surnames = titled_surnames(folded);
        facts.models = models_in(folded);
        facts.quotes = quotes_in(folded);
        facts.me_too = tells_own_story(folded);
        facts
    }

    /// A case's own words, against which a post's quotes are read: staff's words are often
    /// typed into the case without quotation marks.
    pub fn with_words(mut self, text: &str) -> Facts {
        self.quotes
            .push(text.chars().take(MAX_CASE_WORDS).collect());
        self
    }

    /// The first day (month, day) the text names, when the story may have begun.
    pub fn earliest_day(&self) -> Option<(u8, u8)> {
        self.days.iter().next().copied()
    }

    pub fn me_too(&self) -> bool {
        self.me_too
    }

    /// Adds what `other` knows, as a case learns from the posts linked to it.
    pub fn absorb(&mut self, other: &Facts) {
        // Cities are not learned: a post confirmed for a case often names where else the
        // same thing happened, and a case's city is what tells it from its neighbours.
        self.provinces.extend(&other.provinces);
        self.amounts.extend(&other.amounts);
        self.rates.extend(&other.rates);
        self.days.extend(&other.days);
        self.months.extend(&other.months);
        self.ages.extend(&other.ages);
        self.models.extend(other.models.iter().cloned());
        for quote in &other.quotes {
            if !self.quotes.contains(quote) && self.quotes.len() < MAX_QUOTES {
                self.quotes.push(quote.clone());
            }
        }
    }

    pub fn with_author(mut self, author: Option<&str>, gazetteer: &Gazetteer) -> Facts {
        self.masked_surname = author.and_then(masked_surname);
        if let Some(author) = author {
            self.author_provinces
                .extend(gazetteer.provinces_in(&fold(author)));
        }
        self
    }
}

/// How a post's facts compare with a case's: each kind of fact that both name either agrees
/// or conflicts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub agree: Vec<&'static str>,
    pub conflict: Vec<&'static str>,
}

pub fn compare(post: &Facts, case: &Facts, complainant_name: Option<&str>) -> Comparison {
    let mut result = Comparison::default();
    // A post that names the case's place and another one, where its author lives, tells
    // its own story there ("萧山那家店…我们济南这边也…" by "济南车主").
    let elsewhere = post
        .provinces
        .difference(&case.provinces)
        .any(|p| post.author_provinces.contains(p));
    result.judge(
        "place",
        !post.provinces.is_empty() && !case.provinces.is_empty(),
        !post.provinces.is_disjoint(&case.provinces) && !elsewhere,
    );
    // A post that names no place but whose author's name does ("南京妈妈帮") agrees when
    // that is the case's place: local accounts retell local stories. Commentators live
    // anywhere, so another place says nothing.
    let alluded_agree = !post.alluded_provinces.is_disjoint(&case.provinces);
    if post.provinces.is_empty()
        && (alluded_agree || !post.author_provinces.is_disjoint(&case.provinces))
    {
        result.agree.push("place");
    }
    // Within a province, the city decides; a post naming the case's city and its author's
    // own elsewhere was already judged above.
    // Within a province the city tells stories apart; agreeing on it is the same fact as
    // agreeing on the place, so only a different city counts.
    let same_province = !post.provinces.is_disjoint(&case.provinces) && !elsewhere;
    if same_province
        && !post.cities.is_empty()
        && !case.cities.is_empty()
        && post.cities.is_disjoint(&case.cities)
    {
        result.conflict.push("city");
    }
    result.judge(
        "amount",
        !post.amounts.is_empty() && !case.amounts.is_empty(),
        !post.amounts.is_disjoint(&case.amounts),
    );
    result.judge(
        "rate",
        !post.rates.is_empty() && !case.rates.is_empty(),
        !post.rates.is_disjoint(&case.rates),
    );
    if !post.days.is_empty() && !case.days.is_empty() {
        // Days are what a retelling keeps; sharing only the month with a different day is
        // someone else's story in the same season.
        result.judge("date", true, !post.days.is_disjoint(&case.days));
    } else {
        result.judge(
            "month",
            !post.months.is_empty() && !case.months.is_empty(),
            !post.months.is_disjoint(&case.months),
        );
    }
    if !result.agree.contains(&"date")
        && case
            .days
            .iter()
            .any(|(_, day)| post.bare_days.contains(day))
    {
        result.agree.push("date");
    }
    if !post.ages.is_disjoint(&case.ages) {
        result.agree.push("age");
    }
    result.judge(
        "model",
        !post.models.is_empty() && !case.models.is_empty(),
        !post.models.is_disjoint(&case.models),
    );
    // Words quoted alike agree; other words quoted are no contradiction (staff say much).
    if post
        .quotes
        .iter()
        .any(|q| case.quotes.iter().any(|c| share_words(q, c)))
    {
        result.agree.push("quote");
    }
    if let (Some(surname), Some(name)) = (&post.masked_surname, complainant_name) {
        result.judge(
            "surname",
            !name.is_empty(),
            name.starts_with(surname.as_str()),
        );
    }
    let titled = complainant_name
        .and_then(|name| name.chars().next())
        .is_some_and(|surname| post.titled_surnames.contains(&surname));
    if titled && !result.agree.contains(&"surname") && !result.conflict.contains(&"surname") {
        result.agree.push("surname");
    }
    result
}

impl Comparison {
    /// Records a kind of fact that both texts name, as agreeing or conflicting.
    fn judge(&mut self, name: &'static str, both_name_it: bool, agree: bool) {
        if both_name_it {
            if agree {
                self.agree.push(name);
            } else {
                self.conflict.push(name);
            }
        }
    }
}

fn names_the_mainland(folded: &str) -> bool {
    folded.contains("内地") || folded.contains("大陆")
}

/// Words that, right after a place, point at a person there ("黑龙江那个车主", "成都那位大姐"):
/// the place is that person's, not necessarily the author's.
const ALLUSIONS: &[&str] = &["那个", "那位", "那名", "那对", "那户"];

fn alludes_to_someone(after_place: &str) -> bool {
    let after = after_place.strip_prefix('的').unwrap_or(after_place);
    ALLUSIONS.iter().any(|a| after.starts_with(a))
}

/// Phrases by which an author says the trouble was theirs as well.
const ME_TOO: &[&str] = &[
    "同样遭遇",
    "还有谁",
    "有一样的",
    "跟我一样",
    "一样也",
    "不止我",
];
/// After "我…也", words of opinion: "我也觉得" is a commentator agreeing, not a story.
const OPINION_AFTER_ALSO: &[char] = &[
    '觉', '想', '希', '支', '认', '看', '转', '说', '很', '太', '行', '可',
];

/// Whether the author tells a story of their own like the case's: "我也报了", "我们这边也是",
/// "还有谁是一样的".
fn tells_own_story(folded: &str) -> bool {
    // Quoted words are someone else's ("放我这也行" said the driver).
    let own = unquoted(folded);
    if ME_TOO.iter().any(|m| own.contains(m)) {
        return true;
    }
    let chars: Vec<char> = own.chars().collect();
    chars.iter().enumerate().any(|(i, c)| {
        *c == '也'
            && !chars
                .get(i + 1)
                .is_some_and(|next| OPINION_AFTER_ALSO.contains(next))
            && chars[i.saturating_sub(4)..i]
                .iter()
                .rev()
                .take_while(|c| is_han(**c))
                .any(|c| *c == '我')
    })
}
/// How much of a case's own text is kept to read quotes against, in characters.
const MAX_CASE_WORDS: usize = 2000;
/// Quotes a case keeps from its linked posts, so a busy case does not grow without bound.
const MAX_QUOTES: usize = 64;
/// Characters a quoted phrase and another must share in a row to be the same words.
const QUOTE_OVERLAP: usize = 4;

/// Letter-and-digit words that name a model ("c200", "e8 pro" gives "e8"); not identifiers
/// (long), amounts or plain words.
fn models_in(folded: &str) -> BTreeSet<String> {
    folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            (2..=6).contains(&w.len())
                && w.starts_with(|c: char| c.is_ascii_alphabetic())
                && w.contains(|c: char| c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

/// The text without what it quotes.
fn unquoted(folded: &str) -> String {
    let mut own = String::with_capacity(folded.len());
    let mut closer: Option<char> = None;
    for c in folded.chars() {
        match closer {
            Some(close) if c == close => closer = None,
            Some(_) => {}
            None => match c {
                '“' => closer = Some('”'),
                '「' => closer = Some('」'),
                '『' => closer = Some('』'),
                _ => own.push(c),
            },
        }
    }
    own
}

/// Phrases inside quotation marks, at least a few characters long.
fn quotes_in(folded: &str) -> Vec<String> {
    let mut quotes = Vec::new();
    let mut rest = folded;
    while let Some(open) = rest.find(['“', '「', '"', '『']) {
        let after = &rest[open..];
        let opener = after.chars().next().unwrap_or('"');
        let closer = match opener {
            '“' => '”',
            '「' => '」',
            '『' => '』',
            _ => '"',
        };
        let inner = &after[opener.len_utf8()..];
        let Some(close) = inner.find(closer) else {
            break;
        };
        let quote = &inner[..close];
        if quote.chars().count() >= QUOTE_OVERLAP && quote.chars().count() <= 80 {
            quotes.push(quote.to_string());
        }
        rest = &inner[close + closer.len_utf8()..];
    }
    quotes
}

/// Whether two quoted phrases share a run of `QUOTE_OVERLAP` characters.
fn share_words(a: &str, b: &str) -> bool {
    let chars: Vec<char> = a.chars().filter(|c| !c.is_whitespace()).collect();
    let b: String = b.chars().filter(|c| !c.is_whitespace()).collect();
    chars
        .windows(QUOTE_OVERLAP)
        .any(|w| b.contains(&w.iter().collect::<String>()))
}

/// "谢**" → "谢"; "欧阳*" → "欧阳"; anything else → None.
fn masked_surname(author: &str) -> Option<String> {
    let author = author.trim();
    let stars = author.find('*')?;
    let (name, rest) = author.split_at(stars);
    if !rest.chars().all(|c| c == '*') || name.is_empty() || !name.chars().all(is_han) {
        return None;
    }
    let surname = COMPOUND_SURNAMES
        .iter()
        .find(|s| name.starts_with(*s))
        .map(|s| s.to_string())
        .unwrap_or_else(|| name.chars().take(1).collect());
    Some(surname)
}

/// Finds amounts ("960元", "1.5万", "¥2340"), dates ("2月15日", "2月15号") and months
/// ("12月底") in one pass over the digit runs.
fn scan_numbers(text: &str, facts: &mut Facts) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        // A comma inside the run groups thousands ("3,200"); after it, it ends the clause.
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || chars[i] == ',' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            i += 1;
        }
        let mut end_int = i;
        let mut fraction = String::new();
        if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                fraction.push(chars[i]);
                i += 1;
            }
        } else {
            end_int = i;
        }
        let digits: String = chars[start..end_int]
            .iter()
            .filter(|c| **c != ',')
            .collect();
        let Ok(whole) = digits.parse::<u64>() else {
            continue;
        };
        // A digit run glued to letters is part of an identifier, not a quantity.
        let glued = start > 0 && chars[start - 1].is_ascii_alphabetic()
            || chars.get(i).is_some_and(|c| c.is_ascii_alphabetic());
        if glued {
            continue;
        }
        // "¥2340", and "违约金720" / "退款300" where the money word comes first.
        let preceded_by_currency = start > 0
            && matches!(
                chars[start - 1],
                '¥' | '$' | '金' | '费' | '款' | '价' | '钱' | '退' | '扣' | '付' | '赔' | '充'
            );
        let mut j = i;
        while j < chars.len() && matches!(chars[j], ' ' | '-') {
            j += 1;
        }
        let next = chars.get(j).copied();
        // "赔了3200，" / "花了960": a sum paid or refunded, when no unit ("次", "天") follows.
        let paid = start >= 2
            && chars[start - 1] == '了'
            && matches!(
                chars[start - 2],
                '赔' | '退' | '扣' | '付' | '花' | '罚' | '交' | '补' | '还'
            )
            && next.is_none_or(|c| !c.is_alphanumeric());
        let cents = whole.saturating_mul(100) + fraction_cents(&fraction);
        // An English retelling: "2,140 yuan", "a 7,680-yuan course".
        let english_money = ["yuan", "rmb"].iter().any(|word| {
            chars[j.min(chars.len())..]
                .iter()
                .take(word.len())
                .copied()
                .eq(word.chars())
        });
        if english_money {
            facts.amounts.insert(cents);
            continue;
        }
        match next {
            // 蚊 is how Cantonese says yuan (or dollars) after a number.
            Some('元' | '块' | '蚊') => {
                facts.amounts.insert(cents);
            }
            Some('万') => {
                facts.amounts.insert(cents.saturating_mul(10_000));
            }
            Some('月') if (1..=12).contains(&whole) && fraction.is_empty() => {
                let month = whole as u8;
                facts.months.insert(month);
                if let Some(day) = day_after(&chars, j + 1) {
                    facts.days.insert((month, day));
                }
            }
            Some('%') => {
                facts.rates.insert(cents);
            }
            Some('日')
                if (1..=31).contains(&whole)
                    && fraction.is_empty()
                    && (start == 0 || chars[start - 1] != '月')
                    && !names_a_span(&chars[j + 1..]) =>
            {
                facts.bare_days.insert(whole as u8);
            }
            Some('岁') if (1..=120).contains(&whole) && fraction.is_empty() => {
                facts.ages.insert(whole as u16);
            }
            _ if preceded_by_currency || paid => {
                facts.amounts.insert(cents);
            }
            _ => {}
        }
    }
}

/// After "N日": a span of days ("7日内", "7日无理由退货"), not a day of the month.
fn names_a_span(after: &[char]) -> bool {
    matches!(after.first(), Some('内' | '无' | '后' | '起' | '以'))
}

/// Words that stand before a title without being a surname: "该女士", "一位先生".
const NOT_SURNAMES: &[char] = &[
    '该', '这', '那', '位', '名', '个', '某', '女', '男', '的', '老', '小', '和', '与', '及',
];

/// "宁女士", "赵先生", "刘小姐" → their surnames.
fn titled_surnames(folded: &str) -> BTreeSet<char> {
    let chars: Vec<char> = folded.chars().collect();
    let mut surnames = BTreeSet::new();
    for title in ["女士", "先生", "小姐"] {
        let title: Vec<char> = title.chars().collect();
        for (i, window) in chars.windows(title.len()).enumerate() {
            if window != title.as_slice() || i == 0 {
                continue;
            }
            let surname = chars[i - 1];
            if is_han(surname) && !NOT_SURNAMES.contains(&surname) {
                surnames.insert(surname);
            }
        }
    }
    surnames
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// "July 10" and "10 July" in an English retelling (text already lower-cased).
fn scan_english_dates(folded: &str, facts: &mut Facts) {
    if !folded.is_ascii() && folded.chars().filter(|c| c.is_ascii_alphabetic()).count() < 20 {
        return;
    }
    let words: Vec<&str> = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    for (i, word) in words.iter().enumerate() {
        let Some(month) = MONTHS.iter().position(|m| m == word) else {
            continue;
        };
        // Only with its day: "may" is also a verb, and a month alone says little.
        let month = month as u8 + 1;
        let day = |w: Option<&&str>| {
            w.and_then(|w| w.parse::<u8>().ok())
                .filter(|d| (1..=31).contains(d))
        };
        if let Some(d) =
            day(words.get(i + 1)).or_else(|| day(i.checked_sub(1).and_then(|j| words.get(j))))
        {
            facts.months.insert(month);
            facts.days.insert((month, d));
        }
    }
}

fn fraction_cents(fraction: &str) -> u64 {
    let mut digits = fraction.chars().chain(std::iter::repeat('0')).take(2);
    let tens = digits.next().and_then(|c| c.to_digit(10)).unwrap_or(0);
    let ones = digits.next().and_then(|c| c.to_digit(10)).unwrap_or(0);
    u64::from(tens * 10 + ones)
}

/// "15日" / "15号" right after "N月".
fn day_after(chars: &[char], from: usize) -> Option<u8> {
    let mut i = from;
    while i < chars.len() && chars[i] == ' ' {
        i += 1;
    }
    let start = i;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if i == start || i - start > 2 || !matches!(chars.get(i), Some('日' | '号')) {
        return None;
    }
    let day: u8 = chars[start..i].iter().collect::<String>().parse().ok()?;
    (1..=31).contains(&day).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::fold;

    fn facts(text: &str) -> Facts {
        Facts::of_text(&fold(text), &Gazetteer::new())
    }

    #[test]
    fn an_author_telling_their_own_like_story_is_told_from_a_retelling() {
        for own in [
            "我也报了这个班",
            "我们这边也是这家物业",
            "还有谁是一样的",
            "我家也是在泉州报的",
        ] {
            assert!(facts(own).me_too(), "{own}");
        }
        for retelling in [
            "我也觉得太过分了",
            "司机说“放我这也行”",
            "宁妈的遭遇让人心寒",
        ] {
            assert!(!facts(retelling).me_too(), "{retelling}");
        }
    }

    #[test]
    fn amounts_dates_and_months_are_read() {
        let f = facts("2月15日还了468元, 又扣了¥468, 共1.5万, 12月底再说, 合同SBD2025");
        assert_eq!(f.amounts, BTreeSet::from([46_800, 1_500_000]));
        assert_eq!(f.days, BTreeSet::from([(2, 15)]));
        assert_eq!(f.months, BTreeSet::from([2, 12]));
    }

    #[test]
    fn a_sum_paid_or_refunded_needs_no_unit_but_a_count_is_no_sum() {
        let f = facts("赔了3200，另外花了960。退了3次才退了1500");
        assert_eq!(f.amounts, BTreeSet::from([320_000, 96_000, 150_000]));
        assert!(facts("退了3次, 等了20").amounts.is_empty());
    }

    #[test]
    fn money_words_before_a_number_and_percentages_are_read() {
        let f = facts("违约金720, 退款 300, 年化约35.8%");
        assert_eq!(f.amounts, BTreeSet::from([72_000]));
        assert_eq!(f.rates, BTreeSet::from([3_580]));
        let case = facts("年化约35.8%");
        assert_eq!(
            compare(&facts("年化快36%了"), &case, None).conflict,
            ["rate"]
        );
    }

    #[test]
    fn a_cantonese_amount_in_man_is_yuan() {
        let f = facts("得返23蚊");
        assert_eq!(f.amounts, BTreeSet::from([2_300]));
    }

    #[test]
    fn full_width_digits_count_after_folding() {
        let f = facts("２月１５号退了９６０块");
        assert_eq!(f.amounts, BTreeSet::from([96_000]));
        assert_eq!(f.days, BTreeSet::from([(2, 15)]));
    }

    #[test]
    fn different_provinces_conflict_and_same_province_agrees() {
        let case = facts("客户在北辰汽车沈阳铁西4S店购买");
        assert_eq!(
            compare(&facts("哈尔滨, 去年7月提的车"), &case, None).conflict,
            ["place"]
        );
        assert_eq!(compare(&facts("辽宁的车主"), &case, None).agree, ["place"]);
        assert!(compare(&facts("没有地点的帖子"), &case, None)
            .conflict
            .is_empty());
    }

    #[test]
    fn a_post_about_the_authors_own_place_conflicts_even_when_it_names_the_cases() {
        let gazetteer = Gazetteer::new();
        let case = facts("客户在杭州萧山店提车");
        let post = facts("萧山店那样说过, 我们济南这边的店也一样")
            .with_author(Some("济南车主"), &gazetteer);
        assert_eq!(compare(&post, &case, None).conflict, ["place"]);
        // A commentator from elsewhere who only names the case's place still agrees.
        let post = facts("杭州萧山那家店太过分").with_author(Some("济南车主"), &gazetteer);
        assert_eq!(compare(&post, &case, None).agree, ["place"]);
    }

    #[test]
    fn a_hong_kong_writer_naming_home_beside_the_mainland_sets_no_place() {
        let case = facts("长沙一个小区电梯困人一个多小时, 物业电话没人接");
        let from_hong_kong = facts("內地物業電梯困人, 熱線冇人聽, 香港屋苑管理處至少有人");
        let compared = compare(&from_hong_kong, &case, None);
        assert!(!compared.conflict.contains(&"place"), "{compared:?}");
        // Without the mainland named, Hong Kong is where the story is.
        let at_home = facts("香港屋苑電梯困人, 熱線冇人聽");
        assert_eq!(compare(&at_home, &case, None).conflict, ["place"]);
    }

    #[test]
    fn a_place_alluded_to_as_someone_elses_agrees_but_never_conflicts() {
        let allusion = "看到黑龙江那个车主的事, 想起我去年提车也漏油";
        let own_case = facts("客户在石家庄裕华4S店购车, 发动机漏油");
        assert!(compare(&facts(allusion), &own_case, None)
            .conflict
            .is_empty());
        let alluded_case = facts("客户在绥化4S店购车, 车窗故障");
        assert_eq!(
            compare(&facts(allusion), &alluded_case, None).agree,
            ["place"]
        );
        // Without the pointing word the place is the post's own and conflicts.
        let own_place = facts("黑龙江车主, 去年提车也漏油");
        assert_eq!(compare(&own_place, &own_case, None).conflict, ["place"]);
    }

    #[test]
    fn traditional_place_names_match_simplified_cases() {
        let case = facts("黑龙江绥化车主");
        assert_eq!(compare(&facts("黑龍江車主"), &case, None).agree, ["place"]);
    }

    #[test]
    fn masked_author_surname_is_compared_with_the_complainant() {
        let post = facts("投诉").with_author(Some("谢**"), &Gazetteer::new());
        assert_eq!(
            compare(&post, &Facts::default(), Some("高女士")).conflict,
            ["surname"]
        );
        assert_eq!(
            compare(&post, &Facts::default(), Some("谢先生")).agree,
            ["surname"]
        );
        assert_eq!(masked_surname("欧阳*").as_deref(), Some("欧阳"));
        assert_eq!(masked_surname("小王爱吃梨"), None);
    }

    #[test]
    fn dates_agree_on_the_day_and_conflict_on_another_day_or_month() {
        let case = facts("2月16日航司通知航班取消");
        assert_eq!(
            compare(&facts("2月16号取消的"), &case, None).agree,
            ["date"]
        );
        assert_eq!(
            compare(&facts("1月28日的航班"), &case, None).conflict,
            ["date"]
        );
        assert_eq!(
            compare(&facts("2月6号申请的"), &case, None).conflict,
            ["date"]
        );
        assert_eq!(compare(&facts("2月底的事"), &case, None).agree, ["month"]);
        assert_eq!(
            compare(&facts("16日，航班取消"), &case, None).agree,
            ["date"]
        );
        let other_day = compare(&facts("17日，航班取消"), &case, None);
        assert!(other_day.agree.is_empty() && other_day.conflict.is_empty());
        assert!(facts("7日内退款，7日无理由退货").bare_days.is_empty());
        assert_eq!(
            compare(&facts("1月底的事"), &case, None).conflict,
            ["month"]
        );
    }

    #[test]
    fn ages_and_titled_surnames_only_ever_agree() {
        let case = facts("催收打给他母亲（68岁）");
        assert_eq!(
            compare(&facts("打给他68岁的母亲"), &case, None).agree,
            ["age"]
        );
        assert!(compare(&facts("打给他70岁的母亲"), &case, None)
            .conflict
            .is_empty());
        let named = facts("近日，平顶山宁女士反映退费扣除不合理，该女士称");
        assert_eq!(named.titled_surnames, BTreeSet::from(['宁']));
        assert_eq!(
            compare(&named, &facts("退费"), Some("宁女士")).agree,
            ["surname"]
        );
        let other = compare(&named, &facts("退费"), Some("祁先生"));
        assert!(other.agree.is_empty() && other.conflict.is_empty());
    }
}
