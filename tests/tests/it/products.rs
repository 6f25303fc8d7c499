//! A tenant's products over real HTTP.

use serde_json::json;
use tenantry_tests::TestApp;

#[tokio::test]
async fn a_product_can_be_created_read_changed_and_deleted() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;

    let created = app
        .post("/products", Some("acme"), &json!({"name": "Widget", "description": "Blue", "price": "19.99"}))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_i64().expect("id");
    assert_eq!(created.body["price"], "19.99");
    assert_eq!(created.body["description"], "Blue");

    assert_eq!(app.get(&format!("/products/{id}"), Some("acme")).await.body, created.body);

    let changed = app
        .patch(&format!("/products/{id}"), Some("acme"), &json!({"price": "17.5", "description": null}))
        .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body["price"], "17.50");
    assert_eq!(changed.body["description"], serde_json::Value::Null);
    assert_eq!(changed.body["name"], "Widget", "fields not sent stay as they were");

    assert_eq!(app.delete(&format!("/products/{id}"), Some("acme")).await.status, 204);
    app.get(&format!("/products/{id}"), Some("acme")).await.assert_problem(404, &format!("product {id}"));
    app.delete(&format!("/products/{id}"), Some("acme")).await.assert_problem(404, "not found");
    app.patch(&format!("/products/{id}"), Some("acme"), &json!({"name": "X"}))
        .await
        .assert_problem(404, "not found");
}

#[tokio::test]
async fn an_empty_patch_changes_nothing_and_answers_the_product() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let product = app.create_product("acme", "Widget", "2.00").await;

    let reply = app.patch(&format!("/products/{}", product["id"]), Some("acme"), &json!({})).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, product);
}

#[tokio::test]
async fn products_are_searched_by_name_ignoring_case_and_wildcards_match_literally() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    for name in ["Blue Widget", "red widget", "Gadget", "50% off", "5000 items"] {
        app.create_product("acme", name, "1.00").await;
    }

    let widgets = app.get("/products?q=WIDGET", Some("acme")).await.body;
    let percent = app.get("/products?q=50%25", Some("acme")).await.body;

    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(&widgets), ["Blue Widget", "red widget"]);
    assert_eq!(widgets["total"], 2);
    assert_eq!(names(&percent), ["50% off"]);
}

#[tokio::test]
async fn products_are_paged_in_id_order() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    for i in 0..5 {
        app.create_product("acme", &format!("P{i}"), "1.00").await;
    }

    let page = app.get("/products?limit=2&offset=3", Some("acme")).await.body;

    let names: Vec<&str> =
        page["items"].as_array().expect("items").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["P3", "P4"]);
    assert_eq!(
        (page["limit"].as_u64(), page["offset"].as_u64(), page["total"].as_u64()),
        (Some(2), Some(3), Some(5))
    );
    assert_eq!(app.get("/products", Some("acme")).await.body["limit"], 20, "default page size");
}

#[tokio::test]
async fn a_page_past_the_end_is_empty_and_still_says_the_total() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    for i in 0..3 {
        app.create_product("acme", &format!("P{i}"), "1.00").await;
    }

    let past = app.get("/products?limit=2&offset=7", Some("acme")).await.body;
    let none = app.get("/products?q=nothing-matches", Some("acme")).await.body;

    assert_eq!((past["items"].as_array().map(Vec::len), past["total"].as_u64()), (Some(0), Some(3)));
    assert_eq!((none["items"].as_array().map(Vec::len), none["total"].as_u64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn a_product_with_orders_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let product = app.create_product("acme", "Widget", "1.00").await;
    let order = app.post("/orders", Some("acme"), &json!({"product_id": product["id"], "quantity": 1})).await;
    assert_eq!(order.status, 201);

    let reply = app.delete(&format!("/products/{}", product["id"]), Some("acme")).await;

    reply.assert_problem(409, "has orders");
    assert_eq!(app.get(&format!("/products/{}", product["id"]), Some("acme")).await.status, 200);
}

#[tokio::test]
async fn the_tenant_header_name_is_configurable() {
    let app = TestApp::spawn_with(&[("APP__TENANCY__HEADER", "domain")]).await;
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    let key = app.key_of("acme").expect("key");
    let as_acme =
        |domain: &str| app.client.get(app.url("/products")).bearer_auth(&key).header("domain", domain);

    assert_eq!(app.send_raw(as_acme("acme")).await.status, 200);
    app.send_raw(as_acme("other")).await.assert_problem(403, "the domain header names");
}
