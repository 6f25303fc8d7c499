//! [`TableLock`]: a table the test holds locked, so requests that read it wait for as long as
//! the test wants: the way to keep a request in flight without sleeping.

use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, TransactionTrait,
};

use crate::TestDb;

/// How long [`TableLock::wait_for_waiters`] waits before failing the test.
const WAIT: Duration = Duration::from_secs(20);

/// An `ACCESS EXCLUSIVE` lock on one table, held in an open transaction until released or
/// dropped (dropping rolls the transaction back, so a failing test never leaves it held).
pub struct TableLock {
    txn: DatabaseTransaction,
    /// A second connection, outside the transaction: a transaction sees one snapshot of
    /// `pg_stat_activity` for its whole life.
    observer: DatabaseConnection,
    /// The locking backend's pid.
    pid: i32,
}

impl TestDb {
    /// Locks `table` (a test's own literal, e.g. `tenant_acme.products`) until the returned
    /// lock is released.
    pub async fn lock_table(&self, table: &str) -> TableLock {
        let conn = self.connect(2).await;
        let txn = conn.begin().await.expect("begin the locking transaction");
        txn.execute_unprepared(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .await
            .expect("lock the table");
        let pid = txn
            .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid() AS pid"))
            .await
            .expect("read the backend pid")
            .expect("one row")
            .try_get::<i32>("", "pid")
            .expect("pid column");
        TableLock { txn, observer: conn, pid }
    }
}

impl TableLock {
    /// Waits (polling, for at most 20 s) until `n` sessions are blocked by this lock: then
    /// that many requests are certainly in flight, stuck on the table.
    pub async fn wait_for_waiters(&self, n: i64) {
        let sql = format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE {} = ANY(pg_blocking_pids(pid))",
            self.pid
        );
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let row = self
                .observer
                .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
                .await
                .expect("read pg_stat_activity")
                .expect("one row");
            let waiting: i64 = row.try_get("", "n").expect("count column");
            if waiting >= n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{waiting} of {n} sessions blocked after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Releases the lock: the blocked requests go on.
    pub async fn release(self) {
        self.txn.rollback().await.expect("release the lock");
        self.observer.close().await.ok();
    }
}
