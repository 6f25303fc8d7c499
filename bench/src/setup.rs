//! The benchmark's own database, and tenants to run against.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use sea_orm::ActiveValue::Set;
use sea_orm::prelude::Decimal;
use secrecy::ExposeSecret;
use tenantry_config::Settings;
use tenantry_pg::database::{DatabaseName, drop_database, ensure_database};
use tenantry_service::audit::Actor;
use tenantry_service::db::{CONTROL_STATEMENT_CACHE, Db, PoolOptions, PoolerMode, Work, connect_and_prepare};
use tenantry_service::entity::product;
use tenantry_service::tenants::{self, NewTenant, Registry, Slug};
use tenantry_service::values::Name;
use tenantry_service::{SchemaName, ServiceError, TenantScope};

use crate::report::Samples;

/// The benchmark database's default name, beside the service's own.
const BENCH_DATABASE: &str = "tenantry_bench";

/// A fresh benchmark database and the settings the server would use on it.
pub struct Bench {
    /// The database URL as the server connects with it (on loopback without an `sslmode`, that
    /// is `sslmode=disable` added), so that pgbench, the DDL replay and the runner use the same
    /// transport as the server: a URL given to libpq as typed negotiates TLS.
    pub url: String,
    admin_url: String,
    name: DatabaseName,
    /// The service's settings, pointed at the benchmark database.
    pub settings: Settings,
}

/// A provisioned tenant and its API key.
pub struct Tenant {
    /// Its slug.
    pub slug: String,
    /// Its schema, as the registry holds it.
    pub schema: String,
    /// Its first API key.
    pub key: String,
}

impl Tenant {
    /// Its schema, parsed.
    pub fn schema(&self) -> Result<SchemaName, ServiceError> {
        SchemaName::parse(&self.schema).map_err(|e| ServiceError::Invalid(e.to_string()))
    }
}

impl Bench {
    /// Drops and recreates the benchmark database.
    pub async fn create(url: Option<&str>) -> anyhow::Result<Self> {
        let mut settings = Settings::load()?;
        let url = match url {
            Some(url) => url.to_owned(),
            None => {
                let mut url = url::Url::parse(settings.database.url.expose_secret())?;
                url.set_path(&format!("/{BENCH_DATABASE}"));
                url.to_string()
            }
        };
        let (name, admin_url) = DatabaseName::from_url(&url)?;
        drop_database(&admin_url, &name).await?;
        let timeout = settings.database.acquire_timeout;
        ensure_database(&url, timeout).await?;
        settings.database.url = tenantry_config::DatabaseUrl::parse(&url)?;
        let url = settings.database.url.expose().to_owned();
        Ok(Self { url, admin_url, name, settings })
    }

    /// Opens a pool of `connections` on the benchmark database, prepared as the server does
    /// for provisioning and migrations (with the control pool's small statement cache).
    pub async fn db(&self, connections: u32) -> Result<Db, ServiceError> {
        let settings = PoolOptions::from(&self.settings.database);
        let options = PoolOptions {
            max_connections: connections,
            acquire_timeout: Duration::from_secs(60),
            pooler: PoolerMode::None,
            statement_cache: settings.statement_cache.min(CONTROL_STATEMENT_CACHE),
            tenant_shards: 0,
            ..settings
        };
        connect_and_prepare(&self.url, &options).await
    }

    /// Drops the benchmark database.
    pub async fn drop_database(&self) {
        if let Err(e) = drop_database(&self.admin_url, &self.name).await {
            eprintln!("bench: could not drop {}: {e}", self.name.as_str());
        }
    }
}

/// The slug of the `i`th benchmark tenant.
pub fn slug(i: usize) -> String {
    format!("b{i:05}")
}

/// Provisions tenants `from..to`, `jobs` at a time, returning them in order with each one's
/// provisioning time.
pub async fn provision(
    db: &Db,
    registry: &Registry,
    range: std::ops::Range<usize>,
    jobs: usize,
) -> Result<(Vec<Tenant>, Samples), ServiceError> {
    let actor = &Actor { credential: "bench".to_owned(), request_id: None };
    let results: Vec<(Tenant, Duration)> = stream::iter(range)
        .map(|i| async move {
            let new =
                NewTenant { slug: Slug::parse(&slug(i))?, name: Name::parse("name", format!("Bench {i}"))? };
            let started = Instant::now();
            let provisioned = tenants::provision(db, registry, actor, new).await?;
            let took = started.elapsed();
            Ok::<_, ServiceError>((
                Tenant {
                    slug: provisioned.tenant.slug,
                    schema: provisioned.tenant.schema_name,
                    key: provisioned.key.secret,
                },
                took,
            ))
        })
        .buffered(jobs.max(1))
        .try_collect()
        .await?;
    let mut samples = Samples::default();
    let mut tenants = Vec::with_capacity(results.len());
    for (tenant, took) in results {
        samples.push(took);
        tenants.push(tenant);
    }
    Ok((tenants, samples))
}

/// Gives each tenant `count` products, in one statement per tenant.
pub async fn seed_products(
    db: &Db,
    tenants: &[Tenant],
    count: usize,
    jobs: usize,
) -> Result<(), ServiceError> {
    stream::iter(tenants)
        .map(|tenant| async move {
            let scope = TenantScope::new(tenant.schema()?);
            let rows = (1..=count).map(|n| product::ActiveModel {
                name: Set(format!("{}-p{n}", tenant.slug)),
                price: Set(price(n)),
                ..Default::default()
            });
            let rows: Vec<_> = rows.collect();
            let insert = async |work: &Work| {
                scope.insert_many(rows.clone()).exec_without_returning(work).await?;
                Ok(())
            };
            db.run(&scope, insert).await
        })
        .buffer_unordered(jobs.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// The price of product `n`: `n` units and `n` cents.
fn price(n: usize) -> Decimal {
    Decimal::new(i64::try_from(n).unwrap_or(0) * 101, 2)
}

/// The control-plane token of a server a scenario starts in this process.
pub const ADMIN_TOKEN: &str = "bench-bench-bench-bench-bench-bench-bench-bench-";

/// The real server, started in this process on `settings` (a free port, [`ADMIN_TOKEN`]).
pub struct Served {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The server's database handle (its statement counter).
    pub db: Db,
    stop: tenantry_api::StopHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// Builds and starts the application.
    pub async fn start(settings: &Settings) -> anyhow::Result<Self> {
        let mut settings = settings.clone();
        settings.server.port = 0;
        settings.auth.admin_token = Some(tenantry_config::AdminToken::try_from(ADMIN_TOKEN.to_owned())?);
        let app = tenantry_api::Application::build(&settings).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let (db, stop) = (app.db(), app.stop_handle());
        Ok(Self { base, db, stop, task: tokio::spawn(app.run_until_stopped()) })
    }

    /// Stops the server through its handle: requests left in flight are answered first, and
    /// its pool is closed (so pgbench or the database's drop meet none of its sessions).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.stop().await;
        self.task.await?.map_err(|e| anyhow::anyhow!("server: {e}"))
    }
}
