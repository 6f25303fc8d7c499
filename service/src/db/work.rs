//! The executors a unit of work hands its closure: [`Work`] and [`Tx`]. Only [`super::Db`]
//! makes them, and only it finishes them (commit on `Ok`, rollback on `Err`), so no caller can
//! forget to commit. Both record whether a statement has succeeded yet, which tells
//! [`super::Db`] whether a connection found dead can be retried on another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use deadpool::managed::PoolError;
use metrics::Histogram;
use sea_orm::sqlx;
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, RuntimeErr, Statement, TransactionTrait,
};

use super::PoolerMode;
use super::held::Held;
use super::routing::Elsewhere;
use super::tenant_pool::TenantPool;
use crate::ServiceError;

/// Where a unit of work gets its connection.
#[derive(Clone, Copy, Debug)]
pub(super) enum Source<'a> {
    /// A SeaORM pool (the control pool): a connection per statement, or the transaction's.
    Orm(&'a DatabaseConnection),
    /// A tenant pool: one connection held for the whole unit, timed into `acquire`.
    Tenant {
        pool: &'a TenantPool,
        /// Where to go when `pool` has no connection within the home wait.
        elsewhere: Option<Elsewhere<'a>>,
        statements: &'a Arc<AtomicU64>,
        acquire: &'a Histogram,
    },
}

/// A unit of work that need not be atomic: on the control pool, each statement on whatever
/// connection is free; on a tenant pool, every statement on the one connection it holds; behind
/// a transaction pooler, one transaction (so each statement's Parse, Bind and Execute stay on
/// one server connection).
#[derive(Debug)]
pub struct Work {
    inner: Inner,
    ran: AtomicBool,
}

/// A unit of work in one transaction.
#[derive(Debug)]
pub struct Tx {
    txn: TxConn,
    pooler: PoolerMode,
    ran: AtomicBool,
}

#[derive(Debug)]
enum Inner {
    Direct(DatabaseConnection),
    Held(Held),
    Transaction(Tx),
}

#[derive(Debug)]
enum TxConn {
    /// SeaORM's transaction: rolled back when dropped unfinished.
    Orm(DatabaseTransaction),
    /// `BEGIN` sent on a held connection: rolled back by [`Unit::abandon`], or its connection
    /// closed when dropped unfinished.
    Held(Held),
}

/// A unit of work [`super::Db`] can begin and finish; nothing outside `db` can do either.
pub(super) trait Unit: Sized {
    /// Starts one on `source`.
    async fn begin(source: Source<'_>, pooler: PoolerMode) -> Result<Self, DbErr>;
    /// Whether any of its statements has succeeded.
    fn ran(&self) -> bool;
    /// Ends it: commits a transaction.
    async fn finish(self) -> Result<(), DbErr>;
    /// Ends it after a failure: rolls back a transaction, and hands a held connection back
    /// for reuse unless it was `lost` (or the rollback fails), when it is closed instead.
    async fn abandon(self, lost: bool);
}

impl Unit for Work {
    async fn begin(source: Source<'_>, pooler: PoolerMode) -> Result<Self, DbErr> {
        let inner = match (pooler, source) {
            (PoolerMode::Transaction, _) => Inner::Transaction(<Tx as Unit>::begin(source, pooler).await?),
            (PoolerMode::None, Source::Orm(conn)) => Inner::Direct(conn.clone()),
            (PoolerMode::None, Source::Tenant { .. }) => Inner::Held(hold(source).await?),
        };
        Ok(Self { inner, ran: AtomicBool::new(false) })
    }

    fn ran(&self) -> bool {
        self.ran.load(Ordering::Relaxed)
            || matches!(&self.inner, Inner::Transaction(tx) if tx.ran.load(Ordering::Relaxed))
    }

    async fn finish(self) -> Result<(), DbErr> {
        match self.inner {
            Inner::Direct(_) => Ok(()),
            Inner::Held(held) => {
                held.release();
                Ok(())
            }
            Inner::Transaction(tx) => tx.finish().await,
        }
    }

    async fn abandon(self, lost: bool) {
        match self.inner {
            Inner::Direct(_) => {}
            // Each statement ran to its end (a failed one too): nothing is left in flight.
            Inner::Held(held) if !lost => held.release(),
            Inner::Held(_) => {}
            Inner::Transaction(tx) => tx.abandon(lost).await,
        }
    }
}

impl Unit for Tx {
    async fn begin(source: Source<'_>, pooler: PoolerMode) -> Result<Self, DbErr> {
        let txn = match source {
            Source::Orm(conn) => TxConn::Orm(conn.begin().await?),
            Source::Tenant { .. } => {
                let held = hold(source).await?;
                held.execute_unprepared("BEGIN").await?;
                TxConn::Held(held)
            }
        };
        Ok(Self { txn, pooler, ran: AtomicBool::new(false) })
    }

    fn ran(&self) -> bool {
        self.ran.load(Ordering::Relaxed)
    }

    async fn finish(self) -> Result<(), DbErr> {
        self.commit().await
    }

    async fn abandon(self, lost: bool) {
        match self.txn {
            TxConn::Orm(txn) => drop(txn),
            TxConn::Held(held) if !lost => {
                if held.execute_unprepared("ROLLBACK").await.is_ok() {
                    held.release();
                }
            }
            TxConn::Held(_) => {}
        }
    }
}

impl Tx {
    /// Commits, after dropping this transaction's prepared statements behind a transaction
    /// pooler: nothing is cached there, and without this each one would stay on the server
    /// connection (measured: backends grew to 250 MiB in 30 s of load).
    async fn commit(self) -> Result<(), DbErr> {
        if self.pooler == PoolerMode::Transaction {
            self.execute_unprepared("DEALLOCATE ALL").await?;
        }
        match self.txn {
            TxConn::Orm(txn) => sea_orm::TransactionSession::commit(txn).await,
            TxConn::Held(held) => {
                held.execute_unprepared("COMMIT").await?;
                held.release();
                Ok(())
            }
        }
    }

    /// The SeaORM transaction, for APIs that need one by type (the migration runner): only a
    /// transaction on the control pool has one.
    pub fn transaction(&self) -> Result<&DatabaseTransaction, ServiceError> {
        match &self.txn {
            TxConn::Orm(txn) => Ok(txn),
            TxConn::Held(_) => {
                Err(ServiceError::Unexpected("migrations run in transactions on the control pool".to_owned()))
            }
        }
    }
}

/// A connection of `source`'s tenant pool, held, its wait recorded.
async fn hold(source: Source<'_>) -> Result<Held, DbErr> {
    let Source::Tenant { pool, elsewhere, statements, acquire } = source else {
        return Err(DbErr::Custom("only a tenant pool hands out connections to hold".to_owned()));
    };
    let started = Instant::now();
    let conn = super::routing::get(pool, elsewhere).await;
    // Recorded whether or not a connection came: a wait that timed out is the one that matters.
    acquire.record(started.elapsed().as_secs_f64());
    let conn = conn.map_err(acquire_err)?;
    Ok(Held::new(conn, Arc::clone(statements)))
}

/// A tenant pool's failure as SeaORM reports its own pool's (so it maps to HTTP the same way).
pub(super) fn acquire_err(e: PoolError<sqlx::Error>) -> DbErr {
    match e {
        PoolError::Timeout(_) => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        PoolError::Closed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        PoolError::Backend(e) => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
        other => DbErr::Custom(format!("a tenant pool: {other}")),
    }
}

/// Notes a statement's success, so a later failure is known to come after some effect.
fn noting<T>(ran: &AtomicBool, result: Result<T, DbErr>) -> Result<T, DbErr> {
    if result.is_ok() {
        ran.store(true, Ordering::Relaxed);
    }
    result
}

#[async_trait::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let result = match &self.txn {
            TxConn::Orm(txn) => txn.execute_raw(stmt).await,
            TxConn::Held(held) => held.execute(stmt).await,
        };
        noting(&self.ran, result)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let result = match &self.txn {
            TxConn::Orm(txn) => txn.execute_unprepared(sql).await,
            TxConn::Held(held) => held.execute_unprepared(sql).await,
        };
        noting(&self.ran, result)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let result = match &self.txn {
            TxConn::Orm(txn) => txn.query_one_raw(stmt).await,
            TxConn::Held(held) => held.query_one(stmt).await,
        };
        noting(&self.ran, result)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let result = match &self.txn {
            TxConn::Orm(txn) => txn.query_all_raw(stmt).await,
            TxConn::Held(held) => held.query_all(stmt).await,
        };
        noting(&self.ran, result)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Work {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let result = match &self.inner {
            Inner::Direct(conn) => conn.execute_raw(stmt).await,
            Inner::Held(held) => held.execute(stmt).await,
            Inner::Transaction(tx) => tx.execute_raw(stmt).await,
        };
        noting(&self.ran, result)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let result = match &self.inner {
            Inner::Direct(conn) => conn.execute_unprepared(sql).await,
            Inner::Held(held) => held.execute_unprepared(sql).await,
            Inner::Transaction(tx) => tx.execute_unprepared(sql).await,
        };
        noting(&self.ran, result)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let result = match &self.inner {
            Inner::Direct(conn) => conn.query_one_raw(stmt).await,
            Inner::Held(held) => held.query_one(stmt).await,
            Inner::Transaction(tx) => tx.query_one_raw(stmt).await,
        };
        noting(&self.ran, result)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let result = match &self.inner {
            Inner::Direct(conn) => conn.query_all_raw(stmt).await,
            Inner::Held(held) => held.query_all(stmt).await,
            Inner::Transaction(tx) => tx.query_all_raw(stmt).await,
        };
        noting(&self.ran, result)
    }
}
