//! The `migration` command line: what operators run on deploy.

use std::io::{IsTerminal, Write};

use clap::{Parser, Subcommand};
use derive_more::{Display, Error, From};
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr};

use crate::SchemaName;
use crate::database::{self, DatabaseError};
use crate::fleet::{self, FleetEntry, FleetOptions, FleetReport, TenantResult};
use crate::runner::{self, Direction};
use crate::tenant::{TenantMigrator, VERSIONS};

/// Used when neither `--database-url`, `DATABASE_URL` nor `APP__DATABASE__URL` is given; the
/// same default as the service's settings (the local Postgres of a development machine).
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/tenantry";

/// Migrate Tenantry's control schema and tenant schemas.
#[derive(Debug, Parser)]
#[command(name = "migration", version)]
pub struct Cli {
    /// Postgres URL [default: $DATABASE_URL, then $APP__DATABASE__URL, then the local server]
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// What to migrate.
    #[command(subcommand)]
    pub command: Command,
}

/// What to migrate.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The control schema (the tenant registry). `up` also creates the database if missing.
    Control {
        /// What to do.
        #[command(subcommand)]
        action: ControlAction,
    },
    /// One tenant's schema, by name (created if missing).
    Tenant {
        /// The tenant's schema, e.g. tenant_acme.
        #[arg(long, value_parser = SchemaName::parse)]
        schema: SchemaName,
        /// What to do.
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Every tenant in the registry, each in its own transaction.
    Tenants {
        /// What to do.
        #[command(subcommand)]
        action: FleetAction,
    },
}

/// Actions on the control schema.
#[derive(Debug, Subcommand)]
pub enum ControlAction {
    /// Apply pending control migrations.
    Up,
    /// List control migrations and whether each is applied.
    Status,
}

/// Actions on one tenant.
#[derive(Debug, Subcommand)]
pub enum TenantAction {
    /// Apply pending migrations.
    Up {
        /// Apply at most N migrations.
        #[arg(short = 'n', long = "steps", value_name = "N")]
        steps: Option<u32>,
    },
    /// Roll back the newest migrations.
    Down {
        /// Roll back N migrations [default: 1].
        #[arg(short = 'n', long = "steps", value_name = "N", default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

/// Actions on every registered tenant.
#[derive(Debug, Subcommand)]
pub enum FleetAction {
    /// Bring every tenant to the latest version; tenants the registry shows current are skipped.
    Up {
        /// Tenants migrated at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: u16,
        /// Keep going after a tenant fails (otherwise the rest are skipped).
        #[arg(long)]
        continue_on_error: bool,
    },
    /// Each tenant's recorded version, from the registry in one query.
    Status,
}

/// Why a command could not run at all (per-tenant failures are reported, not returned).
#[derive(Debug, Display, Error, From)]
pub enum CliError {
    /// Connecting to or preparing the database failed.
    #[display("{_0}")]
    Database(DatabaseError),
    /// A statement failed.
    #[display("{_0}")]
    Db(DbErr),
    /// Writing the report failed.
    #[display("{_0}")]
    Io(std::io::Error),
}

impl Cli {
    /// The database URL: the flag, then `DATABASE_URL`, then `APP__DATABASE__URL`, then
    /// [`DEFAULT_DATABASE_URL`].
    pub fn resolved_database_url(&self) -> String {
        self.database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .or_else(|| std::env::var("APP__DATABASE__URL").ok())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
    }
}

/// Runs a parsed command, writing its report to `out`. `Ok(false)` means some tenant failed.
pub async fn run(cli: &Cli, out: &mut dyn Write) -> Result<bool, CliError> {
    let url = cli.resolved_database_url();
    let writes = !matches!(
        cli.command,
        Command::Control { action: ControlAction::Status }
            | Command::Tenant { action: TenantAction::Status, .. }
            | Command::Tenants { action: FleetAction::Status }
    );
    if writes {
        database::ensure_database(&url).await?;
    }
    let jobs = match cli.command {
        Command::Tenants { action: FleetAction::Up { jobs, .. } } => u32::from(jobs),
        _ => 1,
    };
    let db = database::connect(&url, jobs + 1).await?;
    if writes {
        for name in runner::migrate_control(&db).await? {
            writeln!(out, "control: applied {name}")?;
        }
    }
    let ok = match &cli.command {
        Command::Control { action: ControlAction::Up } => {
            writeln!(out, "control: up to date")?;
            true
        }
        Command::Control { action: ControlAction::Status } => {
            write_status(out, "control", &runner::control_status(&db).await?)?;
            true
        }
        Command::Tenant { schema, action } => run_tenant(&db, schema, action, out).await?,
        Command::Tenants { action: FleetAction::Status } => {
            write_fleet_status(out, &fleet::registered_tenants(&db).await?)?;
            true
        }
        Command::Tenants { action: FleetAction::Up { jobs, continue_on_error } } => {
            let options = FleetOptions { jobs: usize::from(*jobs), continue_on_error: *continue_on_error };
            let report = run_fleet(&db, options).await?;
            write_summary(out, &report)?;
            report.succeeded()
        }
    };
    db.close().await?;
    Ok(ok)
}

async fn run_tenant(
    db: &DatabaseConnection,
    schema: &SchemaName,
    action: &TenantAction,
    out: &mut dyn Write,
) -> Result<bool, CliError> {
    let direction = match action {
        TenantAction::Status => {
            write_status(out, schema.as_str(), &runner::tenant_status(db, schema).await?)?;
            return Ok(true);
        }
        TenantAction::Up { steps } => Direction::Up(*steps),
        TenantAction::Down { steps } => Direction::Down(Some(*steps)),
    };
    let outcome = runner::migrate_tenant(db, schema, direction).await?;
    let verb = if matches!(direction, Direction::Up(_)) { "applied" } else { "rolled back" };
    for name in &outcome.changed {
        writeln!(out, "{schema}: {verb} {name}")?;
    }
    writeln!(out, "{schema}: now at {}", outcome.version.as_deref().unwrap_or("(no migrations)"))?;
    Ok(true)
}

/// Runs the fleet with a progress bar on a terminal, or a plain line per tenant otherwise.
async fn run_fleet(db: &DatabaseConnection, options: FleetOptions) -> Result<FleetReport, DbErr> {
    let total = fleet::registered_tenants(db).await?.len() as u64;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} tenants {elapsed_precise} {msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let on_done = |entry: &FleetEntry| match &bar {
        Some(bar) => {
            if let TenantResult::Failed(_) = entry.result {
                bar.println(entry_line(entry));
            }
            bar.inc(1);
        }
        None => eprintln!("{}", entry_line(entry)),
    };
    let report = fleet::migrate_fleet(db, options, &on_done).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    report
}

/// One tenant's result as a line of text.
pub fn entry_line(entry: &FleetEntry) -> String {
    let what = match &entry.result {
        TenantResult::Migrated { applied, version } => {
            format!("migrated ({} applied, now at {})", applied.len(), version.as_deref().unwrap_or("(none)"))
        }
        TenantResult::AlreadyCurrent => "already current".to_owned(),
        TenantResult::Failed(e) => format!("FAILED: {e}"),
        TenantResult::Skipped => "skipped (an earlier tenant failed)".to_owned(),
    };
    format!("{} ({}): {what}", entry.slug, entry.schema)
}

fn write_summary(out: &mut dyn Write, report: &FleetReport) -> std::io::Result<()> {
    for entry in report.entries.iter().filter(|e| matches!(e.result, TenantResult::Failed(_))) {
        writeln!(out, "{}", entry_line(entry))?;
    }
    let (migrated, current, failed, skipped) = report.counts();
    writeln!(
        out,
        "{} tenants: {migrated} migrated, {current} already current, {failed} failed, {skipped} skipped",
        report.entries.len()
    )
}

fn write_status(out: &mut dyn Write, what: &str, migrations: &[(String, bool)]) -> std::io::Result<()> {
    for (name, applied) in migrations {
        writeln!(out, "{what}: {name} {}", if *applied { "applied" } else { "pending" })?;
    }
    Ok(())
}

fn write_fleet_status(out: &mut dyn Write, tenants: &[fleet::RegisteredTenant]) -> std::io::Result<()> {
    let names = VERSIONS;
    let latest = TenantMigrator::latest_version();
    let mut current = 0;
    for tenant in tenants {
        let version = tenant.version.as_deref();
        let state = match version {
            Some(v) if v == latest => {
                current += 1;
                "current".to_owned()
            }
            Some(v) => match names.iter().position(|n| *n == v) {
                Some(i) => format!("{} behind", names.len() - 1 - i),
                None => "unknown version".to_owned(),
            },
            None => format!("{} behind", names.len()),
        };
        writeln!(out, "{} {} {} {state}", tenant.slug, tenant.schema, version.unwrap_or("(none)"))?;
    }
    writeln!(
        out,
        "{} tenants: {current} current, {} behind (latest {latest})",
        tenants.len(),
        tenants.len() - current
    )
}
