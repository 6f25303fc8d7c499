//! The database as the service uses it: [`Db`] hands out units of [`Work`], each safe behind
//! any connection pooler.
//!
//! Directly on Postgres (or behind a session pooler) a client connection keeps its server
//! connection, so statements run on the pool and sqlx caches them per connection. Behind a
//! transaction pooler (PgBouncer `pool_mode = transaction`) a server connection is ours for one
//! transaction only: a statement prepared in one transaction may not exist in the next, or may
//! be another client's statement under the same name (measured with PgBouncer 1.18: "prepared
//! statement sqlx_s_3 already exists" and "does not exist" errors, and lost writes). There,
//! every unit of work runs in one transaction, no statement is cached (capacity 0), and each
//! transaction drops the statements it prepared before it commits, so a statement is always
//! prepared and executed on the same server connection, in the same transaction, and none
//! outlives it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, Statement, TransactionTrait,
};
use tenantry_migration::database::{NO_SCHEMA, ensure_database};
use tenantry_migration::runner::migrate_control_in;

use crate::{ServiceError, TenantScope};

/// Connections of the control pool beside tenant-affine sub-pools.
const CONTROL_CONNECTIONS: u32 = 2;
/// Most statements each control-pool connection caches.
pub const CONTROL_STATEMENT_CACHE: usize = 100;

/// What sits between the service and Postgres.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolerMode {
    /// Postgres itself, or a session-mode pooler.
    None,
    /// A transaction-mode pooler.
    Transaction,
}

/// How to open the pool.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long a caller waits for a free connection.
    pub acquire_timeout: Duration,
    /// How long one statement may run before Postgres cancels it.
    pub statement_timeout: Duration,
    /// What sits between the service and Postgres.
    pub pooler: PoolerMode,
    /// Prepared statements cached per connection when there is no transaction pooler.
    pub statement_cache: usize,
    /// Tenant-affine sub-pools (0 or 1: one shared pool). With N, tenant queries go to one of
    /// N sub-pools chosen by a hash of the tenant's schema (or the next one when it is busy),
    /// so each Postgres backend prepares statements and caches relations for about 2/N of the
    /// tenants.
    pub tenant_shards: u32,
    /// How long a connection serves before it is replaced: a backend's relation and plan
    /// caches only grow, so this bounds how large they can grow.
    pub max_lifetime: Duration,
}

/// The pool, and how to use it safely for the pooler in front of it.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    /// Tenant-affine sub-pools; empty when tenant queries share `conn`.
    shards: Arc<Vec<DatabaseConnection>>,
    pooler: PoolerMode,
    statements: Arc<AtomicU64>,
}

/// One unit of work: the pool itself, or one transaction behind a transaction pooler.
#[derive(Debug)]
pub enum Work {
    /// Statements run on the pool, each on whatever connection is free.
    Direct(DatabaseConnection),
    /// Statements run in one transaction, committed by [`Work::finish`].
    Transaction(Tx),
}

/// A transaction from [`Db::begin`]. Commit it with [`Tx::commit`]: with a transaction pooler,
/// that first drops the statements the transaction prepared (nothing is cached there, so
/// without this each one would stay on the server connection: measured, backends grew to
/// 250 MiB in 30 s of load). Dropping a `Tx` rolls it back.
#[derive(Debug)]
pub struct Tx {
    txn: DatabaseTransaction,
    pooler: PoolerMode,
}

/// Creates the database if it is missing, opens the pool, applies the control migrations
/// (idempotent) and checks every connection starts fail-closed. Tenants are never migrated
/// implicitly.
pub async fn connect_and_prepare(url: &str, options: &PoolOptions) -> Result<Db, ServiceError> {
    ensure_database(url).await.map_err(|e| match e {
        tenantry_migration::database::DatabaseError::Db(e) => ServiceError::Database(e),
        other => ServiceError::Invalid(other.to_string()),
    })?;
    let db = connect(url, options).await?;
    let tx = db.begin().await?;
    migrate_control_in(tx.transaction()).await?;
    tx.commit().await?;
    db.check_session_defaults(options.statement_timeout).await?;
    Ok(db)
}

/// Opens the pool. Every connection starts (by start-up options, no extra round trip) with
/// `search_path` at a schema that does not exist, so an unqualified query fails instead of
/// reading another tenant's tables, and with `statement_timeout`, so no request holds a
/// connection indefinitely. Connections are not pinged on acquire: that would cost a round trip
/// per query, and a broken connection fails its query anyway. (sqlx 0.9 still sends one Sync
/// round trip when a connection goes back to the pool, and has no setting to stop it.)
pub async fn connect(url: &str, options: &PoolOptions) -> Result<Db, ServiceError> {
    let statements = Arc::new(AtomicU64::new(0));
    let shards = options.tenant_shards.max(1);
    if shards == 1 {
        let conn =
            open_pool(url, options, options.max_connections, options.statement_cache, &statements).await?;
        return Ok(Db { conn, shards: Arc::default(), pooler: options.pooler, statements });
    }
    // A small pool for the control plane, provisioning and the caches' misses, with a small
    // statement cache: provisioning runs each tenant's DDL once, and caching thousands of
    // such statements made provisioning about 3x slower (measured). The rest split evenly.
    let per_shard = (options.max_connections / shards).max(1);
    let control_cache = options.statement_cache.min(CONTROL_STATEMENT_CACHE);
    let conn = open_pool(url, options, CONTROL_CONNECTIONS, control_cache, &statements).await?;
    let mut pools = Vec::with_capacity(shards as usize);
    for _ in 0..shards {
        pools.push(open_pool(url, options, per_shard, options.statement_cache, &statements).await?);
    }
    Ok(Db { conn, shards: Arc::new(pools), pooler: options.pooler, statements })
}

async fn open_pool(
    url: &str,
    options: &PoolOptions,
    max_connections: u32,
    statement_cache: usize,
    statements: &Arc<AtomicU64>,
) -> Result<DatabaseConnection, ServiceError> {
    let statement_timeout = format!("{}ms", options.statement_timeout.as_millis());
    let cache = match options.pooler {
        PoolerMode::None => statement_cache,
        PoolerMode::Transaction => 0,
    };
    let mut connect = ConnectOptions::new(url);
    connect
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(options.acquire_timeout)
        .max_lifetime(options.max_lifetime)
        .test_before_acquire(false)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |o| {
            o.options([
                ("search_path", NO_SCHEMA.to_owned()),
                ("statement_timeout", statement_timeout.clone()),
            ])
            .application_name("tenantry")
            .statement_cache_capacity(cache)
        });
    let mut conn = Database::connect(connect).await?;
    let counter = Arc::clone(statements);
    conn.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    Ok(conn)
}

impl Db {
    /// A unit of work for a sequence of statements that need not be atomic.
    pub async fn work(&self) -> Result<Work, ServiceError> {
        self.work_on(&self.conn).await
    }

    /// A transaction, for statements that must be atomic.
    pub async fn begin(&self) -> Result<Tx, ServiceError> {
        Self::begin_on(&self.conn, self.pooler).await
    }

    /// A unit of work on the tenant's own sub-pool (see [`PoolOptions::tenant_shards`]).
    pub async fn work_for(&self, scope: &TenantScope) -> Result<Work, ServiceError> {
        self.work_on(self.pool_for(scope)).await
    }

    /// A transaction on the tenant's own sub-pool.
    pub async fn begin_for(&self, scope: &TenantScope) -> Result<Tx, ServiceError> {
        Self::begin_on(self.pool_for(scope), self.pooler).await
    }

    /// The tenant's home sub-pool, chosen by a hash of its schema; when every connection there is
    /// busy and the next sub-pool has one idle, that one instead. So each backend meets about
    /// 2/N of the tenants, and one busy tenant is not held to one sub-pool's connections. (A
    /// connection on its way back counts as busy: sqlx pings it first, so even one client at a
    /// time is served by both sub-pools.)
    fn pool_for(&self, scope: &TenantScope) -> &DatabaseConnection {
        if self.shards.is_empty() {
            return &self.conn;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(scope.schema().as_str(), &mut hasher);
        let home = (std::hash::Hasher::finish(&hasher) % self.shards.len() as u64) as usize;
        let neighbour = (home + 1) % self.shards.len();
        let (home_pool, neighbour_pool) = (&self.shards[home], &self.shards[neighbour]);
        if !has_free_connection(home_pool) && idle(neighbour_pool) > 0 {
            return neighbour_pool;
        }
        home_pool
    }

    async fn work_on(&self, conn: &DatabaseConnection) -> Result<Work, ServiceError> {
        Ok(match self.pooler {
            PoolerMode::None => Work::Direct(conn.clone()),
            PoolerMode::Transaction => Work::Transaction(Self::begin_on(conn, self.pooler).await?),
        })
    }

    async fn begin_on(conn: &DatabaseConnection, pooler: PoolerMode) -> Result<Tx, ServiceError> {
        Ok(Tx { txn: conn.begin().await?, pooler })
    }

    /// Whether the database answers a trivial query (one simple-protocol message, safe behind
    /// any pooler).
    pub async fn ping(&self) -> Result<(), ServiceError> {
        self.conn.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// How many statements this pool has run (transactions' included; `BEGIN` and `COMMIT`
    /// not): for benchmarks, and for tests that prove a path runs none.
    pub fn statements_run(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// The pool, for the migration runner (which makes its own transactions).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Refuses to serve if connections do not start fail-closed. A transaction pooler drops
    /// start-up options (PgBouncer needs `ignore_startup_parameters = extra_float_digits,options`),
    /// so there the same defaults must be set on the database; this says how.
    async fn check_session_defaults(&self, statement_timeout: Duration) -> Result<(), ServiceError> {
        let work = self.work().await?;
        let row = work
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_setting('search_path') AS search_path, \
                 (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS timeout_ms, \
                 current_database()::text AS db",
            ))
            .await?
            .ok_or_else(|| ServiceError::Unexpected("no answer to the settings check".to_owned()))?;
        work.finish().await?;
        let search_path: String = row.try_get("", "search_path")?;
        let timeout_ms: String = row.try_get("", "timeout_ms")?;
        let database: String = row.try_get("", "db")?;
        let expected_ms = statement_timeout.as_millis().to_string();
        if search_path != NO_SCHEMA || timeout_ms != expected_ms {
            return Err(ServiceError::Invalid(format!(
                "connections start with search_path={search_path:?} and statement_timeout={timeout_ms}ms, \
                 expected {NO_SCHEMA} and {expected_ms}ms: a pooler is dropping start-up options. Set them \
                 on the database: ALTER DATABASE {database} SET search_path = {NO_SCHEMA}; \
                 ALTER DATABASE {database} SET statement_timeout = '{expected_ms}ms'; then reconnect the \
                 pooler's server connections"
            )));
        }
        Ok(())
    }
}

/// Idle connections in a pool (a snapshot: another task may take one at once).
fn idle(conn: &DatabaseConnection) -> usize {
    conn.get_postgres_connection_pool().num_idle()
}

/// Whether a pool has a connection idle or room to open one.
fn has_free_connection(conn: &DatabaseConnection) -> bool {
    let pool = conn.get_postgres_connection_pool();
    pool.num_idle() > 0 || pool.size() < pool.options().get_max_connections()
}

impl Work {
    /// Ends the unit of work, committing it if it is a transaction.
    pub async fn finish(self) -> Result<(), ServiceError> {
        match self {
            Work::Direct(_) => Ok(()),
            Work::Transaction(tx) => tx.commit().await,
        }
    }
}

impl Tx {
    /// Commits (after dropping this transaction's prepared statements behind a pooler).
    pub async fn commit(self) -> Result<(), ServiceError> {
        if self.pooler == PoolerMode::Transaction {
            self.txn.execute_unprepared("DEALLOCATE ALL").await?;
        }
        Ok(sea_orm::TransactionSession::commit(self.txn).await?)
    }

    /// The SeaORM transaction, for APIs that need one by type (the migration runner).
    pub fn transaction(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Work {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Work::Direct(conn) => conn.execute_raw(stmt).await,
            Work::Transaction(txn) => txn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Work::Direct(conn) => conn.execute_unprepared(sql).await,
            Work::Transaction(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Work::Direct(conn) => conn.query_one_raw(stmt).await,
            Work::Transaction(txn) => txn.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Work::Direct(conn) => conn.query_all_raw(stmt).await,
            Work::Transaction(txn) => txn.query_all_raw(stmt).await,
        }
    }
}
