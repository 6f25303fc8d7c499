//! Tenantry's integration tests: one binary, a module per area, each test on its own
//! database on a real Postgres (see `tenantry_tests`).

mod health;
mod migrations;
