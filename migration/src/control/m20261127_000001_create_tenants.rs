//! The tenant registry.

use sea_orm_migration::prelude::*;

use super::schema;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

/// The registry table and its columns, named here so this migration never changes meaning.
#[derive(DeriveIden, Clone, Copy)]
pub enum Tenants {
    /// `tenants`
    Table,
    /// Surrogate key.
    Id,
    /// The tenant's public identifier, `[a-z][a-z0-9_]{0,39}`.
    Slug,
    /// The tenant's Postgres schema, derived from the slug.
    SchemaName,
    /// Display name.
    Name,
    /// `active` or `suspended`.
    State,
    /// Name of the last tenant migration applied, `NULL` before the first.
    Version,
    /// Creation time.
    CreatedAt,
    /// Last change of any column.
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table((schema(), Tenants::Table))
                    .col(ColumnDef::new(Tenants::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Tenants::Slug).text().not_null().unique_key())
                    .col(ColumnDef::new(Tenants::SchemaName).text().not_null().unique_key())
                    .col(ColumnDef::new(Tenants::Name).text().not_null())
                    .col(
                        ColumnDef::new(Tenants::State)
                            .text()
                            .not_null()
                            .default("active")
                            .check(Expr::col(Tenants::State).is_in(["active", "suspended"])),
                    )
                    .col(ColumnDef::new(Tenants::Version).text().null())
                    .col(
                        ColumnDef::new(Tenants::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .col(
                        ColumnDef::new(Tenants::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table((schema(), Tenants::Table)).to_owned()).await
    }
}
