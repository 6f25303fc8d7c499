//! Runs a migration set against one schema, safely for pools and concurrent deploys.
//!
//! sea-orm-migration keeps its ledger (`seaql_migrations`) in the first schema on
//! `search_path`. So each run opens a transaction, takes a transaction-level advisory lock for
//! the schema (two deploys never migrate the same schema at once), creates the schema if it is
//! missing, and pins `search_path` with `SET LOCAL` (undone at commit or rollback, so no session
//! state survives on a pooled connection), all in one round trip.
//!
//! The migrations, their names and the ledger's table are sea-orm-migration's; the loop that
//! applies them, and the one reading of the ledger that it and `status` share
//! ([`read_ledger`]), are ours: sea-orm-migration's own `up`/`down` create the ledger table
//! (with a NOTICE) and re-read it several times per call, which a fleet of 10,000 tenants
//! pays per tenant (why it is kept, and what measuring showed: docs/DESIGN-NOTES.md). A run
//! is one transaction, so a failing migration leaves its tenant exactly as it was, ledger
//! included.

use std::collections::HashSet;

use sea_orm_migration::sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, QueryFilter, Statement, TransactionTrait,
};
use sea_orm_migration::sea_query::Expr;
use sea_orm_migration::{MigrationTrait, MigratorTraitSelf, SchemaManager, seaql_migrations};

use crate::control::ControlMigrator;
use crate::tenant::TenantMigrator;
use tenantry_entity::tenant as registry;
use tenantry_pg::{CONTROL_SCHEMA, SchemaName};

/// Which way to migrate, and how many steps (`None`: all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Apply pending migrations.
    Up(Option<u32>),
    /// Roll back applied migrations, newest first.
    Down(Option<u32>),
}

/// What a run did to one tenant's schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantOutcome {
    /// Migrations applied or rolled back by this run, in the order they ran.
    pub changed: Vec<String>,
    /// The tenant's version afterwards: the newest applied migration, if any.
    pub version: Option<String>,
}

/// Where a run's ledger lives: the control schema, or one tenant's schema.
enum Target<'a> {
    Control,
    Tenant(&'a SchemaName),
}

impl Target<'_> {
    fn name(&self) -> &str {
        match self {
            Target::Control => CONTROL_SCHEMA,
            Target::Tenant(schema) => schema.as_str(),
        }
    }

    /// The quoted identifier. The control name is a constant within the same grammar as
    /// [`SchemaName`] (`SchemaName::parse` refuses it only as reserved, after every grammar
    /// rule, as its `reserved_names_are_rejected` test shows), so neither can escape its quotes.
    fn quoted(&self) -> String {
        format!("\"{}\"", self.name())
    }

    /// The name as a string literal, safe for the same reason: the grammar has no `'`.
    fn literal(&self) -> String {
        format!("'{}'", self.name())
    }
}

/// Brings the control schema (the tenant registry) up to date. Idempotent.
pub async fn migrate_control(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let txn = db.begin().await?;
    let applied = migrate_control_in(&txn).await?;
    txn.commit().await?;
    Ok(applied)
}

/// Brings the control schema up to date inside the caller's transaction. Leaves `search_path`
/// pinned to the control schema until the transaction ends.
pub async fn migrate_control_in(txn: &DatabaseTransaction) -> Result<Vec<String>, DbErr> {
    pin(txn, &Target::Control).await?;
    Ok(run(&ControlMigrator, txn, Direction::Up(None)).await?.0)
}

/// Migrates one tenant's schema in its own transaction, creating the schema if it is missing.
pub async fn migrate_tenant(
    db: &DatabaseConnection,
    schema: &SchemaName,
    direction: Direction,
) -> Result<TenantOutcome, DbErr> {
    let txn = db.begin().await?;
    let outcome = migrate_tenant_in(&txn, schema, direction).await?;
    txn.commit().await?;
    Ok(outcome)
}

/// Migrates one tenant's schema inside the caller's transaction (provisioning uses this to
/// create the registry row, the schema and its tables atomically). Records the resulting
/// version on the tenant's registry row, if it has one. Leaves `search_path` pinned to the
/// tenant until the transaction ends.
pub async fn migrate_tenant_in(
    txn: &DatabaseTransaction,
    schema: &SchemaName,
    direction: Direction,
) -> Result<TenantOutcome, DbErr> {
    pin(txn, &Target::Tenant(schema)).await?;
    let (changed, version) = run(&TenantMigrator::new(schema.clone()), txn, direction).await?;
    record_version(txn, schema, version.as_deref()).await?;
    Ok(TenantOutcome { changed, version })
}

/// Applies (or rolls back) `direction`'s migrations of `migrator` in `txn`, recording each in
/// the ledger of the pinned schema. Returns the migrations it ran, in order, and the newest
/// applied migration afterwards.
async fn run<M: MigratorTraitSelf>(
    migrator: &M,
    txn: &DatabaseTransaction,
    direction: Direction,
) -> Result<(Vec<String>, Option<String>), DbErr> {
    migrator.install(txn).await?;
    let migrations = migrator.migrations();
    let mut applied = read_ledger(&migrations, txn).await?;
    let manager = SchemaManager::new(txn);
    let mut changed = Vec::new();
    match direction {
        Direction::Up(steps) => {
            let pending: Vec<usize> = (0..migrations.len()).filter(|&i| !applied[i]).collect();
            for i in pending.into_iter().take(steps.map_or(usize::MAX, |s| s as usize)) {
                migrations[i].up(&manager).await?;
                let row = seaql_migrations::ActiveModel {
                    version: Set(migrations[i].name().to_owned()),
                    applied_at: Set(unix_now()),
                };
                seaql_migrations::Entity::insert(row).exec_without_returning(txn).await?;
                applied[i] = true;
                changed.push(migrations[i].name().to_owned());
            }
        }
        Direction::Down(steps) => {
            let done: Vec<usize> = (0..migrations.len()).rev().filter(|&i| applied[i]).collect();
            for i in done.into_iter().take(steps.map_or(usize::MAX, |s| s as usize)) {
                migrations[i].down(&manager).await?;
                seaql_migrations::Entity::delete_by_id(migrations[i].name().to_owned()).exec(txn).await?;
                applied[i] = false;
                changed.push(migrations[i].name().to_owned());
            }
        }
    }
    let version = (0..migrations.len()).rev().find(|&i| applied[i]).map(|i| migrations[i].name().to_owned());
    Ok((changed, version))
}

/// The one reading of a pinned schema's ledger: whether each of `migrations` is applied, in
/// their order. A ledger that records a migration this build does not know is refused: it is
/// newer than this build, or the migration was removed, and either way nothing can be assumed.
async fn read_ledger(
    migrations: &[Box<dyn MigrationTrait>],
    conn: &impl ConnectionTrait,
) -> Result<Vec<bool>, DbErr> {
    let recorded: HashSet<String> =
        seaql_migrations::Entity::find().all(conn).await?.into_iter().map(|m| m.version).collect();
    let known: HashSet<&str> = migrations.iter().map(|m| m.name()).collect();
    if let Some(unknown) = recorded.iter().find(|v| !known.contains(v.as_str())) {
        return Err(DbErr::Custom(format!(
            "the ledger records migration {unknown}, which this build does not know: it is newer than \
             this build, or was removed"
        )));
    }
    Ok(migrations.iter().map(|m| recorded.contains(m.name())).collect())
}

/// Seconds since the Unix epoch, as the ledger records them.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Each control migration's name, oldest first, with whether it is applied. Read-only.
pub async fn control_status(db: &DatabaseConnection) -> Result<Vec<(String, bool)>, DbErr> {
    status_of(db, &Target::Control, &ControlMigrator).await
}

/// Each tenant migration's name, oldest first, with whether it is applied to `schema`.
/// Read-only: creates neither the schema nor the ledger.
pub async fn tenant_status(
    db: &DatabaseConnection,
    schema: &SchemaName,
) -> Result<Vec<(String, bool)>, DbErr> {
    status_of(db, &Target::Tenant(schema), &TenantMigrator::new(schema.clone())).await
}

async fn status_of<M: MigratorTraitSelf>(
    db: &DatabaseConnection,
    target: &Target<'_>,
    migrator: &M,
) -> Result<Vec<(String, bool)>, DbErr> {
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SET LOCAL search_path TO {}", target.quoted())).await?;
    let migrations = migrator.migrations();
    // Read-only: a schema without a ledger has nothing applied, and gets no ledger from this.
    let has_ledger = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT to_regclass('seaql_migrations') IS NOT NULL AS present",
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "present"))
        .transpose()?
        .unwrap_or(false);
    let applied =
        if has_ledger { read_ledger(&migrations, &txn).await? } else { vec![false; migrations.len()] };
    txn.rollback().await?;
    Ok(migrations.iter().zip(applied).map(|(m, applied)| (m.name().to_owned(), applied)).collect())
}

/// Serialises runs on one schema, creates it if it is missing and points `search_path` at it
/// for the rest of the transaction: one simple-protocol message, one round trip.
///
/// Two Citus rules (schema-based sharding, found on Citus 13.2): a schema is created only when
/// `to_regnamespace` finds none, never by `CREATE SCHEMA IF NOT EXISTS`, which registers an
/// existing regular schema as distributed while its tables stay local; and the control schema
/// is created with `citus.enable_schema_based_sharding` off for the transaction, so the
/// registry stays on the coordinator. Where Citus is not loaded, Postgres takes that dotted
/// setting as a placeholder, which `SET LOCAL` drops at the transaction's end.
async fn pin(txn: &DatabaseTransaction, target: &Target<'_>) -> Result<(), DbErr> {
    let (quoted, literal) = (target.quoted(), target.literal());
    let sharding = match target {
        Target::Control => "SET LOCAL citus.enable_schema_based_sharding = off; ",
        Target::Tenant(_) => "",
    };
    txn.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock(hashtext('tenantry.migrate'), hashtext({literal})); {sharding}\
         DO $$ BEGIN IF to_regnamespace({literal}) IS NULL THEN CREATE SCHEMA {quoted}; END IF; END $$; \
         SET LOCAL search_path TO {quoted}"
    ))
    .await?;
    Ok(())
}

/// Stores `version` on the registry row for `schema`; a schema not in the registry (or a
/// registry not yet created) is left alone.
async fn record_version(
    txn: &DatabaseTransaction,
    schema: &SchemaName,
    version: Option<&str>,
) -> Result<(), DbErr> {
    if !crate::fleet::registry_exists(txn).await? {
        return Ok(());
    }
    let version = version.map(str::to_owned);
    registry::Entity::update_many()
        .col_expr(registry::Column::Version, Expr::value(version.clone()))
        .col_expr(registry::Column::UpdatedAt, Expr::current_timestamp())
        .filter(registry::Column::SchemaName.eq(schema.as_str()))
        .filter(Expr::cust_with_values("version IS DISTINCT FROM $1", [version]))
        .exec(txn)
        .await?;
    Ok(())
}
