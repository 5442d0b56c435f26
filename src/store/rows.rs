//! Reading result rows into domain types, once for every backend: both schemas name and type
//! their columns alike (text, 64-bit integers, doubles), so only the SQL differs.

use super::*;
use sqlx::{ColumnIndex, Decode, Type};

/// A row read by column name.
pub(super) trait Columns {
    fn text(&self, name: &str) -> String;
    fn text_opt(&self, name: &str) -> Option<String>;
    fn int(&self, name: &str) -> i64;
    fn int_opt(&self, name: &str) -> Option<i64>;
    fn float(&self, name: &str) -> f64;
    fn flag(&self, name: &str) -> bool;
}

impl<R> Columns for R
where
    R: sqlx::Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, name: &str) -> String {
        self.get(name)
    }
    fn text_opt(&self, name: &str) -> Option<String> {
        self.get(name)
    }
    fn int(&self, name: &str) -> i64 {
        self.get(name)
    }
    fn int_opt(&self, name: &str) -> Option<i64> {
        self.get(name)
    }
    fn float(&self, name: &str) -> f64 {
        self.get(name)
    }
    fn flag(&self, name: &str) -> bool {
        self.get(name)
    }
}

fn kind(r: &impl Columns) -> Result<AlertKind, StoreError> {
    let kind = r.text("kind");
    AlertKind::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))
}

fn link_state(r: &impl Columns) -> Result<LinkState, StoreError> {
    let state = r.text("state");
    LinkState::parse(&state).ok_or_else(|| corrupt("link state", &state))
}

/// id, kind, case_id, case_open, message_id, subject, body_text, body_html, attempts,
/// source.
pub(super) fn claimed_alert(r: &impl Columns) -> Result<ClaimedAlert, StoreError> {
    Ok(ClaimedAlert {
        id: r.int("id"),
        kind: kind(r)?,
        case_id: r.text_opt("case_id"),
        case_open: r.flag("case_open"),
        message_id: r.text("message_id"),
        subject: r.text("subject"),
        text: r.text("body_text"),
        html: r.text("body_html"),
        attempts: r.int("attempts"),
        source: r.text_opt("source"),
    })
}

/// An `alerts` row.
pub(super) fn alert_row(r: &impl Columns) -> Result<AlertRow, StoreError> {
    let status = r.text("status");
    Ok(AlertRow {
        id: r.int("id"),
        kind: kind(r)?,
        case_id: r.text_opt("case_id"),
        brand: r.text("brand"),
        item_id: r.int_opt("item_id"),
        subject: r.text("subject"),
        status: AlertStatus::parse(&status).ok_or_else(|| corrupt("alert status", &status))?,
        attempts: r.int("attempts"),
        last_error: r.text_opt("last_error"),
        created_at: r.text("created_at"),
        sent_at: r.text_opt("sent_at"),
    })
}

/// A `source_state` row, with its lease's `polled_ms`: the time of the last successful
/// poll, which a quiet poll records alone.
pub(super) fn source_state(r: &impl Columns) -> Result<SourceState, StoreError> {
    let utc = |what, column| {
        parse_optional_time(what, r.text_opt(column)).map(|t| t.map(|t| t.with_timezone(&Utc)))
    };
    let polled = r
        .int_opt("polled_ms")
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    let at_least_polled = |t: Option<DateTime<Utc>>| t.max(polled);
    Ok(SourceState {
        name: r.text("name"),
        etag: r.text_opt("etag"),
        last_modified: r.text_opt("last_modified"),
        consecutive_failures: r.int("consecutive_failures"),
        last_success_at: at_least_polled(utc("source success time", "last_success_at")?),
        last_error: r.text_opt("last_error"),
        last_error_at: utc("source error time", "last_error_at")?,
        items_seen: r.int("items_seen"),
        health: {
            let health = r.text("health");
            SourceHealth::parse(&health).ok_or_else(|| corrupt("source health", &health))?
        },
        failing_since: utc("source outage time", "failing_since")?,
        down_alerted: r.int("down_alerted") != 0,
        last_items: r.int_opt("last_items"),
        last_poll_at: at_least_polled(utc("source poll time", "last_poll_at")?),
    })
}

/// An item (its id as `id`), with its link's state, score and evidence when `linked`.
/// Sightings are added by the caller.
pub(super) fn case_item(r: &impl Columns, linked: bool) -> Result<CaseItem, StoreError> {
    let channel = r.text("channel");
    let (link_state, link_score, link_evidence) = if linked {
        (
            link_state(r)?,
            r.float("score"),
            evidence_from_json(&r.text("evidence"))?,
        )
    } else {
        (LinkState::Candidate, 0.0, Vec::new())
    };
    Ok(CaseItem {
        item_id: r.int("id"),
        source: r.text("source"),
        guid: r.text("guid"),
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("item channel", &channel))?,
        url: r.text_opt("url"),
        title: r.text_opt("title"),
        body: r.text_opt("body"),
        author: r.text_opt("author"),
        published_at: parse_optional_time("item time", r.text_opt("published_at"))?,
        first_seen_at: parse_time("item time", &r.text("first_seen_at"))?,
        link_state,
        link_score,
        link_evidence,
        sightings: Vec::new(),
    })
}

/// An `observations` row ([`shared::SIGHTING_COLUMNS`]).
pub(super) fn sighting(r: &impl Columns) -> Result<Sighting, StoreError> {
    let at = parse_time("observation time", &r.text("fetched_at"))?;
    let last_seen = match r.int_opt("last_seen_ms") {
        Some(ms) => from_ms("observation last seen", ms)?.with_timezone(at.offset()),
        None => at,
    };
    Ok(Sighting {
        at,
        last_seen,
        engagement: Engagement {
            reposts: r.int_opt("reposts"),
            comments: r.int_opt("comments"),
            likes: r.int_opt("likes"),
            views: r.int_opt("views"),
        },
        author_followers: r.int_opt("author_followers"),
    })
}

/// An item's newest `observations` row as `shared::LATEST_OBSERVATION` joins it; None for
/// an item without one.
pub(super) fn latest_observation(
    r: &impl Columns,
) -> Result<Option<(i64, ObservationRun)>, StoreError> {
    let Some(id) = r.int_opt("observation_id") else {
        return Ok(None);
    };
    let sighting = sighting(r)?;
    Ok(Some((
        id,
        ObservationRun {
            at: sighting.at,
            last_seen: sighting.last_seen,
            engagement: sighting.engagement,
            author_followers: sighting.author_followers,
            text_digest: r.int_opt("text_digest"),
        },
    )))
}

/// case_id and the item's title, body, url and author.
pub(super) fn linked_text(r: &impl Columns) -> LinkedText {
    LinkedText {
        case_id: r.text("case_id"),
        title: r.text_opt("title"),
        body: r.text_opt("body"),
        url: r.text_opt("url"),
        author: r.text_opt("author"),
    }
}

/// A granted lease: the row's `polled_ms` and `expires_ms`, and the database's `now_ms`.
pub(super) fn source_lease(r: &impl Columns) -> Result<SourceLease, StoreError> {
    Ok(SourceLease {
        last_polled: r
            .int_opt("polled_ms")
            .map(|t| from_ms("source poll time", t))
            .transpose()?,
        granted_at: from_ms("database clock", r.int("now_ms"))?,
        expires: from_ms("source lease expiry", r.int("expires_ms"))?,
    })
}

/// An `items` row as listed for people (brand NULL read as empty); links are added by the
/// caller.
pub(super) fn item_row(r: &impl Columns) -> Result<ItemRow, StoreError> {
    let channel = r.text("channel");
    Ok(ItemRow {
        id: r.int("id"),
        source: r.text("source"),
        guid: r.text("guid"),
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("item channel", &channel))?,
        url: r.text_opt("url"),
        title: r.text_opt("title"),
        body: r.text_opt("body"),
        author: r.text_opt("author"),
        brand: r.text("brand"),
        published_at: parse_optional_time("item time", r.text_opt("published_at"))?,
        first_seen_at: parse_time("item time", &r.text("first_seen_at"))?,
        links: Vec::new(),
    })
}

/// A `links` row.
pub(super) fn link_row(r: &impl Columns) -> Result<LinkRow, StoreError> {
    Ok(LinkRow {
        item_id: r.int("item_id"),
        case_id: r.text("case_id"),
        state: link_state(r)?,
        score: r.float("score"),
        evidence: evidence_from_json(&r.text("evidence"))?,
        created_at: r.text("created_at"),
        decided_by: r.text_opt("decided_by"),
        decided_at: r.text_opt("decided_at"),
    })
}

/// An `audit` row.
pub(super) fn audit_row(r: &impl Columns) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        id: r.int("id"),
        entry: AuditEntry {
            actor: r.text("actor"),
            action: r.text("action"),
            target: r.text("target"),
            detail: serde_json::from_str(&r.text("detail"))
                .map_err(|e| corrupt("audit detail", e))?,
            at: parse_time("audit time", &r.text("at"))?.with_timezone(&Utc),
        },
    })
}

/// `state` and a count `n`.
pub(super) fn link_count(r: &impl Columns) -> Result<(LinkState, i64), StoreError> {
    Ok((link_state(r)?, r.int("n")))
}

/// A `case_risk` row.
pub(super) fn case_risk(r: &impl Columns) -> Result<CaseRisk, StoreError> {
    let utc = |what, text: &str| parse_time(what, text).map(|t| t.with_timezone(&Utc));
    Ok(CaseRisk {
        case_id: r.text("case_id"),
        risk: Risk {
            score: r.float("score"),
            reasons: serde_json::from_str(&r.text("reasons"))
                .map_err(|e| corrupt("risk reasons", e))?,
        },
        computed_at: utc("risk time", &r.text("computed_at"))?,
        crossed_at: r
            .text_opt("crossed_at")
            .map(|t| utc("risk time", &t))
            .transpose()?,
    })
}
