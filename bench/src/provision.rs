//! `provision --tenants N`: what one more tenant costs, and whether that grows with N.

use std::time::Instant;

use serde_json::json;
use tenantry_service::limits::LimitSet;
use tenantry_service::tenants::Registry;

use crate::report::figure;
use crate::setup::{self, Bench};

/// Provisions N tenants one after another and reports per-tenant percentiles, overall and for
/// the last 10% (when N tenants already exist).
pub async fn run(bench: &Bench, n: usize) -> anyhow::Result<()> {
    let db = bench.db(4).await?;
    let registry = Registry::new(db.clone(), std::time::Duration::from_secs(30), LimitSet::default());
    let started = Instant::now();
    let (_, samples) = setup::provision(&db, &registry, 0..n, 1).await?;
    let total = started.elapsed().as_secs_f64();
    let last = samples.tail(n - n / 10);
    let ctx = json!({"tenants": n});
    figure("provision", "total", total, "s", ctx.clone());
    figure("provision", "tenants per second", n as f64 / total, "1/s", ctx.clone());
    for (label, s) in [("all", &samples), ("last 10%", &last)] {
        for (q, name) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
            figure("provision", &format!("{name} per tenant ({label})"), s.quantile_ms(q), "ms", ctx.clone());
        }
    }
    Ok(())
}
