//! SeaORM entities: a tenant's [`product`] and [`order`], and the control schema's
//! [`tenant`] registry with its [`api_key`]s and the [`audit_entry`] log (appended, hash-chained,
//! through [`audit_chain`] only).
//!
//! Product and Order name no schema: each column set is defined once and serves every
//! tenant. The service retargets every query at the tenant's schema. Depends on no other
//! Tenantry crate.

pub mod api_key;
pub mod audit_chain;
pub mod audit_entry;
pub mod order;
pub mod product;
pub mod tenant;
