//! The tenant registry (`tenantry.tenants`, in the control schema).

use sea_orm::entity::prelude::*;

/// Whether a tenant's data plane is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum State {
    /// Requests are served.
    #[sea_orm(string_value = "active")]
    Active,
    /// Requests are refused; the data is kept.
    #[sea_orm(string_value = "suspended")]
    Suspended,
}

/// One registered tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "tenantry", table_name = "tenants")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Public identifier, `[a-z][a-z0-9_]{0,39}`, unique.
    #[sea_orm(unique)]
    pub slug: String,
    /// The tenant's Postgres schema, derived from the slug, unique.
    #[sea_orm(unique)]
    pub schema_name: String,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub state: State,
    /// Newest tenant migration applied, if any.
    pub version: Option<String>,
    /// When the tenant was provisioned.
    pub created_at: DateTimeWithTimeZone,
    /// Last change to this row.
    pub updated_at: DateTimeWithTimeZone,
    /// Requests per second on each instance's data plane; `None`: the default in settings.
    pub requests_per_second: Option<i32>,
    /// Token bucket size; `None`: the default in settings.
    pub burst: Option<i32>,
    /// Data-plane requests in flight at once on each instance; `None`: the default.
    pub max_concurrent_requests: Option<i32>,
    /// Products the tenant may hold; `None`: the default.
    pub max_products: Option<i64>,
    /// Orders the tenant may hold; `None`: the default.
    pub max_orders: Option<i64>,
    /// No rate limit, whatever the default (then `requests_per_second` is `None`).
    pub requests_per_second_unlimited: bool,
    /// No concurrency limit, whatever the default (then `max_concurrent_requests` is `None`).
    pub max_concurrent_requests_unlimited: bool,
    /// No product quota, whatever the default (then `max_products` is `None`).
    pub max_products_unlimited: bool,
    /// No order quota, whatever the default (then `max_orders` is `None`).
    pub max_orders_unlimited: bool,
}

/// The registry has no relations: nothing references into tenant schemas from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
