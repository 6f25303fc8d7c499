//! Migrating every registered tenant: what operators run on deploy.
//!
//! The registry records each tenant's version, so a run first reads the registry in one query
//! and touches only the tenants that are behind. Each tenant migrates in its own transaction
//! (never the whole fleet in one: lock table limits), with bounded parallelism.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, stream};
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use sea_orm_migration::sea_query::{Order, Query};

use crate::control::Tenants;
use crate::runner::{Direction, migrate_tenant};
use crate::tenant::TenantMigrator;
use crate::{CONTROL_SCHEMA, SchemaName};

/// One row of the registry, as far as migrations care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredTenant {
    /// The tenant's slug.
    pub slug: String,
    /// The schema name as stored; parsed before any use.
    pub schema: String,
    /// The recorded version (newest applied migration).
    pub version: Option<String>,
}

/// What happened to one tenant in a fleet run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantResult {
    /// Migrations were applied; the tenant is now at `version`.
    Migrated {
        /// The migrations applied, oldest first.
        applied: Vec<String>,
        /// The version afterwards.
        version: Option<String>,
    },
    /// The registry already showed the latest version: nothing was run.
    AlreadyCurrent,
    /// The tenant's migration failed and was rolled back.
    Failed(String),
    /// Not attempted, because an earlier tenant failed without `--continue-on-error`.
    Skipped,
}

/// One tenant's line in a fleet report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetEntry {
    /// The tenant's slug.
    pub slug: String,
    /// The tenant's schema as stored in the registry.
    pub schema: String,
    /// What happened.
    pub result: TenantResult,
}

/// The outcome of a fleet run, one entry per registered tenant, in slug order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetReport {
    /// Per-tenant results.
    pub entries: Vec<FleetEntry>,
}

impl FleetReport {
    /// How many tenants ended in each state: (migrated, already current, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let count = |f: fn(&TenantResult) -> bool| self.entries.iter().filter(|e| f(&e.result)).count();
        (
            count(|r| matches!(r, TenantResult::Migrated { .. })),
            count(|r| matches!(r, TenantResult::AlreadyCurrent)),
            count(|r| matches!(r, TenantResult::Failed(_))),
            count(|r| matches!(r, TenantResult::Skipped)),
        )
    }

    /// Whether every tenant ended current.
    pub fn succeeded(&self) -> bool {
        let (_, _, failed, skipped) = self.counts();
        failed == 0 && skipped == 0
    }
}

/// Options of a fleet `up` run.
#[derive(Clone, Copy, Debug)]
pub struct FleetOptions {
    /// Tenants migrated at once (at least 1).
    pub jobs: usize,
    /// Keep going after a tenant fails (otherwise the remaining tenants are skipped).
    pub continue_on_error: bool,
}

/// Every registered tenant with its recorded version, in slug order: one query.
pub async fn registered_tenants(db: &DatabaseConnection) -> Result<Vec<RegisteredTenant>, DbErr> {
    let select = Query::select()
        .columns([Tenants::Slug, Tenants::SchemaName, Tenants::Version])
        .from((CONTROL_SCHEMA, Tenants::Table))
        .order_by(Tenants::Slug, Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            Ok(RegisteredTenant {
                slug: row.try_get("", "slug")?,
                schema: row.try_get("", "schema_name")?,
                version: row.try_get("", "version")?,
            })
        })
        .collect()
}

/// Brings every registered tenant up to the latest version. `on_done` is called once per
/// tenant as soon as its result is known (for progress output).
pub async fn migrate_fleet(
    db: &DatabaseConnection,
    options: FleetOptions,
    on_done: &(dyn Fn(&FleetEntry) + Sync),
) -> Result<FleetReport, DbErr> {
    let tenants = registered_tenants(db).await?;
    let latest = TenantMigrator::latest_version();
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let mut entries: Vec<FleetEntry> = stream::iter(tenants)
        .map(|tenant| async move {
            let result = if tenant.version.as_deref() == Some(latest) {
                TenantResult::AlreadyCurrent
            } else if stop.load(Ordering::Acquire) {
                TenantResult::Skipped
            } else {
                let result = migrate_one(db, &tenant.schema).await;
                if matches!(result, TenantResult::Failed(_)) && !options.continue_on_error {
                    stop.store(true, Ordering::Release);
                }
                result
            };
            let entry = FleetEntry { slug: tenant.slug, schema: tenant.schema, result };
            on_done(&entry);
            entry
        })
        .buffer_unordered(options.jobs.max(1))
        .collect()
        .await;
    entries.sort_by(|a, b| a.slug.cmp(&b.slug));
    Ok(FleetReport { entries })
}

async fn migrate_one(db: &DatabaseConnection, schema: &str) -> TenantResult {
    let schema = match SchemaName::parse(schema) {
        Ok(schema) => schema,
        Err(e) => return TenantResult::Failed(format!("invalid schema name in the registry: {e}")),
    };
    match migrate_tenant(db, &schema, Direction::Up(None)).await {
        Ok(outcome) => TenantResult::Migrated { applied: outcome.changed, version: outcome.version },
        Err(e) => TenantResult::Failed(e.to_string()),
    }
}
