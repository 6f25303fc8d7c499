//! Finding the Postgres server tests run against, once per test binary.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use tenantry_pg::database::{DatabaseName, drop_database};
use tokio::sync::OnceCell;

/// Test databases are named `tenantry_test_<unix seconds>_<pid>_<n>`, and each test binary's
/// registry template `tenantry_test_<unix seconds>_<pid>_template`; nothing else matches.
pub(crate) const NAME_PREFIX: &str = "tenantry_test_";
const NAME_PATTERN: &str = "^tenantry_test_[0-9]+_[0-9]+_([0-9]+|template)$";
/// A test database older than this is a leftover of a crashed run.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// URL of the server's `postgres` maintenance database, resolved once.
static ADMIN_URL: OnceCell<String> = OnceCell::const_new();
/// A database with the control migrations applied, copied for each test that starts a server.
static REGISTRY_TEMPLATE: OnceCell<DatabaseName> = OnceCell::const_new();

/// The template every [`crate::TestDb::with_registry`] database is copied from, made once per
/// test binary: copying it costs about as much as creating an empty database, and spares each
/// test the control migrations (about 230 ms each, measured). Swept like any leftover.
pub(crate) async fn registry_template() -> &'static DatabaseName {
    REGISTRY_TEMPLATE
        .get_or_init(|| async {
            let admin_url = admin_url().await;
            let raw = format!("{NAME_PREFIX}{}_{}_template", unix_now(), std::process::id());
            let name = DatabaseName::parse(&raw).expect("template names fit the grammar");
            let admin = connect(admin_url).await.expect("connect to the test Postgres server");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{}\"", name.as_str()))
                .await
                .expect("create the registry template");
            admin.close().await.ok();
            let mut url = url::Url::parse(admin_url).expect("admin URL parses");
            url.set_path(&format!("/{}", name.as_str()));
            let db = tenantry_pg::database::connect(url.as_str(), 1).await.expect("connect to the template");
            tenantry_migration::runner::migrate_control(&db)
                .await
                .expect("control migrations on the template");
            // A template may have no connections while it is copied.
            db.close().await.ok();
            name
        })
        .await
}

/// The maintenance URL of the server every test database is created on.
pub(crate) async fn admin_url() -> &'static str {
    ADMIN_URL.get_or_init(resolve).await
}

async fn resolve() -> String {
    let url = if let Ok(url) = std::env::var("DATABASE_URL") {
        maintenance_url(&url)
    } else if docker_available() {
        container::start().await
    } else {
        let url = maintenance_url(tenantry_config::DEFAULT_DATABASE_URL);
        if connect(&url).await.is_err() {
            panic!(
                "no Postgres for the tests: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres), \
                 make Docker available for testcontainers, or run Postgres at {}",
                tenantry_config::DEFAULT_DATABASE_URL
            );
        }
        url
    };
    sweep_leftovers(&url).await;
    url
}

fn docker_available() -> bool {
    std::env::var_os("DOCKER_HOST").is_some() || std::path::Path::new("/var/run/docker.sock").exists()
}

fn maintenance_url(url: &str) -> String {
    match DatabaseName::from_url(url) {
        Ok((_, admin)) => admin,
        Err(e) => panic!("DATABASE_URL is not usable: {e}"),
    }
}

pub(crate) async fn connect(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false).connect_timeout(Duration::from_secs(5));
    Database::connect(options).await
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Drops test databases left by runs that crashed before cleaning up.
async fn sweep_leftovers(admin_url: &str) {
    let Ok(admin) = connect(admin_url).await else { return };
    let rows = admin
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname ~ $1",
            [NAME_PATTERN.into()],
        ))
        .await
        .unwrap_or_default();
    let cutoff = unix_now().saturating_sub(LEFTOVER_AGE.as_secs());
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else { continue };
        let created: u64 = name
            .trim_start_matches(NAME_PREFIX)
            .split('_')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        if created < cutoff
            && let Ok(name) = DatabaseName::parse(&name)
        {
            drop_database(admin_url, &name).await.ok();
        }
    }
    admin.close().await.ok();
}

/// A Postgres container shared by every test in this binary. It is never dropped (statics
/// are not); testcontainers' reaper removes it when the process exits.
mod container {
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};
    use tokio::sync::OnceCell;

    /// The Postgres major version tested against; the module's own default is 11.
    const IMAGE_TAG: &str = "17-alpine";

    static CONTAINER: OnceCell<ContainerAsync<Postgres>> = OnceCell::const_new();

    pub(super) async fn start() -> String {
        let container = CONTAINER
            .get_or_init(|| async {
                match Postgres::default().with_host_auth().with_tag(IMAGE_TAG).start().await {
                    Ok(container) => container,
                    Err(e) => panic!("could not start a Postgres container (or set DATABASE_URL): {e}"),
                }
            })
            .await;
        let host = container.get_host().await.map(|h| h.to_string()).unwrap_or_else(|_| "127.0.0.1".into());
        let port = match container.get_host_port_ipv4(5432).await {
            Ok(port) => port,
            Err(e) => panic!("the Postgres container exposes no port: {e}"),
        };
        format!("postgres://postgres@{host}:{port}/postgres")
    }
}
