//! A corpus of hostile strings, as slugs, tenant headers, path segments and bearer tokens:
//! every one is refused with a 4xx and no schema appears or disappears.

use reqwest::header::HeaderValue;
use serde_json::json;
use tenantry_tests::TestApp;

fn corpus() -> Vec<String> {
    let text = include_str!("../../data/hostile_strings.json");
    serde_json::from_str(text).expect("the corpus is a JSON array of strings")
}

#[tokio::test]
async fn hostile_slugs_headers_and_paths_are_refused_and_change_no_schema() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let key = app.key_of("acme").expect("key");
    let schemas_before = app.db.schemas().await;
    let corpus = corpus();
    assert!(corpus.len() >= 200, "the corpus has {} strings", corpus.len());
    let mut sent_as_header = 0;

    for hostile in &corpus {
        let created = app.post("/tenants", None, &json!({"slug": hostile, "name": "x"})).await;
        assert!((400..500).contains(&created.status), "slug {hostile:?}: {created:?}");

        // Every byte percent-encoded, so even "." and ".." reach the server as a segment.
        let encoded: String = hostile.bytes().map(|b| format!("%{b:02X}")).collect();
        let read = app.send(app.client.get(app.url(&format!("/tenants/{encoded}"))), None).await;
        assert!((400..500).contains(&read.status), "path {hostile:?}: {read:?}");

        // HTTP strips spaces and tabs around a header value: " acme" *is* "acme" there.
        let as_sent = hostile.trim_matches([' ', '\t']);
        if as_sent == "acme" {
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(hostile.as_bytes()) {
            sent_as_header += 1;
            let with_key =
                app.client.get(app.url("/products")).bearer_auth(&key).header("X-Tenant", value.clone());
            let reply = app.send_raw(with_key).await;
            assert!((400..500).contains(&reply.status), "header {hostile:?}: {reply:?}");
            let without_key =
                app.send_raw(app.client.get(app.url("/products")).header("X-Tenant", value)).await;
            assert_eq!(without_key.status, 401, "header {hostile:?} without a key: {without_key:?}");
            if let Ok(token) = HeaderValue::from_bytes(format!("Bearer {hostile}").as_bytes()) {
                let as_token = app.client.get(app.url("/products")).header("Authorization", token);
                let reply = app.send_raw(as_token).await;
                assert_eq!(reply.status, 401, "token {hostile:?}: {reply:?}");
            }
        }
    }

    assert!(sent_as_header >= 150, "only {sent_as_header} strings could be sent as headers");
    assert_eq!(app.db.schemas().await, schemas_before);
    assert_eq!(app.db.count("SELECT count(*) AS n FROM tenantry.tenants").await, 1);
}

#[tokio::test]
async fn deeply_nested_json_is_refused_not_crashing_the_server() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    // 30,000 levels, still under the 64 KiB body limit: refused without recursing into it.
    let depth = 30_000;
    let body = format!(
        r#"{{"name": "x", "price": "1", "description": {}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let request = app.client.post(app.url("/products")).header("content-type", "application/json").body(body);

    let reply = app.send(request, Some("acme")).await;

    reply.assert_problem(400, "invalid JSON body");
    assert_eq!(app.get("/health", None).await.status, 200);
    assert_eq!(
        app.db.count(&format!("SELECT count(*) AS n FROM {}.products", app.schema_of("acme"))).await,
        0
    );
}

/// More headers than the HTTP layer parses: actix-http answers 431 with no body (as the OpenAPI
/// document says for every route) and the server goes on serving.
#[tokio::test]
async fn a_request_with_too_many_headers_is_answered_431_and_the_server_goes_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let filler: String = (0..100).map(|i| format!("x-filler-{i}: x\r\n")).collect();
    let head = format!("GET /products HTTP/1.1\r\nhost: {address}\r\n{filler}\r\n");
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connected");
    // One write, so the server has read all of it when it answers and closes.
    stream.write_all(head.as_bytes()).await.expect("sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read to the close");

    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("content-length: 0"), "no body: {answer}");
    assert_eq!(app.get("/health", None).await.status, 200);
}
