//! Migrating every registered tenant: what operators run on deploy.
//!
//! The registry records each tenant's version, so a run first reads the registry in one query
//! and touches only the tenants that are behind. Tenants migrate in batches of a few
//! ([`FleetOptions::batch`], never the whole fleet in one: lock table limits), one transaction
//! per batch with each tenant in a savepoint of its own, so a tenant that fails is rolled back
//! alone and its batch goes on; `jobs` batches at a time. A batch takes the audit log's lock
//! and flushes its commit once for all its tenants (see [`crate::batched`]).
//!
//! Only registered tenants are migrated, and each migration commits only if its tenant's
//! registry row still exists at the end of the transaction, locked so that it cannot be deleted
//! before the commit: a migration never creates a schema that no registry row owns (an orphan),
//! even when the tenant is deleted while the run is under way.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, stream};
use sea_orm_migration::sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityName, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use tenantry_entity::tenant as registry;

use crate::batched::{self, Planned, Ran};
use crate::runner::{Direction, TenantOutcome};
use crate::tenant::TenantMigrator;
use tenantry_pg::{CONTROL_SCHEMA, SchemaName};

/// One row of the registry, as far as migrations care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredTenant {
    /// The tenant's registry id.
    pub id: i64,
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
    /// Deleted from the registry while the run was under way: nothing was done.
    Deleted,
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

    /// How many tenants were deleted while the run was under way.
    pub fn deleted(&self) -> usize {
        self.entries.iter().filter(|e| e.result == TenantResult::Deleted).count()
    }

    /// Whether every tenant ended current.
    pub fn succeeded(&self) -> bool {
        let (_, _, failed, skipped) = self.counts();
        failed == 0 && skipped == 0
    }
}

/// Tenants per transaction unless told otherwise: the audit log's lock and the commit's flush
/// are paid once per batch, and a batch holds its tenants' tables locked until it commits.
pub const DEFAULT_BATCH: usize = 8;

/// Options of a fleet run.
#[derive(Clone, Copy, Debug)]
pub struct FleetOptions<'a> {
    /// Batches migrated at once (at least 1).
    pub jobs: usize,
    /// Tenants per transaction, each in a savepoint of its own (at least 1).
    pub batch: usize,
    /// Keep going after a tenant fails (otherwise the remaining tenants are skipped).
    pub continue_on_error: bool,
    /// Who runs it, as the audit log records it (e.g. `cli:alice`).
    pub actor: &'a str,
}

/// How an operator names one tenant.
#[derive(Clone, Copy, Debug)]
pub enum TenantRef<'a> {
    /// By its slug.
    Slug(&'a str),
    /// By its schema.
    Schema(&'a SchemaName),
}

impl std::fmt::Display for TenantRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TenantRef::Slug(slug) => write!(f, "tenant {slug:?}"),
            TenantRef::Schema(schema) => write!(f, "schema {:?}", schema.as_str()),
        }
    }
}

impl From<registry::Model> for RegisteredTenant {
    fn from(m: registry::Model) -> Self {
        Self { id: m.id, slug: m.slug, schema: m.schema_name, version: m.version }
    }
}

/// Every registered tenant with its recorded version, in slug order: one query.
pub async fn registered_tenants(db: &DatabaseConnection) -> Result<Vec<RegisteredTenant>, DbErr> {
    let rows = registry::Entity::find().order_by_asc(registry::Column::Slug).all(db).await?;
    Ok(rows.into_iter().map(RegisteredTenant::from).collect())
}

/// Whether the registry table exists (it does once `migration control up` has run).
pub async fn registry_exists(conn: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT to_regclass($1) IS NOT NULL AS present",
            [format!("\"{CONTROL_SCHEMA}\".\"{}\"", registry::Entity.table_name()).into()],
        ))
        .await?;
    row.map_or(Ok(false), |row| row.try_get("", "present"))
}

/// The registered tenant `which` names, if any (none either when the registry does not exist).
/// With `lock`, its row is locked (`FOR SHARE`) until the caller's transaction ends, so it
/// cannot be deleted meanwhile.
pub async fn find_tenant(
    conn: &impl ConnectionTrait,
    which: TenantRef<'_>,
    lock: bool,
) -> Result<Option<RegisteredTenant>, DbErr> {
    if !registry_exists(conn).await? {
        return Ok(None);
    }
    let mut select = match which {
        TenantRef::Slug(slug) => registry::Entity::find().filter(registry::Column::Slug.eq(slug)),
        TenantRef::Schema(schema) => {
            registry::Entity::find().filter(registry::Column::SchemaName.eq(schema.as_str()))
        }
    };
    if lock {
        select = select.lock_shared();
    }
    Ok(select.one(conn).await?.map(RegisteredTenant::from))
}

/// Migrates the tenant whose schema is `schema` in its own transaction, creating the schema if
/// missing, and commits only if the tenant is still registered at the end (checked with its row
/// locked, so a concurrent delete waits for the commit). A run that applied or rolled back
/// migrations is recorded in the audit log as `tenant.migrate` by `actor`, in the same
/// transaction. `None`: not registered, nothing done (the transaction, `CREATE SCHEMA`
/// included, is rolled back).
pub async fn migrate_registered(
    db: &DatabaseConnection,
    schema: &SchemaName,
    direction: Direction,
    actor: &str,
) -> Result<Option<TenantOutcome>, DbErr> {
    // The row is locked after the tenant's advisory lock, never before: the other order would
    // let two runs on one tenant deadlock (each holding the row, one waiting for the other's
    // advisory lock, the other for the row to record its version). `batched` keeps it so.
    batched::migrate_registered(db, schema, direction, actor).await
}

/// Brings every registered tenant up to the latest version: one registry query, then only the
/// tenants it shows behind. `on_done` is called once per tenant as soon as its result is known
/// (for progress output).
pub async fn migrate_fleet(
    db: &DatabaseConnection,
    options: FleetOptions<'_>,
    on_done: &(dyn Fn(&FleetEntry) + Sync),
) -> Result<FleetReport, DbErr> {
    Ok(migrate_tenants(db, registered_tenants(db).await?, options, on_done).await)
}

/// Brings `tenants` (as [`registered_tenants`] read them) up to the latest version.
pub async fn migrate_tenants(
    db: &DatabaseConnection,
    tenants: Vec<RegisteredTenant>,
    options: FleetOptions<'_>,
    on_done: &(dyn Fn(&FleetEntry) + Sync),
) -> FleetReport {
    migrate_tenants_to(db, tenants, Direction::Up(None), options, on_done).await
}

/// Migrates `tenants` (as [`registered_tenants`] read them) `direction`: in batches of
/// `options.batch`, `options.jobs` batches at once. Up to the latest version, the tenants the
/// registry shows current are not touched.
pub async fn migrate_tenants_to(
    db: &DatabaseConnection,
    tenants: Vec<RegisteredTenant>,
    direction: Direction,
    options: FleetOptions<'_>,
    on_done: &(dyn Fn(&FleetEntry) + Sync),
) -> FleetReport {
    let latest = TenantMigrator::latest_version();
    let (current, behind): (Vec<_>, Vec<_>) = tenants
        .into_iter()
        .partition(|t| direction == Direction::Up(None) && t.version.as_deref() == Some(latest));
    let mut entries: Vec<FleetEntry> = current
        .into_iter()
        .map(|t| {
            let entry = FleetEntry { slug: t.slug, schema: t.schema, result: TenantResult::AlreadyCurrent };
            on_done(&entry);
            entry
        })
        .collect();
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let batches: Vec<Vec<RegisteredTenant>> =
        behind.chunks(options.batch.max(1)).map(<[_]>::to_vec).collect();
    let migrated: Vec<Vec<FleetEntry>> = stream::iter(batches)
        .map(|batch| async move {
            let results = if stop.load(Ordering::Acquire) {
                batch.iter().map(|_| TenantResult::Skipped).collect()
            } else {
                let results = migrate_some(db, &batch, direction, options).await;
                if !options.continue_on_error && results.iter().any(|r| matches!(r, TenantResult::Failed(_)))
                {
                    stop.store(true, Ordering::Release);
                }
                results
            };
            let entries: Vec<FleetEntry> = batch
                .into_iter()
                .zip(results)
                .map(|(t, result)| FleetEntry { slug: t.slug, schema: t.schema, result })
                .collect();
            entries.iter().for_each(on_done);
            entries
        })
        .buffer_unordered(options.jobs.max(1))
        .collect()
        .await;
    entries.extend(migrated.into_iter().flatten());
    entries.sort_by(|a, b| a.slug.cmp(&b.slug));
    FleetReport { entries }
}

/// One batch: a tenant whose stored schema name does not parse fails alone, the others share
/// a transaction.
async fn migrate_some(
    db: &DatabaseConnection,
    batch: &[RegisteredTenant],
    direction: Direction,
    options: FleetOptions<'_>,
) -> Vec<TenantResult> {
    let parsed: Vec<Result<SchemaName, String>> = batch
        .iter()
        .map(|t| {
            SchemaName::parse(&t.schema).map_err(|e| format!("invalid schema name in the registry: {e}"))
        })
        .collect();
    let planned: Vec<Planned> = batch
        .iter()
        .zip(&parsed)
        .filter_map(|(t, p)| {
            Some(Planned { schema: p.as_ref().ok()?.clone(), recorded: Some(t.version.clone()) })
        })
        .collect();
    let mut ran = batched::migrate_batch(db, &planned, direction, options.actor, !options.continue_on_error)
        .await
        .into_iter();
    parsed
        .into_iter()
        .map(|p| match p {
            Err(e) => TenantResult::Failed(e),
            Ok(_) => match ran.next() {
                Some(Ran::Done(outcome)) => {
                    TenantResult::Migrated { applied: outcome.changed, version: outcome.version }
                }
                Some(Ran::NotRegistered) => TenantResult::Deleted,
                Some(Ran::Failed(e)) => TenantResult::Failed(e.to_string()),
                Some(Ran::NotRun) | None => TenantResult::Skipped,
            },
        })
        .collect()
}
