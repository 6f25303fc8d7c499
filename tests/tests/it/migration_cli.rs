//! The `migration` tool as operators meet it: the same settings as the server, only registered
//! tenants, and a database it cannot reach reported at once with where and why.

use std::time::{Duration, Instant};

use tenantry_migration::cli::CliError;
use tenantry_migration::fleet::{FleetOptions, TenantResult, migrate_fleet};
use tenantry_migration::runner::migrate_control;
use tenantry_pg::database::{DatabaseError, ensure_database};
use tenantry_tests::TestDb;

use crate::migrations::command_line::{cli_run, cli_run_with};

/// A database with the registry and one tenant per `(slug, schema)`, not yet migrated.
async fn registry_with(tenants: &[(&str, &str)]) -> TestDb {
    let test_db = TestDb::new().await;
    let db = test_db.connect(1).await;
    migrate_control(&db).await.expect("control");
    db.close().await.ok();
    for (slug, schema) in tenants {
        test_db
            .execute(&format!(
                "INSERT INTO tenantry.tenants (slug, schema_name, name) VALUES ('{slug}', '{schema}', '{slug}')"
            ))
            .await;
    }
    test_db
}

/// A fresh, empty, absolute directory for settings files.
fn config_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tenantry-it-{test}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn migration_reads_its_database_from_the_settings_file_as_the_server_does() {
    let test_db = registry_with(&[("acme", "tenant_acme")]).await;
    let dir = config_dir("settings-file");
    std::fs::write(dir.join("staging.toml"), format!("[database]\nurl = \"{}\"\n", test_db.url()))
        .expect("write");
    let dir_str = dir.to_string_lossy().into_owned();

    let (result, out) =
        cli_run_with(&["tenants", "status"], &[("APP_CONFIG_DIR", &dir_str), ("APP_ENV", "staging")]).await;

    std::fs::remove_dir_all(&dir).ok();
    assert!(result.expect("runs"), "{out}");
    assert!(out.starts_with("acme tenant_acme (none)"), "read another database: {out}");
}

#[tokio::test]
async fn an_unregistered_schema_is_refused_and_never_created() {
    let test_db = registry_with(&[("acme", "tenant_acme")]).await;
    let before = test_db.schemas().await;

    for action in ["up", "status"] {
        let (result, out) = cli_run_with(
            &["--database-url", test_db.url(), "tenant", "--schema", "tenant_ghost", action],
            &[],
        )
        .await;

        let err = result.expect_err("an unregistered schema must be refused");
        assert!(matches!(err, CliError::NotRegistered(_)), "{err}");
        let message = err.to_string();
        assert!(message.contains("\"tenant_ghost\"") && message.contains("not a registered"), "{message}");
        assert!(out.is_empty(), "{out}");
    }
    assert_eq!(test_db.schemas().await, before, "no schema appeared");
}

#[tokio::test]
async fn a_tenant_command_on_a_database_without_a_registry_is_refused_and_writes_nothing() {
    let test_db = TestDb::new().await;
    let before = test_db.schemas().await;

    let (result, _) =
        cli_run_with(&["--database-url", test_db.url(), "tenant", "--tenant", "acme", "up"], &[]).await;

    assert!(matches!(result, Err(CliError::NotRegistered(_))), "{result:?}");
    assert_eq!(test_db.schemas().await, before, "neither the registry nor a schema was created");
}

#[tokio::test]
async fn a_tenant_named_by_slug_is_migrated_in_the_schema_its_registry_row_names() {
    // A schema the slug does not predict, as with schemas derived from tenant ids.
    let test_db = registry_with(&[("acme", "t_000042")]).await;

    let (ok, out) = cli_run(&["--database-url", test_db.url(), "tenant", "--tenant", "acme", "up"]).await;

    assert!(ok, "{out}");
    assert!(out.contains("t_000042: now at"), "{out}");
    let tables = test_db
        .strings("SELECT table_name::text AS v FROM information_schema.tables WHERE table_schema = 't_000042' ORDER BY 1")
        .await;
    assert_eq!(tables, ["orders", "products", "seaql_migrations"]);
    let (result, _) =
        cli_run_with(&["--database-url", test_db.url(), "tenant", "--tenant", "nobody", "up"], &[]).await;
    assert!(matches!(result, Err(CliError::NotRegistered(ref m)) if m.contains("\"nobody\"")), "{result:?}");
}

#[tokio::test]
async fn status_says_when_a_registered_tenants_schema_does_not_exist() {
    let test_db = registry_with(&[("acme", "tenant_acme")]).await;

    let (ok, out) =
        cli_run(&["--database-url", test_db.url(), "tenant", "--schema", "tenant_acme", "status"]).await;

    assert!(!ok, "a missing schema is not a healthy status: {out}");
    assert!(out.contains("tenant_acme: the schema does not exist"), "{out}");
    assert!(!out.contains("pending"), "{out}");
}

#[tokio::test]
async fn a_tenant_deleted_during_a_fleet_run_is_not_recreated_as_an_orphan() {
    let test_db = registry_with(&[("a", "tenant_a"), ("b", "tenant_b")]).await;
    let db = test_db.connect(2).await;
    let url = test_db.url().to_owned();
    // After `a`, delete `b` from the registry, as an operator's DELETE /tenants/b would (b has
    // no schema yet). One job, so `b` starts only after this returns.
    let delete_b = |entry: &tenantry_migration::fleet::FleetEntry| {
        if entry.slug == "a" {
            let url = url.clone();
            std::thread::spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(async {
                    let db = tenantry_pg::database::connect(&url, 1).await.expect("connect");
                    sea_orm::ConnectionTrait::execute_unprepared(
                        &db,
                        "DELETE FROM tenantry.tenants WHERE slug = 'b'",
                    )
                    .await
                    .expect("delete b");
                });
            })
            .join()
            .expect("the delete ran");
        }
    };

    // One tenant per transaction: b is deleted after a committed and before b begins.
    let options = FleetOptions { jobs: 1, batch: 1, continue_on_error: false, actor: "test" };
    let report = migrate_fleet(&db, options, &delete_b).await.expect("fleet run");

    let results: Vec<&TenantResult> = report.entries.iter().map(|e| &e.result).collect();
    assert!(matches!(results[..], [TenantResult::Migrated { .. }, TenantResult::Deleted]), "{results:?}");
    assert!(report.succeeded(), "a tenant deleted meanwhile is not a failure");
    assert!(!test_db.schemas().await.contains(&"tenant_b".to_owned()), "tenant_b was left as an orphan");
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[tokio::test]
async fn a_refused_connection_is_reported_at_once_with_host_port_database_and_cause() {
    let port = closed_port();
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{port}/tenantry_nowhere");

    for args in [["tenants", "status"], ["control", "up"]] {
        let started = Instant::now();
        let command: Vec<&str> = ["--database-url", url.as_str()].into_iter().chain(args).collect();
        let (result, _) = cli_run_with(&command, &[]).await;

        let elapsed = started.elapsed();
        let message = result.expect_err("unreachable").to_string();
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?} (the acquire timeout is 5 s)");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(message.contains("tenantry_nowhere"), "{message}");
        assert!(message.to_lowercase().contains("connection refused"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}

/// The commands that run the service's code (`tenant export`, `tenant import`, `audit verify`)
/// say at once why they cannot connect, as the migration commands do.
#[tokio::test]
async fn the_lifecycle_commands_report_a_refused_connection_at_once() {
    use clap::Parser;
    let port = closed_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/tenantry_nowhere");
    let commands: [&[&str]; 3] = [
        &["audit", "verify"],
        &["tenant", "--tenant", "acme", "export"],
        &["tenant", "import", "--slug", "acme2"],
    ];
    for args in commands {
        let argv = ["migration", "--database-url", url.as_str()].into_iter().chain(args.iter().copied());
        let cli = tenantry_migration::cli::Cli::try_parse_from(argv).expect("valid arguments");
        let started = Instant::now();
        let (mut input, mut output) = (std::io::empty(), Vec::new());
        let result = tenantry_cli::run(&cli, Default::default(), &mut input, &mut output).await;

        let elapsed = started.elapsed();
        let message = result.expect_err("unreachable").to_string();
        assert!(elapsed < Duration::from_secs(2), "{args:?} took {elapsed:?} (the acquire timeout is 5 s)");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{args:?}: {message}");
        assert!(message.to_lowercase().contains("connection refused"), "{args:?}: {message}");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_reported_within_the_acquire_timeout() {
    // Accepts connections and never says a word, like a host that swallows packets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let url = format!("postgres://postgres@127.0.0.1:{port}/tenantry_silent");

    let started = Instant::now();
    let result = ensure_database(&url, Duration::from_secs(1)).await;

    let elapsed = started.elapsed();
    silent.abort();
    let err = result.expect_err("no answer");
    assert!(matches!(err, DatabaseError::Unreachable { .. }), "{err}");
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3), "took {elapsed:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && message.contains("tenantry_silent"),
        "{message}"
    );
    assert!(message.contains("no answer within 1 s"), "{message}");
}

#[tokio::test]
async fn concurrent_ups_of_a_registered_tenant_neither_fail_nor_deadlock() {
    let test_db = registry_with(&[("a", "tenant_a")]).await;
    let db = test_db.connect(8).await;
    let schema = tenantry_pg::SchemaName::parse("tenant_a").expect("valid");
    let up = tenantry_migration::runner::Direction::Up(None);

    let runs = futures::future::join_all(
        (0..8).map(|_| tenantry_migration::fleet::migrate_registered(&db, &schema, up, "test")),
    )
    .await;

    let applied: Vec<usize> = runs
        .into_iter()
        .map(|r| r.expect("no run fails (a deadlock would abort one)").expect("registered").changed.len())
        .collect();
    assert_eq!(applied.iter().sum::<usize>(), tenantry_migration::tenant::VERSIONS.len(), "{applied:?}");
}

#[tokio::test]
async fn tenants_up_and_status_with_json_output_print_one_object_per_tenant_and_a_summary() {
    let test_db = registry_with(&[("acme", "tenant_acme"), ("globex", "tenant_globex")]).await;
    let url = test_db.url().to_owned();
    let objects = |out: &str| -> Vec<serde_json::Value> {
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in {out}")))
            .collect()
    };

    let (result, out) = cli_run_with(&["tenants", "up", "--output", "json"], &[("DATABASE_URL", &url)]).await;

    assert!(result.expect("runs"), "{out}");
    let up = objects(&out);
    assert_eq!(up.len(), 3, "two tenants and the summary: {out}");
    assert_eq!(up[0]["slug"], "acme");
    assert_eq!(up[0]["result"], "migrated");
    assert!(up[0]["applied"].as_array().is_some_and(|a| !a.is_empty()), "{out}");
    assert_eq!(up[2]["summary"], true);
    assert_eq!(up[2]["migrated"], 2);
    assert_eq!(up[2]["failed"], 0);
    assert_eq!(up[2]["ok"], true);

    let (result, out) =
        cli_run_with(&["tenants", "status", "--output", "json"], &[("DATABASE_URL", &url)]).await;

    assert!(result.expect("runs"), "{out}");
    let status = objects(&out);
    assert_eq!(status.len(), 3, "{out}");
    assert_eq!(status[1]["slug"], "globex");
    assert_eq!(status[1]["current"], true);
    assert_eq!(status[1]["behind"], 0);
    assert_eq!(status[2]["summary"], true);
    assert_eq!(status[2]["current"], 2);
}
