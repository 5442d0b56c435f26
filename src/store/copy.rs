//! `outcry store copy`: a whole store into an empty one, SQLite ⇄ PostgreSQL.
//!
//! Tables and columns are read from the schemas rather than listed here, so that a table a
//! later migration adds is copied too. Only the leases (held by running daemons) and the
//! bookkeeping of migrations and of this copy stay behind. Tables with an integer `id` go
//! in chunks, each committed with its progress, so that a copy cut short resumes where it
//! stopped; the others go in one transaction each.

use super::{redacted_url, PostgresStore, SqliteStore, StoreError};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, PgPool, QueryBuilder, Row, SqlitePool, TypeInfo};
use std::fmt;

/// Rows read and committed at a time.
const CHUNK: i64 = 1000;
/// Rows per INSERT: far below either database's limit of bound parameters.
const ROWS_PER_INSERT: usize = 200;
/// What is never copied: leases belong to running daemons, the rest is per database.
const SKIPPED: [&str; 3] = ["source_leases", "store_copy", "_sqlx_migrations"];
/// Referenced tables before the ones referring to them; tables not named here (added by
/// later migrations) follow in name order, after everything they could refer to.
const FIRST: [&str; 8] = [
    "installation",
    "cases",
    "items",
    "observations",
    "links",
    "alerts",
    "audit",
    "source_state",
];

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the target store {0} is not empty (it holds cases, items or alerts); copy into a new \
         database or an empty one"
    )]
    NotEmpty(String),
    #[error("table {table} has a column {column} in the source that the target lacks")]
    Schema { table: String, column: String },
    #[error(
        "after the copy, table {table} holds {copied} rows in the target but {rows} in the source"
    )]
    Count {
        table: String,
        rows: i64,
        copied: i64,
    },
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        CopyError::Store(StoreError::Database(e))
    }
}

/// One table's rows in each store, as the copy verified them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub rows: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// True when an earlier, unfinished copy was taken up.
    pub resumed: bool,
    pub tables: Vec<TableCount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Real,
    Text,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null(Kind),
    Int(i64),
    Real(f64),
    Text(String),
}

enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        })
    }
}

/// Copies the store at `from` into the store at `to` (created and migrated when needed).
pub async fn copy(from: &str, to: &str) -> Result<CopyReport, CopyError> {
    let source = Db::open(from).await?;
    let target = Db::open(to).await?;
    let source_name = redacted_url(from);
    let resumed = target.unfinished_copy_from(&source_name).await?;
    if !resumed {
        if !target.is_empty().await? {
            return Err(CopyError::NotEmpty(redacted_url(to)));
        }
        target.begin_copy(&source_name).await?;
    }
    let mut tables = Vec::new();
    for table in source.tables().await? {
        let columns = target.columns(&table).await?;
        for column in source.columns(&table).await? {
            if !columns.iter().any(|(name, _)| *name == column.0) {
                return Err(CopyError::Schema {
                    table,
                    column: column.0,
                });
            }
        }
        if !target.table_finished(&table).await? {
            copy_table(&source, &target, &table, &columns, &source_name).await?;
        }
        let (rows, copied) = (source.count(&table).await?, target.count(&table).await?);
        if rows != copied {
            return Err(CopyError::Count {
                table,
                rows,
                copied,
            });
        }
        tables.push(TableCount { table, rows });
    }
    target.finish_copy().await?;
    Ok(CopyReport { resumed, tables })
}

async fn copy_table(
    source: &Db,
    target: &Db,
    table: &str,
    columns: &[(String, Kind)],
    source_name: &str,
) -> Result<(), CopyError> {
    let chunked = columns.iter().any(|c| c.0 == "id" && c.1 == Kind::Int);
    if !chunked {
        let rows = source.select(table, columns, None).await?;
        target
            .write(table, columns, &rows, true, source_name, true)
            .await?;
        return Ok(());
    }
    loop {
        let after = target.max_id(table).await?;
        let rows = source.select(table, columns, Some(after)).await?;
        let last = (rows.len() as i64) < CHUNK;
        target
            .write(table, columns, &rows, false, source_name, last)
            .await?;
        if last {
            return Ok(());
        }
    }
}

fn kind_of(declared: &str) -> Kind {
    let declared = declared.to_ascii_lowercase();
    if declared.contains("int") {
        Kind::Int
    } else if ["real", "double", "float", "numeric"]
        .iter()
        .any(|k| declared.contains(k))
    {
        Kind::Real
    } else {
        Kind::Text
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Db {
    async fn open(url: &str) -> Result<Db, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Db::Sqlite(SqliteStore::open(url).await?.into_pool()))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Db::Postgres(PostgresStore::open(url).await?.into_pool()))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }

    async fn tables(&self) -> Result<Vec<String>, sqlx::Error> {
        let mut names: Vec<String> = match self {
            Db::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table'
                     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
                )
                .fetch_all(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT table_name::TEXT FROM information_schema.tables
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                )
                .fetch_all(pool)
                .await?
            }
        };
        names.retain(|n| !SKIPPED.contains(&n.as_str()));
        let rank = |name: &str| FIRST.iter().position(|f| *f == name).unwrap_or(FIRST.len());
        names.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
        Ok(names)
    }

    async fn columns(&self, table: &str) -> Result<Vec<(String, Kind)>, sqlx::Error> {
        let rows: Vec<(String, String)> = match self {
            Db::Sqlite(pool) => {
                sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1
                     ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(name, declared)| (name, kind_of(&declared)))
            .collect())
    }

    async fn count(&self, table: &str) -> Result<i64, sqlx::Error> {
        let sql = format!("SELECT COUNT(*) FROM {}", quoted(table));
        match self {
            Db::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
            Db::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
        }
    }

    async fn max_id(&self, table: &str) -> Result<i64, sqlx::Error> {
        let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {}", quoted(table));
        match self {
            Db::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
            Db::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
        }
    }

    /// "Empty" as the contract has it: no case, item or alert.
    async fn is_empty(&self) -> Result<bool, sqlx::Error> {
        for table in ["cases", "items", "alerts"] {
            if self.count(table).await? > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn unfinished_copy_from(&self, source: &str) -> Result<bool, sqlx::Error> {
        let sql = "SELECT COUNT(*) FROM store_copy
                   WHERE table_name = '*' AND source = $1 AND finished = 0";
        let n: i64 = match self {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).bind(source).fetch_one(pool).await?,
            Db::Postgres(pool) => sqlx::query_scalar(sql).bind(source).fetch_one(pool).await?,
        };
        Ok(n > 0)
    }

    async fn begin_copy(&self, source: &str) -> Result<(), sqlx::Error> {
        // A finished copy from elsewhere, emptied since, may be copied into afresh.
        let clear = "DELETE FROM store_copy";
        let start = "INSERT INTO store_copy (table_name, source) VALUES ('*', $1)";
        match self {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(clear).execute(&mut *tx).await?;
                sqlx::query(start).bind(source).execute(&mut *tx).await?;
                tx.commit().await
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(clear).execute(&mut *tx).await?;
                sqlx::query(start).bind(source).execute(&mut *tx).await?;
                tx.commit().await
            }
        }
    }

    async fn table_finished(&self, table: &str) -> Result<bool, sqlx::Error> {
        let sql = "SELECT COUNT(*) FROM store_copy WHERE table_name = $1 AND finished = 1";
        let n: i64 = match self {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).bind(table).fetch_one(pool).await?,
            Db::Postgres(pool) => sqlx::query_scalar(sql).bind(table).fetch_one(pool).await?,
        };
        Ok(n > 0)
    }

    /// Marks the copy done and, on PostgreSQL, moves every sequence past the copied rows so
    /// that the next row written gets a fresh id.
    async fn finish_copy(&self) -> Result<(), sqlx::Error> {
        let done = "UPDATE store_copy SET finished = 1 WHERE table_name = '*'";
        match self {
            Db::Sqlite(pool) => {
                sqlx::query(done).execute(pool).await?;
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let identities: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::TEXT FROM information_schema.columns
                     WHERE table_schema = current_schema() AND column_name = 'id'
                       AND is_identity = 'YES'",
                )
                .fetch_all(&mut *tx)
                .await?;
                for table in identities {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence($1, 'id'),
                                       (SELECT COALESCE(MAX(id), 0) + 1 FROM {}), false)",
                        quoted(&table)
                    );
                    sqlx::query(&sql).bind(&table).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "SELECT setval('cases_revision',
                                   (SELECT COALESCE(MAX(revision), 0) + 1 FROM cases), false)",
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query(done).execute(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// The table's rows (with an `id`: the next chunk after `after`, in id order).
    async fn select(
        &self,
        table: &str,
        columns: &[(String, Kind)],
        after: Option<i64>,
    ) -> Result<Vec<Vec<Value>>, sqlx::Error> {
        let names: Vec<String> = columns.iter().map(|c| quoted(&c.0)).collect();
        let mut sql = format!("SELECT {} FROM {}", names.join(", "), quoted(table));
        if after.is_some() {
            sql.push_str(&format!(" WHERE id > $1 ORDER BY id LIMIT {CHUNK}"));
        }
        match self {
            Db::Sqlite(pool) => {
                let mut query = sqlx::query(&sql);
                if let Some(after) = after {
                    query = query.bind(after);
                }
                let rows = query.fetch_all(pool).await?;
                rows.iter().map(|r| sqlite_values(r, columns)).collect()
            }
            Db::Postgres(pool) => {
                let mut query = sqlx::query(&sql);
                if let Some(after) = after {
                    query = query.bind(after);
                }
                let rows = query.fetch_all(pool).await?;
                rows.iter().map(|r| postgres_values(r, columns)).collect()
            }
        }
    }

    /// Inserts `rows` and records the progress in one transaction; `replace` first empties
    /// the table (a whole table copied again after an interruption).
    async fn write(
        &self,
        table: &str,
        columns: &[(String, Kind)],
        rows: &[Vec<Value>],
        replace: bool,
        source: &str,
        finished: bool,
    ) -> Result<(), sqlx::Error> {
        let names: Vec<String> = columns.iter().map(|c| quoted(&c.0)).collect();
        let delete = format!("DELETE FROM {}", quoted(table));
        let progress = "INSERT INTO store_copy (table_name, source, rows_copied, finished)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (table_name) DO UPDATE SET
                 rows_copied = store_copy.rows_copied + excluded.rows_copied,
                 finished = excluded.finished";
        macro_rules! write_with {
            ($pool:expr, $db:ty, $overriding:expr) => {{
                let mut tx = $pool.begin().await?;
                if replace {
                    sqlx::query(&delete).execute(&mut *tx).await?;
                }
                for batch in rows.chunks(ROWS_PER_INSERT) {
                    let mut insert = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO {} ({}){} ",
                        quoted(table),
                        names.join(", "),
                        $overriding
                    ));
                    insert.push_values(batch, |mut b, row| {
                        for value in row {
                            match value {
                                Value::Null(Kind::Int) => b.push_bind(None::<i64>),
                                Value::Null(Kind::Real) => b.push_bind(None::<f64>),
                                Value::Null(Kind::Text) => b.push_bind(None::<String>),
                                Value::Int(v) => b.push_bind(*v),
                                Value::Real(v) => b.push_bind(*v),
                                Value::Text(v) => b.push_bind(v.clone()),
                            };
                        }
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                sqlx::query(progress)
                    .bind(table)
                    .bind(source)
                    .bind(rows.len() as i64)
                    .bind(i64::from(finished))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }};
        }
        match self {
            Db::Sqlite(pool) => write_with!(pool, sqlx::Sqlite, ""),
            // Identity columns are GENERATED ALWAYS: the copied ids must be kept.
            Db::Postgres(pool) => write_with!(pool, sqlx::Postgres, " OVERRIDING SYSTEM VALUE"),
        }
    }
}

fn sqlite_values(row: &SqliteRow, columns: &[(String, Kind)]) -> Result<Vec<Value>, sqlx::Error> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            Ok(match kind {
                Kind::Int => row
                    .try_get::<Option<i64>, _>(i)?
                    .map_or(Value::Null(*kind), Value::Int),
                Kind::Real => row
                    .try_get::<Option<f64>, _>(i)?
                    .map_or(Value::Null(*kind), Value::Real),
                Kind::Text => row
                    .try_get::<Option<String>, _>(i)?
                    .map_or(Value::Null(*kind), Value::Text),
            })
        })
        .collect()
}

fn postgres_values(row: &PgRow, columns: &[(String, Kind)]) -> Result<Vec<Value>, sqlx::Error> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            let declared = row.column(i).type_info().name().to_string();
            Ok(match (kind, declared.as_str()) {
                (Kind::Int, "INT2") => row
                    .try_get::<Option<i16>, _>(i)?
                    .map_or(Value::Null(*kind), |v| Value::Int(v.into())),
                (Kind::Int, "INT4") => row
                    .try_get::<Option<i32>, _>(i)?
                    .map_or(Value::Null(*kind), |v| Value::Int(v.into())),
                (Kind::Int, _) => row
                    .try_get::<Option<i64>, _>(i)?
                    .map_or(Value::Null(*kind), Value::Int),
                (Kind::Real, "FLOAT4") => row
                    .try_get::<Option<f32>, _>(i)?
                    .map_or(Value::Null(*kind), |v| Value::Real(v.into())),
                (Kind::Real, _) => row
                    .try_get::<Option<f64>, _>(i)?
                    .map_or(Value::Null(*kind), Value::Real),
                (Kind::Text, _) => row
                    .try_get::<Option<String>, _>(i)?
                    .map_or(Value::Null(*kind), Value::Text),
            })
        })
        .collect()
}
