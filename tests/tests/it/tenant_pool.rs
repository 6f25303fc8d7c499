//! The tenant pools hand a connection on only when the unit of work that held it ended
//! cleanly: a transaction failed mid-way is rolled back first, and one cancelled mid-way (a
//! client gone, a timeout) closes its connection, so no later unit runs inside a transaction
//! it did not begin or waits for a statement it did not send.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tenantry_service::db::{Db, PoolOptions, connect};
use tenantry_service::{SchemaName, ServiceError, TenantScope};
use tenantry_tests::{TestApp, TestDb};

/// One tenant pool of one connection, so every unit of work meets the same connection unless
/// the pool closed it; and a tenant schema `tenant_tp` with a table `tenant_tp.t (n int)`.
async fn one_connection(test_db: &TestDb) -> (Db, TenantScope) {
    test_db.execute("CREATE SCHEMA tenant_tp; CREATE TABLE tenant_tp.t (n int)").await;
    let options = PoolOptions { max_connections: 1, tenant_shards: 1, ..PoolOptions::default() };
    let db = connect(test_db.url(), &options).await.expect("pool");
    let scope = TenantScope::new(SchemaName::parse("tenant_tp").expect("a schema name"));
    (db, scope)
}

async fn number(conn: &impl ConnectionTrait, sql: &str) -> Result<i64, ServiceError> {
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| ServiceError::Unexpected("no row".to_owned()))?;
    Ok(row.try_get("", "n")?)
}

async fn pid(conn: &impl ConnectionTrait) -> Result<i64, ServiceError> {
    number(conn, "SELECT pg_backend_pid()::bigint AS n").await
}

/// The rows of `tenant_tp.t` a new unit of work sees, and the backend it ran on.
async fn rows_and_backend(db: &Db, scope: &TenantScope) -> (i64, i64) {
    db.run(scope, async |work| {
        Ok((number(work, "SELECT count(*) AS n FROM tenant_tp.t").await?, pid(work).await?))
    })
    .await
    .expect("a later unit of work runs")
}

#[tokio::test]
async fn a_transaction_that_fails_midway_is_rolled_back_and_its_connection_serves_on() {
    let test_db = TestDb::new().await;
    let (db, scope) = one_connection(&test_db).await;
    let first = Mutex::new(None);

    let failed = db
        .atomic(&scope, async |tx| {
            *first.lock().expect("lock") = Some(pid(tx).await?);
            tx.execute_unprepared("INSERT INTO tenant_tp.t VALUES (1)").await?;
            number(tx, "SELECT 1 / 0 AS n").await
        })
        .await;
    assert!(matches!(failed, Err(ServiceError::Database(_))), "{failed:?}");

    // Had the connection come back inside its aborted transaction, this would fail ("current
    // transaction is aborted"); had the rollback been skipped and the insert kept, count 1.
    let (rows, backend) = rows_and_backend(&db, &scope).await;
    assert_eq!(rows, 0, "the failed transaction's insert is gone");
    assert_eq!(Some(backend), *first.lock().expect("lock"), "the same connection, not a new one");

    // A failed statement outside a transaction leaves its connection in service too.
    let failed = db.run(&scope, async |work| Ok(number(work, "SELECT 1 / 0 AS n").await?)).await;
    assert!(failed.is_err());
    assert_eq!(rows_and_backend(&db, &scope).await.1, backend);
}

#[tokio::test]
async fn a_unit_cancelled_inside_its_transaction_never_hands_its_connection_on() {
    let test_db = TestDb::new().await;
    let (db, scope) = one_connection(&test_db).await;
    let first = Mutex::new(None);

    let unit = db.atomic(&scope, async |tx| {
        *first.lock().expect("lock") = Some(pid(tx).await?);
        tx.execute_unprepared("INSERT INTO tenant_tp.t VALUES (1)").await?;
        tx.execute_unprepared("SELECT pg_sleep(5)").await?;
        Ok(())
    });
    let cancelled = tokio::time::timeout(Duration::from_millis(500), unit).await;
    assert!(cancelled.is_err(), "the unit was cancelled mid-statement");

    // Reusing that connection would mean waiting out its sleep and then running inside its
    // open transaction, seeing its uncommitted insert.
    let started = Instant::now();
    let (rows, backend) = rows_and_backend(&db, &scope).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?} for the cancelled statement",
        started.elapsed()
    );
    assert_eq!(rows, 0, "the cancelled transaction's insert is not seen");
    assert_ne!(Some(backend), *first.lock().expect("lock"), "a new connection");
    assert_eq!(db.pool_stats().iter().find(|s| s.pool == "tenant_0").map(|s| s.size), Some(1));
}

#[tokio::test]
async fn the_tenant_pools_together_hold_exactly_max_connections() {
    let test_db = TestDb::new().await;
    for (max_connections, tenant_shards, expected) in [
        (1, 5, vec![1]),
        (2, 5, vec![1, 1]),
        (12, 5, vec![3, 3, 2, 2, 2]),
        (10, 5, vec![2; 5]),
        (4, 0, vec![4]),
    ] {
        let options = PoolOptions { max_connections, tenant_shards, ..PoolOptions::default() };
        let db = connect(test_db.url(), &options).await.expect("pool");
        let sizes: Vec<u32> =
            db.pool_stats().iter().filter(|s| s.pool.starts_with("tenant_")).map(|s| s.max).collect();
        assert_eq!(sizes, expected, "{max_connections} connections over {tenant_shards} sub-pools");
        db.close().await;
    }
}

#[tokio::test]
async fn by_default_each_connection_is_a_sub_pool_of_its_own() {
    let test_db = TestDb::new().await;
    for (vars, expected) in [
        (vec![], vec![1; 10]),
        (vec![("APP__DATABASE__MAX_CONNECTIONS", "4")], vec![1; 4]),
        (vec![("APP__DATABASE__MAX_CONNECTIONS", "4"), ("APP__DATABASE__TENANT_SHARDS", "2")], vec![2, 2]),
        (vec![("APP__DATABASE__TENANT_SHARDS", "0")], vec![10]),
    ] {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let settings = tenantry_config::Settings::load_from(vars).expect("settings");
        let db = connect(test_db.url(), &PoolOptions::from(&settings.database)).await.expect("pool");
        let sizes: Vec<u32> =
            db.pool_stats().iter().filter(|s| s.pool.starts_with("tenant_")).map(|s| s.max).collect();
        assert_eq!(sizes, expected, "{:?}", settings.database.tenant_shards);
        db.close().await;
    }
}

#[tokio::test]
async fn a_pool_busy_past_the_acquire_timeout_is_answered_503_busy_and_the_wait_is_counted() {
    let app = TestApp::spawn_with(&[
        ("APP__DATABASE__MAX_CONNECTIONS", "1"),
        ("APP__DATABASE__ACQUIRE_TIMEOUT_SECS", "1"),
        ("APP__DATABASE__STATEMENT_TIMEOUT_MS", "10000"),
    ])
    .await;
    app.create_tenant("acme").await;
    assert_eq!(app.get("/products", Some("acme")).await.status, 200);
    let lock = app.db.lock_table(&format!("{}.products", app.schema_of("acme"))).await;

    // The first request holds the tenant's one connection, waiting on the lock; the second
    // finds no connection free within a second.
    let holder = app.get("/products", Some("acme"));
    let waiter = async {
        lock.wait_for_waiters(1).await;
        let reply = app.get("/products", Some("acme")).await;
        lock.release().await;
        reply
    };
    let (held, busy) = tokio::join!(holder, waiter);
    assert_eq!(held.status, 200, "{held:?}");
    busy.assert_problem(503, "busy");
    assert!(busy.retry_after.is_some(), "{busy:?}");

    let samples = crate::metrics::scrape(&app).await;
    let slow = crate::metrics::value(&samples, "tenantry_db_acquire_wait_seconds_bucket", &[("le", "0.5")]);
    let all = crate::metrics::value(&samples, "tenantry_db_acquire_wait_seconds_count", &[]);
    let (slow, all) = (slow.expect("a 0.5 s bucket"), all.expect("a count"));
    assert!(all - slow >= 1.0, "the timed-out wait (1 s) is counted: {slow} of {all} under 0.5 s");
}

#[tokio::test]
async fn a_unit_cancelled_between_statements_ends_its_transaction_at_once() {
    let test_db = TestDb::new().await;
    let (db, scope) = one_connection(&test_db).await;

    let unit = db.atomic(&scope, async |tx| {
        tx.execute_unprepared("INSERT INTO tenant_tp.t VALUES (1)").await?;
        std::future::pending::<()>().await;
        Ok(())
    });
    assert!(tokio::time::timeout(Duration::from_millis(500), unit).await.is_err(), "cancelled");

    // No later unit of work asks the pool for a connection: the cancelled one must not wait
    // for that to end its transaction (and release what it locked).
    let open = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                AND application_name = 'tenantry' AND state LIKE 'idle in transaction%'";
    let deadline = Instant::now() + Duration::from_secs(5);
    while test_db.count(open).await > 0 {
        assert!(Instant::now() < deadline, "the cancelled transaction is still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(test_db.count("SELECT count(*) AS n FROM tenant_tp.t").await, 0);
}

/// Tenant connections plan each prepared statement once (`plan_cache_mode =
/// force_generic_plan`): Postgres had re-planned the list statement at every execution, which
/// was most of its CPU for it. The control pool keeps Postgres' default.
#[tokio::test]
async fn a_tenant_statement_is_planned_once_per_connection_not_at_every_execution() {
    let test_db = TestDb::new().await;
    let (db, scope) = one_connection(&test_db).await;
    let select = || {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT n FROM tenant_tp.t WHERE n = $1",
            [7.into()],
        )
    };

    let plans = db
        .run(&scope, async |work| {
            for _ in 0..8 {
                work.query_all_raw(select()).await?;
            }
            let sql = "SELECT (generic_plans * 1000 + custom_plans)::bigint AS n FROM pg_prepared_statements \
                       WHERE statement = 'SELECT n FROM tenant_tp.t WHERE n = $1'";
            number(work, sql).await
        })
        .await
        .expect("runs");

    assert_eq!(plans, 8_000, "8 executions on the generic plan, none re-planned (generic * 1000 + custom)");
    let control =
        db.connection().query_one_raw(Statement::from_string(DbBackend::Postgres, "SHOW plan_cache_mode"));
    let mode: String =
        control.await.expect("runs").expect("a row").try_get("", "plan_cache_mode").expect("text");
    assert_eq!(mode, "auto");
}
