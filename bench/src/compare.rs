//! The `http` scenario's yardstick: pgbench on the very statements the service sends, beside
//! Tenantry's own figures, with the targets printed as ratios (at least 0.5x of pgbench
//! on one tenant and over many, and CPU per request next to pgbench's per transaction).

use std::time::Duration;

use serde_json::json;

use crate::cpu::{Cpu, CpuSnapshot};
use crate::floor::Layer;
use crate::http::HttpArgs;
use crate::load::{Load, Mix};
use crate::probes::{PgbenchRun, Spread, list_script, pgbench, spread_scripts};
use crate::report::{cpu_figure, figure};
use crate::setup::{Bench, Tenant};

/// Tenantry's figures for one load: throughput and CPU per request.
#[derive(Clone, Copy, Debug)]
pub struct Served {
    /// Requests per second.
    pub rps: f64,
    /// Server CPU microseconds per request.
    pub server: Cpu,
    /// Postgres CPU microseconds per request.
    pub postgres: Cpu,
    /// The load generator's CPU microseconds per request (unknown for the built-in client).
    pub client: Cpu,
}

/// `GET /products?limit=20` alone for one tenant, against the running server.
pub async fn list_alone(
    bench: &Bench,
    args: &HttpArgs,
    base: &str,
    tenant: &Tenant,
    products: usize,
) -> anyhow::Result<Served> {
    let (served, errors) = list_load(bench, args, base, tenant, products).await?;
    if errors > 0 {
        eprintln!("bench: {errors} of the list-only requests failed");
    }
    Ok(served)
}

/// The list-only load for `tenant` against the server at `base` (Tenantry's or a floor in this
/// process): its figures, and how many of its requests failed.
pub async fn list_load(
    bench: &Bench,
    args: &HttpArgs,
    base: &str,
    tenant: &Tenant,
    products: usize,
) -> anyhow::Result<(Served, u64)> {
    let load = Load {
        base,
        tenants: std::slice::from_ref(tenant),
        products,
        connections: args.connections,
        duration: Duration::from_secs(args.duration),
        mix: Mix::ListOnly,
    };
    let before = CpuSnapshot::take(&bench.url).await;
    let outcome = args.load.run(&load).await?;
    let after = CpuSnapshot::take(&bench.url).await;
    let (server, postgres) = before.per_request_us(&after, outcome.requests);
    Ok((Served { rps: outcome.rps, server, postgres, client: outcome.client }, outcome.errors))
}

/// Runs pgbench (the server stopped, so it has the machine to itself as Tenantry had) and
/// prints each comparison: the list statement for one tenant (`-M prepared`), and when `spread`
/// names a tenant count above one with Tenantry's figures there, the wrk mix over those
/// tenants (`-M simple`), a random tenant per transaction and tenant-affine.
pub async fn against_pgbench(
    bench: &Bench,
    args: &HttpArgs,
    tenants: &[Tenant],
    products: usize,
    single: Served,
    floors: &[(Layer, Served)],
    spread: Option<(usize, Served)>,
) -> anyhow::Result<()> {
    let (clients, seconds) = (args.connections, args.duration);
    let one = pgbench(&bench.url, "prepared", &[(list_script(&tenants[0])?, 1)], clients, seconds).await?;
    let ctx = json!({"tenants": 1, "clients": clients, "duration_s": seconds});
    report("GET /products?limit=20", "-M prepared, same SQL", single, one, &ctx);
    for (layer, floor) in floors {
        report_floor(*layer, *floor, one, &ctx);
    }
    let Some((count, served)) = spread.filter(|(count, _)| *count > 1) else { return Ok(()) };
    let mut best: Option<PgbenchRun> = None;
    for (spread, label) in [(Spread::Random, "random tenant"), (Spread::Affine, "tenant-affine")] {
        let scripts = spread_scripts(&tenants[..count], products, clients, spread)?;
        let run = pgbench(&bench.url, "simple", &scripts, clients, seconds).await?;
        let ctx = json!({"tenants": count, "clients": clients, "duration_s": seconds, "spread": label});
        report("list and get mix", &format!("-M simple, same SQL, {label}"), served, run, &ctx);
        best = Some(match best {
            Some(b) if b.tps >= run.tps => b,
            _ => run,
        });
    }
    if let Some(best) = best {
        let ctx = json!({"tenants": count, "clients": clients, "duration_s": seconds});
        figure(
            "pgbench",
            "Tenantry relative to the best pgbench (target 0.5)",
            served.rps / best.tps,
            "x",
            ctx,
        );
    }
    Ok(())
}

/// A floor under the server (`floor.rs`); the one that runs the statement beside pgbench's
/// run on it (the HTTP floor sends nothing to Postgres).
fn report_floor(layer: Layer, floor: Served, run: PgbenchRun, ctx: &serde_json::Value) {
    let name = |what: &str| format!("floor, {}: {what}", layer.label());
    figure("pgbench", &name("requests per second"), floor.rps, "1/s", ctx.clone());
    if layer == Layer::Statement {
        figure("pgbench", &name("relative to pgbench"), floor.rps / run.tps, "x", ctx.clone());
    }
    cpu_figure("pgbench", &name("server CPU per request"), floor.server, ctx.clone());
    if layer == Layer::Statement {
        cpu_figure("pgbench", &name("Postgres CPU per request"), floor.postgres, ctx.clone());
    }
    cpu_figure("pgbench", &name("load generator CPU per request"), floor.client, ctx.clone());
}

fn report(what: &str, how: &str, served: Served, run: PgbenchRun, ctx: &serde_json::Value) {
    figure("pgbench", &format!("Tenantry {what}, requests per second"), served.rps, "1/s", ctx.clone());
    figure("pgbench", &format!("pgbench {how}, transactions per second"), run.tps, "1/s", ctx.clone());
    figure("pgbench", "Tenantry relative to pgbench (target 0.5)", served.rps / run.tps, "x", ctx.clone());
    cpu_figure("pgbench", "Tenantry server CPU per request", served.server, ctx.clone());
    cpu_figure("pgbench", "Tenantry Postgres CPU per request", served.postgres, ctx.clone());
    cpu_figure("pgbench", "pgbench Postgres CPU per transaction", run.postgres, ctx.clone());
    cpu_figure("pgbench", "Tenantry's load generator CPU per request", served.client, ctx.clone());
    cpu_figure("pgbench", "pgbench client CPU per transaction", run.client, ctx.clone());
}
