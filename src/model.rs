//! Domain types shared by the pipeline stages.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of public place an item was seen on; it decides how much an item weighs as a
/// channel for a complaint to go public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Social,
    Video,
    Forum,
    Complaint,
    News,
    Blog,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Social => "social",
            Channel::Video => "video",
            Channel::Forum => "forum",
            Channel::Complaint => "complaint",
            Channel::News => "news",
            Channel::Blog => "blog",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Some(match s {
            "social" => Channel::Social,
            "video" => Channel::Video,
            "forum" => Channel::Forum,
            "complaint" => Channel::Complaint,
            "news" => Channel::News,
            "blog" => Channel::Blog,
            _ => return None,
        })
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Engagement counts as a source shows them; `None` where the source does not show a count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    pub reposts: Option<i64>,
    pub comments: Option<i64>,
    pub likes: Option<i64>,
    pub views: Option<i64>,
}

impl Engagement {
    /// Interactions that take an effort (reposts, comments, likes); views are counted apart.
    pub fn interactions(&self) -> i64 {
        self.reposts.unwrap_or(0) + self.comments.unwrap_or(0) + self.likes.unwrap_or(0)
    }
}

/// One sighting of a public item, as fetched from a source (or read from an evaluation set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub source: String,
    pub channel: Channel,
    pub guid: String,
    pub url: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub author: Option<String>,
    /// The author's followers when the source shows them: the reach of this channel.
    #[serde(default)]
    pub author_followers: Option<i64>,
    pub published_at: Option<DateTime<FixedOffset>>,
    pub fetched_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub engagement: Engagement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    Open,
    Closed,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Complainant {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// `platform:handle` pairs.
    #[serde(default)]
    pub handles: Vec<String>,
}

/// A private complaint case as the complaint team keeps it (eval/FORMAT.md `cases.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub brand: String,
    pub status: CaseStatus,
    #[serde(default)]
    pub opened_at: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub complainant: Complainant,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub demand: String,
    /// `kind:value` pairs (order numbers, VINs, plates, ...).
    #[serde(default)]
    pub identifiers: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

impl Case {
    pub fn is_open(&self) -> bool {
        self.status == CaseStatus::Open
    }
}

/// How far a case's story has gone public. Stages only move up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Surfaced,
    Spreading,
    Viral,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Surfaced => "surfaced",
            Stage::Spreading => "spreading",
            Stage::Viral => "viral",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "surfaced" => Stage::Surfaced,
            "spreading" => Stage::Spreading,
            "viral" => Stage::Viral,
            _ => return None,
        })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an outbox email is about: a case reaching a stage, a public complaint matching no
/// case, the daily digest, or (for the operator, not the PR team) a source that went down or
/// came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    Surfaced,
    Spreading,
    Viral,
    Unlinked,
    #[serde(rename = "source-down")]
    SourceDown,
    #[serde(rename = "source-up")]
    SourceUp,
    Digest,
    /// A case's risk of going public crossed `[risk] alert_at` (crate::risk).
    #[serde(rename = "at_risk")]
    AtRisk,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Surfaced => "surfaced",
            AlertKind::Spreading => "spreading",
            AlertKind::Viral => "viral",
            AlertKind::Unlinked => "unlinked",
            AlertKind::SourceDown => "source-down",
            AlertKind::SourceUp => "source-up",
            AlertKind::Digest => "digest",
            AlertKind::AtRisk => "at_risk",
        }
    }

    /// Alerts about outcry's own sources, which go to `[operator].to`.
    pub fn is_operator(self) -> bool {
        matches!(self, AlertKind::SourceDown | AlertKind::SourceUp)
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        Some(match s {
            "surfaced" => AlertKind::Surfaced,
            "spreading" => AlertKind::Spreading,
            "viral" => AlertKind::Viral,
            "unlinked" => AlertKind::Unlinked,
            "source-down" => AlertKind::SourceDown,
            "source-up" => AlertKind::SourceUp,
            "digest" => AlertKind::Digest,
            "at_risk" => AlertKind::AtRisk,
            _ => return None,
        })
    }
}

impl From<Stage> for AlertKind {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::Surfaced => AlertKind::Surfaced,
            Stage::Spreading => AlertKind::Spreading,
            Stage::Viral => AlertKind::Viral,
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a post was linked to a case: one piece of evidence as facts, worded only where it is
/// shown (`present`). Stored as JSON in `links.evidence`; a plain string there is evidence
/// written before it was typed, and is shown as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkEvidence {
    /// One of the case's identifiers, as "kind:value".
    Identifier {
        identifier: String,
    },
    /// A masked identifier whose visible head only this case's identifier starts with.
    MaskedIdentifier {
        visible: String,
        identifier: String,
    },
    PhoneTail {
        tail: String,
    },
    /// The name inside a place identifier ("青秀湾" of "community:玉林青秀湾小区").
    PlaceName {
        name: String,
        identifier: String,
    },
    /// The post's author is one of the complainant's handles ("platform:name").
    AuthorIsHandle {
        handle: String,
    },
    MentionsHandle {
        handle: String,
    },
    /// The post links to a post already linked to the case.
    LinksLinkedPost {
        url: String,
    },
    /// The author's earlier post is linked to the case.
    AuthorIsVoice,
    /// The author, whose earlier post is linked to the case, says this post is an update.
    VoiceFollowsUp,
    /// "@name", whose post is linked to the case.
    MentionsVoice {
        name: String,
    },
    /// The name without "@".
    NamesVoice {
        name: String,
    },
    /// How well the post retells the case's own text and its public story (0..1), and
    /// `score`, what the text adds to the link's score (the number used).
    Retells {
        #[serde(default)]
        score: f64,
        case_text: f64,
        story: f64,
    },
    /// The last digits of an identifier, named as such ("尾号2045"), with no fact conflicting.
    IdentifierTail {
        tail: String,
        identifier: String,
    },
    /// The brand written in a variant spelling (spaced, homophone, initials, 某…).
    BrandVariant {
        written: String,
        alias: String,
    },
    /// The complainant's handle wrote the post, but it is not about the complaint.
    HandleOffTopic {
        handle: String,
    },
    /// A tail that coincides while the post's facts conflict with the case.
    TailWithConflict {
        tail: String,
    },
    /// Text alone does not confirm: this many specific facts agree, not enough.
    NeedsSpecificFacts {
        agreeing: usize,
    },
    /// The post tells its author's own, similar story ("我也是…").
    OwnStory,
    /// A kind of fact both texts name (place, amount, rate, date, month, surname).
    FactAgrees {
        fact: String,
    },
    FactConflicts {
        fact: String,
    },
    /// Another case fits about as well, with this score.
    AnotherCaseFits {
        score: f64,
    },
    /// A public complaint that fits no open case.
    NoCaseFits,
    /// A lead linked the post to the case by hand (the token's name).
    ByHand {
        by: String,
    },
    /// Evidence stored as a sentence before evidence was typed.
    #[serde(untagged)]
    Noted(String),
}

impl LinkEvidence {
    /// What the evidence names in the post, to mark where it is quoted: an identifier's
    /// value, the visible head of a masked one, a handle's name, a phone tail.
    pub fn mark(&self) -> Option<&str> {
        let value = match self {
            LinkEvidence::Identifier { identifier } => identifier
                .split_once(':')
                .map_or(identifier.as_str(), |(_, v)| v),
            LinkEvidence::MaskedIdentifier { visible, .. } => visible,
            LinkEvidence::PlaceName { name, .. } => name,
            LinkEvidence::AuthorIsHandle { handle } | LinkEvidence::MentionsHandle { handle } => {
                handle.split_once(':').map_or(handle.as_str(), |(_, v)| v)
            }
            LinkEvidence::PhoneTail { tail } => tail,
            _ => return None,
        };
        Some(value.trim()).filter(|v| !v.is_empty())
    }
}

/// Why a case stands at its stage (or why an unlinked post matters), as facts with their
/// numbers; worded where shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    FirstItem {
        channel: Channel,
        author: Option<String>,
        source: String,
        seen_at: DateTime<FixedOffset>,
    },
    Spread {
        items: usize,
        authors: usize,
        sources: usize,
    },
    NewsPickup {
        outlets: Vec<String>,
    },
    Interactions {
        total: i64,
        growth_per_hour: f64,
    },
    /// Reposts summed over the case's linked posts (their latest sightings).
    Reposts {
        total: i64,
    },
    MeToo {
        retellings: usize,
    },
    /// Threat terms in the posts, and those in the case's own notes.
    Threats {
        in_posts: Vec<String>,
        in_notes: Vec<String>,
    },
    Rage {
        terms: Vec<String>,
    },
    Safety {
        terms: Vec<String>,
    },
    ThresholdsLowered {
        factor: f64,
    },
    /// A post that complains about the brand and fits no case.
    Unlinked {
        channel: Channel,
        brand: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_stored_as_tagged_facts_and_old_sentences_still_read() {
        let evidence = vec![
            LinkEvidence::PhoneTail {
                tail: "2291".into(),
            },
            LinkEvidence::NoCaseFits,
        ];
        let json = serde_json::to_string(&evidence).unwrap();
        assert_eq!(
            json,
            r#"[{"kind":"phone_tail","tail":"2291"},{"kind":"no_case_fits"}]"#
        );
        let stored = r#"["identifier order:XC-1", {"kind":"phone_tail","tail":"2291"}]"#;
        let read: Vec<LinkEvidence> = serde_json::from_str(stored).unwrap();
        assert_eq!(
            read,
            [
                LinkEvidence::Noted("identifier order:XC-1".into()),
                LinkEvidence::PhoneTail {
                    tail: "2291".into()
                }
            ]
        );
        assert_eq!(read[1].mark(), Some("2291"));
        assert_eq!(
            LinkEvidence::AuthorIsHandle {
                handle: "weibo:小王".into()
            }
            .mark(),
            Some("小王")
        );
    }
}
