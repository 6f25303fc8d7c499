//! [`Held`]: one tenant-pool connection held by a unit of work, running the statements SeaORM
//! builds on it, one at a time, with the values bound the way SeaORM binds them
//! (`sea-query-sqlx`), and answering with SeaORM's own result types and errors, so the
//! service's queries and error handling cannot tell it from a SeaORM connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::sqlx::{self, Executor as _};
use sea_orm::{DbErr, ExecResult, QueryResult, Statement};
use tenantry_pg::{bound, exec_err, query_err};
use tokio::sync::Mutex;

use super::tenant_pool::{Lease, Pooled};

/// A connection held from a unit of work's first statement to its end.
#[derive(Debug)]
pub struct Held {
    conn: Mutex<Lease>,
    /// Counts the statements run, as SeaORM's metric callback does on the other pools.
    statements: Arc<AtomicU64>,
}

impl Held {
    /// Holds `conn` for a unit of work: until [`Held::release`], the pool will not reuse it.
    pub fn new(conn: Pooled, statements: Arc<AtomicU64>) -> Self {
        Self { conn: Mutex::new(Lease::new(conn)), statements }
    }

    /// Hands the connection back as clean: call only when nothing is in flight on it and no
    /// transaction is open. A `Held` dropped without this closes its connection at once.
    pub fn release(self) {
        self.conn.into_inner().release();
    }

    /// Runs a statement that returns no rows.
    pub async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut conn = self.conn.lock().await;
        self.statements.fetch_add(1, Ordering::Relaxed);
        let done = bound(&stmt).execute(conn.raw()).await;
        done.map(ExecResult::from).map_err(exec_err)
    }

    /// Runs SQL text without preparing it (several statements may be in it).
    pub async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut conn = self.conn.lock().await;
        let done = conn.raw().execute(sqlx::AssertSqlSafe(sql.to_owned())).await;
        done.map(ExecResult::from).map_err(exec_err)
    }

    /// Runs a query for at most one row.
    pub async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut conn = self.conn.lock().await;
        self.statements.fetch_add(1, Ordering::Relaxed);
        let row = bound(&stmt).fetch_optional(conn.raw()).await;
        row.map(|row| row.map(QueryResult::from)).map_err(query_err)
    }

    /// Runs a query for all its rows.
    pub async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut conn = self.conn.lock().await;
        self.statements.fetch_add(1, Ordering::Relaxed);
        let rows = bound(&stmt).fetch_all(conn.raw()).await;
        rows.map(|rows| rows.into_iter().map(QueryResult::from).collect()).map_err(query_err)
    }
}
