//! Database plumbing that several Tenantry crates share: [`SchemaName`], the one way a tenant's
//! schema name reaches SQL; the fail-closed schema every pooled connection starts with
//! ([`NO_SCHEMA`]); running SeaORM's statements on plain sqlx connections ([`bound`]); creating, reaching and dropping databases ([`database`]); and reading what
//! Postgres said when a statement failed ([`sql_state`], [`connection_lost`]).
//!
//! A leaf: depends on no other Tenantry crate, so `migration`, `service` and the tests all use
//! it without depending on each other.

mod bound;
pub mod database;
mod schema_name;
mod sqlstate;

pub use bound::{bound, exec_err, query_err};
pub use database::NO_SCHEMA;
pub use schema_name::{CONTROL_SCHEMA, MAX_LEN as SCHEMA_NAME_MAX_LEN, SchemaName, SchemaNameError};
pub use sqlstate::{connection_lost, db_message, sql_state};
