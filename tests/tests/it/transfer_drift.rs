//! An export is only worth what its import gives back: a tenant whose tables are not those its
//! migration version creates is refused (409 naming the difference), and a tenant at an older
//! version exports an archive that restores.

use serde_json::json;
use tenantry_migration::runner::Direction;
use tenantry_pg::SchemaName;
use tenantry_tests::TestApp;

use crate::transfer::{export, import};

#[tokio::test]
async fn a_tenant_whose_tables_drifted_from_its_version_is_not_exported() {
    let app = TestApp::spawn().await;
    let drifts = [
        ("added", "ALTER TABLE {s}.products ADD COLUMN note text", "note text"),
        ("retyped", "ALTER TABLE {s}.products ALTER COLUMN price TYPE numeric(20,4)", "price numeric(20,4)"),
        ("dropped", "DROP TABLE {s}.orders", "orders: no such table"),
        ("extra", "CREATE TABLE {s}.extra (x int)", "extra: a table its version does not create"),
        ("inherited", "CREATE TABLE public.kid_{s} () INHERITS ({s}.products)", "another table inherits"),
        ("unchecked", "ALTER TABLE {s}.products DROP CONSTRAINT products_price_check", "its constraints are"),
        ("nullable", "ALTER TABLE {s}.products ALTER COLUMN name DROP NOT NULL", "name text,"),
        ("no_ledger", "DROP TABLE {s}.seaql_migrations", "ledger"),
        ("empty_ledger", "DELETE FROM {s}.seaql_migrations", "is empty"),
    ];
    for (slug, drift, named) in drifts {
        app.create_tenant(slug).await;
        app.create_product(slug, "Widget", "1.00").await;
        app.db.execute(&drift.replace("{s}", &app.schema_of(slug))).await;

        let reply = app.send(app.client.get(app.url(&format!("/tenants/{slug}/export"))), None).await;

        reply.assert_problem(409, named);
        reply.assert_problem(409, "nothing was exported");
    }
    let exports = app.get("/audit?action=tenant.export", None).await.body;
    let outcomes: Vec<&str> =
        exports["items"].as_array().expect("items").iter().filter_map(|e| e["outcome"].as_str()).collect();
    assert_eq!(outcomes.len(), drifts.len(), "{exports}");
    assert!(
        outcomes.iter().all(|o| o.starts_with("refused") && o.contains("nothing was exported")),
        "{outcomes:?}"
    );
    app.create_tenant("intact").await;
    export(&app, "intact").await;
}

#[tokio::test]
async fn a_tenant_at_an_older_version_exports_an_archive_that_restores_at_the_current_one() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let widget = app.create_product("acme", "Widget", "19.99").await;
    let current = app.get("/tenants/acme", None).await.body["version"].clone();
    let schema = SchemaName::parse(&app.schema_of("acme")).expect("schema");
    let db = app.db.connect(1).await;
    let down = tenantry_migration::fleet::migrate_registered(&db, &schema, Direction::Down(Some(1)), "test");
    down.await.expect("migrated down").expect("registered");
    assert_ne!(app.get("/tenants/acme", None).await.body["version"], current);

    let archive = export(&app, "acme").await;
    let reply = import(&app, "slug=acme2", archive).await;

    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["rows"], json!({"products": 1}), "an older version has no orders table");
    assert_eq!(app.get("/tenants/acme2", None).await.body["version"], current, "migrated forward");
    let key = reply.body["api_key"].as_str().expect("a first key").to_owned();
    let request = app.client.get(app.url("/products")).header("X-Tenant", "acme2").bearer_auth(&key);
    let products = app.send_raw(request).await.body;
    assert_eq!(products["items"][0]["id"], widget["id"]);
}
