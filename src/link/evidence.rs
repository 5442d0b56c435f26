//! Why a post was linked to a case, as typed data: each piece names its kind and carries its
//! values, so that it can be worded in any language. `Display` gives the English wording that
//! links store today; its leading words are what the pages look for to mark matched values.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// One of the case's identifiers, written out.
    Identifier {
        identifier: String,
    },
    /// The visible head of a masked identifier fits exactly one case's identifier.
    MaskedIdentifier {
        visible: String,
        identifier: String,
    },
    /// A phone (or id) tail that fits the complainant's, with no fact conflicting.
    PhoneTail {
        tail: String,
    },
    /// The last digits of an identifier, named as such ("尾号2045"), with no fact conflicting.
    IdentifierTail {
        tail: String,
        identifier: String,
    },
    /// The author is one of the complainant's handles, and the post is about the complaint.
    AuthorHandle {
        handle: String,
    },
    MentionedHandle {
        handle: String,
    },
    /// The post links to a post already linked to the case.
    LinksToLinkedPost {
        url: String,
    },
    /// The post mentions "@name", whose post is linked to the case.
    MentionsVoice {
        name: String,
    },
    /// The post names someone whose post is linked to the case.
    NamesVoice {
        name: String,
        bonus: f64,
    },
    /// The author's earlier post is linked to the case.
    AuthorIsVoice {
        bonus: f64,
    },
    /// How well the post retells the case, as scored: `score` is what the text adds, from
    /// its likeness to the agent's text and to the public story (each already scaled to the
    /// score, where 1 is a clear retelling).
    Retelling {
        score: f64,
        case_text: f64,
        public_story: f64,
    },
    /// A fact both name and agree on, with what it adds to the score.
    FactAgrees {
        fact: &'static str,
        weight: f64,
    },
    /// A fact both name and disagree on, with what it takes off.
    FactConflicts {
        fact: &'static str,
        weight: f64,
    },
    /// The brand was written in a variant spelling (spaced, homophone, initials, 某…).
    BrandVariant {
        written: String,
        alias: String,
    },
    /// Why strong-looking evidence did not count.
    HandleOffTopic {
        handle: String,
    },
    TailWithConflict {
        tail: String,
    },
    /// Text alone is not enough: a confirmation needs specific agreement.
    NeedsSpecificFacts {
        agreeing: usize,
    },
    /// The post tells its author's own, similar story ("我也是…").
    OwnStory,
    /// Another case fits about as well.
    FitsAnotherCase {
        score: f64,
    },
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::Identifier { identifier } => write!(f, "identifier {identifier}"),
            Evidence::MaskedIdentifier {
                visible,
                identifier,
            } => write!(f, "masked identifier {visible}* fits {identifier}"),
            Evidence::PhoneTail { tail } => write!(f, "phone ending {tail}"),
            Evidence::IdentifierTail { tail, identifier } => {
                write!(f, "identifier ending {tail} fits {identifier}")
            }
            Evidence::AuthorHandle { handle } => {
                write!(f, "author is the complainant's handle {handle}")
            }
            Evidence::MentionedHandle { handle } => {
                write!(f, "mentions the complainant's handle {handle}")
            }
            Evidence::LinksToLinkedPost { url } => {
                write!(f, "links to {url}, already linked to this case")
            }
            Evidence::MentionsVoice { name } => {
                write!(f, "mentions @{name}, whose post is linked to this case")
            }
            Evidence::NamesVoice { name, bonus } => {
                write!(f, "names {name}, whose post is linked to this case (+{bonus:.2})")
            }
            Evidence::AuthorIsVoice { bonus } => write!(
                f,
                "the author's earlier post is linked to this case (+{bonus:.2})"
            ),
            Evidence::Retelling {
                score,
                case_text,
                public_story,
            } => write!(
                f,
                "retells the case: {score:.2} (like the case text {case_text:.2}, like the public story {public_story:.2})"
            ),
            Evidence::FactAgrees { fact, weight } => write!(f, "{fact} agrees (+{weight:.2})"),
            Evidence::FactConflicts { fact, weight } => {
                write!(f, "{fact} differs (−{weight:.2})")
            }
            Evidence::BrandVariant { written, alias } => {
                write!(f, "brand written as {written} (for {alias})")
            }
            Evidence::HandleOffTopic { handle } => write!(
                f,
                "the author is the complainant's handle {handle}, but this post is not about the complaint (not counted)"
            ),
            Evidence::TailWithConflict { tail } => write!(
                f,
                "a number ending {tail} fits, but other facts differ (not counted)"
            ),
            Evidence::NeedsSpecificFacts { agreeing } => write!(
                f,
                "only {agreeing} specific facts agree (a confirmation needs an identifier, a handle, or two of place, date, amount, model, quote, one in a long close retelling): review"
            ),
            Evidence::OwnStory => write!(
                f,
                "the author tells a similar story of their own (\"me too\"): review"
            ),
            Evidence::FitsAnotherCase { score } => {
                write!(f, "fits another case about as well (score {score:.2})")
            }
        }
    }
}
