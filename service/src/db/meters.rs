//! [`Meters`]: what the service counts for `/metrics`, as handles registered once on the
//! recorder the server gives [`super::Db::instrument`] (none by default: every handle is a
//! no-op, so tests and tools that never scrape pay nothing). Recording through a handle is an
//! atomic add; nothing here formats the exposition, the recorder does.

use metrics::{Counter, Histogram, Key, Level, Metadata, Recorder};

const METADATA: Metadata<'static> = Metadata::new("tenantry", Level::INFO, None);

/// A cache's hits, misses (a load from the database) and evictions (by size or age).
#[derive(Clone, Debug)]
pub struct CacheMeters {
    /// Lookups answered from memory.
    pub hits: Counter,
    /// Lookups that read the database.
    pub misses: Counter,
    /// Entries dropped for room or because their TTL ran out.
    pub evictions: Counter,
}

/// Every handle the service records through.
#[derive(Clone, Debug)]
pub struct Meters {
    /// Units of work run once more on a live connection after meeting a dead one.
    pub retries: Counter,
    /// Units of work refused because the database could not be reached (each a 503).
    pub unavailable: Counter,
    /// Units of work on a tenant pool that waited `database.home_wait_ms` at their tenant's
    /// sub-pool and took another's connection.
    pub spills: Counter,
    /// How long each unit of work took, waiting for connections included.
    pub unit_seconds: Histogram,
    /// How long a unit of work on a tenant pool waited for its connection (opening one
    /// included, when none was idle).
    pub acquire_seconds: Histogram,
    /// The tenant registry's cache.
    pub registry: CacheMeters,
    /// The API key cache.
    pub keys: CacheMeters,
    /// Tenants provisioned.
    pub provisioned: Counter,
    /// How long each provisioning took (successful or not).
    pub provision_seconds: Histogram,
}

impl Default for Meters {
    /// Handles that record nothing.
    fn default() -> Self {
        Self::register(&metrics::NoopRecorder)
    }
}

impl Meters {
    /// The handles, registered on `recorder`.
    pub fn register(recorder: &dyn Recorder) -> Self {
        let counter = |name: &'static str, labels: &[(&'static str, &'static str)]| {
            let labels: Vec<metrics::Label> =
                labels.iter().map(|(k, v)| metrics::Label::new(*k, *v)).collect();
            recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
        };
        let cache = |cache: &'static str| CacheMeters {
            hits: counter("tenantry_cache_hits_total", &[("cache", cache)]),
            misses: counter("tenantry_cache_misses_total", &[("cache", cache)]),
            evictions: counter("tenantry_cache_evictions_total", &[("cache", cache)]),
        };
        Self {
            retries: counter("tenantry_db_retries_total", &[]),
            unavailable: counter("tenantry_db_unavailable_total", &[]),
            spills: counter("tenantry_db_spills_total", &[]),
            unit_seconds: recorder
                .register_histogram(&Key::from_name("tenantry_db_unit_duration_seconds"), &METADATA),
            acquire_seconds: recorder
                .register_histogram(&Key::from_name("tenantry_db_acquire_wait_seconds"), &METADATA),
            registry: cache("registry"),
            keys: cache("keys"),
            provisioned: counter("tenantry_tenants_provisioned_total", &[]),
            provision_seconds: recorder
                .register_histogram(&Key::from_name("tenantry_tenant_provision_duration_seconds"), &METADATA),
        }
    }
}

/// One pool's connections at this moment.
#[derive(Clone, Debug)]
pub struct PoolStat {
    /// `control`, or `tenant_<n>` for a tenant-affine sub-pool.
    pub pool: String,
    /// Connections open.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Most connections the pool may open.
    pub max: u32,
}
