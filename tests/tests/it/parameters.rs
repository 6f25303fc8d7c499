//! Query parameters, path parameters and methods: what a route does not take is refused,
//! naming what was wrong.

use reqwest::Method;
use tenantry_tests::{ADMIN_TOKEN, TestApp};

#[tokio::test]
async fn unknown_query_parameters_are_refused_naming_them_as_unknown_body_fields_are() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let cases: [(&str, Option<&str>, &str); 7] = [
        (
            "/products?colour=red",
            Some("acme"),
            "unknown query parameter `colour`: this route takes limit, offset, q",
        ),
        ("/products?limit=5&Q=x", Some("acme"), "unknown query parameter `Q`"),
        (
            "/orders?q=widget",
            Some("acme"),
            "unknown query parameter `q`: this route takes limit, offset, product_id",
        ),
        ("/products/1?limit=1", Some("acme"), "unknown query parameter `limit`: this route takes none"),
        ("/tenants?q=acme", None, "unknown query parameter `q`: this route takes limit, offset"),
        ("/tenants/acme?verbose", None, "unknown query parameter `verbose`: this route takes none"),
        ("/health?probe=1", None, "unknown query parameter `probe`: this route takes none"),
    ];

    for (path, caller, needle) in cases {
        app.get(path, caller).await.assert_problem(400, needle);
    }
    // What a route does take still works, and an empty query is no query.
    assert_eq!(app.get("/products?limit=5&offset=0&q=w", Some("acme")).await.status, 200);
    assert_eq!(app.get("/orders?product_id=1", Some("acme")).await.status, 200);
    assert_eq!(app.get("/health?", None).await.status, 200);
}

#[tokio::test]
async fn a_path_or_query_value_that_does_not_parse_names_the_parameter_not_a_rust_type() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let cases: [(Method, &str, Option<&str>, &str); 6] = [
        (Method::GET, "/orders/abc", Some("acme"), "invalid path parameter `id`: \"abc\""),
        (Method::GET, "/products/1.5", Some("acme"), "invalid path parameter `id`: \"1.5\""),
        (Method::DELETE, "/products/99999999999999999999", Some("acme"), "invalid path parameter `id`"),
        (Method::DELETE, "/tenants/acme/keys/first", None, "invalid path parameter `id`: \"first\""),
        (Method::GET, "/tenants/Acme", None, "invalid path parameter `slug`"),
        (Method::GET, "/orders?product_id=one", Some("acme"), "invalid query parameter `product_id`"),
    ];

    for (method, path, caller, needle) in cases {
        let reply = app.send(app.client.request(method.clone(), app.url(path)), caller).await;
        reply.assert_problem(400, needle);
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(!detail.contains("i64") && !detail.contains("deserialize"), "{method} {path}: {detail}");
    }
}

#[tokio::test]
async fn a_known_path_asked_with_a_method_it_does_not_serve_answers_405_with_allow() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let key = app.key_of("acme").expect("key");
    let cases: [(Method, &str, &str, &str); 6] = [
        (Method::PUT, "/products/1", &key, "GET, PATCH, DELETE, HEAD"),
        (Method::POST, "/products/1", &key, "GET, PATCH, DELETE, HEAD"),
        (Method::DELETE, "/products", &key, "GET, POST, HEAD"),
        (Method::HEAD, "/tenants/acme/move", ADMIN_TOKEN, "POST"),
        (Method::PUT, "/tenants/acme", ADMIN_TOKEN, "GET, PATCH, DELETE, HEAD"),
        (Method::POST, "/health", "", "GET, HEAD"),
    ];

    for (method, path, token, allow) in cases {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        let allowed = response.headers().get("allow").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
        if method != Method::HEAD {
            let reply =
                app.send_raw(app.client.request(method.clone(), app.url(path)).bearer_auth(token)).await;
            reply.assert_problem(405, &format!("{method} is not served on {path}; allowed: {allow}"));
        }
    }
    // A path no route serves is still a 404.
    app.get("/products/1/extra", Some("acme"))
        .await
        .assert_problem(404, "no route for GET /products/1/extra");
}

/// HEAD is answered as GET would be, headers only (RFC 9110: a general-purpose server supports
/// both), with the same status, credentials checks included.
#[tokio::test]
async fn head_answers_what_get_would_without_the_body() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_product("acme", "Widget", "1.00").await;
    let key = app.key_of("acme").expect("key");

    for (path, token, status) in [
        ("/products", key.as_str(), 200),
        ("/products/1", &key, 200),
        ("/products/9", &key, 404),
        ("/products", "wrong", 401),
        ("/health", "", 200),
    ] {
        let get = app.client.get(app.url(path)).bearer_auth(token).send().await.expect("GET answered");
        let get_type = get.headers().get("content-type").cloned();
        let get_body = get.bytes().await.expect("GET body");
        let head = app.client.head(app.url(path)).bearer_auth(token).send().await.expect("HEAD answered");
        assert_eq!(head.status().as_u16(), status, "HEAD {path}");
        assert_eq!(head.headers().get("content-type"), get_type.as_ref(), "HEAD {path}");
        assert!(head.headers().contains_key("x-request-id"), "HEAD {path}");
        let length =
            head.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        assert_eq!(length, Some(get_body.len()), "HEAD {path} announces the GET body's length");
        assert!(head.bytes().await.expect("HEAD body").is_empty(), "HEAD {path} has no body");
    }
}
