//! [`Layout`]: the tables of a tenant schema as an archive depends on them (kind, columns with
//! their types and nullability, constraints, inheritance children), and [`created_at`]: the
//! layout a tenant at a migration version is created with. An export whose tenant holds
//! another layout than its version creates (a table dropped or added, a column added or
//! retyped, a constraint dropped, a child table hiding rows from `COPY` behind the service's
//! back) is refused: its archive would not restore as it is, and an export is only worth what
//! its import gives back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sea_orm::sqlx::{self, PgConnection};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use tenantry_migration::runner::{Direction, migrate_tenant_in};

use super::{TABLES, sqlx_err, steps_to};
use crate::db::Db;
use crate::{SchemaName, ServiceError};

/// Every ordinary or partitioned table of one schema (`$1`) but the migration ledger, with its
/// kind, whether another table inherits from it, and its columns in order (none: `NULL`).
const TABLES_SQL: &str = "SELECT c.relname::text, c.relkind::text, \
     EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid), a.attname::text, \
     format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
     FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'p') AND c.relname <> 'seaql_migrations' \
     ORDER BY c.relname, a.attnum";

/// The constraints of those tables, by name, as `pg_get_constraintdef` writes them.
const CONSTRAINTS_SQL: &str = "SELECT c.relname::text, k.conname::text, pg_get_constraintdef(k.oid) \
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
     WHERE c.relnamespace = to_regnamespace($1) AND c.relname <> 'seaql_migrations' ORDER BY 1, 2";

/// The scratch schema the layout of a version is read from: created and migrated in a
/// transaction that is always rolled back, so it is never committed, never a tenant's (those
/// are `tenant_<id>`), and never adopted (it is created with a plain `CREATE SCHEMA`).
const PROBE: &str = "tenantry_layout_probe";

type TableRow = (String, String, bool, Option<String>, Option<String>);
type ConstraintRow = (String, String, String);

/// One table of a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Table {
    pub name: String,
    /// `r` (a plain table) or `p` (partitioned), as `pg_class.relkind`.
    kind: String,
    /// Whether another table inherits from it (`COPY` leaves such a child's rows out).
    children: bool,
    /// `(name, type)` in column order, the type as `format_type` writes it, `not null` added.
    columns: Vec<(String, String)>,
    /// `(name, definition)` by name, the schema's own name taken out of references.
    constraints: Vec<(String, String)>,
}

impl Table {
    /// The column names, in order.
    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|(name, _)| name.clone()).collect()
    }

    /// What `self` (the tenant's) has that `made` (its version's) does not, in words.
    fn differences(&self, made: &Table, out: &mut Vec<String>) {
        let name = &self.name;
        if self.kind != made.kind {
            out.push(format!(
                "{name}: its kind is {:?} where its version creates {:?}",
                self.kind, made.kind
            ));
        }
        if self.children {
            out.push(format!("{name}: another table inherits from it (an archive would leave out its rows)"));
        }
        if self.columns != made.columns {
            let (held, made) = (listed(&self.columns), listed(&made.columns));
            out.push(format!("{name}: it holds the columns ({held}) where its version has ({made})"));
        }
        if self.constraints != made.constraints {
            let (held, made) = (listed(&self.constraints), listed(&made.constraints));
            out.push(format!("{name}: its constraints are ({held}) where its version has ({made})"));
        }
    }
}

fn listed(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(n, what)| format!("{n} {what}")).collect::<Vec<_>>().join(", ")
}

/// The tables of one schema: [`TABLES`] first, in their order, then any other, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Layout(pub Vec<Table>);

impl Layout {
    fn from_rows(schema: &SchemaName, tables: Vec<TableRow>, constraints: Vec<ConstraintRow>) -> Self {
        let mut by_name: BTreeMap<String, Table> = BTreeMap::new();
        for (name, kind, children, column, kind_of_column) in tables {
            let table = by_name.entry(name.clone()).or_insert_with(|| Table {
                name,
                kind,
                children,
                columns: Vec::new(),
                constraints: Vec::new(),
            });
            if let (Some(column), Some(type_)) = (column, kind_of_column) {
                table.columns.push((column, type_));
            }
        }
        // A reference names its table's schema when that schema is not on the search path
        // (an export's connection has none); the scratch schema's are unqualified.
        let own = format!("{schema}.");
        for (table, name, definition) in constraints {
            if let Some(table) = by_name.get_mut(&table) {
                table.constraints.push((name, definition.replace(&own, "")));
            }
        }
        let mut known: Vec<Table> = TABLES.iter().filter_map(|t| by_name.remove(*t)).collect();
        known.extend(by_name.into_values());
        Self(known)
    }

    /// What `self` (a tenant's) has that `created` (its version's) does not, in words; `None`
    /// when they are the same.
    pub fn drift_from(&self, created: &Layout) -> Option<String> {
        let mut out = Vec::new();
        for made in &created.0 {
            match self.0.iter().find(|t| t.name == made.name) {
                Some(held) => held.differences(made, &mut out),
                None => out.push(format!("{}: no such table, where its version creates one", made.name)),
            }
        }
        for held in self.0.iter().filter(|t| !created.0.iter().any(|m| m.name == t.name)) {
            out.push(format!("{}: a table its version does not create", held.name));
        }
        (!out.is_empty()).then(|| out.join("; "))
    }
}

/// The layout `schema` holds, read on the export's own connection (inside its snapshot).
pub(super) async fn held(conn: &mut PgConnection, schema: &SchemaName) -> Result<Layout, ServiceError> {
    let tables = sqlx::query_as(TABLES_SQL)
        .bind(schema.as_str())
        .persistent(false)
        .fetch_all(&mut *conn)
        .await
        .map_err(sqlx_err)?;
    let constraints = sqlx::query_as(CONSTRAINTS_SQL)
        .bind(schema.as_str())
        .persistent(false)
        .fetch_all(&mut *conn)
        .await
        .map_err(sqlx_err)?;
    Ok(Layout::from_rows(schema, tables, constraints))
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
        let read =
            |sql: &str| Statement::from_sql_and_values(DbBackend::Postgres, sql, [probe.as_str().into()]);
        let tables = txn.query_all_raw(read(TABLES_SQL)).await?;
        let tables = tables
            .iter()
            .map(|r| {
                Ok((
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    r.try_get_by_index(2)?,
                    r.try_get_by_index(3)?,
                    r.try_get_by_index(4)?,
                ))
            })
            .collect::<Result<Vec<TableRow>, sea_orm::DbErr>>()?;
        let constraints = txn.query_all_raw(read(CONSTRAINTS_SQL)).await?;
        let constraints = constraints
            .iter()
            .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?)))
            .collect::<Result<Vec<ConstraintRow>, sea_orm::DbErr>>()?;
        Ok::<_, sea_orm::DbErr>((tables, constraints))
    }
    .await;
    txn.rollback().await?;
    let (tables, constraints) = made?;
    let layout = Arc::new(Layout::from_rows(&probe, tables, constraints));
    if let Ok(mut k) = KNOWN.lock() {
        k.insert(version.to_owned(), Arc::clone(&layout));
    }
    Ok(layout)
}
