//! A tenant's orders over real HTTP.

use serde_json::json;
use tenantry_tests::TestApp;

#[tokio::test]
async fn an_order_is_priced_at_the_products_price_when_placed() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let product = app.create_product("acme", "Widget", "19.99").await;

    let order = app.post("/orders", Some("acme"), &json!({"product_id": product["id"], "quantity": 3})).await;
    app.patch(&format!("/products/{}", product["id"]), Some("acme"), &json!({"price": "1.00"})).await;

    assert_eq!(order.status, 201, "{order:?}");
    assert_eq!(order.body["total_price"], "59.97");
    assert_eq!(order.body["quantity"], 3);
    let id = order.body["id"].as_i64().expect("id");
    let read = app.get(&format!("/orders/{id}"), Some("acme")).await;
    assert_eq!(read.body["total_price"], "59.97", "a later price change does not touch placed orders");
    assert!(read.body["order_date"].as_str().is_some_and(|d| d.ends_with('Z') || d.contains('+')));
}

#[tokio::test]
async fn an_order_for_a_product_that_does_not_exist_is_unprocessable() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;

    let reply = app.post("/orders", Some("acme"), &json!({"product_id": 424242, "quantity": 1})).await;

    reply.assert_problem(422, "product 424242 does not exist");
    assert_eq!(app.db.count(&format!("SELECT count(*) AS n FROM {}.orders", app.schema_of("acme"))).await, 0);
}

#[tokio::test]
async fn orders_can_be_listed_for_one_product() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let a = app.create_product("acme", "A", "1.00").await;
    let b = app.create_product("acme", "B", "2.00").await;
    for (product, quantity) in [(&a, 1), (&b, 2), (&a, 3)] {
        let reply = app
            .post("/orders", Some("acme"), &json!({"product_id": product["id"], "quantity": quantity}))
            .await;
        assert_eq!(reply.status, 201);
    }

    let only_a = app.get(&format!("/orders?product_id={}", a["id"]), Some("acme")).await.body;
    let all = app.get("/orders", Some("acme")).await.body;

    let quantities: Vec<i64> =
        only_a["items"].as_array().expect("items").iter().filter_map(|o| o["quantity"].as_i64()).collect();
    assert_eq!(quantities, [1, 3]);
    assert_eq!(only_a["total"], 2);
    assert_eq!(all["total"], 3);
    app.get("/orders/999", Some("acme")).await.assert_problem(404, "order 999");
}

/// Amounts always carry two decimals, zero included, as read back from the database too.
#[tokio::test]
async fn a_free_product_and_its_orders_read_as_zero_with_two_decimals() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let product = app.create_product("acme", "Sample", "0").await;
    assert_eq!(product["price"], "0.00");
    let read = app.get(&format!("/products/{}", product["id"]), Some("acme")).await;
    assert_eq!(read.body["price"], "0.00");

    let order = app.post("/orders", Some("acme"), &json!({"product_id": product["id"], "quantity": 2})).await;
    assert_eq!(order.body["total_price"], "0.00", "{order:?}");
    let listed = app.get("/orders", Some("acme")).await;
    assert_eq!(listed.body["items"][0]["total_price"], "0.00", "{listed:?}");
}
