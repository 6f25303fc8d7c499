//! Reading what Postgres said when a statement failed.

use sea_orm::{DbErr, RuntimeErr, sqlx};

/// The SQLSTATE code of a database error, if Postgres sent one.
pub fn sql_state(e: &DbErr) -> Option<String> {
    match sqlx_error(e)? {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// What Postgres said of a failed statement: its message with its detail, if it sent one,
/// and none of the client library's wrapping (for telling a user what was wrong with their
/// data).
pub fn db_message(e: &DbErr) -> Option<String> {
    match sqlx_error(e)? {
        sqlx::Error::Database(db) => {
            let detail = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().and_then(|pg| pg.detail());
            Some(match detail {
                Some(detail) => format!("{} ({detail})", db.message()),
                None => db.message().to_owned(),
            })
        }
        _ => None,
    }
}

/// Whether `e` says the connection itself failed (the server closed it, restarted, or is
/// shutting down), as opposed to the statement failing on a live connection.
pub fn connection_lost(e: &DbErr) -> bool {
    match sqlx_error(e) {
        Some(sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed) => true,
        // Class 08 connection exception; 57P01 admin_shutdown (a terminated backend, a fast
        // shutdown), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up).
        Some(sqlx::Error::Database(db)) => {
            db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P0"))
        }
        _ => false,
    }
}

/// The sqlx error behind a SeaORM one, if there is one.
fn sqlx_error(e: &DbErr) -> Option<&sqlx::Error> {
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}
