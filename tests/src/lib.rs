//! The one test harness for Tenantry's integration tests (in `tests/it`).
//!
//! Every test gets its own freshly created database on a real Postgres, found in this order:
//! `DATABASE_URL` if set; else a testcontainers Postgres when Docker is reachable
//! (`DOCKER_HOST` or `/var/run/docker.sock`); else the service's default local database
//! server if it answers; else the test fails saying how to provide one. Databases are
//! dropped when their handle drops (panics included), and leftovers of crashed runs are swept
//! by a strict name pattern. Tests share no mutable state and run in parallel.
//! May depend on every Tenantry crate.

mod citus;
mod log_capture;
mod pgbouncer;
mod proxy;
mod server;
mod table_lock;
mod test_app;
mod test_db;

pub use citus::{CITUS_URL_VAR, CitusCluster, CitusDb};
pub use log_capture::logged;
pub use pgbouncer::PgBouncer;
pub use proxy::Proxy;
pub use table_lock::TableLock;
pub use test_app::{ADMIN_TOKEN, Reply, TestApp};
pub use test_db::TestDb;
