//! Tenantry's database migrations and the tools operators run on deploy.
//!
//! Two migration sets: [`control`] (the tenant registry, in [`CONTROL_SCHEMA`]) and [`tenant`]
//! (one tenant's tables, parameterised by its [`SchemaName`]). [`runner`] applies a set to one
//! schema safely; [`fleet`] applies the tenant set to every registered tenant.
//!
//! Of Tenantry's crates it depends only on `tenantry-config` (the `migration` binary loads the
//! same settings as the server). Its migrations name their tables and columns themselves, so an
//! old migration never changes meaning when an entity changes. The service depends on it to
//! provision tenants and to use [`SchemaName`].

pub mod cli;
pub mod control;
pub mod database;
pub mod fleet;
pub mod runner;
mod schema_name;
pub mod tenant;

pub use schema_name::{CONTROL_SCHEMA, MAX_LEN as SCHEMA_NAME_MAX_LEN, SchemaName, SchemaNameError};
pub use sea_orm_migration;
