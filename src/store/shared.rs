//! Writes whose SQL is the same on every backend (both accept `$N` placeholders), written
//! once over sqlx's `Database` so a fix reaches SQLite and PostgreSQL alike.

use super::*;
use sqlx::{Encode, Executor, IntoArguments, Type};

// Lease bookkeeping that is the same SQL on every backend; texts bind first, then numbers.
pub(super) const RECORD_POLL: &str =
    "UPDATE source_leases SET polled_ms = $3 WHERE name = $1 AND owner = $2 RETURNING name";
pub(super) const RENEW_LEASES: &str = "UPDATE source_leases SET expires_ms = $3
     WHERE owner = $1 AND expires_ms >= $2 RETURNING name";
// Expired at once, but polled_ms stays so the next holder keeps the source's interval.
pub(super) const RELEASE_LEASES: &str =
    "UPDATE source_leases SET expires_ms = 0 WHERE owner = $1 RETURNING name";

/// Runs one of the shared lease statements; returns how many leases it touched.
pub(super) async fn lease_statement<DB>(
    pool: &sqlx::Pool<DB>,
    sql: &'static str,
    texts: &[&str],
    numbers: &[i64],
) -> Result<u64, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let mut query = sqlx::query::<DB>(sql);
    for text in texts {
        query = query.bind(*text);
    }
    for number in numbers {
        query = query.bind(*number);
    }
    let rows = query.fetch_all(pool).await?;
    Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
}

/// Inserts or replaces a case; `sql` is the backend's statement, which differs only in how
/// it takes the next revision.
pub(super) async fn upsert_case_on<DB>(
    conn: &mut DB::Connection,
    sql: &'static str,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
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
pub(super) async fn write_review<DB>(
    conn: &mut DB::Connection,
    upsert_case_sql: &'static str,
    batch: &Batch<'_>,
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
{
    for (case, at) in &batch.cases {
        upsert_case_on::<DB>(conn, upsert_case_sql, case, *at).await?;
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
            "UPDATE alerts SET status = 'pending', next_attempt_ms = $2, lease_until_ms = NULL,
                 last_error = NULL, sent_at = NULL
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
