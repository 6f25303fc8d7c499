//! The audit log: one row per control-plane change, each hashed over its content and the
//! previous row's hash, so a row changed behind the service's back breaks the chain.

use sea_orm_migration::prelude::*;

use super::schema;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

/// The audit table and its columns, named here so this migration never changes meaning.
#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    /// Chain order: entries are hashed and verified in id order.
    Id,
    At,
    Action,
    /// No foreign key: entries outlive the tenant they name.
    TenantId,
    TenantSlug,
    Actor,
    RequestId,
    Outcome,
    /// The change as JSON text (text, not jsonb, so the hashed bytes are the stored bytes).
    Change,
    PrevHash,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = (schema(), AuditLog::Table);
        manager
            .create_table(
                Table::create()
                    .table(table)
                    .col(ColumnDef::new(AuditLog::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(AuditLog::At).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(AuditLog::Action).text().not_null())
                    .col(ColumnDef::new(AuditLog::TenantId).big_integer().null())
                    .col(ColumnDef::new(AuditLog::TenantSlug).text().null())
                    .col(ColumnDef::new(AuditLog::Actor).text().not_null())
                    .col(ColumnDef::new(AuditLog::RequestId).text().null())
                    .col(ColumnDef::new(AuditLog::Outcome).text().not_null())
                    .col(ColumnDef::new(AuditLog::Change).text().not_null())
                    .col(ColumnDef::new(AuditLog::PrevHash).text().not_null())
                    .col(ColumnDef::new(AuditLog::Hash).text().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in
            [("audit_log_tenant_id_idx", AuditLog::TenantId), ("audit_log_at_idx", AuditLog::At)]
        {
            manager
                .create_index(
                    Index::create().name(name).table((schema(), AuditLog::Table)).col(column).to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table((schema(), AuditLog::Table)).to_owned()).await
    }
}
