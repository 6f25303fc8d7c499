//! The `migration` binary's library: the migration commands (`tenantry_migration::cli`), plus
//! `tenant export` and `tenant import`, which run the service's own code
//! (`tenantry_service::transfer`, the same as `GET /tenants/{slug}/export` and
//! `POST /tenants/import`). Depends on `tenantry-migration`, `tenantry-service` and
//! `tenantry-config`; it lives apart from `tenantry-migration` because the service depends on
//! that crate.

use std::collections::HashMap;
use std::io::{Read, Write};

use tenantry_migration::cli::{self as migration, AuditAction, Cli, CliError, Command, TenantAction};
use tenantry_service::ServiceError;
use tenantry_service::audit::{self, Actor};
use tenantry_service::db::{Db, PoolOptions, connect};
use tenantry_service::limits::LimitSet;
use tenantry_service::tenants::{NewTenant, Registry, Slug};
use tenantry_service::transfer::{self, ImportTarget};
use tenantry_service::values::Name;

/// Why a transfer command could not run.
#[derive(Debug)]
pub enum Failure {
    /// A migration command failed to run.
    Migration(CliError),
    /// The export or import failed or was refused.
    Service(ServiceError),
    /// Reading standard input or writing standard output failed.
    Io(std::io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Migration(e) => write!(f, "{e}"),
            Self::Service(e) => write!(f, "{e}"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Failure {}

/// Runs a parsed command: `tenant export` writes the archive to `output`, `tenant import`
/// reads it from `input`; every other command is `tenantry_migration::cli::run`, reporting to
/// `output`. `Ok(false)` as there.
pub async fn run(
    cli: &Cli,
    vars: HashMap<String, String>,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> Result<bool, Failure> {
    if let Command::Audit { action: AuditAction::Verify } = &cli.command {
        return verify_audit(cli, vars, output).await;
    }
    let Command::Tenant { which, action } = &cli.command else {
        return migration::run(cli, vars, output).await.map_err(Failure::Migration);
    };
    let (slug, name, into) = match action {
        TenantAction::Export => (which.tenant.as_deref(), None, false),
        TenantAction::Import { slug: Some(slug), name, .. } => (Some(slug.as_str()), name.clone(), false),
        TenantAction::Import { into, .. } => (into.as_deref(), None, true),
        _ => return migration::run(cli, vars, output).await.map_err(Failure::Migration),
    };
    let slug = slug.ok_or_else(|| {
        Failure::Service(ServiceError::Invalid("name the tenant by its slug (--tenant SLUG)".to_owned()))
    })?;
    let slug = Slug::parse(slug).map_err(Failure::Service)?;
    let actor = Actor { credential: migration::operator(&vars), request_id: None };
    let db = service_db(cli, vars).await?;
    let done = match action {
        TenantAction::Export => export(&db, &actor, &slug, output).await,
        _ => import(&db, &actor, slug, name, into, input, output).await,
    };
    db.close().await;
    done.map(|()| true)
}

/// A small pool on the database the settings name, for the commands that run service code.
/// One connection is tried first, as the migration commands do, so an unreachable database is
/// reported at once with where and why, not after the pool's acquire timeout.
async fn service_db(cli: &Cli, vars: HashMap<String, String>) -> Result<Db, Failure> {
    let settings = migration::settings(cli, vars).map_err(Failure::Migration)?;
    tenantry_pg::database::check_reachable(settings.database.url.expose(), settings.database.acquire_timeout)
        .await
        .map_err(|e| Failure::Migration(e.into()))?;
    let options = PoolOptions {
        max_connections: 2,
        tenant_shards: 0,
        statement_cache: 100,
        ..PoolOptions::from(&settings.database)
    };
    connect(settings.database.url.expose(), &options).await.map_err(Failure::Service)
}

/// `audit verify`: the service's own walk of the hash chain; `Ok(false)` names the first entry
/// that does not match.
async fn verify_audit(
    cli: &Cli,
    vars: HashMap<String, String>,
    output: &mut dyn Write,
) -> Result<bool, Failure> {
    let db = service_db(cli, vars).await?;
    let verdict = audit::verify(&db).await;
    db.close().await;
    let verdict = verdict.map_err(Failure::Service)?;
    match verdict.first_mismatch {
        None => writeln!(output, "audit log: {} entries checked, the chain is intact", verdict.checked),
        Some((id, problem)) => writeln!(
            output,
            "audit log: entry {id} does not match ({problem}); {} entries checked",
            verdict.checked
        ),
    }
    .map_err(Failure::Io)?;
    Ok(verdict.first_mismatch.is_none())
}

async fn export(db: &Db, actor: &Actor, slug: &Slug, output: &mut dyn Write) -> Result<(), Failure> {
    let mut archive = transfer::export(db, actor, slug).await.map_err(Failure::Service)?;
    std::io::copy(&mut archive.file, output).map_err(Failure::Io)?;
    output.flush().map_err(Failure::Io)?;
    let rows: u64 = archive.manifest.tables.iter().map(|t| t.rows).sum();
    log::info!(
        "exported {slug}: {rows} rows, {} bytes, at {}",
        archive.len,
        archive.manifest.migration_version
    );
    Ok(())
}

async fn import(
    db: &Db,
    actor: &Actor,
    slug: Slug,
    name: Option<String>,
    into: bool,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> Result<(), Failure> {
    let target = if into {
        ImportTarget::Into(slug)
    } else {
        let name = Name::parse("name", name.unwrap_or_else(|| slug.as_str().to_owned()))
            .map_err(Failure::Service)?;
        ImportTarget::New(NewTenant { slug, name })
    };
    // Spooled first: the archive is checked whole before the transaction begins.
    let mut file = tempfile::tempfile().map_err(Failure::Io)?;
    std::io::copy(input, &mut file).map_err(Failure::Io)?;
    std::io::Seek::rewind(&mut file).map_err(Failure::Io)?;
    // This process's own registry cache: the server's sees the new tenant on first use.
    // Limits do not apply to loading an archive: the registry is only the provisioning path.
    let registry = Registry::new(db.clone(), std::time::Duration::from_secs(1), LimitSet::default());
    let imported = transfer::import(db, &registry, actor, target, file).await.map_err(Failure::Service)?;
    let tenant = &imported.tenant;
    let rows: Vec<String> =
        imported.manifest.tables.iter().map(|t| format!("{} {}", t.rows, t.name)).collect();
    writeln!(
        output,
        "imported {} ({}): {}; now at {}",
        tenant.slug,
        tenant.schema_name,
        rows.join(", "),
        tenant.version.as_deref().unwrap_or("(no migrations)")
    )
    .map_err(Failure::Io)?;
    if let Some(key) = imported.key {
        writeln!(output, "api key (shown once): {}", key.secret).map_err(Failure::Io)?;
    }
    Ok(())
}
