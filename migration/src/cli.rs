//! The `migration` command line: what operators run on deploy.
//!
//! It reads the same settings as the server, the same way ([`tenantry_config`]), so that with
//! the database set only in `$APP_CONFIG_DIR/$APP_ENV.toml` both use the same one;
//! `--database-url` overrides it. It only migrates registered tenants: a schema no registry row
//! owns is refused, never created.

mod json;
mod report;

use std::collections::HashMap;
use std::io::Write;

use clap::{Args, Parser, Subcommand};
use derive_more::{Display, Error, From};
use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr};
use tenantry_config::{DatabaseUrl, Loaded, Settings, SettingsError};

pub use report::entry_line;
use report::{run_fleet, write_fleet_status, write_status, write_summary};

use crate::fleet::{self, FleetOptions, RegisteredTenant, TenantRef};
use crate::runner::{self, Direction};
use tenantry_pg::SchemaName;
use tenantry_pg::database::{self, DatabaseError};

/// Migrate Tenantry's control schema and tenant schemas.
///
/// The database is the settings' `database.url` (as for the server: `DATABASE_URL`, then
/// `APP__DATABASE__URL`, then `$APP_CONFIG_DIR/$APP_ENV.toml`, then the local server), unless
/// `--database-url` is given.
#[derive(Debug, Parser)]
#[command(name = "migration", version)]
pub struct Cli {
    /// Postgres URL, overriding the settings' database.url
    // Kept a string until `run`, which refuses a bad one without repeating it (a password).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// `json`: `tenants up` and `tenants status` print one JSON object per tenant and a summary
    /// object, one per line (exit status 0 all good, 1 some tenant failed, 2 could not run)
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// What to migrate.
    #[command(subcommand)]
    pub command: Command,
}

/// How reports are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Lines for people.
    Text,
    /// One JSON object per line, for pipelines.
    Json,
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
    /// One registered tenant's schema (created if the tenant is registered but its schema is
    /// missing). A schema no registered tenant owns is refused.
    Tenant {
        /// Which tenant.
        #[command(flatten)]
        which: WhichTenant,
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
    /// The audit log of control-plane changes.
    Audit {
        /// What to do.
        #[command(subcommand)]
        action: AuditAction,
    },
}

/// Actions on the audit log.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the hash chain as `GET /audit/verify` does: exit 0 if every entry matches, 1 naming
    /// the first that does not.
    Verify,
}

/// Which tenant a `tenant` command is about: exactly one of its slug or its schema (none for
/// `tenant import`, which names its tenant itself).
#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
pub struct WhichTenant {
    /// The tenant's slug, looked up in the registry (e.g. acme).
    #[arg(long, value_name = "SLUG")]
    pub tenant: Option<String>,
    /// The tenant's schema, as the registry records it (see `migration tenants status`).
    #[arg(long, value_name = "NAME", value_parser = SchemaName::parse)]
    pub schema: Option<SchemaName>,
}

impl WhichTenant {
    /// The tenant as named on the command line.
    pub fn as_ref(&self) -> Option<TenantRef<'_>> {
        match (&self.tenant, &self.schema) {
            (Some(slug), _) => Some(TenantRef::Slug(slug)),
            (None, Some(schema)) => Some(TenantRef::Schema(schema)),
            (None, None) => None,
        }
    }
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
    /// Write an archive of the tenant's data (one snapshot) to standard output
    /// (docs/EXPORT-FORMAT.md). Run by the `migration` binary, which has the service.
    Export,
    /// Read an archive from standard input into a new tenant (`--slug`) or an existing empty
    /// one (`--into`), in one transaction. Run by the `migration` binary, which has the service.
    Import {
        /// The new tenant's slug.
        #[arg(long, value_name = "SLUG", conflicts_with = "into", required_unless_present = "into")]
        slug: Option<String>,
        /// An existing tenant, all of whose tables are empty.
        #[arg(long, value_name = "SLUG")]
        into: Option<String>,
        /// The new tenant's display name (default: its slug).
        #[arg(long, value_name = "NAME", conflicts_with = "into")]
        name: Option<String>,
    },
}

/// Actions on every registered tenant.
#[derive(Debug, Subcommand)]
pub enum FleetAction {
    /// Bring every tenant to the latest version; tenants the registry shows current are skipped.
    Up {
        /// Jobs, batch size, and what to do after a failure.
        #[command(flatten)]
        run: FleetRun,
    },
    /// Roll every tenant back N migrations (after a deploy to undo, before the older build
    /// starts).
    Down {
        /// Roll back N migrations.
        #[arg(short = 'n', long = "steps", value_name = "N", default_value_t = 1)]
        steps: u32,
        /// Jobs, batch size, and what to do after a failure.
        #[command(flatten)]
        run: FleetRun,
    },
    /// Each tenant's recorded version, from the registry in one query.
    Status,
    /// Convert a deployment onto Citus: make each tenant's schema a distributed schema
    /// (`citus_schema_distribute`), reporting each tenant and where it went.
    Distribute,
}

/// How a fleet run goes.
#[derive(Debug, Clone, Copy, Args)]
pub struct FleetRun {
    /// Batches migrated at once (each on a connection of its own).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Tenants per transaction, each in a savepoint of its own: a tenant that fails is rolled
    /// back alone. A batch pays the audit log's lock and the commit's flush once for all its
    /// tenants, and holds their tables locked until it commits.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch: u16,
    /// Keep going after a tenant fails (otherwise the rest are skipped).
    #[arg(long)]
    pub continue_on_error: bool,
}

/// Why a command could not run at all (per-tenant failures are reported, not returned).
#[derive(Debug, Display, Error, From)]
pub enum CliError {
    /// The settings do not load.
    #[display("{_0}")]
    Settings(SettingsError),
    /// Connecting to or preparing the database failed.
    #[display("{_0}")]
    Database(DatabaseError),
    /// A statement failed.
    #[display("{_0}")]
    Db(DbErr),
    /// The tenant named is not in the registry: nothing was done.
    #[display("{_0} is not a registered tenant's; nothing was done (`migration tenants status` lists them)")]
    NotRegistered(#[error(not(source))] String),
    /// The registry names a schema that is not a valid schema name.
    #[display("the registry's schema for tenant {_0:?} is invalid: {_1}")]
    #[from(ignore)]
    CorruptRegistry(#[error(not(source))] String, tenantry_pg::SchemaNameError),
    /// Writing the report failed.
    #[display("{_0}")]
    Io(std::io::Error),
    /// Converting onto Citus could not start.
    #[display("{_0}")]
    Citus(crate::citus::CitusError),
    /// `tenant export`, `tenant import` and `audit verify` run the service's code: the
    /// `migration` binary (crate `tenantry-cli`) runs them, not this library.
    #[display("tenant export, tenant import and audit verify are run by the migration binary (tenantry-cli)")]
    #[from(ignore)]
    NeedsService,
}

/// Who runs the tool, as the audit log records it: `cli:<login name>` (`$USER`), or
/// `cli:operator` where the environment does not say.
pub fn operator(vars: &HashMap<String, String>) -> String {
    format!("cli:{}", vars.get("USER").map_or("operator", String::as_str))
}

/// Runs a parsed command with the settings `vars` give (the process environment, for the
/// binary), writing its report to `out`. Logs which database it uses and any settings
/// warnings. `Ok(false)` means some tenant failed, or the tenant asked about has no schema.
pub async fn run(cli: &Cli, vars: HashMap<String, String>, out: &mut dyn Write) -> Result<bool, CliError> {
    if matches!(
        cli.command,
        Command::Tenant { action: TenantAction::Export | TenantAction::Import { .. }, .. }
            | Command::Audit { .. }
    ) {
        return Err(CliError::NeedsService);
    }
    let actor = operator(&vars);
    let settings = settings(cli, vars)?;
    let (url, timeout) = (settings.database.url.expose(), settings.database.acquire_timeout);
    let writes = !matches!(
        cli.command,
        Command::Control { action: ControlAction::Status }
            | Command::Tenant { action: TenantAction::Status, .. }
            | Command::Tenants { action: FleetAction::Status }
    );
    // A tenant can only be registered in a database that exists: `tenant` never creates one.
    if writes && !matches!(cli.command, Command::Tenant { .. }) {
        database::ensure_database(url, timeout).await?;
    }
    let jobs = match cli.command {
        Command::Tenants { action: FleetAction::Up { run } | FleetAction::Down { run, .. } } => {
            u32::from(run.jobs)
        }
        _ => 1,
    };
    let db = database::connect_within(url, jobs + 1, timeout).await?;
    let tenant = match &cli.command {
        Command::Tenant { which, .. } => Some(registered(&db, which).await?),
        _ => None,
    };
    if writes {
        for name in runner::migrate_control(&db).await? {
            // In JSON, standard output holds only the objects.
            match cli.output {
                Output::Text => writeln!(out, "control: applied {name}")?,
                Output::Json => log::info!("control: applied {name}"),
            }
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
        Command::Tenant { action, .. } => match &tenant {
            Some((tenant, schema)) => run_tenant(&db, tenant, schema, action, &actor, out).await?,
            None => false,
        },
        Command::Tenants { action: FleetAction::Status } => {
            let tenants = fleet::registered_tenants(&db).await?;
            match cli.output {
                Output::Text => write_fleet_status(out, &tenants)?,
                Output::Json => json::write_fleet_status(out, &tenants)?,
            }
            true
        }
        Command::Tenants { action: action @ (FleetAction::Up { run } | FleetAction::Down { run, .. }) } => {
            let options = FleetOptions {
                jobs: usize::from(run.jobs),
                batch: usize::from(run.batch),
                continue_on_error: run.continue_on_error,
                actor: &actor,
            };
            let direction = match action {
                FleetAction::Down { steps, .. } => Direction::Down(Some(*steps)),
                _ => Direction::Up(None),
            };
            let report = run_fleet(&db, direction, options).await?;
            match cli.output {
                Output::Text => write_summary(out, &report)?,
                Output::Json => json::write_fleet_up(out, &report)?,
            }
            report.succeeded()
        }
        Command::Tenants { action: FleetAction::Distribute } => {
            let entries =
                crate::citus::distribute_fleet(&db, &|e| eprintln!("{}", crate::citus::entry_line(e)))
                    .await?;
            let failed =
                entries.iter().filter(|e| matches!(e.result, crate::citus::Distribution::Failed(_))).count();
            writeln!(
                out,
                "{} tenants: {} distributed or already so, {failed} failed",
                entries.len(),
                entries.len() - failed
            )?;
            failed == 0
        }
        Command::Audit { .. } => return Err(CliError::NeedsService),
    };
    db.close().await?;
    Ok(ok)
}

/// The settings `vars` give, with `--database-url` (if given) as `database.url`; logs the
/// settings' warnings and which database is used. The `migration` binary's transfer commands
/// read their settings through this too.
pub fn settings(cli: &Cli, vars: HashMap<String, String>) -> Result<Settings, CliError> {
    let Loaded { mut settings, warnings } = Loaded::from_vars(vars)?;
    for warning in &warnings {
        log::warn!("{warning}");
    }
    let flag = cli.database_url.as_deref().map(DatabaseUrl::parse).transpose();
    let flag = flag.map_err(|e| SettingsError::Variable { name: "--database-url", why: e.to_string() })?;
    if let Some(url) = flag {
        settings.database.url = url;
    }
    log::info!("using {}", settings.database.url);
    Ok(settings)
}

/// The registered tenant a `tenant` command names, with its schema parsed; refused if none.
async fn registered(
    db: &DatabaseConnection,
    which: &WhichTenant,
) -> Result<(RegisteredTenant, SchemaName), CliError> {
    let which = which.as_ref().ok_or_else(|| CliError::NotRegistered("no tenant named".to_owned()))?;
    let tenant = fleet::find_tenant(db, which, false)
        .await?
        .ok_or_else(|| CliError::NotRegistered(which.to_string()))?;
    let schema =
        SchemaName::parse(&tenant.schema).map_err(|e| CliError::CorruptRegistry(tenant.slug.clone(), e))?;
    Ok((tenant, schema))
}

async fn run_tenant(
    db: &DatabaseConnection,
    tenant: &RegisteredTenant,
    schema: &SchemaName,
    action: &TenantAction,
    actor: &str,
    out: &mut dyn Write,
) -> Result<bool, CliError> {
    let direction = match action {
        TenantAction::Status => {
            if !database::schema_exists(db, schema).await? {
                writeln!(
                    out,
                    "{schema}: the schema does not exist (tenant {} is registered; \
                     `migration tenant --tenant {} up` creates it)",
                    tenant.slug, tenant.slug
                )?;
                return Ok(false);
            }
            write_status(out, schema.as_str(), &runner::tenant_status(db, schema).await?)?;
            return Ok(true);
        }
        TenantAction::Up { steps } => Direction::Up(*steps),
        TenantAction::Down { steps } => Direction::Down(Some(*steps)),
        TenantAction::Export | TenantAction::Import { .. } => return Err(CliError::NeedsService),
    };
    let outcome = fleet::migrate_registered(db, schema, direction, actor).await?.ok_or_else(|| {
        CliError::NotRegistered(format!("{} (deleted meanwhile)", TenantRef::Schema(schema)))
    })?;
    let verb = if matches!(direction, Direction::Up(_)) { "applied" } else { "rolled back" };
    for name in &outcome.changed {
        writeln!(out, "{schema}: {verb} {name}")?;
    }
    writeln!(out, "{schema}: now at {}", outcome.version.as_deref().unwrap_or("(no migrations)"))?;
    Ok(true)
}
