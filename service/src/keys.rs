//! API keys: random secrets bound to one tenant each, stored only as SHA-256 hashes.
//!
//! A key is `tnt_` followed by 43 base64url characters (32 random bytes, 256 bits). A fast hash
//! is the right tool here: the secret has full entropy, so there is nothing to brute-force,
//! and every request can check it cheaply. [`Keyring`] caches hash -> tenant so a request on a
//! known key costs no query; revocation through this instance takes effect at once.

mod keyring;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use sha2::{Digest, Sha256};
use tenantry_entity::api_key::{self, Column, Entity as ApiKey, Model};

pub use keyring::Keyring;

use serde_json::json;

use crate::ServiceError;
use crate::audit::{self, Actor, Change};
use crate::db::{Db, On};
use crate::page::{Page, PageRequest};
use crate::tenants::{self, Slug};

/// Every key starts with this, so a leaked key is recognisable (e.g. by secret scanners).
pub const KEY_PREFIX: &str = "tnt_";
/// Random bytes per key: 256 bits.
const SECRET_BYTES: usize = 32;
/// Characters of the key kept in the clear as its `prefix`: `tnt_` and 8 more (48 bits),
/// enough to tell keys apart, far too few to guess the rest.
const SHOWN_CHARS: usize = KEY_PREFIX.len() + 8;

/// A key just issued: its stored record and the secret, which is shown once and never again.
#[derive(Clone, Debug)]
pub struct IssuedKey {
    /// What is stored.
    pub record: Model,
    /// The whole key.
    pub secret: String,
}

/// The SHA-256 of a presented key: what the database and the cache are keyed by.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Issues a new key for the tenant with registry id `tenant_id`, on `db` (which may be the
/// provisioning transaction).
pub async fn issue_for(db: &impl ConnectionTrait, tenant_id: i64) -> Result<IssuedKey, ServiceError> {
    let mut random = [0u8; SECRET_BYTES];
    getrandom::fill(&mut random).map_err(|e| ServiceError::Unexpected(format!("no randomness: {e}")))?;
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
    let row = api_key::ActiveModel {
        tenant_id: Set(tenant_id),
        prefix: Set(secret[..SHOWN_CHARS].to_owned()),
        hash: Set(hash(&secret).to_vec()),
        ..Default::default()
    };
    let record = ApiKey::insert(row).exec_with_returning(db).await?;
    Ok(IssuedKey { record, secret })
}

/// Issues another key for tenant `slug`; the audit entry names the key's id and prefix.
pub async fn issue(db: &Db, actor: &Actor, slug: &Slug) -> Result<IssuedKey, ServiceError> {
    let mut change = tenants::audit_of("key.issue", slug, json!({}));
    let issued = db
        .atomic(On::Control, async |tx| {
            let tenant = tenants::find(tx, slug).await?;
            let issued = issue_for(tx, tenant.id).await?;
            let detail = json!({"key_id": issued.record.id, "prefix": issued.record.prefix});
            let change = Change { tenant_id: Some(tenant.id), detail, ..change.clone() };
            audit::append(tx, actor, &change, "ok").await?;
            Ok(issued)
        })
        .await;
    if let Err(e @ ServiceError::NotFound(_)) = &issued {
        change.detail = json!({});
        let outcome = format!("refused: {e}");
        let recorded =
            db.atomic(On::Control, async |tx| audit::append(tx, actor, &change, &outcome).await).await;
        if let Err(failed) = recorded {
            log::error!("could not record a refused key.issue: {failed}");
        }
    }
    issued
}

/// The tenant's keys, newest first; revoked keys included (with their revocation time).
pub async fn list(db: &Db, slug: &Slug, page: PageRequest) -> Result<Page<Model>, ServiceError> {
    db.atomic(On::Control, async |tx| {
        let tenant = tenants::find(tx, slug).await?;
        let select = ApiKey::find().filter(Column::TenantId.eq(tenant.id));
        page.fetch(tx, select, |s| s.order_by_desc(Column::Id)).await
    })
    .await
}

/// Revokes key `id` of tenant `slug`. Revoking a revoked key changes nothing.
pub async fn revoke(
    db: &Db,
    keyring: &Keyring,
    actor: &Actor,
    slug: &Slug,
    id: i64,
) -> Result<(), ServiceError> {
    let change = tenants::audit_of("key.revoke", slug, json!({"key_id": id}));
    let key = audit::audited(db, actor, change, async |tx| {
        let tenant = tenants::find(tx, slug).await?;
        let key = ApiKey::find()
            .filter(Column::Id.eq(id))
            .filter(Column::TenantId.eq(tenant.id))
            .one(tx)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("key {id} of tenant '{slug}'")))?;
        ApiKey::update_many()
            .col_expr(Column::RevokedAt, Expr::current_timestamp())
            .filter(Column::Id.eq(key.id))
            .filter(Column::RevokedAt.is_null())
            .exec(tx)
            .await?;
        let tenant_id = key.tenant_id;
        Ok((key, Some(tenant_id)))
    })
    .await?;
    keyring.forget(&key.hash).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_of_the_whole_key() {
        // FIPS 180-2's test vector for "abc": stored hashes must stay SHA-256 of the key.
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hex: String = hash("abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
        assert_ne!(hash("tnt_abc"), hash("tnt_abd"));
    }

    #[test]
    fn the_shown_prefix_is_the_marker_and_eight_characters() {
        assert_eq!(SHOWN_CHARS, 12);
        assert_eq!(URL_SAFE_NO_PAD.encode([0u8; SECRET_BYTES]).len(), 43);
    }
}
