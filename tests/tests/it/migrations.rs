//! Per-tenant migrations, fleet runs and the `migration` command line.

use command_line::cli_run;
use futures::future::join_all;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tenantry_migration::fleet::{DEFAULT_BATCH, FleetOptions, TenantResult, migrate_fleet};
use tenantry_migration::runner::{Direction, migrate_control, migrate_tenant};
use tenantry_migration::tenant::{TenantMigrator, VERSIONS};
use tenantry_pg::SchemaName;
use tenantry_tests::TestDb;

fn schema(s: &str) -> SchemaName {
    SchemaName::parse(s).expect("valid schema name")
}

async fn tables_in(db: &DatabaseConnection, schema: &str) -> Vec<String> {
    strings(
        db,
        "SELECT table_name::text AS v FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
        schema,
    )
    .await
}

async fn ledger_of(db: &DatabaseConnection, schema: &SchemaName) -> Vec<String> {
    let sql = format!("SELECT version AS v FROM {}.seaql_migrations ORDER BY 1", schema.quoted());
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("read ledger")
        .iter()
        .map(|r| r.try_get::<String>("", "v").expect("text"))
        .collect()
}

async fn strings(db: &DatabaseConnection, sql: &str, arg: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [arg.into()]))
        .await
        .expect("query")
        .iter()
        .map(|r| r.try_get::<String>("", "v").expect("text"))
        .collect()
}

async fn register(db: &DatabaseConnection, slug: &str) {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO tenantry.tenants (slug, schema_name, name) VALUES ($1, $2, $3)",
        [slug.into(), format!("tenant_{slug}").into(), format!("Tenant {slug}").into()],
    ))
    .await
    .expect("register tenant");
}

async fn recorded_version(db: &DatabaseConnection, slug: &str) -> Option<String> {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT version FROM tenantry.tenants WHERE slug = $1",
        [slug.into()],
    ))
    .await
    .expect("query")
    .expect("registered")
    .try_get("", "version")
    .expect("text or null")
}

fn latest() -> Option<String> {
    Some(TenantMigrator::latest_version().to_owned())
}

#[tokio::test]
async fn two_tenants_get_their_own_tables_and_their_own_ledger() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(2).await;
    let (a, b) = (schema("tenant_a"), schema("tenant_b"));

    migrate_tenant(&db, &a, Direction::Up(None)).await.expect("migrate a");
    migrate_tenant(&db, &b, Direction::Up(None)).await.expect("migrate b");

    for s in [&a, &b] {
        assert_eq!(tables_in(&db, s.as_str()).await, ["orders", "products", "seaql_migrations"]);
        assert_eq!(ledger_of(&db, s).await, VERSIONS);
    }
    assert!(tables_in(&db, "public").await.is_empty(), "nothing may land in public");
}

#[tokio::test]
async fn a_second_up_is_a_no_op() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(1).await;
    let a = schema("tenant_a");

    let first = migrate_tenant(&db, &a, Direction::Up(None)).await.expect("first up");
    let second = migrate_tenant(&db, &a, Direction::Up(None)).await.expect("second up");

    assert_eq!(first.changed, VERSIONS);
    assert!(second.changed.is_empty(), "second up applied {:?}", second.changed);
    assert_eq!(second.version, latest());
    assert_eq!(ledger_of(&db, &a).await, VERSIONS);
}

#[tokio::test]
async fn down_then_up_restores_the_tenant() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(1).await;
    migrate_control(&db).await.expect("control");
    register(&db, "a").await;
    let a = schema("tenant_a");
    migrate_tenant(&db, &a, Direction::Up(None)).await.expect("up");

    let down = migrate_tenant(&db, &a, Direction::Down(Some(1))).await.expect("down");
    assert_eq!(down.changed, [VERSIONS[1]]);
    assert_eq!(tables_in(&db, "tenant_a").await, ["products", "seaql_migrations"]);
    assert_eq!(recorded_version(&db, "a").await.as_deref(), Some(VERSIONS[0]));

    let up = migrate_tenant(&db, &a, Direction::Up(None)).await.expect("up again");
    assert_eq!(up.changed, [VERSIONS[1]]);
    assert_eq!(tables_in(&db, "tenant_a").await, ["orders", "products", "seaql_migrations"]);
    assert_eq!(recorded_version(&db, "a").await, latest());
}

#[tokio::test]
async fn a_ledger_naming_an_unknown_migration_is_refused_and_nothing_runs() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(1).await;
    let a = schema("tenant_a");
    migrate_tenant(&db, &a, Direction::Up(Some(1))).await.expect("first migration");
    db.execute_unprepared(
        "INSERT INTO tenant_a.seaql_migrations (version, applied_at) VALUES ('m20990101_000001_from_the_future', 0)",
    )
    .await
    .expect("a newer build's ledger row");

    let refused = migrate_tenant(&db, &a, Direction::Up(None)).await;

    let message = refused.expect_err("an unknown ledger entry must stop the run").to_string();
    assert!(message.contains("m20990101_000001_from_the_future"), "{message}");
    assert_eq!(tables_in(&db, "tenant_a").await, ["products", "seaql_migrations"], "orders not created");
}

/// Breaks tenant `b` on purpose: a stray `orders` table makes its second migration fail.
async fn fleet_with_broken_b(test_db: &TestDb, connections: u32) -> DatabaseConnection {
    let db = test_db.connect(connections).await;
    migrate_control(&db).await.expect("control");
    for slug in ["a", "b", "c"] {
        register(&db, slug).await;
    }
    db.execute_unprepared("CREATE SCHEMA tenant_b; CREATE TABLE tenant_b.orders (id int)")
        .await
        .expect("sabotage b");
    db
}

/// Alone in its transaction (`batch` 1) or sharing one with the others (its own savepoint),
/// a tenant that fails is rolled back alone.
#[tokio::test]
async fn a_failing_tenant_leaves_the_others_migrated_and_is_reported() {
    for batch in [1, DEFAULT_BATCH] {
        let test_db = TestDb::new().await;
        let db = fleet_with_broken_b(&test_db, 4).await;

        let options = FleetOptions { jobs: 2, batch, continue_on_error: true, actor: "test" };
        let report = migrate_fleet(&db, options, &|_| {}).await.expect("fleet run");

        let results: Vec<(&str, &TenantResult)> =
            report.entries.iter().map(|e| (e.slug.as_str(), &e.result)).collect();
        assert!(matches!(results[0], ("a", TenantResult::Migrated { .. })), "batch {batch}: {results:?}");
        assert!(
            matches!(results[1], ("b", TenantResult::Failed(e)) if e.contains("already exists")),
            "batch {batch}: {results:?}"
        );
        assert!(matches!(results[2], ("c", TenantResult::Migrated { .. })), "batch {batch}: {results:?}");
        assert!(!report.succeeded());
        assert_eq!(recorded_version(&db, "a").await, latest());
        assert_eq!(recorded_version(&db, "b").await, None);
        assert_eq!(recorded_version(&db, "c").await, latest());
        // b's products migration ran in the same transaction (or savepoint) as the failure, so
        // it is gone too.
        assert_eq!(tables_in(&db, "tenant_b").await, ["orders"], "batch {batch}");
        let entries = strings(
            &db,
            "SELECT tenant_slug AS v FROM tenantry.audit_log WHERE action = $1 ORDER BY id",
            "tenant.migrate",
        )
        .await;
        assert_eq!(entries, ["a", "c"], "batch {batch}: one entry per tenant migrated");
    }
}

/// A tenant's run is sent in messages of its own, inside a transaction sqlx does not know it
/// began: a run that fails mid-way must close its connection, not hand it back still inside
/// the failed transaction, or the next tenant on that connection fails too.
#[tokio::test]
async fn a_failed_tenant_does_not_hand_its_failed_transaction_to_the_next() {
    let test_db = TestDb::new().await;
    let db = fleet_with_broken_b(&test_db, 1).await;

    let options = FleetOptions { jobs: 1, batch: 1, continue_on_error: true, actor: "test" };
    let report = migrate_fleet(&db, options, &|_| {}).await.expect("fleet run");

    let results: Vec<&TenantResult> = report.entries.iter().map(|e| &e.result).collect();
    assert!(
        matches!(
            results[..],
            [TenantResult::Migrated { .. }, TenantResult::Failed(_), TenantResult::Migrated { .. }]
        ),
        "{results:?}"
    );
    assert_eq!(recorded_version(&db, "c").await, latest());
    let entries = strings(
        &db,
        "SELECT tenant_slug AS v FROM tenantry.audit_log WHERE action = $1 ORDER BY id",
        "tenant.migrate",
    )
    .await;
    assert_eq!(entries, ["a", "c"], "one entry per tenant migrated, none for the one that failed");
}

#[tokio::test]
async fn without_continue_on_error_tenants_after_a_failure_are_skipped() {
    let test_db = TestDb::new().await;
    let db = fleet_with_broken_b(&test_db, 4).await;

    let options = FleetOptions { jobs: 1, batch: DEFAULT_BATCH, continue_on_error: false, actor: "test" };
    let report = migrate_fleet(&db, options, &|_| {}).await.expect("fleet run");

    let results: Vec<&TenantResult> = report.entries.iter().map(|e| &e.result).collect();
    assert!(
        matches!(
            results[..],
            [TenantResult::Migrated { .. }, TenantResult::Failed(_), TenantResult::Skipped]
        ),
        "{results:?}"
    );
    assert_eq!(recorded_version(&db, "c").await, None);
    assert!(tables_in(&db, "tenant_c").await.is_empty());
}

#[tokio::test]
async fn concurrent_ups_on_one_tenant_neither_fail_nor_double_apply() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(8).await;
    let a = schema("tenant_a");

    let runs = join_all((0..8).map(|_| migrate_tenant(&db, &a, Direction::Up(None)))).await;

    let applied: Vec<usize> =
        runs.into_iter().map(|r| r.expect("every run succeeds").changed.len()).collect();
    assert_eq!(applied.iter().sum::<usize>(), VERSIONS.len(), "{applied:?}");
    assert_eq!(applied.iter().filter(|n| **n > 0).count(), 1, "{applied:?}");
    assert_eq!(ledger_of(&db, &a).await, VERSIONS);
}

#[tokio::test]
async fn a_fleet_run_with_nothing_to_do_answers_from_the_registry() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(2).await;
    migrate_control(&db).await.expect("control");
    for slug in ["a", "b"] {
        register(&db, slug).await;
    }
    let options = FleetOptions { jobs: 2, batch: DEFAULT_BATCH, continue_on_error: false, actor: "test" };
    migrate_fleet(&db, options, &|_| {}).await.expect("first run");
    // Remove a ledger behind the registry's back: a run that looked at tenants would fail.
    db.execute_unprepared("DROP TABLE tenant_a.seaql_migrations").await.expect("drop ledger");

    let report = migrate_fleet(&db, options, &|_| {}).await.expect("second run");

    assert!(report.entries.iter().all(|e| e.result == TenantResult::AlreadyCurrent), "{report:?}");
}

#[tokio::test]
async fn tenants_status_reports_each_tenants_version() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(2).await;
    migrate_control(&db).await.expect("control");
    for slug in ["a", "b", "c"] {
        register(&db, slug).await;
    }
    migrate_tenant(&db, &schema("tenant_a"), Direction::Up(None)).await.expect("a");
    migrate_tenant(&db, &schema("tenant_b"), Direction::Up(Some(1))).await.expect("b");

    let (ok, out) = cli_run(&["--database-url", test_db.url(), "tenants", "status"]).await;

    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("a tenant_a {} current", VERSIONS[1]));
    assert_eq!(lines[1], format!("b tenant_b {} 1 behind", VERSIONS[0]));
    assert_eq!(lines[2], "c tenant_c (none) 2 behind");
    assert!(lines[3].starts_with("3 tenants: 1 current, 2 behind"), "{out}");
}

#[tokio::test]
async fn tenants_up_through_the_command_line_migrates_the_fleet() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(2).await;
    migrate_control(&db).await.expect("control");
    register(&db, "a").await;

    let (ok, out) = cli_run(&["--database-url", test_db.url(), "tenants", "up", "--jobs", "2"]).await;

    assert!(ok, "{out}");
    assert!(out.contains("1 tenants: 1 migrated, 0 already current, 0 failed"), "{out}");
    assert_eq!(recorded_version(&db, "a").await, latest());
}

/// Runs the `migration` command line in-process, as the binary does.
/// `tenants down` and `tenants up` in batches: every tenant moves one migration back and
/// forward again, each run of each tenant with its own audit entry, and the chain stays whole
/// across batches (each entry's hash is its content's; each links to the entry before it).
#[tokio::test]
async fn the_fleet_rolls_back_and_forward_in_batches_with_one_chained_entry_per_tenant() {
    use sea_orm::{EntityTrait, QueryOrder};
    use tenantry_entity::{audit_chain, audit_entry};

    let test_db = TestDb::new().await;
    let db = test_db.connect(2).await;
    migrate_control(&db).await.expect("control");
    let slugs = ["a", "b", "c", "d", "e"];
    for slug in slugs {
        register(&db, slug).await;
    }
    let url = test_db.url();
    let (ok, out) = cli_run(&["--database-url", url, "tenants", "up", "--jobs", "2", "--batch", "2"]).await;
    assert!(ok, "{out}");

    let (ok, out) = cli_run(&["--database-url", url, "tenants", "down", "--jobs", "2", "--batch", "2"]).await;

    assert!(ok, "{out}");
    assert!(out.starts_with("5 tenants: 5 migrated, 0 already current, 0 failed"), "{out}");
    let previous = &VERSIONS[..VERSIONS.len() - 1];
    for slug in slugs {
        assert_eq!(recorded_version(&db, slug).await.as_deref(), previous.last().copied(), "{slug}");
        assert_eq!(ledger_of(&db, &schema(&format!("tenant_{slug}"))).await, previous, "{slug}");
    }
    let (ok, out) = cli_run(&["--database-url", url, "tenants", "up", "--batch", "3"]).await;
    assert!(ok, "{out}");
    for slug in slugs {
        assert_eq!(recorded_version(&db, slug).await, latest(), "{slug}");
    }

    let entries =
        audit_entry::Entity::find().order_by_asc(audit_entry::Column::Id).all(&db).await.expect("log");
    assert_eq!(entries.len(), 3 * slugs.len(), "one entry per tenant and run");
    let mut prev_hash = audit_chain::GENESIS.to_owned();
    for (n, entry) in entries.iter().enumerate() {
        assert_eq!(entry.id, i64::try_from(n).expect("small") + 1);
        assert_eq!(entry.prev_hash, prev_hash, "entry {} links to the one before", entry.id);
        assert_eq!(audit_chain::hash(entry), entry.hash, "entry {}", entry.id);
        prev_hash = entry.hash.clone();
    }
    let downs = entries.iter().filter(|e| e.change.contains("\"direction\":\"down\"")).count();
    assert_eq!(downs, slugs.len(), "{entries:?}");
}

/// A fleet run plans each tenant from the version the registry records; where the tenant's
/// ledger says otherwise (migrated behind the registry's back, or its ledger emptied), the
/// ledger is read and the plan made from it, so nothing is applied twice or skipped.
#[tokio::test]
async fn a_ledger_that_is_not_as_the_registry_records_it_is_what_the_fleet_plans_from() {
    let test_db = TestDb::new().await;
    let db = test_db.connect(2).await;
    migrate_control(&db).await.expect("control");
    for slug in ["ahead", "behind"] {
        register(&db, slug).await;
    }
    // `ahead`: every migration applied, none recorded in the registry.
    migrate_tenant(&db, &schema("tenant_ahead"), Direction::Up(None)).await.expect("ahead");
    // `behind`: the registry says its first migration is applied; its schema has nothing.
    db.execute_unprepared(&format!(
        "UPDATE tenantry.tenants SET version = NULL WHERE slug = 'ahead'; \
         UPDATE tenantry.tenants SET version = '{}' WHERE slug = 'behind'",
        VERSIONS[0]
    ))
    .await
    .expect("record other versions");

    let options = FleetOptions { jobs: 1, batch: DEFAULT_BATCH, continue_on_error: false, actor: "test" };
    let report = migrate_fleet(&db, options, &|_| {}).await.expect("fleet run");

    let results: Vec<(&str, &TenantResult)> =
        report.entries.iter().map(|e| (e.slug.as_str(), &e.result)).collect();
    assert!(
        matches!(results[0], ("ahead", TenantResult::Migrated { applied, .. }) if applied.is_empty()),
        "{results:?}"
    );
    assert!(
        matches!(results[1], ("behind", TenantResult::Migrated { applied, .. }) if applied.len() == VERSIONS.len()),
        "{results:?}"
    );
    for slug in ["ahead", "behind"] {
        assert_eq!(recorded_version(&db, slug).await, latest(), "{slug}");
        assert_eq!(ledger_of(&db, &schema(&format!("tenant_{slug}"))).await, VERSIONS, "{slug}");
    }
}

pub mod command_line {
    use std::collections::HashMap;

    use clap::Parser;
    use tenantry_migration::cli::{Cli, CliError, run};

    /// Runs with `vars` as the whole environment: success, or why it could not run, and what
    /// it printed.
    pub async fn cli_run_with(args: &[&str], vars: &[(&str, &str)]) -> (Result<bool, CliError>, String) {
        let cli = Cli::try_parse_from(std::iter::once("migration").chain(args.iter().copied()))
            .expect("valid arguments");
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut out = Vec::new();
        let result = run(&cli, vars, &mut out).await;
        (result, String::from_utf8(out).expect("utf-8 output"))
    }

    /// Runs with an empty environment (arguments say which database), expecting it to run.
    pub async fn cli_run(args: &[&str]) -> (bool, String) {
        let (result, out) = cli_run_with(args, &[]).await;
        (result.expect("command runs"), out)
    }
}

/// A tenant an operator migrated back is in maintenance: its requests that need the missing
/// table answer 503 with Retry-After (not a 500), and are served again once it is migrated up.
#[tokio::test]
async fn a_tenant_migrated_back_answers_503_until_it_is_migrated_up() {
    use tenantry_tests::TestApp;
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let schema = SchemaName::parse(&app.schema_of("acme")).expect("schema");
    let db = app.db.connect(1).await;
    let down = tenantry_migration::fleet::migrate_registered(&db, &schema, Direction::Down(Some(1)), "test");
    down.await.expect("migrated down").expect("registered");

    let reply = app.get("/orders", Some("acme")).await;
    reply.assert_problem(503, "being migrated");
    assert_eq!(reply.retry_after.as_deref(), Some("1"));
    assert_eq!(app.get("/products", Some("acme")).await.status, 200, "what it has is served");

    let up = tenantry_migration::fleet::migrate_registered(&db, &schema, Direction::Up(None), "test");
    up.await.expect("migrated up").expect("registered");
    assert_eq!(app.get("/orders", Some("acme")).await.status, 200);
}
