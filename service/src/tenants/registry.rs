//! [`Registry`]: tenant resolution for every data-plane request, cached in memory.
//!
//! Entries are keyed by the tenant's immutable registry id, never by its slug: a slug is a
//! label that a later tenant may carry again, an id is never reused, and neither is the schema
//! derived from it. So however stale an entry is, on whichever instance, it can only name the
//! tenant it was read for: the worst it can do is serve a suspension late or point at a schema
//! that is gone (which refuses the request). A hit costs no database query, and the tenant
//! comes with the limits in force for it (its row's, else the defaults), so enforcing them
//! costs none either. Provisioning,
//! suspension and deletion through this instance update the cache at once; changes made
//! elsewhere are seen within the TTL. Unknown ids are cached too.

use std::time::Duration;

use moka::future::Cache;
use sea_orm::EntityTrait;
use tenantry_entity::tenant::{self, State};

use super::Slug;
use crate::db::{Db, On};
use crate::limits::{LimitSet, Limits, RowLimits};
use crate::{ServiceError, TenantScope};

/// Most entries each cache (this registry, the keyring) keeps; beyond it the least used are
/// evicted. 100,000 is ten times the largest fleet measured, at well under 100 bytes a key.
pub const CACHE_CAPACITY: u64 = 100_000;

/// What a request needs to know about its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedTenant {
    /// The tenant's immutable registry id.
    pub id: i64,
    /// The tenant's slug (its current label).
    pub slug: Slug,
    /// Builds queries on the tenant's tables.
    pub scope: TenantScope,
    /// Whether requests may be served.
    pub state: State,
    /// The limits and quotas in force for it.
    pub limits: Limits,
}

/// The cached tenant registry.
#[derive(Clone)]
pub struct Registry {
    db: Db,
    cache: Cache<i64, Option<ResolvedTenant>>,
    defaults: LimitSet,
}

impl Registry {
    /// A registry over `db` whose entries are trusted for `ttl`, resolving tenants with
    /// `defaults` for the limits their rows leave unset.
    pub fn new(db: Db, ttl: Duration, defaults: LimitSet) -> Self {
        let evictions = db.meters().registry.evictions.clone();
        let cache = Cache::builder()
            .max_capacity(CACHE_CAPACITY)
            .time_to_live(ttl)
            .eviction_listener(move |_, _, cause| {
                if cause.was_evicted() {
                    evictions.increment(1);
                }
            })
            .build();
        Self { db, cache, defaults }
    }

    /// The active tenant with registry id `id`. Unknown: not found; suspended: forbidden.
    pub async fn resolve(&self, id: i64) -> Result<ResolvedTenant, ServiceError> {
        let db = self.db.clone();
        let defaults = self.defaults;
        let entry = self
            .cache
            .entry(id)
            .or_try_insert_with(async move { load(&db, id, &defaults).await })
            .await
            .map_err(ServiceError::from_shared)?;
        let meters = &self.db.meters().registry;
        if entry.is_fresh() {
            meters.misses.increment(1)
        } else {
            meters.hits.increment(1)
        }
        let found = entry.into_value();
        match found {
            None => Err(ServiceError::NotFound(format!("tenant {id}"))),
            Some(tenant) if tenant.state == State::Suspended => {
                Err(ServiceError::Forbidden(format!("tenant '{}' is suspended", tenant.slug)))
            }
            Some(tenant) => Ok(tenant),
        }
    }

    /// Records a tenant as it now is (after provisioning or a state change).
    pub async fn remember(&self, model: &tenant::Model) -> Result<(), ServiceError> {
        let resolved = resolved(model, &self.defaults)?;
        self.cache.insert(resolved.id, Some(resolved)).await;
        Ok(())
    }

    /// The limits in force for the tenant whose registry row is `model` (its own, over the
    /// defaults from settings).
    pub fn limits_of(&self, model: &tenant::Model) -> Result<Limits, ServiceError> {
        Ok(RowLimits::of(model)?.over(&self.defaults))
    }

    /// Records that the tenant with registry id `id` no longer exists.
    pub async fn forget(&self, id: i64) {
        self.cache.insert(id, None).await;
    }
}

async fn load(db: &Db, id: i64, defaults: &LimitSet) -> Result<Option<ResolvedTenant>, ServiceError> {
    let model = db.run(On::Control, async |work| Ok(tenant::Entity::find_by_id(id).one(work).await?)).await?;
    model.as_ref().map(|m| resolved(m, defaults)).transpose()
}

/// The registry row as a request needs it. The schema is the stored one, parsed: for tenants
/// provisioned before schemas were derived from ids it is `tenant_<slug>`, and it is unique
/// and never reused either way.
fn resolved(model: &tenant::Model, defaults: &LimitSet) -> Result<ResolvedTenant, ServiceError> {
    let schema = super::stored_schema(model)?;
    Ok(ResolvedTenant {
        id: model.id,
        slug: Slug::parse(&model.slug)?,
        scope: TenantScope::new(schema),
        state: model.state,
        limits: RowLimits::of(model)?.over(defaults),
    })
}
