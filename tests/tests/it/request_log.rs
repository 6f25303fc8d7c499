//! Request ids and the request log: an id sent is answered, put in error bodies and in every
//! log line about the request, the cause of a 5xx included; one line per request.

use tenantry_tests::{TestApp, logged};

/// Sends `GET path` as `tenant` with `X-Request-Id: id` (if given); returns status, the
/// answered id and the body.
async fn get_with_id(
    app: &TestApp,
    path: &str,
    tenant: &str,
    id: Option<&str>,
) -> (u16, String, serde_json::Value) {
    let key = app.key_of(tenant).expect("a tenant of this app");
    let mut request = app.client.get(app.url(path)).bearer_auth(key);
    if let Some(id) = id {
        request = request.header("X-Request-Id", id);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let answered = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every answer carries X-Request-Id")
        .to_owned();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, answered, body)
}

#[tokio::test]
async fn a_sane_request_id_is_answered_put_in_the_problem_body_and_in_one_request_line() {
    let app = TestApp::spawn().await;
    app.create_tenant("log_sane").await;
    let id = "trace-41.a_B";

    let (status, answered, body) = get_with_id(&app, "/products/987654", "log_sane", Some(id)).await;

    assert_eq!(status, 404);
    assert_eq!(answered, id);
    assert_eq!(body["request_id"], id, "{body}");
    let lines = logged(&format!("request_id={id}"));
    let request_lines: Vec<_> = lines.iter().filter(|l| l.contains("tenantry::request ")).collect();
    assert_eq!(request_lines.len(), 1, "one line per request: {lines:?}");
    let line = request_lines[0];
    assert!(
        line.contains("GET /products/{id} 404 ")
            && line.contains("tenant=log_sane")
            && line.contains("bytes="),
        "method, route pattern (not the raw path), status, tenant, bytes: {line}"
    );
    assert!(line.contains("ms "), "latency in ms: {line}");
}

#[tokio::test]
async fn an_insane_request_id_is_replaced_by_a_new_one() {
    let app = TestApp::spawn().await;
    app.create_tenant("log_insane").await;
    let too_long = "a".repeat(65);

    for sent in [too_long.as_str(), "has space", "semi;colon", ""] {
        let (status, answered, _) = get_with_id(&app, "/products", "log_insane", Some(sent)).await;
        assert_eq!(status, 200, "a bad id is never a reason to refuse");
        assert_ne!(answered, sent);
        assert!(
            !answered.is_empty()
                && answered.len() <= 64
                && answered.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{answered:?}"
        );
    }
    let (_, first, _) = get_with_id(&app, "/products", "log_insane", None).await;
    let (_, second, _) = get_with_id(&app, "/products", "log_insane", None).await;
    assert_ne!(first, second, "each request its own id");
}

#[tokio::test]
async fn the_cause_of_a_server_error_is_logged_with_the_request_id_of_the_answer() {
    let app = TestApp::spawn().await;
    app.create_tenant("log_cause").await;
    // A table that vanished under a live schema is an internal error (500), logged.
    app.db.execute(&format!("DROP TABLE \"{}\".\"orders\"", app.schema_of("log_cause"))).await;

    let (status, answered, body) = get_with_id(&app, "/orders", "log_cause", None).await;

    assert_eq!(status, 500);
    assert_eq!(body["request_id"], answered.as_str(), "{body}");
    let lines = logged(&format!("request_id={answered}"));
    let cause =
        lines.iter().find(|l| l.starts_with("ERROR")).unwrap_or_else(|| panic!("no cause line: {lines:?}"));
    assert!(cause.contains("orders"), "the cause names what failed: {cause}");
    assert!(lines.iter().any(|l| l.contains("GET /orders 500")), "and the request line: {lines:?}");
}

#[tokio::test]
async fn the_json_request_log_writes_one_object_per_request_and_off_writes_none() {
    let json = TestApp::spawn_with(&[("APP__LOG__REQUESTS", "json")]).await;
    json.create_tenant("log_json").await;
    let (_, id, _) = get_with_id(&json, "/products", "log_json", Some("json-line-1")).await;

    let lines = logged(&format!("\"request_id\":\"{id}\""));
    assert_eq!(lines.len(), 1, "{lines:?}");
    let object = lines[0].split_once(' ').and_then(|(_, rest)| rest.split_once(' ')).map(|(_, json)| json);
    let line: serde_json::Value = serde_json::from_str(object.unwrap_or_default()).expect("a JSON object");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/products");
    assert_eq!(line["status"], 200);
    assert_eq!(line["tenant"], "log_json");
    assert!(line["latency_ms"].as_f64().is_some() && line["bytes"].as_u64().is_some(), "{line}");

    let off = TestApp::spawn_with(&[("APP__LOG__REQUESTS", "off")]).await;
    off.create_tenant("log_off").await;
    get_with_id(&off, "/products", "log_off", Some("off-line-1")).await;
    assert!(logged("off-line-1").is_empty(), "{:?}", logged("off-line-1"));
}
