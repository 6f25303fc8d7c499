//! One registered tenant's migration in four round trips, for the runs operators make (the
//! fleet on deploy, `migration tenant ... up|down`).
//!
//! [`runner::migrate_registered_in`] runs in a SeaORM transaction, so each of its steps is a
//! round trip of its own: `BEGIN`, the pin, the ledger read, each migration, the bookkeeping,
//! the audit log's lock, its newest entry, the entry, `COMMIT` (nine for one migration with
//! its audit entry). SeaORM neither pipelines nor returns rows from a message of several
//! statements, and a fleet run pays each round trip per tenant, at a cost set by how soon both
//! processes are scheduled (measured at 1.4 ms per round trip per job on 2 loaded cores,
//! docs/DESIGN-NOTES.md). Here the same statements go on a plain connection of the same pool
//! in four messages, each a simple-protocol batch whose rows are told apart by their columns:
//!
//! 1. `BEGIN`, the pin ([`runner::pin_tenant_sql`]) and the ledger read;
//! 2. the migrations' DDL, the bookkeeping ([`runner::record_sql`], its values as literals of
//!    ours: [`Literals`]), and for an audited change the audit log's lock and newest entry;
//! 3. the audit entry, chained in Rust ([`audit_chain::chain`]) and sent with its values bound
//!    (it carries the operator's name, which is never formatted into SQL);
//! 4. `COMMIT` (or `ROLLBACK`, when the tenant is no longer registered).
//!
//! The statements, their order and every lock are those of the SeaORM path: the advisory lock
//! first, the registry row after the DDL, the audit log's lock after the row. A run that fails
//! or is cancelled anywhere between `BEGIN` and the end closes its connection rather than hand
//! it back inside a transaction ([`Tx`]).

use sea_orm_migration::MigratorTraitSelf;
use sea_orm_migration::sea_orm::sqlx::{self, Executor as _, Row as _};
use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr, FromQueryResult, QueryResult, QueryTrait};
use sea_orm_migration::sea_query::PostgresQueryBuilder;
use tenantry_entity::audit_chain::{self, NewEntry};
use tenantry_entity::audit_entry;
use tenantry_pg::{SchemaName, bound, exec_err, query_err};

use crate::runner::{
    self, Direction, Literals, RecordedOn, TenantOutcome, ledger_from_rows, ledger_read_sql, newest, plan,
    record_sql,
};
use crate::tenant::TenantMigrator;

/// Migrates the registered tenant whose schema is `schema` in one transaction, as
/// [`runner::migrate_registered_in`] does, with a `tenant.migrate` audit entry by `actor` if
/// anything changed.
/// `None`: not registered (or no registry); nothing is left behind.
pub(crate) async fn migrate_registered(
    db: &DatabaseConnection,
    schema: &SchemaName,
    direction: Direction,
    actor: &str,
) -> Result<Option<TenantOutcome>, DbErr> {
    let mut tx = Tx(db.get_postgres_connection_pool().acquire().await.map_err(exec_err)?, false);
    let migrations = TenantMigrator::new(schema.clone()).migrations();

    let sql = format!("BEGIN; {}; {}", runner::pin_tenant_sql(schema), ledger_read_sql());
    let mut rows = tx.fetch(&sql).await?;
    let (mut applied, registry) = ledger_from_rows(&migrations, with_column(&mut rows, "registry"))?;
    if !registry {
        return tx.rollback().await.map(|()| None);
    }

    let migrator = TenantMigrator::new(schema.clone());
    let up = matches!(direction, Direction::Up(_));
    let mut statements = Vec::new();
    let mut changed = Vec::new();
    for i in plan(&applied, direction) {
        let name = migrations[i].name();
        statements.extend(migrator.ddl(name, up).ok_or_else(|| DbErr::Custom(format!("no DDL for {name}")))?);
        applied[i] = up;
        changed.push(name.to_owned());
    }
    let version = newest(&migrations, &applied);
    let lit = Literals::new(&changed, version.as_deref())?;
    statements.push(record_sql(direction, &lit.changed, &schema_literal(schema), &lit.version, &lit.time));
    let audited = !changed.is_empty();
    if audited {
        statements.push(audit_chain::LOCK.to_owned());
        statements.push(audit_chain::newest().into_query().to_string(PostgresQueryBuilder));
    }
    let mut rows = tx.fetch(&statements.join("; ")).await?;
    let Some(tenant) = with_column(&mut rows, "registry_id").pop() else {
        return tx.rollback().await.map(|()| None);
    };
    let tenant = RecordedOn::from_row(&tenant)?;
    let outcome = TenantOutcome { changed, version };

    if audited {
        let newest = with_column(&mut rows, "prev_hash")
            .pop()
            .map(|row| audit_entry::Model::from_query_result(&row, ""))
            .transpose()?;
        let change = migrate_change(direction, &outcome);
        let entry = NewEntry {
            action: "tenant.migrate",
            tenant_id: Some(tenant.id),
            tenant_slug: Some(&tenant.slug),
            actor,
            request_id: None,
            outcome: "ok",
            change: &change,
        };
        let insert = audit_chain::insert(audit_chain::chain(entry, newest.as_ref()));
        bound(&insert).execute(&mut *tx.0).await.map_err(exec_err)?;
    }
    tx.commit().await?;
    Ok(Some(outcome))
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

    async fn rollback(mut self) -> Result<(), DbErr> {
        self.end("ROLLBACK").await
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
