//! [`Registry`]: tenant resolution for every data-plane request, cached in memory.
//!
//! A hit costs no database query. Provisioning and deletion through this instance update the
//! cache at once; changes made elsewhere (another instance, an operator) are seen within the
//! TTL. Unknown slugs are cached too, so a client hammering a wrong slug costs one query per
//! TTL, not one per request.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tenantry_entity::tenant::{self, State};

use super::Slug;
use crate::db::Db;
use crate::{ServiceError, TenantScope};

/// Most registry entries kept; beyond it the least used are evicted.
const CAPACITY: u64 = 100_000;

/// What a request needs to know about its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedTenant {
    /// The tenant's slug.
    pub slug: Slug,
    /// Builds queries on the tenant's tables.
    pub scope: TenantScope,
    /// Whether requests may be served.
    pub state: State,
}

/// The cached tenant registry.
#[derive(Clone)]
pub struct Registry {
    db: Db,
    cache: Cache<Slug, Option<ResolvedTenant>>,
}

impl Registry {
    /// A registry over `db` whose entries are trusted for `ttl`.
    pub fn new(db: Db, ttl: Duration) -> Self {
        Self { db, cache: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build() }
    }

    /// The active tenant `slug` names. Unknown: not found; suspended: forbidden.
    pub async fn resolve(&self, slug: &str) -> Result<ResolvedTenant, ServiceError> {
        let slug = Slug::parse(slug)?;
        let db = self.db.clone();
        let key = slug.clone();
        let found =
            self.cache.try_get_with(slug.clone(), async move { load(&db, &key).await }).await.map_err(
                |e: Arc<ServiceError>| {
                    Arc::try_unwrap(e).unwrap_or_else(|e| ServiceError::Unexpected(e.to_string()))
                },
            )?;
        match found {
            None => Err(ServiceError::NotFound(format!("tenant '{slug}'"))),
            Some(tenant) if tenant.state == State::Suspended => {
                Err(ServiceError::Forbidden(format!("tenant '{slug}' is suspended")))
            }
            Some(tenant) => Ok(tenant),
        }
    }

    /// Records a tenant as it now is (after provisioning or a state change).
    pub async fn remember(&self, model: &tenant::Model) -> Result<(), ServiceError> {
        let resolved = resolved(model)?;
        self.cache.insert(resolved.slug.clone(), Some(resolved)).await;
        Ok(())
    }

    /// Records that `slug` no longer exists.
    pub async fn forget(&self, slug: &Slug) {
        self.cache.insert(slug.clone(), None).await;
    }
}

async fn load(db: &Db, slug: &Slug) -> Result<Option<ResolvedTenant>, ServiceError> {
    let work = db.work().await?;
    let model = tenant::Entity::find().filter(tenant::Column::Slug.eq(slug.as_str())).one(&work).await?;
    work.finish().await?;
    model.as_ref().map(resolved).transpose()
}

fn resolved(model: &tenant::Model) -> Result<ResolvedTenant, ServiceError> {
    let schema = tenantry_migration::SchemaName::parse(&model.schema_name).map_err(|e| {
        ServiceError::Unexpected(format!("registry row {} holds an invalid schema name: {e}", model.id))
    })?;
    Ok(ResolvedTenant {
        slug: Slug::parse(&model.slug)?,
        scope: TenantScope::new(schema),
        state: model.state,
    })
}
