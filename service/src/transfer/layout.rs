//! [`Layout`]: the tables an archive carries and their columns (name and type, in order), as a
//! tenant schema holds them; and [`created_at`]: the layout a tenant at a migration version is
//! created with. An export whose tenant holds another layout than its version creates (a
//! table dropped or a column added behind the service's back) is refused: its archive would
//! not restore, and an export is only worth what its import gives back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sea_orm::sqlx::{self, PgConnection};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use tenantry_migration::runner::{Direction, migrate_tenant_in};

use super::{TABLES, sqlx_err, steps_to};
use crate::db::Db;
use crate::{SchemaName, ServiceError};

/// Every column of every ordinary or partitioned table of one schema (`$1`), in column order.
const READ: &str = "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod) \
     FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
     WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'p') \
     AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum";

/// The scratch schema the layout of a version is read from: created and migrated in a
/// transaction that is always rolled back, so it is never committed, never a tenant's (those
/// are `tenant_<id>`), and never adopted (it is created with a plain `CREATE SCHEMA`).
const PROBE: &str = "tenantry_layout_probe";

/// One of [`TABLES`] as a schema holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Table {
    pub name: &'static str,
    /// `(name, type)` in column order, the type as `format_type` writes it.
    pub columns: Vec<(String, String)>,
}

impl Table {
    /// The column names, in order.
    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|(name, _)| name.clone()).collect()
    }
}

/// Those of [`TABLES`] a schema holds, in [`TABLES`] order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Layout(pub Vec<Table>);

impl Layout {
    fn from_rows(rows: Vec<(String, String, String)>) -> Self {
        let tables = TABLES.iter().map(|&name| Table {
            name,
            columns: rows.iter().filter(|r| r.0 == name).map(|r| (r.1.clone(), r.2.clone())).collect(),
        });
        Self(tables.filter(|t| !t.columns.is_empty()).collect())
    }

    /// What `self` (the tenant `slug`'s) has that `created` (its version's) does not, in words;
    /// `None` when they are the same.
    pub fn drift_from(&self, created: &Layout) -> Option<String> {
        if self == created {
            return None;
        }
        let listed = |t: Option<&Table>| match t {
            None => "no such table".to_owned(),
            Some(t) => t.columns.iter().map(|(n, ty)| format!("{n} {ty}")).collect::<Vec<_>>().join(", "),
        };
        let find = |l: &Layout, name: &str| l.0.iter().find(|t| t.name == name).cloned();
        let differences: Vec<String> = TABLES
            .iter()
            .filter_map(|&name| {
                let (held, made) = (find(self, name), find(created, name));
                (held != made).then(|| {
                    format!(
                        "{name}: it holds ({}) where its version has ({})",
                        listed(held.as_ref()),
                        listed(made.as_ref())
                    )
                })
            })
            .collect();
        Some(differences.join("; "))
    }
}

/// The layout `schema` holds, read on the export's own connection (inside its snapshot).
pub(super) async fn held(conn: &mut PgConnection, schema: &SchemaName) -> Result<Layout, ServiceError> {
    let rows = sqlx::query_as(READ)
        .bind(schema.as_str())
        .persistent(false)
        .fetch_all(&mut *conn)
        .await
        .map_err(sqlx_err)?;
    Ok(Layout::from_rows(rows))
}

/// The layout a tenant at `version` is created with. Read once per version and process (this
/// build's migrations make it), by migrating [`PROBE`] up to `version` in a transaction that is
/// rolled back; a version this build does not know is refused as an import would refuse it.
pub(super) async fn created_at(db: &Db, version: &str) -> Result<Arc<Layout>, ServiceError> {
    static KNOWN: Mutex<BTreeMap<String, Arc<Layout>>> = Mutex::new(BTreeMap::new());
    if let Some(layout) = KNOWN.lock().ok().and_then(|k| k.get(version).cloned()) {
        return Ok(layout);
    }
    let steps = steps_to(version)?;
    let probe =
        SchemaName::parse(PROBE).map_err(|e| ServiceError::Unexpected(format!("probe schema: {e}")))?;
    let txn = db.connection().begin().await?;
    let made = async {
        txn.execute_unprepared(&format!("CREATE SCHEMA {}", probe.quoted())).await?;
        migrate_tenant_in(&txn, &probe, Direction::Up(Some(steps))).await?;
        let statement = Statement::from_sql_and_values(DbBackend::Postgres, READ, [probe.as_str().into()]);
        let rows = txn.query_all_raw(statement).await?;
        rows.iter()
            .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?)))
            .collect::<Result<Vec<_>, sea_orm::DbErr>>()
    }
    .await;
    txn.rollback().await?;
    let layout = Arc::new(Layout::from_rows(made?));
    if let Ok(mut k) = KNOWN.lock() {
        k.insert(version.to_owned(), Arc::clone(&layout));
    }
    Ok(layout)
}
