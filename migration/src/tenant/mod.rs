//! The tenant migration set: one tenant's products and orders, in that tenant's schema.

mod m20261127_000001_create_products;
mod m20261127_000002_create_orders;

use sea_orm_migration::prelude::{ConnectionTrait, DbErr, MigrationName, SchemaManager};
use sea_orm_migration::{MigrationTrait, MigratorTraitSelf};

use tenantry_pg::SchemaName;

/// Migrates one tenant's schema. Every migration it hands out qualifies its tables with that
/// schema, so the same set serves every tenant without code per tenant.
#[derive(Clone, Debug)]
pub struct TenantMigrator {
    schema: SchemaName,
}

impl TenantMigrator {
    /// A migrator for the tenant whose tables live in `schema`.
    pub fn new(schema: SchemaName) -> Self {
        Self { schema }
    }

    /// The name of the newest migration in this set: the version of a fully migrated tenant.
    pub fn latest_version() -> &'static str {
        VERSIONS[VERSIONS.len() - 1]
    }

    /// The statements the migration named `name` sends for this tenant, up or down, exactly as
    /// the runner sends them (the fleet benchmark replays them as its floor). `None`: no such
    /// migration.
    pub fn ddl(&self, name: &str, up: bool) -> Option<Vec<String>> {
        let ddl = self.ddls().into_iter().find(|m| m.name() == name)?;
        Some(if up { ddl.up_ddl() } else { ddl.down_ddl() })
    }

    fn ddls(&self) -> Vec<Box<dyn Ddl>> {
        vec![
            Box::new(m20261127_000001_create_products::Migration::new(self.schema.clone())),
            Box::new(m20261127_000002_create_orders::Migration::new(self.schema.clone())),
        ]
    }
}

/// A tenant migration that is DDL alone, rendered to text: [`ByDdl`] sends each direction's
/// statements in one simple-protocol message. Through `SchemaManager`, each statement would
/// be prepared under its own name (its text names the tenant's schema, so it is never reused)
/// and cost a round trip to prepare, one to run, and one to evict from the statement cache.
pub(crate) trait Ddl: MigrationName + Send + Sync {
    /// The statements that apply the migration, in order.
    fn up_ddl(&self) -> Vec<String>;
    /// The statements that roll it back, in order.
    fn down_ddl(&self) -> Vec<String>;
}

/// A [`Ddl`] as a sea-orm-migration migration.
struct ByDdl(Box<dyn Ddl>);

impl MigrationName for ByDdl {
    fn name(&self) -> &str {
        self.0.name()
    }
}

#[sea_orm_migration::prelude::async_trait::async_trait]
impl MigrationTrait for ByDdl {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        send(manager, self.0.up_ddl()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        send(manager, self.0.down_ddl()).await
    }
}

/// One message, one round trip; inside the caller's transaction, so a failing statement
/// rolls back with the rest.
async fn send(manager: &SchemaManager<'_>, statements: Vec<String>) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(&statements.join("; ")).await.map(|_| ())
}

/// Every tenant migration's name (a tenant's possible versions), oldest first.
pub const VERSIONS: &[&str] = &[m20261127_000001_create_products::NAME, m20261127_000002_create_orders::NAME];

impl MigratorTraitSelf for TenantMigrator {
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        self.ddls().into_iter().map(|ddl| Box::new(ByDdl(ddl)) as Box<dyn MigrationTrait>).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_list_every_migration_in_order() {
        let migrator = TenantMigrator::new(SchemaName::parse("tenant_x").expect("valid"));
        let names: Vec<String> = migrator.migrations().iter().map(|m| m.name().to_owned()).collect();
        assert_eq!(names, VERSIONS);
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, names, "names must sort in the order the migrations run");
    }
}
