//! Runs a migration set against one schema, safely for pools and concurrent deploys.
//!
//! sea-orm-migration keeps its ledger (`seaql_migrations`) in the first schema on
//! `search_path`. So each run opens a transaction, takes a transaction-level advisory lock for
//! the schema (two deploys never migrate the same schema at once), creates the schema if
//! needed, and pins `search_path` with `SET LOCAL` (undone at commit or rollback, so no session
//! state survives on a pooled connection). Each migration then runs as a savepoint.

use std::collections::BTreeSet;

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};
use sea_orm_migration::sea_query::{Expr, ExprTrait, Iden, Query};
use sea_orm_migration::{MigrationStatus, MigratorTraitSelf};

use crate::control::{ControlMigrator, Tenants};
use crate::tenant::TenantMigrator;
use crate::{CONTROL_SCHEMA, SchemaName};

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
    let before = applied(&ControlMigrator, txn).await?;
    ControlMigrator.up(txn, None).await?;
    let after = applied(&ControlMigrator, txn).await?;
    Ok(after.difference(&before).cloned().collect())
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
    let migrator = TenantMigrator::new(schema.clone());
    let before = applied(&migrator, txn).await?;
    match direction {
        Direction::Up(steps) => migrator.up(txn, steps).await?,
        Direction::Down(steps) => migrator.down(txn, steps).await?,
    }
    let after = applied(&migrator, txn).await?;
    let mut changed: Vec<String> = after.symmetric_difference(&before).cloned().collect();
    if matches!(direction, Direction::Down(_)) {
        changed.reverse();
    }
    let version = after.last().cloned();
    record_version(txn, schema, version.as_deref()).await?;
    Ok(TenantOutcome { changed, version })
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
    let migrations = migrator.get_migration_with_status_read_only(&txn).await?;
    txn.rollback().await?;
    Ok(migrations.iter().map(|m| (m.name().to_owned(), m.status() == MigrationStatus::Applied)).collect())
}

/// Serialises runs on one schema, creates it if needed and points `search_path` at it for the
/// rest of the transaction.
async fn pin(txn: &DatabaseTransaction, target: &Target<'_>) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtext('tenantry.migrate'), hashtext($1))",
        [target.name().into()],
    ))
    .await?;
    let quoted = target.quoted();
    txn.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {quoted}")).await?;
    txn.execute_unprepared(&format!("SET LOCAL search_path TO {quoted}")).await?;
    Ok(())
}

/// Names of the applied migrations, ordered as the set defines them (names sort by date).
async fn applied<M: MigratorTraitSelf>(
    migrator: &M,
    txn: &DatabaseTransaction,
) -> Result<BTreeSet<String>, DbErr> {
    Ok(migrator.get_applied_migrations(txn).await?.iter().map(|m| m.name().to_owned()).collect())
}

/// Stores `version` on the registry row for `schema`; a schema not in the registry (or a
/// registry not yet created) is left alone.
async fn record_version(
    txn: &DatabaseTransaction,
    schema: &SchemaName,
    version: Option<&str>,
) -> Result<(), DbErr> {
    let registry = format!("{}.{}", Target::Control.quoted(), Tenants::Table.to_string());
    let present = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT to_regclass($1) IS NOT NULL AS present",
            [registry.into()],
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "present"))
        .transpose()?
        .unwrap_or(false);
    if !present {
        return Ok(());
    }
    let update = Query::update()
        .table((CONTROL_SCHEMA, Tenants::Table))
        .value(Tenants::Version, version.map(str::to_owned))
        .value(Tenants::UpdatedAt, Expr::current_timestamp())
        .and_where(Expr::col(Tenants::SchemaName).eq(schema.as_str()))
        .and_where(Expr::cust_with_values("version IS DISTINCT FROM $1", [version.map(str::to_owned)]))
        .to_owned();
    txn.execute(&update).await?;
    Ok(())
}
