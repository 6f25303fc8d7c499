//! API keys (`tenantry.api_keys`, in the control schema): each bound to one tenant.

use sea_orm::entity::prelude::*;

/// One issued key. The secret itself is never stored: only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "tenantry", table_name = "api_keys")]
pub struct Model {
    /// Surrogate key, shown to clients to name a key (e.g. to revoke it).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The tenant this key opens.
    pub tenant_id: i64,
    /// The key's first characters, for recognising it in listings.
    pub prefix: String,
    /// SHA-256 of the whole key.
    #[sea_orm(unique)]
    pub hash: Vec<u8>,
    /// When the key was issued.
    pub created_at: DateTimeWithTimeZone,
    /// When the key was revoked; a revoked key opens nothing.
    pub revoked_at: Option<DateTimeWithTimeZone>,
}

/// Each key belongs to a tenant.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The tenant the key opens.
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
