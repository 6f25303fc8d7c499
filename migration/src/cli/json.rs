//! `--output json`: for deploy pipelines, `tenants up` and `tenants status` print one JSON
//! object per tenant, then one summary object (`"summary": true`), one object per line on
//! standard output; progress and logs stay on standard error. Exit status as for text: 0 all
//! good, 1 some tenant failed (or was skipped after a failure), 2 the run could not start.

use std::io::Write;

use serde_json::json;

use crate::fleet::{FleetReport, RegisteredTenant, TenantResult};
use crate::tenant::{TenantMigrator, VERSIONS};

/// A fleet `up` run: each tenant's result, then the counts.
pub(super) fn write_fleet_up(out: &mut dyn Write, report: &FleetReport) -> std::io::Result<()> {
    for entry in &report.entries {
        let (result, applied, version, error) = match &entry.result {
            TenantResult::Migrated { applied, version } => {
                ("migrated", applied.clone(), version.clone(), None)
            }
            TenantResult::AlreadyCurrent => ("current", Vec::new(), None, None),
            TenantResult::Failed(e) => ("failed", Vec::new(), None, Some(e.to_string())),
            TenantResult::Skipped => ("skipped", Vec::new(), None, None),
            TenantResult::Deleted => ("deleted", Vec::new(), None, None),
        };
        let line = json!({
            "slug": entry.slug, "schema": entry.schema, "result": result,
            "applied": applied, "version": version, "error": error,
        });
        writeln!(out, "{line}")?;
    }
    let (migrated, current, failed, skipped) = report.counts();
    let summary = json!({
        "summary": true, "tenants": report.entries.len(), "migrated": migrated, "current": current,
        "failed": failed, "skipped": skipped, "deleted": report.deleted(), "ok": report.succeeded(),
    });
    writeln!(out, "{summary}")
}

/// A fleet status: each tenant's recorded version and how many migrations it is behind.
pub(super) fn write_fleet_status(out: &mut dyn Write, tenants: &[RegisteredTenant]) -> std::io::Result<()> {
    let latest = TenantMigrator::latest_version();
    let mut current = 0;
    for tenant in tenants {
        let behind = match tenant.version.as_deref() {
            Some(v) => VERSIONS.iter().position(|n| *n == v).map(|i| VERSIONS.len() - 1 - i),
            None => Some(VERSIONS.len()),
        };
        if behind == Some(0) {
            current += 1;
        }
        // `behind` is null for a version this build does not know.
        let line = json!({
            "slug": tenant.slug, "schema": tenant.schema, "version": tenant.version,
            "current": behind == Some(0), "behind": behind,
        });
        writeln!(out, "{line}")?;
    }
    let summary = json!({
        "summary": true, "tenants": tenants.len(), "current": current,
        "behind": tenants.len() - current, "latest": latest,
    });
    writeln!(out, "{summary}")
}
