//! The control migration set: Tenantry's own tables in [`CONTROL_SCHEMA`].

mod m20261127_000001_create_tenants;
mod m20261127_000002_create_api_keys;
mod m20261201_000003_create_audit_log;
mod m20261205_000004_add_tenant_limits;
mod m20261206_000005_add_unlimited_limits;

use sea_orm_migration::{MigrationTrait, MigratorTraitSelf};

// Frozen identifiers: for the control migrations only; runtime code uses `tenantry_entity::tenant`.
pub(crate) use m20261127_000001_create_tenants::Tenants;

use tenantry_pg::CONTROL_SCHEMA;

/// Migrates the control schema. Run through [`crate::runner`], which pins `search_path` to
/// the control schema for the ledger.
#[derive(Clone, Copy, Debug, Default)]
pub struct ControlMigrator;

impl MigratorTraitSelf for ControlMigrator {
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tenants::Migration),
            Box::new(m20261127_000002_create_api_keys::Migration),
            Box::new(m20261201_000003_create_audit_log::Migration),
            Box::new(m20261205_000004_add_tenant_limits::Migration),
            Box::new(m20261206_000005_add_unlimited_limits::Migration),
        ]
    }
}

/// The control schema's name as a sea-query identifier.
pub(crate) fn schema() -> &'static str {
    CONTROL_SCHEMA
}
