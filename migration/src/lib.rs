//! Tenantry's database migrations and the tools operators run on deploy.
//!
//! Two migration sets: [`control`] (the tenant registry, in the control schema) and [`tenant`]
//! (one tenant's tables, parameterised by its schema name). [`runner`] applies a set to one
//! schema safely; [`fleet`] applies the tenant set to every registered tenant, each tenant in
//! four messages on a plain connection (`batched`).
//!
//! Depends on `tenantry-pg` (the validated schema name, database plumbing), `tenantry-config`
//! (the `migration` binary loads the same settings as the server) and `tenantry-entity` (the
//! one runtime model of the registry, which fleet runs read and recorded versions write). Its
//! migrations name their tables and columns themselves, with frozen identifiers used by the
//! migrations alone, so an old migration never changes meaning when an entity changes. The service depends on it to provision tenants.

mod batched;
pub mod citus;
pub mod cli;
pub mod control;
pub mod fleet;
pub mod runner;
pub mod tenant;

pub use sea_orm_migration;
