//! Tenants never see each other's data, whatever the interleaving.

use futures::future::join_all;
use sea_orm::ConnectionTrait;
use serde_json::json;
use tenantry_service::db::{PoolOptions, connect};
use tenantry_tests::TestApp;

#[tokio::test]
async fn two_tenants_see_only_their_own_products_and_orders() {
    let app = TestApp::spawn().await;
    app.create_tenant("tenant_a").await;
    app.create_tenant("tenant_b").await;
    let a = app.create_product("tenant_a", "Apple", "1.00").await;
    let b = app.create_product("tenant_b", "Banana", "2.00").await;
    assert_eq!(a["id"], b["id"], "each tenant numbers its own rows");
    app.post("/orders", Some("tenant_a"), &json!({"product_id": a["id"], "quantity": 1})).await;
    app.post("/orders", Some("tenant_b"), &json!({"product_id": b["id"], "quantity": 5})).await;

    let a_products = app.get("/products", Some("tenant_a")).await.body;
    let b_product = app.get(&format!("/products/{}", b["id"]), Some("tenant_b")).await.body;
    let a_orders = app.get("/orders", Some("tenant_a")).await.body;
    let b_orders = app.get("/orders", Some("tenant_b")).await.body;

    assert_eq!(a_products["total"], 1);
    assert_eq!(a_products["items"][0]["name"], "Apple");
    assert_eq!(b_product["name"], "Banana");
    assert_eq!(a_orders["items"][0]["total_price"], "1.00");
    assert_eq!(b_orders["items"][0]["total_price"], "10.00");
    assert_eq!((a_orders["total"].as_u64(), b_orders["total"].as_u64()), (Some(1), Some(1)));
}

#[tokio::test]
async fn an_order_for_another_tenants_product_is_rejected() {
    let app = TestApp::spawn().await;
    app.create_tenant("tenant_a").await;
    app.create_tenant("tenant_b").await;
    app.create_product("tenant_a", "Only in A", "1.00").await;
    let b_only = app.create_product("tenant_a", "Second in A", "1.00").await;

    let reply =
        app.post("/orders", Some("tenant_b"), &json!({"product_id": b_only["id"], "quantity": 1})).await;

    reply.assert_problem(422, "does not exist");
    assert_eq!(
        app.db.count(&format!("SELECT count(*) AS n FROM {}.orders", app.schema_of("tenant_b"))).await,
        0
    );
    app.get(&format!("/products/{}", b_only["id"]), Some("tenant_b")).await.assert_problem(404, "not found");
}

#[tokio::test]
async fn concurrent_requests_for_many_tenants_on_one_small_shared_pool_never_cross() {
    // Two pooled connections shared by eight tenants: every connection serves every tenant.
    let app = TestApp::spawn_with(&[
        ("APP__DATABASE__MAX_CONNECTIONS", "2"),
        ("APP__DATABASE__TENANT_SHARDS", "0"),
    ])
    .await;
    never_cross(&app).await;
}

#[tokio::test]
async fn concurrent_requests_for_many_tenants_on_small_tenant_affine_sub_pools_never_cross() {
    // Two sub-pools of one connection: each backend serves its tenants and spills from the other.
    let app = TestApp::spawn_with(&[
        ("APP__DATABASE__MAX_CONNECTIONS", "2"),
        ("APP__DATABASE__TENANT_SHARDS", "2"),
    ])
    .await;
    never_cross(&app).await;
}

async fn never_cross(app: &TestApp) {
    let tenants: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    for tenant in &tenants {
        app.create_tenant(tenant).await;
        for n in 0..3 {
            app.create_product(tenant, &format!("{tenant}-product-{n}"), "1.00").await;
        }
    }

    let requests = (0..400).map(|i| {
        let tenant = &tenants[(i * 7 + i / 8) % tenants.len()];
        async move {
            let path = if i % 2 == 0 { "/products".to_owned() } else { format!("/products/{}", 1 + i % 3) };
            (tenant, path.clone(), app.get(&path, Some(tenant)).await)
        }
    });
    let replies = join_all(requests).await;

    for (tenant, path, reply) in replies {
        assert_eq!(reply.status, 200, "{tenant} {path}: {reply:?}");
        let names: Vec<&str> = match reply.body["items"].as_array() {
            Some(items) => items.iter().filter_map(|p| p["name"].as_str()).collect(),
            None => reply.body["name"].as_str().into_iter().collect(),
        };
        assert!(!names.is_empty(), "{tenant} {path}: {reply:?}");
        for name in names {
            assert!(
                name.starts_with(&format!("{tenant}-")),
                "{tenant} {path} got another tenant's row: {name}"
            );
        }
    }
}

#[tokio::test]
async fn a_query_that_names_no_schema_fails_instead_of_reading_a_tenant() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_product("acme", "Widget", "1.00").await;
    // A table Postgres' default search_path ("$user", public) would find: only the fail-closed
    // setting keeps the unqualified query below from reading it.
    app.db
        .execute("CREATE TABLE public.products (name text); INSERT INTO public.products VALUES ('leaked')")
        .await;
    let pool = PoolOptions { max_connections: 1, ..PoolOptions::default() };
    let db = connect(app.db.url(), &pool).await.expect("pool");

    let unqualified = db.connection().execute_unprepared("SELECT * FROM products").await;

    let err = unqualified.expect_err("an unqualified query must not find any tenant's table").to_string();
    assert!(err.contains("does not exist"), "{err}");
}
