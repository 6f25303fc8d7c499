//! The executors a unit of work hands its closure: [`Work`] and [`Tx`]. Only [`super::Db`]
//! makes them, and only it finishes them (commit on `Ok`, rollback on `Err`), so no caller can
//! forget to commit. Both record whether a statement has succeeded yet, which tells
//! [`super::Db`] whether a connection found dead can be retried on another.

use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult,
    Statement, TransactionTrait,
};

use super::PoolerMode;

/// A unit of work that need not be atomic: on the pool itself, each statement on whatever
/// connection is free; behind a transaction pooler, one transaction (so each statement's
/// Parse, Bind and Execute stay on one server connection).
#[derive(Debug)]
pub struct Work {
    inner: Inner,
    ran: AtomicBool,
}

/// A unit of work in one transaction.
#[derive(Debug)]
pub struct Tx {
    txn: DatabaseTransaction,
    pooler: PoolerMode,
    ran: AtomicBool,
}

#[derive(Debug)]
enum Inner {
    Direct(DatabaseConnection),
    Transaction(Tx),
}

/// A unit of work [`super::Db`] can begin and finish; nothing outside `db` can do either.
pub(super) trait Unit: Sized {
    /// Starts one on `conn`'s pool.
    async fn begin(conn: &DatabaseConnection, pooler: PoolerMode) -> Result<Self, DbErr>;
    /// Whether any of its statements has succeeded.
    fn ran(&self) -> bool;
    /// Ends it: commits a transaction.
    async fn finish(self) -> Result<(), DbErr>;
}

impl Unit for Work {
    async fn begin(conn: &DatabaseConnection, pooler: PoolerMode) -> Result<Self, DbErr> {
        let inner = match pooler {
            PoolerMode::None => Inner::Direct(conn.clone()),
            PoolerMode::Transaction => Inner::Transaction(<Tx as Unit>::begin(conn, pooler).await?),
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
            Inner::Transaction(tx) => tx.finish().await,
        }
    }
}

impl Unit for Tx {
    async fn begin(conn: &DatabaseConnection, pooler: PoolerMode) -> Result<Self, DbErr> {
        Ok(Self { txn: conn.begin().await?, pooler, ran: AtomicBool::new(false) })
    }

    fn ran(&self) -> bool {
        self.ran.load(Ordering::Relaxed)
    }

    async fn finish(self) -> Result<(), DbErr> {
        self.commit().await
    }
}

impl Tx {
    /// Commits, after dropping this transaction's prepared statements behind a transaction
    /// pooler: nothing is cached there, and without this each one would stay on the server
    /// connection (measured: backends grew to 250 MiB in 30 s of load).
    async fn commit(self) -> Result<(), DbErr> {
        if self.pooler == PoolerMode::Transaction {
            self.txn.execute_unprepared("DEALLOCATE ALL").await?;
        }
        sea_orm::TransactionSession::commit(self.txn).await
    }

    /// The SeaORM transaction, for APIs that need one by type (the migration runner).
    pub fn transaction(&self) -> &DatabaseTransaction {
        &self.txn
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
        noting(&self.ran, self.txn.execute_raw(stmt).await)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        noting(&self.ran, self.txn.execute_unprepared(sql).await)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        noting(&self.ran, self.txn.query_one_raw(stmt).await)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        noting(&self.ran, self.txn.query_all_raw(stmt).await)
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
            Inner::Transaction(tx) => tx.execute_raw(stmt).await,
        };
        noting(&self.ran, result)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let result = match &self.inner {
            Inner::Direct(conn) => conn.execute_unprepared(sql).await,
            Inner::Transaction(tx) => tx.execute_unprepared(sql).await,
        };
        noting(&self.ran, result)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let result = match &self.inner {
            Inner::Direct(conn) => conn.query_one_raw(stmt).await,
            Inner::Transaction(tx) => tx.query_one_raw(stmt).await,
        };
        noting(&self.ran, result)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let result = match &self.inner {
            Inner::Direct(conn) => conn.query_all_raw(stmt).await,
            Inner::Transaction(tx) => tx.query_all_raw(stmt).await,
        };
        noting(&self.ran, result)
    }
}
