//! A credential opens only the tenant it was issued to, by the tenant's immutable id, however
//! stale a cache is and on whichever instance: a deleted tenant's key never reaches a later
//! tenant that carries the same slug, and a schema name is never used twice.

use serde_json::json;
use tenantry_tests::TestApp;

/// The names of the products `key` lists, or the status it was refused with.
async fn listed_with(app: &TestApp, key: &str) -> Result<Vec<String>, u16> {
    let reply = app.send_raw(app.client.get(app.url("/products")).bearer_auth(key)).await;
    if reply.status != 200 {
        return Err(reply.status);
    }
    let items = reply.body["items"].as_array().cloned().unwrap_or_default();
    Ok(items.iter().map(|p| p["name"].as_str().unwrap_or_default().to_owned()).collect())
}

/// Provisions `slug` again after it was deleted, for a new owner, who adds a product.
async fn reprovision_for_a_new_owner(app: &TestApp, slug: &str) -> String {
    assert_eq!(app.delete(&format!("/tenants/{slug}"), None).await.status, 204);
    app.create_tenant(slug).await;
    app.create_product(slug, "New owner's", "2.00").await;
    app.key_of(slug).expect("the new owner's key")
}

#[tokio::test]
async fn a_deleted_tenants_key_never_opens_a_new_tenant_with_the_same_slug() {
    let app = TestApp::spawn().await;
    app.create_tenant("reuse1").await;
    let old_schema = app.schema_of("reuse1");
    let old_key = app.key_of("reuse1").expect("key");
    app.create_product("reuse1", "Old owner's", "1.00").await;
    assert_eq!(listed_with(&app, &old_key).await, Ok(vec!["Old owner's".to_owned()]), "the key works once");

    let new_key = reprovision_for_a_new_owner(&app, "reuse1").await;

    assert_eq!(listed_with(&app, &old_key).await, Err(401), "the old key opens nothing");
    let write =
        app.client.post(app.url("/products")).bearer_auth(&old_key).json(&json!({"name": "x", "price": "1"}));
    assert_eq!(app.send_raw(write).await.status, 401, "nor writes anything");
    assert_eq!(listed_with(&app, &new_key).await, Ok(vec!["New owner's".to_owned()]));
    assert_ne!(app.schema_of("reuse1"), old_schema, "a schema name is never reused");
}

#[tokio::test]
async fn a_second_instance_with_warm_caches_never_lets_an_old_key_reach_a_new_tenant() {
    let app = TestApp::spawn().await;
    let other = app.spawn_beside().await;
    app.create_tenant("reuse1").await;
    let old_key = app.key_of("reuse1").expect("key");
    app.create_product("reuse1", "Old owner's", "1.00").await;
    // The second instance caches the old key and the old tenant.
    assert_eq!(listed_with(&other, &old_key).await, Ok(vec!["Old owner's".to_owned()]));

    let new_key = reprovision_for_a_new_owner(&app, "reuse1").await;

    // Its caches are stale for up to the TTL: the worst they may do is refuse.
    assert_eq!(listed_with(&other, &old_key).await, Err(401), "the stale instance refuses, never serves");
    let write = other
        .client
        .post(other.url("/products"))
        .bearer_auth(&old_key)
        .json(&json!({"name": "x", "price": "1"}));
    assert_eq!(other.send_raw(write).await.status, 401);
    assert_eq!(listed_with(&other, &new_key).await, Ok(vec!["New owner's".to_owned()]));
    assert_eq!(listed_with(&app, &new_key).await, Ok(vec!["New owner's".to_owned()]), "nothing was written");
}

#[tokio::test]
async fn a_request_for_a_tenant_whose_schema_is_gone_is_refused_not_failed() {
    let app = TestApp::spawn().await;
    let other = app.spawn_beside().await;
    app.create_tenant("acme").await;
    let key = app.key_of("acme").expect("key");
    assert_eq!(listed_with(&other, &key).await, Ok(vec![]));

    assert_eq!(app.delete("/tenants/acme", None).await.status, 204);

    // `other` still resolves the key and the tenant from its caches, and meets no schema.
    let reply = other.send_raw(other.client.get(other.url("/products/1")).bearer_auth(&key)).await;
    reply.assert_problem(401, "unknown or revoked API key");
}

#[tokio::test]
async fn deletion_and_suspension_take_effect_at_once_on_the_instance_that_made_them() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let key = app.key_of("acme").expect("key");
    assert_eq!(listed_with(&app, &key).await, Ok(vec![]));

    assert_eq!(app.patch("/tenants/acme", None, &json!({"state": "suspended"})).await.status, 200);
    assert_eq!(listed_with(&app, &key).await, Err(403));
    assert_eq!(app.patch("/tenants/acme", None, &json!({"state": "active"})).await.status, 200);
    assert_eq!(listed_with(&app, &key).await, Ok(vec![]));
    assert_eq!(app.delete("/tenants/acme", None).await.status, 204);
    assert_eq!(listed_with(&app, &key).await, Err(401));
}

#[tokio::test]
async fn a_stray_schema_with_the_next_tenants_name_is_never_adopted() {
    let app = TestApp::spawn().await;
    app.create_tenant("first").await;
    let id: u64 = app.schema_of("first")["tenant_".len()..].parse().expect("tenant_<id>");
    let stray = format!("tenant_{}", id + 1);
    app.db.execute(&format!("CREATE SCHEMA {stray}; CREATE TABLE {stray}.products (id int)")).await;

    let refused = app.post("/tenants", None, &json!({"slug": "second", "name": "Second"})).await;

    refused.assert_problem(409, &format!("schema {stray} already exists"));
    app.get("/tenants/second", None).await.assert_problem(404, "tenant 'second'");
    // The refused attempt burnt its id: the next one gets a fresh schema, never the stray one.
    app.create_tenant("second").await;
    assert_eq!(app.schema_of("second"), format!("tenant_{}", id + 2));
}
