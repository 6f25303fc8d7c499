//! [`Keyring`]: which tenant a presented API key opens, cached in memory.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tenantry_entity::{api_key, tenant};

use super::hash;
use crate::ServiceError;
use crate::db::Db;
use crate::tenants::Slug;

/// Most keys remembered; beyond it the least used are evicted.
const CAPACITY: u64 = 100_000;

/// Maps key hashes to the slug of the tenant they open (`None`: unknown or revoked).
#[derive(Clone)]
pub struct Keyring {
    db: Db,
    cache: Cache<[u8; 32], Option<Slug>>,
}

impl Keyring {
    /// A keyring over `db` whose entries are trusted for `ttl` (bounding how long a key revoked
    /// by another instance keeps working here).
    pub fn new(db: Db, ttl: Duration) -> Self {
        Self { db, cache: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build() }
    }

    /// The slug of the tenant `secret` opens. Unknown or revoked keys are refused alike, and
    /// remembered as such, so a flood of wrong keys costs one query per key per TTL.
    pub async fn authenticate(&self, secret: &str) -> Result<Slug, ServiceError> {
        let digest = hash(secret);
        let db = self.db.clone();
        let found = self.cache.try_get_with(digest, async move { load(&db, &digest).await }).await.map_err(
            |e: Arc<ServiceError>| {
                Arc::try_unwrap(e).unwrap_or_else(|e| ServiceError::Unexpected(e.to_string()))
            },
        )?;
        found.ok_or_else(|| ServiceError::Unauthorized("unknown or revoked API key".to_owned()))
    }

    /// Forgets a key (after revocation): it opens nothing from now on.
    pub async fn forget(&self, digest: &[u8]) {
        if let Ok(digest) = <[u8; 32]>::try_from(digest) {
            self.cache.insert(digest, None).await;
        }
    }
}

async fn load(db: &Db, digest: &[u8; 32]) -> Result<Option<Slug>, ServiceError> {
    let work = db.work().await?;
    let found = api_key::Entity::find()
        .filter(api_key::Column::Hash.eq(digest.to_vec()))
        .filter(api_key::Column::RevokedAt.is_null())
        .find_also_related(tenant::Entity)
        .one(&work)
        .await?;
    work.finish().await?;
    match found {
        Some((_, Some(tenant))) => Ok(Some(Slug::parse(&tenant.slug)?)),
        _ => Ok(None),
    }
}
