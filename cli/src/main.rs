//! The `migration` binary: migrate the control schema, one tenant, or every tenant. Logging
//! and settings are set up as for the server (`tenantry_config`); the rest is [`run`].

use std::process::ExitCode;

use clap::Parser;
use tenantry_migration::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    tenantry_config::logging::init("info");
    let cli = Cli::parse();
    match run(&cli, std::env::vars().collect(), &mut std::io::stdout().lock()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("migration: {e}");
            ExitCode::from(2)
        }
    }
}
