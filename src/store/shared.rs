//! Statements whose SQL is the same on every backend (both accept `$N` placeholders and
//! standard SQL), written once over sqlx's `Database`, so that a fix reaches SQLite and
//! PostgreSQL alike. Backend-specific SQL (batch inserts, claims, leases) stays in each
//! backend's module.

use super::rows::{self, Columns};
use super::*;
use sqlx::{Encode, Executor, IntoArguments, Pool, Type};

/// The columns [`rows::case_item`] reads, from `items i` (and `links l` when linked).
pub(super) const ITEM_COLUMNS: &str =
    "i.id, i.source, i.guid, i.channel, i.url, i.title, i.body, i.author,
     i.published_at, i.first_seen_at";
pub(super) const LINK_COLUMNS: &str = "l.case_id, l.state, l.score, l.evidence";
/// The columns [`rows::sighting`] reads from `observations`.
pub(super) const SIGHTING_COLUMNS: &str =
    "fetched_at, reposts, comments, likes, views, author_followers, last_seen_ms";
/// Columns and join of an item's (`items i`) newest observation row, for
/// [`rows::latest_observation`].
pub(super) const LATEST_OBSERVATION: (&str, &str) = (
    "o.id AS observation_id, o.fetched_at, o.reposts, o.comments, o.likes, o.views,
     o.author_followers, o.last_seen_ms, o.text_digest",
    "LEFT JOIN observations o ON o.id = (SELECT id FROM observations WHERE item_id = i.id
         ORDER BY fetched_ms DESC, id DESC LIMIT 1)",
);

/// With the lease's `polled_ms`: a quiet poll's time is kept there alone.
const SOURCE_STATE_SELECT: &str =
    "SELECT s.name, s.etag, s.last_modified, s.consecutive_failures, s.last_success_at,
            s.last_error, s.last_error_at, s.items_seen, s.health, s.failing_since,
            s.down_alerted, s.last_items, s.last_poll_at, l.polled_ms
     FROM source_state s LEFT JOIN source_leases l ON l.name = s.name";

const SOURCE_STATE_COLUMNS: &str = "name, etag, last_modified, consecutive_failures,
     last_success_at, last_error, last_error_at, items_seen, health, failing_since,
     down_alerted, last_items, last_poll_at";
const SOURCE_STATE_UPDATE: &str = "etag = excluded.etag,
     last_modified = excluded.last_modified,
     consecutive_failures = excluded.consecutive_failures,
     last_success_at = excluded.last_success_at, last_error = excluded.last_error,
     last_error_at = excluded.last_error_at, items_seen = excluded.items_seen,
     health = excluded.health, failing_since = excluded.failing_since,
     down_alerted = excluded.down_alerted, last_items = excluded.last_items,
     last_poll_at = excluded.last_poll_at";

/// Sources per statement of [`Store::record_polls`]: 13 parameters each stay well under
/// SQLite's limit of bound parameters.
const POLLS_PER_STATEMENT: usize = 500;

/// `rows` parenthesised groups of `width` numbered placeholders from `$first`:
/// `($1, $2), ($3, $4)`.
fn placeholders(first: usize, rows: usize, width: usize) -> String {
    let mut out = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..width {
            if col > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(first + row * width + col).to_string());
        }
        out.push(')');
    }
    out
}

/// `sql` with its `$N` placeholders as SQLite binds thousands of them cheaply. SQLite looks
/// a named `$N` up among all earlier ones when it prepares a statement and again when sqlx
/// binds it, which is quadratic in a many-row statement (most of a poll batch's CPU); a
/// plain `?` is positional. Only for SQL whose placeholders run `$1, $2, ...` in order, each
/// once.
fn positional<DB: sqlx::Database>(sql: String) -> String {
    if DB::NAME != "SQLite" {
        return sql;
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut expected = 1;
    while let Some(c) = chars.next() {
        if c != '$' || !chars.peek().is_some_and(char::is_ascii_digit) {
            out.push(c);
            continue;
        }
        let mut number = 0usize;
        while let Some(digit) = chars.peek().and_then(|d| d.to_digit(10)) {
            number = number * 10 + digit as usize;
            chars.next();
        }
        debug_assert_eq!(number, expected, "placeholders out of order in {sql}");
        expected += 1;
        out.push('?');
    }
    out
}

/// An item (`items i`) linked to no case that no pending alert needs.
const UNNEEDED_ITEM: &str = "NOT EXISTS (SELECT 1 FROM links l WHERE l.item_id = i.id)
     AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.item_id = i.id AND a.status = 'pending')";

/// An item (`items i`) linked to cases, every one of them closed.
const CLOSED_CASES_ONLY: &str = "EXISTS (SELECT 1 FROM links l WHERE l.item_id = i.id)
     AND NOT EXISTS (SELECT 1 FROM links l JOIN cases c ON c.id = l.case_id
                     WHERE l.item_id = i.id AND c.status = 'open')";

/// Items with ids in `($1, $2]`.
const ITEM_RANGE: &str = "i.id > $1 AND i.id <= $2";

/// The ids of unneeded items (`$3`: not seen since) where `range` holds.
fn stale_items(range: &str, seen_param: &str) -> String {
    format!(
        "SELECT i.id FROM items i WHERE {range} AND {UNNEEDED_ITEM}
         AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.item_id = i.id
                         AND COALESCE(o.last_seen_ms, o.fetched_ms) >= {seen_param})"
    )
}

/// The ids of observation rows of closed cases' items, where `range` holds, fetched in
/// `[from, before)`, that another row of their item follows in the same `bucket` (ms): all
/// but the last row of each bucket.
fn thinned_rows(range: &str, from: &str, before: &str, bucket: &str) -> String {
    format!(
        "SELECT o.id FROM observations o JOIN items i ON i.id = o.item_id
         WHERE {range} AND {CLOSED_CASES_ONLY}
           AND o.fetched_ms >= {from} AND o.fetched_ms < {before}
           AND EXISTS (SELECT 1 FROM observations n WHERE n.item_id = o.item_id
                       AND n.fetched_ms < {before}
                       AND n.fetched_ms / {bucket} = o.fetched_ms / {bucket}
                       AND (n.fetched_ms > o.fetched_ms
                            OR (n.fetched_ms = o.fetched_ms AND n.id > o.id)))"
    )
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The tables `outcry store stats` counts, in the order it shows them.
pub(super) const COUNTED_TABLES: [&str; 13] = [
    "cases",
    "items",
    "observations",
    "links",
    "alerts",
    "alert_deliveries",
    "audit",
    "source_state",
    "source_leases",
    "case_risk",
    "channels",
    "installation",
    "store_copy",
];

/// The shared statements, on a pool of database `DB`.
pub(super) struct Sql<'p, DB: sqlx::Database>(pub &'p Pool<DB>);

impl<DB> Sql<'_, DB>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'r> Option<String>: sqlx::Decode<'r, DB>,
    DB::Row: Columns,
{
    /// Runs a lease statement (texts bind first, then numbers); returns the rows it touched.
    pub(super) async fn leases(
        &self,
        sql: &'static str,
        texts: &[&str],
        numbers: &[i64],
    ) -> Result<u64, StoreError> {
        let mut query = sqlx::query::<DB>(sql);
        for text in texts {
            query = query.bind(*text);
        }
        for number in numbers {
            query = query.bind(*number);
        }
        let rows = query.fetch_all(self.0).await?;
        Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
    }

    /// [`Store::prune`].
    pub(super) async fn prune(
        &self,
        rules: &Retention,
        after: i64,
        batch: i64,
    ) -> Result<Option<(i64, Pruned)>, StoreError> {
        let mut tx = self.0.begin().await?;
        let last = sqlx::query::<DB>(
            "SELECT MAX(id) AS last_id
             FROM (SELECT id FROM items WHERE id > $1 ORDER BY id LIMIT $2) AS b",
        )
        .bind(after)
        .bind(batch)
        .fetch_one(&mut *tx)
        .await?
        .int_opt("last_id");
        let Some(last) = last else {
            return Ok(None);
        };
        let mut pruned = Pruned::default();
        let count = |rows: Vec<DB::Row>| u64::try_from(rows.len()).unwrap_or(u64::MAX);
        // Daily first: the rows it keeps are each the last of their hour as well.
        let passes = [
            (i64::MIN, rules.daily_before, DAY_MS),
            (rules.daily_before, rules.hourly_before, HOUR_MS),
        ];
        for (from, before, bucket) in passes {
            let sql = format!(
                "DELETE FROM observations WHERE id IN ({}) RETURNING id",
                thinned_rows(ITEM_RANGE, "$3", "$4", "$5")
            );
            let rows = sqlx::query::<DB>(&sql)
                .bind(after)
                .bind(last)
                .bind(from)
                .bind(before)
                .bind(bucket)
                .fetch_all(&mut *tx)
                .await?;
            pruned.observations += count(rows);
        }
        let sql = format!(
            "DELETE FROM observations WHERE item_id IN ({}) RETURNING id",
            stale_items(ITEM_RANGE, "$3")
        );
        let rows = sqlx::query::<DB>(&sql)
            .bind(after)
            .bind(last)
            .bind(rules.unlinked_before)
            .fetch_all(&mut *tx)
            .await?;
        pruned.observations += count(rows);
        // An item whose rows just went (or never had one) and that nothing else needs; a
        // sent alert about it keeps its row, dedupe key and all, without the item.
        let gone = format!(
            "SELECT i.id FROM items i WHERE {ITEM_RANGE} AND {UNNEEDED_ITEM}
             AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.item_id = i.id)"
        );
        sqlx::query::<DB>(&format!(
            "UPDATE alerts SET item_id = NULL WHERE item_id IN ({gone})"
        ))
        .bind(after)
        .bind(last)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query::<DB>(&format!(
            "DELETE FROM items WHERE id IN ({gone}) RETURNING id"
        ))
        .bind(after)
        .bind(last)
        .fetch_all(&mut *tx)
        .await?;
        pruned.items += count(rows);
        tx.commit().await?;
        Ok(Some((last, pruned)))
    }

    /// [`Store::prunable`].
    pub(super) async fn prunable(&self, rules: &Retention) -> Result<Pruned, StoreError> {
        let count = |sql: String| format!("SELECT COUNT(*) AS n FROM ({sql}) AS c");
        let items = sqlx::query::<DB>(&count(stale_items("TRUE", "$1")))
            .bind(rules.unlinked_before)
            .fetch_one(self.0)
            .await?
            .int("n");
        let mut observations = sqlx::query::<DB>(&count(format!(
            "SELECT id FROM observations WHERE item_id IN ({})",
            stale_items("TRUE", "$1")
        )))
        .bind(rules.unlinked_before)
        .fetch_one(self.0)
        .await?
        .int("n");
        for (from, before, bucket) in [
            (i64::MIN, rules.daily_before, DAY_MS),
            (rules.daily_before, rules.hourly_before, HOUR_MS),
        ] {
            observations += sqlx::query::<DB>(&count(thinned_rows("TRUE", "$1", "$2", "$3")))
                .bind(from)
                .bind(before)
                .bind(bucket)
                .fetch_one(self.0)
                .await?
                .int("n");
        }
        Ok(Pruned {
            items: u64::try_from(items).unwrap_or_default(),
            observations: u64::try_from(observations).unwrap_or_default(),
        })
    }

    /// Rows per table and the span of observations; bytes are the backend's to tell.
    pub(super) async fn table_rows(
        &self,
    ) -> Result<(Vec<(String, i64)>, Option<(i64, i64)>), StoreError> {
        let mut tables = Vec::with_capacity(COUNTED_TABLES.len());
        for table in COUNTED_TABLES {
            let rows = sqlx::query::<DB>(&format!("SELECT COUNT(*) AS n FROM {table}"))
                .fetch_one(self.0)
                .await?
                .int("n");
            tables.push((table.to_string(), rows));
        }
        let span = sqlx::query::<DB>(
            "SELECT MIN(fetched_ms) AS oldest, MAX(COALESCE(last_seen_ms, fetched_ms)) AS newest
             FROM observations",
        )
        .fetch_one(self.0)
        .await?;
        let observed = span.int_opt("oldest").zip(span.int_opt("newest"));
        Ok((tables, observed))
    }

    /// Makes every pending alert that failed before due at `now`; returns how many.
    pub(super) async fn retry_failed_alerts(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let rows = sqlx::query::<DB>(
            "UPDATE alerts SET next_attempt_ms = $1
             WHERE status = 'pending' AND attempts > 0 AND next_attempt_ms > $1
             RETURNING id",
        )
        .bind(ms(now))
        .fetch_all(self.0)
        .await?;
        Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
    }

    /// A batch's lease condition, checked (and the lease extended) first in its transaction
    /// with the backend's `HOLD_LEASE`; `LeaseLost` when the lease is not held.
    pub(super) async fn hold_lease_on(
        conn: &mut DB::Connection,
        sql: &'static str,
        lease: &LeaseCondition,
    ) -> Result<(), StoreError> {
        let held = sqlx::query::<DB>(sql)
            .bind(lease.source.as_str())
            .bind(lease.owner.as_str())
            .bind(lease_ms(lease.extend))
            .fetch_optional(&mut *conn)
            .await?;
        match held {
            Some(_) => Ok(()),
            None => Err(StoreError::LeaseLost {
                name: lease.source.clone(),
            }),
        }
    }

    /// Inserts or replaces a case; `sql` is the backend's statement, which differs only in
    /// how it takes the next revision.
    pub(super) async fn upsert_case_on(
        conn: &mut DB::Connection,
        sql: &'static str,
        case: &Case,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = serde_json::to_string(case).map_err(|e| corrupt("case record", e))?;
        sqlx::query::<DB>(sql)
            .bind(case.id.as_str())
            .bind(case.brand.as_str())
            .bind(case.status.as_str())
            .bind(record)
            .bind(now.to_rfc3339())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The review writes of a batch: cases, link changes, resends and their audit rows.
    pub(super) async fn write_review(
        conn: &mut DB::Connection,
        upsert_case_sql: &'static str,
        batch: &Batch<'_>,
    ) -> Result<(), StoreError> {
        for (case, at) in &batch.cases {
            Self::upsert_case_on(conn, upsert_case_sql, case, *at).await?;
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
                    sqlx::query::<DB>(
                        "UPDATE links SET state = $3, decided_by = $4, decided_at = $5
                         WHERE item_id = $1 AND case_id = $2",
                    )
                    .bind(*item_id)
                    .bind(case_id.as_str())
                    .bind(state.as_str())
                    .bind(actor.as_str())
                    .bind(at.to_rfc3339())
                    .execute(&mut *conn)
                    .await?;
                }
                LinkChange::Propose { item_id, link, at } => {
                    let evidence = serde_json::to_string(&link.evidence)
                        .map_err(|e| corrupt("link evidence", e))?;
                    sqlx::query::<DB>(
                        "INSERT INTO links (item_id, case_id, state, score, evidence, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (item_id, case_id) DO UPDATE SET state = excluded.state,
                             score = excluded.score, evidence = excluded.evidence
                         WHERE links.state = 'candidate' AND links.decided_by IS NULL
                           AND excluded.state = 'confirmed'",
                    )
                    .bind(*item_id)
                    .bind(link.case_id.as_str())
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
            sqlx::query::<DB>(
                "UPDATE alerts SET status = 'pending', next_attempt_ms = $2,
                     lease_until_ms = NULL, last_error = NULL, sent_at = NULL
                 WHERE id = $1",
            )
            .bind(*id)
            .bind(ms(*at))
            .execute(&mut *conn)
            .await?;
        }
        for entry in &batch.audit {
            sqlx::query::<DB>(
                "INSERT INTO audit (at, at_ms, actor, action, target, detail)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(entry.at.to_rfc3339())
            .bind(ms(entry.at))
            .bind(entry.actor.as_str())
            .bind(entry.action.as_str())
            .bind(entry.target.as_str())
            .bind(entry.detail.to_string())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub(super) async fn upsert_source_state(
        conn: &mut DB::Connection,
        state: &SourceState,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO source_state ({SOURCE_STATE_COLUMNS}) VALUES {}
                 ON CONFLICT (name) DO UPDATE SET {SOURCE_STATE_UPDATE}",
            placeholders(1, 1, 13)
        );
        Self::bind_source_state(sqlx::query::<DB>(&sql), state)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Binds a source state's columns in the order of `SOURCE_STATE_COLUMNS`.
    fn bind_source_state<'q>(
        query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
        state: &'q SourceState,
    ) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>> {
        let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
        query
            .bind(state.name.as_str())
            .bind(state.etag.clone())
            .bind(state.last_modified.clone())
            .bind(state.consecutive_failures)
            .bind(time(state.last_success_at))
            .bind(state.last_error.clone())
            .bind(time(state.last_error_at))
            .bind(state.items_seen)
            .bind(state.health.as_str())
            .bind(time(state.failing_since))
            .bind(i64::from(state.down_alerted))
            .bind(state.last_items)
            .bind(time(state.last_poll_at))
    }

    /// [`Store::record_polls`] in `conn`'s transaction; `now` is the backend's clock in Unix
    /// milliseconds.
    pub(super) async fn record_polls(
        conn: &mut DB::Connection,
        now: &str,
        owner: &str,
        polls: &[RecordedPoll],
    ) -> Result<Vec<String>, StoreError>
    where
        DB: sqlx::database::HasStatementCache,
    {
        let mut held = Vec::with_capacity(polls.len());
        for chunk in polls.chunks(POLLS_PER_STATEMENT) {
            let sql = positional::<DB>(format!(
                "UPDATE source_leases SET polled_ms = {now}
                 WHERE owner = $1 AND name IN ({}) RETURNING name",
                placeholders(2, chunk.len(), 1)
            ));
            // Each second's batch has its own length, so its statement is used once: kept
            // prepared, a few hundred of them would pile up in every connection's cache.
            let rows = sqlx::query::<DB>(&sql).persistent(false).bind(owner);
            let rows = chunk
                .iter()
                .fold(rows, |q, poll| q.bind(poll.name()))
                .fetch_all(&mut *conn)
                .await?;
            let recorded: HashSet<String> = rows.iter().map(|r| r.text("name")).collect();
            let kept: Vec<&SourceState> = chunk
                .iter()
                .filter_map(|poll| match poll {
                    RecordedPoll::Changed(state) if recorded.contains(&state.name) => Some(state),
                    _ => None,
                })
                .collect();
            held.extend(recorded);
            if kept.is_empty() {
                continue;
            }
            let sql = positional::<DB>(format!(
                "INSERT INTO source_state ({SOURCE_STATE_COLUMNS}) VALUES {}
                 ON CONFLICT (name) DO UPDATE SET {SOURCE_STATE_UPDATE}",
                placeholders(1, kept.len(), 13)
            ));
            let mut query = sqlx::query::<DB>(&sql).persistent(false);
            for state in &kept {
                query = Self::bind_source_state(query, state);
            }
            query.execute(&mut *conn).await?;
        }
        Ok(held)
    }

    /// Inserts an alert that belongs to no item, unless its dedupe key exists; `source` names
    /// the source an operator alert is about. True when it was new.
    pub(super) async fn insert_loose_alert(
        conn: &mut DB::Connection,
        alert: &NewAlert,
        source: Option<&str>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query::<DB>(
            "INSERT INTO alerts (kind, case_id, brand, source, dedupe_key, message_id, subject,
                 body_text, body_html, created_at, next_attempt_ms, facts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (dedupe_key) DO NOTHING
             RETURNING id",
        )
        .bind(alert.kind.as_str())
        .bind(alert.case_id.clone())
        .bind(alert.brand.as_str())
        .bind(source)
        .bind(alert.dedupe_key.as_str())
        .bind(alert.message_id.as_str())
        .bind(alert.subject.as_str())
        .bind(alert.text.as_str())
        .bind(alert.html.as_str())
        .bind(alert.created_at.to_rfc3339())
        .bind(alert.created_at.timestamp_millis())
        .bind(alert.facts.clone())
        .fetch_optional(&mut *conn)
        .await?;
        Ok(inserted.is_some())
    }

    /// One source's state, or every source's by name.
    pub(super) async fn source_states(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<SourceState>, StoreError> {
        // Two statements: with "$1 IS NULL OR name = $1" SQLite reads every row for one.
        let rows = match name {
            Some(name) => {
                sqlx::query::<DB>(&format!("{SOURCE_STATE_SELECT} WHERE s.name = $1"))
                    .bind(name)
                    .fetch_all(self.0)
                    .await?
            }
            None => {
                sqlx::query::<DB>(&format!("{SOURCE_STATE_SELECT} ORDER BY s.name"))
                    .fetch_all(self.0)
                    .await?
            }
        };
        rows.iter().map(rows::source_state).collect()
    }

    pub(super) async fn followed_items(
        &self,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<FollowedItem>, StoreError> {
        let rows = sqlx::query::<DB>(
            "SELECT i.guid, i.url, i.title, i.body, i.author, i.published_at, i.first_seen_at
             FROM items i
             WHERE i.source = $1 AND i.url IS NOT NULL
               AND EXISTS (SELECT 1 FROM links l JOIN cases c ON c.id = l.case_id
                           WHERE l.item_id = i.id AND l.state <> 'rejected'
                             AND c.status = 'open')
             ORDER BY i.id",
        )
        .bind(source)
        .fetch_all(self.0)
        .await?;
        let mut items = Vec::new();
        for r in rows {
            // Stored times carry their own offsets, so the age is compared here, not in SQL.
            let first_seen_at = parse_time("item time", &r.text("first_seen_at"))?;
            if first_seen_at < since {
                continue;
            }
            items.push(FollowedItem {
                guid: r.text("guid"),
                url: r.text("url"),
                title: r.text_opt("title"),
                body: r.text_opt("body"),
                author: r.text_opt("author"),
                published_at: parse_optional_time("item time", r.text_opt("published_at"))?,
                first_seen_at,
            });
        }
        Ok(items)
    }

    pub(super) async fn last_alert_at(
        &self,
        kind: AlertKind,
    ) -> Result<Option<DateTime<FixedOffset>>, StoreError> {
        let row = sqlx::query::<DB>(
            "SELECT created_at FROM alerts WHERE kind = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(kind.as_str())
        .fetch_optional(self.0)
        .await?;
        row.map(|r| parse_time("alert time", &r.text("created_at")))
            .transpose()
    }

    /// The installation's id: `candidate` if none was stored yet, the stored one otherwise,
    /// so instances sharing a store that ask at once agree.
    pub(super) async fn installation_id(&self, candidate: &str) -> Result<String, StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO installation (singleton, id) VALUES (1, $1)
             ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(candidate)
        .execute(self.0)
        .await?;
        let row = sqlx::query::<DB>("SELECT id FROM installation WHERE singleton = 1")
            .fetch_one(self.0)
            .await?;
        Ok(row.text("id"))
    }

    /// [`Store::first_round`]; `candidate` is the installation id made if none exists yet.
    pub(super) async fn first_round(
        &self,
        done_at: Option<DateTime<Utc>>,
        candidate: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if let Some(done_at) = done_at {
            self.installation_id(candidate).await?;
            sqlx::query::<DB>(
                "UPDATE installation SET first_round_ms = $1
                 WHERE singleton = 1 AND first_round_ms IS NULL",
            )
            .bind(ms(done_at))
            .execute(self.0)
            .await?;
        }
        let row = sqlx::query::<DB>("SELECT first_round_ms FROM installation WHERE singleton = 1")
            .fetch_optional(self.0)
            .await?;
        row.and_then(|r| r.int_opt("first_round_ms"))
            .map(|t| from_ms("first poll round", t))
            .transpose()
    }

    /// Candidate links of open cases without their sightings, and how many there are.
    pub(super) async fn review_links(
        &self,
        limit: i64,
    ) -> Result<(Vec<ReviewLink>, i64), StoreError> {
        const OPEN_CANDIDATES: &str = "FROM links l JOIN items i ON i.id = l.item_id
             JOIN cases c ON c.id = l.case_id
             WHERE l.state = 'candidate' AND c.status = 'open'";
        let total = sqlx::query::<DB>(&format!("SELECT COUNT(*) AS n {OPEN_CANDIDATES}"))
            .fetch_one(self.0)
            .await?
            .int("n");
        let rows = sqlx::query::<DB>(&format!(
            "SELECT {ITEM_COLUMNS}, {LINK_COLUMNS} {OPEN_CANDIDATES}
             ORDER BY l.score DESC, i.id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.0)
        .await?;
        let links = rows
            .iter()
            .map(|row| {
                Ok(ReviewLink {
                    case_id: row.text("case_id"),
                    item: rows::case_item(row, true)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((links, total))
    }

    /// Unlinked items first seen in `[since, until)`, without their sightings.
    pub(super) async fn unlinked_items(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UnlinkedItem>, StoreError> {
        // The first observation's millisecond clock, not first_seen_at: that text keeps the
        // offset it was seen in and does not compare as a time.
        let rows = sqlx::query::<DB>(&format!(
            "SELECT {ITEM_COLUMNS}, i.brand,
                    EXISTS (SELECT 1 FROM alerts a WHERE a.item_id = i.id AND a.kind = 'unlinked')
                        AS alerted
             FROM items i
             JOIN (SELECT item_id, MIN(fetched_ms) AS first_ms FROM observations
                   GROUP BY item_id) f ON f.item_id = i.id
             WHERE i.brand IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM links l WHERE l.item_id = i.id)
               AND f.first_ms >= $1 AND f.first_ms < $2
             ORDER BY f.first_ms DESC, i.id DESC LIMIT $3"
        ))
        .bind(ms(since))
        .bind(ms(until))
        .bind(limit)
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UnlinkedItem {
                    brand: row.text("brand"),
                    item: rows::case_item(row, false)?,
                    alerted: row.flag("alerted"),
                })
            })
            .collect()
    }

    /// Each of these open cases with its stage and the count of its linked items.
    pub(super) async fn case_standings(
        &self,
        cases: Vec<Case>,
    ) -> Result<Vec<CaseStanding>, StoreError> {
        let mut stages: HashMap<String, (Stage, DateTime<FixedOffset>)> = HashMap::new();
        let rows = sqlx::query::<DB>(
            "SELECT a.case_id, a.kind, a.created_at FROM alerts a JOIN cases c ON c.id = a.case_id
             WHERE c.status = 'open' AND a.kind IN ('surfaced', 'spreading', 'viral')",
        )
        .fetch_all(self.0)
        .await?;
        for row in rows {
            let kind = row.text("kind");
            let stage = Stage::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))?;
            let at = parse_time("alert time", &row.text("created_at"))?;
            let entry = stages.entry(row.text("case_id")).or_insert((stage, at));
            if stage > entry.0 {
                *entry = (stage, at);
            }
        }
        let mut counts: HashMap<String, (i64, i64)> = HashMap::new();
        let rows = sqlx::query::<DB>(
            "SELECT l.case_id,
                    COUNT(*) FILTER (WHERE l.state = 'confirmed') AS confirmed,
                    COUNT(*) FILTER (WHERE l.state = 'candidate') AS candidate
             FROM links l JOIN cases c ON c.id = l.case_id
             WHERE c.status = 'open' GROUP BY l.case_id",
        )
        .fetch_all(self.0)
        .await?;
        for row in rows {
            counts.insert(
                row.text("case_id"),
                (row.int("confirmed"), row.int("candidate")),
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

    /// Writes risks and the alerts they cause on one connection (the caller's transaction).
    pub(super) async fn write_risks(
        conn: &mut DB::Connection,
        risks: &[CaseRisk],
        alerts: &[NewAlert],
    ) -> Result<usize, StoreError> {
        for risk in risks {
            let reasons = serde_json::to_string(&risk.risk.reasons)
                .map_err(|e| corrupt("risk reasons", e))?;
            sqlx::query::<DB>(
                "INSERT INTO case_risk (case_id, score, reasons, computed_at, crossed_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (case_id) DO UPDATE SET score = excluded.score,
                     reasons = excluded.reasons, computed_at = excluded.computed_at,
                     crossed_at = excluded.crossed_at",
            )
            .bind(risk.case_id.as_str())
            .bind(risk.risk.score)
            .bind(reasons)
            .bind(risk.computed_at.to_rfc3339())
            .bind(risk.crossed_at.map(|t| t.to_rfc3339()))
            .execute(&mut *conn)
            .await?;
        }
        let mut inserted = 0;
        for alert in alerts {
            if Self::insert_loose_alert(conn, alert, None).await? {
                inserted += 1;
            }
        }
        Ok(inserted)
    }

    pub(super) async fn case_risks(
        &self,
        case_id: Option<&str>,
    ) -> Result<Vec<CaseRisk>, StoreError> {
        let rows = sqlx::query::<DB>(
            "SELECT case_id, score, reasons, computed_at, crossed_at FROM case_risk
             WHERE $1 IS NULL OR case_id = $1 ORDER BY case_id",
        )
        .bind(case_id)
        .fetch_all(self.0)
        .await?;
        rows.iter().map(rows::case_risk).collect()
    }
}

/// The lease statements, written once: the backends differ only in how they read their clock
/// (`$now`, Unix milliseconds) and name the larger of two values (`$greatest`). Every expiry
/// comes from the database's clock and is only ever moved later, so no instance's clock or
/// wait for a connection can shorten a lease it holds or make two leases overlap. Texts bind
/// first, then numbers (see [`Sql::leases`]).
macro_rules! lease_statements {
    ($now:expr, $greatest:literal) => {
        /// The heartbeat: each unexpired lease of `$1` lasts at least `$2` ms more.
        const RENEW_LEASES: &str = concat!(
            "UPDATE source_leases SET expires_ms = ",
            $greatest,
            "(expires_ms, ",
            $now,
            " + $2) WHERE owner = $1 AND expires_ms >= ",
            $now,
            " RETURNING name"
        );
        /// A commit's condition: `$2` still holds `$1`, which lasts at least `$3` ms more.
        const HOLD_LEASE: &str = concat!(
            "UPDATE source_leases SET expires_ms = ",
            $greatest,
            "(expires_ms, ",
            $now,
            " + $3) WHERE name = $1 AND owner = $2 AND expires_ms >= ",
            $now,
            " RETURNING name"
        );
    };
}
pub(super) use lease_statements;

// Expired at once, but polled_ms stays so the next holder keeps the source's interval.
pub(super) const RELEASE_LEASES: &str =
    "UPDATE source_leases SET expires_ms = 0 WHERE owner = $1 RETURNING name";

/// The per-channel outbox (`alert_deliveries`), the same SQL on both backends.
impl<DB> Sql<'_, DB>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    DB::Row: Columns,
{
    pub(super) async fn add_channel(&self, name: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO channels (name, first_alert, added_ms)
             SELECT $1, COALESCE(MAX(id), 0) + 1, $2 FROM alerts WHERE true
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now)
        .execute(self.0)
        .await?;
        Ok(())
    }

    pub(super) async fn unrouted_alerts(
        &self,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<UnroutedAlert>, StoreError> {
        let rows = sqlx::query::<DB>(
            "SELECT a.id, a.kind, a.brand, a.facts FROM alerts a
             JOIN channels c ON c.name = $1
             WHERE a.id >= c.first_alert
               AND NOT EXISTS (SELECT 1 FROM alert_deliveries d
                               WHERE d.alert_id = a.id AND d.channel = $1)
             ORDER BY a.id LIMIT $2",
        )
        .bind(channel)
        .bind(limit)
        .fetch_all(self.0)
        .await?;
        Ok(rows
            .iter()
            .map(|r| UnroutedAlert {
                id: r.int("id"),
                kind: r.text("kind"),
                brand: r.text("brand"),
                facts: r.text_opt("facts"),
            })
            .collect())
    }

    pub(super) async fn add_delivery(
        &self,
        alert_id: i64,
        channel: &str,
        routed: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO alert_deliveries (alert_id, channel, status, next_attempt_ms, created_ms)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (alert_id, channel) DO NOTHING",
        )
        .bind(alert_id)
        .bind(channel)
        .bind(if routed { "pending" } else { "skipped" })
        .bind(now)
        .execute(self.0)
        .await?;
        Ok(())
    }

    /// Leases due rows of one channel. The lease condition is repeated outside the subquery
    /// so that PostgreSQL, re-reading a row another instance just claimed, skips it.
    pub(super) async fn claim_deliveries(
        &self,
        channel: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let claimed = sqlx::query::<DB>(
            "UPDATE alert_deliveries SET lease_until_ms = $3
             WHERE channel = $1 AND status = 'pending' AND next_attempt_ms <= $2
               AND (lease_until_ms IS NULL OR lease_until_ms < $2)
               AND alert_id IN (SELECT alert_id FROM alert_deliveries
                                WHERE channel = $1 AND status = 'pending'
                                  AND next_attempt_ms <= $2
                                  AND (lease_until_ms IS NULL OR lease_until_ms < $2)
                                ORDER BY alert_id LIMIT $4)
             RETURNING alert_id, attempts",
        )
        .bind(channel)
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(self.0)
        .await?;
        let mut deliveries = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let alert_id = row.int("alert_id");
            let alert = sqlx::query::<DB>(
                "SELECT a.kind, a.case_id, a.brand, a.source, a.message_id, a.subject, a.body_text,
                        a.body_html, a.facts,
                        (SELECT status FROM cases WHERE cases.id = a.case_id) AS case_status
                 FROM alerts a WHERE a.id = $1",
            )
            .bind(alert_id)
            .fetch_one(self.0)
            .await?;
            let kind = alert.text("kind");
            deliveries.push(ClaimedDelivery {
                alert_id,
                channel: channel.to_string(),
                kind: AlertKind::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))?,
                case_id: alert.text_opt("case_id"),
                case_open: alert.text_opt("case_status").is_none_or(|s| s == "open"),
                brand: alert.text("brand"),
                source: alert.text_opt("source"),
                message_id: alert.text("message_id"),
                subject: alert.text("subject"),
                text: alert.text("body_text"),
                html: alert.text("body_html"),
                facts: alert.text_opt("facts"),
                attempts: row.int("attempts"),
            });
        }
        deliveries.sort_by_key(|d| d.alert_id);
        Ok(deliveries)
    }

    /// Ends a claimed delivery: `sent`, `cancelled`, or back to `pending` at `next` with the
    /// error (`count` says whether it was a failure or only a rate limit's wait).
    pub(super) async fn finish_delivery(
        &self,
        alert_id: i64,
        channel: &str,
        outcome: &DeliveryOutcome<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        let query = match outcome {
            DeliveryOutcome::Sent => sqlx::query::<DB>(
                "UPDATE alert_deliveries SET status = 'sent', sent_ms = $3, lease_until_ms = NULL
                 WHERE alert_id = $1 AND channel = $2",
            )
            .bind(alert_id)
            .bind(channel)
            .bind(now),
            DeliveryOutcome::Cancelled(why) => sqlx::query::<DB>(
                "UPDATE alert_deliveries SET status = 'cancelled', last_error = $3,
                     lease_until_ms = NULL
                 WHERE alert_id = $1 AND channel = $2 AND status = 'pending'",
            )
            .bind(alert_id)
            .bind(channel)
            .bind(*why),
            DeliveryOutcome::Retry { error, next, count } => sqlx::query::<DB>(
                "UPDATE alert_deliveries SET attempts = attempts + $3, last_error = $4,
                     last_error_ms = $5, next_attempt_ms = $6, lease_until_ms = NULL
                 WHERE alert_id = $1 AND channel = $2 AND status = 'pending'",
            )
            .bind(alert_id)
            .bind(channel)
            .bind(i64::from(*count))
            .bind(*error)
            .bind(now)
            .bind(*next),
        };
        query.execute(self.0).await?;
        Ok(())
    }

    pub(super) async fn channel_status(&self, channel: &str) -> Result<ChannelStatus, StoreError> {
        let row = sqlx::query::<DB>(
            "SELECT
                (SELECT MAX(sent_ms) FROM alert_deliveries
                 WHERE channel = $1 AND status = 'sent') AS last_success_ms,
                (SELECT COUNT(*) FROM alert_deliveries
                 WHERE channel = $1 AND status = 'pending') AS queued,
                (SELECT MIN(created_ms) FROM alert_deliveries
                 WHERE channel = $1 AND status = 'pending') AS oldest_ms,
                (SELECT COUNT(*) FROM alert_deliveries
                 WHERE channel = $1 AND status = 'sent') AS sent",
        )
        .bind(channel)
        .fetch_one(self.0)
        .await?;
        let error = sqlx::query::<DB>(
            "SELECT last_error, last_error_ms FROM alert_deliveries
             WHERE channel = $1 AND last_error_ms IS NOT NULL
             ORDER BY last_error_ms DESC LIMIT 1",
        )
        .bind(channel)
        .fetch_optional(self.0)
        .await?;
        Ok(ChannelStatus {
            last_success_ms: row.int_opt("last_success_ms"),
            queued: row.int("queued"),
            oldest_pending_ms: row.int_opt("oldest_ms"),
            sent: row.int("sent"),
            last_error: error
                .as_ref()
                .map(|e| (e.int("last_error_ms"), e.text("last_error"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_positional_placeholders_and_postgres_numbered_ones() {
        let sql = format!(
            "UPDATE t SET x = 1 WHERE owner = $1 AND name IN ({})",
            placeholders(2, 2, 1)
        );
        assert_eq!(
            positional::<sqlx::Sqlite>(sql.clone()),
            "UPDATE t SET x = 1 WHERE owner = ? AND name IN ((?), (?))"
        );
        assert_eq!(positional::<sqlx::Postgres>(sql.clone()), sql);
        // A `$` that is no placeholder stays.
        assert_eq!(positional::<sqlx::Sqlite>("'$x' = $1".into()), "'$x' = ?");
    }
}
