//! What tenants' tables hold and take on disk: exact for one tenant, estimated for a page of
//! the fleet in one statement (so a page costs the same whether the fleet has 10 or 10,000
//! tenants).
//!
//! Rows are counted only in the tenant tables the entities define (`products`, `orders`);
//! `total_bytes` is the whole schema: every table with its indexes and TOAST, the migration
//! ledger and the sequences. Sizes are what this Postgres holds locally: on a Citus
//! coordinator a distributed schema's tables live on a worker and read as near zero here.

use sea_orm::{DbBackend, EntityName, FromQueryResult, PaginatorTrait, Statement};
use tenantry_entity::{order, product};

use crate::db::{Db, On};
use crate::page::{Page, PageRequest};
use crate::tenants::{self, Slug};
use crate::{ServiceError, TenantScope};

/// One tenant table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableUsage {
    /// Its name in the tenant's schema.
    pub table: String,
    /// Its rows: counted, or the statistics system's live-tuple estimate (see
    /// [`Storage::rows_exact`]).
    pub rows: u64,
    /// Bytes on disk, indexes and TOAST included.
    pub bytes: u64,
}

/// What one tenant's schema holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    /// Registry id.
    pub id: i64,
    /// Slug.
    pub slug: String,
    /// Schema.
    pub schema: String,
    /// The entity tables the schema has, in name order (the fleet's list shows all).
    pub tables: Vec<TableUsage>,
    /// Bytes of the whole schema on disk.
    pub total_bytes: u64,
    /// Whether `tables[..].rows` were counted (one tenant) or estimated (the fleet).
    pub rows_exact: bool,
}

/// The relations of schema `n` that have storage of their own, found through `pg_depend` (each
/// depends on its schema, and `pg_depend` is indexed by what is depended on: `pg_class` has no
/// index on the schema alone, and scanning it costs ~17 ms per tenant at 10,000 tenants).
/// Indexes and TOAST are counted with their table by `pg_total_relation_size`.
macro_rules! relations_of_n {
    () => {
        "LEFT JOIN pg_depend d ON d.refclassid = 'pg_namespace'::regclass AND d.refobjid = n.oid \
           AND d.classid = 'pg_class'::regclass \
         LEFT JOIN pg_class c ON c.oid = d.objid AND c.relkind IN ('r', 'p', 'm', 'S') "
    };
}

/// Bytes of every relation of the schema named `$1`.
const SCHEMA_BYTES: &str = concat!(
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes \
     FROM pg_namespace n ",
    relations_of_n!(),
    "WHERE n.nspname = $1"
);

/// The size of relation `$2` of schema `$1`, 0 if it is missing.
const TABLE_BYTES: &str = "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relname = $2";

/// Whether schema `$1` has a relation named `$2`.
const TABLE_PRESENT: &str = "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n \
     ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2) AS present";

/// A page of the registry in slug order (`$1` limit, `$2` offset), each tenant with every
/// relation of its schema: live-tuple estimate and size. One row per relation, or one row with
/// nulls for a tenant whose schema is missing.
const FLEET: &str = concat!(
    "SELECT t.id, t.slug, t.schema_name, c.relname AS relation, \
       pg_stat_get_live_tuples(c.oid) AS rows, pg_total_relation_size(c.oid) AS bytes \
     FROM (SELECT id, slug, schema_name FROM tenantry.tenants ORDER BY slug LIMIT $1 OFFSET $2) t \
     LEFT JOIN pg_namespace n ON n.nspname = t.schema_name ",
    relations_of_n!(),
    "ORDER BY t.slug, c.relname"
);

/// The tenant tables rows are reported for, in name order.
fn entity_tables() -> [&'static str; 2] {
    let mut tables = [order::Entity.table_name(), product::Entity.table_name()];
    tables.sort_unstable();
    tables
}

#[derive(FromQueryResult)]
struct Present {
    present: bool,
}

#[derive(FromQueryResult)]
struct Bytes {
    bytes: i64,
}

#[derive(FromQueryResult)]
struct FleetRow {
    id: i64,
    slug: String,
    schema_name: String,
    relation: Option<String>,
    rows: Option<i64>,
    bytes: Option<i64>,
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// One tenant's tables, rows counted, in one read-only unit of work.
pub async fn of_tenant(db: &Db, slug: &Slug) -> Result<Storage, ServiceError> {
    db.run(On::Control, async |work| {
        let tenant = tenants::find(work, slug).await?;
        let schema = tenants::stored_schema(&tenant)?;
        if !tenantry_pg::database::schema_exists(work, &schema).await? {
            return Err(ServiceError::Conflict(format!(
                "tenant '{slug}' is registered but its schema {schema} is missing"
            )));
        }
        let scope = TenantScope::new(schema.clone());
        let bytes = async |sql: &str, values: Vec<sea_orm::Value>| -> Result<u64, ServiceError> {
            let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
            let row = Bytes::find_by_statement(statement).one(work).await?;
            Ok(row.map_or(0, |r| unsigned(r.bytes)))
        };
        let mut tables = Vec::new();
        for table in entity_tables() {
            // A tenant rolled back by an operator may not have every table yet: list those it has.
            let present = Statement::from_sql_and_values(
                DbBackend::Postgres,
                TABLE_PRESENT,
                [schema.as_str().into(), table.into()],
            );
            if Present::find_by_statement(present).one(work).await?.is_none_or(|p| !p.present) {
                continue;
            }
            let rows = if table == product::Entity.table_name() {
                scope.find::<product::Entity>().count(work).await?
            } else {
                scope.find::<order::Entity>().count(work).await?
            };
            let size = bytes(TABLE_BYTES, vec![schema.as_str().into(), table.into()]).await?;
            tables.push(TableUsage { table: table.to_owned(), rows, bytes: size });
        }
        let total_bytes = bytes(SCHEMA_BYTES, vec![schema.as_str().into()]).await?;
        Ok(Storage {
            id: tenant.id,
            slug: tenant.slug,
            schema: tenant.schema_name,
            tables,
            total_bytes,
            rows_exact: true,
        })
    })
    .await
}

/// A page of the fleet in slug order, rows estimated: two statements whatever the page size.
pub async fn of_fleet(db: &Db, page: PageRequest) -> Result<Page<Storage>, ServiceError> {
    db.run(On::Control, async |work| {
        let total = tenants::count(work).await?;
        let limit = i64::try_from(page.limit()).unwrap_or(i64::MAX);
        let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
        let statement =
            Statement::from_sql_and_values(DbBackend::Postgres, FLEET, [limit.into(), offset.into()]);
        let rows = FleetRow::find_by_statement(statement).all(work).await?;
        // Rows come in the registry's slug order (Postgres' collation), a tenant's together.
        let mut items: Vec<Storage> = Vec::new();
        for row in rows {
            if items.last().is_none_or(|last| last.id != row.id) {
                items.push(Storage {
                    id: row.id,
                    slug: row.slug,
                    schema: row.schema_name,
                    tables: entity_tables()
                        .map(|t| TableUsage { table: t.to_owned(), rows: 0, bytes: 0 })
                        .into(),
                    total_bytes: 0,
                    rows_exact: false,
                });
            }
            let Some(storage) = items.last_mut() else { continue };
            let bytes = unsigned(row.bytes.unwrap_or(0));
            storage.total_bytes += bytes;
            if let Some(table) = storage.tables.iter_mut().find(|t| Some(&t.table) == row.relation.as_ref()) {
                table.rows = unsigned(row.rows.unwrap_or(0));
                table.bytes = bytes;
            }
        }
        Ok(Page { items, request: page, total })
    })
    .await
}
