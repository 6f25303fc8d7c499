//! [`import`]: an archive's rows into a new tenant (or an existing empty one) in ONE
//! transaction with its provisioning and audit entry: the schema is created at the archive's
//! migration version, the rows are loaded with their ids, each identity continues after the
//! largest id, and the schema is migrated forward to this build's version. Any failure leaves
//! nothing: no schema, no registry row, no key.

use std::fs::File;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, Statement};
use serde_json::{Map, Value, json};
use tenantry_entity::tenant;
use tenantry_migration::runner::{Direction, migrate_tenant_in};
use tokio::io::AsyncBufReadExt;

use super::archive::{self, Manifest, Spooled, Unpacked};
use super::copy_text::parse_row;
use super::export::qualified;
use super::{TABLES, io_err, refused, steps_to};
use crate::audit::{Actor, audited};
use crate::db::{Db, Tx};
use crate::keys::IssuedKey;
use crate::limits::Limits;
use crate::limits::quota::RowQuota;
use crate::tenants::{self, NewTenant, Registry, Slug, audit_of, audit_of_new, schema_for};
use crate::values::{Description, Money, Name, Quantity};
use crate::{SchemaName, ServiceError};

/// Rows per INSERT while loading: about 1.5 MB of JSON for products, one round trip each.
const BATCH: usize = 5_000;

/// Where an archive goes.
#[derive(Clone, Debug)]
pub enum ImportTarget {
    /// A new tenant, provisioned as `POST /tenants` does (with a first API key).
    New(NewTenant),
    /// An existing tenant whose tables are all empty (its keys stay as they are).
    Into(Slug),
}

/// A tenant restored from an archive.
#[derive(Debug)]
pub struct Imported {
    /// Its registry row, at this build's migration version.
    pub tenant: tenant::Model,
    /// Its first API key, when the import provisioned it.
    pub key: Option<IssuedKey>,
    /// The archive's manifest (what was loaded: tables and row counts).
    pub manifest: Manifest,
}

/// Checks `archive` and loads it into `target`, all or nothing; audited (a refused archive
/// is recorded as refused, with why).
pub async fn import(
    db: &Db,
    registry: &Registry,
    actor: &Actor,
    target: ImportTarget,
    archive: File,
) -> Result<Imported, ServiceError> {
    let (slug, audit_of) = match &target {
        ImportTarget::New(new) => (new.slug.clone(), audit_of_new as fn(_, &_, _) -> _),
        ImportTarget::Into(slug) => (slug.clone(), audit_of as fn(_, &_, _) -> _),
    };
    let checked = async {
        let unpacked = tokio::task::spawn_blocking(move || archive::unpack(archive))
            .await
            .map_err(|e| ServiceError::Unexpected(format!("reading the archive: {e}")))??;
        let steps = steps_to(&unpacked.manifest.migration_version)?;
        Ok::<_, ServiceError>((unpacked, steps))
    };
    let (unpacked, steps) = match checked.await {
        Ok(checked) => checked,
        Err(e) => return Err(refused(db, actor, audit_of("tenant.import", &slug, json!({})), e).await),
    };
    let manifest = &unpacked.manifest;
    let rows: Map<String, Value> = manifest.tables.iter().map(|t| (t.name.clone(), t.rows.into())).collect();
    let detail = json!({
        "slug": slug.as_str(),
        "into": matches!(target, ImportTarget::Into(_)),
        "from_tenant": manifest.tenant,
        "archive_version": manifest.migration_version,
        "rows": rows,
    });
    let (model, key) = audited(db, actor, audit_of("tenant.import", &slug, detail), async |tx| {
        // Loading a large tenant takes what it takes: no statement timeout for this transaction.
        tx.execute_unprepared("SET LOCAL statement_timeout = 0").await?;
        let (tenant, schema, key) = match &target {
            ImportTarget::New(new) => {
                let (model, key) = tenants::provision_in(tx, new, Some(steps)).await?;
                let schema = schema_for(model.id)?;
                (model, schema, Some(key))
            }
            ImportTarget::Into(slug) => {
                let (model, schema) = empty_tenant_at(tx, slug, steps).await?;
                (model, schema, None)
            }
        };
        let id = tenant.id;
        within_quotas(&slug, registry.limits_of(&tenant)?, &unpacked.manifest)?;
        load(tx, &schema, &unpacked).await?;
        migrate_tenant_in(tx.transaction()?, &schema, Direction::Up(None)).await?;
        let model = tenant::Entity::find_by_id(id)
            .one(tx)
            .await?
            .ok_or_else(|| ServiceError::Unexpected("imported tenant vanished".to_owned()))?;
        Ok(((model, key), Some(id)))
    })
    .await?;
    registry.remember(&model).await?;
    Ok(Imported { tenant: model, key, manifest: unpacked.manifest })
}

/// Locks the existing tenant `slug`, checks that none of its tables holds a row, and brings
/// its schema to the archive's version (down to nothing, then up `steps`: it is empty).
async fn empty_tenant_at(
    tx: &Tx,
    slug: &Slug,
    steps: u32,
) -> Result<(tenant::Model, SchemaName), ServiceError> {
    let model = tenants::find_locked(tx, slug).await?;
    let schema = tenants::stored_schema(&model)?;
    for &table in TABLES {
        if columns(tx, &schema, table).await?.is_empty() {
            continue;
        }
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {}) AS rows", qualified(&schema, table));
        let row = tx.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
        if row.map(|r| r.try_get::<bool>("", "rows")).transpose()?.unwrap_or(false) {
            return Err(ServiceError::Conflict(format!(
                "tenant '{slug}' is not empty (its {table} has rows): import only into an empty tenant"
            )));
        }
    }
    migrate_tenant_in(tx.transaction()?, &schema, Direction::Down(None)).await?;
    migrate_tenant_in(tx.transaction()?, &schema, Direction::Up(Some(steps))).await?;
    Ok((model, schema))
}

/// Refuses an archive that holds more rows of a table than the tenant's quota on it allows
/// (its own, or the default from settings): an import is held to the quotas as creates are.
fn within_quotas(slug: &Slug, limits: Limits, manifest: &Manifest) -> Result<(), ServiceError> {
    let quotas = [RowQuota::products(limits.max_products), RowQuota::orders(limits.max_orders)];
    for quota in quotas.into_iter().flatten() {
        let Some(table) = manifest.tables.iter().find(|t| t.name == quota.rows) else { continue };
        if table.rows > quota.max {
            return Err(ServiceError::Conflict(format!(
                "the archive holds {} {}, more than tenant '{slug}' may hold ({} is {}): raise its quota \
                 or import into a tenant with room; nothing was written",
                table.rows, quota.rows, quota.name, quota.max
            )));
        }
    }
    Ok(())
}

/// `table`'s columns in `schema`, in order; empty if there is no such table.
async fn columns(tx: &Tx, schema: &SchemaName, table: &str) -> Result<Vec<String>, ServiceError> {
    let rows = tx
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT attname::text AS name FROM pg_attribute WHERE attrelid = to_regclass($1) \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [qualified(schema, table).into()],
        ))
        .await?;
    Ok(rows.iter().map(|r| r.try_get::<String>("", "name")).collect::<Result<_, _>>()?)
}

/// Loads every table of the archive, then sets each identity after its largest id.
async fn load(tx: &Tx, schema: &SchemaName, unpacked: &Unpacked) -> Result<(), ServiceError> {
    let version = &unpacked.manifest.migration_version;
    // Every table a tenant has at that version, none missing (an archive without its orders
    // would otherwise restore a tenant without them).
    let mut present = Vec::new();
    for &table in TABLES {
        if !columns(tx, schema, table).await?.is_empty() {
            present.push(table);
        }
    }
    let archived: Vec<&str> = unpacked.tables.iter().map(|t| t.entry.name.as_str()).collect();
    if archived != present {
        return Err(ServiceError::Invalid(format!(
            "the archive holds the tables {archived:?}, but a tenant at version {version} has {present:?}"
        )));
    }
    for spooled in &unpacked.tables {
        let table = TABLES
            .iter()
            .copied()
            .find(|t| *t == spooled.entry.name)
            .ok_or_else(|| ServiceError::Unexpected("an unchecked table name".to_owned()))?;
        let columns = columns(tx, schema, table).await?;
        if columns != spooled.entry.columns {
            return Err(ServiceError::Invalid(format!(
                "the archive's {table} columns {:?} are not those of {table} at version {version} ({columns:?})",
                spooled.entry.columns
            )));
        }
        load_table(tx, schema, table, &columns, spooled).await?;
        let continue_ids = format!(
            "SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE((SELECT max(id) FROM {}), 0) + 1, false)",
            qualified(schema, table)
        );
        let args = [qualified(schema, table).into()];
        // An id the sequence cannot continue after (negative, or the largest bigint) is the
        // archive's fault too.
        tx.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, continue_ids, args))
            .await
            .map_err(|e| rows_refused(table, e))?;
    }
    Ok(())
}

/// Reads one table's COPY text rows in batches of [`BATCH`] and inserts each batch with its
/// ids (`OVERRIDING SYSTEM VALUE`) through `json_populate_recordset`, which gives every value
/// to its column type's input function, as COPY would.
async fn load_table(
    tx: &Tx,
    schema: &SchemaName,
    table: &str,
    columns: &[String],
    spooled: &Spooled,
) -> Result<(), ServiceError> {
    let file = spooled.file.try_clone().map_err(io_err("reopening a table file"))?;
    let mut file = tokio::fs::File::from_std(file);
    tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(0))
        .await
        .map_err(io_err("rewinding a table file"))?;
    let mut reader = tokio::io::BufReader::with_capacity(256 * 1024, file);
    let target = qualified(schema, table);
    let insert = format!(
        "INSERT INTO {target} OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_recordset(NULL::{target}, $1::json)"
    );
    let (mut line, mut batch, mut row_no) = (Vec::new(), Vec::with_capacity(BATCH), 0u64);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).await.map_err(io_err("reading a table file"))?;
        if n > 0 {
            row_no += 1;
            let bytes = line.strip_suffix(b"\n").unwrap_or(&line);
            let values = parse_row(bytes).map_err(|why| bad_row(table, row_no, &why))?;
            if values.len() != columns.len() {
                let why = format!("{} columns where the table has {}", values.len(), columns.len());
                return Err(bad_row(table, row_no, &why));
            }
            check_row(table, columns, &values).map_err(|why| {
                // The id is what an operator can look the row up by; the position is where it is.
                let id = columns.iter().position(|c| c == "id").and_then(|i| values[i].as_deref());
                let id = id.filter(|id| id.parse::<i64>().is_ok());
                let id = id.map(|id| format!(" (id {id})")).unwrap_or_default();
                ServiceError::Invalid(format!(
                    "the archive's {table} row {row_no}{id} breaks a rule of the API: {why}"
                ))
            })?;
            let row: Map<String, Value> = columns
                .iter()
                .cloned()
                .zip(values.into_iter().map(|v| v.map_or(Value::Null, Value::String)))
                .collect();
            batch.push(Value::Object(row));
        }
        if batch.len() == BATCH || (n == 0 && !batch.is_empty()) {
            let json = Value::Array(std::mem::take(&mut batch)).to_string();
            let statement = Statement::from_sql_and_values(DbBackend::Postgres, &insert, [json.into()]);
            tx.execute_raw(statement).await.map_err(|e| rows_refused(table, e))?;
        }
        if n == 0 {
            return Ok(());
        }
    }
}

/// Holds an archived row to the rules the API holds a created row to, where the database alone
/// would not (it keeps a 300-character name, and rounds a third decimal away): a name as
/// `Name`, a description as `Description`, a price as `Money`, a quantity as `Quantity`, a
/// time as a real moment written as COPY writes one (no `infinity`, `now` or `epoch`).
/// An order's total is not checked against its product's price: prices change after orders.
fn check_row(table: &str, columns: &[String], values: &[Option<String>]) -> Result<(), String> {
    let value = |name: &str| columns.iter().position(|c| c == name).and_then(|i| values[i].clone());
    let decimal = |name: &str, text: String| {
        text.parse::<rust_decimal::Decimal>().map_err(|e| format!("{name} {text:?} is not a decimal: {e}"))
    };
    match table {
        "products" => {
            if let Some(name) = value("name") {
                Name::parse("name", name).map_err(|e| e.to_string())?;
            }
            if let Some(description) = value("description") {
                Description::parse(description).map_err(|e| e.to_string())?;
            }
            if let Some(price) = value("price") {
                Money::price(decimal("price", price)?).map_err(|e| e.to_string())?;
            }
            if let Some(at) = value("created_at") {
                timestamp("created_at", &at)?;
            }
        }
        "orders" => {
            if let Some(at) = value("order_date") {
                timestamp("order_date", &at)?;
            }
            if let Some(quantity) = value("quantity") {
                let n = quantity.parse::<i64>().map_err(|e| format!("quantity {quantity:?}: {e}"))?;
                Quantity::parse(n).map_err(|e| e.to_string())?;
            }
            if let Some(total) = value("total_price") {
                let total = decimal("total_price", total)?;
                if total.is_sign_negative() || total.normalize().scale() > 2 || total > Money::max() {
                    return Err(format!(
                        "total_price {total} is not an amount of at most two decimals from 0 to {}",
                        Money::max()
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A time as COPY writes a `timestamptz` (`2026-12-03 09:03:22.605603+00`): a real moment.
/// Postgres would also take `infinity`, `now`, `yesterday` or `epoch`, which no created row
/// holds, and `infinity` is a value the service cannot read back (its reads would fail).
fn timestamp(name: &str, text: &str) -> Result<(), String> {
    chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z").map(drop).map_err(|_| {
        format!("{name} {text:?} is not a time as an export writes it (e.g. 2026-12-03 09:03:22.605603+00)")
    })
}

fn bad_row(table: &str, row: u64, why: &str) -> ServiceError {
    ServiceError::Invalid(format!("the archive's {table} row {row} is not a valid COPY text row: {why}"))
}

/// A row the database refuses (a value that does not parse, a broken reference or check) is
/// the archive's fault: 400 naming it. Anything else stays what it is.
fn rows_refused(table: &str, e: DbErr) -> ServiceError {
    // Classes 22 (data exception) and 23 (integrity constraint violation).
    match tenantry_pg::sql_state(&e) {
        Some(state) if state.starts_with("22") || state.starts_with("23") => {
            let said = tenantry_pg::db_message(&e).unwrap_or_else(|| e.to_string());
            ServiceError::Invalid(format!("the archive's {table} rows do not load: {said}"))
        }
        _ => e.into(),
    }
}
