//! A tenant's limit can be lifted whatever the default: one `_unlimited` flag per limit that
//! may be unlimited (all but the burst, which is a token bucket's size). A limit is then one
//! of three things, told apart by its two columns: the default (`NULL`, false), unlimited
//! (`NULL`, true) or a value (the value, false); a check forbids a value with the flag set.

use sea_orm_migration::prelude::*;

use super::{Tenants, schema};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

/// The limit columns (added by the previous migration) and the new flags, named here so this
/// migration never changes meaning.
#[derive(DeriveIden, Clone, Copy)]
enum Limits {
    RequestsPerSecond,
    RequestsPerSecondUnlimited,
    MaxConcurrentRequests,
    MaxConcurrentRequestsUnlimited,
    MaxProducts,
    MaxProductsUnlimited,
    MaxOrders,
    MaxOrdersUnlimited,
}

/// Each limit that may be unlimited, with its flag.
const FLAGS: [(Limits, Limits); 4] = [
    (Limits::RequestsPerSecond, Limits::RequestsPerSecondUnlimited),
    (Limits::MaxConcurrentRequests, Limits::MaxConcurrentRequestsUnlimited),
    (Limits::MaxProducts, Limits::MaxProductsUnlimited),
    (Limits::MaxOrders, Limits::MaxOrdersUnlimited),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut alter = Table::alter();
        alter.table((schema(), Tenants::Table));
        for (limit, flag) in FLAGS {
            // Existing rows keep their meaning: no flag set, so NULL stays "the default".
            let only_without_a_value = Expr::col(flag).not().or(Expr::col(limit).is_null());
            alter.add_column(
                ColumnDef::new(flag).boolean().not_null().default(false).check(only_without_a_value),
            );
        }
        manager.alter_table(alter.to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut alter = Table::alter();
        alter.table((schema(), Tenants::Table));
        for (_, flag) in FLAGS {
            alter.drop_column(flag);
        }
        manager.alter_table(alter.to_owned()).await
    }
}
