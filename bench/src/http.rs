//! `http`: authenticated reads spread uniformly over 1, 100, ... tenants against the real server,
//! with the server's memory and Postgres' per-connection memory, and pgbench on the same SQL.

use anyhow::Context;
use std::time::Duration;

use clap::Args;
use futures::future::join_all;
use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
use serde_json::json;
use tenantry_api::{Application, StopHandle};
use tenantry_config::AdminToken;
use tenantry_service::TenantScope;
use tenantry_service::db::Db;
use tenantry_service::page::PageRequest;
use tenantry_service::products;
use tenantry_service::tenants::Registry;

use crate::load::{Generator, Load, Mix};
use crate::remote::Remote;
use crate::report::figure;
use crate::setup::{self, Bench, Tenant};

/// Products each tenant is seeded with.
const PRODUCTS: usize = 100;

/// Options of the `http` scenario.
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Tenant counts to spread requests over, e.g. 1,100,10000.
    #[arg(long, value_delimiter = ',', default_value = "1,100,10000")]
    tenants: Vec<usize>,
    /// Concurrent clients (each keeps its HTTP connection alive).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds of load per tenant count (after one warm-up request per tenant).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Also run pgbench -M prepared on the same SQL (one tenant) for an absolute yardstick.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pgbench: bool,
    /// Load generator: wrk takes far less CPU per request than the built-in client, which
    /// shares this process (and the machine's cores) with the server.
    #[arg(long, value_enum, default_value_t = Generator::Auto)]
    load: Generator,
    /// A server already running (e.g. `http://127.0.0.1:8080`) instead of one started here.
    /// Its tenants are provisioned and seeded through its API, and deleted afterwards; its
    /// RSS, statement count and the pgbench comparison are then not measured.
    #[arg(long)]
    url: Option<String>,
    /// The control-plane token of the server at `--url`.
    #[arg(long, env = "APP__AUTH__ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

/// The server under load.
enum Server {
    /// Started in this process: its statement counter and this process's RSS are read.
    Here { stop: StopHandle, task: tokio::task::JoinHandle<std::io::Result<()>>, db: Db },
    /// Already running elsewhere (its tenants are the caller's to delete).
    There,
}

/// Runs the scenario.
pub async fn run(bench: &Bench, args: &HttpArgs) -> anyhow::Result<()> {
    let most = args.tenants.iter().copied().max().unwrap_or(1);
    let Some(url) = &args.url else { return run_here(bench, args, most).await };
    let token = args.admin_token.clone().context("--url needs --admin-token (or APP__AUTH__ADMIN_TOKEN)")?;
    let remote = Remote::new(url, token);
    eprintln!("bench: provisioning {most} tenants with {PRODUCTS} products each through {url}");
    let tenants = remote.provision(most).await?;
    let mut result = remote.seed(&tenants, PRODUCTS).await;
    if result.is_ok() {
        let strategy = json!({"url": remote.base(), "connections": args.connections,
            "duration_s": args.duration, "load": format!("{:?}", args.load.resolve())});
        result = measure(bench, args, remote.base().to_owned(), &tenants, Server::There, strategy).await;
    }
    let left = remote.delete(&tenants).await;
    if left > 0 {
        eprintln!("bench: {left} of the tenants made at {url} could not be deleted");
    }
    result
}

/// Starts the server in this process on the benchmark database, with the service's settings.
async fn run_here(bench: &Bench, args: &HttpArgs, most: usize) -> anyhow::Result<()> {
    let db = bench.db(5).await?;
    let registry = Registry::new(db.clone(), Duration::from_secs(30));
    eprintln!("bench: provisioning {most} tenants with {PRODUCTS} products each");
    let (tenants, _) = setup::provision(&db, &registry, 0..most, 4).await?;
    setup::seed_products(&db, &tenants, PRODUCTS, 4).await?;
    db.connection().clone().close().await?;

    let mut settings = bench.settings.clone();
    settings.server.port = 0;
    // The control plane is not measured; a token avoids the generated one's log line.
    settings.auth.admin_token = Some(AdminToken::try_from("bench-".repeat(8))?);
    let app = Application::build(&settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let (db, stop) = (app.db(), app.stop_handle());
    let server = Server::Here { db, stop, task: tokio::spawn(app.run_until_stopped()) };
    let strategy = json!({
        "pool": settings.database.max_connections,
        "pooler_mode": format!("{:?}", settings.database.pooler_mode),
        "statement_cache": settings.database.statement_cache_capacity,
        "tenant_shards": settings.database.tenant_shards,
        "connections": args.connections,
        "duration_s": args.duration,
        "load": format!("{:?}", args.load.resolve()),
    });
    measure(bench, args, base, &tenants, server, strategy).await
}

/// Drives the loads and prints the figures, then stops an in-process server (a running
/// server's tenants are deleted by the caller).
async fn measure(
    bench: &Bench,
    args: &HttpArgs,
    base: String,
    tenants: &[Tenant],
    server: Server,
    strategy: serde_json::Value,
) -> anyhow::Result<()> {
    let statements_run = || match &server {
        Server::Here { db, .. } => Some(db.statements_run()),
        Server::There => None,
    };
    let mut single = None;
    for &count in &args.tenants {
        let subset = &tenants[..count];
        warm_up(&base, subset).await?;
        let statements_before = statements_run();
        let load = Load {
            base: &base,
            tenants: subset,
            products: PRODUCTS,
            connections: args.connections,
            duration: Duration::from_secs(args.duration),
            mix: Mix::ListAndGet,
        };
        let outcome = args.load.run(&load).await?;
        let rps = outcome.rps;
        let statements = statements_run().zip(statements_before).map(|(after, before)| after - before);
        let mut ctx = strategy.clone();
        ctx["tenants"] = json!(count);
        figure("http", "requests per second", rps, "1/s", ctx.clone());
        figure("http", "p50 latency", outcome.p50_ms, "ms", ctx.clone());
        figure("http", "p99 latency", outcome.p99_ms, "ms", ctx.clone());
        figure("http", "failed requests", outcome.errors as f64, "", ctx.clone());
        if let Some(statements) = statements {
            let per_request = statements as f64 / outcome.requests.max(1) as f64;
            figure("http", "statements per request", per_request, "", ctx.clone());
            figure("http", rss_label(args.load), rss_mib("self").unwrap_or(f64::NAN), "MiB", ctx.clone());
        }
        let (avg, max) = backend_private_mib(&bench.url).await;
        figure("http", "Postgres backend private memory, mean", avg, "MiB", ctx.clone());
        figure("http", "Postgres backend private memory, max", max, "MiB", ctx.clone());
        match single {
            None => single = Some(rps),
            Some(one) => figure("http", "throughput relative to the first count", rps / one, "x", ctx),
        }
    }

    let (stop, task) = match server {
        Server::There => {
            if args.pgbench {
                eprintln!("bench: no pgbench comparison against --url (its database is not the bench's)");
            }
            return Ok(());
        }
        Server::Here { stop, task, .. } => (stop, task),
    };
    if args.pgbench {
        // The same request alone, for one tenant, against pgbench on its SQL.
        let load = Load {
            base: &base,
            tenants: &tenants[..1],
            products: PRODUCTS,
            connections: args.connections,
            duration: Duration::from_secs(args.duration),
            mix: Mix::ListOnly,
        };
        let outcome = args.load.run(&load).await?;
        let (list_rps, errors) = (outcome.rps, outcome.errors);
        stop_server(&stop, task).await?;
        let tps = pgbench(&bench.url, &tenants[0], args.connections, args.duration)?;
        let ctx =
            json!({"tenants": 1, "clients": args.connections, "duration_s": args.duration, "failed": errors});
        figure(
            "pgbench",
            "Tenantry GET /products?limit=20, requests per second",
            list_rps,
            "1/s",
            ctx.clone(),
        );
        figure("pgbench", "pgbench -M prepared, same SQL, transactions per second", tps, "1/s", ctx.clone());
        figure("pgbench", "Tenantry relative to pgbench", list_rps / tps, "x", ctx);
    } else {
        stop_server(&stop, task).await?;
    }
    Ok(())
}

/// Stops the in-process server through its handle: requests the load generator left in flight
/// are answered first, and its pool is closed before pgbench runs on the same database.
async fn stop_server(
    stop: &StopHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
) -> anyhow::Result<()> {
    stop.stop().await;
    task.await?.map_err(|e| anyhow::anyhow!("server: {e}"))
}

/// One request per tenant, so caches hold every key and tenant before measuring.
async fn warm_up(base: &str, tenants: &[Tenant]) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for chunk in tenants.chunks(64) {
        let replies = join_all(
            chunk.iter().map(|t| client.get(format!("{base}/products/1")).bearer_auth(&t.key).send()),
        )
        .await;
        for reply in replies {
            let status = reply?.status();
            if !status.is_success() {
                anyhow::bail!("warm-up request answered {status}");
            }
        }
    }
    Ok(())
}

fn rss_label(load: Generator) -> &'static str {
    match load.resolve() {
        Generator::Wrk => "server process RSS",
        _ => "process RSS (server and load generator)",
    }
}

/// Resident memory of a process (`self` or a pid), from /proc.
fn rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 =
        status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Mean and max private (not shared-buffer) memory of the server's Postgres backends, from
/// /proc/<pid>/smaps_rollup (needs the benchmark to run on the database host, as root or as
/// the postgres user).
async fn backend_private_mib(url: &str) -> (f64, f64) {
    let Ok(db) = sea_orm::Database::connect(url).await else { return (f64::NAN, f64::NAN) };
    let stmt = sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'tenantry'",
    );
    let pids: Vec<i32> = sea_orm::ConnectionTrait::query_all_raw(&db, stmt)
        .await
        .map(|rows| rows.iter().filter_map(|r| r.try_get::<i32>("", "pid").ok()).collect())
        .unwrap_or_default();
    db.close().await.ok();
    let sizes: Vec<f64> = pids.iter().filter_map(|pid| private_mib(*pid)).collect();
    if sizes.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let max = sizes.iter().copied().fold(0.0, f64::max);
    (sizes.iter().sum::<f64>() / sizes.len() as f64, max)
}

fn private_mib(pid: i32) -> Option<f64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let kib: f64 = rollup
        .lines()
        .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum();
    Some(kib / 1024.0)
}

/// pgbench -M prepared on the statement GET /products?limit=20 sends for one tenant (built by
/// the service itself, its parameters bound by pgbench). Returns transactions per second.
fn pgbench(url: &str, tenant: &Tenant, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let scope = TenantScope::new(tenant.schema()?);
    let page = PageRequest::new(Some(20), None)?;
    let statement = products::list_statement(&scope, page, None);
    let mut script = String::new();
    let mut sql = statement.sql.clone();
    let values = statement.values.map(|v| v.0).unwrap_or_default();
    // Highest first, so $1 does not rewrite the start of $10.
    for (i, value) in values.iter().enumerate().rev() {
        let n = i + 1;
        let literal = PostgresQueryBuilder.value_to_string(value);
        script.push_str(&format!("\\set p{n} {literal}\n"));
        sql = sql.replace(&format!("${n}"), &format!(":p{n}"));
    }
    script.push_str(&sql);
    script.push_str(";\n");
    let path = std::env::temp_dir().join(format!("tenantry-bench-{}.sql", std::process::id()));
    std::fs::write(&path, script)?;
    let output = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &clients.to_string(), "-T", &seconds.to_string(), "-f"])
        .arg(&path)
        .arg(url)
        .output()
        .context("pgbench")?;
    std::fs::remove_file(&path).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("pgbench gave no tps: {stdout} {}", String::from_utf8_lossy(&output.stderr)))
}
