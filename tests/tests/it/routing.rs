//! Tenant-affine sub-pools: a tenant's queries stay on its own sub-pool's backend, waiting
//! there while another tenant holds it; only a tenant that alone keeps its sub-pool busy
//! reaches the others.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tenantry_service::db::{Db, PoolOptions, connect};
use tenantry_service::{SchemaName, ServiceError, TenantScope};
use tenantry_tests::TestDb;
use tokio::sync::Notify;

/// Four sub-pools of one connection each, so a sub-pool is one backend.
async fn four_single_connection_shards(test_db: &TestDb) -> Db {
    waiting_at_home(test_db, PoolOptions::default().home_wait).await
}

/// [`four_single_connection_shards`], a tenant waiting `home_wait` at home before it goes
/// elsewhere.
async fn waiting_at_home(test_db: &TestDb, home_wait: Duration) -> Db {
    let options = PoolOptions {
        // Short: a query that had to wait for a busy sub-pool fails the test instead of passing late.
        acquire_timeout: Duration::from_secs(1),
        tenant_shards: 4,
        home_wait,
        ..PoolOptions::default()
    };
    connect(test_db.url(), &options).await.expect("pool")
}

fn scope(name: &str) -> TenantScope {
    TenantScope::new(SchemaName::parse(&format!("tenant_{name}")).expect("a schema name"))
}

/// Opens every sub-pool's connection, as a server under load has them: 12 tenants, one
/// unit each, land in all four sub-pools.
async fn open_every_connection(db: &Db) {
    for i in 0..12 {
        backend_of(db, &scope(&format!("t{i}"))).await.expect("a backend");
    }
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
async fn each_tenant_keeps_to_its_backend_and_tenants_spread_over_all() {
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
async fn a_tenant_that_alone_keeps_its_sub_pool_busy_is_served_by_another() {
    let test_db = TestDb::new().await;
    let db = four_single_connection_shards(&test_db).await;
    open_every_connection(&db).await;
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
        // The tenant's own unit holds its sub-pool's one connection, so this second unit is
        // more than its sub-pool holds; without the reach to the others every attempt waits
        // for the held connection and times out after 1 s, until the deadline fails the test.
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

#[tokio::test]
async fn one_tenant_with_more_units_than_its_sub_pool_holds_reaches_every_backend() {
    let test_db = TestDb::new().await;
    let db = four_single_connection_shards(&test_db).await;
    open_every_connection(&db).await;
    let lone = scope("lone");
    // Four units of the one tenant at once, each keeping its connection until all four hold
    // one. Its own sub-pool has one connection: if the other three were not open to it, three
    // units would wait for a held connection until the 1 s acquire timeout.
    let all_hold = tokio::sync::Barrier::new(4);
    let unit = || {
        db.atomic(&lone, async |tx| {
            let pid = pid(tx).await?;
            all_hold.wait().await;
            Ok(pid)
        })
    };
    let units = futures::future::join_all((0..4).map(|_| unit()));
    let pids = tokio::time::timeout(Duration::from_secs(5), units)
        .await
        .expect("four units of one tenant held four connections at once");
    let mut pids: Vec<i32> = pids.into_iter().map(|p| p.expect("a backend")).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 4, "one busy tenant used every sub-pool's backend: {pids:?}");
}

/// The backend that serves one unit of a quiet tenant while another tenant's unit holds the
/// quiet tenant's home backend for `hold` (three other backends idle), and how long it waited;
/// and that home backend.
async fn served_while_home_is_held(db: &Db, hold: Duration) -> (i32, Duration, i32) {
    let others: Vec<TenantScope> = (0..40).map(|i| scope(&format!("t{i}"))).collect();
    // Serial units of a tenant keep to its home backend (the first test), which opens every
    // sub-pool's connection and tells each tenant's home.
    let mut home_of = Vec::new();
    for tenant in &others {
        home_of.push(backend_of(db, tenant).await.expect("a backend"));
    }
    let quiet = scope("quiet");
    let home = backend_of(db, &quiet).await.expect("a backend");
    // Another tenant, one unit, holds that backend while three others sit idle.
    let at_home = others[home_of.iter().position(|&p| p == home).expect("a tenant at home there")].clone();
    let (release, released) = tokio::sync::watch::channel(false);
    let held = std::sync::Mutex::new(None);
    let holder = db.atomic(&at_home, async |tx| {
        *held.lock().expect("lock") = Some(pid(tx).await?);
        released.clone().wait_for(|done| *done).await.expect("the sender lives");
        Ok(())
    });
    let prober = async {
        let deadline = Instant::now() + Duration::from_secs(5);
        while held.lock().expect("lock").is_none() {
            if Instant::now() > deadline {
                release.send_replace(true);
                panic!("the holder never got its connection");
            }
            tokio::task::yield_now().await;
        }
        let waiting = async {
            let started = Instant::now();
            let served = backend_of(db, &quiet).await;
            (served, started.elapsed())
        };
        let releaser = async {
            tokio::time::sleep(hold).await;
            release.send_replace(true);
        };
        tokio::join!(waiting, releaser).0
    };
    let (holder, (served_by, waited)) = tokio::join!(holder, prober);
    holder.expect("the holder's transaction");
    assert_eq!(*held.lock().expect("lock"), Some(home), "the other tenant held the quiet tenant's backend");
    let served_by = served_by.expect("served within the acquire timeout");
    (served_by, waited, home)
}

#[tokio::test]
async fn a_tenant_with_one_unit_waits_for_its_own_backend_rather_than_meet_another() {
    let test_db = TestDb::new().await;
    // The home backend is held for 200 ms, within the tenant's 400 ms home wait.
    let db = waiting_at_home(&test_db, Duration::from_millis(400)).await;
    let (served_by, waited, home) = served_while_home_is_held(&db, Duration::from_millis(200)).await;
    assert_eq!(served_by, home, "one unit of a tenant met another backend while its own was busy");
    assert!(waited >= Duration::from_millis(150), "it waited for its backend ({waited:?})");
    assert_eq!(db.spills(), 0, "no unit went elsewhere");
}

#[tokio::test]
async fn a_tenant_held_up_at_home_past_its_home_wait_takes_an_idle_backend_elsewhere() {
    let test_db = TestDb::new().await;
    // The home backend is held for 3 s (a slow statement of another tenant), past the 1 s
    // acquire timeout: waiting at home for it would fail. After 100 ms at home, the quiet
    // tenant takes one of the three idle backends.
    let db = waiting_at_home(&test_db, Duration::from_millis(100)).await;
    let (served_by, waited, home) = served_while_home_is_held(&db, Duration::from_secs(3)).await;
    assert_ne!(served_by, home, "served by an idle backend of another sub-pool");
    assert!(waited >= Duration::from_millis(90), "it waited at home first ({waited:?})");
    assert!(waited < Duration::from_millis(900), "it did not wait for the held backend ({waited:?})");
    assert_eq!(db.spills(), 1, "the one unit that went elsewhere is counted");
}

#[tokio::test]
async fn a_home_wait_as_long_as_the_acquire_timeout_still_leaves_time_to_go_elsewhere() {
    let test_db = TestDb::new().await;
    // A 5 s home wait against the 1 s acquire timeout: waiting it out would always fail, so the
    // tenant waits half the timeout at home and then takes an idle backend elsewhere.
    let db = waiting_at_home(&test_db, Duration::from_secs(5)).await;
    let (served_by, waited, home) = served_while_home_is_held(&db, Duration::from_secs(3)).await;
    assert_ne!(served_by, home, "served by an idle backend of another sub-pool");
    assert!(waited >= Duration::from_millis(450), "it waited half the acquire timeout at home ({waited:?})");
    assert!(waited < Duration::from_millis(950), "it was served before the acquire timeout ({waited:?})");
    assert_eq!(db.spills(), 1);
}

// Threads of their own, as the server's workers are: the units give up waiting at home at the
// same moment, not one after another on one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn units_held_up_at_home_together_are_all_served_by_the_connection_another_sub_pool_frees() {
    let test_db = TestDb::new().await;
    // Two sub-pools of one connection: one held by a slow unit, the other free.
    let options = PoolOptions {
        max_connections: 2,
        tenant_shards: 2,
        acquire_timeout: Duration::from_secs(1),
        home_wait: Duration::from_millis(100),
        ..PoolOptions::default()
    };
    let db = connect(test_db.url(), &options).await.expect("pool");
    let tenants: Vec<TenantScope> = (0..40).map(|i| scope(&format!("t{i}"))).collect();
    let mut home_of = Vec::new();
    for tenant in &tenants {
        home_of.push(backend_of(&db, tenant).await.expect("a backend"));
    }
    let held_home = home_of[0];
    // Six tenants at home where tenants[0]'s unit will hold the one connection.
    let sharing: Vec<&TenantScope> = tenants
        .iter()
        .zip(&home_of)
        .skip(1)
        .filter(|&(_, &home)| home == held_home)
        .map(|(t, _)| t)
        .take(6)
        .collect();
    assert_eq!(sharing.len(), 6, "40 tenants over 2 sub-pools give six that share one");

    let (release, released) = tokio::sync::watch::channel(false);
    let held = std::sync::Mutex::new(false);
    let holder = db.atomic(&tenants[0], async |tx| {
        pid(tx).await?;
        *held.lock().expect("lock") = true;
        released.clone().wait_for(|done| *done).await.expect("the sender lives");
        Ok(())
    });
    let prober = async {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !*held.lock().expect("lock") {
            assert!(Instant::now() < deadline, "the holder never got its connection");
            tokio::task::yield_now().await;
        }
        // All six at once: they give up waiting at home together, and the other sub-pool's one
        // connection must serve them one after another, not the first alone.
        let units = sharing.iter().map(|&tenant| {
            let (db, tenant) = (db.clone(), tenant.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                (backend_of(&db, &tenant).await, started.elapsed())
            })
        });
        let served: Vec<_> = futures::future::join_all(units)
            .await
            .into_iter()
            .map(|unit| unit.expect("the unit ran"))
            .collect();
        release.send_replace(true);
        served
    };
    let (holder, served) = tokio::join!(holder, prober);
    holder.expect("the holder's transaction");
    for (served_by, waited) in served {
        let served_by = served_by.expect("served within the acquire timeout");
        assert_ne!(served_by, held_home, "served by the other sub-pool's backend");
        assert!(waited < Duration::from_millis(900), "served soon after the home wait ({waited:?})");
    }
    assert_eq!(db.spills(), 6, "each of the six counted");
}
