//! Registered tenants' migrations in few round trips, for the runs operators make (the fleet
//! on deploy and rollback, `migration tenant ... up|down`).
//!
//! [`runner::migrate_registered_in`] runs in a SeaORM transaction, so each of its steps is a
//! round trip of its own: `BEGIN`, the pin, the ledger read, each migration, the bookkeeping,
//! the audit log's lock, its newest entry, the entry, `COMMIT` (nine for one migration with
//! its audit entry). SeaORM neither pipelines nor returns rows from a message of several
//! statements, and a fleet run pays each round trip per tenant, at a cost set by how soon both
//! processes are scheduled (docs/DESIGN-NOTES.md). Here the same statements go on a plain
//! connection of the same pool as simple-protocol batches whose rows are told apart by their
//! columns. A batch of tenants shares one transaction, each tenant inside its own savepoint:
//!
//! 1. per tenant, (`BEGIN` for the first,) `SAVEPOINT`, the pin ([`runner::pin_tenant_sql`])
//!    and the ledger read;
//! 2. per tenant, the migrations' DDL and the bookkeeping ([`runner::record_sql`], its values
//!    as literals of ours: [`Literals`]); a tenant that fails, or is no longer registered, is
//!    rolled back to its savepoint (its schema as it was, a schema it created gone) and the
//!    batch goes on;
//! 3. once per batch, the audit log's lock and its newest entry;
//! 4. the batch's audit entries (one per tenant that changed), chained in Rust
//!    ([`audit_chain::chain`]) and sent as one `INSERT` with its values bound (they carry the
//!    operator's name, which is never formatted into SQL);
//! 5. `COMMIT`.
//!
//! Why batches: the audit log is one hash chain, so its lock is held from step 3 through the
//! commit's flush, and with a transaction per tenant the fleet's commits line up one behind
//! another, one flush each; a batch takes the lock and flushes once for all its tenants.
//! A tenant's changes still commit with its audit entry or not at all.
//!
//! The statements, their order and every lock are those of the SeaORM path: each tenant's
//! advisory lock first, its registry row after its DDL, the audit log's lock after the rows.
//! A batch's tenants go in schema-name order, so two batches never wait for each other's
//! tenants in opposite orders. A run that fails or is cancelled outside a savepoint's reach
//! closes its connection rather than hand it back inside a transaction ([`Tx`]).

use sea_orm_migration::sea_orm::sqlx::{self, Executor as _, Row as _};
use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr, FromQueryResult, QueryResult, QueryTrait};
use sea_orm_migration::sea_query::PostgresQueryBuilder;
use sea_orm_migration::{MigrationTrait, MigratorTraitSelf};
use tenantry_entity::audit_chain::{self, NewEntry};
use tenantry_entity::audit_entry;
use tenantry_pg::{SchemaName, bound, exec_err, query_err};

use crate::runner::{
    self, Direction, Literals, RecordedOn, TenantOutcome, ledger_from_rows, ledger_read_sql, newest, plan,
    record_sql,
};
use crate::tenant::TenantMigrator;

/// What became of one tenant of a batch.
#[derive(Debug)]
pub(crate) enum Ran {
    /// Migrated (or found at the target already), committed with its audit entry.
    Done(TenantOutcome),
    /// Not registered (or no registry): nothing of it is left.
    NotRegistered,
    /// Its migration failed and was rolled back; or the batch could not commit.
    Failed(DbErr),
    /// Not run: an earlier tenant of the batch failed and `stop_after_failure` was set.
    NotRun,
}

/// Migrates the registered tenant whose schema is `schema` in one transaction, as
/// [`runner::migrate_registered_in`] does, with a `tenant.migrate` audit entry by `actor` if
/// anything changed. `None`: not registered (or no registry); nothing is left behind.
pub(crate) async fn migrate_registered(
    db: &DatabaseConnection,
    schema: &SchemaName,
    direction: Direction,
    actor: &str,
) -> Result<Option<TenantOutcome>, DbErr> {
    let tenant = Planned { schema: schema.clone(), recorded: None };
    match migrate_batch(db, std::slice::from_ref(&tenant), direction, actor, false).await.pop() {
        Some(Ran::Done(outcome)) => Ok(Some(outcome)),
        Some(Ran::NotRegistered) => Ok(None),
        Some(Ran::Failed(e)) => Err(e),
        Some(Ran::NotRun) | None => Err(DbErr::Custom("the tenant's run did not start".to_owned())),
    }
}

/// A registered tenant to migrate.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    /// Its schema.
    pub(crate) schema: SchemaName,
    /// The version the registry recorded for it when the caller read the registry, if known:
    /// its migrations are then planned from it and sent with the pin in one message, behind a
    /// check that the ledger says the same (if not, the ledger is read first after all).
    pub(crate) recorded: Option<Option<String>>,
}

/// Migrates the registered tenants `tenants` in one transaction, each in a savepoint of its
/// own (see the module's documentation): one [`Ran`] per tenant, in the order given. With
/// `stop_after_failure`, the tenants after one that failed are not run.
pub(crate) async fn migrate_batch(
    db: &DatabaseConnection,
    tenants: &[Planned],
    direction: Direction,
    actor: &str,
    stop_after_failure: bool,
) -> Vec<Ran> {
    let mut order: Vec<usize> = (0..tenants.len()).collect();
    order.sort_by(|a, b| tenants[*a].schema.as_str().cmp(tenants[*b].schema.as_str()));
    let mut ran: Vec<Ran> = tenants.iter().map(|_| Ran::NotRun).collect();
    if let Err(e) = run_batch(db, tenants, &order, direction, actor, stop_after_failure, &mut ran).await {
        // Nothing of the batch committed: every tenant that seemed done failed with it.
        let said = e.to_string();
        let mut first = Some(e);
        for r in ran.iter_mut().filter(|r| matches!(r, Ran::Done(_) | Ran::NotRun)) {
            *r = Ran::Failed(first.take().unwrap_or_else(|| DbErr::Custom(said.clone())));
        }
    }
    ran
}

async fn run_batch(
    db: &DatabaseConnection,
    tenants: &[Planned],
    order: &[usize],
    direction: Direction,
    actor: &str,
    stop_after_failure: bool,
    ran: &mut [Ran],
) -> Result<(), DbErr> {
    let mut tx = Tx(db.get_postgres_connection_pool().acquire().await.map_err(exec_err)?, false);
    // What the next message starts with: the transaction's start, or the end of the savepoint
    // of the tenant before, which succeeded. Each tenant's savepoint has a name of its own
    // (`tenant_<n>`), so a rollback can only ever undo the tenant it is for: had the release
    // of the one before failed, the rollback finds no such savepoint and the batch fails.
    let mut opening = Some("BEGIN".to_owned());
    let mut audited = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        let savepoint = format!("tenant_{n}");
        let step = tenant_step(&mut tx, opening.take(), &savepoint, &tenants[i], direction).await;
        let undo = format!("ROLLBACK TO SAVEPOINT {savepoint}; RELEASE SAVEPOINT {savepoint}");
        ran[i] = match step {
            Ok(Some((tenant, outcome))) => {
                opening = Some(format!("RELEASE SAVEPOINT {savepoint}"));
                if !outcome.changed.is_empty() {
                    audited.push((tenant, outcome.clone()));
                }
                Ran::Done(outcome)
            }
            Ok(None) => {
                tx.fetch(&undo).await?;
                Ran::NotRegistered
            }
            Err(e) => {
                tx.fetch(&undo).await?;
                Ran::Failed(e)
            }
        };
        if stop_after_failure && matches!(ran[i], Ran::Failed(_)) {
            break;
        }
    }
    if !audited.is_empty() {
        let sql = format!(
            "{}{}; {}",
            opening.map(|o| o + "; ").unwrap_or_default(),
            audit_chain::LOCK,
            audit_chain::newest().into_query().to_string(PostgresQueryBuilder)
        );
        let mut rows = tx.fetch(&sql).await?;
        let mut newest = with_column(&mut rows, "prev_hash")
            .pop()
            .map(|row| audit_entry::Model::from_query_result(&row, ""))
            .transpose()?;
        let mut entries = Vec::with_capacity(audited.len());
        for (tenant, outcome) in &audited {
            let change = migrate_change(direction, outcome);
            let entry = NewEntry {
                action: "tenant.migrate",
                tenant_id: Some(tenant.id),
                tenant_slug: Some(&tenant.slug),
                actor,
                request_id: None,
                outcome: "ok",
                change: &change,
            };
            let row = audit_chain::chain(entry, newest.as_ref());
            newest = Some(row.clone());
            entries.push(row);
        }
        bound(&audit_chain::insert_all(entries)).execute(&mut *tx.0).await.map_err(exec_err)?;
    }
    // `COMMIT` ends any savepoint still open with the transaction.
    tx.commit().await
}

/// One tenant's steps 1 and 2 inside its savepoint `savepoint`, `opening` sent first: the
/// registry's record of it and what changed, or `None` when it is not registered (the caller
/// rolls the savepoint back either then or on an error). When the registry's version of it is
/// known, both steps go in one message ([`planned_step`]).
async fn tenant_step(
    tx: &mut Tx,
    mut opening: Option<String>,
    savepoint: &str,
    tenant: &Planned,
    direction: Direction,
) -> Result<Option<(RecordedOn, TenantOutcome)>, DbErr> {
    let migrator = TenantMigrator::new(tenant.schema.clone());
    let migrations = migrator.migrations();
    if let Some(expected) = tenant.recorded.as_ref().and_then(|v| ledger_at(&migrations, v.as_deref())) {
        match planned_step(tx, opening.take(), savepoint, tenant, &migrations, expected, direction).await {
            Err(e) if tenantry_pg::sql_state(&e).as_deref() == Some(LEDGER_MOVED) => {
                // The ledger is not what the registry recorded: undo the message, read it.
                tx.fetch(&format!("ROLLBACK TO SAVEPOINT {savepoint}; RELEASE SAVEPOINT {savepoint}"))
                    .await?;
            }
            done => return done,
        }
    }
    let sql = format!(
        "{}SAVEPOINT {savepoint}; {}; {}",
        opening.map(|o| o + "; ").unwrap_or_default(),
        runner::pin_tenant_sql(&tenant.schema),
        ledger_read_sql()
    );
    let mut rows = tx.fetch(&sql).await?;
    let (applied, registry) = ledger_from_rows(&migrations, with_column(&mut rows, "registry"))?;
    if !registry {
        return Ok(None);
    }
    let (statements, outcome) = steps(&migrator, &migrations, applied, direction, &tenant.schema)?;
    let mut rows = tx.fetch(&statements.join("; ")).await?;
    recorded_on(&mut rows, outcome)
}

/// The SQLSTATE of [`planned_step`]'s check when the ledger is not what the registry recorded.
const LEDGER_MOVED: &str = "TL001";

/// Steps 1 and 2 in one message, planned from `expected` (the ledger the registry's version
/// implies), the DDL behind a check, run after the pin, that the ledger is exactly that.
async fn planned_step(
    tx: &mut Tx,
    opening: Option<String>,
    savepoint: &str,
    tenant: &Planned,
    migrations: &[Box<dyn MigrationTrait>],
    expected: Vec<bool>,
    direction: Direction,
) -> Result<Option<(RecordedOn, TenantOutcome)>, DbErr> {
    let names: Vec<String> = migrations
        .iter()
        .zip(&expected)
        .filter(|(_, applied)| **applied)
        .map(|(m, _)| m.name().to_owned())
        .collect();
    // Migration names are ours and checked against [a-z0-9_] (`Literals`): safe as literals.
    let lit = Literals::new(&names, None)?;
    let check = format!(
        "DO $$ BEGIN IF ARRAY(SELECT version::text FROM seaql_migrations ORDER BY version)          IS DISTINCT FROM ARRAY(SELECT value FROM json_array_elements_text({}::json) ORDER BY value)          THEN RAISE EXCEPTION 'the ledger is not as the registry records it' USING ERRCODE = '{LEDGER_MOVED}';          END IF; END $$",
        lit.changed
    );
    let migrator = TenantMigrator::new(tenant.schema.clone());
    let (statements, outcome) = steps(&migrator, migrations, expected, direction, &tenant.schema)?;
    let sql = format!(
        "{}SAVEPOINT {savepoint}; {}; {check}; {}",
        opening.map(|o| o + "; ").unwrap_or_default(),
        runner::pin_tenant_sql(&tenant.schema),
        statements.join("; ")
    );
    let mut rows = tx.fetch(&sql).await?;
    recorded_on(&mut rows, outcome)
}

/// Whether each of `migrations` is applied when the newest applied is `version` (`None`:
/// none); `None` for a version this build does not know (the ledger is read, and refused
/// there with its reason).
fn ledger_at(migrations: &[Box<dyn MigrationTrait>], version: Option<&str>) -> Option<Vec<bool>> {
    let upto = match version {
        Some(v) => Some(migrations.iter().position(|m| m.name() == v)?),
        None => None,
    };
    Some((0..migrations.len()).map(|i| upto.is_some_and(|u| i <= u)).collect())
}

/// The DDL for `direction` from `applied`, and the bookkeeping after it.
fn steps(
    migrator: &TenantMigrator,
    migrations: &[Box<dyn MigrationTrait>],
    mut applied: Vec<bool>,
    direction: Direction,
    schema: &SchemaName,
) -> Result<(Vec<String>, TenantOutcome), DbErr> {
    let up = matches!(direction, Direction::Up(_));
    let mut statements = Vec::new();
    let mut changed = Vec::new();
    for i in plan(&applied, direction) {
        let name = migrations[i].name();
        statements.extend(migrator.ddl(name, up).ok_or_else(|| DbErr::Custom(format!("no DDL for {name}")))?);
        applied[i] = up;
        changed.push(name.to_owned());
    }
    let version = newest(migrations, &applied);
    let lit = Literals::new(&changed, version.as_deref())?;
    statements.push(record_sql(direction, &lit.changed, &schema_literal(schema), &lit.version, &lit.time));
    Ok((statements, TenantOutcome { changed, version }))
}

/// The registry's answer to the bookkeeping among `rows`: `None` if the tenant is no longer
/// registered.
fn recorded_on(
    rows: &mut Vec<sqlx::postgres::PgRow>,
    outcome: TenantOutcome,
) -> Result<Option<(RecordedOn, TenantOutcome)>, DbErr> {
    let Some(tenant) = with_column(rows, "registry_id").pop() else { return Ok(None) };
    Ok(Some((RecordedOn::from_row(&tenant)?, outcome)))
}

/// The `change` of a `tenant.migrate` audit entry.
fn migrate_change(direction: Direction, outcome: &TenantOutcome) -> serde_json::Value {
    let (verb, steps) = match direction {
        Direction::Up(steps) => ("up", steps),
        Direction::Down(steps) => ("down", steps),
    };
    serde_json::json!({
        "direction": verb,
        "steps": steps,
        "changed": outcome.changed,
        "version": outcome.version,
    })
}

/// The schema name as a string literal: [`SchemaName`]'s grammar has no `'`.
fn schema_literal(schema: &SchemaName) -> String {
    format!("'{}'", schema.as_str())
}

/// Takes the rows among `rows` that have a column named `column`, as SeaORM reads rows.
fn with_column(rows: &mut Vec<sqlx::postgres::PgRow>, column: &str) -> Vec<QueryResult> {
    rows.extract_if(.., |row| row.try_column(column).is_ok()).map(QueryResult::from).collect()
}

/// A pool connection inside a transaction this module began. Dropped before [`Tx::commit`] or
/// [`Tx::rollback`] finished (a statement failed, or the run was cancelled), it is closed
/// rather than handed back to the pool: sqlx does not know of a transaction begun by a
/// message of ours, and would hand the connection on with it open.
struct Tx(sqlx::pool::PoolConnection<sqlx::Postgres>, bool);

impl Tx {
    /// Sends `sql` (one or more statements) as one message; every row any of them returned.
    async fn fetch(&mut self, sql: &str) -> Result<Vec<sqlx::postgres::PgRow>, DbErr> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).fetch_all(&mut *self.0).await.map_err(query_err)
    }

    async fn commit(mut self) -> Result<(), DbErr> {
        self.end("COMMIT").await
    }

    async fn end(&mut self, sql: &'static str) -> Result<(), DbErr> {
        self.0.execute(sql).await.map_err(exec_err)?;
        // Whatever the transaction's state was, the connection is out of it now.
        self.1 = true;
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if !self.1 {
            self.0.close_on_drop();
        }
    }
}
