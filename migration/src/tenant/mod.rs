//! The tenant migration set: one tenant's products and orders, in that tenant's schema.

mod m20261127_000001_create_products;
mod m20261127_000002_create_orders;

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
}

/// Every tenant migration's name (a tenant's possible versions), oldest first.
pub const VERSIONS: &[&str] = &[m20261127_000001_create_products::NAME, m20261127_000002_create_orders::NAME];

impl MigratorTraitSelf for TenantMigrator {
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_products::Migration::new(self.schema.clone())),
            Box::new(m20261127_000002_create_orders::Migration::new(self.schema.clone())),
        ]
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
