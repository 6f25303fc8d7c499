//! Tenantry's integration tests: one binary, a module per area, each test on its own
//! database on a real Postgres (see `tenantry_tests`), the API over real HTTP.

mod audit;
mod auth;
mod bad_input;
mod citus;
mod citus_ops;
mod docs;
mod health;
mod hostile;
mod identity;
mod isolation;
mod limits;
mod metrics;
mod migration_cli;
mod migrations;
mod openapi;
mod orders;
mod parameters;
mod patterns;
mod products;
mod proven_isolation;
mod rename;
mod request_log;
mod resilience;
mod routing;
mod rows;
mod shutdown;
mod tenant_pool;
mod tenants;
mod transfer;
mod transfer_drift;
mod usage;
