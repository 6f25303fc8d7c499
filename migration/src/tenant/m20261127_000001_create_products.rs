//! A tenant's products.

use sea_orm_migration::prelude::*;

use super::Ddl;
use tenantry_pg::SchemaName;

/// This migration's name.
pub(super) const NAME: &str = "m20261127_000001_create_products";

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

/// The products table and its columns, named here so this migration never changes meaning.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Products {
    Table,
    Id,
    Name,
    Description,
    Price,
    CreatedAt,
}

impl Ddl for Migration {
    fn up_ddl(&self) -> Vec<String> {
        let table = (self.schema.clone(), Products::Table);
        vec![
            Table::create()
                .table(table.clone())
                .col(ColumnDef::new(Products::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Products::Name).text().not_null())
                .col(ColumnDef::new(Products::Description).text().null())
                .col(
                    ColumnDef::new(Products::Price)
                        .decimal_len(12, 2)
                        .not_null()
                        .check(Expr::col(Products::Price).gte(0)),
                )
                .col(
                    ColumnDef::new(Products::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null()
                        .default(Expr::current_timestamp()),
                )
                .to_string(PostgresQueryBuilder),
            Index::create()
                .name("products_name_idx")
                .table(table)
                .col(Products::Name)
                .to_string(PostgresQueryBuilder),
        ]
    }

    fn down_ddl(&self) -> Vec<String> {
        vec![Table::drop().table((self.schema.clone(), Products::Table)).to_string(PostgresQueryBuilder)]
    }
}
