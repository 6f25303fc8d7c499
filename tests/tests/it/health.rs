//! Liveness and readiness over real HTTP.

use tenantry_tests::TestApp;

#[tokio::test]
async fn health_answers_200_without_a_tenant() {
    let app = TestApp::spawn().await;

    let response = app.client.get(app.url("/health")).send().await.expect("request");

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn ready_answers_200_when_the_database_answers() {
    let app = TestApp::spawn().await;

    let response = app.client.get(app.url("/ready")).send().await.expect("request");

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_server_creates_its_database_and_the_registry_at_start_up() {
    let app = TestApp::spawn().await;
    let db = app.db.connect(1).await;

    let registry = tenantry_migration::runner::control_status(&db).await.expect("status");

    assert!(registry.iter().all(|(_, applied)| *applied), "{registry:?}");
}
