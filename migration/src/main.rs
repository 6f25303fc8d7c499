//! The `migration` binary: migrate the control schema, one tenant, or every tenant.

use std::process::ExitCode;

use clap::Parser;
use tenantry_migration::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    match run(&cli, &mut std::io::stdout().lock()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("migration: {e}");
            ExitCode::from(2)
        }
    }
}
