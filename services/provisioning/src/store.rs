//! The store: one interface over PostgreSQL and SQLite, every query scoped by
//! tenant.
//!
//! Tenant-owned tables share a shape (`id`, `tenant`, `created_at_ms`,
//! `updated_at_ms`, then their own columns), so reads and writes are written
//! once, generically over [`Entity`]; entity-specific SQL (allocations,
//! assignments, audit, rating) lives next to the code that needs it. A row of
//! another tenant is indistinguishable from a missing row: every statement
//! has `tenant = $1` in its `WHERE`.

use std::path::PathBuf;

use serde::Deserialize;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use crate::db::{self, Arg, Db, DbRow, Exec, Tx, args};
use crate::error::StoreError;
use crate::model::{Page, Paged};

/// Where the data lives (`[provisioning.database]`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// A PostgreSQL URL (`postgres://user@host/db`). When absent, SQLite in
    /// `data_dir`.
    pub url: Option<String>,
    /// The directory of the SQLite file `provisioning.sqlite3` (created if
    /// missing).
    pub data_dir: PathBuf,
    /// Pool size.
    pub max_connections: u32,
}

impl std::fmt::Debug for DatabaseSettings {
    /// The URL without its password: settings get logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self
            .url
            .as_deref()
            .map(|u| match (u.split_once("://"), u.rsplit_once('@')) {
                (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
                _ => u.to_owned(),
            });
        f.debug_struct("DatabaseSettings")
            .field("url", &url)
            .field("data_dir", &self.data_dir)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: None,
            data_dir: PathBuf::from("./data"),
            max_connections: 8,
        }
    }
}

/// The provisioning database.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
}

impl Store {
    /// Connects as `settings` say and runs the migrations.
    ///
    /// # Errors
    /// [`StoreError::Connect`] or [`StoreError::Migrate`].
    pub async fn open(settings: &DatabaseSettings) -> Result<Store, StoreError> {
        let store = match &settings.url {
            Some(url) => {
                Store::postgres(db::connect_postgres(url, settings.max_connections).await?)
            }
            None => {
                std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
                    StoreError::Connect(format!("data dir {}: {e}", settings.data_dir.display()))
                })?;
                let file = settings.data_dir.join("provisioning.sqlite3");
                Store::sqlite(db::connect_sqlite(&file, settings.max_connections).await?)
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A store on an existing PostgreSQL pool (tests give one whose
    /// connections use a private schema). Run [`Store::migrate`] before use.
    pub fn postgres(pool: PgPool) -> Store {
        Store { db: Db::Pg(pool) }
    }

    /// A store on an existing SQLite pool. An in-memory database needs a pool
    /// of one connection (each connection would get its own database).
    pub fn sqlite(pool: SqlitePool) -> Store {
        Store {
            db: Db::Sqlite(pool),
        }
    }

    /// Brings the schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Migrate`].
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.db.migrate().await
    }

    /// Whether this is the PostgreSQL store.
    pub fn is_postgres(&self) -> bool {
        self.db.is_postgres()
    }

    /// The pool's connections now: (open, idle, configured maximum), for
    /// the `ringside_db_pool_*` gauges.
    pub fn pool_stats(&self) -> (u32, u32, u32) {
        match &self.db {
            Db::Pg(pool) => (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                pool.options().get_max_connections(),
            ),
            Db::Sqlite(pool) => (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                pool.options().get_max_connections(),
            ),
        }
    }

    /// Sets the `ringside_db_pool_*` gauges from [`Store::pool_stats`].
    pub fn record_pool_metrics(&self) {
        let (open, idle, max) = self.pool_stats();
        metrics::gauge!("ringside_db_pool_connections", "state" => "idle").set(f64::from(idle));
        metrics::gauge!("ringside_db_pool_connections", "state" => "in_use")
            .set(f64::from(open.saturating_sub(idle)));
        metrics::gauge!("ringside_db_pool_max_connections").set(f64::from(max));
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.db.close().await;
    }

    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        self.db.begin().await
    }

    /// One row of `E` in `tenant`.
    pub(crate) async fn get<E: Entity>(
        exec: Exec<'_>,
        tenant: &str,
        id: Uuid,
    ) -> Result<Option<E>, StoreError> {
        let sql = format!(
            "SELECT id, created_at_ms, updated_at_ms, {} FROM {} WHERE tenant = $1 AND id = $2",
            E::COLUMNS,
            E::TABLE
        );
        match exec.fetch_optional(&sql, args![tenant, id]).await? {
            Some(row) => Ok(Some(E::from_row(&row)?)),
            None => Ok(None),
        }
    }

    /// A page of `E` in `tenant`, in `E::ORDER`, with the total.
    pub(crate) async fn list<E: Entity>(
        &self,
        tenant: &str,
        page: Page,
    ) -> Result<Paged<E>, StoreError> {
        let page = page.clamped();
        let total = self.count(E::TABLE, tenant).await?;
        let sql = format!(
            "SELECT id, created_at_ms, updated_at_ms, {} FROM {} WHERE tenant = $1 \
             ORDER BY {}, id LIMIT $2 OFFSET $3",
            E::COLUMNS,
            E::TABLE,
            E::ORDER
        );
        let rows = self
            .db
            .exec()
            .fetch_all(&sql, args![tenant, i64::from(page.limit), offset(page)])
            .await?;
        let items = rows
            .iter()
            .map(E::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Paged {
            items,
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// Every row of `E` in `tenant` (for rendering and the PBX registry).
    pub(crate) async fn all<E: Entity>(exec: Exec<'_>, tenant: &str) -> Result<Vec<E>, StoreError> {
        let sql = format!(
            "SELECT id, created_at_ms, updated_at_ms, {} FROM {} WHERE tenant = $1 ORDER BY {}, id",
            E::COLUMNS,
            E::TABLE,
            E::ORDER
        );
        let rows = exec.fetch_all(&sql, args![tenant]).await?;
        rows.iter().map(E::from_row).collect()
    }

    /// Rows of `table` in `tenant`.
    pub(crate) async fn count(&self, table: &str, tenant: &str) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant = $1");
        let row = self.db.exec().fetch_optional(&sql, args![tenant]).await?;
        let n: i64 = match row {
            Some(row) => row.get("n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether `table` has row `id` in `tenant`.
    pub(crate) async fn exists(
        exec: Exec<'_>,
        table: &str,
        tenant: &str,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let sql = format!("SELECT id FROM {table} WHERE tenant = $1 AND id = $2");
        Ok(exec
            .fetch_optional(&sql, args![tenant, id])
            .await?
            .is_some())
    }

    /// Inserts a row of `table`.
    pub(crate) async fn insert(
        exec: Exec<'_>,
        table: &str,
        tenant: &str,
        id: Uuid,
        now_ms: i64,
        cols: Vec<Col>,
    ) -> Result<(), StoreError> {
        let mut names = vec!["id", "tenant", "created_at_ms", "updated_at_ms"];
        let mut values = args![id, tenant, now_ms, now_ms];
        for col in cols {
            names.push(col.name);
            values.push(col.value);
        }
        let placeholders = (1..=names.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({placeholders})",
            names.join(", ")
        );
        exec.execute(&sql, values).await?;
        Ok(())
    }

    /// Replaces the columns of row `id` of `table` in `tenant`; a
    /// `keep_if_null` column given NULL keeps its value. Returns whether the
    /// row exists.
    pub(crate) async fn update(
        exec: Exec<'_>,
        table: &str,
        tenant: &str,
        id: Uuid,
        now_ms: i64,
        cols: Vec<Col>,
    ) -> Result<bool, StoreError> {
        let mut sets = vec!["updated_at_ms = $3".to_owned()];
        let mut values = args![tenant, id, now_ms];
        for (i, col) in cols.into_iter().enumerate() {
            let n = i + 4;
            sets.push(if col.keep_if_null {
                format!("{0} = COALESCE(${n}, {0})", col.name)
            } else {
                format!("{} = ${n}", col.name)
            });
            values.push(col.value);
        }
        let sql = format!(
            "UPDATE {table} SET {} WHERE tenant = $1 AND id = $2",
            sets.join(", ")
        );
        Ok(exec.execute(&sql, values).await? > 0)
    }

    /// Deletes row `id` of `table` in `tenant`; returns whether it existed.
    pub(crate) async fn delete(
        exec: Exec<'_>,
        table: &str,
        tenant: &str,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM {table} WHERE tenant = $1 AND id = $2");
        Ok(exec.execute(&sql, args![tenant, id]).await? > 0)
    }
}

pub(crate) fn offset(page: Page) -> i64 {
    i64::try_from(page.offset).unwrap_or(i64::MAX)
}

/// A column written by a create or an update.
pub(crate) struct Col {
    pub(crate) name: &'static str,
    pub(crate) value: Arg,
    /// On update, NULL means "keep" (secrets the caller did not resend).
    pub(crate) keep_if_null: bool,
}

impl Col {
    pub(crate) fn new(name: &'static str, value: impl Into<Arg>) -> Col {
        Col {
            name,
            value: value.into(),
            keep_if_null: false,
        }
    }

    pub(crate) fn keep(name: &'static str, value: impl Into<Arg>) -> Col {
        Col {
            name,
            value: value.into(),
            keep_if_null: true,
        }
    }
}

/// A tenant-owned table and its public row type.
pub(crate) trait Entity: serde::Serialize + Sized + Send + Sync {
    /// The entity's name in events, the audit log and errors.
    const KIND: &'static str;
    /// Its table.
    const TABLE: &'static str;
    /// The columns read after `id, created_at_ms, updated_at_ms`.
    const COLUMNS: &'static str;
    /// List order.
    const ORDER: &'static str;
    /// Maps a row selected with [`Entity::COLUMNS`].
    fn from_row(row: &DbRow) -> Result<Self, StoreError>;
}
