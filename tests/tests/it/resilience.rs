//! The service heals after its database connections die, and says 503 quickly while the
//! database is unreachable, without restarting the shared Postgres server.

use std::time::{Duration, Instant};

use tenantry_tests::{Proxy, TestApp, TestDb};

/// Ends every backend of the server's database, as a Postgres restart would.
async fn terminate_server_backends(app: &TestApp) {
    let ended = app
        .db
        .count(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'tenantry'",
        )
        .await;
    assert!(ended > 0, "the server had connections to end");
}

#[tokio::test]
async fn after_its_connections_are_terminated_every_request_of_every_tenant_succeeds() {
    let app = TestApp::spawn().await;
    let slugs: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    for slug in &slugs {
        app.create_tenant(slug).await;
        app.create_product(slug, "Widget", "1.00").await;
    }
    assert_eq!(app.get("/ready", None).await.status, 200);

    terminate_server_backends(&app).await;

    for slug in &slugs {
        let listed = app.get("/products", Some(slug)).await;
        assert_eq!(listed.status, 200, "{slug}: {listed:?}");
        assert_eq!(listed.body["total"], 1, "{slug}");
    }
    assert_eq!(app.get("/ready", None).await.status, 200, "readiness heals too");
    assert_eq!(app.get("/tenants", None).await.status, 200, "and the control plane");
}

#[tokio::test]
async fn a_write_on_a_dead_connection_is_retried_once_and_applied_once() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_product("acme", "Warm-up", "1.00").await;

    terminate_server_backends(&app).await;
    app.create_product("acme", "After", "2.00").await;

    assert_eq!(app.get("/products", Some("acme")).await.body["total"], 2, "written exactly once");
}

#[tokio::test]
async fn an_unreachable_database_is_answered_503_with_retry_after_quickly_and_heals() {
    let db = TestDb::new().await;
    let proxy = Proxy::start(db.url()).await;
    let app = TestApp::spawn_through(&proxy, db).await;
    app.create_tenant("acme").await;
    assert_eq!(app.get("/products", Some("acme")).await.status, 200);

    proxy.cut();

    for path in ["/products", "/products/1", "/orders"] {
        let started = Instant::now();
        let request = app.client.get(app.url(path)).timeout(Duration::from_secs(10));
        let reply = app.send(request, Some("acme")).await;
        assert!(started.elapsed() < Duration::from_secs(2), "{path} took {:?}", started.elapsed());
        reply.assert_problem(503, "not reachable");
    }
    let started = Instant::now();
    let ready = app.get("/ready", None).await;
    assert!(started.elapsed() < Duration::from_secs(1), "/ready took {:?}", started.elapsed());
    assert_eq!(ready.status, 503, "{ready:?}");
    let retry_after = app
        .client
        .get(app.url("/products"))
        .bearer_auth(app.key_of("acme").expect("key"))
        .send()
        .await
        .expect("an answer")
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok().map(str::to_owned));
    assert_eq!(retry_after.as_deref(), Some("1"));

    proxy.restore().await;

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = app.get("/products", Some("acme")).await;
        if reply.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not healed 5 s after the database came back: {reply:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.get("/ready", None).await.status, 200);
}

/// A key the server has not seen yet (or has forgotten) is looked up in the registry: while the
/// database is unreachable that lookup's failure is a 503 too, for every caller waiting on it.
#[tokio::test]
async fn an_uncached_key_meets_an_unreachable_database_as_503_not_500() {
    let db = TestDb::new().await;
    let proxy = Proxy::start(db.url()).await;
    let app = TestApp::spawn_through(&proxy, db).await;
    app.create_tenant("acme").await;
    // Provisioned, never used: its key is in no cache of the server's.
    app.create_tenant("fresh").await;

    proxy.cut();

    let unknown = "tn_0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
    let fresh = app.key_of("fresh").expect("key");
    for key in [unknown, fresh.as_str()] {
        // Several callers at once, so they share one lookup and its error.
        let replies = futures::future::join_all((0..4).map(|_| {
            let request =
                app.client.get(app.url("/products")).bearer_auth(key).timeout(Duration::from_secs(10));
            app.send_raw(request)
        }))
        .await;
        for reply in replies {
            reply.assert_problem(503, "not reachable");
            assert_eq!(reply.retry_after.as_deref(), Some("1"), "{reply:?}");
        }
    }
}
