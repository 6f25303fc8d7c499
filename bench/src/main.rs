//! `bench`: how Tenantry performs as tenants grow, against a real Postgres.
//!
//! Each run works in its own database (`tenantry_bench` on the configured server unless
//! `--database-url` says otherwise), created fresh and dropped afterwards, and prints a table
//! for people plus one JSON line per figure for machines. Load goes to loopback only, and every
//! run is bounded in count and time.

mod compare;
mod cpu;
mod floor;
mod http;
mod load;
mod migrate;
mod noisy;
mod probes;
mod provision;
mod quota;
mod remote;
mod report;
mod setup;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Benchmarks Tenantry's provisioning, fleet migrations and request path.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
struct Cli {
    /// Postgres URL of the benchmark database (dropped and recreated) [default: the service's
    /// settings, database `tenantry_bench`]
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Keep the benchmark database afterwards (for inspection).
    #[arg(long, global = true)]
    keep: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Provision N tenants one after another through the service layer.
    Provision {
        /// How many tenants.
        #[arg(long, default_value_t = 1000)]
        tenants: usize,
    },
    /// A no-op fleet run over N current tenants, then every tenant down one migration and up.
    Migrate {
        /// How many tenants.
        #[arg(long, default_value_t = 1000)]
        tenants: usize,
        /// Batches migrated at once (the DDL replay runs this many tenants at once).
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// Tenants per transaction in the runner's fleet runs, as `migration tenants up|down
        /// --batch` (the DDL replay keeps one transaction per tenant).
        #[arg(long, default_value_t = tenantry_migration::fleet::DEFAULT_BATCH)]
        batch: usize,
    },
    /// Authenticated reads spread uniformly over 1, 100, ... tenants, against the real server.
    Http(http::HttpArgs),
    /// One tenant sending 10x its rate limit beside tenants sending normal load: the others'
    /// p99 and throughput with and without it.
    Noisy(noisy::NoisyArgs),
    /// What a row quota costs a create: POST /products without and with a quota.
    Quota(quota::QuotaArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let bench = match setup::Bench::create(cli.database_url.as_deref()).await {
        Ok(bench) => bench,
        Err(e) => {
            eprintln!("bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.scenario {
        Scenario::Provision { tenants } => provision::run(&bench, *tenants).await,
        Scenario::Migrate { tenants, jobs, batch } => migrate::run(&bench, *tenants, *jobs, *batch).await,
        Scenario::Http(args) => http::run(&bench, args).await,
        Scenario::Noisy(args) => noisy::run(&bench, args).await,
        Scenario::Quota(args) => quota::run(&bench, args).await,
    };
    if !cli.keep {
        bench.drop_database().await;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
