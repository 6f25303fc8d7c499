//! Per-tenant limits and quotas on the registry row: `NULL` means "the default in settings",
//! so a deployment changes every tenant's default by configuration and only exceptions are
//! stored.

use sea_orm_migration::prelude::*;

use super::{Tenants, schema};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

/// The new columns, named here so this migration never changes meaning.
#[derive(DeriveIden, Clone, Copy)]
enum Limits {
    /// Requests per second (token bucket refill rate), at least 1.
    RequestsPerSecond,
    /// Token bucket size, at least 1.
    Burst,
    /// Data-plane requests in flight at once on one instance, at least 1.
    MaxConcurrentRequests,
    /// Products the tenant may hold, at least 0.
    MaxProducts,
    /// Orders the tenant may hold, at least 0.
    MaxOrders,
}

/// Each column with the least value it may hold.
const COLUMNS: [(Limits, i64, bool); 5] = [
    (Limits::RequestsPerSecond, 1, false),
    (Limits::Burst, 1, false),
    (Limits::MaxConcurrentRequests, 1, false),
    (Limits::MaxProducts, 0, true),
    (Limits::MaxOrders, 0, true),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut alter = Table::alter();
        alter.table((schema(), Tenants::Table));
        for (column, least, big) in COLUMNS {
            let mut def = ColumnDef::new(column);
            if big {
                def.big_integer();
            } else {
                def.integer();
            }
            alter.add_column(def.null().check(Expr::col(column).gte(least)));
        }
        manager.alter_table(alter.to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut alter = Table::alter();
        alter.table((schema(), Tenants::Table));
        for (column, _, _) in COLUMNS {
            alter.drop_column(column);
        }
        manager.alter_table(alter.to_owned()).await
    }
}
