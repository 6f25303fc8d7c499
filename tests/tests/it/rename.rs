//! Renaming a tenant: one registry row changes, no DDL; keys keep working, the old slug names
//! nothing, and no instance, however stale its cache, serves another tenant for either slug.

use serde_json::json;
use tenantry_tests::TestApp;

/// The status and product names `key` gets from `GET /products`, with `header` as the tenant
/// header if given.
async fn products_with(app: &TestApp, key: &str, header: Option<&str>) -> (u16, Vec<String>) {
    let mut request = app.client.get(app.url("/products")).bearer_auth(key);
    if let Some(header) = header {
        request = request.header("X-Tenant", header);
    }
    let reply = app.send_raw(request).await;
    let items = reply.body["items"].as_array().cloned().unwrap_or_default();
    (reply.status, items.iter().map(|p| p["name"].as_str().unwrap_or_default().to_owned()).collect())
}

#[tokio::test]
async fn a_renamed_tenant_keeps_its_schema_and_keys_and_its_old_slug_answers_404() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let key = app.key_of("acme").expect("key");
    let schema = app.schema_of("acme");
    app.create_product("acme", "Widget", "1.00").await;
    let schemas_before = app.db.schemas().await;

    let reply = app.patch("/tenants/acme", None, &json!({"slug": "acme2"})).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["slug"], "acme2");
    assert_eq!(reply.body["schema"], schema.as_str(), "the schema is named from the id, not the slug");
    assert_eq!(app.db.schemas().await, schemas_before, "no DDL");
    app.get("/tenants/acme", None).await.assert_problem(404, "tenant 'acme'");
    assert_eq!(app.get("/tenants/acme2", None).await.body["schema"], schema.as_str());
    assert_eq!(products_with(&app, &key, None).await, (200, vec!["Widget".to_owned()]), "the key works");
    assert_eq!(products_with(&app, &key, Some("acme2")).await.0, 200, "the cache knows the new slug");
    assert_eq!(products_with(&app, &key, Some("acme")).await.0, 403, "the old slug is not this tenant");
}

#[tokio::test]
async fn renaming_to_a_taken_slug_is_a_conflict_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;

    let reply = app.patch("/tenants/acme", None, &json!({"slug": "globex", "name": "Renamed"})).await;

    reply.assert_problem(409, "tenant 'globex' already exists");
    assert_eq!(app.get("/tenants/acme", None).await.body["name"], "Tenant acme", "nothing was written");
    assert_eq!(app.get("/tenants/globex", None).await.body["schema"], app.schema_of("globex").as_str());
}

#[tokio::test]
async fn an_invalid_or_null_new_slug_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;

    app.patch("/tenants/acme", None, &json!({"slug": "Acme"})).await.assert_problem(400, "lowercase letter");
    app.patch("/tenants/acme", None, &json!({"slug": null})).await.assert_problem(400, "slug");
    app.patch("/tenants/nope", None, &json!({"slug": "nope2"})).await.assert_problem(404, "tenant 'nope'");

    assert_eq!(app.get("/tenants/acme", None).await.status, 200);
}

#[tokio::test]
async fn a_stale_instance_never_serves_another_tenant_after_slugs_are_swapped() {
    let app = TestApp::spawn().await;
    let other = app.spawn_beside().await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let (acme_key, globex_key) = (app.key_of("acme").expect("key"), app.key_of("globex").expect("key"));
    app.create_product("acme", "Acme's", "1.00").await;
    app.create_product("globex", "Globex's", "1.00").await;
    // The second instance caches both tenants under their current slugs.
    assert_eq!(products_with(&other, &acme_key, Some("acme")).await.0, 200);
    assert_eq!(products_with(&other, &globex_key, Some("globex")).await.0, 200);

    // Swap the slugs through the first instance.
    for (from, to) in [("acme", "swap"), ("globex", "acme"), ("swap", "globex")] {
        assert_eq!(app.patch(&format!("/tenants/{from}"), None, &json!({"slug": to})).await.status, 200);
    }

    // Each key still reaches its own data everywhere; a stale slug can only refuse.
    for instance in [&app, &other] {
        assert_eq!(products_with(instance, &acme_key, None).await, (200, vec!["Acme's".to_owned()]));
        assert_eq!(products_with(instance, &globex_key, None).await, (200, vec!["Globex's".to_owned()]));
        let (status, items) = products_with(instance, &acme_key, Some("globex")).await;
        assert!(status == 403 || items == ["Acme's"], "{status} {items:?}");
    }
    assert_eq!(products_with(&app, &acme_key, Some("globex")).await.0, 200, "this instance knows at once");
}
