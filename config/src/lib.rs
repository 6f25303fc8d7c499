//! Tenantry's settings: built-in defaults, then an optional file per environment, then
//! environment variables, deserialized once into typed structs.
//!
//! Depends on no other Tenantry crate. Loading has no side effects and never looks at the
//! working directory: the file, if any, is `$APP_CONFIG_DIR/$APP_ENV.toml` (`APP_ENV`
//! defaults to `local`). Environment variables use `APP__SECTION__KEY`, plus the
//! conventional `DATABASE_URL`. A bad value fails the load with a message naming its key.

mod values;

use std::collections::HashMap;
use std::path::PathBuf;

use config::{Config, ConfigError, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;

pub use values::{AdminToken, HeaderName, InvalidValue};

/// The database a development machine has out of the box: the local Postgres, user postgres.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/tenantry";

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
    pub port: u16,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Seconds a stopping server (SIGINT, SIGTERM or its stop handle) gives in-flight
    /// requests to finish before it cuts them off.
    pub shutdown_timeout_secs: u64,
}

/// The Postgres connection pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connection URL; may carry a password, so it never shows in `Debug` output.
    pub url: SecretString,
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// Seconds a request waits for a free connection before failing.
    pub acquire_timeout_secs: u64,
    /// Milliseconds any one statement may run before Postgres cancels it; set on every
    /// connection at start-up, so no request can hold a connection indefinitely.
    pub statement_timeout_ms: u64,
    /// What sits between the service and Postgres.
    pub pooler_mode: PoolerMode,
    /// Prepared statements each tenant connection keeps (sqlx's cache, keyed by SQL text;
    /// tenant queries differ per tenant, so it should hold a few statements for each tenant a
    /// connection serves). Ignored with `pooler_mode = transaction`, which caches none.
    pub statement_cache_capacity: usize,
    /// Tenant-affine sub-pools for tenant queries (0 or 1: one shared pool). With N, each
    /// tenant's queries use one of N sub-pools of `max_connections / N` connections, chosen by
    /// a hash of its schema (or the next one, when all of its own are busy), so each Postgres
    /// backend meets about 2/N of the tenants. See docs/DESIGN-NOTES.md for the measurements.
    pub tenant_shards: u32,
    /// Seconds a connection serves before it is closed and replaced (when next released).
    /// A Postgres backend keeps every relation and plan it has met, for every tenant, until it
    /// ends; this bounds how long it can keep growing.
    pub max_lifetime_secs: u64,
}

/// What sits between the service and Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolerMode {
    /// Postgres itself, or a pooler in session mode: each client connection keeps one server
    /// connection, so prepared statements are cached per connection.
    None,
    /// A pooler in transaction mode (PgBouncer `pool_mode = transaction`): a server connection
    /// is only ours for one transaction. Every unit of work then runs in one transaction and
    /// no prepared statement outlives it.
    Transaction,
}

/// How requests name their tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancySettings {
    /// The request header that carries the tenant's slug.
    pub header: HeaderName,
    /// Seconds a cached registry entry is trusted before it is read again (bounds how stale
    /// a change made by another instance can look).
    pub cache_ttl_secs: u64,
}

impl Settings {
    /// Loads settings from this process's environment (and the file it points at).
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(std::env::vars().collect())
    }

    /// Loads settings as if `vars` were the whole environment.
    pub fn load_from(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let env_name = vars.get("APP_ENV").cloned().unwrap_or_else(|| "local".to_owned());
        let mut builder = Config::builder()
            .set_default("server.host", "127.0.0.1")?
            .set_default("server.port", 8080)?
            .set_default("server.workers", 0)?
            .set_default("server.shutdown_timeout_secs", 30)?
            .set_default("database.url", DEFAULT_DATABASE_URL)?
            .set_default("database.max_connections", 10)?
            .set_default("database.acquire_timeout_secs", 5)?
            .set_default("database.statement_timeout_ms", 5000)?
            .set_default("database.pooler_mode", "none")?
            .set_default("database.statement_cache_capacity", 2000)?
            .set_default("database.tenant_shards", 5)?
            .set_default("database.max_lifetime_secs", 1800)?
            .set_default("tenancy.header", "X-Tenant")?
            .set_default("tenancy.cache_ttl_secs", 30)?;
        if let Some(dir) = vars.get("APP_CONFIG_DIR") {
            let file = PathBuf::from(dir).join(format!("{env_name}.toml"));
            builder = builder.add_source(File::from(file).format(FileFormat::Toml).required(false));
        }
        let app_vars: HashMap<String, String> = vars
            .iter()
            .filter(|(k, _)| k.starts_with("APP__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(app_vars.into_iter().collect())),
        );
        if let Some(url) = vars.get("DATABASE_URL") {
            builder = builder.set_override("database.url", url.as_str())?;
        }
        builder.build()?.try_deserialize()
    }
}

#[cfg(test)]
mod tests;
