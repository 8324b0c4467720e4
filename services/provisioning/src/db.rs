//! The two databases behind one small surface: pools, migrations, arguments,
//! rows and transactions.
//!
//! The store writes each query once, with PostgreSQL placeholders (`$1`, `$2`,
//! …); for SQLite they become `?1`, `?2`, … (SQLite's numbered parameters), which
//! is the whole dialect difference the schema leaves. Values cross the boundary
//! as [`Arg`]s and come back through [`DbRow::get`], whose bounds require a type
//! that both drivers decode, so a query that works on one works on the other.
//!
//! Why not sqlx's `Any` driver: it has no UUID type, and keys are UUIDs.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Decode, Postgres, Row, SqlSafeStr, Sqlite, Transaction, Type};
use uuid::Uuid;

use crate::error::StoreError;

/// A migration's version, name, and its SQL for PostgreSQL and for SQLite.
type Step = (i64, &'static str, &'static str, &'static str);

/// Every migration, in order, embedded so the binary needs no files at run
/// time (the `migrate!` macro would need sqlx's `macros` feature). A
/// migration is never edited once released: a change is a new step.
const MIGRATIONS: &[Step] = &[
    (
        1,
        "schema",
        include_str!("../migrations/postgres/0001_schema.sql"),
        include_str!("../migrations/sqlite/0001_schema.sql"),
    ),
    (
        2,
        "cdr_report_index",
        include_str!("../migrations/postgres/0002_cdr_report_index.sql"),
        include_str!("../migrations/sqlite/0002_cdr_report_index.sql"),
    ),
    (
        3,
        "cdr_partial_indexes",
        include_str!("../migrations/postgres/0003_cdr_partial_indexes.sql"),
        include_str!("../migrations/sqlite/0003_cdr_partial_indexes.sql"),
    ),
];

fn migrator(postgres: bool) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, name, pg, sqlite)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    if postgres { pg } else { sqlite }.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// A value bound to a query parameter.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Text(String),
    OptText(Option<String>),
    I64(i64),
    OptI64(Option<i64>),
    Bool(bool),
    Bytes(Vec<u8>),
    OptBytes(Option<Vec<u8>>),
}

impl From<Uuid> for Arg {
    fn from(v: Uuid) -> Self {
        Arg::Uuid(v)
    }
}
impl From<Option<Uuid>> for Arg {
    fn from(v: Option<Uuid>) -> Self {
        Arg::OptUuid(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::I64(v)
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::OptI64(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}
impl From<Option<Vec<u8>>> for Arg {
    fn from(v: Option<Vec<u8>>) -> Self {
        Arg::OptBytes(v)
    }
}

/// Builds a `Vec<Arg>` from values of mixed types.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::db::Arg::from($v)),*] };
}
pub(crate) use args;

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                Arg::Uuid(v) => q.bind(v),
                Arg::OptUuid(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
                Arg::I64(v) => q.bind(v),
                Arg::OptI64(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
                Arg::OptBytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// `$1` → `?1`: SQLite's numbered parameters. The store never puts a `$` in SQL
/// text otherwise (values are always bound).
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

/// A row from either database.
pub(crate) enum DbRow {
    Pg(PgRow),
    Sqlite(SqliteRow),
}

impl DbRow {
    /// Column `col`, decoded as a type both drivers know.
    pub(crate) fn get<T>(&self, col: &str) -> Result<T, StoreError>
    where
        T: for<'r> Decode<'r, Postgres>
            + Type<Postgres>
            + for<'r> Decode<'r, Sqlite>
            + Type<Sqlite>,
    {
        match self {
            DbRow::Pg(row) => row.try_get(col),
            DbRow::Sqlite(row) => row.try_get(col),
        }
        .map_err(|e| StoreError::Database(format!("column {col}: {e}")))
    }
}

/// Which database a store talks to.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

/// An open transaction on either database.
pub(crate) enum Tx {
    Pg(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// Something queries run on: a pool or a transaction.
pub(crate) enum Exec<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

impl Db {
    pub(crate) fn exec(&self) -> Exec<'_> {
        Exec::Db(self)
    }

    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        let started = std::time::Instant::now();
        let tx = match self {
            Db::Pg(pool) => Tx::Pg(pool.begin().await.map_err(StoreError::from_sqlx)?),
            // IMMEDIATE: take the write lock up front. A deferred transaction that
            // reads and then writes can fail with SQLITE_BUSY on the upgrade,
            // which no busy timeout waits out.
            Db::Sqlite(pool) => Tx::Sqlite(
                pool.begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(StoreError::from_sqlx)?,
            ),
        };
        // Waiting for a pooled connection (and SQLite's write lock) is
        // where a saturated pool shows.
        metrics::histogram!("ringside_db_pool_acquire_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(tx)
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        let result = match self {
            Db::Pg(pool) => migrator(true).run(pool).await,
            Db::Sqlite(pool) => migrator(false).run(pool).await,
        };
        result.map_err(|e| StoreError::Migrate(e.to_string()))
    }

    pub(crate) async fn close(&self) {
        match self {
            Db::Pg(pool) => pool.close().await,
            Db::Sqlite(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub(crate) fn exec(&mut self) -> Exec<'_> {
        Exec::Tx(self)
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Pg(tx) => tx.commit().await,
            Tx::Sqlite(tx) => tx.commit().await,
        }
        .map_err(StoreError::from_sqlx)
    }
}

impl Exec<'_> {
    /// Runs a statement; returns the number of rows it affected.
    pub(crate) async fn execute(self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        let result = match self {
            Exec::Db(Db::Pg(pool)) => bind_all!(sqlx::query(AssertSqlSafe(sql.to_owned())), args)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Exec::Db(Db::Sqlite(pool)) => {
                bind_all!(sqlx::query(AssertSqlSafe(sqlite_sql(sql))), args)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
            Exec::Tx(Tx::Pg(tx)) => bind_all!(sqlx::query(AssertSqlSafe(sql.to_owned())), args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            Exec::Tx(Tx::Sqlite(tx)) => {
                bind_all!(sqlx::query(AssertSqlSafe(sqlite_sql(sql))), args)
                    .execute(&mut **tx)
                    .await
                    .map(|r| r.rows_affected())
            }
        };
        result.map_err(StoreError::from_sqlx)
    }

    /// Runs a query; returns every row.
    pub(crate) async fn fetch_all(
        self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<DbRow>, StoreError> {
        let result = match self {
            Exec::Db(Db::Pg(pool)) => bind_all!(sqlx::query(AssertSqlSafe(sql.to_owned())), args)
                .fetch_all(pool)
                .await
                .map(|rows| rows.into_iter().map(DbRow::Pg).collect()),
            Exec::Db(Db::Sqlite(pool)) => {
                bind_all!(sqlx::query(AssertSqlSafe(sqlite_sql(sql))), args)
                    .fetch_all(pool)
                    .await
                    .map(|rows| rows.into_iter().map(DbRow::Sqlite).collect())
            }
            Exec::Tx(Tx::Pg(tx)) => bind_all!(sqlx::query(AssertSqlSafe(sql.to_owned())), args)
                .fetch_all(&mut **tx)
                .await
                .map(|rows| rows.into_iter().map(DbRow::Pg).collect()),
            Exec::Tx(Tx::Sqlite(tx)) => {
                bind_all!(sqlx::query(AssertSqlSafe(sqlite_sql(sql))), args)
                    .fetch_all(&mut **tx)
                    .await
                    .map(|rows| rows.into_iter().map(DbRow::Sqlite).collect())
            }
        };
        result.map_err(StoreError::from_sqlx)
    }

    /// Runs a query; returns its first row, if any.
    pub(crate) async fn fetch_optional(
        self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<DbRow>, StoreError> {
        Ok(self.fetch_all(sql, args).await?.into_iter().next())
    }
}

/// Opens a PostgreSQL pool on `url`.
pub(crate) async fn connect_postgres(
    url: &str,
    max_connections: u32,
) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| StoreError::Connect(format!("postgres: {e}")))
}

/// Opens (creating if needed) the SQLite database `file` in WAL mode with
/// foreign keys on.
pub(crate) async fn connect_sqlite(
    file: &Path,
    max_connections: u32,
) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str("sqlite:")
        .map_err(|e| StoreError::Connect(format!("sqlite: {e}")))?
        .filename(file)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // A multi-row INSERT keeps a statement journal (to undo just that
        // statement); in a temp file it cost a tenth of the writer's time
        // while rating. And a 16 MiB page cache per connection (instead of
        // 2 MiB; filled only as pages are read) keeps a batch's index pages
        // from spilling to the WAL mid-transaction: together 35.6–36.0k →
        // 38.5–40.1k records/s rated (`scripts/bench rating`, 300,000 CDRs).
        .pragma("temp_store", "memory")
        .pragma("cache_size", "-16384");
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Connect(format!("sqlite {}: {e}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_become_sqlite_numbered_parameters() {
        assert_eq!(
            sqlite_sql("SELECT a FROM t WHERE x = $1 AND y = $12"),
            "SELECT a FROM t WHERE x = ?1 AND y = ?12"
        );
    }

    #[tokio::test]
    async fn sqlite_connections_keep_statement_journals_in_memory_and_a_larger_cache() {
        let dir = tempfile::tempdir().unwrap();
        let pool = connect_sqlite(&dir.path().join("t.db"), 2).await.unwrap();
        let pragma = |name: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        // 2 = MEMORY; a negative cache size is in KiB.
        assert_eq!(pragma("temp_store").await, 2);
        assert_eq!(pragma("cache_size").await, -16384);
        assert_eq!(pragma("foreign_keys").await, 1);
    }

    #[test]
    fn every_migration_declares_the_same_shape_on_both_databases() {
        let shape = |sql: &str| -> Vec<String> {
            sql.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("--"))
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                .collect()
        };
        for (version, name, postgres, sqlite) in MIGRATIONS {
            assert_eq!(shape(postgres), shape(sqlite), "migration {version} {name}");
        }
    }
}
