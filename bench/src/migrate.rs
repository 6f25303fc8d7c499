//! `migrate --tenants N --jobs J`: a deploy with nothing to do, and a roll back and forward.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::json;
use tenantry_migration::fleet::{FleetOptions, migrate_fleet};
use tenantry_migration::runner::{Direction, migrate_tenant};
use tenantry_service::limits::LimitSet;
use tenantry_service::tenants::Registry;

use crate::report::figure;
use crate::setup::{self, Bench};

/// Provisions N tenants (J at a time), then times (a) a fleet run with nothing to do and (b)
/// every tenant one migration down, then the fleet up again.
pub async fn run(bench: &Bench, n: usize, jobs: usize) -> anyhow::Result<()> {
    let db = bench.db(u32::try_from(jobs + 1).unwrap_or(8)).await?;
    let registry = Registry::new(db.clone(), Duration::from_secs(30), LimitSet::default());
    let (tenants, _) = setup::provision(&db, &registry, 0..n, jobs).await?;
    let conn = db.connection();
    let options = FleetOptions { jobs, continue_on_error: false, actor: "bench" };
    let ctx = json!({"tenants": n, "jobs": jobs});

    let started = Instant::now();
    let noop = migrate_fleet(conn, options, &|_| {}).await?;
    let noop_s = started.elapsed().as_secs_f64();
    let (migrated, current, ..) = noop.counts();
    if migrated != 0 || current != n {
        anyhow::bail!("the no-op run migrated {migrated} and found {current} current of {n}");
    }

    let started = Instant::now();
    stream::iter(&tenants)
        .map(|tenant| async move {
            let schema = tenant.schema()?;
            Ok::<_, anyhow::Error>(migrate_tenant(conn, &schema, Direction::Down(Some(1))).await?)
        })
        .buffer_unordered(jobs.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    let down_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let up = migrate_fleet(conn, options, &|_| {}).await?;
    let up_s = started.elapsed().as_secs_f64();
    if !up.succeeded() || up.counts().0 != n {
        anyhow::bail!("the fleet up run did not migrate every tenant: {:?}", up.counts());
    }

    figure("migrate", "no-op fleet run", noop_s, "s", ctx.clone());
    figure("migrate", "one down, every tenant", down_s, "s", ctx.clone());
    figure("migrate", "fleet up again", up_s, "s", ctx.clone());
    figure("migrate", "down and up, total", down_s + up_s, "s", ctx.clone());
    figure("migrate", "down and up, per tenant", (down_s + up_s) * 1000.0 / n as f64, "ms", ctx);
    Ok(())
}
