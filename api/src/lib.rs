//! Tenantry's HTTP API (actix-web): thin handlers over `tenantry-service`.
//!
//! Depends on `tenantry-service` and `tenantry-config`, never on SeaORM queries directly.
//! [`Application::build`] binds the listener (port 0 allowed) and reports the port;
//! [`Application::run_until_stopped`] serves until its [`StopHandle`] (or, in the binary,
//! SIGINT/SIGTERM) stops it gracefully. `main` only wires logging and settings.

mod actor;
mod error;
mod extract;
mod openapi;
mod routes;
mod shutdown;
mod startup;

pub use error::{ApiError, Problem};
pub use shutdown::{StopHandle, StopReason};
pub use startup::{AppState, Application, MAX_BODY_BYTES, StartupError};
