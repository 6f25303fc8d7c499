//! `migrate --tenants N --jobs J [--batch B]`: a deploy with nothing to do, a roll back and
//! forward of the fleet, and the same DDL replayed directly with the same parallelism, as the
//! floor to compare with.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use sea_orm::ConnectionTrait;
use serde_json::json;
use tenantry_migration::fleet::{FleetOptions, migrate_fleet, migrate_tenants_to, registered_tenants};
use tenantry_migration::runner::Direction;
use tenantry_migration::tenant::TenantMigrator;
use tenantry_service::limits::LimitSet;
use tenantry_service::tenants::Registry;

use crate::report::figure;
use crate::setup::{self, Bench, Tenant};

/// Provisions N tenants (J at a time), then times (a) a fleet run with nothing to do and (b)
/// the fleet one migration down, then up again (`B` tenants per transaction, `J` transactions
/// at once, as `migration tenants down|up --jobs J --batch B`), against the same DDL replayed
/// directly. (b) runs in the order runner, DDL, DDL, runner and each side reports the mean of
/// its two rounds: whichever runs first after provisioning pays for flushing its writes, and
/// the machine's load drifts over a run, so a fixed order favours one side.
pub async fn run(bench: &Bench, n: usize, jobs: usize, batch: usize) -> anyhow::Result<()> {
    let db = bench.db(u32::try_from(jobs + 1).unwrap_or(8)).await?;
    let registry = Registry::new(db.clone(), Duration::from_secs(30), LimitSet::default());
    let (tenants, _) = setup::provision(&db, &registry, 0..n, jobs).await?;
    // The runner's own pool, as the `migration` binary opens it (`jobs` + 1 connections), not
    // the service's control pool (2 connections), which would hold a run to 2 tenants at once.
    let runner = tenantry_pg::database::connect(&bench.url, u32::try_from(jobs + 1).unwrap_or(8)).await?;
    let conn = &runner;
    let options = FleetOptions { jobs, batch, continue_on_error: false, actor: "bench" };
    let ctx = json!({"tenants": n, "jobs": jobs, "batch": batch});

    let started = Instant::now();
    let noop = migrate_fleet(conn, options, &|_| {}).await?;
    let noop_s = started.elapsed().as_secs_f64();
    let (migrated, current, ..) = noop.counts();
    if migrated != 0 || current != n {
        anyhow::bail!("the no-op run migrated {migrated} and found {current} current of {n}");
    }
    figure("migrate", "no-op fleet run (target under 1 s)", noop_s, "s", ctx.clone());

    let first = down_and_up(conn, &tenants, options).await?;
    let direct_first = replay_ddl_directly(bench, &tenants, jobs).await?;
    let direct_second = replay_ddl_directly(bench, &tenants, jobs).await?;
    let second = down_and_up(conn, &tenants, options).await?;

    for (round, (runner, direct)) in [(first, direct_first), (second, direct_second)].iter().enumerate() {
        let round = json!({"tenants": n, "jobs": jobs, "batch": batch, "round": round + 1});
        figure("migrate", "one down, every tenant", runner.0, "s", round.clone());
        figure("migrate", "fleet up again", runner.1, "s", round.clone());
        figure("migrate", "the same DDL replayed directly, down", direct.0, "s", round.clone());
        figure("migrate", "the same DDL replayed directly, up", direct.1, "s", round);
    }
    let runner_s = (first.0 + first.1 + second.0 + second.1) / 2.0;
    let direct_s = (direct_first.0 + direct_first.1 + direct_second.0 + direct_second.1) / 2.0;
    figure("migrate", "down and up, total (mean of two rounds)", runner_s, "s", ctx.clone());
    figure("migrate", "down and up, per tenant", runner_s * 1000.0 / n as f64, "ms", ctx.clone());
    figure("migrate", "the same DDL alone, down and up (mean of two rounds)", direct_s, "s", ctx.clone());
    let ratio = runner_s / direct_s;
    figure("migrate", "Tenantry relative to the DDL alone (target at most 1.25)", ratio, "x", ctx);
    runner.close().await?;
    Ok(())
}

/// The fleet one migration down, then up again, as `migration tenants down` and `migration
/// tenants up` run them (audit entries included). Returns the seconds of each.
async fn down_and_up(
    conn: &sea_orm::DatabaseConnection,
    tenants: &[Tenant],
    options: FleetOptions<'_>,
) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let registered = registered_tenants(conn).await?;
    let down = migrate_tenants_to(conn, registered, Direction::Down(Some(1)), options, &|_| {}).await;
    let down_s = started.elapsed().as_secs_f64();
    if !down.succeeded() || down.counts().0 != tenants.len() {
        anyhow::bail!("the fleet down run did not migrate every tenant: {:?}", down.counts());
    }
    let started = Instant::now();
    let up = migrate_fleet(conn, options, &|_| {}).await?;
    let up_s = started.elapsed().as_secs_f64();
    if !up.succeeded() || up.counts().0 != tenants.len() {
        anyhow::bail!("the fleet up run did not migrate every tenant: {:?}", up.counts());
    }
    Ok((down_s, up_s))
}

/// The migration's own DDL, one transaction per tenant, `jobs` tenants at once, on plain
/// connections: the floor a fleet run's bookkeeping (lock, ledger, registry, audit) adds to.
/// The DDL is the text the runner sends for the newest migration of each tenant
/// ([`TenantMigrator::ddl`]), here in one message with `BEGIN` and `COMMIT`.
/// Returns the seconds for every tenant down, then up.
async fn replay_ddl_directly(bench: &Bench, tenants: &[Tenant], jobs: usize) -> anyhow::Result<(f64, f64)> {
    let mut options = sea_orm::ConnectOptions::new(bench.url.clone());
    options.max_connections(u32::try_from(jobs.max(1)).unwrap_or(8)).sqlx_logging(false);
    let conn = sea_orm::Database::connect(options).await?;
    let latest = TenantMigrator::latest_version();
    let mut seconds = Vec::new();
    for up in [false, true] {
        let started = Instant::now();
        stream::iter(tenants)
            .map(|tenant| {
                let conn = &conn;
                async move {
                    let ddl =
                        TenantMigrator::new(tenant.schema()?).ddl(latest, up).context("no such migration")?;
                    conn.execute_unprepared(&format!("BEGIN; {}; COMMIT", ddl.join("; "))).await?;
                    Ok::<_, anyhow::Error>(())
                }
            })
            .buffer_unordered(jobs.max(1))
            .try_collect::<Vec<_>>()
            .await?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    conn.close().await?;
    Ok((seconds[0], seconds[1]))
}
