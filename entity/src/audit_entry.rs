//! The audit log (`tenantry.audit_log`): one hash-chained row per control-plane change.

use sea_orm::entity::prelude::*;

/// One recorded control-plane change.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "tenantry", table_name = "audit_log")]
pub struct Model {
    /// Position in the chain.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When the change was made (to the microsecond, as stored and hashed).
    pub at: DateTimeWithTimeZone,
    /// What was done, e.g. `tenant.provision`.
    pub action: String,
    /// The tenant's registry id, if the change concerns one that existed.
    pub tenant_id: Option<i64>,
    /// The tenant's slug as it was named in the request.
    pub tenant_slug: Option<String>,
    /// Which credential made the change (never the secret).
    pub actor: String,
    /// The request's id, if it had one.
    pub request_id: Option<String>,
    /// `ok`, or `refused: <why>`.
    pub outcome: String,
    /// The change as JSON text; never a secret.
    pub change: String,
    /// The previous entry's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) over this entry's content and `prev_hash`.
    pub hash: String,
}

/// Entries reference nothing: they outlive the tenants they name.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
