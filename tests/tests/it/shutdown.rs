//! Stopping the server through its stop handle: the in-process half of graceful shutdown
//! (the binary's SIGINT and SIGTERM are tested in `api/tests/shutdown.rs`).

use std::time::Duration;

use tenantry_tests::TestApp;

/// How long a condition the test waits for may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// Waits until `condition` holds, polling, failing the test after [`DEADLINE`].
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {DEADLINE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn refuses_connections(address: &str) -> bool {
    let host_port = address.trim_start_matches("http://");
    matches!(std::net::TcpStream::connect(host_port), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

#[tokio::test]
async fn the_stop_handle_lets_an_in_flight_request_finish_then_closes_the_pool() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("drain").await;
    app.create_product("drain", "Widget", "19.99").await;
    let key = app.key_of("drain").expect("a key");
    let schema = tenant["schema"].as_str().expect("the tenant's schema");
    let lock = app.db.lock_table(&format!("{schema}.products")).await;
    let request = app.client.get(app.url("/products")).bearer_auth(key).send();
    let in_flight = tokio::spawn(async move {
        let response = request.await.expect("the in-flight request is answered");
        (response.status().as_u16(), response.text().await.expect("a whole body"))
    });
    lock.wait_for_waiters(1).await;

    let stop = app.stop_handle();
    let stopping = tokio::spawn(async move { stop.stop().await });
    eventually("the listener closes", async || refuses_connections(&app.address)).await;
    assert!(!in_flight.is_finished(), "the request was still waiting on the lock");
    assert!(!stopping.is_finished(), "the server waits for the request in flight");
    lock.release().await;

    let (status, body) = in_flight.await.expect("request task");
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["items"][0]["name"], "Widget", "{body}");
    tokio::time::timeout(DEADLINE, stopping).await.expect("stopped in time").expect("stop task");
    let sessions = "SELECT count(*) AS n FROM pg_stat_activity \
                    WHERE datname = current_database() AND application_name = 'tenantry'";
    eventually("the server's sessions end", async || app.db.count(sessions).await == 0).await;
}
