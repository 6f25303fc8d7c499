//! Tenant-affine sub-pools: a tenant's queries stay on its own backends, and a busy tenant
//! spills to the next sub-pool instead of waiting.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tenantry_service::TenantScope;
use tenantry_service::db::{Db, PoolOptions, PoolerMode, connect};
use tenantry_service::tenants::Slug;
use tenantry_tests::TestDb;

/// Four sub-pools of one connection each, so a sub-pool is one backend.
async fn four_single_connection_shards(test_db: &TestDb) -> Db {
    let options = PoolOptions {
        max_connections: 4,
        // Short: a query that had to wait for a busy sub-pool fails the test instead of passing late.
        acquire_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(5),
        pooler: PoolerMode::None,
        statement_cache: 100,
        tenant_shards: 4,
        max_lifetime: Duration::from_secs(1800),
    };
    connect(test_db.url(), &options).await.expect("pool")
}

fn scope(slug: &str) -> TenantScope {
    TenantScope::new(Slug::parse(slug).expect("slug").schema())
}

/// The backend that serves `scope`'s next unit of work.
async fn backend_of(db: &Db, scope: &TenantScope) -> i32 {
    let work = db.work_for(scope).await.expect("a connection");
    let row = work
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid() AS pid"))
        .await
        .expect("query")
        .expect("a row");
    work.finish().await.expect("finish");
    row.try_get("", "pid").expect("pid")
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
            seen.push(backend_of(&db, tenant).await);
        }
        seen.sort_unstable();
        seen.dedup();
        // Its own sub-pool's, and the next one's when its own is busy (sqlx pings each
        // connection on its way back to the pool, so even one client at a time spills).
        assert!(seen.len() <= 2, "{} used {} backends: {seen:?}", tenant.schema().as_str(), seen.len());
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
    // Every sub-pool opens its connection on start-up (sqlx checks it can connect); use them.
    for i in 0..12 {
        backend_of(&db, &scope(&format!("t{i}"))).await;
    }
    let busy = scope("t0");
    let held = db.begin_for(&busy).await.expect("the tenant's only connection");
    let held_by = held
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid() AS pid"))
        .await
        .expect("query")
        .expect("a row")
        .try_get::<i32>("", "pid")
        .expect("pid");

    // The next sub-pool's connection counts as idle only once sqlx's ping on its release has
    // come back, which a loaded machine can delay; without the spill every attempt would wait
    // for the held connection and time out after 1 s.
    let mut elsewhere = None;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(work) = db.work_for(&busy).await {
            let pid = work
                .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid() AS pid"))
                .await;
            work.finish().await.expect("finish");
            if let Ok(Some(row)) = pid {
                elsewhere = Some(row.try_get::<i32>("", "pid").expect("pid"));
                break;
            }
        }
    }
    drop(held);

    let elsewhere = elsewhere.expect("served while its own sub-pool's connection was held");
    assert_ne!(elsewhere, held_by, "served by another sub-pool's backend");
}
