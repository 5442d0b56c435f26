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
