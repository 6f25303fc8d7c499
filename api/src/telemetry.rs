//! [`Telemetry`]: the metrics served at `/metrics` and the per-tenant counts behind them and
//! behind `/tenants/{slug}/usage`.
//!
//! Each server has its own Prometheus recorder (never the process-wide one: tests run many
//! servers in one process), which also renders the exposition. Per-tenant series are bounded:
//! the counts are kept here for every tenant, and each scrape renders the `top_tenants`
//! busiest under their own `tenant` label and the sum of all others under `other`, through a
//! recorder built for that scrape, so a scrape never holds more than `top_tenants + 1` tenant
//! series per metric however many tenants there are. A tenant that becomes busy gets its own
//! series at the next scrape (its count then leaves `other`, which Prometheus reads as a reset
//! of `other`; the sum over every `tenant` value only ever grows).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use metrics::{Key, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use tenantry_config::{MetricsSettings, RequestLog};
use tenantry_service::db::Db;

use self::http::HttpMeters;

mod http;

const METADATA: Metadata<'static> = Metadata::new("tenantry", Level::INFO, None);

/// Histogram buckets, in seconds: from a warm cached read (~1 ms) to the statement timeout.
const BUCKETS: [f64; 12] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];

/// The label value of every tenant outside the busiest.
pub const OTHER: &str = "other";

/// One server's metrics and request-log settings.
pub struct Telemetry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    http: HttpMeters,
    tenants: TenantStats,
    top_tenants: usize,
    started: chrono::DateTime<chrono::Utc>,
    /// How each request is logged.
    pub request_log: RequestLog,
}

impl Telemetry {
    /// A recorder with this service's buckets and descriptions.
    pub fn new(settings: &MetricsSettings, request_log: RequestLog) -> Result<Self, String> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
            .map_err(|e| format!("metrics buckets: {e}"))?
            .build_recorder();
        for (name, what) in DESCRIPTIONS {
            recorder.describe_counter(name.into(), None, what.into());
        }
        let handle = recorder.handle();
        Ok(Self {
            recorder,
            handle,
            http: HttpMeters::default(),
            tenants: TenantStats::default(),
            top_tenants: settings.top_tenants,
            started: chrono::Utc::now(),
            request_log,
        })
    }

    /// The recorder the database and caches register their handles on.
    pub fn recorder(&self) -> &dyn Recorder {
        &self.recorder
    }

    /// Drains histogram samples into their buckets, so memory stays bounded between scrapes.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Counts one answered request: `route` is its pattern (`/products/{id}`), never the raw
    /// path, and methods outside RFC 9110's and PATCH count as `other`, so the label set stays
    /// bounded (see `telemetry::http`).
    pub fn record_request(
        &self,
        route: &str,
        method: &str,
        status: u16,
        seconds: f64,
        tenant: Option<&Tenant>,
    ) {
        self.http.record(&self.recorder, route, method, status, seconds);
        if let Some(tenant) = tenant {
            self.tenants.record(tenant, status >= 500);
        }
    }

    /// When this server started counting.
    pub fn started(&self) -> chrono::DateTime<chrono::Utc> {
        self.started
    }

    /// Counts one data-plane request refused (429) for one of `tenant`'s limits, `limit` being
    /// its name (`requests_per_second`, `max_concurrent_requests`): per tenant, bounded as the
    /// other per-tenant series, and in total by limit.
    pub fn record_throttled(&self, tenant: &Tenant, limit: &'static str) {
        self.tenants.counters(tenant.id).throttled.fetch_add(1, Ordering::Relaxed);
        let key = Key::from_parts("tenantry_throttled_total", vec![Label::new("limit", limit)]);
        self.recorder.register_counter(&key, &METADATA).increment(1);
    }

    /// What this server has counted for the tenant with registry id `id`.
    pub fn usage_of(&self, id: i64) -> Option<TenantCounts> {
        self.tenants.get(id)
    }

    /// The exposition: the recorder's series, the pools as they are now, and the bounded
    /// per-tenant series.
    pub fn render(&self, db: &Db) -> String {
        for stat in db.pool_stats() {
            let gauge = |name: &'static str, value: u32| {
                let key = Key::from_parts(name, vec![Label::new("pool", stat.pool.clone())]);
                self.recorder.register_gauge(&key, &METADATA).set(f64::from(value));
            };
            gauge("tenantry_db_pool_connections", stat.size);
            gauge("tenantry_db_pool_idle_connections", stat.idle);
            gauge("tenantry_db_pool_in_use_connections", stat.size.saturating_sub(stat.idle));
            gauge("tenantry_db_pool_max_connections", stat.max);
        }
        let statements = Key::from_name("tenantry_db_statements_total");
        self.recorder.register_counter(&statements, &METADATA).absolute(db.statements_run());
        let mut out = self.handle.render();
        out.push_str(&self.render_tenants());
        out
    }

    /// The per-tenant series: the `top_tenants` busiest by requests, then `other`.
    fn render_tenants(&self) -> String {
        let scrape = PrometheusBuilder::new().build_recorder();
        scrape.describe_counter(
            "tenantry_tenant_requests_total".into(),
            Some(Unit::Count),
            TENANT_REQUESTS.into(),
        );
        scrape.describe_counter(
            "tenantry_tenant_errors_total".into(),
            Some(Unit::Count),
            TENANT_ERRORS.into(),
        );
        scrape.describe_counter(
            "tenantry_tenant_throttled_total".into(),
            Some(Unit::Count),
            TENANT_THROTTLED.into(),
        );
        let mut all: Vec<TenantCounts> = self.tenants.all().into_values().collect();
        let k = self.top_tenants.min(all.len());
        if k < all.len() {
            // The k busiest first (ties by slug, so a scrape is reproducible), the rest after.
            all.select_nth_unstable_by(k, |a, b| {
                b.requests.cmp(&a.requests).then_with(|| a.slug.cmp(&b.slug))
            });
        }
        let (top, rest) = all.split_at(k);
        let emit = |tenant: String, requests: u64, errors: u64, throttled: u64| {
            let labels = vec![Label::new("tenant", tenant)];
            let key = Key::from_parts("tenantry_tenant_requests_total", labels.clone());
            scrape.register_counter(&key, &METADATA).absolute(requests);
            let key = Key::from_parts("tenantry_tenant_errors_total", labels.clone());
            scrape.register_counter(&key, &METADATA).absolute(errors);
            let key = Key::from_parts("tenantry_tenant_throttled_total", labels);
            scrape.register_counter(&key, &METADATA).absolute(throttled);
        };
        for tenant in top {
            emit(tenant.slug.clone(), tenant.requests, tenant.errors, tenant.throttled);
        }
        let sum = |count: fn(&TenantCounts) -> u64| rest.iter().map(count).sum();
        emit(OTHER.to_owned(), sum(|t| t.requests), sum(|t| t.errors), sum(|t| t.throttled));
        scrape.handle().render()
    }
}

const TENANT_REQUESTS: &str =
    "Data-plane requests per tenant since start: the busiest tenants by name, the rest as other";
const TENANT_ERRORS: &str =
    "Data-plane requests answered 5xx per tenant since start (labelled as the requests)";
const TENANT_THROTTLED: &str = "Data-plane requests refused 429 for a rate or concurrency limit per tenant since start (labelled as the requests)";

/// HELP lines of the counters the service records.
const DESCRIPTIONS: [(&str, &str); 10] = [
    ("tenantry_http_requests_total", "Requests answered, by route pattern, method and status class"),
    ("tenantry_db_statements_total", "Statements run on every pool"),
    ("tenantry_db_retries_total", "Units of work retried on a live connection after meeting a dead one"),
    ("tenantry_db_unavailable_total", "Units of work refused because the database was unreachable (503)"),
    (
        "tenantry_db_spills_total",
        "Units of work that waited out home_wait_ms at their tenant's sub-pool and took another's connection",
    ),
    ("tenantry_cache_hits_total", "Cache lookups answered from memory"),
    ("tenantry_cache_misses_total", "Cache lookups that read the database"),
    ("tenantry_cache_evictions_total", "Cache entries dropped for room or age"),
    ("tenantry_tenants_provisioned_total", "Tenants provisioned by this server"),
    ("tenantry_throttled_total", "Data-plane requests refused 429, by the limit they met"),
];

/// The tenant a data-plane request was served for (put in the request's extensions by the
/// tenant extractor).
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Registry id.
    pub id: i64,
    /// Slug when it was served.
    pub slug: String,
}

/// A tenant's counts since this server started.
#[derive(Clone, Debug)]
pub struct TenantCounts {
    /// Its slug when last served.
    pub slug: String,
    /// Data-plane requests served for it.
    pub requests: u64,
    /// Of those, answered with a 5xx.
    pub errors: u64,
    /// Of those, refused 429 for a rate or concurrency limit.
    pub throttled: u64,
    /// When the last one was answered, in milliseconds since the Unix epoch.
    pub last_request_ms: i64,
}

#[derive(Default)]
struct Counters {
    slug: Mutex<String>,
    requests: AtomicU64,
    errors: AtomicU64,
    throttled: AtomicU64,
    last_ms: AtomicI64,
}

/// Counts per tenant id: a read lock and atomic adds per request once a tenant is known.
#[derive(Default)]
struct TenantStats {
    by_id: RwLock<HashMap<i64, Arc<Counters>>>,
}

impl TenantStats {
    /// The counters of tenant `id`, made on its first request.
    fn counters(&self, id: i64) -> Arc<Counters> {
        let known = self.by_id.read().unwrap_or_else(PoisonError::into_inner).get(&id).cloned();
        match known {
            Some(counters) => counters,
            None => {
                let mut by_id = self.by_id.write().unwrap_or_else(PoisonError::into_inner);
                Arc::clone(by_id.entry(id).or_default())
            }
        }
    }

    fn record(&self, tenant: &Tenant, error: bool) {
        let counters = self.counters(tenant.id);
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        counters.last_ms.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
        let mut slug = counters.slug.lock().unwrap_or_else(PoisonError::into_inner);
        if *slug != tenant.slug {
            tenant.slug.clone_into(&mut slug);
        }
    }

    fn snapshot(counters: &Counters) -> TenantCounts {
        TenantCounts {
            slug: counters.slug.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            requests: counters.requests.load(Ordering::Relaxed),
            errors: counters.errors.load(Ordering::Relaxed),
            throttled: counters.throttled.load(Ordering::Relaxed),
            last_request_ms: counters.last_ms.load(Ordering::Relaxed),
        }
    }

    fn get(&self, id: i64) -> Option<TenantCounts> {
        self.by_id.read().unwrap_or_else(PoisonError::into_inner).get(&id).map(|c| Self::snapshot(c))
    }

    fn all(&self) -> HashMap<i64, TenantCounts> {
        let by_id = self.by_id.read().unwrap_or_else(PoisonError::into_inner);
        by_id.iter().map(|(id, c)| (*id, Self::snapshot(c))).collect()
    }
}
