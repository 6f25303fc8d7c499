//! Connecting, and creating the database itself when it does not exist yet.
//!
//! An unreachable database is reported within the caller's acquire timeout, naming host, port,
//! database and the cause. A pool cannot do that: sqlx's pool retries "connection refused"
//! silently until its acquire timeout and then reports only "pool timed out". So every pool
//! here is opened after one direct connection attempt ([`check_reachable`]), whose error is
//! the real one.

use std::time::Duration;

use derive_more::{Display, Error, From};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use url::Url;

use crate::{SchemaName, sql_state};

/// A schema that never exists. Every pooled connection starts with `search_path` set to it,
/// so a query that forgot to name its tenant's schema fails instead of reading another
/// tenant's tables (fail closed).
pub const NO_SCHEMA: &str = "tenantry_no_schema_selected";

/// The database named by a connection URL, checked so it can be quoted into
/// `CREATE DATABASE`: `[a-z_][a-z0-9_]*`, at most 63 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseName(String);

/// Why a database could not be prepared.
#[derive(Debug, Display, Error, From)]
pub enum DatabaseError {
    /// The URL does not parse or names no database.
    #[display("invalid database URL: {_0}")]
    #[from(ignore)]
    Url(#[error(not(source))] String),
    /// The server could not be reached, or refused the connection.
    #[display("cannot connect to {target}: {cause}")]
    #[from(ignore)]
    Unreachable {
        /// What was being connected to: database, host and port (never the password).
        #[error(not(source))]
        target: String,
        /// Why, as the operating system or Postgres said it.
        #[error(not(source))]
        cause: String,
    },
    /// The database is missing on a server that runs Citus, where Tenantry never creates one:
    /// it would be a plain database on the coordinator alone.
    #[display(
        "database {_0} does not exist, and this server runs Citus: Tenantry does not create a database on \
         a Citus cluster (it would be a plain database on the coordinator alone). On the coordinator and \
         on every worker run CREATE DATABASE {_0}; then, in it, CREATE EXTENSION citus; then, in it on \
         the coordinator, SELECT citus_set_coordinator_host('<host>', <port>) and SELECT \
         citus_add_node('<worker host>', <port>) for each worker (README: Scale out with Citus)"
    )]
    #[from(ignore)]
    CitusWithoutDatabase(#[error(not(source))] String),
    /// Postgres refused.
    #[display("{_0}")]
    Db(DbErr),
}

impl DatabaseName {
    /// Parses a database name; only plain lowercase identifiers are accepted.
    pub fn parse(s: &str) -> Result<Self, DatabaseError> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DatabaseError::Url(format!(
                "database name {s:?} must match [a-z_][a-z0-9_]* and be at most 63 bytes"
            )))
        }
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Splits a connection URL into the database it names and a URL for the `postgres`
    /// maintenance database on the same server.
    pub fn from_url(url: &str) -> Result<(Self, String), DatabaseError> {
        let mut parsed = Url::parse(url).map_err(|e| DatabaseError::Url(e.to_string()))?;
        let name = parsed.path().trim_start_matches('/').to_owned();
        let name = Self::parse(&name)?;
        parsed.set_path("/postgres");
        Ok((name, parsed.to_string()))
    }
}

/// Creates the database `url` names unless it exists. Safe to race: a concurrent creation is
/// taken as success. Says within `timeout` when the server cannot be reached, and why. On a
/// server that loads Citus it never creates one, and says what to create on every node.
pub async fn ensure_database(url: &str, timeout: Duration) -> Result<(), DatabaseError> {
    let (name, admin_url) = DatabaseName::from_url(url)?;
    let purpose = format!(" (to create database {} if it is missing)", name.as_str());
    check_reachable_for(&admin_url, timeout, &purpose).await?;
    let admin = connect_admin(&admin_url, timeout).await?;
    // In a transaction, so a transaction-mode pooler keeps the statement's Parse and Bind on one
    // server connection. (CREATE DATABASE below cannot run in one; it is a single simple query.)
    let txn = admin.begin().await?;
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS present, 'citus' = ANY \
             (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) AS citus",
            [name.as_str().into()],
        ))
        .await?;
    txn.commit().await?;
    let (exists, citus) = match row {
        Some(row) => (row.try_get::<bool>("", "present")?, row.try_get::<bool>("", "citus")?),
        None => (false, false),
    };
    if !exists && citus {
        admin.close().await?;
        return Err(DatabaseError::CitusWithoutDatabase(name.as_str().to_owned()));
    }
    if !exists {
        let created = admin.execute_unprepared(&format!("CREATE DATABASE \"{}\"", name.as_str())).await;
        match created {
            Ok(_) => log::info!("created database {}", name.as_str()),
            Err(e) if is_duplicate(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    admin.close().await?;
    Ok(())
}

/// Drops a database, disconnecting its sessions (Postgres 13+). Missing is fine.
pub async fn drop_database(admin_url: &str, name: &DatabaseName) -> Result<(), DatabaseError> {
    let admin = connect_admin(admin_url, DEFAULT_ACQUIRE_TIMEOUT).await?;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", name.as_str())).await?;
    admin.close().await?;
    Ok(())
}

/// How long [`connect`] and [`drop_database`] wait for a connection (tests and tools that
/// have no settings of their own).
const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a small pool whose connections default to [`NO_SCHEMA`] (see there).
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    open_pool(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// Opens a small pool like [`connect`], after checking the database answers: if it does not,
/// says so within `timeout`, with host, port, database and the cause.
pub async fn connect_within(
    url: &str,
    max_connections: u32,
    timeout: Duration,
) -> Result<DatabaseConnection, DatabaseError> {
    check_reachable(url, timeout).await?;
    Ok(open_pool(url, max_connections, timeout).await?)
}

/// Makes one connection to `url` and closes it; an error names database, host and port and
/// says why (e.g. "Connection refused", "password authentication failed", or no answer within
/// `timeout`).
pub async fn check_reachable(url: &str, timeout: Duration) -> Result<(), DatabaseError> {
    check_reachable_for(url, timeout, "").await
}

async fn check_reachable_for(url: &str, timeout: Duration, purpose: &str) -> Result<(), DatabaseError> {
    use sea_orm::sqlx::{self, Connection, postgres::PgConnectOptions};

    let options: PgConnectOptions =
        url.parse().map_err(|e: sqlx::Error| DatabaseError::Url(e.to_string()))?;
    let target = format!(
        "database {} at {}:{} as {}{purpose}",
        options.get_database().unwrap_or(options.get_username()),
        options.get_host(),
        options.get_port(),
        options.get_username(),
    );
    let cause = match tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(&options)).await {
        Ok(Ok(connection)) => {
            connection.close().await.ok();
            return Ok(());
        }
        Ok(Err(sqlx::Error::Io(e))) => e.to_string(),
        Ok(Err(sqlx::Error::Database(e))) => e.message().to_owned(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s (database.acquire_timeout_secs)", timeout.as_secs_f32()),
    };
    Err(DatabaseError::Unreachable { target, cause: tls_advice(cause) })
}

/// A connection failure's cause, with what to do when it is the certificate `CREATE EXTENSION
/// citus` makes: a self-signed X.509 version 1 certificate, which rustls refuses (sqlx reports
/// it as an I/O error, so it is recognised by rustls' name for it).
fn tls_advice(cause: String) -> String {
    if cause.contains("UnsupportedCertVersion") {
        format!(
            "{cause}: the server's TLS certificate is X.509 version 1 (CREATE EXTENSION citus makes one), \
             which rustls refuses. Give the server a version 3 certificate (README: Scale out with Citus), \
             or, on loopback only, add sslmode=disable to the database URL"
        )
    } else {
        cause
    }
}

async fn open_pool(url: &str, max_connections: u32, timeout: Duration) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(timeout)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(|o| {
            o.options([("search_path", NO_SCHEMA)]).application_name("tenantry-migration")
        });
    Database::connect(options).await
}

async fn connect_admin(admin_url: &str, timeout: Duration) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(admin_url);
    options.max_connections(1).acquire_timeout(timeout).sqlx_logging(false);
    Database::connect(options).await
}

/// Whether `schema` exists in the database (read-only).
pub async fn schema_exists(conn: &impl ConnectionTrait, schema: &SchemaName) -> Result<bool, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present",
            [schema.as_str().into()],
        ))
        .await?;
    row.map_or(Ok(false), |row| row.try_get("", "present"))
}

/// Whether Postgres said the database exists: `42P04` duplicate_database, or `23505` when
/// two creators race on the catalog's unique index.
fn is_duplicate(e: &DbErr) -> bool {
    matches!(sql_state(e).as_deref(), Some("42P04" | "23505"))
}

#[cfg(test)]
mod tests {
    use super::tls_advice;

    #[test]
    fn a_version_1_certificate_is_explained_with_what_to_do() {
        let advice =
            tls_advice("invalid peer certificate: Other(OtherError(UnsupportedCertVersion))".to_owned());
        assert!(advice.contains("X.509 version 1"), "{advice}");
        assert!(advice.contains("sslmode=disable"), "{advice}");
        assert!(advice.contains("version 3 certificate"), "{advice}");
    }

    #[test]
    fn other_failures_keep_their_cause() {
        assert_eq!(tls_advice("Connection refused".to_owned()), "Connection refused");
    }
}
