//! Start-up: the database made ready for the server.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tenantry_migration::runner::migrate_control_in;
use tenantry_pg::database::{DatabaseError, NO_SCHEMA, ensure_database};

use super::{Db, On, PoolOptions, connect};
use crate::ServiceError;

/// Creates the database if it is missing (never on a Citus server), opens the pools, refuses a
/// Citus coordinator whose workers lack the database, applies the control migrations
/// (idempotent) and checks every connection starts fail-closed. Tenants are never migrated
/// implicitly.
pub async fn connect_and_prepare(url: &str, options: &PoolOptions) -> Result<Db, ServiceError> {
    ensure_database(url, options.acquire_timeout).await.map_err(|e| match e {
        DatabaseError::Db(e) => ServiceError::Database(e),
        unreachable @ DatabaseError::Unreachable { .. } => ServiceError::Unavailable(unreachable.to_string()),
        invalid @ (DatabaseError::Url(_) | DatabaseError::CitusWithoutDatabase(_)) => {
            ServiceError::Invalid(invalid.to_string())
        }
    })?;
    let db = connect(url, options).await?;
    crate::cluster::check_workers(&db).await?;
    db.atomic(On::Control, async |tx| Ok(migrate_control_in(tx.transaction()?).await?)).await?;
    check_session_defaults(&db, options.statement_timeout).await?;
    Ok(db)
}

/// Refuses to serve if connections do not start fail-closed. A transaction pooler drops
/// start-up options (PgBouncer needs `ignore_startup_parameters = extra_float_digits,options`),
/// so there the same defaults must be set on the database; this says how.
async fn check_session_defaults(db: &Db, statement_timeout: Duration) -> Result<(), ServiceError> {
    let row = db
        .run(On::Control, async |work| {
            Ok(work
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT current_setting('search_path') AS search_path, \
                     (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS timeout_ms, \
                     current_database()::text AS db",
                ))
                .await?)
        })
        .await?
        .ok_or_else(|| ServiceError::Unexpected("no answer to the settings check".to_owned()))?;
    let search_path: String = row.try_get("", "search_path")?;
    let timeout_ms: String = row.try_get("", "timeout_ms")?;
    let database: String = row.try_get("", "db")?;
    let expected_ms = statement_timeout.as_millis().to_string();
    if search_path != NO_SCHEMA || timeout_ms != expected_ms {
        return Err(ServiceError::Invalid(format!(
            "connections start with search_path={search_path:?} and statement_timeout={timeout_ms}ms, \
             expected {NO_SCHEMA} and {expected_ms}ms: a pooler is dropping start-up options. Set them \
             on the database: ALTER DATABASE {database} SET search_path = {NO_SCHEMA}; \
             ALTER DATABASE {database} SET statement_timeout = '{expected_ms}ms'; then reconnect the \
             pooler's server connections"
        )));
    }
    Ok(())
}
