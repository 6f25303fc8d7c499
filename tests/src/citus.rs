//! [`CitusCluster`] and [`CitusDb`]: the cluster `TENANTRY_CITUS_URL` names, and a fresh
//! database on every one of its nodes, for the Citus tests.
//!
//! Tenantry never creates a database on a Citus server (it would be a plain database on the
//! coordinator alone), so a test does what the README tells operators to: the database and the
//! citus extension on the coordinator and on every worker, then, in the coordinator's database,
//! `citus_set_coordinator_host` and `citus_add_node` for each worker. The workers are those
//! registered in the coordinator's maintenance database (`pg_dist_node` there). Every node
//! takes the same credentials as the coordinator's URL.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tenantry_pg::database::{DatabaseName, drop_database};
use url::Url;

use crate::TestDb;
use crate::server::connect;

/// Serialises making databases on the cluster.
static SETUP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The environment variable naming a Citus coordinator's maintenance database.
pub const CITUS_URL_VAR: &str = "TENANTRY_CITUS_URL";

/// A Citus 12+ cluster: a coordinator and the workers registered with it.
pub struct CitusCluster {
    admin_url: Url,
    workers: Vec<(String, u16)>,
}

impl CitusCluster {
    /// The cluster `TENANTRY_CITUS_URL` names; without it, `None`, after saying plainly that
    /// `test` was skipped. A cluster that is named but unusable fails the test.
    pub async fn from_env(test: &str) -> Option<Self> {
        let Ok(raw) = std::env::var(CITUS_URL_VAR) else {
            eprintln!(
                "SKIPPED {test}: {CITUS_URL_VAR} is not set. To run the Citus tests, set it to a Citus 12+ \
                 coordinator with at least two workers, e.g. postgres://postgres@127.0.0.1:5501/postgres \
                 (README: Scale out with Citus)"
            );
            return None;
        };
        let admin_url = Url::parse(&raw).unwrap_or_else(|e| panic!("{CITUS_URL_VAR} is not a URL: {e}"));
        let admin = connect(admin_url.as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the coordinator {CITUS_URL_VAR} names: {e}"));
        let rows = admin
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT nodename::text AS host, nodeport AS port FROM pg_dist_node \
                 WHERE noderole = 'primary' AND groupid <> 0 ORDER BY nodename, nodeport",
            ))
            .await
            .unwrap_or_else(|e| panic!("{CITUS_URL_VAR} must name a Citus coordinator's database: {e}"));
        admin.close().await.ok();
        let workers: Vec<(String, u16)> = rows
            .iter()
            .map(|r| {
                let port: i32 = r.try_get("", "port").expect("port");
                (r.try_get("", "host").expect("host"), u16::try_from(port).expect("a port fits u16"))
            })
            .collect();
        assert!(
            workers.len() >= 2,
            "the Citus tests need at least two workers registered, found {workers:?}"
        );
        Some(Self { admin_url, workers })
    }

    /// `host:port` of the coordinator, as the cluster knows it.
    pub fn coordinator(&self) -> String {
        let (host, port) = self.coordinator_address();
        format!("{host}:{port}")
    }

    /// `host:port` of each worker.
    pub fn workers(&self) -> Vec<String> {
        self.workers.iter().map(|(h, p)| format!("{h}:{p}")).collect()
    }

    fn coordinator_address(&self) -> (String, u16) {
        let host = self.admin_url.host_str().unwrap_or("127.0.0.1").to_owned();
        (host, self.admin_url.port().unwrap_or(5432))
    }

    /// The URL of database `db` on node `host:port`, with the coordinator's credentials.
    fn url_of(&self, host: &str, port: u16, db: &str) -> String {
        let mut url = self.admin_url.clone();
        url.set_host(Some(host)).expect("a node's host fits a URL");
        url.set_port(Some(port)).expect("a node's port fits a URL");
        url.set_path(&format!("/{db}"));
        url.to_string()
    }

    /// A fresh Citus database: created with the citus extension on every node, the nodes
    /// registered on the coordinator, and `citus.enable_schema_based_sharding` set as given.
    pub async fn database(&self, schema_based_sharding: bool) -> CitusDb {
        // One at a time: concurrent citus_add_node calls on one cluster were seen to fail
        // ("failure on connection marked as essential").
        let _one_at_a_time = SETUP.lock().await;
        let db = TestDb::create_on(self.admin_url.as_str()).await;
        let name = db.name().clone();
        let mut workers = Vec::new();
        for (host, port) in &self.workers {
            let admin = self.url_of(host, *port, "postgres");
            run(&admin, &format!("CREATE DATABASE \"{}\"", name.as_str())).await;
            let url = self.url_of(host, *port, name.as_str());
            run(&url, "CREATE EXTENSION citus").await;
            workers.push((admin, url));
        }
        let (host, port) = self.coordinator_address();
        let mut setup = format!(
            "CREATE EXTENSION citus; SELECT citus_set_coordinator_host('{host}', {port}); \
             ALTER DATABASE \"{}\" SET citus.enable_schema_based_sharding = {};",
            name.as_str(),
            if schema_based_sharding { "on" } else { "off" }
        );
        for (host, port) in &self.workers {
            setup.push_str(&format!("SELECT citus_add_node('{host}', {port});"));
        }
        run(db.url(), &setup).await;
        CitusDb { db, name, workers }
    }

    /// The coordinator's URL for database `name` (which need not exist).
    pub fn coordinator_url(&self, name: &str) -> String {
        let (host, port) = self.coordinator_address();
        self.url_of(&host, port, name)
    }
}

/// A database on every node of a Citus cluster; dropped from every node when this drops.
pub struct CitusDb {
    /// The coordinator's database (dropped by its own handle).
    pub db: TestDb,
    name: DatabaseName,
    /// Each worker's maintenance URL and this database's URL there.
    workers: Vec<(String, String)>,
}

impl CitusDb {
    /// The coordinator's connection URL for this database.
    pub fn url(&self) -> &str {
        self.db.url()
    }

    /// Runs `sql` (a test's own literal) on every worker's copy of this database and returns
    /// column `v` of each row as text, all workers' rows together. Shard tables are shown
    /// (Citus hides them from `pg_class` by default).
    pub async fn on_workers(&self, sql: &str) -> Vec<String> {
        let mut all = Vec::new();
        for (_, url) in &self.workers {
            let db = tenantry_pg::database::connect(url, 1).await.expect("connect to a worker");
            db.execute_unprepared("SET citus.override_table_visibility TO off").await.expect("show shards");
            let rows =
                db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await.expect("query");
            db.close().await.ok();
            all.extend(rows.iter().map(|r| r.try_get::<String>("", "v").expect("text column v")));
        }
        all
    }
}

impl CitusDb {
    /// Drops this database from the first worker (as if it had never been made there), and
    /// returns that worker's `host:port`.
    pub async fn drop_on_first_worker(&self) -> String {
        let (admin, url) = &self.workers[0];
        drop_database(admin, &self.name).await.expect("drop on a worker");
        let url = Url::parse(url).expect("a worker URL");
        format!("{}:{}", url.host_str().unwrap_or_default(), url.port().unwrap_or(5432))
    }
}

impl Drop for CitusDb {
    /// Drops the workers' copies; the coordinator's goes with [`CitusDb::db`].
    fn drop(&mut self) {
        let (workers, name) = (self.workers.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                for (admin, _) in &workers {
                    drop_database(admin, &name).await.ok()?;
                }
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop {} on every worker", self.name.as_str());
        }
    }
}

/// Runs `sql` (the harness's own statements) on database `url`, failing the test otherwise.
async fn run(url: &str, sql: &str) {
    let db = connect(url).await.unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("on {url}: {sql}: {e}"));
    db.close().await.ok();
}
