//! Opening the pools: how many, how large, and how each connection starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tenantry_config::DatabaseSettings;
pub use tenantry_config::PoolerMode;
use tenantry_pg::database::NO_SCHEMA;

use super::Db;
use super::health::Health;
use crate::ServiceError;

/// Connections of the control pool beside the tenant pools.
const CONTROL_CONNECTIONS: u32 = 2;
/// Most statements each control-pool connection caches.
pub const CONTROL_STATEMENT_CACHE: usize = 100;

/// How to open the pools.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Connections for tenant queries: one tenant pool of this many, or split over the
    /// sub-pools (as evenly as they divide; never more sub-pools than connections); the
    /// control pool has 2 more beside them.
    pub max_connections: u32,
    /// How long a caller waits for a free connection.
    pub acquire_timeout: Duration,
    /// How long one statement may run before Postgres cancels it.
    pub statement_timeout: Duration,
    /// What sits between the service and Postgres.
    pub pooler: PoolerMode,
    /// Prepared statements cached per connection when there is no transaction pooler.
    pub statement_cache: usize,
    /// Tenant-affine sub-pools (0 or 1: one tenant pool). With N, tenant queries go to one of
    /// N sub-pools chosen by a hash of the tenant's schema, so each Postgres backend prepares
    /// statements and caches relations for about 1/N of the tenants; a tenant busy on its own
    /// reaches them all (see `routing`). The settings' default is one per connection.
    pub tenant_shards: u32,
    /// How long a connection serves before it is replaced: a backend's relation and plan
    /// caches only grow, so this bounds how large they can grow.
    pub max_lifetime: Duration,
    /// How long a tenant waits for its own sub-pool before it takes another's idle connection.
    pub home_wait: Duration,
}

impl From<&DatabaseSettings> for PoolOptions {
    /// The pools the settings describe: the one way the server (and the bench) fill this in.
    fn from(settings: &DatabaseSettings) -> Self {
        Self {
            max_connections: settings.max_connections,
            acquire_timeout: settings.acquire_timeout,
            statement_timeout: settings.statement_timeout,
            pooler: settings.pooler_mode,
            statement_cache: settings.statement_cache_capacity,
            tenant_shards: settings.tenant_shards.unwrap_or(settings.max_connections),
            max_lifetime: settings.max_lifetime,
            home_wait: settings.home_wait,
        }
    }
}

impl Default for PoolOptions {
    /// Small pools for tests: 4 connections in one tenant pool, no pooler, the settings'
    /// timeouts and statement cache.
    fn default() -> Self {
        Self {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            pooler: PoolerMode::None,
            statement_cache: 100,
            tenant_shards: 0,
            max_lifetime: Duration::from_secs(1800),
            home_wait: Duration::from_secs(1),
        }
    }
}

/// Start-up settings of tenant connections, beside `search_path` and `statement_timeout`,
/// when they keep prepared statements (no transaction pooler): each statement is planned once
/// per connection, not at every execution. Postgres would otherwise re-plan the list
/// statement each time (its generic plan, priced with an unknown `LIMIT`, never wins the
/// comparison), and planning was most of its CPU for such a statement: pgbench `-M prepared`
/// on it ran 1.7x faster with this setting (docs/DESIGN-NOTES.md). Tenant statements look rows
/// up by key, foreign key or a whole-table scan, whose plans do not depend on the values
/// bound. `bench` hands pgbench the same settings.
pub const TENANT_SESSION: &[(&str, &str)] = &[("plan_cache_mode", "force_generic_plan")];

/// Opens the pools: a SeaORM pool of 2 for the control plane, provisioning and the caches'
/// misses, and the tenant pools (see `tenant_pool`). Every connection starts (by
/// start-up options, no extra round trip) with `search_path` at a schema that does not exist,
/// so an unqualified query fails instead of reading another tenant's tables, and with
/// `statement_timeout`, so no request holds a connection indefinitely. Connections are not
/// pinged on acquire (a round trip per query), except those idle since a connection was last
/// found dead (see `Health`). The control pool is a sqlx pool (the migration runner needs
/// SeaORM's transactions), which pings each connection handed back to it; the tenant pools,
/// which serve every request, do not.
pub async fn connect(url: &str, options: &PoolOptions) -> Result<Db, ServiceError> {
    let statements = Arc::new(AtomicU64::new(0));
    let health = Arc::new(Health::default());
    // Never more sub-pools than connections: each has at least one, and together exactly
    // `max_connections` (the first ones take the remainder).
    let connections = options.max_connections.max(1);
    let shards = options.tenant_shards.clamp(1, connections);
    // The control pool has a small statement cache: provisioning runs each tenant's DDL once,
    // and caching thousands of such statements made provisioning about 3x slower (measured).
    let control_cache = options.statement_cache.min(CONTROL_STATEMENT_CACHE);
    let control = open_pool(url, options, CONTROL_CONNECTIONS, control_cache, &statements, &health).await?;
    let target = control.get_postgres_connection_pool().connect_options();
    let tenant_options = match options.pooler {
        PoolerMode::None => (*target)
            .clone()
            .statement_cache_capacity(options.statement_cache)
            .options(TENANT_SESSION.iter().copied()),
        PoolerMode::Transaction => (*target).clone().statement_cache_capacity(0),
    };
    let (each, remainder) = (connections / shards, connections % shards);
    let pools = (0..shards)
        .map(|n| {
            let health = Arc::clone(&health);
            super::tenant_pool::open(
                tenant_options.clone(),
                each + u32::from(n < remainder),
                options.acquire_timeout,
                options.max_lifetime,
                health,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let meters = Arc::default();
    Ok(Db {
        control,
        shards: Arc::new(pools),
        home_wait: options.home_wait,
        pooler: options.pooler,
        statements,
        spills: Arc::default(),
        health,
        target,
        meters,
    })
}

async fn open_pool(
    url: &str,
    options: &PoolOptions,
    max_connections: u32,
    statement_cache: usize,
    statements: &Arc<AtomicU64>,
    health: &Arc<Health>,
) -> Result<DatabaseConnection, ServiceError> {
    let statement_timeout = format!("{}ms", options.statement_timeout.as_millis());
    let cache = match options.pooler {
        PoolerMode::None => statement_cache,
        PoolerMode::Transaction => 0,
    };
    let health = Arc::clone(health);
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
        })
        .map_sqlx_postgres_before_acquire(move |conn, meta| {
            let suspect = health.suspect(meta.idle_for);
            Box::pin(async move {
                if suspect {
                    sea_orm::sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        });
    let mut conn = Database::connect(connect).await?;
    let counter = Arc::clone(statements);
    conn.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    Ok(conn)
}
