//! `migrate --tenants N --jobs J`: a deploy with nothing to do, a roll back and forward, and
//! the same DDL replayed directly with the same parallelism, as the floor to compare with.

use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use sea_orm::ConnectionTrait;
use serde_json::json;
use tenantry_migration::fleet::{FleetOptions, migrate_fleet};
use tenantry_migration::runner::{Direction, migrate_tenant};
use tenantry_service::limits::LimitSet;
use tenantry_service::tenants::Registry;

use crate::report::figure;
use crate::setup::{self, Bench, Tenant};

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

    let direct = replay_ddl_directly(bench, &tenants, jobs).await?;

    figure("migrate", "no-op fleet run (target under 1 s)", noop_s, "s", ctx.clone());
    figure("migrate", "one down, every tenant", down_s, "s", ctx.clone());
    figure("migrate", "fleet up again", up_s, "s", ctx.clone());
    figure("migrate", "down and up, total", down_s + up_s, "s", ctx.clone());
    figure("migrate", "down and up, per tenant", (down_s + up_s) * 1000.0 / n as f64, "ms", ctx.clone());
    figure("migrate", "the same DDL replayed directly, down", direct.0, "s", ctx.clone());
    figure("migrate", "the same DDL replayed directly, up", direct.1, "s", ctx.clone());
    let ratio = (down_s + up_s) / (direct.0 + direct.1);
    figure("migrate", "Tenantry relative to the DDL alone (target at most 1.25)", ratio, "x", ctx);
    Ok(())
}

/// The migration's own DDL, one transaction per tenant, `jobs` tenants at once, on plain
/// connections: the floor a fleet run's bookkeeping (lock, ledger, registry) adds to. The DDL is
/// what the runner sends (captured from a down and up of the first tenant through the
/// driver's statement hook), with that tenant's schema swapped for each tenant's.
/// Returns the seconds for every tenant down, then up.
async fn replay_ddl_directly(bench: &Bench, tenants: &[Tenant], jobs: usize) -> anyhow::Result<(f64, f64)> {
    let first = tenants.first().context("no tenants")?;
    let mut options = sea_orm::ConnectOptions::new(bench.url.clone());
    options.max_connections(u32::try_from(jobs.max(1)).unwrap_or(8)).sqlx_logging(false);
    let mut conn = sea_orm::Database::connect(options).await?;
    let captured = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&captured);
    let quoted = format!("\"{}\"", first.schema);
    let in_schema = quoted.clone();
    // DDL on the tenant's own tables only: not the runner's unqualified ledger statements.
    conn.set_metric_callback(move |info| {
        let sql = &info.statement.sql;
        let ddl = ["DROP TABLE", "CREATE TABLE", "CREATE INDEX"].iter().any(|p| sql.starts_with(p));
        if ddl && sql.contains(&in_schema) {
            sink.lock().unwrap_or_else(PoisonError::into_inner).push(sql.clone());
        }
    });
    let schema = first.schema()?;
    migrate_tenant(&conn, &schema, Direction::Down(Some(1))).await?;
    let down = std::mem::take(&mut *captured.lock().unwrap_or_else(PoisonError::into_inner));
    migrate_tenant(&conn, &schema, Direction::Up(Some(1))).await?;
    let up = std::mem::take(&mut *captured.lock().unwrap_or_else(PoisonError::into_inner));
    anyhow::ensure!(!down.is_empty() && !up.is_empty(), "no DDL captured: {down:?} {up:?}");
    let mut seconds = Vec::new();
    for ddl in [&down, &up] {
        let started = Instant::now();
        stream::iter(tenants)
            .map(|tenant| {
                let body: Vec<String> =
                    ddl.iter().map(|sql| sql.replace(&quoted, &format!("\"{}\"", tenant.schema))).collect();
                let conn = &conn;
                async move { conn.execute_unprepared(&format!("BEGIN; {}; COMMIT", body.join("; "))).await }
            })
            .buffer_unordered(jobs.max(1))
            .try_collect::<Vec<_>>()
            .await?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    conn.close().await?;
    Ok((seconds[0], seconds[1]))
}
