//! The OpenAPI document is generated from the code and lists every route.

use tenantry_tests::TestApp;

/// Every route the API serves. A route missing from the document, or documented but not
/// served, fails the tests below.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/openapi.json"),
    ("post", "/tenants"),
    ("get", "/tenants"),
    ("get", "/tenants/{slug}"),
    ("patch", "/tenants/{slug}"),
    ("delete", "/tenants/{slug}"),
    ("post", "/tenants/{slug}/keys"),
    ("get", "/tenants/{slug}/keys"),
    ("delete", "/tenants/{slug}/keys/{id}"),
    ("get", "/products"),
    ("post", "/products"),
    ("get", "/products/{id}"),
    ("patch", "/products/{id}"),
    ("delete", "/products/{id}"),
    ("get", "/orders"),
    ("post", "/orders"),
    ("get", "/orders/{id}"),
];

#[tokio::test]
async fn the_document_lists_exactly_the_routes_served() {
    let app = TestApp::spawn().await;

    let doc = app.get("/openapi.json", None).await.body;

    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.push((method.clone(), path.clone()));
            }
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> =
        ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    expected.sort();
    assert_eq!(documented, expected);
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let doc = app.get("/openapi.json", None).await.body;

    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path.replace("{slug}", "acme").replace("{id}", "1");
        let caller = if path.starts_with("/tenants") { None } else { Some("acme") };
        for method in item.as_object().expect("path item").keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let request = app
                .client
                .request(method.clone(), app.url(&concrete))
                .header("content-type", "application/json");
            let reply = app.send(request.body("{}"), caller).await;
            let detail = reply.body["detail"].as_str().unwrap_or_default();
            assert!(!detail.starts_with("no route"), "{method} {path} is documented but not served");
        }
    }
}

#[tokio::test]
async fn money_is_documented_as_a_decimal_string() {
    let app = TestApp::spawn().await;

    let doc = app.get("/openapi.json", None).await.body;

    let price = &doc["components"]["schemas"]["ProductBody"]["properties"]["price"];
    assert_eq!(price["type"], "string", "{price}");
}
