//! The embedded default: one SQLite file in WAL mode (or a private in-memory database for
//! replay). SQLite has no SKIP LOCKED; outbox claims are single UPDATE ... RETURNING
//! statements, which SQLite serialises.

use super::*;
use sqlx::sqlite::SqliteRow;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqliteConnection, SqlitePool};
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

/// Rows per multi-row statement: well under SQLite's limit of bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let in_memory = url.contains(":memory:");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .synchronous(SqliteSynchronous::Normal);
        let options = if in_memory {
            options
        } else {
            options.journal_mode(SqliteJournalMode::Wal)
        };
        // Each connection to ":memory:" is a database of its own, so replay keeps exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { 4 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if in_memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

fn case_from_record(record: &str) -> Result<Case, StoreError> {
    serde_json::from_str(record).map_err(|e| corrupt("case record", e))
}

fn evidence_from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("link evidence", e))
}

async fn upsert_case_on(
    conn: &mut SqliteConnection,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let record = serde_json::to_string(case).map_err(|e| corrupt("case record", e))?;
    sqlx::query(
        "INSERT INTO cases (id, brand, status, record, revision, updated_at)
         VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(revision), 0) + 1 FROM cases), ?5)
         ON CONFLICT (id) DO UPDATE SET brand = excluded.brand, status = excluded.status,
             record = excluded.record, revision = excluded.revision,
             updated_at = excluded.updated_at",
    )
    .bind(&case.id)
    .bind(&case.brand)
    .bind(case.status.as_str())
    .bind(record)
    .bind(now.to_rfc3339())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The review writes of a batch: cases, link changes, resends and their audit rows.
async fn write_review(conn: &mut SqliteConnection, batch: &Batch<'_>) -> Result<(), StoreError> {
    for (case, at) in &batch.cases {
        upsert_case_on(conn, case, *at).await?;
    }
    for change in &batch.link_changes {
        match change {
            LinkChange::Decide {
                item_id,
                case_id,
                state,
                actor,
                at,
            } => {
                sqlx::query(
                    "UPDATE links SET state = ?3, decided_by = ?4, decided_at = ?5
                     WHERE item_id = ?1 AND case_id = ?2",
                )
                .bind(item_id)
                .bind(case_id)
                .bind(state.as_str())
                .bind(actor)
                .bind(at.to_rfc3339())
                .execute(&mut *conn)
                .await?;
            }
            LinkChange::Propose { item_id, link, at } => {
                let evidence = serde_json::to_string(&link.evidence)
                    .map_err(|e| corrupt("link evidence", e))?;
                sqlx::query(
                    "INSERT INTO links (item_id, case_id, state, score, evidence, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (item_id, case_id) DO UPDATE SET state = excluded.state,
                         score = excluded.score, evidence = excluded.evidence
                     WHERE links.state = 'candidate' AND links.decided_by IS NULL
                       AND excluded.state = 'confirmed'",
                )
                .bind(item_id)
                .bind(&link.case_id)
                .bind(link.state.as_str())
                .bind(link.score)
                .bind(evidence)
                .bind(at.to_rfc3339())
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    for (id, at) in &batch.alert_resends {
        sqlx::query(
            "UPDATE alerts SET status = 'pending', next_attempt_ms = ?2, lease_until_ms = NULL,
                 last_error = NULL, sent_at = NULL
             WHERE id = ?1",
        )
        .bind(id)
        .bind(ms(*at))
        .execute(&mut *conn)
        .await?;
    }
    for entry in &batch.audit {
        sqlx::query(
            "INSERT INTO audit (at, at_ms, actor, action, target, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(entry.at.to_rfc3339())
        .bind(ms(entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(entry.detail.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn item_row(row: &SqliteRow) -> Result<ItemRow, StoreError> {
    let channel: String = row.get("channel");
    Ok(ItemRow {
        id: row.get("id"),
        source: row.get("source"),
        guid: row.get("guid"),
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("item channel", &channel))?,
        url: row.get("url"),
        title: row.get("title"),
        body: row.get("body"),
        author: row.get("author"),
        brand: row.get("brand"),
        published_at: parse_optional_time("item time", row.get("published_at"))?,
        first_seen_at: parse_time("item time", row.get("first_seen_at"))?,
        links: Vec::new(),
    })
}

fn link_state(text: &str) -> Result<LinkState, StoreError> {
    LinkState::parse(text).ok_or_else(|| corrupt("link state", text))
}

/// A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The columns `case_item` reads, from `items i` (and `links l` when linked).
const ITEM_COLUMNS: &str = "i.id, i.source, i.guid, i.channel, i.url, i.title, i.body, i.author,
     i.published_at, i.first_seen_at";
const LINK_COLUMNS: &str = "l.case_id, l.state, l.score, l.evidence";

/// An item row, with its link when `linked` (sightings are filled in apart).
fn case_item(row: &SqliteRow, linked: bool) -> Result<CaseItem, StoreError> {
    let channel: String = row.get("channel");
    let (link_state, link_score, link_evidence) = if linked {
        let state: String = row.get("state");
        (
            LinkState::parse(&state).ok_or_else(|| corrupt("link state", &state))?,
            row.get("score"),
            evidence_from_json(row.get("evidence"))?,
        )
    } else {
        (LinkState::Candidate, 0.0, Vec::new())
    };
    Ok(CaseItem {
        item_id: row.get("id"),
        source: row.get("source"),
        guid: row.get("guid"),
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("item channel", &channel))?,
        url: row.get("url"),
        title: row.get("title"),
        body: row.get("body"),
        author: row.get("author"),
        published_at: parse_optional_time("item time", row.get("published_at"))?,
        first_seen_at: parse_time("item time", row.get("first_seen_at"))?,
        link_state,
        link_score,
        link_evidence,
        sightings: Vec::new(),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn upsert_case(&self, case: &Case, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        upsert_case_on(&mut conn, case, now).await
    }

    async fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        let row = sqlx::query("SELECT record FROM cases WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| case_from_record(r.get("record"))).transpose()
    }

    async fn cases(&self, status: Option<CaseStatus>) -> Result<Vec<Case>, StoreError> {
        let rows =
            sqlx::query("SELECT record FROM cases WHERE ?1 IS NULL OR status = ?1 ORDER BY id")
                .bind(status.map(|s| s.as_str()))
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| case_from_record(r.get("record")))
            .collect()
    }

    async fn close_case(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(mut case) = self.case(id).await? else {
            return Ok(false);
        };
        case.status = CaseStatus::Closed;
        self.upsert_case(&case, now).await?;
        Ok(true)
    }

    async fn cases_revision(&self) -> Result<i64, StoreError> {
        let revision: Option<i64> = sqlx::query_scalar("SELECT MAX(revision) FROM cases")
            .fetch_one(&self.pool)
            .await?;
        Ok(revision.unwrap_or(0))
    }

    async fn items(&self, keys: &[ItemKey]) -> Result<HashMap<ItemKey, StoredItem>, StoreError> {
        let mut by_source: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for key in keys {
            by_source.entry(&key.source).or_default().push(&key.guid);
        }
        let mut found = HashMap::new();
        let mut ids = Vec::new();
        for (source, guids) in by_source {
            for chunk in guids.chunks(ROWS_PER_STATEMENT) {
                let mut query =
                    QueryBuilder::new("SELECT id, guid, brand FROM items WHERE source = ");
                query.push_bind(source).push(" AND guid IN (");
                let mut list = query.separated(", ");
                for guid in chunk {
                    list.push_bind(*guid);
                }
                query.push(")");
                for row in query.build().fetch_all(&self.pool).await? {
                    let id: i64 = row.get("id");
                    ids.push(id);
                    found.insert(
                        ItemKey {
                            source: source.to_string(),
                            guid: row.get("guid"),
                        },
                        StoredItem {
                            id,
                            brand: row.get("brand"),
                            linked_cases: Vec::new(),
                        },
                    );
                }
            }
        }
        let mut links: HashMap<i64, Vec<(String, LinkState)>> = HashMap::new();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut query =
                QueryBuilder::new("SELECT item_id, case_id, state FROM links WHERE item_id IN (");
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            query.push(") ORDER BY item_id, case_id");
            for row in query.build().fetch_all(&self.pool).await? {
                let state: String = row.get("state");
                let state =
                    LinkState::parse(&state).ok_or_else(|| corrupt("link state", &state))?;
                links
                    .entry(row.get("item_id"))
                    .or_default()
                    .push((row.get("case_id"), state));
            }
        }
        for item in found.values_mut() {
            item.linked_cases = links.remove(&item.id).unwrap_or_default();
        }
        Ok(found)
    }

    async fn commit(&self, batch: &Batch<'_>) -> Result<Committed, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut new_item_ids = vec![0i64; batch.new_items.len()];
        let positions: HashMap<(&str, &str), usize> = batch
            .new_items
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    (n.observation.source.as_str(), n.observation.guid.as_str()),
                    i,
                )
            })
            .collect();
        for chunk in batch.new_items.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::new(
                "INSERT INTO items (source, guid, channel, url, title, body, author, published_at,
                     first_seen_at, brand) ",
            );
            query.push_values(chunk, |mut row, item| {
                let obs = item.observation;
                row.push_bind(&obs.source)
                    .push_bind(&obs.guid)
                    .push_bind(obs.channel.as_str())
                    .push_bind(&obs.url)
                    .push_bind(&obs.title)
                    .push_bind(&obs.body)
                    .push_bind(&obs.author)
                    .push_bind(obs.published_at.map(|t| t.to_rfc3339()))
                    .push_bind(obs.fetched_at.to_rfc3339())
                    .push_bind(&item.brand);
            });
            // RETURNING comes in no particular order, so the ids are matched by key.
            query.push(" RETURNING id, source, guid");
            for row in query.build().fetch_all(&mut *tx).await? {
                let (source, guid): (String, String) = (row.get("source"), row.get("guid"));
                if let Some(&position) = positions.get(&(source.as_str(), guid.as_str())) {
                    new_item_ids[position] = row.get("id");
                }
            }
        }
        let item_id = |item: ItemRef| match item {
            ItemRef::Stored(id) => id,
            ItemRef::New(position) => new_item_ids[position],
        };

        let links: Vec<(i64, &NewItem<'_>, &NewLink)> = batch
            .new_items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| item.links.iter().map(move |l| (i, item, l)))
            .map(|(i, item, link)| (new_item_ids[i], item, link))
            .collect();
        for chunk in links.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::new(
                "INSERT INTO links (item_id, case_id, state, score, evidence, created_at) ",
            );
            let mut evidence = Vec::with_capacity(chunk.len());
            for (_, _, link) in chunk {
                evidence.push(
                    serde_json::to_string(&link.evidence)
                        .map_err(|e| corrupt("link evidence", e))?,
                );
            }
            query.push_values(
                chunk.iter().zip(&evidence),
                |mut row, ((id, item, link), evidence)| {
                    row.push_bind(*id)
                        .push_bind(&link.case_id)
                        .push_bind(link.state.as_str())
                        .push_bind(link.score)
                        .push_bind(evidence)
                        .push_bind(item.observation.fetched_at.to_rfc3339());
                },
            );
            query.build().execute(&mut *tx).await?;
        }

        for chunk in batch.observations.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::new(
                "INSERT INTO observations (item_id, fetched_at, fetched_ms, reposts, comments,
                     likes, views, author_followers) ",
            );
            query.push_values(chunk, |mut row, (item, obs)| {
                row.push_bind(item_id(*item))
                    .push_bind(obs.fetched_at.to_rfc3339())
                    .push_bind(obs.fetched_at.timestamp_millis())
                    .push_bind(obs.engagement.reposts)
                    .push_bind(obs.engagement.comments)
                    .push_bind(obs.engagement.likes)
                    .push_bind(obs.engagement.views)
                    .push_bind(obs.author_followers);
            });
            query.build().execute(&mut *tx).await?;
        }

        let mut inserted_keys = HashSet::new();
        for chunk in batch.alerts.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::new(
                "INSERT INTO alerts (kind, case_id, brand, item_id, dedupe_key, message_id, subject,
                     body_text, body_html, created_at, next_attempt_ms) ",
            );
            query.push_values(chunk, |mut row, (item, alert)| {
                row.push_bind(alert.kind.as_str())
                    .push_bind(&alert.case_id)
                    .push_bind(&alert.brand)
                    .push_bind(item_id(*item))
                    .push_bind(&alert.dedupe_key)
                    .push_bind(&alert.message_id)
                    .push_bind(&alert.subject)
                    .push_bind(&alert.text)
                    .push_bind(&alert.html)
                    .push_bind(alert.created_at.to_rfc3339())
                    .push_bind(alert.created_at.timestamp_millis());
            });
            query.push(" ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key");
            for row in query.build().fetch_all(&mut *tx).await? {
                inserted_keys.insert(row.get::<String, _>("dedupe_key"));
            }
        }
        write_review(&mut tx, batch).await?;
        tx.commit().await?;
        // Rows go in batch order, so of two alerts sharing a key in one batch the first is
        // the one stored; removing the key credits it to that one only.
        let inserted_alerts = batch
            .alerts
            .iter()
            .enumerate()
            .filter(|(_, (_, alert))| inserted_keys.remove(&alert.dedupe_key))
            .map(|(i, _)| i)
            .collect();
        Ok(Committed {
            new_item_ids,
            inserted_alerts,
        })
    }

    async fn case_evidence(
        &self,
        case_ids: &[String],
        scope: EvidenceScope,
    ) -> Result<HashMap<String, CaseEvidence>, StoreError> {
        let mut evidence: HashMap<String, CaseEvidence> = case_ids
            .iter()
            .map(|id| (id.clone(), CaseEvidence::default()))
            .collect();
        let mut items_by_id: HashMap<i64, Vec<(String, usize)>> = HashMap::new();
        for chunk in case_ids.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::new(
                "SELECT case_id, kind FROM alerts
                 WHERE kind IN ('surfaced', 'spreading', 'viral') AND case_id IN (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            query.push(")");
            for row in query.build().fetch_all(&self.pool).await? {
                let case_id: String = row.get("case_id");
                let stage = Stage::parse(row.get("kind"));
                if let Some(record) = evidence.get_mut(&case_id) {
                    record.stage = record.stage.max(stage);
                }
            }

            // Item ids grow in the order items were first seen.
            let mut query = QueryBuilder::new(format!(
                "SELECT {ITEM_COLUMNS}, {LINK_COLUMNS}
                 FROM links l JOIN items i ON i.id = l.item_id
                 WHERE {} AND l.case_id IN (",
                scope.link_condition()
            ));
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            query.push(") ORDER BY i.id");
            for row in query.build().fetch_all(&self.pool).await? {
                let case_id: String = row.get("case_id");
                let item = case_item(&row, true)?;
                let item_id = item.item_id;
                if let Some(record) = evidence.get_mut(&case_id) {
                    items_by_id
                        .entry(item_id)
                        .or_default()
                        .push((case_id, record.items.len()));
                    record.items.push(item);
                }
            }
        }
        let item_ids: Vec<i64> = items_by_id.keys().copied().collect();
        let mut sightings = self.sightings(&item_ids).await?;
        for (item_id, places) in items_by_id {
            let history = sightings.remove(&item_id).unwrap_or_default();
            for (case_id, position) in places {
                if let Some(record) = evidence.get_mut(&case_id) {
                    record.items[position].sightings = history.clone();
                }
            }
        }
        Ok(evidence)
    }

    async fn confirmed_link_texts(&self) -> Result<Vec<LinkedText>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.case_id, i.title, i.body, i.url, i.author FROM links l JOIN items i ON i.id = l.item_id
             WHERE l.state = 'confirmed' ORDER BY i.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| LinkedText {
                case_id: r.get("case_id"),
                title: r.get("title"),
                body: r.get("body"),
                url: r.get("url"),
                author: r.get("author"),
            })
            .collect())
    }

    async fn claim_alerts(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedAlert>, StoreError> {
        let rows = sqlx::query(
            "UPDATE alerts SET lease_until_ms = ?2
             WHERE id IN (SELECT id FROM alerts
                          WHERE status = 'pending' AND next_attempt_ms <= ?1
                            AND (lease_until_ms IS NULL OR lease_until_ms < ?1)
                          ORDER BY id LIMIT ?3)
             RETURNING id, kind, case_id, source, message_id, subject, body_text, body_html,
                 attempts,
                 COALESCE((SELECT status = 'open' FROM cases WHERE cases.id = alerts.case_id), 1)
                     AS case_open",
        )
        .bind(ms(now))
        .bind(ms(lease_until))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .into_iter()
            .map(|r| {
                let kind: String = r.get("kind");
                Ok(ClaimedAlert {
                    id: r.get("id"),
                    kind: AlertKind::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))?,
                    case_id: r.get("case_id"),
                    case_open: r.get::<i64, _>("case_open") != 0,
                    message_id: r.get("message_id"),
                    subject: r.get("subject"),
                    text: r.get("body_text"),
                    html: r.get("body_html"),
                    attempts: r.get("attempts"),
                    source: r.get("source"),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING gives no order guarantee; deliveries go out oldest first.
        claimed.sort_by_key(|a| a.id);
        Ok(claimed)
    }

    async fn mark_alert_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alerts SET status = 'sent', sent_at = ?2, attempts = attempts + 1,
                 lease_until_ms = NULL, last_error = NULL
             WHERE id = ?1",
        )
        .bind(id)
        .bind(now.to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_alert_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3,
                 lease_until_ms = NULL
             WHERE id = ?1 AND status = 'pending'",
        )
        .bind(id)
        .bind(error)
        .bind(ms(next_attempt))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn cancel_alert(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alerts SET status = 'cancelled', last_error = ?2, lease_until_ms = NULL
             WHERE id = ?1 AND status = 'pending'",
        )
        .bind(id)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn alerts(&self) -> Result<Vec<AlertRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, case_id, brand, subject, status, attempts, last_error, created_at, sent_at
             FROM alerts ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let kind: String = r.get("kind");
                let status: String = r.get("status");
                Ok(AlertRow {
                    id: r.get("id"),
                    kind: AlertKind::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))?,
                    case_id: r.get("case_id"),
                    brand: r.get("brand"),
                    subject: r.get("subject"),
                    status: AlertStatus::parse(&status)
                        .ok_or_else(|| corrupt("alert status", &status))?,
                    attempts: r.get("attempts"),
                    last_error: r.get("last_error"),
                    created_at: r.get("created_at"),
                    sent_at: r.get("sent_at"),
                })
            })
            .collect()
    }

    async fn source_state(&self, name: &str) -> Result<Option<SourceState>, StoreError> {
        let row = sqlx::query(&format!("{SOURCE_STATE_SELECT} WHERE name = ?1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| source_state_from_row(&r)).transpose()
    }

    async fn save_source_state(&self, state: &SourceState) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        upsert_source_state(&mut conn, state).await
    }

    async fn save_source_state_with_alert(
        &self,
        state: &SourceState,
        alert: &NewAlert,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        upsert_source_state(&mut tx, state).await?;
        let inserted = sqlx::query(
            "INSERT INTO alerts (kind, case_id, brand, source, dedupe_key, message_id, subject,
                 body_text, body_html, created_at, next_attempt_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(alert.kind.as_str())
        .bind(&alert.case_id)
        .bind(&alert.brand)
        .bind(&state.name)
        .bind(&alert.dedupe_key)
        .bind(&alert.message_id)
        .bind(&alert.subject)
        .bind(&alert.text)
        .bind(&alert.html)
        .bind(alert.created_at.to_rfc3339())
        .bind(alert.created_at.timestamp_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn source_states(&self) -> Result<Vec<SourceState>, StoreError> {
        let rows = sqlx::query(&format!("{SOURCE_STATE_SELECT} ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(source_state_from_row).collect()
    }

    async fn followed_items(
        &self,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<FollowedItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.guid, i.url, i.title, i.body, i.author, i.published_at, i.first_seen_at
             FROM items i
             WHERE i.source = ?1 AND i.url IS NOT NULL
               AND EXISTS (SELECT 1 FROM links l JOIN cases c ON c.id = l.case_id
                           WHERE l.item_id = i.id AND l.state <> 'rejected'
                             AND c.status = 'open')
             ORDER BY i.id",
        )
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        let mut items = Vec::new();
        for r in rows {
            // Stored times carry their own offsets, so the age is compared here, not in SQL.
            let first_seen_at = parse_time("item time", r.get("first_seen_at"))?;
            if first_seen_at < since {
                continue;
            }
            items.push(FollowedItem {
                guid: r.get("guid"),
                url: r.get("url"),
                title: r.get("title"),
                body: r.get("body"),
                author: r.get("author"),
                published_at: parse_optional_time("item time", r.get("published_at"))?,
                first_seen_at,
            });
        }
        Ok(items)
    }

    async fn find_items(&self, query: &ItemQuery) -> Result<Vec<ItemRow>, StoreError> {
        // Times are compared as milliseconds: stored texts carry different offsets.
        let mut q = QueryBuilder::new(
            "SELECT i.id, i.source, i.guid, i.channel, i.url, i.title, i.body, i.author,
                    COALESCE(i.brand, '') AS brand, i.published_at, i.first_seen_at
             FROM items i WHERE i.brand IS NOT NULL",
        );
        if !query.ids.is_empty() {
            q.push(" AND i.id IN (");
            let mut list = q.separated(", ");
            for id in query.ids.iter().take(MAX_QUERY_IDS) {
                list.push_bind(*id);
            }
            q.push(")");
        }
        if let Some(brand) = &query.brand {
            q.push(" AND i.brand = ").push_bind(brand);
        }
        if let Some(case_id) = &query.case_id {
            q.push(" AND EXISTS (SELECT 1 FROM links l WHERE l.item_id = i.id AND l.case_id = ")
                .push_bind(case_id)
                .push(")");
        }
        if let Some(text) = &query.text {
            let pattern = contains_pattern(text);
            q.push(" AND (i.title LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR i.body LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR i.author LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        let first_seen = "(SELECT MIN(o.fetched_ms) FROM observations o WHERE o.item_id = i.id)";
        if let Some(since) = query.since {
            q.push(format!(" AND {first_seen} >= "))
                .push_bind(ms(since));
        }
        if let Some(until) = query.until {
            q.push(format!(" AND {first_seen} < ")).push_bind(ms(until));
        }
        q.push(" ORDER BY i.id DESC LIMIT ").push_bind(query.limit);
        let mut items = q
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(item_row)
            .collect::<Result<Vec<_>, _>>()?;
        let positions: HashMap<i64, usize> =
            items.iter().enumerate().map(|(p, i)| (i.id, p)).collect();
        let ids: Vec<i64> = positions.keys().copied().collect();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut q =
                QueryBuilder::new("SELECT item_id, case_id, state FROM links WHERE item_id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(") ORDER BY case_id");
            for row in q.build().fetch_all(&self.pool).await? {
                let state = link_state(row.get("state"))?;
                if let Some(&p) = positions.get(&row.get::<i64, _>("item_id")) {
                    items[p].links.push((row.get("case_id"), state));
                }
            }
        }
        Ok(items)
    }

    async fn sightings(&self, item_ids: &[i64]) -> Result<HashMap<i64, Vec<Sighting>>, StoreError> {
        let mut found: HashMap<i64, Vec<Sighting>> = HashMap::new();
        for chunk in item_ids.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::new(
                "SELECT item_id, fetched_at, reposts, comments, likes, views, author_followers
                 FROM observations WHERE item_id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(") ORDER BY fetched_ms, id");
            for row in q.build().fetch_all(&self.pool).await? {
                found.entry(row.get("item_id")).or_default().push(Sighting {
                    at: parse_time("observation time", row.get("fetched_at"))?,
                    engagement: Engagement {
                        reposts: row.get("reposts"),
                        comments: row.get("comments"),
                        likes: row.get("likes"),
                        views: row.get("views"),
                    },
                    author_followers: row.get("author_followers"),
                });
            }
        }
        Ok(found)
    }

    async fn find_links(&self, query: &LinkQuery) -> Result<Vec<LinkRow>, StoreError> {
        let mut q = QueryBuilder::new(
            "SELECT l.item_id, l.case_id, l.state, l.score, l.evidence, l.created_at,
                    l.decided_by, l.decided_at
             FROM links l JOIN items i ON i.id = l.item_id WHERE 1 = 1",
        );
        if let Some(state) = query.state {
            q.push(" AND l.state = ").push_bind(state.as_str());
        }
        if let Some(case_id) = &query.case_id {
            q.push(" AND l.case_id = ").push_bind(case_id);
        }
        if let Some(item_id) = query.item_id {
            q.push(" AND l.item_id = ").push_bind(item_id);
        }
        if let Some(brand) = &query.brand {
            q.push(" AND i.brand = ").push_bind(brand);
        }
        q.push(" ORDER BY l.score DESC, l.item_id DESC, l.case_id LIMIT ")
            .push_bind(query.limit);
        q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(LinkRow {
                    item_id: row.get("item_id"),
                    case_id: row.get("case_id"),
                    state: link_state(row.get("state"))?,
                    score: row.get("score"),
                    evidence: evidence_from_json(row.get("evidence"))?,
                    created_at: row.get("created_at"),
                    decided_by: row.get("decided_by"),
                    decided_at: row.get("decided_at"),
                })
            })
            .collect()
    }

    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.get("detail");
                Ok(AuditRow {
                    id: row.get("id"),
                    entry: AuditEntry {
                        actor: row.get("actor"),
                        action: row.get("action"),
                        target: row.get("target"),
                        detail: serde_json::from_str(&detail)
                            .map_err(|e| corrupt("audit detail", e))?,
                        at: parse_time("audit time", row.get("at"))?.with_timezone(&Utc),
                    },
                })
            })
            .collect()
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut stats = StoreStats::default();
        for row in
            sqlx::query("SELECT state, COUNT(*) AS n FROM links GROUP BY state ORDER BY state")
                .fetch_all(&self.pool)
                .await?
        {
            stats
                .links
                .push((link_state(row.get("state"))?, row.get("n")));
        }
        stats.outbox_depth =
            sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(stats)
    }

    async fn queue_alert(&self, alert: &NewAlert) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO alerts (kind, case_id, brand, item_id, dedupe_key, message_id, subject,
                 body_text, body_html, created_at, next_attempt_ms)
             VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(alert.kind.as_str())
        .bind(&alert.case_id)
        .bind(&alert.brand)
        .bind(&alert.dedupe_key)
        .bind(&alert.message_id)
        .bind(&alert.subject)
        .bind(&alert.text)
        .bind(&alert.html)
        .bind(alert.created_at.to_rfc3339())
        .bind(alert.created_at.timestamp_millis())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn last_alert_at(
        &self,
        kind: AlertKind,
    ) -> Result<Option<DateTime<FixedOffset>>, StoreError> {
        let created: Option<String> = sqlx::query_scalar(
            "SELECT created_at FROM alerts WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
        )
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?;
        created.map(|t| parse_time("alert time", &t)).transpose()
    }

    async fn review_links(&self, limit: i64) -> Result<(Vec<ReviewLink>, i64), StoreError> {
        const OPEN_CANDIDATES: &str = "FROM links l JOIN items i ON i.id = l.item_id
             JOIN cases c ON c.id = l.case_id
             WHERE l.state = 'candidate' AND c.status = 'open'";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {OPEN_CANDIDATES}"))
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {ITEM_COLUMNS}, {LINK_COLUMNS} {OPEN_CANDIDATES}
             ORDER BY l.score DESC, i.id DESC LIMIT ?1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut links = rows
            .iter()
            .map(|row| {
                Ok(ReviewLink {
                    case_id: row.get("case_id"),
                    item: case_item(row, true)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let ids: Vec<i64> = links.iter().map(|l| l.item.item_id).collect();
        // An item may be a candidate for two cases, so its history is copied, not moved.
        let sightings = self.sightings(&ids).await?;
        for link in &mut links {
            link.item.sightings = sightings
                .get(&link.item.item_id)
                .cloned()
                .unwrap_or_default();
        }
        Ok((links, total))
    }

    async fn unlinked_items(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UnlinkedItem>, StoreError> {
        // The first observation's millisecond clock, not first_seen_at: that text keeps the
        // offset it was seen in and does not compare as a time.
        let rows = sqlx::query(&format!(
            "SELECT {ITEM_COLUMNS}, i.brand,
                    EXISTS (SELECT 1 FROM alerts a WHERE a.item_id = i.id AND a.kind = 'unlinked')
                        AS alerted
             FROM items i
             JOIN (SELECT item_id, MIN(fetched_ms) AS first_ms FROM observations
                   GROUP BY item_id) f ON f.item_id = i.id
             WHERE i.brand IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM links l WHERE l.item_id = i.id)
               AND f.first_ms >= ?1 AND f.first_ms < ?2
             ORDER BY f.first_ms DESC, i.id DESC LIMIT ?3"
        ))
        .bind(ms(since))
        .bind(ms(until))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows
            .iter()
            .map(|row| {
                Ok(UnlinkedItem {
                    brand: row.get("brand"),
                    item: case_item(row, false)?,
                    alerted: row.get::<i64, _>("alerted") != 0,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let ids: Vec<i64> = items.iter().map(|u| u.item.item_id).collect();
        let mut sightings = self.sightings(&ids).await?;
        for unlinked in &mut items {
            unlinked.item.sightings = sightings.remove(&unlinked.item.item_id).unwrap_or_default();
        }
        Ok(items)
    }

    async fn case_standings(&self) -> Result<Vec<CaseStanding>, StoreError> {
        let cases = self.cases(Some(CaseStatus::Open)).await?;
        let mut stages: HashMap<String, (Stage, DateTime<FixedOffset>)> = HashMap::new();
        let rows = sqlx::query(
            "SELECT a.case_id, a.kind, a.created_at FROM alerts a JOIN cases c ON c.id = a.case_id
             WHERE c.status = 'open' AND a.kind IN ('surfaced', 'spreading', 'viral')",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let kind: String = row.get("kind");
            let stage = Stage::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))?;
            let at = parse_time("alert time", row.get("created_at"))?;
            let entry = stages.entry(row.get("case_id")).or_insert((stage, at));
            if stage > entry.0 {
                *entry = (stage, at);
            }
        }
        let mut counts: HashMap<String, (i64, i64)> = HashMap::new();
        let rows = sqlx::query(
            "SELECT l.case_id,
                    SUM(CASE WHEN l.state = 'confirmed' THEN 1 ELSE 0 END) AS confirmed,
                    SUM(CASE WHEN l.state = 'candidate' THEN 1 ELSE 0 END) AS candidate
             FROM links l JOIN cases c ON c.id = l.case_id
             WHERE c.status = 'open' GROUP BY l.case_id",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            counts.insert(
                row.get("case_id"),
                (row.get("confirmed"), row.get("candidate")),
            );
        }
        Ok(cases
            .into_iter()
            .map(|case| {
                let (confirmed_items, candidate_items) =
                    counts.get(&case.id).copied().unwrap_or_default();
                CaseStanding {
                    stage: stages.get(&case.id).copied(),
                    case,
                    confirmed_items,
                    candidate_items,
                }
            })
            .collect())
    }
}

const SOURCE_STATE_SELECT: &str =
    "SELECT name, etag, last_modified, consecutive_failures, last_success_at, last_error,
            last_error_at, items_seen, health, failing_since, down_alerted, last_items,
            last_poll_at
     FROM source_state";

fn source_state_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<SourceState, StoreError> {
    let utc = |what, v: Option<String>| {
        parse_optional_time(what, v).map(|t| t.map(|t| t.with_timezone(&Utc)))
    };
    let health: String = r.get("health");
    Ok(SourceState {
        name: r.get("name"),
        etag: r.get("etag"),
        last_modified: r.get("last_modified"),
        consecutive_failures: r.get("consecutive_failures"),
        last_success_at: utc("source success time", r.get("last_success_at"))?,
        last_error: r.get("last_error"),
        last_error_at: utc("source error time", r.get("last_error_at"))?,
        items_seen: r.get("items_seen"),
        health: SourceHealth::parse(&health).ok_or_else(|| corrupt("source health", &health))?,
        failing_since: utc("source outage time", r.get("failing_since"))?,
        down_alerted: r.get::<i64, _>("down_alerted") != 0,
        last_items: r.get("last_items"),
        last_poll_at: utc("source poll time", r.get("last_poll_at"))?,
    })
}

async fn upsert_source_state(
    conn: &mut sqlx::SqliteConnection,
    state: &SourceState,
) -> Result<(), StoreError> {
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
    sqlx::query(
        "INSERT INTO source_state (name, etag, last_modified, consecutive_failures,
             last_success_at, last_error, last_error_at, items_seen, health, failing_since,
             down_alerted, last_items, last_poll_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (name) DO UPDATE SET etag = excluded.etag,
             last_modified = excluded.last_modified,
             consecutive_failures = excluded.consecutive_failures,
             last_success_at = excluded.last_success_at, last_error = excluded.last_error,
             last_error_at = excluded.last_error_at, items_seen = excluded.items_seen,
             health = excluded.health, failing_since = excluded.failing_since,
             down_alerted = excluded.down_alerted, last_items = excluded.last_items,
             last_poll_at = excluded.last_poll_at",
    )
    .bind(&state.name)
    .bind(&state.etag)
    .bind(&state.last_modified)
    .bind(state.consecutive_failures)
    .bind(time(state.last_success_at))
    .bind(&state.last_error)
    .bind(time(state.last_error_at))
    .bind(state.items_seen)
    .bind(state.health.as_str())
    .bind(time(state.failing_since))
    .bind(state.down_alerted)
    .bind(state.last_items)
    .bind(time(state.last_poll_at))
    .execute(conn)
    .await?;
    Ok(())
}
