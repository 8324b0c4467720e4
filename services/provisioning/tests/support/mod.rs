//! The suite's environment: a service on a private database and a private
//! in-process bus, with two tenants.

#![allow(dead_code)]

use ringside_provisioning::crypto::SecretKey;
use ringside_provisioning::{Actor, Provisioning, Role, Store, TenantInput};
use ringside_testkit::TestBus;
use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// `$RINGSIDE_TEST_DATABASE_URL`, default the development PostgreSQL.
pub fn database_url() -> String {
    std::env::var("RINGSIDE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub struct Env {
    pub svc: Provisioning,
    pub bus: TestBus,
    pub tenant_a: String,
    pub tenant_b: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

pub fn actor(tenant: &str, role: Role) -> Actor {
    Actor {
        user_id: None,
        username: "admin".to_owned(),
        tenant: tenant.to_owned(),
        role,
    }
}

pub fn admin(tenant: &str) -> Actor {
    actor(tenant, Role::TenantAdmin)
}

impl Env {
    pub async fn sqlite() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let settings = ringside_provisioning::DatabaseSettings {
            url: None,
            data_dir: dir.path().join("data"),
            max_connections: 4,
        };
        let store = Store::open(&settings).await.unwrap();
        Env::with(store, None, Some(dir)).await
    }

    /// A private schema on the real PostgreSQL; panics (fails the test) when
    /// the server is not there.
    pub async fn postgres() -> Env {
        let url = database_url();
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::postgres::PgConnection::connect_with_url(&url).await;
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .unwrap();
        let options: PgConnectOptions = url.parse().unwrap();
        let search_path = schema.clone();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _meta| {
                let sql = format!("SET search_path TO {search_path}");
                Box::pin(async move {
                    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .unwrap();
        let store = Store::postgres(pool);
        store.migrate().await.unwrap();
        Env::with(store, Some(schema), None).await
    }

    async fn with(store: Store, schema: Option<String>, dir: Option<tempfile::TempDir>) -> Env {
        let bus = TestBus::in_process();
        let svc = Provisioning::with_store(
            store,
            &SecretKey::generate(),
            bus.bus.clone(),
            bus.topology.clone(),
        )
        .await
        .unwrap();
        let platform = actor("platform", Role::PlatformAdmin);
        for slug in ["tenant-a", "tenant-b"] {
            svc.create_tenant(
                &platform,
                TenantInput {
                    slug: slug.into(),
                    name: slug.into(),
                },
            )
            .await
            .unwrap();
        }
        Env {
            svc,
            bus,
            tenant_a: "tenant-a".into(),
            tenant_b: "tenant-b".into(),
            schema,
            _dir: dir,
        }
    }

    /// What PostgreSQL's autovacuum does after a bulk load, done now:
    /// `VACUUM ANALYZE` of the CDR table (statistics, and the visibility map
    /// that lets report totals read the index alone). Nothing on SQLite.
    pub async fn vacuum_cdrs(&self) {
        if let Some(schema) = &self.schema {
            let mut admin = sqlx::postgres::PgConnection::connect_with_url(&database_url()).await;
            admin
                .execute(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {schema}.cdr")))
                .await
                .unwrap();
        }
    }

    /// Closes the pool and drops the PostgreSQL schema.
    pub async fn cleanup(mut self) {
        self.svc.store().close().await;
        if let Some(schema) = self.schema.take() {
            let mut admin = sqlx::postgres::PgConnection::connect_with_url(&database_url()).await;
            admin
                .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await
                .unwrap();
        }
    }
}

impl Drop for Env {
    /// A test that failed before `cleanup` still drops its schema.
    fn drop(&mut self) {
        if let Some(schema) = self.schema.take() {
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    use sqlx::Connection as _;
                    if let Ok(mut conn) =
                        sqlx::postgres::PgConnection::connect(&database_url()).await
                    {
                        let _ = conn
                            .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

trait ConnectWithUrl: Sized {
    async fn connect_with_url(url: &str) -> Self;
}

impl ConnectWithUrl for sqlx::postgres::PgConnection {
    async fn connect_with_url(url: &str) -> Self {
        use sqlx::Connection as _;
        sqlx::postgres::PgConnection::connect(url)
            .await
            .unwrap_or_else(|e| {
                panic!("these tests need PostgreSQL at {url} (set RINGSIDE_TEST_DATABASE_URL): {e}")
            })
    }
}
