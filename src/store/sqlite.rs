//! The embedded default: one SQLite file in WAL mode (or a private in-memory database for
//! replay). SQLite has no SKIP LOCKED; outbox claims are single UPDATE ... RETURNING
//! statements, which SQLite serialises.

use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

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

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn upsert_case(&self, case: &Case, now: DateTime<Utc>) -> Result<(), StoreError> {
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
        .execute(&self.pool)
        .await?;
        Ok(())
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

    async fn item(&self, source: &str, guid: &str) -> Result<Option<StoredItem>, StoreError> {
        let row = sqlx::query("SELECT id, brand FROM items WHERE source = ?1 AND guid = ?2")
            .bind(source)
            .bind(guid)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.get("id");
        let links =
            sqlx::query("SELECT case_id, state FROM links WHERE item_id = ?1 ORDER BY case_id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        let linked_cases = links
            .into_iter()
            .map(|l| {
                let state: String = l.get("state");
                let state =
                    LinkState::parse(&state).ok_or_else(|| corrupt("link state", &state))?;
                Ok((l.get("case_id"), state))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(StoredItem {
            id,
            brand: row.get("brand"),
            linked_cases,
        }))
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<Committed, StoreError> {
        let obs = commit.observation;
        let mut tx = self.pool.begin().await?;
        let item_id: i64 = match &commit.first_sighting {
            Some(first) => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO items (source, guid, channel, url, title, body, author,
                         published_at, first_seen_at, brand)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     RETURNING id",
                )
                .bind(&obs.source)
                .bind(&obs.guid)
                .bind(obs.channel.as_str())
                .bind(&obs.url)
                .bind(&obs.title)
                .bind(&obs.body)
                .bind(&obs.author)
                .bind(obs.published_at.map(|t| t.to_rfc3339()))
                .bind(obs.fetched_at.to_rfc3339())
                .bind(&first.brand)
                .fetch_one(&mut *tx)
                .await?;
                for link in &first.links {
                    let evidence = serde_json::to_string(&link.evidence)
                        .map_err(|e| corrupt("link evidence", e))?;
                    sqlx::query(
                        "INSERT INTO links (item_id, case_id, state, score, evidence, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .bind(id)
                    .bind(&link.case_id)
                    .bind(link.state.as_str())
                    .bind(link.score)
                    .bind(evidence)
                    .bind(obs.fetched_at.to_rfc3339())
                    .execute(&mut *tx)
                    .await?;
                }
                id
            }
            None => {
                sqlx::query_scalar("SELECT id FROM items WHERE source = ?1 AND guid = ?2")
                    .bind(&obs.source)
                    .bind(&obs.guid)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        sqlx::query(
            "INSERT INTO observations (item_id, fetched_at, fetched_ms, reposts, comments, likes, views,
                 author_followers)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(item_id)
        .bind(obs.fetched_at.to_rfc3339())
        .bind(obs.fetched_at.timestamp_millis())
        .bind(obs.engagement.reposts)
        .bind(obs.engagement.comments)
        .bind(obs.engagement.likes)
        .bind(obs.engagement.views)
        .bind(obs.author_followers)
        .execute(&mut *tx)
        .await?;
        let mut inserted_alerts = Vec::new();
        for alert in &commit.alerts {
            let inserted = sqlx::query(
                "INSERT INTO alerts (kind, case_id, brand, item_id, dedupe_key, message_id, subject,
                     body_text, body_html, created_at, next_attempt_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )
            .bind(alert.kind.as_str())
            .bind(&alert.case_id)
            .bind(&alert.brand)
            .bind(item_id)
            .bind(&alert.dedupe_key)
            .bind(&alert.message_id)
            .bind(&alert.subject)
            .bind(&alert.text)
            .bind(&alert.html)
            .bind(alert.created_at.to_rfc3339())
            .bind(alert.created_at.timestamp_millis())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                inserted_alerts.push(alert.clone());
            }
        }
        tx.commit().await?;
        Ok(Committed {
            item_id,
            inserted_alerts,
        })
    }

    async fn case_evidence(&self, case_id: &str) -> Result<CaseEvidence, StoreError> {
        let stages: Vec<String> = sqlx::query_scalar(
            "SELECT kind FROM alerts WHERE case_id = ?1 AND kind IN ('surfaced', 'spreading', 'viral')",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        let stage = stages.iter().filter_map(|s| Stage::parse(s)).max();
        let rows = sqlx::query(
            "SELECT i.id, i.source, i.guid, i.channel, i.url, i.title, i.body, i.author,
                    i.published_at, i.first_seen_at, l.state, l.score, l.evidence
             FROM links l JOIN items i ON i.id = l.item_id
             WHERE l.case_id = ?1 AND l.state <> 'rejected'
             ORDER BY i.first_seen_at, i.id",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let item_id: i64 = row.get("id");
            let channel: String = row.get("channel");
            let state: String = row.get("state");
            let observations = sqlx::query(
                "SELECT fetched_at, reposts, comments, likes, views FROM observations
                 WHERE item_id = ?1 ORDER BY fetched_ms, id",
            )
            .bind(item_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|o| {
                let at = parse_time("observation time", o.get("fetched_at"))?;
                Ok((
                    at,
                    Engagement {
                        reposts: o.get("reposts"),
                        comments: o.get("comments"),
                        likes: o.get("likes"),
                        views: o.get("views"),
                    },
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
            items.push(CaseItem {
                item_id,
                source: row.get("source"),
                guid: row.get("guid"),
                channel: Channel::parse(&channel)
                    .ok_or_else(|| corrupt("item channel", &channel))?,
                url: row.get("url"),
                title: row.get("title"),
                body: row.get("body"),
                author: row.get("author"),
                published_at: parse_optional_time("item time", row.get("published_at"))?,
                first_seen_at: parse_time("item time", row.get("first_seen_at"))?,
                link_state: LinkState::parse(&state)
                    .ok_or_else(|| corrupt("link state", &state))?,
                link_score: row.get("score"),
                link_evidence: evidence_from_json(row.get("evidence"))?,
                observations,
            });
        }
        Ok(CaseEvidence { stage, items })
    }

    async fn confirmed_link_texts(&self) -> Result<Vec<LinkedText>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.case_id, i.title, i.body, i.url FROM links l JOIN items i ON i.id = l.item_id
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
             RETURNING id, kind, case_id, message_id, subject, body_text, body_html, attempts,
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
        let row = sqlx::query(
            "SELECT name, etag, last_modified, consecutive_failures, last_success_at, last_error,
                    last_error_at, items_seen
             FROM source_state WHERE name = ?1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let utc = |what, v: Option<String>| {
                parse_optional_time(what, v).map(|t| t.map(|t| t.with_timezone(&Utc)))
            };
            Ok(SourceState {
                name: r.get("name"),
                etag: r.get("etag"),
                last_modified: r.get("last_modified"),
                consecutive_failures: r.get("consecutive_failures"),
                last_success_at: utc("source success time", r.get("last_success_at"))?,
                last_error: r.get("last_error"),
                last_error_at: utc("source error time", r.get("last_error_at"))?,
                items_seen: r.get("items_seen"),
            })
        })
        .transpose()
    }

    async fn save_source_state(&self, state: &SourceState) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO source_state (name, etag, last_modified, consecutive_failures,
                 last_success_at, last_error, last_error_at, items_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (name) DO UPDATE SET etag = excluded.etag,
                 last_modified = excluded.last_modified,
                 consecutive_failures = excluded.consecutive_failures,
                 last_success_at = excluded.last_success_at, last_error = excluded.last_error,
                 last_error_at = excluded.last_error_at, items_seen = excluded.items_seen",
        )
        .bind(&state.name)
        .bind(&state.etag)
        .bind(&state.last_modified)
        .bind(state.consecutive_failures)
        .bind(state.last_success_at.map(|t| t.to_rfc3339()))
        .bind(&state.last_error)
        .bind(state.last_error_at.map(|t| t.to_rfc3339()))
        .bind(state.items_seen)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
