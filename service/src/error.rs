//! The service layer's one error type.

use std::num::NonZeroU32;

use derive_more::{Display, Error};
use sea_orm::{DbErr, SqlErr};

use crate::limits::Rate;

/// Which of its limits a tenant's request was refused for.
#[derive(Clone, Copy, Debug, Display, PartialEq, Eq)]
pub enum Throttle {
    /// Over its rate: a request conforms again in `retry_after` seconds (at least 1).
    #[display(
        "rate limit reached: requests_per_second is {} (burst {}) for this tenant; retry after {retry_after} s",
        rate.per_second,
        rate.burst
    )]
    Rate {
        /// The rate in force.
        rate: Rate,
        /// Whole seconds until a request conforms.
        retry_after: u64,
    },
    /// At its limit of requests in flight.
    #[display("concurrency limit reached: max_concurrent_requests is {limit} for this tenant")]
    Concurrency {
        /// The limit in force.
        limit: NonZeroU32,
    },
}

impl Throttle {
    /// Whole seconds the client should wait before retrying (`Retry-After`).
    pub fn retry_after(&self) -> u64 {
        match self {
            Self::Rate { retry_after, .. } => *retry_after,
            // A slot frees when a request in flight ends, usually well within a second.
            Self::Concurrency { .. } => 1,
        }
    }

    /// The limit's name, as settings and the tenant's `limits` spell it (a metric label).
    pub fn limit(&self) -> &'static str {
        match self {
            Self::Rate { .. } => "requests_per_second",
            Self::Concurrency { .. } => "max_concurrent_requests",
        }
    }
}

/// Everything a service call can fail with. The API maps each variant to HTTP once.
#[derive(Debug, Display, Error)]
pub enum ServiceError {
    /// The thing asked for does not exist (in this tenant).
    #[display("{_0} not found")]
    NotFound(#[error(not(source))] String),
    /// No credentials, or credentials that open nothing.
    #[display("{_0}")]
    Unauthorized(#[error(not(source))] String),
    /// Statement timed out (Postgres cancelled it). Never shown to clients in detail.
    #[display("statement timed out: {_0}")]
    Timeout(DbErr),
    /// No database connection came free within the acquire timeout: the database answers, the
    /// service is overloaded (503, retry shortly).
    #[display("no database connection came free in time: {_0}")]
    Busy(#[error(not(source))] String),
    /// The tenant exists but may not be served (suspended).
    #[display("{_0}")]
    Forbidden(#[error(not(source))] String),
    /// The request conflicts with existing data (a duplicate, or a row still referenced).
    #[display("{_0}")]
    Conflict(#[error(not(source))] String),
    /// The request is well-formed but names something that cannot be used.
    #[display("{_0}")]
    Unprocessable(#[error(not(source))] String),
    /// The tenant is over one of its request limits on this instance: worth retrying later.
    #[display("{_0}")]
    Throttled(#[error(not(source))] Throttle),
    /// The input breaks a rule of the domain.
    #[display("{_0}")]
    Invalid(#[error(not(source))] String),
    /// The database cannot be reached (down, restarting, or refusing connections): worth
    /// retrying shortly. Never shown to clients in detail.
    #[display("database unavailable: {_0}")]
    Unavailable(#[error(not(source))] String),
    /// The tenant's schema is behind this server's migrations (an operator rolled it back):
    /// worth retrying once the fleet is migrated. Shown to clients only as "being migrated".
    #[display("tenant in maintenance: {_0}")]
    Migrating(#[error(not(source))] String),
    /// The database failed. Never shown to clients.
    #[display("database error: {_0}")]
    Database(DbErr),
    /// Something that should not happen did (e.g. a corrupt registry row). Never shown to
    /// clients.
    #[display("unexpected: {_0}")]
    Unexpected(#[error(not(source))] String),
}

impl From<DbErr> for ServiceError {
    /// Classifies database errors the domain has a meaning for; anything else is unexpected.
    fn from(e: DbErr) -> Self {
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Conflict("already exists".to_owned()),
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                Self::Conflict("still referenced by other records".to_owned())
            }
            // 57014 query_canceled: the statement timeout fired.
            _ if tenantry_pg::sql_state(&e).as_deref() == Some("57014") => Self::Timeout(e),
            // 42P06 duplicate_schema: CREATE SCHEMA met a schema of that name.
            _ if tenantry_pg::sql_state(&e).as_deref() == Some("42P06") => {
                Self::Conflict("already exists".to_owned())
            }
            _ => match e {
                DbErr::RecordNotFound(what) => Self::NotFound(what),
                // Every connection stayed busy for the acquire timeout: the database answers
                // (an unreachable one is told apart within 4 s, see `db::Db::atomic`), the
                // service is overloaded.
                DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout) => Self::Busy(e.to_string()),
                // The pool is closed (the server is stopping).
                DbErr::ConnectionAcquire(e) => Self::Unavailable(format!("no database connection: {e}")),
                e => Self::Database(e),
            },
        }
    }
}

/// Names the conflict a statement ran into, in the words of the domain: the one place a
/// constraint error (unique, foreign key, duplicate schema) becomes a message saying what was
/// in the way, as in `.on_conflict(|| format!("tenant '{slug}' already exists"))`.
pub(crate) trait OnConflict<T> {
    /// Replaces a [`ServiceError::Conflict`]'s generic message with `what()`.
    fn on_conflict(self, what: impl FnOnce() -> String) -> Result<T, ServiceError>;
}

impl<T, E: Into<ServiceError>> OnConflict<T> for Result<T, E> {
    fn on_conflict(self, what: impl FnOnce() -> String) -> Result<T, ServiceError> {
        self.map_err(|e| match e.into() {
            ServiceError::Conflict(_) => ServiceError::Conflict(what()),
            other => other,
        })
    }
}

impl ServiceError {
    /// An owned copy of an error a cache shares between the callers that waited on the same
    /// load (moka hands each an `Arc`). The class is what matters to the caller (a database
    /// that is down stays a 503, an unknown tenant a 404), so every variant keeps its class;
    /// the two carrying a `DbErr`, which cannot be cloned, keep its message.
    pub(crate) fn from_shared(e: std::sync::Arc<ServiceError>) -> Self {
        std::sync::Arc::try_unwrap(e).unwrap_or_else(|e| match &*e {
            Self::NotFound(m) => Self::NotFound(m.clone()),
            Self::Unauthorized(m) => Self::Unauthorized(m.clone()),
            Self::Timeout(db) => Self::Timeout(DbErr::Custom(db.to_string())),
            Self::Forbidden(m) => Self::Forbidden(m.clone()),
            Self::Conflict(m) => Self::Conflict(m.clone()),
            Self::Unprocessable(m) => Self::Unprocessable(m.clone()),
            Self::Throttled(t) => Self::Throttled(*t),
            Self::Invalid(m) => Self::Invalid(m.clone()),
            Self::Unavailable(m) => Self::Unavailable(m.clone()),
            Self::Busy(m) => Self::Busy(m.clone()),
            Self::Migrating(m) => Self::Migrating(m.clone()),
            Self::Database(db) => Self::Unexpected(format!("database error: {db}")),
            Self::Unexpected(m) => Self::Unexpected(m.clone()),
        })
    }
}
