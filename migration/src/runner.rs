//! Runs a migration set against one schema, safely for pools and concurrent deploys.
//!
//! sea-orm-migration keeps its ledger (`seaql_migrations`) in the first schema on
//! `search_path`. So each run opens a transaction, takes a transaction-level advisory lock for
//! the schema (two deploys never migrate the same schema at once), creates the schema if it is
//! missing, pins `search_path` with `SET LOCAL` (undone at commit or rollback, so no session
//! state survives on a pooled connection) and creates the ledger table if it is missing, all
//! in one round trip. The ledger rows a run writes, the registry's version and the lock on the
//! registry row then go in one statement at the end: a fleet run pays per tenant in round
//! trips, which cost far more than the bookkeeping itself (docs/DESIGN-NOTES.md).
//! The tool's runs on registered tenants send the same statements in four messages instead
//! (`batched`); this path serves control migrations and provisioning, inside the service's
//! transactions.
//!
//! The migrations, their names and the ledger's table are sea-orm-migration's; the loop that
//! applies them, and the one reading of the ledger that it and `status` share
//! ([`read_ledger`]), are ours: sea-orm-migration's own `up`/`down` create the ledger table
//! (with a NOTICE) and re-read it several times per call, which a fleet of 10,000 tenants
//! pays per tenant (why it is kept, and what measuring showed: docs/DESIGN-NOTES.md). A run
//! is one transaction, so a failing migration leaves its tenant exactly as it was, ledger
//! included.

use std::collections::HashSet;

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityName, QueryResult,
    Schema, Statement, TransactionTrait, Value,
};
use sea_orm_migration::sea_query::PostgresQueryBuilder;
use sea_orm_migration::{MigrationTrait, MigratorTraitSelf, SchemaManager, seaql_migrations};

use crate::control::ControlMigrator;
use crate::tenant::TenantMigrator;
use tenantry_entity::tenant as registry;
use tenantry_pg::{CONTROL_SCHEMA, SchemaName};

/// Which way to migrate, and how many steps (`None`: all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Apply pending migrations.
    Up(Option<u32>),
    /// Roll back applied migrations, newest first.
    Down(Option<u32>),
}

/// What a run did to one tenant's schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantOutcome {
    /// Migrations applied or rolled back by this run, in the order they ran.
    pub changed: Vec<String>,
    /// The tenant's version afterwards: the newest applied migration, if any.
    pub version: Option<String>,
}

/// Where a run's ledger lives: the control schema, or one tenant's schema.
enum Target<'a> {
    Control,
    Tenant(&'a SchemaName),
}

impl Target<'_> {
    fn name(&self) -> &str {
        match self {
            Target::Control => CONTROL_SCHEMA,
            Target::Tenant(schema) => schema.as_str(),
        }
    }

    /// The quoted identifier. The control name is a constant within the same grammar as
    /// [`SchemaName`] (`SchemaName::parse` refuses it only as reserved, after every grammar
    /// rule, as its `reserved_names_are_rejected` test shows), so neither can escape its quotes.
    fn quoted(&self) -> String {
        format!("\"{}\"", self.name())
    }

    /// The name as a string literal, safe for the same reason: the grammar has no `'`.
    fn literal(&self) -> String {
        format!("'{}'", self.name())
    }
}

/// Brings the control schema (the tenant registry) up to date. Idempotent.
pub async fn migrate_control(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let txn = db.begin().await?;
    let applied = migrate_control_in(&txn).await?;
    txn.commit().await?;
    Ok(applied)
}

/// Brings the control schema up to date inside the caller's transaction. Leaves `search_path`
/// pinned to the control schema until the transaction ends.
pub async fn migrate_control_in(txn: &DatabaseTransaction) -> Result<Vec<String>, DbErr> {
    pin(txn, &Target::Control).await?;
    run(&ControlMigrator, txn, Direction::Up(None)).await
}

/// Migrates one tenant's schema in its own transaction, creating the schema if it is missing.
pub async fn migrate_tenant(
    db: &DatabaseConnection,
    schema: &SchemaName,
    direction: Direction,
) -> Result<TenantOutcome, DbErr> {
    let txn = db.begin().await?;
    let outcome = migrate_tenant_in(&txn, schema, direction).await?;
    txn.commit().await?;
    Ok(outcome)
}

/// Migrates one tenant's schema inside the caller's transaction (provisioning uses this to
/// create the registry row, the schema and its tables atomically). Records the resulting
/// version on the tenant's registry row, if it has one. Leaves `search_path` pinned to the
/// tenant until the transaction ends.
pub async fn migrate_tenant_in(
    txn: &DatabaseTransaction,
    schema: &SchemaName,
    direction: Direction,
) -> Result<TenantOutcome, DbErr> {
    Ok(migrate_registered_in(txn, schema, direction).await?.0)
}

/// A tenant's registry row, as a run recorded its version on it.
pub(crate) struct RecordedOn {
    /// The tenant's registry id.
    pub(crate) id: i64,
    /// The tenant's slug.
    pub(crate) slug: String,
}

/// [`migrate_tenant_in`], also returning the tenant's registry row, locked (`FOR SHARE`, or
/// by the version's update) until the transaction ends; `None`: the schema is not registered.
///
/// Round trips: one to pin (lock, schema, ledger table, `search_path`), one to read the ledger
/// (and whether the registry exists), one per migration for its DDL, and one for all the
/// bookkeeping (ledger rows, registry row lock and version).
pub(crate) async fn migrate_registered_in(
    txn: &DatabaseTransaction,
    schema: &SchemaName,
    direction: Direction,
) -> Result<(TenantOutcome, Option<RecordedOn>), DbErr> {
    pin(txn, &Target::Tenant(schema)).await?;
    let migrator = TenantMigrator::new(schema.clone());
    let migrations = migrator.migrations();
    let (mut applied, registry) = read_ledger(&migrations, txn).await?;
    let changed = apply(&migrations, &mut applied, txn, direction).await?;
    let version = newest(&migrations, &applied);
    let recorded = if registry {
        record(txn, direction, &changed, schema, version.as_deref()).await?
    } else {
        write_ledger(txn, direction, &changed).await?;
        None
    };
    Ok((TenantOutcome { changed, version }, recorded))
}

/// Applies (or rolls back) `direction`'s migrations of `migrator` in `txn` and records them
/// in the ledger of the pinned schema. Returns the migrations it ran, in order.
async fn run<M: MigratorTraitSelf>(
    migrator: &M,
    txn: &DatabaseTransaction,
    direction: Direction,
) -> Result<Vec<String>, DbErr> {
    let migrations = migrator.migrations();
    let (mut applied, _) = read_ledger(&migrations, txn).await?;
    let changed = apply(&migrations, &mut applied, txn, direction).await?;
    write_ledger(txn, direction, &changed).await?;
    Ok(changed)
}

/// Runs `direction`'s migrations, marking them in `applied`; the ledger is written afterwards,
/// in the same transaction, by the caller. Returns the migrations it ran, in order.
async fn apply(
    migrations: &[Box<dyn MigrationTrait>],
    applied: &mut [bool],
    txn: &DatabaseTransaction,
    direction: Direction,
) -> Result<Vec<String>, DbErr> {
    let manager = SchemaManager::new(txn);
    let up = matches!(direction, Direction::Up(_));
    let mut changed = Vec::new();
    for i in plan(applied, direction) {
        if up {
            migrations[i].up(&manager).await?;
        } else {
            migrations[i].down(&manager).await?;
        }
        applied[i] = up;
        changed.push(migrations[i].name().to_owned());
    }
    Ok(changed)
}

/// Which migrations `direction` runs, by index, in the order it runs them, given which are
/// `applied`.
pub(crate) fn plan(applied: &[bool], direction: Direction) -> Vec<usize> {
    let (order, steps): (Vec<usize>, _) = match direction {
        Direction::Up(steps) => ((0..applied.len()).filter(|&i| !applied[i]).collect(), steps),
        Direction::Down(steps) => ((0..applied.len()).rev().filter(|&i| applied[i]).collect(), steps),
    };
    order.into_iter().take(steps.map_or(usize::MAX, |s| s as usize)).collect()
}

/// The newest applied migration, if any.
pub(crate) fn newest(migrations: &[Box<dyn MigrationTrait>], applied: &[bool]) -> Option<String> {
    (0..migrations.len()).rev().find(|&i| applied[i]).map(|i| migrations[i].name().to_owned())
}

/// The one reading of a pinned schema's ledger: whether each of `migrations` is applied, in
/// their order, and (in the same round trip) whether the registry exists. A ledger that
/// records a migration this build does not know is refused: it is newer than this build, or
/// the migration was removed, and either way nothing can be assumed.
async fn read_ledger(
    migrations: &[Box<dyn MigrationTrait>],
    conn: &impl ConnectionTrait,
) -> Result<(Vec<bool>, bool), DbErr> {
    let rows = conn.query_all_raw(Statement::from_string(DbBackend::Postgres, ledger_read_sql())).await?;
    ledger_from_rows(migrations, rows)
}

/// The ledger's reading ([`read_ledger`]): one row per ledger entry, or one row with no
/// version for an empty ledger, each with whether the registry exists (column `registry`).
pub(crate) fn ledger_read_sql() -> String {
    format!(
        "SELECT m.version, to_regclass('{}') IS NOT NULL AS registry \
         FROM (SELECT 1) AS one LEFT JOIN seaql_migrations AS m ON true",
        registry_table()
    )
}

/// What [`ledger_read_sql`]'s rows say: whether each of `migrations` is applied, in their
/// order, and whether the registry exists. Refuses a ledger that records a migration this
/// build does not know.
pub(crate) fn ledger_from_rows(
    migrations: &[Box<dyn MigrationTrait>],
    rows: impl IntoIterator<Item = QueryResult>,
) -> Result<(Vec<bool>, bool), DbErr> {
    let mut registry = false;
    let mut recorded = HashSet::new();
    for row in rows {
        registry = row.try_get("", "registry")?;
        recorded.extend(row.try_get::<Option<String>>("", "version")?);
    }
    let known: HashSet<&str> = migrations.iter().map(|m| m.name()).collect();
    if let Some(unknown) = recorded.iter().find(|v| !known.contains(v.as_str())) {
        return Err(DbErr::Custom(format!(
            "the ledger records migration {unknown}, which this build does not know: it is newer than \
             this build, or was removed"
        )));
    }
    Ok((migrations.iter().map(|m| recorded.contains(m.name())).collect(), registry))
}

/// The ledger's statement for `direction`: `changed` is the SQL of the JSON array of the
/// migrations changed (a parameter or a literal); `time` that of the time applied (up only).
fn ledger_statement(direction: Direction, changed: &str, time: &str) -> String {
    match direction {
        Direction::Up(_) => format!(
            "INSERT INTO seaql_migrations (version, applied_at) \
             SELECT value, {time} FROM json_array_elements_text({changed}::json)"
        ),
        Direction::Down(_) => format!(
            "DELETE FROM seaql_migrations \
             WHERE version IN (SELECT value FROM json_array_elements_text({changed}::json))"
        ),
    }
}

/// The one statement that records a run on a registered tenant: `changed` in the pinned
/// schema's ledger, `version` on the registry row of `schema` (written only if it differs),
/// that row locked until the transaction ends so that it cannot be deleted before the commit.
/// Answers the row's `registry_id` and `registry_slug`, or no row: not registered. Each
/// argument is the SQL of a value: a parameter, or a literal of ours ([`Literals`]).
pub(crate) fn record_sql(
    direction: Direction,
    changed: &str,
    schema: &str,
    version: &str,
    time: &str,
) -> String {
    let table = registry_table();
    format!(
        "WITH ledger AS ({ledger}), \
         tenant AS (SELECT id, slug, version FROM {table} WHERE schema_name = {schema} FOR SHARE), \
         recorded AS (UPDATE {table} AS t SET version = {version}::text, updated_at = CURRENT_TIMESTAMP \
           FROM tenant WHERE t.id = tenant.id AND tenant.version IS DISTINCT FROM {version}::text) \
         SELECT id AS registry_id, slug AS registry_slug FROM tenant",
        ledger = ledger_statement(direction, changed, time),
    )
}

/// The values of a run's bookkeeping written as SQL literals, for statements sent in one
/// simple-protocol message (which takes no parameters). Only values of ours become literals:
/// migration names (constants of this crate, each checked against `[a-z0-9_]`), a schema
/// (through [`SchemaName`]) and numbers.
pub(crate) struct Literals {
    /// The JSON array of the migrations changed.
    pub(crate) changed: String,
    /// The version afterwards, or `NULL`.
    pub(crate) version: String,
    /// Seconds since the Unix epoch.
    pub(crate) time: String,
}

impl Literals {
    pub(crate) fn new(changed: &[String], version: Option<&str>) -> Result<Self, DbErr> {
        for name in changed.iter().map(String::as_str).chain(version) {
            if name.is_empty()
                || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(DbErr::Custom(format!("migration name {name:?} is not of [a-z0-9_]")));
            }
        }
        let changed = serde_json::to_string(changed).map_err(|e| DbErr::Custom(e.to_string()))?;
        Ok(Self {
            changed: format!("'{changed}'"),
            version: version.map_or_else(|| "NULL".to_owned(), |v| format!("'{v}'")),
            time: unix_now().to_string(),
        })
    }
}

/// The values of a statement around [`ledger_statement`]: the changes as `$1`, then `rest`,
/// then, going up, the time applied.
fn ledger_values(direction: Direction, changed: &[String], rest: Vec<Value>) -> Result<Vec<Value>, DbErr> {
    let changed = serde_json::to_string(changed).map_err(|e| DbErr::Custom(e.to_string()))?;
    let mut values = vec![changed.into()];
    values.extend(rest);
    if matches!(direction, Direction::Up(_)) {
        values.push(unix_now().into());
    }
    Ok(values)
}

/// Records `changed` in the pinned schema's ledger (nothing to do if it is empty).
async fn write_ledger(
    txn: &DatabaseTransaction,
    direction: Direction,
    changed: &[String],
) -> Result<(), DbErr> {
    if changed.is_empty() {
        return Ok(());
    }
    let sql = ledger_statement(direction, "$1", "$2");
    let values = ledger_values(direction, changed, Vec::new())?;
    txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    Ok(())
}

/// Records `changed` and `version` with [`record_sql`], its values bound. `None`: `schema` is
/// not registered.
async fn record(
    txn: &DatabaseTransaction,
    direction: Direction,
    changed: &[String],
    schema: &SchemaName,
    version: Option<&str>,
) -> Result<Option<RecordedOn>, DbErr> {
    let sql = record_sql(direction, "$1", "$2", "$3", "$4");
    let rest = vec![schema.as_str().into(), version.map(str::to_owned).into()];
    let values = ledger_values(direction, changed, rest)?;
    let row = txn.query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    row.map(|row| RecordedOn::from_row(&row)).transpose()
}

impl RecordedOn {
    /// The row [`record_sql`] answers.
    pub(crate) fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        Ok(Self { id: row.try_get("", "registry_id")?, slug: row.try_get("", "registry_slug")? })
    }
}

/// The registry's qualified name, e.g. `"tenantry"."tenants"`: two constants of ours.
fn registry_table() -> String {
    format!("\"{CONTROL_SCHEMA}\".\"{}\"", registry::Entity.table_name())
}

/// Seconds since the Unix epoch, as the ledger records them.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Each control migration's name, oldest first, with whether it is applied. Read-only.
pub async fn control_status(db: &DatabaseConnection) -> Result<Vec<(String, bool)>, DbErr> {
    status_of(db, &Target::Control, &ControlMigrator).await
}

/// Each tenant migration's name, oldest first, with whether it is applied to `schema`.
/// Read-only: creates neither the schema nor the ledger.
pub async fn tenant_status(
    db: &DatabaseConnection,
    schema: &SchemaName,
) -> Result<Vec<(String, bool)>, DbErr> {
    status_of(db, &Target::Tenant(schema), &TenantMigrator::new(schema.clone())).await
}

async fn status_of<M: MigratorTraitSelf>(
    db: &DatabaseConnection,
    target: &Target<'_>,
    migrator: &M,
) -> Result<Vec<(String, bool)>, DbErr> {
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SET LOCAL search_path TO {}", target.quoted())).await?;
    let migrations = migrator.migrations();
    // Read-only: a schema without a ledger has nothing applied, and gets no ledger from this.
    let has_ledger = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT to_regclass('seaql_migrations') IS NOT NULL AS present",
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "present"))
        .transpose()?
        .unwrap_or(false);
    let applied =
        if has_ledger { read_ledger(&migrations, &txn).await?.0 } else { vec![false; migrations.len()] };
    txn.rollback().await?;
    Ok(migrations.iter().zip(applied).map(|(m, applied)| (m.name().to_owned(), applied)).collect())
}

/// Serialises runs on one schema, creates it if it is missing, points `search_path` at it for
/// the rest of the transaction and creates its ledger table if that is missing: one
/// simple-protocol message, one round trip.
///
/// Two Citus rules (schema-based sharding, found on Citus 13.2): a schema is created only when
/// `to_regnamespace` finds none, never by `CREATE SCHEMA IF NOT EXISTS`, which registers an
/// existing regular schema as distributed while its tables stay local; and the control schema
/// is created with `citus.enable_schema_based_sharding` off for the transaction, so the
/// registry stays on the coordinator. Where Citus is not loaded, Postgres takes that dotted
/// setting as a placeholder, which `SET LOCAL` drops at the transaction's end.
async fn pin(txn: &DatabaseTransaction, target: &Target<'_>) -> Result<(), DbErr> {
    txn.execute_unprepared(&pin_sql(target)).await?;
    Ok(())
}

/// [`pin`]'s message for a tenant's schema.
pub(crate) fn pin_tenant_sql(schema: &SchemaName) -> String {
    pin_sql(&Target::Tenant(schema))
}

fn pin_sql(target: &Target<'_>) -> String {
    let (quoted, literal) = (target.quoted(), target.literal());
    // sea-orm-migration's own ledger table, as its `install` creates it (but without the
    // NOTICE and the round trip of `CREATE TABLE IF NOT EXISTS`); sea-query's text has no `$$`.
    let ledger = Schema::new(DbBackend::Postgres)
        .create_table_from_entity(seaql_migrations::Entity)
        .to_string(PostgresQueryBuilder);
    let sharding = match target {
        Target::Control => "SET LOCAL citus.enable_schema_based_sharding = off; ",
        Target::Tenant(_) => "",
    };
    format!(
        "SELECT pg_advisory_xact_lock(hashtext('tenantry.migrate'), hashtext({literal})); {sharding}\
         DO $$ BEGIN IF to_regnamespace({literal}) IS NULL THEN CREATE SCHEMA {quoted}; END IF; END $$; \
         SET LOCAL search_path TO {quoted}; \
         DO $$ BEGIN IF to_regclass('seaql_migrations') IS NULL THEN {ledger}; END IF; END $$"
    )
}
