//! [`Keyring`]: which tenant a presented API key opens, cached in memory.

use std::time::Duration;

use moka::future::Cache;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tenantry_entity::api_key;

use super::hash;
use crate::ServiceError;
use crate::db::{Db, On};
use crate::tenants::CACHE_CAPACITY;

/// Maps key hashes to the immutable registry id of the tenant they open (`None`: unknown or
/// revoked). Never to a slug: a slug may later name another tenant.
#[derive(Clone)]
pub struct Keyring {
    db: Db,
    cache: Cache<[u8; 32], Option<i64>>,
}

impl Keyring {
    /// A keyring over `db` whose entries are trusted for `ttl` (bounding how long a key revoked
    /// by another instance keeps working here).
    pub fn new(db: Db, ttl: Duration) -> Self {
        let evictions = db.meters().keys.evictions.clone();
        let cache = Cache::builder()
            .max_capacity(CACHE_CAPACITY)
            .time_to_live(ttl)
            .eviction_listener(move |_, _, cause| {
                if cause.was_evicted() {
                    evictions.increment(1);
                }
            })
            .support_invalidation_closures()
            .build();
        Self { db, cache }
    }

    /// The registry id of the tenant `secret` opens. Unknown or revoked keys are refused alike, and
    /// remembered as such, so a flood of wrong keys costs one query per key per TTL.
    pub async fn authenticate(&self, secret: &str) -> Result<i64, ServiceError> {
        let digest = hash(secret);
        let db = self.db.clone();
        let entry = self
            .cache
            .entry(digest)
            .or_try_insert_with(async move { load(&db, &digest).await })
            .await
            .map_err(ServiceError::from_shared)?;
        let meters = &self.db.meters().keys;
        if entry.is_fresh() {
            meters.misses.increment(1)
        } else {
            meters.hits.increment(1)
        }
        let found = entry.into_value();
        found.ok_or_else(|| ServiceError::Unauthorized("unknown or revoked API key".to_owned()))
    }

    /// Forgets a key (after revocation): it opens nothing from now on.
    pub async fn forget(&self, digest: &[u8]) {
        if let Ok(digest) = <[u8; 32]>::try_from(digest) {
            self.cache.insert(digest, None).await;
        }
    }

    /// Forgets every key of the tenant with registry id `tenant_id` (after its deletion).
    pub fn forget_tenant(&self, tenant_id: i64) {
        // Only fails if invalidation closures are not enabled, and they are (see `new`).
        if let Err(e) = self.cache.invalidate_entries_if(move |_, opens| *opens == Some(tenant_id)) {
            log::warn!("could not drop the cached keys of tenant {tenant_id}: {e}");
        }
    }
}

async fn load(db: &Db, digest: &[u8; 32]) -> Result<Option<i64>, ServiceError> {
    let found = db
        .run(On::Control, async |work| {
            let select = api_key::Entity::find()
                .filter(api_key::Column::Hash.eq(digest.to_vec()))
                .filter(api_key::Column::RevokedAt.is_null());
            Ok(select.one(work).await?)
        })
        .await?;
    Ok(found.map(|key| key.tenant_id))
}
