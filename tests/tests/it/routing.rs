//! Tenant-affine sub-pools: a tenant's queries stay on its own backend, and a busy tenant
//! spills to the next sub-pool instead of waiting.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tenantry_service::db::{Db, PoolOptions, connect};
use tenantry_service::{SchemaName, ServiceError, TenantScope};
use tenantry_tests::TestDb;
use tokio::sync::Notify;

/// Four sub-pools of one connection each, so a sub-pool is one backend.
async fn four_single_connection_shards(test_db: &TestDb) -> Db {
    let options = PoolOptions {
        // Short: a query that had to wait for a busy sub-pool fails the test instead of passing late.
        acquire_timeout: Duration::from_secs(1),
        tenant_shards: 4,
        ..PoolOptions::default()
    };
    connect(test_db.url(), &options).await.expect("pool")
}

fn scope(name: &str) -> TenantScope {
    TenantScope::new(SchemaName::parse(&format!("tenant_{name}")).expect("a schema name"))
}

/// The backend that serves `scope`'s next unit of work.
async fn backend_of(db: &Db, scope: &TenantScope) -> Result<i32, ServiceError> {
    db.run(scope, async |work| pid(work).await).await
}

async fn pid(conn: &impl ConnectionTrait) -> Result<i32, ServiceError> {
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid() AS pid"))
        .await?
        .ok_or_else(|| ServiceError::Unexpected("no row".to_owned()))?;
    Ok(row.try_get("", "pid")?)
}

#[tokio::test]
async fn each_tenant_keeps_to_two_backends_and_tenants_spread_over_all() {
    let test_db = TestDb::new().await;
    let db = four_single_connection_shards(&test_db).await;
    let tenants: Vec<TenantScope> = (0..12).map(|i| scope(&format!("t{i}"))).collect();

    let mut all = Vec::new();
    for tenant in &tenants {
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(backend_of(&db, tenant).await.expect("a backend"));
        }
        seen.sort_unstable();
        seen.dedup();
        // One after another, its units all find its own sub-pool's connection idle: a unit's
        // connection is free again the moment it ends (no round trip on its way back, as a
        // sqlx pool's ping would make, which kept it busy and spilled every other unit).
        assert_eq!(seen.len(), 1, "{} used {} backends: {seen:?}", tenant.schema().as_str(), seen.len());
        all.extend(seen);
    }

    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 4, "12 tenants over 4 sub-pools of one connection use all 4 backends");
}

#[tokio::test]
async fn a_tenant_whose_sub_pool_is_busy_is_served_by_the_next_one() {
    let test_db = TestDb::new().await;
    let db = four_single_connection_shards(&test_db).await;
    // Opens every sub-pool's connection.
    for i in 0..12 {
        backend_of(&db, &scope(&format!("t{i}"))).await.expect("a backend");
    }
    let busy = scope("t0");
    let held_by = std::sync::Mutex::new(None);
    let release = Notify::new();
    // Holds the tenant's only connection of its own sub-pool until released.
    let holder = db.atomic(&busy, async |tx| {
        *held_by.lock().expect("lock") = Some(pid(tx).await?);
        release.notified().await;
        Ok(())
    });
    let prober = async {
        let deadline = Instant::now() + Duration::from_secs(5);
        let held = loop {
            if let Some(pid) = *held_by.lock().expect("lock") {
                break pid;
            }
            assert!(Instant::now() < deadline, "the holder never got its connection");
            tokio::task::yield_now().await;
        };
        // The next sub-pool's connection is idle; without the spill every attempt waits for
        // the held connection and times out after 1 s, until the deadline fails the test.
        let served_by = loop {
            if let Ok(pid) = backend_of(&db, &busy).await {
                break pid;
            }
            assert!(Instant::now() < deadline, "not served while its own sub-pool's connection was held");
        };
        release.notify_one();
        (held, served_by)
    };
    let (held, (held_by, served_by)) = tokio::join!(holder, prober);
    held.expect("the holder's transaction");
    assert_ne!(served_by, held_by, "served by another sub-pool's backend");
}
