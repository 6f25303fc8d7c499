//! Bad input gets a 4xx naming the problem, and nothing is written.

use serde_json::{Value, json};
use tenantry_tests::TestApp;

/// Counts every row a write could have touched: the tenant `acme`'s products and orders, and
/// the registry.
async fn row_counts(app: &TestApp) -> (i64, i64, String, String) {
    let schema = app.schema_of("acme");
    let products = app.db.count(&format!("SELECT count(*) AS n FROM {schema}.products")).await;
    let orders = app.db.count(&format!("SELECT count(*) AS n FROM {schema}.orders")).await;
    let snapshot = app
        .db
        .strings(&format!("SELECT coalesce(string_agg(id || ':' || name || ':' || coalesce(description, '') || ':' || price, ',' ORDER BY id), '') AS v FROM {schema}.products"))
        .await
        .concat();
    let registry = app
        .db
        .strings("SELECT string_agg(slug || ':' || name || ':' || state || ':' || updated_at, ',' ORDER BY slug) AS v FROM tenantry.tenants")
        .await
        .concat();
    (products, orders, snapshot, registry)
}

#[tokio::test]
async fn every_bad_body_is_refused_naming_the_problem_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let product = app.create_product("acme", "Widget", "10.00").await;
    let id = product["id"].as_i64().expect("id");
    let before = row_counts(&app).await;
    let long_name = "x".repeat(201);
    let product_path = format!("/products/{id}");
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        ("POST", "/products", json!({"name": "x", "price": true}), 400, "invalid JSON body"),
        ("POST", "/products", json!({"name": "x"}), 400, "missing field `price`"),
        (
            "POST",
            "/products",
            json!({"name": "x", "price": "1", "colour": "red"}),
            400,
            "unknown field `colour`",
        ),
        ("POST", "/products", json!({"name": "x", "price": "-1.00"}), 400, "price must not be negative"),
        ("POST", "/products", json!({"name": "x", "price": "1.999"}), 400, "more than two decimal places"),
        ("POST", "/products", json!({"name": "x", "price": "10000000000"}), 400, "price is at most"),
        ("POST", "/products", json!({"name": "x", "price": "NaN"}), 400, "invalid JSON body"),
        // One spelling of an amount, the documented one: no JSON numbers, signs or exponents.
        (
            "POST",
            "/products",
            json!({"name": "x", "price": 17.5}),
            400,
            "expected the price as a decimal string",
        ),
        ("POST", "/products", json!({"name": "x", "price": "1e3"}), 400, "no sign, exponent or spaces"),
        ("POST", "/products", json!({"name": "x", "price": "+1"}), 400, "no sign, exponent or spaces"),
        ("POST", "/products", json!({"name": "x", "price": " 1"}), 400, "no sign, exponent or spaces"),
        ("POST", "/products", json!({"name": "x", "price": "-0"}), 400, "no sign, exponent or spaces"),
        ("POST", "/products", json!({"name": "x", "price": "1.0000"}), 400, "more than two decimal places"),
        ("PATCH", &product_path, json!({"price": 3}), 400, "expected the price as a decimal string"),
        ("POST", "/products", json!({"name": "x", "price": "Infinity"}), 400, "invalid JSON body"),
        ("POST", "/products", json!({"name": long_name, "price": "1"}), 400, "at most 200 characters"),
        ("POST", "/products", json!({"name": "  ", "price": "1"}), 400, "must not be blank"),
        ("POST", "/products", json!(["not", "an", "object"]), 400, "invalid JSON body"),
        // serde would read an array as the fields in order; the document says object.
        ("POST", "/products", json!(["arr", "desc", "3.00"]), 400, "expected a JSON object"),
        ("PATCH", &product_path, json!(["renamed"]), 400, "expected a JSON object"),
        ("POST", "/orders", json!([id, 2]), 400, "expected a JSON object"),
        ("PATCH", &product_path, json!({"price": "-5"}), 400, "price must not be negative"),
        ("PATCH", &product_path, json!({"name": long_name}), 400, "at most 200 characters"),
        ("PATCH", &product_path, json!({"name": "ok", "id": 9}), 400, "unknown field `id`"),
        ("PATCH", "/products/abc", json!({"name": "ok"}), 400, "invalid path parameter"),
        ("POST", "/orders", json!({"product_id": id, "quantity": 0}), 400, "quantity must be between 1"),
        ("POST", "/orders", json!({"product_id": id, "quantity": -3}), 400, "quantity must be between 1"),
        (
            "POST",
            "/orders",
            json!({"product_id": id, "quantity": 2147483648_i64}),
            400,
            "quantity must be between 1",
        ),
        ("POST", "/orders", json!({"product_id": id, "quantity": 1e300}), 400, "invalid JSON body"),
        ("POST", "/orders", json!({"product_id": "one", "quantity": 1}), 400, "invalid JSON body"),
        ("POST", "/orders", json!({"product_id": id, "quantity": 2000000000}), 400, "total price"),
    ];

    for (method, path, body, status, needle) in cases {
        let request = match method {
            "POST" => app.client.post(app.url(path)),
            _ => app.client.patch(app.url(path)),
        };
        let reply = app.send(request.json(&body), Some("acme")).await;
        assert_eq!(reply.status, status, "{method} {path} {body}: {reply:?}");
        reply.assert_problem(status, needle);
    }

    assert_eq!(row_counts(&app).await, before);
}

#[tokio::test]
async fn malformed_json_a_wrong_content_type_and_an_oversized_body_are_refused() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let before = row_counts(&app).await;
    let post = |body: String, content_type: &str| {
        app.client.post(app.url("/products")).header("content-type", content_type).body(body)
    };
    let huge = format!(r#"{{"name": "x", "price": "1", "description": "{}"}}"#, "y".repeat(70 * 1024));

    app.send(post("{\"name\": ".to_owned(), "application/json"), Some("acme"))
        .await
        .assert_problem(400, "invalid JSON body");
    app.send(post("name=x".to_owned(), "text/plain"), Some("acme")).await.assert_problem(415, "must be JSON");
    app.send(post(huge, "application/json"), Some("acme")).await.assert_problem(413, "too large");

    assert_eq!(row_counts(&app).await, before);
}

#[tokio::test]
async fn paging_parameters_out_of_range_are_refused_not_clamped() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;

    for (query, needle) in [
        ("limit=0", "limit must be between 1 and 100"),
        ("limit=101", "limit must be between 1 and 100"),
        ("limit=-1", "limit must be between 1 and 100"),
        ("offset=-1", "offset must not be negative"),
        ("limit=abc", "invalid query parameter `limit`"),
        ("limit=99999999999999999999", "invalid query parameter `limit`"),
    ] {
        app.get(&format!("/products?{query}"), Some("acme")).await.assert_problem(400, needle);
        app.get(&format!("/orders?{query}"), Some("acme")).await.assert_problem(400, needle);
        app.get(&format!("/tenants?{query}"), None).await.assert_problem(400, needle);
    }
    app.get("/products/1.5", Some("acme")).await.assert_problem(400, "invalid path parameter `id`");
    app.get("/orders/x", Some("acme")).await.assert_problem(400, "invalid path parameter `id`");
}

#[tokio::test]
async fn a_nul_byte_in_any_text_input_is_refused_naming_the_parameter_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_product("acme", "Widget", "10.00").await;
    let before = row_counts(&app).await;
    // Query strings and path segments, as the data plane and the control plane read them.
    let reads: [(&str, Option<&str>, &str); 11] = [
        ("/products?q=%00", Some("acme"), "query parameter `q`"),
        ("/products?q=abc%00", Some("acme"), "query parameter `q`"),
        ("/products?limit=1%00", Some("acme"), "query parameter `limit`"),
        ("/orders?product_id=%001", Some("acme"), "query parameter `product_id`"),
        ("/tenants?offset=0%00", None, "query parameter `offset`"),
        ("/tenants/%00", None, "path parameter `slug`"),
        ("/tenants/acme%00", None, "path parameter `slug`"),
        ("/tenants/acme%00/keys", None, "path parameter `slug`"),
        ("/tenants/acme/keys?limit=%00", None, "query parameter `limit`"),
        ("/products/1%00", Some("acme"), "path parameter `id`"),
        ("/orders/%00", Some("acme"), "path parameter `id`"),
    ];
    // JSON bodies: every text field of every write.
    let writes: [(&str, &str, Value, &str); 7] = [
        (
            "POST",
            "/products",
            json!({"name": "a\u{0}", "price": "1"}),
            "name must be one line without control characters",
        ),
        (
            "POST",
            "/products",
            json!({"name": "a", "description": "\u{0}", "price": "1"}),
            "description must be free of control characters",
        ),
        (
            "PATCH",
            "/products/1",
            json!({"name": "\u{0}b"}),
            "name must be one line without control characters",
        ),
        (
            "PATCH",
            "/products/1",
            json!({"description": "x\u{0}"}),
            "description must be free of control characters",
        ),
        ("POST", "/tenants", json!({"slug": "evil\u{0}", "name": "Evil"}), "invalid tenant slug"),
        (
            "POST",
            "/tenants",
            json!({"slug": "evil", "name": "E\u{0}vil"}),
            "name must be one line without control characters",
        ),
        (
            "PATCH",
            "/tenants/acme",
            json!({"name": "\u{0}"}),
            "name must be one line without control characters",
        ),
    ];

    for (path, caller, needle) in reads {
        app.get(path, caller).await.assert_problem(400, needle);
    }
    for (method, path, body, needle) in writes {
        let caller = if path.starts_with("/tenants") { None } else { Some("acme") };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let reply = app.send(app.client.request(method, app.url(path)).json(&body), caller).await;
        reply.assert_problem(400, needle);
    }
    // Headers: HTTP itself forbids NUL there, and actix's parser refuses the request (a bare
    // 400, before any of our code could name the header).
    let key = app.key_of("acme").expect("key");
    for header in ["X-Tenant: ac\0me".to_owned(), format!("Authorization: Bearer {key}\0")] {
        assert_eq!(raw_status(&app, &header).await, 400, "{header:?}");
    }

    assert_eq!(row_counts(&app).await, before);
}

/// The status of a `GET /products` sent byte for byte, with `header` among the tenant's.
async fn raw_status(app: &TestApp, header: &str) -> u16 {
    use std::io::{Read, Write};
    let address = app.address.trim_start_matches("http://").to_owned();
    let key = app.key_of("acme").expect("key");
    let request = format!(
        "GET /products HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n{header}\r\nConnection: close\r\n\r\n"
    );
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map(|_| answer)
    })
    .await
    .expect("the raw request ran")
    .expect("an answer");
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_default()
}

#[tokio::test]
async fn null_for_a_field_that_cannot_be_cleared_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let product = app.create_product("acme", "Widget", "10.00").await;
    let path = format!("/products/{}", product["id"]);
    let before = row_counts(&app).await;

    for (field, body) in [("name", json!({"name": null})), ("price", json!({"price": null, "name": "New"}))] {
        app.patch(&path, Some("acme"), &body).await.assert_problem(400, &format!("{field} must not be null"));
    }
    for (field, body) in [("name", json!({"name": null})), ("state", json!({"state": null}))] {
        app.patch("/tenants/acme", None, &body)
            .await
            .assert_problem(400, &format!("{field} must not be null"));
    }

    assert_eq!(row_counts(&app).await, before);
    // Where null does mean something, it still works: it clears the description.
    let cleared = app.patch(&path, Some("acme"), &json!({"description": null})).await;
    assert_eq!((cleared.status, &cleared.body["description"]), (200, &Value::Null), "{cleared:?}");
}

#[tokio::test]
async fn a_database_failure_is_a_generic_500_that_leaks_no_sql() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let schema = app.schema_of("acme");
    app.db.execute(&format!("DROP TABLE {schema}.orders; DROP TABLE {schema}.products")).await;

    let reply = app.get("/products", Some("acme")).await;

    reply.assert_problem(500, "an internal error occurred");
    let text = reply.body.to_string();
    for leak in ["products", "relation", "SELECT", &schema, "does not exist"] {
        assert!(!text.contains(leak), "500 body leaks {leak:?}: {text}");
    }
}

/// A value Postgres holds but no Rust type takes (a timestamp of `infinity`, put there behind
/// the service's back) makes reading the row panic inside the driver: the request is answered
/// as an internal error (500 problem+json carrying its request id), not with a dropped
/// connection, and the server goes on serving.
#[tokio::test]
async fn a_read_that_panics_is_a_generic_500_and_the_server_serves_on() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let schema = app.schema_of("acme");
    let created = app.post("/products", Some("acme"), &json!({"name": "Widget", "price": "1.00"})).await;
    assert_eq!(created.status, 201, "{created:?}");
    app.db.execute(&format!("UPDATE {schema}.products SET created_at = 'infinity'")).await;

    // More requests than the server has workers: none is left unable to answer.
    for _ in 0..4 {
        let reply = app.get("/products", Some("acme")).await;
        reply.assert_problem(500, "an internal error occurred");
        assert!(reply.body["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{reply:?}");
    }

    app.db.execute(&format!("UPDATE {schema}.products SET created_at = now()")).await;
    let reply = app.get("/products", Some("acme")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn unknown_routes_answer_a_json_404() {
    let app = TestApp::spawn().await;

    app.get("/nowhere", None).await.assert_problem(404, "no route for GET /nowhere");
}

#[tokio::test]
async fn a_number_too_large_for_its_field_is_refused_naming_the_field_and_what_it_takes() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let product = app.create_product("acme", "Widget", "10.00").await;
    let before = row_counts(&app).await;
    // Raw bodies: a JSON number past i64 (or past f64) cannot be built as a `serde_json::Value`.
    let huge = "123456789012345678901234567890";
    let id = product["id"].as_i64().expect("id");
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "/orders",
            format!(r#"{{"product_id": {id}, "quantity": {huge}}}"#),
            &["quantity", "out of range", "whole number"],
        ),
        (
            "/orders",
            format!(r#"{{"product_id": {huge}, "quantity": 1}}"#),
            &["product_id", "out of range", "whole number"],
        ),
        ("/orders", format!(r#"{{"product_id": {id}, "quantity": 1.5}}"#), &["quantity", "whole number"]),
        ("/orders", format!(r#"{{"product_id": {id}, "quantity": 1e400}}"#), &["quantity", "out of range"]),
        (
            "/products",
            format!(r#"{{"name": "x", "price": {huge}}}"#),
            &["price", "decimal string", "not a JSON number"],
        ),
        (
            "/products",
            r#"{"name": "x", "price": -1e300}"#.to_owned(),
            &["price", "decimal string", "not a JSON number"],
        ),
    ];

    for (path, body, needles) in cases {
        let request =
            app.client.post(app.url(path)).header("content-type", "application/json").body(body.clone());
        let reply = app.send(request, Some("acme")).await;
        for needle in needles {
            reply.assert_problem(400, needle);
        }
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(!detail.contains("floating point"), "{body}: {detail}");
    }

    assert_eq!(row_counts(&app).await, before);
}

#[tokio::test]
async fn a_json_body_in_a_charset_other_than_utf_8_is_refused_415_naming_the_charset() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let before = row_counts(&app).await;
    let post = |content_type: &str| {
        app.client
            .post(app.url("/products"))
            .header("content-type", content_type)
            .body(r#"{"name": "Caf\u00e9", "price": "1.00"}"#)
    };

    for charset in ["latin1", "ISO-8859-1", "utf-16", "\"windows-1252\""] {
        let reply = app.send(post(&format!("application/json; charset={charset}")), Some("acme")).await;
        // Charset names ignore case (RFC 2978); the answer names it in lowercase.
        reply.assert_problem(415, &format!("charset={}", charset.trim_matches('"').to_lowercase()));
        reply.assert_problem(415, "UTF-8");
    }
    // The control plane reads its bodies the same way.
    let tenant = app
        .client
        .post(app.url("/tenants"))
        .header("content-type", "application/json;charset=latin1")
        .body(r#"{"slug": "other", "name": "Other"}"#);
    app.send(tenant, None).await.assert_problem(415, "charset=latin1");
    assert_eq!(row_counts(&app).await, before, "nothing written");

    // UTF-8, said or not, in any case, is read.
    for content_type in
        ["application/json", "application/json; charset=utf-8", "application/json; charset=\"UTF-8\""]
    {
        let reply = app.send(post(content_type), Some("acme")).await;
        assert_eq!(reply.status, 201, "{content_type}: {reply:?}");
    }
}

#[tokio::test]
async fn a_query_value_that_is_not_utf_8_is_refused_naming_the_parameter_on_every_list_route() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_product("acme", "Widget", "10.00").await;
    // Every list route, with each parameter it takes; `None`: the control plane.
    let routes: [(&str, Option<&str>, &[&str]); 6] = [
        ("/products", Some("acme"), &["q", "limit", "offset"]),
        ("/orders", Some("acme"), &["product_id", "limit", "offset"]),
        ("/tenants", None, &["limit", "offset"]),
        ("/tenants/acme/keys", None, &["limit", "offset"]),
        ("/audit", None, &["tenant", "action", "since", "limit", "offset"]),
        ("/usage", None, &["limit", "offset"]),
    ];

    for (path, caller, parameters) in routes {
        for parameter in parameters {
            // A lone continuation byte, a truncated sequence, an overlong encoding of '/'.
            for bad in ["%ff", "Wid%C3", "%C0%AF"] {
                let reply = app.get(&format!("{path}?{parameter}={bad}"), caller).await;
                reply.assert_problem(400, &format!("invalid query parameter `{parameter}`"));
                reply.assert_problem(400, "not valid UTF-8");
            }
        }
        app.get(&format!("{path}?%ff=1"), caller).await.assert_problem(400, "not valid UTF-8");
    }
    // Valid UTF-8, percent-encoded, still reads: "é" finds nothing, "Wid" finds the widget.
    let found = app.get("/products?q=%C3%A9", Some("acme")).await;
    assert_eq!((found.status, &found.body["total"]), (200, &json!(0)), "{found:?}");
    let found = app.get("/products?q=Wid", Some("acme")).await;
    assert_eq!((found.status, &found.body["total"]), (200, &json!(1)), "{found:?}");
}
