//! A tenant's orders, each for one of the same tenant's products.

use sea_orm_migration::prelude::*;

use super::Ddl;
use super::m20261127_000001_create_products::Products;
use tenantry_pg::SchemaName;

/// This migration's name, also the tenant set's latest version.
pub(super) const NAME: &str = "m20261127_000002_create_orders";

pub(super) struct Migration {
    schema: SchemaName,
}

impl Migration {
    pub(super) fn new(schema: SchemaName) -> Self {
        Self { schema }
    }
}

impl MigrationName for Migration {
    fn name(&self) -> &str {
        NAME
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Id,
    ProductId,
    Quantity,
    TotalPrice,
    OrderDate,
}

impl Ddl for Migration {
    fn up_ddl(&self) -> Vec<String> {
        let table = (self.schema.clone(), Orders::Table);
        vec![
            Table::create()
                .table(table.clone())
                .col(ColumnDef::new(Orders::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Orders::ProductId).big_integer().not_null())
                .col(
                    ColumnDef::new(Orders::Quantity)
                        .integer()
                        .not_null()
                        .check(Expr::col(Orders::Quantity).gt(0)),
                )
                .col(ColumnDef::new(Orders::TotalPrice).decimal_len(12, 2).not_null())
                .col(
                    ColumnDef::new(Orders::OrderDate)
                        .timestamp_with_time_zone()
                        .not_null()
                        .default(Expr::current_timestamp()),
                )
                // Within the tenant's own schema only: no key ever crosses schemas.
                .foreign_key(
                    ForeignKey::create()
                        .name("orders_product_id_fkey")
                        .from(table.clone(), Orders::ProductId)
                        .to((self.schema.clone(), Products::Table), Products::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_string(PostgresQueryBuilder),
            Index::create()
                .name("orders_product_id_idx")
                .table(table)
                .col(Orders::ProductId)
                .to_string(PostgresQueryBuilder),
        ]
    }

    fn down_ddl(&self) -> Vec<String> {
        vec![Table::drop().table((self.schema.clone(), Orders::Table)).to_string(PostgresQueryBuilder)]
    }
}
