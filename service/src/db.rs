//! The connection pool, and bringing the database to the state the service needs.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use tenantry_migration::database::{NO_SCHEMA, ensure_database};
use tenantry_migration::runner::migrate_control;

use crate::ServiceError;

/// How to open the pool.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long a caller waits for a free connection.
    pub acquire_timeout: Duration,
    /// How long one statement may run before Postgres cancels it.
    pub statement_timeout: Duration,
}

/// Creates the database if it is missing, opens the pool and applies the control migrations
/// (idempotent). Tenants are never migrated implicitly.
pub async fn connect_and_prepare(
    url: &str,
    options: &PoolOptions,
) -> Result<DatabaseConnection, ServiceError> {
    ensure_database(url).await.map_err(|e| match e {
        tenantry_migration::database::DatabaseError::Db(e) => ServiceError::Database(e),
        other => ServiceError::Invalid(other.to_string()),
    })?;
    let db = connect(url, options).await?;
    migrate_control(&db).await?;
    Ok(db)
}

/// Opens the pool. Every connection starts (by start-up options, no extra round trip) with
/// `search_path` at a schema that does not exist, so an unqualified query fails instead of
/// reading another tenant's tables, and with `statement_timeout`, so no request holds a
/// connection indefinitely. Connections are not pinged on acquire: that would cost a round trip
/// per query, and a broken connection fails its query anyway.
pub async fn connect(url: &str, options: &PoolOptions) -> Result<DatabaseConnection, ServiceError> {
    let statement_timeout = format!("{}ms", options.statement_timeout.as_millis());
    let mut connect = ConnectOptions::new(url);
    connect
        .max_connections(options.max_connections)
        .min_connections(0)
        .acquire_timeout(options.acquire_timeout)
        .test_before_acquire(false)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |o| {
            o.options([
                ("search_path", NO_SCHEMA.to_owned()),
                ("statement_timeout", statement_timeout.clone()),
            ])
            .application_name("tenantry")
        });
    Ok(Database::connect(connect).await?)
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), ServiceError> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}
