//! The embedded default: one SQLite file in WAL mode (or a private in-memory database for
//! replay). SQLite has no SKIP LOCKED; outbox claims are single UPDATE ... RETURNING
//! statements, which SQLite serialises.

use super::shared::{
    lease_statements, Sql, ITEM_COLUMNS, LATEST_OBSERVATION, LINK_COLUMNS, RELEASE_LEASES,
    SIGHTING_COLUMNS,
};
use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

/// Rows per multi-row statement: well under SQLite's limit of bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// SQLite's clock in Unix milliseconds (`'now'`: one value per statement). The Julian day
/// is kept in whole milliseconds but read as a float: rounded, not truncated, it gives back
/// the millisecond it was, where truncation sometimes lands on the one before.
macro_rules! now_ms {
    () => {
        "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)"
    };
}
lease_statements!(now_ms!(), "MAX");

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
        // A file takes one writer at a time anyway: two connections let a page read while the
        // poller writes, and each more costs its thread, statement cache and page cache
        // (about 0.4 MiB each at 1,000 sources), read again after every other's write.
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { 2 })
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

    /// The migrated database itself, for `store copy`, which works on any table.
    pub(super) fn into_pool(self) -> SqlitePool {
        self.pool
    }
}

fn link_state(text: &str) -> Result<LinkState, StoreError> {
    LinkState::parse(text).ok_or_else(|| corrupt("link state", text))
}

/// The next revision is one past the highest: SQLite serialises writers, so no two share it.
const UPSERT_CASE: &str = "INSERT INTO cases (id, brand, status, record, revision, updated_at)
     VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(revision), 0) + 1 FROM cases), $5)
     ON CONFLICT (id) DO UPDATE SET brand = excluded.brand, status = excluded.status,
         record = excluded.record, revision = excluded.revision,
         updated_at = excluded.updated_at";

impl SqliteStore {
    fn sql(&self) -> Sql<'_, Sqlite> {
        Sql(&self.pool)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn installation_id(&self) -> Result<String, StoreError> {
        self.sql().installation_id(&new_installation_id()).await
    }

    async fn first_round(
        &self,
        done_at: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.sql()
            .first_round(done_at, &new_installation_id())
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn upsert_case(&self, case: &Case, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        Sql::<Sqlite>::upsert_case_on(&mut conn, UPSERT_CASE, case, now).await
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
                let (columns, join) = LATEST_OBSERVATION;
                let mut query = QueryBuilder::new(format!(
                    "SELECT i.id, i.guid, i.brand, {columns} FROM items i {join}
                     WHERE i.source = "
                ));
                query.push_bind(source).push(" AND i.guid IN (");
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
                            latest: rows::latest_observation(&row)?,
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
        if let Some(lease) = &batch.lease {
            // First, so the transaction takes SQLite's write lock before it reads anything.
            Sql::<Sqlite>::hold_lease_on(&mut tx, HOLD_LEASE, lease).await?;
        }
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

        let (last_seen, stored_seen) = seen_again(batch);
        let rows: Vec<_> = batch.observations.iter().zip(&last_seen).collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::new(
                "INSERT INTO observations (item_id, fetched_at, fetched_ms, reposts, comments,
                     likes, views, author_followers, last_seen_ms, text_digest) ",
            );
            query.push_values(chunk, |mut row, ((item, obs), last_seen)| {
                row.push_bind(item_id(*item))
                    .push_bind(obs.fetched_at.to_rfc3339())
                    .push_bind(obs.fetched_at.timestamp_millis())
                    .push_bind(obs.engagement.reposts)
                    .push_bind(obs.engagement.comments)
                    .push_bind(obs.engagement.likes)
                    .push_bind(obs.engagement.views)
                    .push_bind(obs.author_followers)
                    .push_bind(**last_seen)
                    .push_bind(ObservationRun::of(obs).text_digest);
            });
            query.build().execute(&mut *tx).await?;
        }
        for chunk in stored_seen.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::new(
                "UPDATE observations SET last_seen_ms = MAX(COALESCE(last_seen_ms, fetched_ms),
                     seen.column2) FROM (",
            );
            query.push_values(chunk, |mut row, (id, ms)| {
                row.push_bind(*id).push_bind(*ms);
            });
            query.push(") AS seen WHERE observations.id = seen.column1");
            query.build().execute(&mut *tx).await?;
        }

        let mut inserted_keys = HashSet::new();
        for chunk in batch.alerts.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::new(
                "INSERT INTO alerts (kind, case_id, brand, item_id, dedupe_key, message_id, subject,
                     body_text, body_html, created_at, next_attempt_ms, facts) ",
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
                    .push_bind(alert.created_at.timestamp_millis())
                    .push_bind(&alert.facts);
            });
            query.push(" ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key");
            for row in query.build().fetch_all(&mut *tx).await? {
                inserted_keys.insert(row.get::<String, _>("dedupe_key"));
            }
        }
        Sql::<Sqlite>::write_review(&mut tx, UPSERT_CASE, batch).await?;
        tx.commit().await?;
        Ok(Committed {
            new_item_ids,
            inserted_alerts: inserted_alerts(batch, inserted_keys),
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
                let item = rows::case_item(&row, true)?;
                if let Some(record) = evidence.get_mut(&case_id) {
                    record.items.push(item);
                }
            }
        }
        self.fill_sightings(
            evidence
                .values_mut()
                .flat_map(|r| r.items.iter_mut())
                .collect(),
        )
        .await?;
        Ok(evidence)
    }

    async fn confirmed_link_texts(&self) -> Result<Vec<LinkedText>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.case_id, i.title, i.body, i.url, i.author
             FROM links l JOIN items i ON i.id = l.item_id
             WHERE l.state = 'confirmed' ORDER BY i.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::linked_text).collect())
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
            .iter()
            .map(rows::claimed_alert)
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

    async fn retry_failed_alerts(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.sql().retry_failed_alerts(now).await
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
            "SELECT id, kind, case_id, brand, item_id, subject, status, attempts, last_error,
                 created_at, sent_at
             FROM alerts ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::alert_row).collect()
    }

    async fn source_state(&self, name: &str) -> Result<Option<SourceState>, StoreError> {
        Ok(self.sql().source_states(Some(name)).await?.pop())
    }

    async fn save_source_state(&self, state: &SourceState) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        Sql::<Sqlite>::upsert_source_state(&mut conn, state).await
    }

    async fn save_source_state_with_alert(
        &self,
        state: &SourceState,
        alert: &NewAlert,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        Sql::<Sqlite>::upsert_source_state(&mut tx, state).await?;
        let inserted = Sql::<Sqlite>::insert_loose_alert(&mut tx, alert, Some(&state.name)).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn source_states(&self) -> Result<Vec<SourceState>, StoreError> {
        self.sql().source_states(None).await
    }

    async fn followed_items(
        &self,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<FollowedItem>, StoreError> {
        self.sql().followed_items(source, since).await
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
            .map(rows::item_row)
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
            let mut q = QueryBuilder::new(format!(
                "SELECT item_id, {SIGHTING_COLUMNS} FROM observations WHERE item_id IN ("
            ));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(") ORDER BY fetched_ms, id");
            for row in q.build().fetch_all(&self.pool).await? {
                found
                    .entry(row.get("item_id"))
                    .or_default()
                    .push(rows::sighting(&row)?);
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
            .map(rows::link_row)
            .collect()
    }

    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::audit_row).collect()
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut stats = StoreStats::default();
        for row in
            sqlx::query("SELECT state, COUNT(*) AS n FROM links GROUP BY state ORDER BY state")
                .fetch_all(&self.pool)
                .await?
        {
            stats.links.push(rows::link_count(&row)?);
        }
        stats.outbox_depth =
            sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(stats)
    }

    async fn queue_alert(&self, alert: &NewAlert) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Sql::<Sqlite>::insert_loose_alert(&mut conn, alert, None).await
    }

    async fn last_alert_at(
        &self,
        kind: AlertKind,
    ) -> Result<Option<DateTime<FixedOffset>>, StoreError> {
        self.sql().last_alert_at(kind).await
    }

    async fn review_links(&self, limit: i64) -> Result<(Vec<ReviewLink>, i64), StoreError> {
        let (mut links, total) = self.sql().review_links(limit).await?;
        self.fill_sightings(links.iter_mut().map(|l| &mut l.item).collect())
            .await?;
        Ok((links, total))
    }

    async fn unlinked_items(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UnlinkedItem>, StoreError> {
        let mut items = self.sql().unlinked_items(since, until, limit).await?;
        self.fill_sightings(items.iter_mut().map(|u| &mut u.item).collect())
            .await?;
        Ok(items)
    }

    async fn save_risks(
        &self,
        risks: &[CaseRisk],
        alerts: &[NewAlert],
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = Sql::<Sqlite>::write_risks(&mut tx, risks, alerts).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn case_risks(&self, case_id: Option<&str>) -> Result<Vec<CaseRisk>, StoreError> {
        self.sql().case_risks(case_id).await
    }

    async fn case_standings(&self) -> Result<Vec<CaseStanding>, StoreError> {
        let open = self.cases(Some(CaseStatus::Open)).await?;
        self.sql().case_standings(open).await
    }

    async fn add_channel(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.sql().add_channel(name, ms(now)).await
    }

    async fn unrouted_alerts(
        &self,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<UnroutedAlert>, StoreError> {
        self.sql().unrouted_alerts(channel, limit).await
    }

    async fn add_delivery(
        &self,
        alert_id: i64,
        channel: &str,
        routed: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.sql()
            .add_delivery(alert_id, channel, routed, ms(now))
            .await
    }

    async fn claim_deliveries(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        self.sql()
            .claim_deliveries(channel, ms(now), ms(lease_until), limit)
            .await
    }

    async fn finish_delivery(
        &self,
        alert_id: i64,
        channel: &str,
        outcome: &DeliveryOutcome<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.sql()
            .finish_delivery(alert_id, channel, outcome, ms(now))
            .await
    }

    async fn channel_status(&self, channel: &str) -> Result<ChannelStatus, StoreError> {
        self.sql().channel_status(channel).await
    }

    async fn prune(
        &self,
        rules: &Retention,
        after: i64,
        batch: i64,
    ) -> Result<Option<(i64, Pruned)>, StoreError> {
        self.sql().prune(rules, after, batch).await
    }

    async fn prunable(&self, rules: &Retention) -> Result<Pruned, StoreError> {
        self.sql().prunable(rules).await
    }

    async fn storage_stats(&self) -> Result<StorageStats, StoreError> {
        let (tables, observed) = self.sql().table_rows().await?;
        let bytes: i64 = sqlx::query_scalar(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(StorageStats {
            tables: tables
                .into_iter()
                .map(|(table, rows)| TableStats {
                    table,
                    rows,
                    bytes: None,
                })
                .collect(),
            bytes,
            observed,
        })
    }

    async fn lease_source(
        &self,
        name: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<SourceLease>, StoreError> {
        // SQLite has no SKIP LOCKED; it serialises writers, so one conditional upsert is a
        // claim that two instances cannot both win.
        let row = sqlx::query(concat!(
            "INSERT INTO source_leases (name, owner, expires_ms) VALUES ($1, $2, ",
            now_ms!(),
            " + $3)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                 expires_ms = MAX(source_leases.expires_ms, excluded.expires_ms)
             WHERE source_leases.owner = excluded.owner OR source_leases.expires_ms < ",
            now_ms!(),
            "
             RETURNING polled_ms, expires_ms, ",
            now_ms!(),
            " AS now_ms"
        ))
        .bind(name)
        .bind(owner)
        .bind(lease_ms(lease))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::source_lease).transpose()
    }

    async fn record_polls(
        &self,
        owner: &str,
        polls: &[RecordedPoll],
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let recorded = Sql::<Sqlite>::record_polls(&mut tx, now_ms!(), owner, polls).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn renew_leases(&self, owner: &str, lease: Duration) -> Result<u64, StoreError> {
        self.sql()
            .leases(RENEW_LEASES, &[owner], &[lease_ms(lease)])
            .await
    }

    async fn release_leases(&self, owner: &str) -> Result<(), StoreError> {
        self.sql().leases(RELEASE_LEASES, &[owner], &[]).await?;
        Ok(())
    }
}
