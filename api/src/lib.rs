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
mod request_log;
mod routes;
mod shutdown;
mod startup;
mod telemetry;
mod timestamp;

pub use error::{ApiError, Problem};
pub use request_log::{MAX_REQUEST_ID, TEXT_TARGET as REQUEST_LOG_TARGET, X_REQUEST_ID};
pub use shutdown::{StopHandle, StopReason};
pub use startup::{AppState, Application, MAX_BODY_BYTES, StartupError};
