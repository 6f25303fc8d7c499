//! [`export`]: one tenant's rows, `COPY ... TO STDOUT` per table inside one `REPEATABLE READ
//! READ ONLY` transaction (one snapshot for every table and the ledger), spooled to temp files
//! and packed into a tar archive. Memory stays flat: each COPY chunk goes straight to disk.

use chrono::Utc;
use futures::TryStreamExt;
use sea_orm::sqlx::{self, PgConnection};
use serde_json::json;
use sha2::{Digest, Sha256};
use tenantry_migration::tenant::VERSIONS;
use tokio::io::AsyncWriteExt;

use super::archive::{self, Archive, FORMAT, FORMAT_VERSION, Manifest, Spooled, TableEntry, hex};
use super::{TABLES, io_err, layout, sqlx_err};
use crate::audit::{Actor, audited};
use crate::db::Db;
use crate::tenants::{self, Slug, audit_of};
use crate::{SchemaName, ServiceError, TenantScope};

/// Exports the tenant `slug`: every table's rows, as one snapshot, in an [`Archive`]. Recorded
/// in the audit log (with the row counts) once the archive is complete; an unknown tenant, or
/// one whose schema is missing or holds other tables than its version creates (see
/// [`layout`]), is recorded as refused.
pub async fn export(db: &Db, actor: &Actor, slug: &Slug) -> Result<Archive, ServiceError> {
    let model = match tenants::get(db, slug).await {
        Err(e @ ServiceError::NotFound(_)) => {
            return Err(super::refused(db, actor, audit_of("tenant.export", slug, json!({})), e).await);
        }
        other => other?,
    };
    let schema = tenants::stored_schema(&model)?;
    let scope = TenantScope::new(schema.clone());
    let mut conn = db.raw_connection(&scope).await?;
    // A COPY of a large tenant takes what it takes: no statement timeout inside this snapshot.
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 0")
        .execute(&mut *conn)
        .await
        .map_err(sqlx_err)?;
    let taken = snapshot(db, &mut conn, &schema).await;
    // Read-only: ending it either way is the same; a failed one must not stay open.
    let end = sqlx::raw_sql(if taken.is_ok() { "COMMIT" } else { "ROLLBACK" }).execute(&mut *conn).await;
    let (version, spooled) = match taken {
        // A tenant that cannot be exported as it is (its schema gone or drifted) is a refusal,
        // recorded as one; the snapshot ended cleanly, so its connection serves on.
        Err(e @ ServiceError::Conflict(_)) if end.is_ok() => {
            conn.release();
            return Err(super::refused(db, actor, audit_of("tenant.export", slug, json!({})), e).await);
        }
        taken => {
            let taken = taken?;
            end.map_err(sqlx_err)?;
            conn.release();
            taken
        }
    };
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        migration_version: version,
        tenant: model.slug.clone(),
        exported_at: Utc::now(),
        tables: spooled.iter().map(|s| s.entry.clone()).collect(),
    };
    let rows: serde_json::Map<String, serde_json::Value> =
        manifest.tables.iter().map(|t| (t.name.clone(), t.rows.into())).collect();
    let detail = json!({"slug": slug.as_str(), "version": manifest.migration_version, "rows": rows});
    let archive = tokio::task::spawn_blocking(move || archive::write(manifest, spooled))
        .await
        .map_err(|e| ServiceError::Unexpected(format!("writing the archive: {e}")))??;
    let id = model.id;
    audited(db, actor, audit_of("tenant.export", slug, detail), async |_| Ok(((), Some(id)))).await?;
    Ok(archive)
}

/// Inside the snapshot: the tenant's migration version and each table spooled, once its tables
/// are found to be those its version creates.
async fn snapshot(
    db: &Db,
    conn: &mut PgConnection,
    schema: &SchemaName,
) -> Result<(String, Vec<Spooled>), ServiceError> {
    let present: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(sqlx_err)?;
    if !present {
        return Err(ServiceError::Conflict(format!(
            "the tenant is registered but its schema {schema} is missing: there is nothing to export"
        )));
    }
    // The ledger says which version the tenant is at; without it there is no telling what its
    // tables should be (dropped or emptied behind the service's back).
    let ledger = qualified(schema, "seaql_migrations");
    let has_ledger: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&ledger)
        .persistent(false)
        .fetch_one(&mut *conn)
        .await
        .map_err(sqlx_err)?;
    let version: Option<String> = if has_ledger {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT max(version) FROM {ledger}")))
            .persistent(false)
            .fetch_one(&mut *conn)
            .await
            .map_err(sqlx_err)?
    } else {
        None
    };
    let Some(version) = version else {
        return Err(ServiceError::Conflict(format!(
            "the tenant's migration ledger ({ledger}) is {}: there is no telling which version its \
             tables are at, so nothing was exported; repair the schema first",
            if has_ledger { "empty" } else { "missing" }
        )));
    };
    if !VERSIONS.contains(&version.as_str()) {
        return Err(ServiceError::Conflict(format!(
            "the tenant is at migration version {version}, which this server does not know (it is \
             older than the server that migrated it): export it from an up-to-date server"
        )));
    }
    let held = layout::held(conn, schema).await?;
    if let Some(drift) = held.drift_from(&*layout::created_at(db, &version).await?) {
        return Err(ServiceError::Conflict(format!(
            "the tenant's tables are not those its migration version {version} creates ({drift}): \
             an archive of them would not restore, so nothing was exported; repair the schema first"
        )));
    }
    let mut spooled = Vec::new();
    for table in held.0 {
        // Every table is one of TABLES now (it matched the version's layout).
        let Some(name) = TABLES.iter().copied().find(|t| *t == table.name) else {
            return Err(ServiceError::Unexpected(format!("an unchecked table {:?}", table.name)));
        };
        spooled.push(spool(conn, schema, name, table.names()).await?);
    }
    Ok((version, spooled))
}

/// `"<schema>"."<table>"`: `table` is one of [`TABLES`] or the ledger (`seaql_migrations`),
/// the schema a [`SchemaName`].
pub(super) fn qualified(schema: &SchemaName, table: &str) -> String {
    format!("{}.\"{table}\"", schema.quoted())
}

/// COPYs one table to a temp file, hashing and counting rows (one per newline: the text format
/// escapes newlines inside values) as the chunks pass.
async fn spool(
    conn: &mut PgConnection,
    schema: &SchemaName,
    table: &str,
    columns: Vec<String>,
) -> Result<Spooled, ServiceError> {
    let file = tempfile::tempfile().map_err(io_err("creating a table file"))?;
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::from_std(file));
    let (mut hasher, mut rows, mut bytes) = (Sha256::new(), 0u64, 0u64);
    let copy = format!("COPY {} TO STDOUT", qualified(schema, table));
    let mut stream = conn.copy_out_raw(&copy).await.map_err(sqlx_err)?;
    while let Some(chunk) = stream.try_next().await.map_err(sqlx_err)? {
        hasher.update(&chunk);
        rows += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        bytes += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(io_err("writing a table file"))?;
    }
    drop(stream);
    out.flush().await.map_err(io_err("writing a table file"))?;
    let file = out.into_inner().into_std().await;
    let entry = TableEntry {
        name: table.to_owned(),
        file: format!("tables/{table}.copy"),
        columns,
        rows,
        bytes,
        sha256: hex(&hasher.finalize()),
    };
    Ok(Spooled { entry, file })
}
