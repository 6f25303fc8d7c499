//! Export and restore of one tenant: a tar archive of its tables' rows, taken in one
//! consistent snapshot, with a manifest (format version, migration version, tables, row counts,
//! SHA-256 per table); and its import under a new slug (or into an existing empty tenant), in
//! one transaction with its provisioning. The format is documented in docs/EXPORT-FORMAT.md.
//! The server's routes and the `migration` tool both call [`export`] and [`import`].

mod archive;
mod copy_text;
mod export;
mod import;
mod layout;

use sea_orm::{DbErr, RuntimeErr};
use tenantry_migration::tenant::{TenantMigrator, VERSIONS};

pub use archive::{Archive, FORMAT, FORMAT_VERSION, Manifest, TableEntry};
pub use export::export;
pub use import::{ImportTarget, Imported, import};

use crate::ServiceError;

/// The tenant tables an archive carries, in load order (each after the tables it references).
/// Only these names reach SQL as table names; every one has an `id` identity column.
const TABLES: &[&str] = &["products", "orders"];

/// A driver error from a raw (COPY) connection, classified like every other database error.
fn sqlx_err(e: sea_orm::sqlx::Error) -> ServiceError {
    match e {
        sea_orm::sqlx::Error::PoolTimedOut => ServiceError::Busy(e.to_string()),
        sea_orm::sqlx::Error::PoolClosed => ServiceError::Unavailable(format!("no database connection: {e}")),
        e => ServiceError::from(DbErr::Query(RuntimeErr::SqlxError(e.into()))),
    }
}

/// A local temp file failed (the disk is full, say): the server's problem, not the client's.
fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> ServiceError + '_ {
    move |e| ServiceError::Unexpected(format!("{what}: {e}"))
}

/// Records `e` as a refused `change` (see [`audited`](crate::audit::audited): only refusals
/// are recorded) and returns it.
async fn refused(
    db: &crate::db::Db,
    actor: &crate::audit::Actor,
    change: crate::audit::Change,
    e: ServiceError,
) -> ServiceError {
    let slot = std::sync::Mutex::new(Some(e));
    let take = || slot.lock().ok().and_then(|mut e| e.take());
    let recorded = crate::audit::audited(db, actor, change, async |_| {
        Err::<((), Option<i64>), _>(
            take().unwrap_or_else(|| ServiceError::Unexpected("refused twice".to_owned())),
        )
    })
    .await;
    match recorded {
        Err(e) => e,
        Ok(()) => ServiceError::Unexpected("a refusal was recorded as done".to_owned()),
    }
}

/// How many tenant migrations make an archive's `version`; a version this build does not know
/// is refused, named as newer when it sorts after this build's newest (migration names start
/// with their date).
fn steps_to(version: &str) -> Result<u32, ServiceError> {
    match VERSIONS.iter().position(|v| *v == version) {
        Some(i) => {
            u32::try_from(i + 1).map_err(|_| ServiceError::Unexpected("too many migrations".to_owned()))
        }
        None if version > TenantMigrator::latest_version() => Err(ServiceError::Unprocessable(format!(
            "the archive is at migration version {version}, newer than this server's newest ({}): \
             upgrade the server before importing it",
            TenantMigrator::latest_version()
        ))),
        None => Err(ServiceError::Invalid(format!(
            "the archive's migration version {version} is not one this server knows"
        ))),
    }
}
