//! The database as the service uses it: [`Db`] runs units of work, each safe behind any
//! connection pooler, committed or rolled back by [`Db`] itself, retried once when the
//! connection they met had died while idle, and refused with 503 within seconds when the
//! database is unreachable.
//!
//! Tenant queries run on tenant pools (see `tenant_pool`): a unit of work holds one
//! connection from its first statement to its end. Directly on Postgres (or behind a session
//! pooler) a client connection keeps its server connection, so sqlx caches statements per
//! connection. Behind a
//! transaction pooler (PgBouncer `pool_mode = transaction`) a server connection is ours for one
//! transaction only: a statement prepared in one transaction may not exist in the next, or may
//! be another client's statement under the same name (measured with PgBouncer 1.18: "prepared
//! statement sqlx_s_3 already exists" and "does not exist" errors, and lost writes). There,
//! every unit of work runs in one transaction, no statement is cached (capacity 0), and each
//! transaction drops the statements it prepared before it commits, so a statement is always
//! prepared and executed on the same server connection, in the same transaction, and none
//! outlives it.

mod bootstrap;
mod health;
mod held;
mod meters;
mod pool;
mod routing;
mod tenant_pool;
mod work;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

pub use bootstrap::connect_and_prepare;
pub use meters::{CacheMeters, Meters, PoolStat};
pub use pool::{CONTROL_STATEMENT_CACHE, PoolOptions, PoolerMode, TENANT_SESSION, connect};
use tenant_pool::{Lease, TenantPool};
use work::{Source, Unit};
pub use work::{Tx, Work};

use self::health::Health;
use crate::{ServiceError, TenantScope};
use tenantry_pg::connection_lost;

/// Longest `/ready` waits for the database's answer.
const READY_WITHIN: Duration = Duration::from_millis(900);

/// Which pool a unit of work runs on.
#[derive(Clone, Copy, Debug)]
pub enum On<'a> {
    /// The control pool: the registry, keys, provisioning.
    Control,
    /// The tenant's own sub-pool (see [`PoolOptions::tenant_shards`]).
    Tenant(&'a TenantScope),
}

impl<'a> From<&'a TenantScope> for On<'a> {
    fn from(scope: &'a TenantScope) -> Self {
        Self::Tenant(scope)
    }
}

/// The pools, and how to use them safely for the pooler in front of them.
#[derive(Clone, Debug)]
pub struct Db {
    control: DatabaseConnection,
    /// The tenant pools: one, or the tenant-affine sub-pools (see [`PoolOptions::tenant_shards`]).
    shards: Arc<Vec<TenantPool>>,
    /// How long a tenant waits at home before it takes the first connection any sub-pool frees.
    home_wait: Duration,
    pooler: PoolerMode,
    statements: Arc<AtomicU64>,
    /// Units of work that went to another sub-pool after their home wait.
    spills: Arc<AtomicU64>,
    health: Arc<Health>,
    /// How to open a connection outside the pools, to check the database is reachable.
    target: Arc<PgConnectOptions>,
    /// What `/metrics` shows of the database and the caches.
    meters: Arc<Meters>,
}

impl Db {
    /// Runs `work`, a sequence of statements that need not be atomic, on `on`'s pool; behind a
    /// transaction pooler it is one transaction, committed when `work` returns `Ok`. See
    /// [`Db::atomic`] for retries and failures.
    pub async fn run<'a, T>(
        &self,
        on: impl Into<On<'a>>,
        work: impl AsyncFn(&Work) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        self.unit(on.into(), work).await
    }

    /// Runs `work` in one transaction on `on`'s pool: committed when it returns `Ok`, rolled
    /// back when it returns `Err` (or panics, or is cancelled). If its connection turns out to
    /// be dead before any statement succeeded, `work` runs once more on a live connection, so
    /// it must not have effects outside the database. A database that cannot be reached is
    /// [`ServiceError::Unavailable`] within about 1 s when it refuses connections, 4 s when it
    /// does not answer at all.
    pub async fn atomic<'a, T>(
        &self,
        on: impl Into<On<'a>>,
        work: impl AsyncFn(&Tx) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        self.unit(on.into(), work).await
    }

    /// Records through `recorder` from now on (see [`Meters`]); call before cloning.
    pub fn instrument(&mut self, recorder: &dyn metrics::Recorder) {
        self.meters = Arc::new(Meters::register(recorder));
    }

    /// The handles this database (and the caches over it) record through.
    pub fn meters(&self) -> &Meters {
        &self.meters
    }

    /// Each pool's connections now: `control`, then the tenant pools as `tenant_<n>`.
    pub fn pool_stats(&self) -> Vec<PoolStat> {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let sqlx = self.control.get_postgres_connection_pool();
        let idle = count(sqlx.num_idle());
        let control = PoolStat {
            pool: "control".to_owned(),
            size: sqlx.size(),
            idle,
            max: sqlx.options().get_max_connections(),
        };
        let tenants = self.shards.iter().enumerate().map(|(n, pool)| {
            let status = pool.status();
            let (size, idle, max) = (count(status.size), count(status.available), count(status.max_size));
            PoolStat { pool: format!("tenant_{n}"), size, idle, max }
        });
        std::iter::once(control).chain(tenants).collect()
    }

    /// A connection of `scope`'s tenant pool, for what SeaORM cannot do (COPY). Its caller
    /// owns any transaction it opens there and calls [`RawConnection::release`] once it has
    /// ended it; dropped without that, the connection is closed, not reused.
    pub(crate) async fn raw_connection(&self, scope: &TenantScope) -> Result<RawConnection, ServiceError> {
        let Source::Tenant { pool, elsewhere, acquire, .. } = self.pool_for(On::Tenant(scope)) else {
            return Err(ServiceError::Unexpected("a tenant is served by a tenant pool".to_owned()));
        };
        let started = Instant::now();
        let conn = routing::get(pool, elsewhere).await;
        acquire.record(started.elapsed().as_secs_f64());
        let conn = conn.map_err(|e| self.classify(work::acquire_err(e).into()))?;
        Ok(RawConnection(Lease::new(conn)))
    }

    async fn unit<U: Unit, T>(
        &self,
        on: On<'_>,
        work: impl AsyncFn(&U) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let started = Instant::now();
        let result = self.unit_once(on, work).await;
        self.meters.unit_seconds.record(started.elapsed().as_secs_f64());
        if matches!(result, Err(ServiceError::Unavailable(_))) {
            self.meters.unavailable.increment(1);
        }
        result
    }

    async fn unit_once<U: Unit, T>(
        &self,
        on: On<'_>,
        work: impl AsyncFn(&U) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        if self.health.known_unreachable() {
            return Err(unreachable());
        }
        // Counted from before routing to the unit's end, waits and retries included.
        let _in_flight = match on {
            On::Tenant(scope) => Some(scope.enter()),
            On::Control => None,
        };
        let source = self.pool_for(on);
        let attempts = async {
            let mut retried = false;
            loop {
                let (error, ran) = match U::begin(source, self.pooler).await {
                    Err(e) => (ServiceError::from(e), false),
                    Ok(unit) => match work(&unit).await {
                        Ok(value) => {
                            // A commit that fails is never retried: it may have committed.
                            unit.finish().await.map_err(|e| self.classify(e.into()))?;
                            return Ok(value);
                        }
                        Err(e) => {
                            let ran = unit.ran();
                            unit.abandon(lost(&e)).await;
                            (e, ran)
                        }
                    },
                };
                let lost = lost(&error);
                if lost && !ran && !retried {
                    // The connection died while idle (a restart, a terminated backend): the
                    // statement never ran. Every connection idle since then is checked first.
                    self.health.connection_lost();
                    self.meters.retries.increment(1);
                    retried = true;
                    continue;
                }
                return Err(self.tenant_gone(on, self.classify(error)).await);
            }
        };
        tokio::select! {
            result = attempts => result,
            () = self.health.unreachable(&self.target) => Err(unreachable()),
        }
    }

    /// Whether the database answers a trivial query, within a second.
    pub async fn ping(&self) -> Result<(), ServiceError> {
        let ping = self.run(On::Control, async |work| Ok(work.execute_unprepared("SELECT 1").await?));
        match tokio::time::timeout(READY_WITHIN, ping).await {
            Ok(answer) => answer.map(drop),
            Err(_) => Err(ServiceError::Unavailable(format!("no answer within {READY_WITHIN:?}"))),
        }
    }

    /// How many statements these pools have run (transactions' included; `BEGIN` and `COMMIT`
    /// not): for benchmarks, and for tests that prove a path runs none.
    pub fn statements_run(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// How many units of work took another sub-pool's connection after waiting
    /// `database.home_wait_ms` at their tenant's own: for benchmarks, where each one costs the
    /// affinity that keeps backends' caches small (also `tenantry_db_spills_total`).
    pub fn spills(&self) -> u64 {
        self.spills.load(Ordering::Relaxed)
    }

    /// The control pool itself, outside any unit of work: for the migration runner in the
    /// bench and tests, which makes its own transactions. Not safe behind a transaction pooler.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.control
    }

    /// Closes every pool: the control pool waits for its connections in use to come back; a
    /// tenant connection still held closes when its unit of work ends.
    pub async fn close(&self) {
        for pool in self.shards.iter() {
            tenant_pool::close(pool).await;
        }
        self.control.get_postgres_connection_pool().close().await;
    }

    /// A connection failure is the database being unavailable (503), not an internal error.
    fn classify(&self, error: ServiceError) -> ServiceError {
        match error {
            ServiceError::Database(e) if connection_lost(&e) => {
                self.health.connection_lost();
                ServiceError::Unavailable(format!("the connection was lost: {e}"))
            }
            other => other,
        }
    }

    /// A tenant query that meets no table because the tenant's schema is gone (deleted while a
    /// cache, here or on another instance, still knew it) is refused like the key it came with.
    /// One whose schema an operator has migrated back, behind this server's version, is a 503:
    /// the tenant is in maintenance until `migration tenants up`. Any other missing table stays
    /// an internal error: a query that forgot its schema meets the fail-closed `search_path`
    /// the same way.
    async fn tenant_gone(&self, on: On<'_>, error: ServiceError) -> ServiceError {
        let On::Tenant(scope) = on else { return error };
        let ServiceError::Database(e) = &error else { return error };
        // 42P01 undefined_table.
        if tenantry_pg::sql_state(e).as_deref() != Some("42P01") {
            return error;
        }
        let check = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT to_regnamespace($1) IS NULL AS gone, \
               (SELECT version FROM tenantry.tenants WHERE schema_name = $1) AS version",
            [scope.schema().as_str().into()],
        );
        let found = async {
            let work = <Work as Unit>::begin(Source::Orm(&self.control), self.pooler).await.ok()?;
            let row = work.query_one_raw(check).await.ok().flatten()?;
            work.finish().await.ok()?;
            let gone = row.try_get::<bool>("", "gone").ok()?;
            Some((gone, row.try_get::<Option<String>>("", "version").ok().flatten()))
        };
        let latest = tenantry_migration::tenant::TenantMigrator::latest_version();
        match found.await {
            Some((true, _)) => ServiceError::Unauthorized("unknown or revoked API key".to_owned()),
            Some((false, version)) if version.as_deref().is_none_or(|v| v < latest) => {
                ServiceError::Migrating(format!(
                    "the tenant's schema is at migration {} and this server needs {latest}: it is \
                     being migrated (`migration tenants up` brings it up to date)",
                    version.as_deref().unwrap_or("none")
                ))
            }
            _ => error,
        }
    }
}

/// Whether `e` says the connection itself was lost.
fn lost(e: &ServiceError) -> bool {
    matches!(e, ServiceError::Database(e) if connection_lost(e))
}

/// A tenant-pool connection held outside a unit of work (see [`Db::raw_connection`]).
#[derive(Debug)]
pub(crate) struct RawConnection(Lease);

impl RawConnection {
    /// Hands the connection back for reuse: only with nothing in flight and no transaction open.
    pub(crate) fn release(self) {
        self.0.release();
    }
}

impl std::ops::Deref for RawConnection {
    type Target = sea_orm::sqlx::PgConnection;

    fn deref(&self) -> &Self::Target {
        self.0.get()
    }
}

impl std::ops::DerefMut for RawConnection {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.raw()
    }
}

fn unreachable() -> ServiceError {
    ServiceError::Unavailable("the database does not accept connections".to_owned())
}
