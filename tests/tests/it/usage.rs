//! `GET /tenants/{slug}/usage` and `GET /usage`: storage read from Postgres, request counts
//! from this server, over real HTTP.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenantry_tests::TestApp;

fn table<'a>(usage: &'a Value, name: &str) -> &'a Value {
    usage["tables"].as_array().and_then(|t| t.iter().find(|t| t["table"] == name)).expect(name)
}

#[tokio::test]
async fn a_tenants_usage_counts_its_rows_bytes_and_the_requests_served_for_it() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_tenant("quiet").await;
    for name in ["A", "B", "C"] {
        app.create_product("acme", name, "1.00").await;
    }
    app.post("/orders", Some("acme"), &json!({"product_id": 1, "quantity": 2})).await;
    assert_eq!(app.get("/products/999", Some("acme")).await.status, 404);

    let usage = app.get("/tenants/acme/usage", None).await;

    assert_eq!(usage.status, 200, "{usage:?}");
    let body = &usage.body;
    assert_eq!(body["slug"], "acme");
    assert_eq!(body["schema"], app.schema_of("acme"));
    assert_eq!(body["rows_exact"], true);
    assert_eq!(table(body, "products")["rows"], 3);
    assert_eq!(table(body, "orders")["rows"], 1);
    let products_bytes = table(body, "products")["bytes"].as_u64().expect("bytes");
    let orders_bytes = table(body, "orders")["bytes"].as_u64().expect("bytes");
    assert!(products_bytes > 0 && orders_bytes > 0, "{body}");
    assert!(
        body["total_bytes"].as_u64().expect("total") > products_bytes + orders_bytes,
        "ledger too: {body}"
    );
    assert_eq!(body["requests"], 5, "three products, an order and a 404: {body}");
    assert_eq!(body["errors"], 0, "a 404 is not an error of the server's");
    let last = body["last_request_at"].as_str().expect("a last request");
    let since = body["counted_since"].as_str().expect("counted since");
    assert!(
        chrono::DateTime::parse_from_rfc3339(last).expect("rfc3339")
            >= chrono::DateTime::parse_from_rfc3339(since).expect("rfc3339")
    );

    let quiet = app.get("/tenants/quiet/usage", None).await.body;
    assert_eq!(quiet["requests"], 0);
    assert_eq!(quiet["last_request_at"], Value::Null);
    assert_eq!(table(&quiet, "products")["rows"], 0);

    app.get("/tenants/ghost/usage", None).await.assert_problem(404, "tenant 'ghost'");
    let key = app.key_of("acme").expect("key");
    let as_tenant = app.client.get(app.url("/tenants/acme/usage")).bearer_auth(key);
    assert_eq!(app.send_raw(as_tenant).await.status, 401, "an operator route");
}

#[tokio::test]
async fn a_registered_tenant_whose_schema_is_gone_is_a_conflict_not_a_500() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.db.execute(&format!("DROP SCHEMA {} CASCADE", app.schema_of("acme"))).await;

    app.get("/tenants/acme/usage", None).await.assert_problem(409, "schema");
    let fleet = app.get("/usage", None).await;
    assert_eq!(fleet.status, 200, "the fleet's list still answers: {fleet:?}");
    assert_eq!(fleet.body["items"][0]["total_bytes"], 0);
}

#[tokio::test]
async fn the_fleets_usage_is_paged_in_slug_order_with_estimated_rows() {
    let app = TestApp::spawn().await;
    for slug in ["c_tenant", "a_tenant", "b_tenant"] {
        app.create_tenant(slug).await;
    }
    for name in ["A", "B"] {
        app.create_product("b_tenant", name, "1.00").await;
    }

    let first = app.get("/usage?limit=2", None).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["total"], 3);
    let slugs: Vec<&str> =
        first.body["items"].as_array().expect("items").iter().filter_map(|t| t["slug"].as_str()).collect();
    assert_eq!(slugs, ["a_tenant", "b_tenant"]);
    for item in first.body["items"].as_array().expect("items") {
        assert_eq!(item["rows_exact"], false);
        assert!(item["total_bytes"].as_u64().expect("bytes") > 0, "{item}");
        assert_eq!(item["tables"].as_array().map(Vec::len), Some(2), "{item}");
    }
    assert_eq!(first.body["items"][1]["requests"], 2);
    let rest = app.get("/usage?limit=2&offset=2", None).await.body;
    assert_eq!(rest["items"][0]["slug"], "c_tenant");
    let past = app.get("/usage?offset=10", None).await.body;
    assert_eq!((past["items"].as_array().map(Vec::len), &past["total"]), (Some(0), &json!(3)));
    app.get("/usage?limit=0", None).await.assert_problem(400, "limit");

    // The estimate is the statistics system's, which backends report when they go idle.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = app.get("/usage?limit=2", None).await.body;
        if table(&page["items"][1], "products")["rows"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the estimate did not reach 2 rows: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A tenant an operator rolled back a migration lists the tables it has, not a 500.
#[tokio::test]
async fn a_tenant_behind_on_migrations_lists_the_tables_it_has() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.db.execute(&format!("DROP TABLE {}.orders", app.schema_of("acme"))).await;

    let usage = app.get("/tenants/acme/usage", None).await;

    assert_eq!(usage.status, 200, "{usage:?}");
    let tables: Vec<&str> =
        usage.body["tables"].as_array().expect("tables").iter().filter_map(|t| t["table"].as_str()).collect();
    assert_eq!(tables, ["products"]);
}
