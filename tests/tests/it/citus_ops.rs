//! Operating Tenantry on Citus (a real cluster, see `citus.rs`): converting a plain
//! deployment, moving a tenant under load, the cluster view, and what start-up refuses.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tenantry_api::Application;
use tenantry_config::Settings;
use tenantry_migration::runner::{Direction, migrate_tenant};
use tenantry_pg::SchemaName;
use tenantry_pg::database::{DatabaseError, ensure_database};
use tenantry_tests::{ADMIN_TOKEN, CitusCluster, TestApp};

use crate::citus::{app_on, cluster_or_skip, node_of, two_on_different_workers};
use crate::migrations::command_line::cli_run;

#[tokio::test]
async fn a_plain_deployment_converted_by_the_documented_step_keeps_working() {
    let cluster = cluster_or_skip!("a_plain_deployment_converted_by_the_documented_step_keeps_working");
    let citus = cluster.database(false).await;
    let before = app_on(&citus).await;
    before.create_tenant("acme").await;
    before.create_tenant("other").await;
    let widget = before.create_product("acme", "Widget", "3.00").await;
    before.create_product("other", "Gizmo", "1.00").await;
    assert_eq!(
        citus.db.count("SELECT count(*) AS n FROM public.citus_schemas").await,
        0,
        "a plain deployment"
    );

    let (ok, out) = cli_run(&["--database-url", citus.url(), "tenants", "distribute"]).await;
    citus
        .db
        .execute(&format!(
            "ALTER DATABASE \"{}\" SET citus.enable_schema_based_sharding = on",
            citus.db.name().as_str()
        ))
        .await;
    let after = app_on(&citus).await;

    assert!(ok, "{out}");
    assert!(out.contains("2 tenants: 2 distributed or already so, 0 failed"), "{out}");
    let mut tenants = vec![before.schema_of("acme"), before.schema_of("other")];
    tenants.sort();
    let distributed =
        citus.db.strings("SELECT schema_name::text AS v FROM public.citus_schemas ORDER BY 1").await;
    assert_eq!(distributed, tenants, "the tenants, and not the control schema, are distributed");
    let listed = before.get("/products", Some("acme")).await.body;
    assert_eq!(listed["items"][0]["name"], "Widget", "the data moved with the schema");
    // A foreign-key migration on a converted tenant: orders -> products, down and up again.
    let db = citus.db.connect(1).await;
    let schema = SchemaName::parse(&before.schema_of("acme")).expect("valid");
    migrate_tenant(&db, &schema, Direction::Down(Some(1))).await.expect("orders dropped");
    migrate_tenant(&db, &schema, Direction::Up(None)).await.expect("orders re-created with its foreign key");
    db.close().await.ok();
    let order =
        before.post("/orders", Some("acme"), &json!({"product_id": widget["id"], "quantity": 2})).await;
    assert_eq!(order.status, 201, "{order:?}");
    after.create_tenant("late").await;
    assert!(cluster.workers().contains(&node_of(&after, "late").await), "a new tenant is distributed");
    let (again, out) = cli_run(&["--database-url", citus.url(), "tenants", "distribute"]).await;
    assert!(again && out.contains("3 tenants: 3 distributed or already so, 0 failed"), "{out}");
}

#[tokio::test]
async fn a_migration_run_never_adopts_an_existing_regular_schema_halfway() {
    let cluster = cluster_or_skip!("a_migration_run_never_adopts_an_existing_regular_schema_halfway");
    let citus = cluster.database(false).await;
    let app = app_on(&citus).await;
    app.create_tenant("acme").await;
    let name = citus.db.name().as_str().to_owned();
    citus.db.execute(&format!("ALTER DATABASE \"{name}\" SET citus.enable_schema_based_sharding = on")).await;
    let db = citus.db.connect(1).await;
    let schema = SchemaName::parse(&app.schema_of("acme")).expect("valid");

    migrate_tenant(&db, &schema, Direction::Down(Some(1))).await.expect("down, with sharding on");
    let up = migrate_tenant(&db, &schema, Direction::Up(None)).await;

    assert!(up.is_ok(), "the orders -> products foreign key stays within one regular schema: {up:?}");
    assert_eq!(citus.db.count("SELECT count(*) AS n FROM public.citus_schemas").await, 0, "nothing adopted");
    assert_eq!(citus.db.count("SELECT count(*) AS n FROM pg_dist_partition").await, 0, "no table moved");
    db.close().await.ok();
}

#[tokio::test]
async fn a_tenant_moved_under_load_loses_no_request() {
    let cluster = cluster_or_skip!("a_tenant_moved_under_load_loses_no_request");
    let citus = cluster.database(true).await;
    let app = Arc::new(app_on(&citus).await);
    app.create_tenant("mover").await;
    for i in 0..50 {
        app.create_product("mover", &format!("p{i}"), "1.00").await;
    }
    let from = node_of(&app, "mover").await;
    let to = cluster.workers().into_iter().find(|w| *w != from).expect("another worker");
    let (stop, answered, failed, created) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (app, stop, answered, failed, created) =
                (app.clone(), stop.clone(), answered.clone(), failed.clone(), created.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let reply = if n.is_multiple_of(2) {
                        app.get("/products?limit=20", Some("mover")).await
                    } else {
                        app.post(
                            "/products",
                            Some("mover"),
                            &json!({"name": format!("c{c}-{n}"), "price": "2.00"}),
                        )
                        .await
                    };
                    answered.fetch_add(1, Ordering::Relaxed);
                    if !(200..300).contains(&reply.status) {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("failed during the move: {reply:?}");
                    } else if n % 2 == 1 {
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_start = answered.load(Ordering::Relaxed);
    let started = Instant::now();

    let moved = app.post("/tenants/mover/move", None, &json!({"node": to})).await;

    let took = started.elapsed();
    let during = answered.load(Ordering::Relaxed) - at_start;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(
        (moved.body["from"].as_str(), moved.body["to"].as_str()),
        (Some(from.as_str()), Some(to.as_str()))
    );
    assert_eq!(moved.body["mode"], "force_logical", "the lab's nodes have wal_level = logical");
    eprintln!(
        "move took {} ms (reported {} ms); {during} requests answered during it, {} in all, {} failed",
        took.as_millis(),
        moved.body["elapsed_ms"],
        answered.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "every request was answered 2xx");
    assert!(during > 0, "requests were sent during the move");
    assert_eq!(node_of(&app, "mover").await, to);
    let total = app.get("/products?limit=1", Some("mover")).await.body["total"].as_u64();
    assert_eq!(total, Some(50 + created.load(Ordering::Relaxed)), "no write was lost");
    let next = app.create_product("mover", "after", "1.00").await;
    assert_eq!(
        next["id"].as_u64(),
        Some(51 + created.load(Ordering::Relaxed)),
        "ids continue after the move"
    );
}

#[tokio::test]
async fn the_cluster_lists_every_node_and_a_move_to_a_bad_target_is_refused() {
    let cluster = cluster_or_skip!("the_cluster_lists_every_node_and_a_move_to_a_bad_target_is_refused");
    let citus = cluster.database(true).await;
    let app = app_on(&citus).await;
    let (a, b) = two_on_different_workers(&app).await;

    let nodes = app.get("/cluster", None).await;

    assert_eq!(nodes.status, 200, "{nodes:?}");
    let nodes = nodes.body["nodes"].as_array().expect("nodes").clone();
    assert_eq!(nodes.len(), 1 + cluster.workers().len());
    let coordinator =
        nodes.iter().find(|n| n["node"] == cluster.coordinator()).expect("the coordinator is listed");
    assert_eq!(
        (coordinator["holds_tenants"].as_bool(), coordinator["tenants"].as_i64()),
        (Some(false), Some(0))
    );
    let total: i64 = nodes.iter().map(|n| n["tenants"].as_i64().unwrap_or(0)).sum();
    assert_eq!(total, app.get("/tenants", None).await.body["total"].as_i64().unwrap_or(-1));
    let holding = node_of(&app, &a).await;
    let node = nodes.iter().find(|n| n["node"] == holding.as_str()).expect("a's node is listed");
    assert!(node["tenants"].as_i64() >= Some(1) && node["bytes"].as_i64() > Some(0), "{node}");
    let to = |node: &str| json!({ "node": node });
    app.post(&format!("/tenants/{a}/move"), None, &to(&holding)).await.assert_problem(409, "already on");
    app.post(&format!("/tenants/{a}/move"), None, &to(&cluster.coordinator()))
        .await
        .assert_problem(422, "holds tenants");
    app.post(&format!("/tenants/{a}/move"), None, &to("10.255.255.1:5432"))
        .await
        .assert_problem(422, "holds tenants");
    app.post("/tenants/nobody/move", None, &to(&holding)).await.assert_problem(404, "tenant 'nobody'");
    assert_eq!(node_of(&app, &a).await, holding, "nothing moved");
    assert_ne!(node_of(&app, &b).await, holding);
}

#[tokio::test]
async fn start_up_refuses_a_coordinator_whose_workers_lack_the_database() {
    let cluster = cluster_or_skip!("start_up_refuses_a_coordinator_whose_workers_lack_the_database");
    let citus = cluster.database(true).await;
    let lacking = citus.drop_on_first_worker().await;
    let vars = HashMap::from([
        ("DATABASE_URL".to_owned(), citus.url().to_owned()),
        ("APP__SERVER__PORT".to_owned(), "0".to_owned()),
        ("APP__AUTH__ADMIN_TOKEN".to_owned(), ADMIN_TOKEN.to_owned()),
    ]);
    let settings = Settings::load_from(vars).expect("settings");

    let refused = Application::build(&settings).await.err().map(|e| e.to_string()).unwrap_or_default();

    assert!(refused.contains("workers lack database"), "{refused}");
    assert!(refused.contains(&lacking), "names the worker: {refused}");
    assert_eq!(
        citus.db.count("SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'tenantry'").await,
        0,
        "nothing written"
    );
}

#[tokio::test]
async fn no_database_is_created_implicitly_on_a_citus_server() {
    let cluster = cluster_or_skip!("no_database_is_created_implicitly_on_a_citus_server");
    let name = format!("tenantry_test_never_{}", std::process::id());

    let result = ensure_database(&cluster.coordinator_url(&name), Duration::from_secs(5)).await;

    assert!(matches!(result, Err(DatabaseError::CitusWithoutDatabase(_))), "{result:?}");
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("on every worker") && message.contains("CREATE EXTENSION citus"), "{message}");
    let probe = cluster.database(true).await;
    let exists = format!("SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'");
    assert_eq!(probe.db.count(&exists).await, 0);
}

#[tokio::test]
async fn identity_ids_continue_after_a_move_but_keep_a_tenant_from_leaving_citus() {
    let cluster = cluster_or_skip!("identity_ids_continue_after_a_move_but_keep_a_tenant_from_leaving_citus");
    let citus = cluster.database(true).await;
    let app: TestApp = app_on(&citus).await;
    app.create_tenant("acme").await;
    app.create_product("acme", "one", "1.00").await;
    let from = node_of(&app, "acme").await;
    let to = cluster.workers().into_iter().find(|w| *w != from).expect("another worker");
    assert_eq!(app.post("/tenants/acme/move", None, &json!({"node": to})).await.status, 200);

    let next = app.create_product("acme", "two", "1.00").await;
    let back = citus.db.connect(1).await;
    let undistributed = sea_orm::ConnectionTrait::execute_unprepared(
        &back,
        &format!("SELECT citus_schema_undistribute('{}'::regnamespace)", app.schema_of("acme")),
    )
    .await;

    assert_eq!(next["id"], 2, "the identity sequence lives on the coordinator and continues");
    let refused = undistributed.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        refused.contains("identity column"),
        "Citus 13.2 refuses to undistribute identity columns: {refused}"
    );
    back.close().await.ok();
}
