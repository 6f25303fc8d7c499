//! API keys: each bound to one tenant, stored only as a hash.

use sea_orm_migration::prelude::*;

use super::schema;
use crate::control::Tenants;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

/// The key table and its columns, named here so this migration never changes meaning.
#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    /// The key's first characters, shown in listings so a key can be recognised.
    Prefix,
    /// SHA-256 of the whole key; the key itself is never stored.
    Hash,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = (schema(), ApiKeys::Table);
        manager
            .create_table(
                Table::create()
                    .table(table)
                    .col(ColumnDef::new(ApiKeys::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(ApiKeys::TenantId).big_integer().not_null())
                    .col(ColumnDef::new(ApiKeys::Prefix).text().not_null())
                    .col(ColumnDef::new(ApiKeys::Hash).binary().not_null().unique_key())
                    .col(
                        ColumnDef::new(ApiKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .col(ColumnDef::new(ApiKeys::RevokedAt).timestamp_with_time_zone().null())
                    // Within the control schema: deleting a tenant deletes its keys.
                    .foreign_key(
                        ForeignKey::create()
                            .name("api_keys_tenant_id_fkey")
                            .from((schema(), ApiKeys::Table), ApiKeys::TenantId)
                            .to((schema(), Tenants::Table), Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("api_keys_tenant_id_idx")
                    .table((schema(), ApiKeys::Table))
                    .col(ApiKeys::TenantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table((schema(), ApiKeys::Table)).to_owned()).await
    }
}
