//! Tenants: provisioning, listing, deletion, and resolving a request's tenant.

mod registry;
mod slug;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use tenantry_entity::tenant::{self, State};
use tenantry_migration::runner::{Direction, migrate_tenant_in};

pub use registry::{CACHE_CAPACITY, Registry, ResolvedTenant};
pub use slug::{MAX_SLUG_LEN, Slug};

use serde_json::json;

use crate::audit::{Actor, Change, Subject, audited};
use crate::db::{Db, On, Tx};
use crate::error::OnConflict;
use crate::keys::{self, IssuedKey, Keyring};
use crate::limits::LimitsChange;
use crate::page::{Page, PageRequest};
use crate::values::Name;
use crate::{SchemaName, ServiceError};

/// Prefix of every tenant schema, so tenant schemas are recognisable at a glance.
const SCHEMA_PREFIX: &str = "tenant_";

/// The schema of the tenant with registry id `id`: `tenant_<id>`. Ids are never reused, so
/// neither is a schema name: a credential or cache entry for a deleted tenant can never reach
/// the tables of a later tenant that carries the same slug.
pub fn schema_for(id: i64) -> Result<SchemaName, ServiceError> {
    SchemaName::parse(&format!("{SCHEMA_PREFIX}{id}"))
        .map_err(|e| ServiceError::Unexpected(format!("tenant id {id} gives no schema name: {e}")))
}

/// A tenant to provision.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Its slug: a label, unique among current tenants, that names no schema.
    pub slug: Slug,
    /// Its display name.
    pub name: Name,
}

/// A tenant just provisioned, with its first API key.
#[derive(Clone, Debug)]
pub struct Provisioned {
    /// The registry row.
    pub tenant: tenant::Model,
    /// The tenant's first key; its secret is shown once.
    pub key: IssuedKey,
}

/// Creates a tenant in ONE transaction: registry row, its first API key, `CREATE SCHEMA`, the
/// tenant migrations. Any failure rolls all of it back. A slug already taken is a conflict; so
/// is a stray schema that already has the new tenant's schema name (it is never adopted).
pub async fn provision(
    db: &Db,
    registry: &Registry,
    actor: &Actor,
    new: NewTenant,
) -> Result<Provisioned, ServiceError> {
    let detail = json!({"slug": new.slug.as_str(), "name": new.name.as_str()});
    let change = audit_of_new("tenant.provision", &new.slug, detail);
    let started = std::time::Instant::now();
    let provisioned = audited(db, actor, change, async |tx| {
        let (model, key) = provision_in(tx, &new, None).await?;
        let id = model.id;
        Ok(((model, key), Some(id)))
    })
    .await;
    db.meters().provision_seconds.record(started.elapsed().as_secs_f64());
    let (model, key) = provisioned?;
    db.meters().provisioned.increment(1);
    registry.remember(&model).await?;
    Ok(Provisioned { tenant: model, key })
}

/// Provisions `new` inside `tx`, its schema migrated up `steps` migrations (`None`: all; an
/// import creates the schema at its archive's version).
pub(crate) async fn provision_in(
    tx: &Tx,
    new: &NewTenant,
    steps: Option<u32>,
) -> Result<(tenant::Model, IssuedKey), ServiceError> {
    let id = next_id(tx).await?;
    let schema = schema_for(id)?;
    let row = tenant::ActiveModel {
        id: Set(id),
        slug: Set(new.slug.as_str().to_owned()),
        schema_name: Set(schema.as_str().to_owned()),
        name: Set(new.name.clone().into_inner()),
        state: Set(State::Active),
        ..Default::default()
    };
    let insert = tenant::Entity::insert(row).exec_without_returning(tx).await;
    insert.on_conflict(|| format!("tenant '{}' already exists", new.slug))?;
    // A schema of that name outside the registry is never adopted.
    let create = tx.execute_unprepared(&format!("CREATE SCHEMA {}", schema.quoted())).await;
    create.on_conflict(|| format!("schema {schema} already exists"))?;
    let key = keys::issue_for(tx, id).await?;
    migrate_tenant_in(tx.transaction()?, &schema, Direction::Up(steps)).await?;
    let model = tenant::Entity::find_by_id(id)
        .one(tx)
        .await?
        .ok_or_else(|| ServiceError::Unexpected("provisioned tenant vanished".to_owned()))?;
    Ok((model, key))
}

/// Changes to a tenant; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TenantChange {
    /// A new slug. The schema is named from the id, so this is one registry row: no DDL.
    pub slug: Option<Slug>,
    /// A new display name.
    pub name: Option<Name>,
    /// A new lifecycle state.
    pub state: Option<State>,
    /// New limits and quotas, or ones cleared back to the defaults.
    pub limits: LimitsChange,
}

/// Changes a tenant's slug, display name, lifecycle state and/or limits in one registry
/// statement, audited in the same transaction.
/// Keys name the tenant by id, so they keep working after a rename; the old slug names
/// nothing (404) and may be taken by another tenant; a slug already taken is a conflict.
/// Changes take effect at once on this instance and within the registry TTL on others, where
/// a stale entry still names the right tenant by id (a stale slug can only refuse a request
/// whose tenant header names the new slug). New limits apply to the next request here: the
/// registry entry is replaced, and the tenant's token bucket is rebuilt when its rate changes.
pub async fn update(
    db: &Db,
    registry: &Registry,
    actor: &Actor,
    slug: &Slug,
    change: TenantChange,
) -> Result<tenant::Model, ServiceError> {
    let mut detail = json!({
        "slug": change.slug.as_ref().map(Slug::as_str),
        "name": change.name.as_ref().map(Name::as_str),
        "state": change.state.map(|s| s.to_value()),
    });
    // Only a change that touches limits records them: the values set, `null` for cleared.
    if !change.limits.is_empty() {
        detail["limits"] = change.limits.detail();
    }
    let TenantChange { slug: new_slug, name, state, limits } = change;
    let mut update = tenant::Entity::update_many()
        .col_expr(tenant::Column::UpdatedAt, Expr::current_timestamp())
        .filter(tenant::Column::Slug.eq(slug.as_str()));
    if let Some(new_slug) = &new_slug {
        update = update.col_expr(tenant::Column::Slug, Expr::value(new_slug.as_str()));
    }
    if let Some(name) = name {
        update = update.col_expr(tenant::Column::Name, Expr::value(name.into_inner()));
    }
    if let Some(state) = state {
        update = update.col_expr(tenant::Column::State, Expr::value(state));
    }
    let update = limits.apply(update);
    let model = audited(db, actor, audit_of("tenant.update", slug, detail), async |tx| {
        let updated = update.clone().exec_with_returning(tx).await;
        let updated = updated
            .on_conflict(|| format!("tenant '{}' already exists", new_slug.as_ref().map_or(slug, |s| s)))?;
        let model =
            updated.into_iter().next().ok_or_else(|| ServiceError::NotFound(format!("tenant '{slug}'")))?;
        let id = model.id;
        Ok((model, Some(id)))
    })
    .await?;
    registry.remember(&model).await?;
    Ok(model)
}

/// Tenants in slug order.
pub async fn list(db: &Db, page: PageRequest) -> Result<Page<tenant::Model>, ServiceError> {
    db.run(On::Control, async |work| {
        page.fetch(work, tenant::Entity::find(), |s| s.order_by_asc(tenant::Column::Slug)).await
    })
    .await
}

/// One tenant by slug.
pub async fn get(db: &Db, slug: &Slug) -> Result<tenant::Model, ServiceError> {
    db.run(On::Control, async |work| find(work, slug).await).await
}

/// Deletes a tenant: drops its schema with all its data and removes its registry row (its keys
/// go with it), in one transaction. This instance forgets the tenant and its keys at once.
pub async fn delete(
    db: &Db,
    registry: &Registry,
    keyring: &Keyring,
    actor: &Actor,
    slug: &Slug,
) -> Result<(), ServiceError> {
    let model = audited(db, actor, audit_of("tenant.delete", slug, json!({})), async |tx| {
        let model = find_locked(tx, slug).await?;
        let schema = stored_schema(&model)?;
        tx.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.quoted())).await?;
        tenant::Entity::delete_by_id(model.id).exec(tx).await?;
        let id = model.id;
        Ok((model, Some(id)))
    })
    .await?;
    registry.forget(model.id).await;
    keyring.forget_tenant(model.id);
    Ok(())
}

/// The audit record of `action` on the existing tenant the request names `slug`.
pub(crate) fn audit_of(action: &'static str, slug: &Slug, detail: serde_json::Value) -> Change {
    let tenant_slug = Some(slug.as_str().to_owned());
    Change { action, tenant_id: None, tenant_slug, subject: Subject::Existing, detail }
}

/// The audit record of `action` creating a new tenant named `slug`.
pub(crate) fn audit_of_new(action: &'static str, slug: &Slug, detail: serde_json::Value) -> Change {
    Change { subject: Subject::New, ..audit_of(action, slug, detail) }
}

/// Takes the next registry id from the id column's own sequence, so the schema name can be
/// derived from it before the row is written. A rolled-back provisioning burns its id, which
/// is what keeps ids (and so schema names) from ever being handed out twice.
async fn next_id(conn: &impl ConnectionTrait) -> Result<i64, ServiceError> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT nextval(pg_get_serial_sequence('tenantry.tenants', 'id')) AS id",
        ))
        .await?
        .ok_or_else(|| ServiceError::Unexpected("nextval returned no row".to_owned()))?;
    Ok(row.try_get::<i64>("", "id")?)
}

/// The registry row of `slug`, locked until `tx` ends (for a change that must not race a
/// delete, rename or another change of the same tenant); not found is an error.
pub(crate) async fn find_locked(tx: &Tx, slug: &Slug) -> Result<tenant::Model, ServiceError> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("tenant '{slug}'")))
}

/// The schema a registry row names, through the validated type: the one way a stored name
/// reaches SQL. A row holding anything else is corrupt, an internal error.
pub(crate) fn stored_schema(model: &tenant::Model) -> Result<SchemaName, ServiceError> {
    SchemaName::parse(&model.schema_name).map_err(|e| {
        ServiceError::Unexpected(format!(
            "registry row for '{}' holds an invalid schema name: {e}",
            model.slug
        ))
    })
}

/// The registry row of `slug`, on `conn` (usually a transaction); not found is an error.
pub(crate) async fn find(conn: &impl ConnectionTrait, slug: &Slug) -> Result<tenant::Model, ServiceError> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("tenant '{slug}'")))
}

/// How many tenants the registry holds, on `conn`.
pub(crate) async fn count(conn: &impl ConnectionTrait) -> Result<u64, ServiceError> {
    Ok(sea_orm::PaginatorTrait::count(tenant::Entity::find(), conn).await?)
}
