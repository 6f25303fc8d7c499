//! The `tenantry` server: loads settings, starts the application, serves until SIGINT or
//! SIGTERM, then drains in-flight requests and exits 0.

use std::process::ExitCode;

use tenantry_api::Application;
use tenantry_config::{Loaded, logging};

/// A plain Tokio runtime, not actix's: actix-server then gives each worker a Tokio runtime
/// that is entered while the worker's tasks are dropped, so a request cut off at the shutdown
/// timeout returns its sqlx connection instead of panicking ("this functionality requires a
/// Tokio context", seen under `#[actix_web::main]`).
#[tokio::main]
async fn main() -> ExitCode {
    // actix-server's info lines repeat ours ("listening", "stopped") at the worker level.
    logging::init("info,actix_server=warn");
    let settings = match Loaded::from_env() {
        Ok(Loaded { settings, warnings }) => {
            for warning in &warnings {
                log::warn!("{warning}");
            }
            settings
        }
        Err(e) => {
            // The message says which setting and why.
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    log::info!("using {}", settings.database.url);
    let app = match Application::build(&settings).await {
        Ok(app) => app,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = app.stop_handle().stop_on_signals() {
        log::error!("cannot listen for SIGINT and SIGTERM: {e}");
        return ExitCode::FAILURE;
    }
    log::info!("listening on http://{}:{}", settings.server.host, app.port());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
