//! The control plane: provisioning, listing and deleting tenants over real HTTP.

use serde_json::json;
use tenantry_migration::tenant::TenantMigrator;
use tenantry_tests::TestApp;

#[tokio::test]
async fn provisioning_creates_the_registry_row_the_schema_and_its_tables() {
    let app = TestApp::spawn().await;

    let reply = app.post("/tenants", None, &json!({"slug": "acme", "name": "Acme Ltd"})).await;

    assert_eq!(reply.status, 201, "{reply:?}");
    let body = &reply.body;
    assert_eq!(body["slug"], "acme");
    let schema = body["schema"].as_str().expect("a schema").to_owned();
    assert!(schema.starts_with("tenant_") && schema["tenant_".len()..].parse::<u64>().is_ok(), "{schema}");
    assert_eq!(body["name"], "Acme Ltd");
    assert_eq!(body["state"], "active");
    assert_eq!(body["version"], TenantMigrator::latest_version());
    assert!(body["api_key"].as_str().is_some_and(|k| k.starts_with("tnt_") && k.len() == 47), "{body}");
    assert_eq!(body["key"]["prefix"].as_str(), body["api_key"].as_str().map(|k| &k[..12]));
    assert!(body["created_at"].as_str().is_some_and(|t| t.contains('T')), "{body}");
    let tables = app
        .db
        .strings(&format!("SELECT table_name::text AS v FROM information_schema.tables WHERE table_schema = '{schema}' ORDER BY 1"))
        .await;
    assert_eq!(tables, ["orders", "products", "seaql_migrations"]);
    let read = app.get("/tenants/acme", None).await.body;
    assert_eq!(read["schema"], schema.as_str());
    assert!(read.get("api_key").is_none(), "the secret is shown once only: {read}");
}

#[tokio::test]
async fn a_duplicate_slug_is_a_conflict_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;

    let reply = app.post("/tenants", None, &json!({"slug": "acme", "name": "Another"})).await;

    reply.assert_problem(409, "already exists");
    assert_eq!(app.db.count("SELECT count(*) AS n FROM tenantry.tenants").await, 1);
    assert_eq!(app.get("/tenants/acme", None).await.body["name"], "Tenant acme");
}

#[tokio::test]
async fn invalid_slugs_are_refused_naming_the_rule_and_create_nothing() {
    let app = TestApp::spawn().await;
    let before = app.db.schemas().await;
    let cases = [
        ("", "empty"),
        ("Acme", "start with a lowercase letter"),
        ("1acme", "start with a lowercase letter"),
        ("ac-me", "only a-z, 0-9 and _"),
        ("acme\"; DROP SCHEMA tenantry; --", "only a-z, 0-9 and _"),
        ("a_very_long_slug_that_is_longer_than_forty_chars", "longer than 40"),
    ];

    for (slug, rule) in cases {
        let reply = app.post("/tenants", None, &json!({"slug": slug, "name": "X"})).await;
        reply.assert_problem(400, rule);
    }

    assert_eq!(app.db.schemas().await, before);
    assert_eq!(app.db.count("SELECT count(*) AS n FROM tenantry.tenants").await, 0);
}

#[tokio::test]
async fn a_provisioning_failure_after_create_schema_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    // Inject the failure inside Postgres: any table created in a tenant schema raises, i.e.
    // after CREATE SCHEMA and the registry insert have already run in the transaction.
    app.db
        .execute(
            "CREATE FUNCTION public.refuse_doomed() RETURNS event_trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE schema_name LIKE 'tenant\\_%') \
             THEN RAISE EXCEPTION 'injected failure'; END IF; END $$; \
             CREATE EVENT TRIGGER refuse_doomed ON ddl_command_end EXECUTE FUNCTION public.refuse_doomed();",
        )
        .await;
    let before = app.db.schemas().await;

    let reply = app.post("/tenants", None, &json!({"slug": "doomed", "name": "Doomed"})).await;

    reply.assert_problem(500, "internal error");
    assert!(!reply.body.to_string().contains("injected"), "the cause must not leak: {}", reply.body);
    assert_eq!(app.db.schemas().await, before);
    assert_eq!(app.db.count("SELECT count(*) AS n FROM tenantry.tenants").await, 0);
    app.get("/tenants/doomed", None).await.assert_problem(404, "tenant 'doomed'");
    // The same slug provisions fine once the cause is gone.
    app.db.execute("DROP EVENT TRIGGER refuse_doomed").await;
    app.create_tenant("doomed").await;
}

#[tokio::test]
async fn deleting_a_tenant_drops_its_schema_and_its_registry_row() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    app.create_product("acme", "Widget", "1.00").await;

    let reply = app.delete("/tenants/acme", None).await;

    assert_eq!(reply.status, 204, "{reply:?}");
    assert!(!app.db.schemas().await.contains(&app.schema_of("acme")));
    assert!(app.db.schemas().await.contains(&app.schema_of("other")));
    app.get("/tenants/acme", None).await.assert_problem(404, "tenant 'acme'");
    app.get("/products", Some("acme")).await.assert_problem(401, "unknown or revoked API key");
    assert_eq!(app.get("/products", Some("other")).await.status, 200);
}

#[tokio::test]
async fn deleting_an_unknown_tenant_is_not_found() {
    let app = TestApp::spawn().await;

    app.delete("/tenants/ghost", None).await.assert_problem(404, "tenant 'ghost'");
}

#[tokio::test]
async fn tenants_are_listed_in_slug_order_page_by_page() {
    let app = TestApp::spawn().await;
    for slug in ["charlie", "alpha", "bravo"] {
        app.create_tenant(slug).await;
    }

    let first = app.get("/tenants?limit=2", None).await.body;
    let second = app.get("/tenants?limit=2&offset=2", None).await.body;

    let slugs = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| t["slug"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(slugs(&first), ["alpha", "bravo"]);
    assert_eq!(slugs(&second), ["charlie"]);
    assert_eq!(
        (first["limit"].as_u64(), first["offset"].as_u64(), first["total"].as_u64()),
        (Some(2), Some(0), Some(3))
    );
    assert_eq!(second["offset"], 2);
}
