//! [`TestDb`]: a fresh database for one test, dropped when the test ends.

use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tenantry_pg::database::{DatabaseName, drop_database};

use crate::server::{NAME_PREFIX, admin_url, connect, registry_template, unix_now};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A uniquely named, empty database that exists for as long as this value.
pub struct TestDb {
    name: DatabaseName,
    admin_url: String,
    url: String,
    /// Whether dropping this value drops the database (not for a [`TestDb::beside`] handle).
    owned: bool,
}

impl TestDb {
    /// Creates a new, empty database.
    pub async fn new() -> Self {
        Self::create(admin_url().await, None).await
    }

    /// Creates a new database with the control migrations already applied (the tenant
    /// registry, empty), as a server's start-up would leave it.
    pub async fn with_registry() -> Self {
        Self::create(admin_url().await, Some(registry_template().await)).await
    }

    /// Creates a new, empty database on the server whose maintenance database `admin_url`
    /// names (the Citus tests' coordinator).
    pub async fn create_on(admin_url: &str) -> Self {
        Self::create(admin_url, None).await
    }

    async fn create(admin_url: &str, template: Option<&DatabaseName>) -> Self {
        let admin_url = admin_url.to_owned();
        let raw = format!(
            "{NAME_PREFIX}{}_{}_{}",
            unix_now(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let name = DatabaseName::parse(&raw).expect("test database names fit the grammar");
        let from = template.map(|t| format!(" TEMPLATE \"{}\"", t.as_str())).unwrap_or_default();
        let admin = connect(&admin_url).await.expect("connect to the test Postgres server");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{}\"{from}", name.as_str()))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("admin URL parses");
        url.set_path(&format!("/{}", name.as_str()));
        Self { name, admin_url, url: url.to_string(), owned: true }
    }

    /// Another handle on this same database, which does not drop it (e.g. for a second server
    /// instance); it must not outlive this one.
    pub fn beside(&self) -> Self {
        Self {
            name: self.name.clone(),
            admin_url: self.admin_url.clone(),
            url: self.url.clone(),
            owned: false,
        }
    }

    /// Its name.
    pub fn name(&self) -> &DatabaseName {
        &self.name
    }

    /// Connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A small pool on this database, opened the way the migration tool opens it.
    pub async fn connect(&self, max_connections: u32) -> DatabaseConnection {
        tenantry_pg::database::connect(&self.url, max_connections)
            .await
            .expect("connect to the test database")
    }
}

impl TestDb {
    /// Names of the schemas in this database, apart from Postgres' own.
    pub async fn schemas(&self) -> Vec<String> {
        self.strings(
            "SELECT nspname::text AS v FROM pg_namespace \
             WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
        )
        .await
    }

    /// Runs `sql` (a test's own literal) and returns column `v` of each row as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        let db = self.connect(1).await;
        let rows = db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await.expect("query");
        db.close().await.ok();
        rows.iter().map(|r| r.try_get::<String>("", "v").expect("text column v")).collect()
    }

    /// Runs `sql` (a test's own literal) and returns column `n` of its one row.
    pub async fn count(&self, sql: &str) -> i64 {
        let db = self.connect(1).await;
        let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.expect("query");
        db.close().await.ok();
        row.expect("one row").try_get::<i64>("", "n").expect("bigint column n")
    }

    /// Sets the session defaults the service expects on every connection at the database level,
    /// as operators must behind a pooler that drops start-up options.
    pub async fn set_pooler_defaults(&self, statement_timeout_ms: u64) {
        let name = self.name.as_str();
        let no_schema = tenantry_pg::database::NO_SCHEMA;
        self.execute(&format!(
            "ALTER DATABASE \"{name}\" SET search_path = {no_schema}; \
             ALTER DATABASE \"{name}\" SET statement_timeout = '{statement_timeout_ms}ms'"
        ))
        .await;
    }

    /// Runs statements (a test's own literals), e.g. to sabotage something on purpose.
    pub async fn execute(&self, sql: &str) {
        let db = self.connect(1).await;
        db.execute_unprepared(sql).await.expect("statement runs");
        db.close().await.ok();
    }
}

impl Drop for TestDb {
    /// Drops the database, even when the test panicked. Runs on its own thread and runtime
    /// because the test's runtime may be shutting down.
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(drop_database(&admin_url, &name)).ok()
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}; a later run sweeps it", self.name.as_str());
        }
    }
}
