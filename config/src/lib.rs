//! Tenantry's settings: built-in defaults, then an optional file per environment, then
//! environment variables, deserialized once into typed structs; and the logging set-up both
//! binaries share ([`logging`]).
//!
//! Depends on no other Tenantry crate; both binaries (`tenantry`, `migration`) load their
//! settings through it, the same way. Loading has no side effects (what deserves a warning is
//! returned in [`Loaded::warnings`] for the caller to log) and never looks at the working
//! directory: the file, if any, is `$APP_CONFIG_DIR/$APP_ENV.toml` (`APP_ENV` defaults to
//! `local`; `APP_CONFIG_DIR` must be absolute). Environment variables use `APP__SECTION__KEY`,
//! plus the conventional `DATABASE_URL`. A bad value fails the load with a message naming its
//! key and what is wrong with it.

mod database_url;
mod limits;
mod load;
pub mod logging;
mod values;

use std::time::Duration;

use serde::Deserialize;

pub use database_url::DatabaseUrl;
pub use limits::{Limit, LimitsSettings, MAX_CONCURRENT, MAX_QUOTA, MAX_RATE};
pub use load::{Loaded, SettingsError};
pub use values::{AdminToken, HeaderName, InvalidValue, PoolerMode};

/// The database a development machine has out of the box: the local Postgres, user postgres,
/// over loopback without TLS (see [`DatabaseUrl`]).
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/tenantry?sslmode=disable";

/// Every setting.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The HTTP listener.
    pub server: ServerSettings,
    /// The Postgres connection pool.
    pub database: DatabaseSettings,
    /// How requests name their tenant.
    pub tenancy: TenancySettings,
    /// Credentials.
    #[serde(default)]
    pub auth: AuthSettings,
    /// The request log.
    #[serde(default)]
    pub log: LogSettings,
    /// The metrics served at `/metrics`.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// Tenant export and import.
    #[serde(default)]
    pub transfer: TransferSettings,
    /// Every tenant's limits and quotas unless its registry row sets its own.
    #[serde(default)]
    pub limits: LimitsSettings,
}

/// Tenant export and import (`GET /tenants/{slug}/export`, `POST /tenants/import`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSettings {
    /// Largest archive `POST /tenants/import` accepts, in bytes (at least 1); a larger body is
    /// refused with 413 while it arrives, before anything is written. Only that route takes
    /// more than the 64 KiB every other body is held to.
    #[serde(default = "default_max_archive_bytes", deserialize_with = "values::nonzero")]
    pub max_archive_bytes: u64,
}

impl Default for TransferSettings {
    fn default() -> Self {
        Self { max_archive_bytes: default_max_archive_bytes() }
    }
}

/// 1 GiB: a tenant of several million rows (1,000,000 products export to about 70 MB).
fn default_max_archive_bytes() -> u64 {
    1 << 30
}

/// The request log: one line per request (see README, "Operating Tenantry").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` (default), `json` (one JSON object per line) or `off`.
    #[serde(default)]
    pub requests: RequestLog,
}

/// How each request is logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestLog {
    /// One human-readable line.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
    /// No request lines (5xx causes are still logged).
    Off,
}

/// The metrics served at `/metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// How many of the busiest tenants get a `tenant` label value of their own; every other
    /// tenant is counted under `other`, so a scrape holds at most this many + 1 tenant series
    /// per metric, however many tenants there are.
    #[serde(default = "default_top_tenants", deserialize_with = "values::whole")]
    pub top_tenants: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { top_tenants: default_top_tenants() }
    }
}

/// 100: enough for the tenants worth a dashboard line, small for any Prometheus.
fn default_top_tenants() -> usize {
    100
}

/// Credentials.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The bearer token that opens the control plane (`/tenants...`). Unset: the server makes
    /// a random one at start-up and logs it once. Never shown in `Debug` output.
    pub admin_token: Option<AdminToken>,
}

/// The HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to bind, e.g. `127.0.0.1` or `0.0.0.0`.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests).
    #[serde(deserialize_with = "values::whole")]
    pub port: u16,
    /// Worker threads; 0 means one per core.
    #[serde(deserialize_with = "values::workers")]
    pub workers: usize,
    /// How long a stopping server (SIGINT, SIGTERM or its stop handle) gives in-flight
    /// requests to finish before it cuts them off (`shutdown_timeout_secs`, seconds).
    #[serde(rename = "shutdown_timeout_secs", deserialize_with = "values::seconds")]
    pub shutdown_timeout: Duration,
}

/// The Postgres connection pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connection URL; may carry a password, so only its host, port, database and user ever
    /// show in `Debug` output and logs.
    pub url: DatabaseUrl,
    /// Connections for tenant queries (at least 1): one tenant pool of this many when
    /// `tenant_shards` is 0 or 1; with `tenant_shards` unset, one sub-pool per connection;
    /// otherwise split over `min(tenant_shards, max_connections)` sub-pools, as evenly as they
    /// divide (12 over 5: 3, 3, 2, 2, 2); a control pool of 2 beside them.
    #[serde(deserialize_with = "values::connections")]
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing (`acquire_timeout_secs`,
    /// seconds, at least 1); also how long start-up waits for the database to answer before
    /// saying it cannot reach it.
    #[serde(rename = "acquire_timeout_secs", deserialize_with = "values::nonzero_seconds")]
    pub acquire_timeout: Duration,
    /// How long any one statement may run before Postgres cancels it (`statement_timeout_ms`,
    /// milliseconds, at least 1; 0 would mean no limit); set on every connection at start-up,
    /// so no request can hold a connection indefinitely.
    #[serde(rename = "statement_timeout_ms", deserialize_with = "values::statement_timeout")]
    pub statement_timeout: Duration,
    /// What sits between the service and Postgres.
    pub pooler_mode: PoolerMode,
    /// Prepared statements each tenant connection keeps (sqlx's cache, keyed by SQL text;
    /// tenant queries differ per tenant, so it should hold a few statements for each tenant a
    /// connection serves; at least 1). Ignored with `pooler_mode = transaction`, which caches
    /// none.
    #[serde(deserialize_with = "values::statement_cache")]
    pub statement_cache_capacity: usize,
    /// Tenant-affine sub-pools for tenant queries; unset (the default): one per connection;
    /// 0 or 1: one tenant pool. With N, each tenant's queries use one of N sub-pools sharing
    /// `max_connections`, chosen by a hash of its schema, so each Postgres backend meets about
    /// 1/N of the tenants and keeps their statements and relations cached; a tenant that alone
    /// has more requests in flight than its sub-pool has connections may use any of them
    /// (bound it with `limits.max_concurrent_requests`). See docs/DESIGN-NOTES.md for the
    /// measurements.
    #[serde(default, deserialize_with = "values::optional_whole")]
    pub tenant_shards: Option<u32>,
    /// How long a tenant's unit of work waits for a connection of its own sub-pool before it
    /// takes the first one any sub-pool frees (`home_wait_ms`, milliseconds; 0: at once). Waiting at home
    /// keeps each backend's caches to its own tenants; not waiting for ever there means one
    /// tenant's slow statement holds up the other tenants of its sub-pool for this long at
    /// most while another connection is free, rather than until they time out. Never more
    /// than half `acquire_timeout_secs`, so a unit that gives up waiting at home still has
    /// time to be served elsewhere.
    #[serde(rename = "home_wait_ms", deserialize_with = "values::millis")]
    pub home_wait: Duration,
    /// How long a connection serves before it is closed and replaced, when next handed out
    /// (`max_lifetime_secs`, seconds, at least 1). A Postgres backend keeps every relation and
    /// plan it has met, for every tenant, until it ends; this bounds how long it can grow.
    #[serde(rename = "max_lifetime_secs", deserialize_with = "values::nonzero_seconds")]
    pub max_lifetime: Duration,
}

/// How requests name their tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancySettings {
    /// The request header that carries the tenant's slug.
    pub header: HeaderName,
    /// How long a cached registry or key entry is trusted before it is read again
    /// (`cache_ttl_secs`, seconds): how stale a change made by another instance can look.
    #[serde(rename = "cache_ttl_secs", deserialize_with = "values::seconds")]
    pub cache_ttl: Duration,
}

#[cfg(test)]
mod tests;
