//! Tenantry's domain logic: every query, each one qualified with its tenant's schema.
//!
//! Depends on `tenantry-entity` (row types), `tenantry-pg` ([`SchemaName`], the one way a
//! schema name reaches SQL, and database plumbing) and `tenantry-migration` (provisioning runs
//! the tenant migrations). Knows nothing of HTTP. Callers hold a [`db::Db`] (the pool, safe for the pooler in front of it) and the
//! entity types it returns.

pub mod audit;
pub mod cluster;
pub mod db;
mod error;
pub mod keys;
pub mod limits;
pub mod orders;
pub mod page;
pub mod products;
pub mod rows;
mod scope;
pub mod tenants;
pub mod transfer;
pub mod usage;
pub mod values;

pub use error::{ServiceError, Throttle};
pub use scope::TenantScope;
pub use tenantry_entity as entity;
pub use tenantry_pg::SchemaName;
