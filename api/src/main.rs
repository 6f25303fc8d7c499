//! The `tenantry` server: loads settings, starts the application, serves until SIGINT or
//! SIGTERM, then drains in-flight requests and exits 0.

use std::process::ExitCode;

use tenantry_api::Application;
use tenantry_config::Settings;

/// A plain Tokio runtime, not actix's: actix-server then gives each worker a Tokio runtime
/// that is entered while the worker's tasks are dropped, so a request cut off at the shutdown
/// timeout returns its sqlx connection instead of panicking ("this functionality requires a
/// Tokio context", seen under `#[actix_web::main]`).
#[tokio::main]
async fn main() -> ExitCode {
    // actix-server's info lines repeat ours ("listening", "stopped") at the worker level.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,actix_server=warn"))
        .init();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            log::error!("invalid settings: {e}");
            return ExitCode::FAILURE;
        }
    };
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
