//! `http`: authenticated reads spread uniformly over 1, 100, ... tenants against the real server,
//! with the server's memory and Postgres' per-connection memory, and pgbench on the same SQL.

use anyhow::Context;
use std::time::Duration;

use clap::Args;
use futures::future::join_all;
use serde_json::json;
use tenantry_service::limits::LimitSet;
use tenantry_service::tenants::Registry;

use crate::compare::{self, Served};
use crate::cpu::CpuSnapshot;
use crate::floor::{self, Layer};
use crate::load::{Generator, Load, Mix};
use crate::probes::{backend_private_mib, rss_mib};
use crate::remote::Remote;
use crate::report::{cpu_figure, figure};
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
    pub(crate) connections: usize,
    /// Seconds of load per tenant count (after one warm-up request per tenant).
    #[arg(long, default_value_t = 10)]
    pub(crate) duration: u64,
    /// Also run pgbench on the same SQL: `-M prepared` for one tenant, and `-M simple` over the
    /// largest tenant count (a random tenant per transaction, and tenant-affine).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pgbench: bool,
    /// With pgbench, also measure the floors under the server (`floor.rs`): the list request
    /// answered by a bare actix-web server with Tenantry's recorded answer, without and with
    /// the service's statement run through its pools.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    floors: bool,
    /// Load generator: wrk takes far less CPU per request than the built-in client, which
    /// shares this process (and the machine's cores) with the server.
    #[arg(long, value_enum, default_value_t = Generator::Auto)]
    pub(crate) load: Generator,
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
    Here(setup::Served),
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
    let registry = Registry::new(db.clone(), Duration::from_secs(30), LimitSet::default());
    eprintln!("bench: provisioning {most} tenants with {PRODUCTS} products each");
    let (tenants, _) = setup::provision(&db, &registry, 0..most, 4).await?;
    setup::seed_products(&db, &tenants, PRODUCTS, 4).await?;
    db.connection().clone().close().await?;

    let settings = &bench.settings;
    // The control plane is not measured; a set token avoids the generated one's log line.
    let served = setup::Served::start(settings).await?;
    let base = served.base.clone();
    let server = Server::Here(served);
    let strategy = json!({
        "pool": settings.database.max_connections,
        "pooler_mode": format!("{:?}", settings.database.pooler_mode),
        "statement_cache": settings.database.statement_cache_capacity,
        "tenant_shards": settings.database.tenant_shards.unwrap_or(settings.database.max_connections),
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
        Server::Here(served) => Some(served.db.statements_run()),
        Server::There => None,
    };
    let spills = || match &server {
        Server::Here(served) => Some(served.db.spills()),
        Server::There => None,
    };
    let mut single = None;
    // Tenantry's figures at the largest count (its last run), for pgbench's spread runs.
    let most_count = args.tenants.iter().copied().max().unwrap_or(1);
    let mut most = None;
    for &count in &args.tenants {
        let subset = &tenants[..count];
        let spills_before = spills();
        warm_up(&base, subset).await?;
        let statements_before = statements_run();
        let cpu_before = cpu_snapshot(&server, &bench.url).await;
        let load = Load {
            base: &base,
            tenants: subset,
            products: PRODUCTS,
            connections: args.connections,
            duration: Duration::from_secs(args.duration),
            mix: Mix::ListAndGet,
        };
        let outcome = args.load.run(&load).await?;
        let cpu_after = cpu_snapshot(&server, &bench.url).await;
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
            let spilled = spills().zip(spills_before).map_or(0, |(after, before)| after - before);
            // Each one a backend meeting a tenant outside its share (database.home_wait_ms).
            let label = "units served by another sub-pool, warm-up and run";
            figure("http", label, spilled as f64, "", ctx.clone());
            figure("http", rss_label(args.load), rss_mib("self").unwrap_or(f64::NAN), "MiB", ctx.clone());
        }
        let cpu = cpu_before.zip(cpu_after).map(|(b, a)| b.per_request_us(&a, outcome.requests));
        if let Some((server, postgres)) = cpu {
            cpu_figure("http", cpu_label(args.load), server, ctx.clone());
            cpu_figure("http", "Postgres CPU per request", postgres, ctx.clone());
            cpu_figure("http", "load generator CPU per request", outcome.client, ctx.clone());
        }
        let (avg, max) = backend_private_mib(&bench.url).await;
        figure("http", "Postgres backend private memory, mean", avg, "MiB", ctx.clone());
        figure("http", "Postgres backend private memory, max", max, "MiB", ctx.clone());
        if count == most_count && count > 1 {
            let client = outcome.client;
            most = cpu.map(|(server, postgres)| (count, Served { rps, server, postgres, client }));
        }
        match single {
            None => single = Some(rps),
            Some(one) => figure(
                "http",
                "throughput relative to the first count (target at least 0.8)",
                rps / one,
                "x",
                ctx,
            ),
        }
    }

    let served = match server {
        Server::There => {
            if args.pgbench {
                eprintln!("bench: no pgbench comparison against --url (its database is not the bench's)");
            }
            return Ok(());
        }
        Server::Here(served) => served,
    };
    if !args.pgbench {
        return served.stop().await;
    }
    let single = compare::list_alone(bench, args, &base, &tenants[0], PRODUCTS).await?;
    let mut floors = Vec::new();
    if args.floors {
        // Tenantry's server stays up but idle, so its pools (and their backends) serve the floor.
        let recorded = floor::record(&base, &tenants[0]).await?;
        for layer in [Layer::Http, Layer::Statement] {
            let floor = floor::measure(bench, &served.db, args, &tenants[0], &recorded, layer).await?;
            floors.push((layer, floor));
        }
    }
    served.stop().await?;
    compare::against_pgbench(bench, args, tenants, PRODUCTS, single, &floors, most).await
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

/// The server's CPU now, if it runs in this process.
async fn cpu_snapshot(server: &Server, url: &str) -> Option<CpuSnapshot> {
    match server {
        Server::Here(_) => Some(CpuSnapshot::take(url).await),
        Server::There => None,
    }
}

fn cpu_label(load: Generator) -> &'static str {
    match load.resolve() {
        Generator::Wrk => "server CPU per request",
        _ => "process CPU per request (server and load generator)",
    }
}

fn rss_label(load: Generator) -> &'static str {
    match load.resolve() {
        Generator::Wrk => "server process RSS",
        _ => "process RSS (server and load generator)",
    }
}
