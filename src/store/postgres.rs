//! The scale-out store: one PostgreSQL database shared by any number of instances. Lists go
//! in as arrays (`= ANY($1)`, `UNNEST`), so a batch is one statement per table whatever its
//! size; outbox and source claims use `FOR UPDATE SKIP LOCKED`, so instances never wait on
//! each other's rows and never claim the same one.

use super::shared::{
    lease_statements, Sql, ITEM_COLUMNS, LATEST_OBSERVATION, LINK_COLUMNS, RELEASE_LEASES,
    SIGHTING_COLUMNS,
};
use super::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Row};
use std::str::FromStr;
use std::time::Duration;

/// Revisions come from a sequence: concurrent imports by several instances never share one.
const UPSERT_CASE: &str = "INSERT INTO cases (id, brand, status, record, revision, updated_at)
     VALUES ($1, $2, $3, $4, nextval('cases_revision'), $5)
     ON CONFLICT (id) DO UPDATE SET brand = EXCLUDED.brand, status = EXCLUDED.status,
         record = EXCLUDED.record, revision = EXCLUDED.revision,
         updated_at = EXCLUDED.updated_at";

/// The database's clock in Unix milliseconds (`now()`: one value per transaction).
macro_rules! now_ms {
    () => {
        "(EXTRACT(EPOCH FROM now()) * 1000)::bigint"
    };
}
lease_statements!(now_ms!(), "GREATEST");

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    fn sql(&self) -> Sql<'_, Postgres> {
        Sql(&self.pool)
    }
}

impl PostgresStore {
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        // A ping before each use (one round trip with no statement) finds the connections a
        // server restart cut, and the pool replaces them, waiting for the server to come back
        // within the acquire timeout; without it, each dead connection failed a statement of
        // the pipeline or the outbox.
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(true)
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(Some(Duration::from_secs(3600)))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// The migrated database itself, for `store copy`, which works on any table.
    pub(super) fn into_pool(self) -> PgPool {
        self.pool
    }
}

#[async_trait]
impl Store for PostgresStore {
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
        Sql::<Postgres>::upsert_case_on(&mut conn, UPSERT_CASE, case, now).await
    }

    async fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        let record: Option<String> = sqlx::query_scalar("SELECT record FROM cases WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        record.map(|r| case_from_record(&r)).transpose()
    }

    async fn cases(&self, status: Option<CaseStatus>) -> Result<Vec<Case>, StoreError> {
        let records: Vec<String> = sqlx::query_scalar(
            "SELECT record FROM cases WHERE $1::text IS NULL OR status = $1 ORDER BY id",
        )
        .bind(status.map(|s| s.as_str()))
        .fetch_all(&self.pool)
        .await?;
        records.iter().map(|r| case_from_record(r)).collect()
    }

    async fn cases_revision(&self) -> Result<i64, StoreError> {
        let revision: Option<i64> = sqlx::query_scalar("SELECT MAX(revision) FROM cases")
            .fetch_one(&self.pool)
            .await?;
        Ok(revision.unwrap_or(0))
    }

    async fn items(&self, keys: &[ItemKey]) -> Result<HashMap<ItemKey, StoredItem>, StoreError> {
        let sources: Vec<&str> = keys.iter().map(|k| k.source.as_str()).collect();
        let guids: Vec<&str> = keys.iter().map(|k| k.guid.as_str()).collect();
        let (columns, join) = LATEST_OBSERVATION;
        let rows = sqlx::query(&format!(
            "SELECT i.id, i.source, i.guid, i.brand, {columns},
                    array_remove(array_agg(l.case_id ORDER BY l.case_id), NULL) AS cases,
                    array_remove(array_agg(l.state ORDER BY l.case_id), NULL) AS states
             FROM items i
             JOIN UNNEST($1::text[], $2::text[]) AS k (source, guid)
               ON i.source = k.source AND i.guid = k.guid
             {join}
             LEFT JOIN links l ON l.item_id = i.id
             GROUP BY i.id, o.id"
        ))
        .bind(&sources)
        .bind(&guids)
        .fetch_all(&self.pool)
        .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let cases: Vec<String> = row.get("cases");
            let states: Vec<String> = row.get("states");
            let linked_cases = cases
                .into_iter()
                .zip(states)
                .map(|(case, state)| {
                    LinkState::parse(&state)
                        .map(|s| (case, s))
                        .ok_or_else(|| corrupt("link state", &state))
                })
                .collect::<Result<_, _>>()?;
            found.insert(
                ItemKey {
                    source: row.get("source"),
                    guid: row.get("guid"),
                },
                StoredItem {
                    id: row.get("id"),
                    brand: row.get("brand"),
                    linked_cases,
                    latest: rows::latest_observation(&row)?,
                },
            );
        }
        Ok(found)
    }

    async fn commit(&self, batch: &Batch<'_>) -> Result<Committed, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(lease) = &batch.lease {
            // The row lock it takes keeps the lease ours until the commit.
            Sql::<Postgres>::hold_lease_on(&mut tx, HOLD_LEASE, lease).await?;
        }

        let news = &batch.new_items;
        fn obs<'a>(item: &NewItem<'a>) -> &'a Observation {
            item.observation
        }
        let rows = sqlx::query(
            "INSERT INTO items (source, guid, channel, url, title, body, author, published_at,
                 first_seen_at, brand)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
             RETURNING id, source, guid",
        )
        .bind(
            news.iter()
                .map(|i| obs(i).source.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            news.iter()
                .map(|i| obs(i).guid.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            news.iter()
                .map(|i| obs(i).channel.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            news.iter()
                .map(|i| obs(i).url.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            news.iter()
                .map(|i| obs(i).title.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            news.iter()
                .map(|i| obs(i).body.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            news.iter()
                .map(|i| obs(i).author.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            news.iter()
                .map(|i| obs(i).published_at.map(|t| t.to_rfc3339()))
                .collect::<Vec<_>>(),
        )
        .bind(
            news.iter()
                .map(|i| obs(i).fetched_at.to_rfc3339())
                .collect::<Vec<_>>(),
        )
        .bind(news.iter().map(|i| i.brand.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        // RETURNING comes in no particular order, so the ids are matched by key.
        let ids: HashMap<(String, String), i64> = rows
            .iter()
            .map(|r| ((r.get("source"), r.get("guid")), r.get("id")))
            .collect();
        let new_item_ids: Vec<i64> = news
            .iter()
            .map(|i| {
                let key = (obs(i).source.clone(), obs(i).guid.clone());
                ids.get(&key)
                    .copied()
                    .ok_or_else(|| corrupt("item insert", format!("no id for {key:?}")))
            })
            .collect::<Result<_, _>>()?;
        let item_id = |item: ItemRef| match item {
            ItemRef::Stored(id) => id,
            ItemRef::New(position) => new_item_ids[position],
        };

        let links: Vec<(i64, &NewItem<'_>, &NewLink)> = news
            .iter()
            .zip(&new_item_ids)
            .flat_map(|(item, id)| item.links.iter().map(move |l| (*id, item, l)))
            .collect();
        let evidence = links
            .iter()
            .map(|(_, _, l)| {
                serde_json::to_string(&l.evidence).map_err(|e| corrupt("link evidence", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query(
            "INSERT INTO links (item_id, case_id, state, score, evidence, created_at)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::float8[],
                 $5::text[], $6::text[])",
        )
        .bind(links.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
        .bind(
            links
                .iter()
                .map(|(_, _, l)| l.case_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            links
                .iter()
                .map(|(_, _, l)| l.state.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(links.iter().map(|(_, _, l)| l.score).collect::<Vec<_>>())
        .bind(&evidence)
        .bind(
            links
                .iter()
                .map(|(_, i, _)| obs(i).fetched_at.to_rfc3339())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;

        let seen = &batch.observations;
        let count = |f: fn(&Observation) -> Option<i64>| -> Vec<Option<i64>> {
            seen.iter().map(|(_, o)| f(o)).collect()
        };
        let (last_seen, stored_seen) = seen_again(batch);
        sqlx::query(
            "INSERT INTO observations (item_id, fetched_at, fetched_ms, reposts, comments, likes,
                 views, author_followers, last_seen_ms, text_digest)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[],
                 $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
                 $10::bigint[])",
        )
        .bind(seen.iter().map(|(i, _)| item_id(*i)).collect::<Vec<_>>())
        .bind(
            seen.iter()
                .map(|(_, o)| o.fetched_at.to_rfc3339())
                .collect::<Vec<_>>(),
        )
        .bind(
            seen.iter()
                .map(|(_, o)| o.fetched_at.timestamp_millis())
                .collect::<Vec<_>>(),
        )
        .bind(count(|o| o.engagement.reposts))
        .bind(count(|o| o.engagement.comments))
        .bind(count(|o| o.engagement.likes))
        .bind(count(|o| o.engagement.views))
        .bind(count(|o| o.author_followers))
        .bind(&last_seen)
        .bind(
            seen.iter()
                .map(|(_, o)| ObservationRun::of(o).text_digest)
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE observations o
             SET last_seen_ms = GREATEST(COALESCE(o.last_seen_ms, o.fetched_ms), seen.ms)
             FROM UNNEST($1::bigint[], $2::bigint[]) AS seen (id, ms)
             WHERE o.id = seen.id",
        )
        .bind(stored_seen.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(stored_seen.iter().map(|(_, ms)| *ms).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;

        let alerts = &batch.alerts;
        let text =
            |f: fn(&NewAlert) -> &str| -> Vec<&str> { alerts.iter().map(|(_, a)| f(a)).collect() };
        // Concurrent inserts of one key wait for each other; the later one does nothing.
        let inserted_keys = sqlx::query_scalar(
            "INSERT INTO alerts (kind, case_id, brand, item_id, dedupe_key, message_id, subject,
                 body_text, body_html, created_at, next_attempt_ms, facts)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[],
                 $12::text[])
             ON CONFLICT (dedupe_key) DO NOTHING
             RETURNING dedupe_key",
        )
        .bind(text(|a| a.kind.as_str()))
        .bind(
            alerts
                .iter()
                .map(|(_, a)| a.case_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(text(|a| &a.brand))
        .bind(alerts.iter().map(|(i, _)| item_id(*i)).collect::<Vec<_>>())
        .bind(text(|a| &a.dedupe_key))
        .bind(text(|a| &a.message_id))
        .bind(text(|a| &a.subject))
        .bind(text(|a| &a.text))
        .bind(text(|a| &a.html))
        .bind(
            alerts
                .iter()
                .map(|(_, a)| a.created_at.to_rfc3339())
                .collect::<Vec<_>>(),
        )
        .bind(
            alerts
                .iter()
                .map(|(_, a)| a.created_at.timestamp_millis())
                .collect::<Vec<_>>(),
        )
        .bind(
            alerts
                .iter()
                .map(|(_, a)| a.facts.as_deref())
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        Sql::<Postgres>::write_review(&mut tx, UPSERT_CASE, batch).await?;
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
        let stages = sqlx::query(
            "SELECT case_id, kind FROM alerts
             WHERE kind IN ('surfaced', 'spreading', 'viral') AND case_id = ANY($1)",
        )
        .bind(case_ids)
        .fetch_all(&self.pool)
        .await?;
        for row in stages {
            let case_id: String = row.get("case_id");
            if let Some(record) = evidence.get_mut(&case_id) {
                record.stage = record.stage.max(Stage::parse(row.get("kind")));
            }
        }

        // Item ids grow in the order items were first seen.
        let sql = format!(
            "SELECT {ITEM_COLUMNS}, {LINK_COLUMNS}
             FROM links l JOIN items i ON i.id = l.item_id
             WHERE {} AND l.case_id = ANY($1)
             ORDER BY i.id",
            scope.link_condition()
        );
        let rows = sqlx::query(&sql)
            .bind(case_ids)
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let case_id: String = row.get("case_id");
            let item = rows::case_item(&row, true)?;
            if let Some(record) = evidence.get_mut(&case_id) {
                record.items.push(item);
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
        // Rows another instance is claiming right now are skipped, not waited for.
        let rows = sqlx::query(
            "WITH due AS (
                 SELECT id FROM alerts
                 WHERE status = 'pending' AND next_attempt_ms <= $1
                   AND (lease_until_ms IS NULL OR lease_until_ms < $1)
                 ORDER BY id LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             UPDATE alerts a SET lease_until_ms = $2 FROM due WHERE a.id = due.id
             RETURNING a.id, a.kind, a.case_id, a.message_id, a.subject, a.body_text,
                 a.body_html, a.attempts, a.source,
                 COALESCE((SELECT c.status = 'open' FROM cases c WHERE c.id = a.case_id), TRUE)
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
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING gives no order guarantee; deliveries go out oldest first.
        claimed.sort_by_key(|a| a.id);
        Ok(claimed)
    }

    async fn mark_alert_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alerts SET status = 'sent', sent_at = $2, attempts = attempts + 1,
                 lease_until_ms = NULL, last_error = NULL
             WHERE id = $1",
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
            "UPDATE alerts SET attempts = attempts + 1, last_error = $2, next_attempt_ms = $3,
                 lease_until_ms = NULL
             WHERE id = $1 AND status = 'pending'",
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
            "UPDATE alerts SET status = 'cancelled', last_error = $2, lease_until_ms = NULL
             WHERE id = $1 AND status = 'pending'",
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
        Sql::<Postgres>::upsert_source_state(&mut conn, state).await
    }

    async fn save_source_state_with_alert(
        &self,
        state: &SourceState,
        alert: &NewAlert,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        Sql::<Postgres>::upsert_source_state(&mut tx, state).await?;
        let inserted =
            Sql::<Postgres>::insert_loose_alert(&mut tx, alert, Some(&state.name)).await?;
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

    async fn queue_alert(&self, alert: &NewAlert) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Sql::<Postgres>::insert_loose_alert(&mut conn, alert, None).await
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
        let inserted = Sql::<Postgres>::write_risks(&mut tx, risks, alerts).await?;
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
        let mut sized = Vec::with_capacity(tables.len());
        for (table, rows) in tables {
            let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
                .bind(&table)
                .fetch_one(&self.pool)
                .await?;
            sized.push(TableStats {
                table,
                rows,
                bytes: Some(bytes),
            });
        }
        let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&self.pool)
            .await?;
        Ok(StorageStats {
            tables: sized,
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
        // The row is ours to take only if expired or already ours; a row another instance
        // is taking at this moment is skipped rather than waited for. Held sources (the
        // common case) cost this one statement.
        let row = sqlx::query(concat!(
            "WITH free AS (
                 SELECT name FROM source_leases
                 WHERE name = $1 AND (owner = $2 OR expires_ms < ",
            now_ms!(),
            ")
                 FOR UPDATE SKIP LOCKED)
             UPDATE source_leases l SET owner = $2,
                 expires_ms = GREATEST(l.expires_ms, ",
            now_ms!(),
            " + $3)
             FROM free WHERE l.name = free.name
             RETURNING l.polled_ms, l.expires_ms, ",
            now_ms!(),
            " AS now_ms"
        ))
        .bind(name)
        .bind(owner)
        .bind(lease_ms(lease))
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return rows::source_lease(&row).map(Some);
        }
        // A source nobody has leased yet: the first instance to insert its row holds it.
        let row = sqlx::query(concat!(
            "INSERT INTO source_leases (name, owner, expires_ms) VALUES ($1, $2, ",
            now_ms!(),
            " + $3)
             ON CONFLICT (name) DO NOTHING RETURNING polled_ms, expires_ms, ",
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
        let recorded = Sql::<Postgres>::record_polls(&mut tx, now_ms!(), owner, polls).await?;
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

    async fn find_items(&self, query: &ItemQuery) -> Result<Vec<ItemRow>, StoreError> {
        // One static statement: each filter is off when its parameter is NULL (or the id list
        // empty). Times are compared as milliseconds: stored texts carry different offsets.
        let ids: Vec<i64> = query.ids.iter().take(MAX_QUERY_IDS).copied().collect();
        let rows = sqlx::query(
            "SELECT i.id, i.source, i.guid, i.channel, i.url, i.title, i.body, i.author,
                    COALESCE(i.brand, '') AS brand, i.published_at, i.first_seen_at,
                    ARRAY(SELECT l.case_id FROM links l WHERE l.item_id = i.id
                          ORDER BY l.case_id) AS cases,
                    ARRAY(SELECT l.state FROM links l WHERE l.item_id = i.id
                          ORDER BY l.case_id) AS states
             FROM items i
             WHERE i.brand IS NOT NULL
               AND (cardinality($1::bigint[]) = 0 OR i.id = ANY($1))
               AND ($2::text IS NULL OR i.brand = $2)
               AND ($3::text IS NULL OR EXISTS (
                   SELECT 1 FROM links l WHERE l.item_id = i.id AND l.case_id = $3))
               AND ($4::text IS NULL OR i.title LIKE $4 ESCAPE '\\'
                    OR i.body LIKE $4 ESCAPE '\\' OR i.author LIKE $4 ESCAPE '\\')
               AND ($5::bigint IS NULL OR (SELECT MIN(o.fetched_ms) FROM observations o
                                           WHERE o.item_id = i.id) >= $5)
               AND ($6::bigint IS NULL OR (SELECT MIN(o.fetched_ms) FROM observations o
                                           WHERE o.item_id = i.id) < $6)
             ORDER BY i.id DESC LIMIT $7",
        )
        .bind(&ids)
        .bind(&query.brand)
        .bind(&query.case_id)
        .bind(query.text.as_deref().map(contains_pattern))
        .bind(query.since.map(ms))
        .bind(query.until.map(ms))
        .bind(query.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let mut item = rows::item_row(row)?;
                let cases: Vec<String> = row.get("cases");
                let states: Vec<String> = row.get("states");
                for (case, state) in cases.into_iter().zip(states) {
                    let state =
                        LinkState::parse(&state).ok_or_else(|| corrupt("link state", &state))?;
                    item.links.push((case, state));
                }
                Ok(item)
            })
            .collect()
    }

    async fn sightings(&self, item_ids: &[i64]) -> Result<HashMap<i64, Vec<Sighting>>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT item_id, {SIGHTING_COLUMNS} FROM observations
             WHERE item_id = ANY($1) ORDER BY fetched_ms, id"
        ))
        .bind(item_ids)
        .fetch_all(&self.pool)
        .await?;
        let mut found: HashMap<i64, Vec<Sighting>> = HashMap::new();
        for row in rows {
            found
                .entry(row.get("item_id"))
                .or_default()
                .push(rows::sighting(&row)?);
        }
        Ok(found)
    }

    async fn find_links(&self, query: &LinkQuery) -> Result<Vec<LinkRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.item_id, l.case_id, l.state, l.score, l.evidence, l.created_at,
                    l.decided_by, l.decided_at
             FROM links l JOIN items i ON i.id = l.item_id
             WHERE ($1::text IS NULL OR l.state = $1)
               AND ($2::text IS NULL OR l.case_id = $2)
               AND ($3::bigint IS NULL OR l.item_id = $3)
               AND ($4::text IS NULL OR i.brand = $4)
             ORDER BY l.score DESC, l.item_id DESC, l.case_id LIMIT $5",
        )
        .bind(query.state.map(|s| s.as_str()))
        .bind(&query.case_id)
        .bind(query.item_id)
        .bind(&query.brand)
        .bind(query.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::link_row).collect()
    }

    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::audit_row).collect()
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let links =
            sqlx::query("SELECT state, COUNT(*) AS n FROM links GROUP BY state ORDER BY state")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(rows::link_count)
                .collect::<Result<_, _>>()?;
        let outbox_depth =
            sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(StoreStats {
            links,
            outbox_depth,
        })
    }
}
