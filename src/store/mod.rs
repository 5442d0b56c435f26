//! Persistence. The rest of outcry talks to the [`Store`] trait; each backend implements it
//! with its own SQL (all SQL lives here and in migrations/). Every write that carries a
//! decision (an item's brand, its links and the alerts they cause) is one transaction.

pub mod copy;
mod postgres;
mod rows;
mod shared;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::model::{
    AlertKind, Case, CaseStatus, Channel, Engagement, LinkEvidence, Observation, Stage,
};
use crate::risk::Risk;
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported storage url `{0}` (expected sqlite:// or postgres://)")]
    UnsupportedUrl(String),
    #[error("the lease on source `{name}` was lost (another instance may hold it now); nothing was written")]
    LeaseLost { name: String },
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

impl StoreError {
    /// The database could not be reached or is not ready (down, restarting, starting up), as
    /// opposed to refusing what was asked: worth waiting for rather than giving up.
    pub fn is_unavailable(&self) -> bool {
        let error = match self {
            StoreError::Database(e)
            | StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e))
            | StoreError::Migrate(sqlx::migrate::MigrateError::ExecuteMigration(e, _)) => e,
            _ => return false,
        };
        match error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            // PostgreSQL's classes 08 (connection exception) and 57P (shutting down,
            // starting up, crashed).
            sqlx::Error::Database(e) => e
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        }
    }
}

/// An item's identity: unique per source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey {
    pub source: String,
    pub guid: String,
}

impl ItemKey {
    pub fn of(observation: &Observation) -> ItemKey {
        ItemKey {
            source: observation.source.clone(),
            guid: observation.guid.clone(),
        }
    }
}

/// What the pipeline needs to know about an item it has stored before.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem {
    pub id: i64,
    pub brand: String,
    /// Cases the item is linked to, in any state.
    pub linked_cases: Vec<(String, LinkState)>,
    /// Its newest observation row, which a sighting that changes nothing extends.
    pub latest: Option<(i64, ObservationRun)>,
}

/// How long one observation row may stand for sightings that changed nothing: the
/// heartbeat, so an unchanged item still gets a row an hour.
pub const HEARTBEAT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// What an observation row records: when its run of sightings began and was last seen, and
/// what they all showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObservationRun {
    pub at: DateTime<FixedOffset>,
    pub last_seen: DateTime<FixedOffset>,
    pub engagement: Engagement,
    pub author_followers: Option<i64>,
    pub text_digest: Option<i64>,
}

impl ObservationRun {
    pub fn of(observation: &Observation) -> ObservationRun {
        ObservationRun {
            at: observation.fetched_at,
            last_seen: observation.fetched_at,
            engagement: observation.engagement,
            author_followers: observation.author_followers,
            text_digest: Some(text_digest(observation)),
        }
    }

    /// Whether `next` only says the item was seen again: the same counts and text, later
    /// than the run's last sighting and within the heartbeat of its first.
    pub fn absorbs(&self, next: &ObservationRun) -> bool {
        self.engagement == next.engagement
            && self.author_followers == next.author_followers
            && self.text_digest == next.text_digest
            && next.at >= self.last_seen
            && next.at - self.at < HEARTBEAT
    }
}

/// The first eight bytes of SHA-256 over the title and body: enough to notice an edit.
fn text_digest(observation: &Observation) -> i64 {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for part in [&observation.title, &observation.body] {
        hash.update(part.as_deref().unwrap_or_default());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// An observation row a sighting extends: one stored, or one of [`Batch::observations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationRef {
    Stored(i64),
    New(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Candidate,
    Confirmed,
    Rejected,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Candidate => "candidate",
            LinkState::Confirmed => "confirmed",
            LinkState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<LinkState> {
        Some(match s {
            "candidate" => LinkState::Candidate,
            "confirmed" => LinkState::Confirmed,
            "rejected" => LinkState::Rejected,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewLink {
    pub case_id: String,
    pub state: LinkState,
    pub score: f64,
    pub evidence: Vec<LinkEvidence>,
}

/// An alert ready for the outbox, already rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub kind: AlertKind,
    pub case_id: Option<String>,
    pub brand: String,
    /// One alert per key, ever: `case:<id>:<stage>` or `item:<source>:<guid>:unlinked`.
    pub dedupe_key: String,
    pub message_id: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: DateTime<FixedOffset>,
    /// The alert's facts as JSON (`alert::chat::Facts`), for chat channels and webhooks.
    pub facts: Option<String>,
}

/// An item seen for the first time that mentions a brand, with what was decided about it.
/// Items that mention no watched brand are not stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem<'a> {
    pub observation: &'a Observation,
    pub brand: String,
    pub links: Vec<NewLink>,
}

/// The item an observation or alert of a batch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemRef {
    Stored(i64),
    /// An index into [`Batch::new_items`].
    New(usize),
}

/// Everything decided about a batch of observations (one poll, or a stretch of a replay),
/// written in one transaction: new items with their links, every observation, and the alerts
/// the decisions caused.
#[derive(Debug, Clone, Default)]
pub struct Batch<'a> {
    pub new_items: Vec<NewItem<'a>>,
    /// New observation rows.
    pub observations: Vec<(ItemRef, &'a Observation)>,
    /// Sightings that changed nothing: the row whose run they extend, and when.
    pub seen_again: Vec<(ObservationRef, DateTime<FixedOffset>)>,
    pub alerts: Vec<(ItemRef, NewAlert)>,
    /// Cases inserted or replaced, with when.
    pub cases: Vec<(Case, DateTime<Utc>)>,
    /// Links of stored items: people's decisions and re-linking's proposals.
    pub link_changes: Vec<LinkChange>,
    /// Outbox rows to deliver again, with when.
    pub alert_resends: Vec<(i64, DateTime<Utc>)>,
    /// Who asked for the writes above.
    pub audit: Vec<AuditEntry>,
    /// The source lease the batch was decided under, if any: the commit checks and extends
    /// it first, in the same transaction, and writes nothing when it was lost.
    pub lease: Option<LeaseCondition>,
}

impl Batch<'_> {
    /// Whether committing the batch would write nothing but the lease's extension, which
    /// the heartbeat makes anyway.
    pub fn writes_nothing(&self) -> bool {
        self.new_items.is_empty()
            && self.observations.is_empty()
            && self.seen_again.is_empty()
            && self.alerts.is_empty()
            && self.cases.is_empty()
            && self.link_changes.is_empty()
            && self.alert_resends.is_empty()
            && self.audit.is_empty()
    }
}

/// A change to the links of an item already stored.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkChange {
    /// A person confirms or rejects an existing link.
    Decide {
        item_id: i64,
        case_id: String,
        state: LinkState,
        actor: String,
        at: DateTime<Utc>,
    },
    /// Linking again (after a case learned a handle or identifier) proposes a link. It is
    /// written when the item has no link to that case, or upgrades a candidate to confirmed;
    /// a rejected or decided link is never touched.
    Propose {
        item_id: i64,
        link: NewLink,
        at: DateTime<Utc>,
    },
}

/// One write through the API or the web pages: who, what, when.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// The name of the token that asked.
    pub actor: String,
    /// `case.create`, `link.confirm`, `alert.resend`, ...
    pub action: String,
    /// What was written: `case:C-1042`, `link:17:C-1042`, `alert:3`.
    pub target: String,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: i64,
    pub entry: AuditEntry,
}

/// Ids one [`ItemQuery`] takes.
pub const MAX_QUERY_IDS: usize = 500;

/// Which stored items to list; empty fields do not filter. Newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemQuery {
    /// At most [`MAX_QUERY_IDS`] ids; more are ignored.
    pub ids: Vec<i64>,
    pub brand: Option<String>,
    /// Items linked to this case (rejected links included).
    pub case_id: Option<String>,
    /// A substring of the title, body or author.
    pub text: Option<String>,
    /// First seen at or after.
    pub since: Option<DateTime<Utc>>,
    /// First seen before.
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// A stored item as listed for people, with its links.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRow {
    pub id: i64,
    pub source: String,
    pub guid: String,
    pub channel: Channel,
    pub url: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub author: Option<String>,
    pub brand: String,
    pub published_at: Option<DateTime<FixedOffset>>,
    pub first_seen_at: DateTime<FixedOffset>,
    pub links: Vec<(String, LinkState)>,
}

/// Which links to list; empty fields do not filter. Best score first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkQuery {
    pub state: Option<LinkState>,
    pub case_id: Option<String>,
    pub item_id: Option<i64>,
    /// The brand of the linked item.
    pub brand: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinkRow {
    pub item_id: i64,
    pub case_id: String,
    pub state: LinkState,
    pub score: f64,
    pub evidence: Vec<LinkEvidence>,
    pub created_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
}

/// Counts for /metrics, read from the store so they hold across restarts and instances.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    pub links: Vec<(LinkState, i64)>,
    /// Pending alerts in the outbox.
    pub outbox_depth: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The ids of [`Batch::new_items`], in order.
    pub new_item_ids: Vec<i64>,
    /// Indexes into [`Batch::alerts`] of the alerts that were new; one whose dedupe key
    /// already existed is left out.
    pub inserted_alerts: Vec<usize>,
}

/// One observation row of an item: when it was first and last seen showing these counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting {
    pub at: DateTime<FixedOffset>,
    /// Equal to `at` for an item seen once with these counts.
    pub last_seen: DateTime<FixedOffset>,
    pub engagement: Engagement,
    pub author_followers: Option<i64>,
}

impl Sighting {
    pub fn of(observation: &Observation) -> Sighting {
        Sighting {
            at: observation.fetched_at,
            last_seen: observation.fetched_at,
            engagement: observation.engagement,
            author_followers: observation.author_followers,
        }
    }
}

/// Interactions gained per hour between the last two fetches (at least six minutes apart as
/// far as the rate goes, so that two quick polls do not read as an explosion); None for an
/// item seen once. Two fetches of one row showed the same counts: no growth.
pub fn growth_per_hour(sightings: &[Sighting]) -> Option<f64> {
    match sightings {
        [.., last] if last.last_seen > last.at => Some(0.0),
        [.., s0, s1] => {
            let hours = ((s1.at - s0.last_seen).num_seconds() as f64 / 3600.0).max(0.1);
            let gained = (s1.engagement.interactions() - s0.engagement.interactions()).max(0);
            Some(gained as f64 / hours)
        }
        _ => None,
    }
}

/// A public item linked to a case, with its history, for assessment and alert content.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseItem {
    pub item_id: i64,
    pub source: String,
    pub guid: String,
    pub channel: Channel,
    pub url: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub author: Option<String>,
    pub published_at: Option<DateTime<FixedOffset>>,
    pub first_seen_at: DateTime<FixedOffset>,
    pub link_state: LinkState,
    pub link_score: f64,
    pub link_evidence: Vec<LinkEvidence>,
    /// Oldest first.
    pub sightings: Vec<Sighting>,
}

impl CaseItem {
    /// See [`growth_per_hour`].
    pub fn growth_per_hour(&self) -> Option<f64> {
        growth_per_hour(&self.sightings)
    }
}

/// A link waiting for a complaint lead's review.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewLink {
    pub case_id: String,
    /// The linked item, with the link's score and evidence and every sighting.
    pub item: CaseItem,
}

/// A public item about a watched brand that is linked to no case.
#[derive(Debug, Clone, PartialEq)]
pub struct UnlinkedItem {
    pub brand: String,
    /// The item with every sighting; its link fields are empty (state candidate, score 0,
    /// no evidence), since nothing links it.
    pub item: CaseItem,
    /// Whether an `unlinked` alert was queued for it; one that was not waited for the digest
    /// (over the hourly cap) or did not read as a complaint.
    pub alerted: bool,
}

/// An open case and how far its story has gone public.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseStanding {
    pub case: Case,
    /// The highest stage it has alerted for, and when that alert was queued.
    pub stage: Option<(Stage, DateTime<FixedOffset>)>,
    pub confirmed_items: i64,
    /// Candidate links waiting for review.
    pub candidate_items: i64,
}

/// Which linked items a case's record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceScope {
    /// What counts towards a stage and is shown in an alert.
    Confirmed,
    /// Also the candidates waiting for review, for the people reviewing them.
    Unrejected,
}

impl EvidenceScope {
    /// The SQL condition on the link table aliased `l`.
    fn link_condition(self) -> &'static str {
        match self {
            EvidenceScope::Confirmed => "l.state = 'confirmed'",
            EvidenceScope::Unrejected => "l.state <> 'rejected'",
        }
    }
}

/// A case's public record: the items linked to it in a scope and the highest stage it has
/// alerted for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaseEvidence {
    pub stage: Option<Stage>,
    pub items: Vec<CaseItem>,
}

/// A confirmed link with the linked item's text, from which the linker relearns each case's
/// public story after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedText {
    pub case_id: String,
    pub title: Option<String>,
    pub body: Option<String>,
    pub url: Option<String>,
    pub author: Option<String>,
}

/// An alert a channel has not yet decided about (routed or skipped).
#[derive(Debug, Clone, PartialEq)]
pub struct UnroutedAlert {
    pub id: i64,
    pub kind: String,
    pub brand: String,
    pub facts: Option<String>,
}

/// One (alert, channel) delivery claimed for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub alert_id: i64,
    pub channel: String,
    pub kind: AlertKind,
    pub case_id: Option<String>,
    /// Whether the alert's case is still open (true without a case).
    pub case_open: bool,
    pub brand: String,
    /// The source an operator alert is about.
    pub source: Option<String>,
    /// As stored; an email channel sends it as the implicit email does.
    pub message_id: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub facts: Option<String>,
    pub attempts: i64,
}

/// How a claimed delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome<'a> {
    Sent,
    Cancelled(&'a str),
    /// Back to pending until `next` (ms); `count`: a failure, not a rate limit's wait.
    Retry {
        error: &'a str,
        next: i64,
        count: bool,
    },
}

/// A channel's outbox as `outcry channels` and the metrics show it (times in ms).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChannelStatus {
    pub last_success_ms: Option<i64>,
    pub last_error: Option<(i64, String)>,
    pub queued: i64,
    pub oldest_pending_ms: Option<i64>,
    pub sent: i64,
}

/// An outbox row claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedAlert {
    pub id: i64,
    pub kind: AlertKind,
    pub case_id: Option<String>,
    /// Whether the alert's case is still open (true for unlinked alerts).
    pub case_open: bool,
    pub message_id: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attempts: i64,
    /// The source an operator alert is about.
    pub source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    Pending,
    Sent,
    Cancelled,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Sent => "sent",
            AlertStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        Some(match s {
            "pending" => AlertStatus::Pending,
            "sent" => AlertStatus::Sent,
            "cancelled" => AlertStatus::Cancelled,
            _ => return None,
        })
    }
}

/// An outbox row as listed for people.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    pub kind: AlertKind,
    pub case_id: Option<String>,
    pub brand: String,
    /// The post that caused it; none for digests and source notices.
    pub item_id: Option<i64>,
    pub subject: String,
    pub status: AlertStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// Whether a source sees its site (crate::health explains blindness).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SourceHealth {
    #[default]
    Ok,
    Failing,
    Blind,
}

impl SourceHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceHealth::Ok => "ok",
            SourceHealth::Failing => "failing",
            SourceHealth::Blind => "blind",
        }
    }

    pub fn parse(s: &str) -> Option<SourceHealth> {
        Some(match s {
            "ok" => SourceHealth::Ok,
            "failing" => SourceHealth::Failing,
            "blind" => SourceHealth::Blind,
            _ => return None,
        })
    }
}

/// A successful poll, for [`Store::record_polls`].
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedPoll {
    /// Only the poll's time changed (a healthy source answered 304): the lease row keeps the
    /// time, and a state read takes the later of its own times and that one.
    Quiet(String),
    /// The source's state after the poll.
    Changed(SourceState),
}

impl RecordedPoll {
    pub fn name(&self) -> &str {
        match self {
            RecordedPoll::Quiet(name) => name,
            RecordedPoll::Changed(state) => &state.name,
        }
    }
}

/// What the scheduler remembers about a source between polls and restarts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceState {
    pub name: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub consecutive_failures: i64,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub items_seen: i64,
    pub health: SourceHealth,
    /// When the current run of failed or blind polls began.
    pub failing_since: Option<DateTime<Utc>>,
    /// Whether the operator was mailed about the current outage (so its end is mailed too).
    pub down_alerted: bool,
    /// Items the last poll that read a page found (a 304 leaves it alone).
    pub last_items: Option<i64>,
    pub last_poll_at: Option<DateTime<Utc>>,
}

/// A public item linked to an open case, whose own page a source re-reads for engagement.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowedItem {
    pub guid: String,
    pub url: String,
    pub title: Option<String>,
    pub body: Option<String>,
    pub author: Option<String>,
    pub published_at: Option<DateTime<FixedOffset>>,
    pub first_seen_at: DateTime<FixedOffset>,
}

/// A case's stored risk (crate::risk), as the daemon last reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRisk {
    pub case_id: String,
    pub risk: Risk,
    pub computed_at: DateTime<Utc>,
    /// When the risk last crossed `[risk] alert_at` upward; None while it stands below (or
    /// the alert is off).
    pub crossed_at: Option<DateTime<Utc>>,
}

/// A source lease held by the caller. Times are the database's clock, which every instance
/// shares, so no instance's clock (or its wait for a connection) can make two leases overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLease {
    /// When any instance last polled the source, so a new holder keeps its interval.
    pub last_polled: Option<DateTime<Utc>>,
    /// When the statement that granted the lease ran.
    pub granted_at: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

impl SourceLease {
    /// How long the lease lasts from when it was granted.
    pub fn remaining(&self) -> std::time::Duration {
        (self.expires - self.granted_at)
            .to_std()
            .unwrap_or_default()
    }
}

/// A commit that depends on a source lease: it writes nothing unless `owner` still holds the
/// lease on `source`, and extends it by `extend` (never shortening it). A poll that lost its
/// source to another instance while it fetched drops its results instead of racing the new
/// holder's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseCondition {
    pub source: String,
    pub owner: String,
    pub extend: std::time::Duration,
}

/// Retention's cut-offs (Unix ms), from `[retention]` and the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Items linked to no case and last seen before this go, with their observations.
    pub unlinked_before: i64,
    /// Observations of items linked only to closed cases: one row an hour before this...
    pub hourly_before: i64,
    /// ...and one a day before this.
    pub daily_before: i64,
}

/// What retention removed, or would remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub items: u64,
    pub observations: u64,
}

impl std::ops::AddAssign for Pruned {
    fn add_assign(&mut self, other: Pruned) {
        self.items += other.items;
        self.observations += other.observations;
    }
}

/// A table's size as `outcry store stats` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableStats {
    pub table: String,
    pub rows: i64,
    /// Bytes on disk, where the backend tells per table (PostgreSQL).
    pub bytes: Option<i64>,
}

/// The store as a whole, for `outcry store stats`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StorageStats {
    pub tables: Vec<TableStats>,
    /// The database's size in bytes.
    pub bytes: i64,
    /// The oldest and newest observation (ms).
    pub observed: Option<(i64, i64)>,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Inserts the case, or replaces the stored record of the case with this id.
    async fn upsert_case(&self, case: &Case, now: DateTime<Utc>) -> Result<(), StoreError>;
    async fn case(&self, id: &str) -> Result<Option<Case>, StoreError>;
    async fn cases(&self, status: Option<CaseStatus>) -> Result<Vec<Case>, StoreError>;
    /// False when no case has this id.
    async fn close_case(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(mut case) = self.case(id).await? else {
            return Ok(false);
        };
        case.status = CaseStatus::Closed;
        self.upsert_case(&case, now).await?;
        Ok(true)
    }
    /// Changes whenever any case is written.
    async fn cases_revision(&self) -> Result<i64, StoreError>;

    /// The stored items among `keys`.
    async fn items(&self, keys: &[ItemKey]) -> Result<HashMap<ItemKey, StoredItem>, StoreError>;
    /// Writes a batch atomically: all of it or, on error, nothing.
    async fn commit(&self, batch: &Batch<'_>) -> Result<Committed, StoreError>;
    /// The public record of each of these cases (an empty one for a case with none).
    async fn case_evidence(
        &self,
        case_ids: &[String],
        scope: EvidenceScope,
    ) -> Result<HashMap<String, CaseEvidence>, StoreError>;
    /// Every confirmed link's item text, oldest first.
    async fn confirmed_link_texts(&self) -> Result<Vec<LinkedText>, StoreError>;

    /// Leases up to `limit` due pending alerts until `lease_until`, oldest first.
    async fn claim_alerts(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedAlert>, StoreError>;
    async fn mark_alert_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError>;
    async fn mark_alert_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn cancel_alert(&self, id: i64, reason: &str) -> Result<(), StoreError>;
    /// Makes every pending alert that failed before due at `now`, for when their destination
    /// answers again; returns how many.
    async fn retry_failed_alerts(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    async fn alerts(&self) -> Result<Vec<AlertRow>, StoreError>;

    async fn source_state(&self, name: &str) -> Result<Option<SourceState>, StoreError>;
    async fn save_source_state(&self, state: &SourceState) -> Result<(), StoreError>;

    /// Takes the lease on source `name` for `owner` for `lease` from the database's now, or
    /// extends it when `owner` holds it already (never shortening it); None while another
    /// owner's lease has not expired.
    async fn lease_source(
        &self,
        name: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<Option<SourceLease>, StoreError>;
    /// Records a batch of successful polls by `owner`, in one transaction: for every source
    /// of `polls` it still holds, that it polled now (the database's clock, kept with the
    /// lease) and, when the poll changed more than that, its new state. Returns the names
    /// recorded; a source left out is no longer `owner`'s, and its state is not written over
    /// the new holder's.
    async fn record_polls(
        &self,
        owner: &str,
        polls: &[RecordedPoll],
    ) -> Result<Vec<String>, StoreError>;
    /// The heartbeat: extends every lease `owner` still holds to at least `lease` from the
    /// database's now (a lease already longer keeps its expiry); returns how many.
    async fn renew_leases(
        &self,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<u64, StoreError>;
    /// Gives up every lease of `owner` (on shutdown), so other instances take over at once.
    async fn release_leases(&self, owner: &str) -> Result<(), StoreError>;

    async fn find_items(&self, query: &ItemQuery) -> Result<Vec<ItemRow>, StoreError>;
    /// Every sighting of each of these items, oldest first.
    async fn sightings(&self, item_ids: &[i64]) -> Result<HashMap<i64, Vec<Sighting>>, StoreError>;
    /// Fills in every sighting of each of these items, oldest first; an item listed twice (a
    /// candidate for two cases) gets a copy each time.
    async fn fill_sightings(&self, items: Vec<&mut CaseItem>) -> Result<(), StoreError> {
        let ids: Vec<i64> = items.iter().map(|i| i.item_id).collect();
        let sightings = self.sightings(&ids).await?;
        for item in items {
            item.sightings = sightings.get(&item.item_id).cloned().unwrap_or_default();
        }
        Ok(())
    }
    async fn find_links(&self, query: &LinkQuery) -> Result<Vec<LinkRow>, StoreError>;
    /// The newest `limit` audit rows, newest first.
    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError>;
    async fn stats(&self) -> Result<StoreStats, StoreError>;
    /// Saves a source's state and, in the same transaction, queues an operator alert about
    /// it (tagged with the source's name) unless its dedupe key exists. True when the alert
    /// was new.
    async fn save_source_state_with_alert(
        &self,
        state: &SourceState,
        alert: &NewAlert,
    ) -> Result<bool, StoreError>;
    /// Every source's state, by name.
    async fn source_states(&self) -> Result<Vec<SourceState>, StoreError>;
    /// The items of `source` with a URL that are linked (not rejected) to an open case and
    /// were first seen at or after `since`, oldest first.
    async fn followed_items(
        &self,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<FollowedItem>, StoreError>;

    /// Queues an alert that belongs to no item (the daily digest); false when an alert with
    /// its dedupe key exists already, so two instances or a restart never queue it twice.
    async fn queue_alert(&self, alert: &NewAlert) -> Result<bool, StoreError>;
    /// When the newest alert of this kind was created.
    async fn last_alert_at(
        &self,
        kind: AlertKind,
    ) -> Result<Option<DateTime<FixedOffset>>, StoreError>;
    /// Candidate links of open cases, best score first, at most `limit` of them, and how many
    /// there are in all.
    async fn review_links(&self, limit: i64) -> Result<(Vec<ReviewLink>, i64), StoreError>;
    /// Items that mention a brand and link to no case, first seen in `[since, until)`,
    /// newest first, at most `limit` of them.
    async fn unlinked_items(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UnlinkedItem>, StoreError>;
    /// Every open case with its stage and the count of its linked items, by case id.
    async fn case_standings(&self) -> Result<Vec<CaseStanding>, StoreError>;
    /// This installation's id, made (random, 16 hex digits) and stored the first time it is
    /// asked for; the same ever after and for every instance on the store.
    async fn installation_id(&self) -> Result<String, StoreError>;

    /// When the first full poll round ended: `done_at` is recorded unless a time is already
    /// (by this or another instance); returns the recorded time, None while there is none.
    async fn first_round(
        &self,
        done_at: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Inserts or replaces these cases' risks and, in the same transaction, queues the
    /// alerts their crossings cause (unless a dedupe key exists); returns how many alerts
    /// were new.
    async fn save_risks(
        &self,
        risks: &[CaseRisk],
        alerts: &[NewAlert],
    ) -> Result<usize, StoreError>;
    /// The stored risk of one case, or of every case, by case id.
    async fn case_risks(&self, case_id: Option<&str>) -> Result<Vec<CaseRisk>, StoreError>;
    /// Records a configured channel; it gets the alerts made from now on.
    async fn add_channel(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Alerts since the channel was added that it has no delivery row for, oldest first.
    async fn unrouted_alerts(
        &self,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<UnroutedAlert>, StoreError>;
    /// The channel's delivery row for an alert: pending when routed, skipped otherwise;
    /// nothing when it has one.
    async fn add_delivery(
        &self,
        alert_id: i64,
        channel: &str,
        routed: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn claim_deliveries(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    async fn finish_delivery(
        &self,
        alert_id: i64,
        channel: &str,
        outcome: &DeliveryOutcome<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn channel_status(&self, channel: &str) -> Result<ChannelStatus, StoreError>;

    /// One small batch of retention over the items with ids in `(after, after + batch]`, in
    /// its own transaction: items linked to no case, with no pending alert and not seen
    /// since the cut-off, go with their observations (an alert sent about one keeps its
    /// row and dedupe key); the series of items linked only to closed cases are thinned to
    /// their last row an hour, then a day. Returns the last id it looked at, or None when no
    /// item lies past `after`.
    async fn prune(
        &self,
        rules: &Retention,
        after: i64,
        batch: i64,
    ) -> Result<Option<(i64, Pruned)>, StoreError>;
    /// What a full round of [`Store::prune`] would remove now.
    async fn prunable(&self, rules: &Retention) -> Result<Pruned, StoreError>;
    /// Rows and bytes per table, for `outcry store stats`.
    async fn storage_stats(&self) -> Result<StorageStats, StoreError>;
}

/// A fresh installation id.
fn new_installation_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

pub type SharedStore = Arc<dyn Store>;

/// Opens (creating and migrating where needed) the store a URL names.
pub async fn open(url: &str) -> Result<SharedStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

/// The URL without its password, for logs and messages.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// A private in-memory store, as replay uses.
pub async fn open_in_memory() -> Result<SharedStore, StoreError> {
    Ok(Arc::new(SqliteStore::open("sqlite::memory:").await?))
}

fn case_from_record(record: &str) -> Result<Case, StoreError> {
    serde_json::from_str(record).map_err(|e| corrupt("case record", e))
}

fn evidence_from_json(text: &str) -> Result<Vec<LinkEvidence>, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("link evidence", e))
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A lease length in the milliseconds lease rows are kept in.
fn lease_ms(lease: std::time::Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4)
}

/// A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally (`ESCAPE
/// '\\'`).
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn from_ms(what: &'static str, ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(what, ms))
}

/// Which of a batch's alerts were stored, given the dedupe keys the insert returned. Rows go
/// in batch order, so of two alerts sharing a key in one batch the first is the one stored;
/// removing the key credits it to that one only.
fn inserted_alerts(batch: &Batch<'_>, mut inserted_keys: HashSet<String>) -> Vec<usize> {
    batch
        .alerts
        .iter()
        .enumerate()
        .filter(|(_, (_, alert))| inserted_keys.remove(&alert.dedupe_key))
        .map(|(i, _)| i)
        .collect()
}

/// Where a batch's sightings that changed nothing go: the last time each new row was seen
/// (None for a row seen once), and the stored rows to extend with when (ms), latest only.
fn seen_again(batch: &Batch<'_>) -> (Vec<Option<i64>>, Vec<(i64, i64)>) {
    let mut new_rows = vec![None; batch.observations.len()];
    let mut stored: HashMap<i64, i64> = HashMap::new();
    for (row, at) in &batch.seen_again {
        let ms = at.timestamp_millis();
        match row {
            ObservationRef::New(index) => {
                if let Some(last) = new_rows.get_mut(*index) {
                    *last = Some(last.map_or(ms, |l: i64| l.max(ms)));
                }
            }
            ObservationRef::Stored(id) => {
                let last = stored.entry(*id).or_insert(ms);
                *last = (*last).max(ms);
            }
        }
    }
    let mut stored: Vec<(i64, i64)> = stored.into_iter().collect();
    stored.sort_unstable();
    (new_rows, stored)
}

fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

fn parse_time(what: &'static str, text: &str) -> Result<DateTime<FixedOffset>, StoreError> {
    DateTime::parse_from_rfc3339(text).map_err(|e| corrupt(what, format!("{text}: {e}")))
}

fn parse_optional_time(
    what: &'static str,
    text: Option<String>,
) -> Result<Option<DateTime<FixedOffset>>, StoreError> {
    text.map(|t| parse_time(what, &t)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_hides_only_the_password() {
        assert_eq!(
            redacted_url("postgres://outcry:s3cret@db.example.com/outcry"),
            "postgres://outcry:***@db.example.com/outcry"
        );
        assert_eq!(
            redacted_url("postgres://outcry@db/o"),
            "postgres://outcry@db/o"
        );
        assert_eq!(redacted_url("sqlite://o.db"), "sqlite://o.db");
    }
}
