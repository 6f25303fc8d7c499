//! Connecting, and creating the database itself when it does not exist yet.

use std::time::Duration;

use derive_more::{Display, Error, From};
use sea_orm_migration::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use url::Url;

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
/// taken as success.
pub async fn ensure_database(url: &str) -> Result<(), DatabaseError> {
    let (name, admin_url) = DatabaseName::from_url(url)?;
    let admin = connect_admin(&admin_url).await?;
    // In a transaction, so a transaction-mode pooler keeps the statement's Parse and Bind on one
    // server connection. (CREATE DATABASE below cannot run in one; it is a single simple query.)
    let txn = admin.begin().await?;
    let exists = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.as_str().into()],
        ))
        .await?
        .is_some();
    txn.commit().await?;
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
    let admin = connect_admin(admin_url).await?;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", name.as_str())).await?;
    admin.close().await?;
    Ok(())
}

/// Opens a small pool whose connections default to [`NO_SCHEMA`] (see there).
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(|o| {
            o.options([("search_path", NO_SCHEMA)]).application_name("tenantry-migration")
        });
    Database::connect(options).await
}

async fn connect_admin(admin_url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(admin_url);
    options.max_connections(1).sqlx_logging(false);
    Database::connect(options).await
}

/// Whether Postgres said the database exists: `42P04` duplicate_database, or `23505` when
/// two creators race on the catalog's unique index.
fn is_duplicate(e: &DbErr) -> bool {
    matches!(sql_state(e).as_deref(), Some("42P04" | "23505"))
}

/// The SQLSTATE code of a database error, if Postgres sent one.
pub fn sql_state(e: &DbErr) -> Option<String> {
    use sea_orm_migration::sea_orm::{RuntimeErr, sqlx};
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match &**e {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        },
        _ => None,
    }
}
