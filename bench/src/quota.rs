//! `quota`: what a row quota costs a create. `POST /products` as fast as `--connections`
//! clients can send, for a tenant without a quota (one INSERT) and for one with a quota it
//! never reaches (in one transaction: the tenant's advisory lock, a count bounded by the
//! quota, the INSERT), one after the other against the same in-process server.

use std::time::{Duration, Instant};

use clap::Args;
use futures::future::join_all;
use serde_json::json;
use tenantry_service::limits::LimitSet;
use tenantry_service::tenants::Registry;

use crate::report::{Samples, figure};
use crate::setup::{self, Bench, Tenant};

/// Options of the `quota` scenario.
#[derive(Debug, Args)]
pub struct QuotaArgs {
    /// Concurrent clients, each with one create in flight.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Seconds of creates per tenant.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// The quota of the limited tenant (high enough never to be reached).
    #[arg(long, default_value_t = 1_000_000)]
    max_products: u64,
}

/// Runs the scenario.
pub async fn run(bench: &Bench, args: &QuotaArgs) -> anyhow::Result<()> {
    let db = bench.db(5).await?;
    let registry = Registry::new(db.clone(), Duration::from_secs(30), LimitSet::default());
    let (tenants, _) = setup::provision(&db, &registry, 0..2, 2).await?;
    db.connection().clone().close().await?;

    let settings = &bench.settings;
    let served = setup::Served::start(settings).await?;
    let (base, token) = (served.base.clone(), setup::ADMIN_TOKEN);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let result = async {
        let body = json!({"limits": {"max_products": args.max_products}});
        let url = format!("{base}/tenants/{}", tenants[1].slug);
        let reply = client.patch(url).bearer_auth(token).json(&body).send().await?;
        anyhow::ensure!(reply.status().is_success(), "setting the quota answered {}", reply.status());
        let ctx = json!({"connections": args.connections, "duration_s": args.duration,
            "workers": settings.server.workers, "pool": settings.database.max_connections});
        for (tenant, run) in [(&tenants[0], "no quota"), (&tenants[1], "with a quota")] {
            let (samples, failed, seconds) = creates(&client, &base, tenant, args).await;
            let mut ctx = ctx.clone();
            ctx["run"] = json!(run);
            figure("quota", "creates per second", samples.len() as f64 / seconds, "1/s", ctx.clone());
            figure("quota", "p50 latency", samples.quantile_ms(0.5), "ms", ctx.clone());
            figure("quota", "p99 latency", samples.quantile_ms(0.99), "ms", ctx.clone());
            figure("quota", "failed", failed as f64, "", ctx);
        }
        Ok(())
    }
    .await;
    served.stop().await?;
    result
}

/// `connections` loops of creates as `tenant` for the duration: latencies, failures, seconds.
async fn creates(
    client: &reqwest::Client,
    base: &str,
    tenant: &Tenant,
    args: &QuotaArgs,
) -> (Samples, u64, f64) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let loops = (0..args.connections).map(|c| async move {
        let (mut samples, mut failed, mut n) = (Samples::default(), 0u64, 0u64);
        while Instant::now() < deadline {
            n += 1;
            let body = json!({"name": format!("c{c}-{n}"), "price": "1.00"});
            let sent = Instant::now();
            let request = client.post(format!("{base}/products")).bearer_auth(&tenant.key).json(&body);
            match request.send().await {
                Ok(reply) if reply.status().as_u16() == 201 => {
                    let _ = reply.bytes().await;
                    samples.push(sent.elapsed());
                }
                _ => failed += 1,
            }
        }
        (samples, failed)
    });
    let mut all = Samples::default();
    let mut failed = 0;
    for (samples, f) in join_all(loops).await {
        all.extend(samples);
        failed += f;
    }
    (all, failed, started.elapsed().as_secs_f64())
}
