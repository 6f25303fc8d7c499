//! Tenantry on Citus schema-based sharding, against the real cluster `TENANTRY_CITUS_URL` names
//! (each test says plainly that it was skipped without it; CI has no Citus), each test in its
//! own database on every node. The placement routes' answers on plain Postgres are tested here
//! too, on the ordinary test database. Moves, conversion and start-up: `citus_ops.rs`.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::MigratorTraitSelf;
use serde_json::json;
use tenantry_migration::control::ControlMigrator;
use tenantry_migration::runner::{Direction, migrate_control, migrate_tenant};
use tenantry_pg::SchemaName;
use tenantry_tests::{CitusCluster, CitusDb, TestApp, TestDb};

/// The cluster, or return from the test after saying it was skipped.
macro_rules! cluster_or_skip {
    ($test:literal) => {
        match CitusCluster::from_env($test).await {
            Some(cluster) => cluster,
            None => return,
        }
    };
}
pub(crate) use cluster_or_skip;

/// The application on `citus`'s coordinator database (the handle does not drop it).
pub(crate) async fn app_on(citus: &CitusDb) -> TestApp {
    TestApp::spawn_on(citus.db.beside(), &[]).await
}

/// The node `GET /tenants/{slug}` places `slug` on.
pub(crate) async fn node_of(app: &TestApp, slug: &str) -> String {
    let reply = app.get(&format!("/tenants/{slug}"), None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["placement"]["distributed"], true, "{reply:?}");
    reply.body["placement"]["node"].as_str().expect("a distributed tenant has a node").to_owned()
}

/// Provisions `a0`, `a1`, ... until two tenants are on different workers; returns their slugs.
pub(crate) async fn two_on_different_workers(app: &TestApp) -> (String, String) {
    app.create_tenant("a0").await;
    let first = node_of(app, "a0").await;
    for i in 1..8 {
        let slug = format!("a{i}");
        app.create_tenant(&slug).await;
        if node_of(app, &slug).await != first {
            return ("a0".to_owned(), slug);
        }
    }
    panic!("eight tenants all landed on {first}: Citus should spread new schemas over the workers");
}

/// Shard tables (`<table>_<shard id>`) of `schema` on every worker, by name.
pub(crate) async fn shards_on_workers(citus: &CitusDb, schema: &str) -> Vec<String> {
    citus
        .on_workers(&format!(
            "SELECT relname::text AS v FROM pg_class WHERE relnamespace = to_regnamespace('{schema}') \
             AND relname ~ '_[0-9]+$' AND relkind = 'r' ORDER BY 1"
        ))
        .await
}

#[tokio::test]
async fn a_new_tenants_schema_is_distributed_to_a_worker_and_the_control_schema_stays_on_the_coordinator() {
    let cluster = cluster_or_skip!("a_new_tenants_schema_is_distributed...");
    let citus = cluster.database(true).await;
    let app = app_on(&citus).await;

    app.create_tenant("acme").await;

    let schema = app.schema_of("acme");
    let distributed =
        citus.db.strings("SELECT schema_name::text AS v FROM public.citus_schemas ORDER BY 1").await;
    assert_eq!(distributed, vec![schema.clone()], "only the tenant's schema is distributed");
    let control_tables =
        "SELECT count(*) AS n FROM pg_dist_partition WHERE logicalrelid::text LIKE 'tenantry.%'";
    assert_eq!(citus.db.count(control_tables).await, 0, "no registry table is a Citus table");
    assert!(cluster.workers().contains(&node_of(&app, "acme").await));
    let shards = shards_on_workers(&citus, &schema).await;
    assert_eq!(shards.len(), 3, "products, orders and the ledger, each on one worker only: {shards:?}");
}

#[tokio::test]
async fn tenants_on_different_workers_each_see_only_their_own_data() {
    let cluster = cluster_or_skip!("tenants_on_different_workers_each_see_only_their_own_data");
    let citus = cluster.database(true).await;
    let app = app_on(&citus).await;
    let (a, b) = two_on_different_workers(&app).await;

    let widget = app.create_product(&a, "Widget", "2.50").await;
    let gizmo = app.create_product(&b, "Gizmo", "7.00").await;
    let order = app.post("/orders", Some(&a), &json!({"product_id": widget["id"], "quantity": 4})).await;

    assert_eq!(order.status, 201, "{order:?}");
    assert_eq!(order.body["total_price"], "10.00");
    let listed = app.get("/products", Some(&a)).await.body;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["name"], "Widget");
    assert_eq!(app.get("/products", Some(&b)).await.body["items"][0]["name"], "Gizmo");
    if widget["id"] != gizmo["id"] {
        app.get(&format!("/products/{}", widget["id"]), Some(&b)).await.assert_problem(404, "not found");
    }
    let foreign = app.post("/orders", Some(&b), &json!({"product_id": 999, "quantity": 1})).await;
    assert_eq!(foreign.status, 422, "{foreign:?}");
    let renamed =
        app.patch(&format!("/products/{}", gizmo["id"]), Some(&b), &json!({"name": "Gizmo 2"})).await;
    assert_eq!(renamed.body["name"], "Gizmo 2");
    assert_eq!(app.delete(&format!("/products/{}", gizmo["id"]), Some(&b)).await.status, 204);
    assert_eq!(app.get("/products", Some(&b)).await.body["total"], 0);
    assert_eq!(app.get("/products", Some(&a)).await.body["total"], 1, "a's data is untouched");
}

#[tokio::test]
async fn a_provisioning_failure_leaves_nothing_on_any_node() {
    let cluster = cluster_or_skip!("a_provisioning_failure_leaves_nothing_on_any_node");
    let citus = cluster.database(true).await;
    let app = app_on(&citus).await;
    // Fail the second tenant migration (orders), after products is already a shard on a worker.
    citus
        .db
        .execute(
            "CREATE FUNCTION public.refuse_orders() RETURNS event_trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() \
             WHERE object_identity LIKE 'tenant\\_%.orders') THEN RAISE EXCEPTION 'injected failure'; END IF; \
             END $$; CREATE EVENT TRIGGER refuse_orders ON ddl_command_end EXECUTE FUNCTION public.refuse_orders();",
        )
        .await;

    let reply = app.post("/tenants", None, &json!({"slug": "doomed", "name": "Doomed"})).await;

    reply.assert_problem(500, "internal error");
    let tenant_schemas = "SELECT nspname::text AS v FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'";
    assert!(citus.db.strings(tenant_schemas).await.is_empty(), "no schema on the coordinator");
    assert!(citus.on_workers(tenant_schemas).await.is_empty(), "no schema on any worker");
    assert_eq!(citus.db.count("SELECT count(*) AS n FROM public.citus_schemas").await, 0);
    assert_eq!(citus.db.count("SELECT count(*) AS n FROM tenantry.tenants").await, 0);
    citus.db.execute("DROP EVENT TRIGGER refuse_orders").await;
    app.create_tenant("doomed").await;
}

#[tokio::test]
async fn a_tenants_migrations_go_down_and_up_on_its_worker() {
    let cluster = cluster_or_skip!("a_tenants_migrations_go_down_and_up_on_its_worker");
    let citus = cluster.database(true).await;
    let app = app_on(&citus).await;
    app.create_tenant("acme").await;
    let schema = SchemaName::parse(&app.schema_of("acme")).expect("valid");
    let db = citus.db.connect(1).await;

    let down = migrate_tenant(&db, &schema, Direction::Down(None)).await.expect("down");

    assert_eq!(down.version, None);
    assert_eq!(shards_on_workers(&citus, schema.as_str()).await.len(), 1, "only the ledger is left");
    let up = migrate_tenant(&db, &schema, Direction::Up(None)).await.expect("up");
    assert_eq!(up.changed.len(), 2);
    assert_eq!(shards_on_workers(&citus, schema.as_str()).await.len(), 3);
    let product = app.create_product("acme", "Widget", "1.00").await;
    let order = app.post("/orders", Some("acme"), &json!({"product_id": product["id"], "quantity": 1})).await;
    assert_eq!(order.status, 201, "the orders -> products foreign key works again: {order:?}");
    db.close().await.ok();
}

#[tokio::test]
async fn deleting_a_tenant_clears_every_node() {
    let cluster = cluster_or_skip!("deleting_a_tenant_clears_every_node");
    let citus = cluster.database(true).await;
    let app = app_on(&citus).await;
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    app.create_product("acme", "Widget", "1.00").await;
    let schema = app.schema_of("acme");

    assert_eq!(app.delete("/tenants/acme", None).await.status, 204);

    let named = format!("SELECT nspname::text AS v FROM pg_namespace WHERE nspname = '{schema}'");
    assert!(citus.db.strings(&named).await.is_empty());
    assert!(citus.on_workers(&named).await.is_empty(), "the schema is gone from every worker");
    assert_eq!(
        citus.db.strings("SELECT schema_name::text AS v FROM public.citus_schemas").await,
        vec![app.schema_of("other")]
    );
    assert_eq!(app.get("/products", Some("other")).await.status, 200);
}

#[tokio::test]
async fn the_placement_routes_answer_409_on_plain_postgres() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;

    let cluster = app.get("/cluster", None).await;
    let moved = app.post("/tenants/acme/move", None, &json!({"node": "127.0.0.1:5432"})).await;

    cluster.assert_problem(409, "not a Citus coordinator");
    moved.assert_problem(409, "not a Citus coordinator");
    let tenant = app.get("/tenants/acme", None).await;
    assert_eq!(tenant.status, 200);
    assert!(tenant.body["placement"].is_null(), "{tenant:?}");
    app.post("/tenants/nobody/move", None, &json!({"node": "x"})).await.assert_problem(400, "host:port");
}

#[tokio::test]
async fn the_control_migrations_set_the_citus_setting_as_a_placeholder_on_plain_postgres() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(1).await;

    let applied = migrate_control(&db).await.expect("Postgres takes citus.* as a placeholder");

    assert_eq!(applied.len(), ControlMigrator.migrations().len());
    // The pool has one connection: the one the migration ran on.
    let leftover = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT coalesce(current_setting('citus.enable_schema_based_sharding', true), '') AS v",
        ))
        .await
        .expect("query")
        .expect("a row");
    assert_eq!(
        leftover.try_get::<String>("", "v").expect("text"),
        "",
        "SET LOCAL ended with its transaction"
    );
    db.close().await.ok();
}
