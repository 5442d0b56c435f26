//! Typed facts in words: why a case stands where it does, why a post was linked.

use super::text::clip;
use super::{Args, Ui};
use crate::model::{LinkEvidence, Reason};
use crate::risk::RiskReason;

/// Terms and names quoted from posts are bounded like any scraped text.
const TERM_CHARS: usize = 60;
const TERMS_SHOWN: usize = 12;

fn terms(ui: &Ui, terms: &[String]) -> String {
    ui.list(terms.iter().take(TERMS_SHOWN).map(|t| clip(t, TERM_CHARS)))
}

/// A score in [0, 1] with two decimals.
pub fn score(value: f64) -> String {
    format!("{value:.2}")
}

pub fn reason(ui: &Ui, reason: &Reason) -> String {
    match reason {
        Reason::FirstItem {
            channel,
            author,
            source,
            seen_at,
        } => ui.t(
            "reason-first-item",
            Args::new()
                .with("channel", channel.as_str())
                .with(
                    "author",
                    author
                        .as_deref()
                        .map_or_else(|| ui.word("author-unknown"), |a| clip(a, TERM_CHARS)),
                )
                .with("source", clip(source, TERM_CHARS))
                .with("seen", ui.when(*seen_at)),
        ),
        Reason::Spread {
            items,
            authors,
            sources,
        } => ui.t(
            "reason-spread",
            Args::new()
                .count("items", *items)
                .count("authors", *authors)
                .count("sources", *sources),
        ),
        Reason::NewsPickup { outlets } => ui.t(
            "reason-news-pickup",
            Args::new().with("outlets", terms(ui, outlets)),
        ),
        Reason::Interactions {
            total,
            growth_per_hour,
        } => ui.t(
            "reason-interactions",
            Args::new()
                .num("total", *total as f64)
                .num("growth", growth_per_hour.round()),
        ),
        Reason::Reposts { total } => {
            ui.t("reason-reposts", Args::new().num("total", *total as f64))
        }
        Reason::MeToo { retellings } => {
            ui.t("reason-me-too", Args::new().count("count", *retellings))
        }
        Reason::Threats { in_posts, in_notes } => {
            let noted = in_notes.iter().map(|term| {
                ui.t(
                    "reason-threat-in-notes",
                    Args::new().with("term", clip(term, TERM_CHARS)),
                )
            });
            let all: Vec<String> = in_posts
                .iter()
                .take(TERMS_SHOWN)
                .map(|t| clip(t, TERM_CHARS))
                .chain(noted)
                .collect();
            ui.t("reason-threats", Args::new().with("terms", ui.list(all)))
        }
        Reason::Rage { terms: found } => {
            ui.t("reason-rage", Args::new().with("terms", terms(ui, found)))
        }
        Reason::Safety { terms: found } => {
            ui.t("reason-safety", Args::new().with("terms", terms(ui, found)))
        }
        Reason::ThresholdsLowered { factor } => ui.t(
            "reason-thresholds-lowered",
            Args::new().with("factor", format!("{factor}")),
        ),
        Reason::Unlinked { channel, brand } => ui.t(
            "reason-unlinked",
            Args::new()
                .with("channel", channel.as_str())
                .with("brand", clip(brand, TERM_CHARS)),
        ),
    }
}

/// Why a private case may go public, in words.
pub fn risk_reason(ui: &Ui, reason: &RiskReason) -> String {
    let listed = |key: &str, list: &[String]| ui.t(key, Args::new().with("terms", terms(ui, list)));
    match reason {
        RiskReason::AlreadyPublic { terms } => listed("risk-already-public", terms),
        RiskReason::PublicChannel { terms } => listed("risk-public-channel", terms),
        RiskReason::Press { terms } => listed("risk-press", terms),
        RiskReason::Groups { terms } => listed("risk-groups", terms),
        RiskReason::FormalChannel { terms } => listed("risk-formal-channel", terms),
        RiskReason::Reach { terms } => listed("risk-reach", terms),
        RiskReason::MeToo { terms } => listed("risk-me-too", terms),
        RiskReason::Safety { terms } => listed("risk-safety", terms),
        RiskReason::Rage { terms } => listed("risk-rage", terms),
        RiskReason::Calm { terms } => listed("risk-calm", terms),
        RiskReason::KnownHandles { count } => {
            ui.t("risk-known-handles", Args::new().count("count", *count))
        }
        RiskReason::Severity { level } => ui.t(
            "risk-severity",
            Args::new().with("level", clip(level, TERM_CHARS)),
        ),
        RiskReason::Cluster { size, topic, cases } => ui.t(
            "risk-cluster",
            Args::new()
                .count("size", *size)
                .with("topic", self::terms(ui, topic))
                .with("cases", clip(&cases.join(", "), TERM_CHARS * 4)),
        ),
        RiskReason::PublicAlike { count } => {
            ui.t("risk-public-alike", Args::new().count("count", *count))
        }
        RiskReason::Waiting { days } => ui.t("risk-waiting", Args::new().num("days", *days as f64)),
    }
}

/// A cluster of same-story cases in short, "7 open cases about the E8 power cut"; None for
/// any other reason.
pub fn risk_cluster(ui: &Ui, reason: &RiskReason) -> Option<String> {
    let RiskReason::Cluster { size, topic, .. } = reason else {
        return None;
    };
    Some(
        ui.t(
            "risk-cluster-about",
            Args::new()
                .count("size", *size)
                .with("topic", terms(ui, topic)),
        ),
    )
}

pub fn link_evidence(ui: &Ui, evidence: &LinkEvidence) -> String {
    let clipped = |s: &str| clip(s, TERM_CHARS * 2);
    match evidence {
        LinkEvidence::Identifier { identifier } => ui.t(
            "ev-identifier",
            Args::new().with("identifier", clipped(identifier)),
        ),
        LinkEvidence::MaskedIdentifier {
            visible,
            identifier,
        } => ui.t(
            "ev-masked-identifier",
            Args::new()
                .with("visible", clipped(visible))
                .with("identifier", clipped(identifier)),
        ),
        LinkEvidence::PlaceName { name, identifier } => ui.t(
            "ev-place-name",
            Args::new()
                .with("name", clipped(name))
                .with("identifier", clipped(identifier)),
        ),
        LinkEvidence::PhoneTail { tail } => {
            ui.t("ev-phone-tail", Args::new().with("tail", clipped(tail)))
        }
        LinkEvidence::AuthorIsHandle { handle } => ui.t(
            "ev-author-is-handle",
            Args::new().with("handle", clipped(handle)),
        ),
        LinkEvidence::MentionsHandle { handle } => ui.t(
            "ev-mentions-handle",
            Args::new().with("handle", clipped(handle)),
        ),
        LinkEvidence::LinksLinkedPost { url } => ui.t(
            "ev-links-linked-post",
            Args::new().with("url", clipped(url)),
        ),
        LinkEvidence::AuthorIsVoice => ui.word("ev-author-is-voice"),
        LinkEvidence::VoiceFollowsUp => ui.word("ev-voice-follows-up"),
        LinkEvidence::ByHand { by } => ui.t("ev-by-hand", Args::new().with("by", clipped(by))),
        LinkEvidence::MentionsVoice { name } => {
            ui.t("ev-mentions-voice", Args::new().with("name", clipped(name)))
        }
        LinkEvidence::NamesVoice { name } => {
            ui.t("ev-names-voice", Args::new().with("name", clipped(name)))
        }
        LinkEvidence::Retells {
            score: used,
            case_text,
            story,
        } => ui.t(
            "ev-retells",
            Args::new()
                .with("score", score(*used))
                .with("case_text", score(*case_text))
                .with("story", score(*story)),
        ),
        LinkEvidence::FactAgrees { fact } => {
            ui.t("ev-fact-agrees", Args::new().with("fact", clipped(fact)))
        }
        LinkEvidence::FactConflicts { fact } => {
            ui.t("ev-fact-conflicts", Args::new().with("fact", clipped(fact)))
        }
        LinkEvidence::AnotherCaseFits { score: s } => {
            ui.t("ev-another-case-fits", Args::new().with("score", score(*s)))
        }
        LinkEvidence::IdentifierTail { tail, identifier } => ui.t(
            "ev-identifier-tail",
            Args::new()
                .with("tail", clipped(tail))
                .with("identifier", clipped(identifier)),
        ),
        LinkEvidence::BrandVariant { written, alias } => ui.t(
            "ev-brand-variant",
            Args::new()
                .with("written", clipped(written))
                .with("alias", clipped(alias)),
        ),
        LinkEvidence::HandleOffTopic { handle } => ui.t(
            "ev-handle-off-topic",
            Args::new().with("handle", clipped(handle)),
        ),
        LinkEvidence::TailWithConflict { tail } => ui.t(
            "ev-tail-with-conflict",
            Args::new().with("tail", clipped(tail)),
        ),
        LinkEvidence::NeedsSpecificFacts { agreeing } => ui.t(
            "ev-needs-specific-facts",
            Args::new().num("agreeing", *agreeing as u32),
        ),
        LinkEvidence::OwnStory => ui.word("ev-own-story"),
        LinkEvidence::NoCaseFits => ui.word("ev-no-case-fits"),
        LinkEvidence::Noted(text) => clipped(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::Language;

    fn ui(language: Language) -> Ui {
        Ui {
            language,
            ..Ui::default()
        }
    }

    #[test]
    fn evidence_is_worded_per_language_from_the_same_facts() {
        let evidence = LinkEvidence::Retells {
            score: 0.31,
            case_text: 0.22,
            story: 0.0,
        };
        assert_eq!(
            link_evidence(&ui(Language::En), &evidence),
            "retells the case: adds 0.31 (text 0.22, public story 0.00)"
        );
        assert_eq!(
            link_evidence(&ui(Language::ZhCn), &evidence),
            "复述本案：计分 0.31（与案件记录相似度 0.22，与公开经过相似度 0.00）"
        );
        let agrees = LinkEvidence::FactAgrees {
            fact: "place".into(),
        };
        assert_eq!(link_evidence(&ui(Language::ZhCn), &agrees), "地点一致");
        assert_eq!(link_evidence(&ui(Language::En), &agrees), "place agrees");
        // Every kind of fact the linker compares is worded, not shown by its key.
        for fact in [
            "place", "city", "amount", "rate", "date", "month", "model", "quote", "surname", "age",
            "story",
        ] {
            let conflicts = LinkEvidence::FactConflicts { fact: fact.into() };
            let zh = link_evidence(&ui(Language::ZhCn), &conflicts);
            assert!(!zh.contains(fact), "{zh}");
        }
    }

    #[test]
    fn reasons_carry_their_numbers_in_both_languages() {
        let spread = Reason::Spread {
            items: 3,
            authors: 2,
            sources: 1,
        };
        assert_eq!(
            reason(&ui(Language::En), &spread),
            "3 public items by 2 distinct authors on 1 sources"
        );
        assert_eq!(
            reason(&ui(Language::ZhCn), &spread),
            "2 位作者在 1 个数据源发布了 3 条公开内容"
        );
        let interactions = Reason::Interactions {
            total: 12_000,
            growth_per_hour: 36.6,
        };
        assert_eq!(
            reason(&ui(Language::ZhCn), &interactions),
            "共 1.2万 次互动（转发、评论、点赞），每小时增长 37"
        );
        assert_eq!(
            reason(&ui(Language::En), &interactions),
            "12,000 interactions (reposts, comments, likes), growing 37 per hour"
        );
    }
}
