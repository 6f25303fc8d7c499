//! The `migration` binary: migrate the control schema, one tenant, or every tenant; export and
//! import one tenant. Logging and settings are set up as for the server (`tenantry_config`);
//! the rest is [`tenantry_cli::run`].

use std::process::ExitCode;

use clap::Parser;
use tenantry_migration::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    tenantry_config::logging::init("info");
    let cli = Cli::parse();
    let vars = std::env::vars().collect();
    let ran =
        tenantry_cli::run(&cli, vars, &mut std::io::stdin().lock(), &mut std::io::stdout().lock()).await;
    match ran {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("migration: {e}");
            ExitCode::from(2)
        }
    }
}
