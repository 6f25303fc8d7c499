//! Credentials: the admin token guards the control plane, API keys open exactly one tenant.

use serde_json::json;
use sha2::{Digest, Sha256};
use tenantry_tests::{ADMIN_TOKEN, TestApp};

#[tokio::test]
async fn the_control_plane_refuses_a_missing_or_wrong_admin_token() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let tenant_key = app.key_of("acme").expect("key");
    let list = || app.client.get(app.url("/tenants"));

    let missing = app.send_raw(list()).await;
    let wrong = app.send_raw(list().bearer_auth("x".repeat(ADMIN_TOKEN.len()))).await;
    let a_tenant_key = app.send_raw(list().bearer_auth(&tenant_key)).await;
    let basic = app.send_raw(list().basic_auth("admin", Some(ADMIN_TOKEN))).await;
    let create = app
        .send_raw(app.client.post(app.url("/tenants")).json(&json!({"slug": "evil", "name": "Evil"})))
        .await;

    missing.assert_problem(401, "missing Authorization");
    wrong.assert_problem(401, "invalid admin token");
    a_tenant_key.assert_problem(401, "invalid admin token");
    basic.assert_problem(401, "must be 'Bearer <token>'");
    create.assert_problem(401, "missing Authorization");
    assert_eq!(missing.www_authenticate.as_deref(), Some("Bearer realm=\"tenantry\""));
    assert_eq!(app.db.count("SELECT count(*) AS n FROM tenantry.tenants").await, 1);
}

#[tokio::test]
async fn every_control_plane_route_refuses_requests_without_the_admin_token() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let doc = app.get("/openapi.json", None).await.body;
    let mut checked = 0;

    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let security = operation["security"].as_array().into_iter().flatten();
            if !security.into_iter().any(|s| s.get("admin_token").is_some()) {
                continue;
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let url = app.url(&path.replace("{slug}", "acme").replace("{id}", "1"));
            let request = app.client.request(method.clone(), url).json(&json!({"slug": "x", "name": "x"}));
            let reply = app.send_raw(request).await;
            assert_eq!(reply.status, 401, "{method} {path} answered without the admin token: {reply:?}");
            checked += 1;
        }
    }

    // /tenants (2), /tenants/{slug} (3), keys (3), move, usage, export, import, /cluster,
    // /audit, /audit/verify, /usage, /metrics.
    assert_eq!(checked, 17, "every control-plane route was checked");
    assert_eq!(app.get("/tenants/acme", None).await.status, 200, "the tenant is untouched");
    assert_eq!(app.get("/tenants/acme/keys", None).await.body["total"], 1);
}

#[tokio::test]
async fn the_data_plane_needs_a_valid_key() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let products = || app.client.get(app.url("/products"));

    let missing = app.send_raw(products().header("X-Tenant", "acme")).await;
    let unknown = app.send_raw(products().bearer_auth(format!("tnt_{}", "A".repeat(43)))).await;
    let admin = app.send_raw(products().bearer_auth(ADMIN_TOKEN)).await;
    let garbage = app.send_raw(products().header("Authorization", "Bearer")).await;

    missing.assert_problem(401, "missing Authorization");
    unknown.assert_problem(401, "unknown or revoked API key");
    admin.assert_problem(401, "unknown or revoked API key");
    garbage.assert_problem(401, "Bearer <token>");
    assert!(unknown.www_authenticate.is_some());
}

#[tokio::test]
async fn the_key_alone_determines_the_tenant() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    app.create_product("acme", "Acme's", "1.00").await;
    app.create_product("other", "Other's", "1.00").await;
    let acme_key = app.key_of("acme").expect("key");

    let reply = app.send_raw(app.client.get(app.url("/products")).bearer_auth(&acme_key)).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["items"][0]["name"], "Acme's");
    assert_eq!(reply.body["total"], 1);
}

#[tokio::test]
async fn a_key_of_one_tenant_naming_another_is_forbidden() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    app.create_product("other", "Secret", "1.00").await;
    let acme_key = app.key_of("acme").expect("key");

    for path in ["/products", "/products/1", "/orders"] {
        let request = app.client.get(app.url(path)).bearer_auth(&acme_key).header("X-Tenant", "other");
        app.send_raw(request).await.assert_problem(403, "belongs to another tenant");
    }
    let write = app.client.post(app.url("/products")).bearer_auth(&acme_key).header("X-Tenant", "other");
    app.send_raw(write.json(&json!({"name": "x", "price": "1"}))).await.assert_problem(403, "another tenant");
    let count = |slug| format!("SELECT count(*) AS n FROM {}.products", app.schema_of(slug));
    assert_eq!(app.db.count(&count("acme")).await, 0);
    assert_eq!(app.db.count(&count("other")).await, 1);
}

#[tokio::test]
async fn keys_can_be_issued_listed_and_revoked_at_once() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let first = app.key_of("acme").expect("key");

    let issued = app.post("/tenants/acme/keys", None, &json!({})).await;
    assert_eq!(issued.status, 201, "{issued:?}");
    let second = issued.body["api_key"].as_str().expect("secret").to_owned();
    let second_id = issued.body["id"].as_i64().expect("id");
    assert_ne!(second, first);
    let as_key = |key: &str| app.client.get(app.url("/products")).bearer_auth(key);
    assert_eq!(app.send_raw(as_key(&second)).await.status, 200);

    let listing = app.get("/tenants/acme/keys", None).await;
    assert_eq!(listing.body["total"], 2);
    let text = listing.body.to_string();
    assert!(!text.contains(&first) && !text.contains(&second), "listings never carry secrets: {text}");
    assert_eq!(listing.body["items"][0]["prefix"].as_str(), Some(&second[..12]));

    let revoked = app.delete(&format!("/tenants/acme/keys/{second_id}"), None).await;
    assert_eq!(revoked.status, 204);
    app.send_raw(as_key(&second)).await.assert_problem(401, "unknown or revoked API key");
    assert_eq!(app.send_raw(as_key(&first)).await.status, 200, "other keys keep working");
    let listing = app.get("/tenants/acme/keys", None).await;
    assert!(listing.body["items"][0]["revoked_at"].is_string(), "{}", listing.body);
    app.delete("/tenants/acme/keys/999", None).await.assert_problem(404, "key 999");
    app.delete(&format!("/tenants/other/keys/{second_id}"), None).await.assert_problem(404, "tenant 'other'");
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let key = app.key_of("acme").expect("key");

    let stored = app.db.strings("SELECT row_to_json(k)::text AS v FROM tenantry.api_keys k").await.concat();
    let hash = app.db.strings("SELECT encode(hash, 'hex') AS v FROM tenantry.api_keys").await.concat();

    assert!(!stored.contains(&key[12..]), "the secret part of the key must not be stored: {stored}");
    let expected: String = Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hash, expected);
    assert_eq!(key.len(), 47, "tnt_ and 43 base64url characters (256 bits)");
}

#[tokio::test]
async fn a_suspended_tenant_is_refused_without_touching_its_schema() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_product("acme", "Widget", "1.00").await;

    let suspended = app.patch("/tenants/acme", None, &json!({"state": "suspended"})).await;
    assert_eq!(suspended.status, 200, "{suspended:?}");
    assert_eq!(suspended.body["state"], "suspended");
    // Were the schema touched, these requests would now fail with a 500.
    let schema = app.schema_of("acme");
    app.db.execute(&format!("ALTER SCHEMA {schema} RENAME TO away")).await;

    app.get("/products", Some("acme")).await.assert_problem(403, "suspended");
    app.post("/orders", Some("acme"), &json!({"product_id": 1, "quantity": 1}))
        .await
        .assert_problem(403, "suspended");
    assert_eq!(
        app.get("/tenants/acme", None).await.body["state"],
        "suspended",
        "the control plane still works"
    );

    app.db.execute(&format!("ALTER SCHEMA away RENAME TO {schema}")).await;
    let active = app.patch("/tenants/acme", None, &json!({"state": "active"})).await;
    assert_eq!(active.body["state"], "active");
    assert_eq!(app.get("/products", Some("acme")).await.body["total"], 1);
    app.patch("/tenants/acme", None, &json!({"state": "deleted"}))
        .await
        .assert_problem(400, "unknown variant");
}

#[tokio::test]
async fn a_warm_cache_resolves_keys_and_tenants_without_the_database() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    assert_eq!(app.get("/products", Some("acme")).await.status, 200);
    // Take the registry and the keys away: a request that looked them up would now fail.
    app.db.execute("ALTER SCHEMA tenantry RENAME TO tenantry_away").await;

    let warm = app.get("/products", Some("acme")).await;

    app.db.execute("ALTER SCHEMA tenantry_away RENAME TO tenantry").await;
    assert_eq!(warm.status, 200, "{warm:?}");
}

#[tokio::test]
async fn a_warm_request_runs_only_its_own_queries() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_product("acme", "Widget", "1.00").await;
    assert_eq!(app.get("/products/1", Some("acme")).await.status, 200);
    let before = app.server_db.statements_run();

    let one = app.get("/products/1", Some("acme")).await;
    let after_one = app.server_db.statements_run();
    let list = app.get("/products", Some("acme")).await;
    let after_list = app.server_db.statements_run();

    assert_eq!((one.status, list.status), (200, 200));
    assert_eq!(after_one - before, 1, "GET /products/1 is one SELECT; key and tenant come from the cache");
    assert_eq!(after_list - after_one, 1, "GET /products is one SELECT, each row carrying the total");
}

#[tokio::test]
async fn a_statement_that_runs_too_long_is_cancelled_and_answered_503() {
    let app = TestApp::spawn_with(&[("APP__DATABASE__STATEMENT_TIMEOUT_MS", "200")]).await;
    app.create_tenant("acme").await;
    app.get("/products", Some("acme")).await;
    let blocker = app.db.connect(1).await;
    let txn = sea_orm::TransactionTrait::begin(&blocker).await.expect("begin");
    sea_orm::ConnectionTrait::execute_unprepared(
        &txn,
        &format!("LOCK TABLE {}.products IN ACCESS EXCLUSIVE MODE", app.schema_of("acme")),
    )
    .await
    .expect("lock");

    let request = app.client.get(app.url("/products")).timeout(std::time::Duration::from_secs(30));
    let reply = app.send(request, Some("acme")).await;

    txn.rollback().await.expect("release");
    reply.assert_problem(503, "took too long");
}

#[tokio::test]
async fn the_tenant_header_sent_twice_or_as_a_list_is_refused_whatever_the_order() {
    let app = TestApp::spawn().await;
    app.create_tenant("a").await;
    app.create_tenant("b").await;
    let key = app.key_of("a").expect("key");

    for (first, second) in [("a", "b"), ("b", "a"), ("a", "a")] {
        let request = app
            .client
            .get(app.url("/products"))
            .bearer_auth(&key)
            .header("X-Tenant", first)
            .header("X-Tenant", second);
        app.send_raw(request).await.assert_problem(400, "must be sent once");
    }
    let list = app.client.get(app.url("/products")).bearer_auth(&key).header("X-Tenant", "a, b");
    app.send_raw(list).await.assert_problem(400, "must be sent once");
    let once = app.client.get(app.url("/products")).bearer_auth(&key).header("X-Tenant", "a");
    assert_eq!(app.send_raw(once).await.status, 200);
}

#[tokio::test]
async fn the_authorization_scheme_is_matched_ignoring_case() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let key = app.key_of("acme").expect("key");

    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let request = app.client.get(app.url("/products")).header("Authorization", format!("{scheme} {key}"));
        assert_eq!(app.send_raw(request).await.status, 200, "{scheme}");
    }
    let admin = app.client.get(app.url("/tenants")).header("Authorization", format!("bearer {ADMIN_TOKEN}"));
    assert_eq!(app.send_raw(admin).await.status, 200);
    for malformed in
        [format!("Basic {key}"), format!("Bearer{key}"), "Bearer ".to_owned(), format!("Bearer {key} x")]
    {
        let request = app.client.get(app.url("/products")).header("Authorization", malformed.clone());
        app.send_raw(request).await.assert_problem(401, "Bearer <token>");
    }
}
