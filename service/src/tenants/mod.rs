//! Tenants: provisioning, listing, deletion, and resolving a request's tenant.

mod registry;
mod slug;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tenantry_entity::tenant::{self, State};
use tenantry_migration::database::sql_state;
use tenantry_migration::runner::{Direction, migrate_tenant_in};

pub use registry::{Registry, ResolvedTenant};
pub use slug::{MAX_SLUG_LEN, Slug};

use crate::ServiceError;
use crate::db::Db;
use crate::keys::{self, IssuedKey};
use crate::page::{Page, PageRequest};
use crate::values::Name;

/// A tenant to provision.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Its slug (the schema is derived from it).
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
/// tenant migrations. Any failure rolls all of it back. A slug already taken (or a stray
/// schema of the same name) is a conflict.
pub async fn provision(db: &Db, registry: &Registry, new: NewTenant) -> Result<Provisioned, ServiceError> {
    let schema = new.slug.schema();
    let txn = db.begin().await?;
    let row = tenant::ActiveModel {
        slug: Set(new.slug.as_str().to_owned()),
        schema_name: Set(schema.as_str().to_owned()),
        name: Set(new.name.into_inner()),
        state: Set(State::Active),
        ..Default::default()
    };
    let inserted =
        tenant::Entity::insert(row).exec_with_returning(&txn).await.map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                ServiceError::Conflict(format!("tenant '{}' already exists", new.slug))
            }
            _ => e.into(),
        })?;
    txn.execute_unprepared(&format!("CREATE SCHEMA {}", schema.quoted())).await.map_err(|e| {
        // 42P06 duplicate_schema: a schema of that name exists outside the registry.
        if sql_state(&e).as_deref() == Some("42P06") {
            ServiceError::Conflict(format!("schema {schema} already exists"))
        } else {
            e.into()
        }
    })?;
    let key = keys::issue_for(&txn, inserted.id).await?;
    migrate_tenant_in(txn.transaction(), &schema, Direction::Up(None)).await?;
    let model = tenant::Entity::find_by_id(inserted.id)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::Unexpected("provisioned tenant vanished".to_owned()))?;
    txn.commit().await?;
    registry.remember(&model).await?;
    Ok(Provisioned { tenant: model, key })
}

/// Changes a tenant's display name and/or lifecycle state. Suspension takes effect at once on
/// this instance (and within the registry TTL on others).
pub async fn update(
    db: &Db,
    registry: &Registry,
    slug: &Slug,
    name: Option<Name>,
    state: Option<State>,
) -> Result<tenant::Model, ServiceError> {
    let mut update = tenant::Entity::update_many()
        .col_expr(tenant::Column::UpdatedAt, Expr::current_timestamp())
        .filter(tenant::Column::Slug.eq(slug.as_str()));
    if let Some(name) = name {
        update = update.col_expr(tenant::Column::Name, Expr::value(name.into_inner()));
    }
    if let Some(state) = state {
        update = update.col_expr(tenant::Column::State, Expr::value(state));
    }
    let txn = db.begin().await?;
    let updated = update.exec_with_returning(&txn).await?;
    txn.commit().await?;
    let model =
        updated.into_iter().next().ok_or_else(|| ServiceError::NotFound(format!("tenant '{slug}'")))?;
    registry.remember(&model).await?;
    Ok(model)
}

/// Tenants in slug order.
pub async fn list(db: &Db, page: PageRequest) -> Result<Page<tenant::Model>, ServiceError> {
    let txn = db.begin().await?;
    let found = page.fetch(&txn, tenant::Entity::find(), |s| s.order_by_asc(tenant::Column::Slug)).await?;
    txn.commit().await?;
    Ok(found)
}

/// One tenant by slug.
pub async fn get(db: &Db, slug: &Slug) -> Result<tenant::Model, ServiceError> {
    let txn = db.begin().await?;
    let found = find(&txn, slug).await?;
    txn.commit().await?;
    Ok(found)
}

/// Deletes a tenant: drops its schema with all its data and removes its registry row (its keys
/// go with it), in one transaction.
pub async fn delete(db: &Db, registry: &Registry, slug: &Slug) -> Result<(), ServiceError> {
    let txn = db.begin().await?;
    let model = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("tenant '{slug}'")))?;
    // The schema comes from the slug, never from the stored text.
    let schema = slug.schema();
    if model.schema_name != schema.as_str() {
        return Err(ServiceError::Unexpected(format!(
            "registry row for '{slug}' names schema {}",
            model.schema_name
        )));
    }
    txn.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.quoted())).await?;
    tenant::Entity::delete_by_id(model.id).exec(&txn).await?;
    txn.commit().await?;
    registry.forget(slug).await;
    Ok(())
}

/// The registry row of `slug`, on `conn` (usually a transaction); not found is an error.
pub(crate) async fn find(conn: &impl ConnectionTrait, slug: &Slug) -> Result<tenant::Model, ServiceError> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("tenant '{slug}'")))
}
