//! What the `migration` command line prints: statuses, fleet progress and summaries.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr};

use crate::fleet::{self, FleetEntry, FleetOptions, FleetReport, TenantResult};
use crate::runner::Direction;
use crate::tenant::{TenantMigrator, VERSIONS};

/// Runs the fleet with a progress bar on a terminal, or a plain line per tenant otherwise;
/// the registry is read once, for the bar's length and the run alike.
pub(super) async fn run_fleet(
    db: &DatabaseConnection,
    direction: Direction,
    options: FleetOptions<'_>,
) -> Result<FleetReport, DbErr> {
    let tenants = fleet::registered_tenants(db).await?;
    let total = tenants.len() as u64;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} tenants {elapsed_precise} {msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let on_done = |entry: &FleetEntry| match &bar {
        Some(bar) => {
            if let TenantResult::Failed(_) = entry.result {
                bar.println(entry_line(entry));
            }
            bar.inc(1);
        }
        None => eprintln!("{}", entry_line(entry)),
    };
    let report = fleet::migrate_tenants_to(db, tenants, direction, options, &on_done).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(report)
}

/// One tenant's result as a line of text.
pub fn entry_line(entry: &FleetEntry) -> String {
    let what = match &entry.result {
        TenantResult::Migrated { applied, version } => {
            format!("migrated ({} changed, now at {})", applied.len(), version.as_deref().unwrap_or("(none)"))
        }
        TenantResult::AlreadyCurrent => "already current".to_owned(),
        TenantResult::Failed(e) => format!("FAILED: {e}"),
        TenantResult::Skipped => "skipped (an earlier tenant failed)".to_owned(),
        TenantResult::Deleted => "deleted while the run was under way; nothing done".to_owned(),
    };
    format!("{} ({}): {what}", entry.slug, entry.schema)
}

pub(super) fn write_summary(out: &mut dyn Write, report: &FleetReport) -> std::io::Result<()> {
    for entry in report.entries.iter().filter(|e| matches!(e.result, TenantResult::Failed(_))) {
        writeln!(out, "{}", entry_line(entry))?;
    }
    let (migrated, current, failed, skipped) = report.counts();
    write!(
        out,
        "{} tenants: {migrated} migrated, {current} already current, {failed} failed, {skipped} skipped",
        report.entries.len()
    )?;
    match report.deleted() {
        0 => writeln!(out),
        deleted => writeln!(out, ", {deleted} deleted meanwhile"),
    }
}

pub(super) fn write_status(
    out: &mut dyn Write,
    what: &str,
    migrations: &[(String, bool)],
) -> std::io::Result<()> {
    for (name, applied) in migrations {
        writeln!(out, "{what}: {name} {}", if *applied { "applied" } else { "pending" })?;
    }
    Ok(())
}

pub(super) fn write_fleet_status(
    out: &mut dyn Write,
    tenants: &[fleet::RegisteredTenant],
) -> std::io::Result<()> {
    let names = VERSIONS;
    let latest = TenantMigrator::latest_version();
    let mut current = 0;
    for tenant in tenants {
        let version = tenant.version.as_deref();
        let state = match version {
            Some(v) if v == latest => {
                current += 1;
                "current".to_owned()
            }
            Some(v) => match names.iter().position(|n| *n == v) {
                Some(i) => format!("{} behind", names.len() - 1 - i),
                None => "unknown version".to_owned(),
            },
            None => format!("{} behind", names.len()),
        };
        writeln!(out, "{} {} {} {state}", tenant.slug, tenant.schema, version.unwrap_or("(none)"))?;
    }
    writeln!(
        out,
        "{} tenants: {current} current, {} behind (latest {latest})",
        tenants.len(),
        tenants.len() - current
    )
}
