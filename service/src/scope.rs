//! [`TenantScope`]: the only way the service builds a query on a tenant's tables.
//!
//! SeaORM takes a query's table from the entity, which names no schema. Each builder here is
//! retargeted at `"<tenant schema>"."<table>"` before the caller sees it, so a caller can add
//! filters, ordering and paging but cannot produce an unqualified query. Not offered, because
//! they cannot be retargeted: ActiveModel methods (`am.insert(db)`, `am.save(db)`), and joins
//! built from relations.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::{
    ActiveModelTrait, DeleteMany, EntityTrait, Insert, InsertMany, QueryTrait, Select, UpdateMany,
};

use crate::SchemaName;

/// Builds queries on one tenant's tables, and counts the tenant's units of work in flight.
///
/// The count is shared by every clone (the registry's cached tenant hands out clones), so
/// it is the tenant's demand on this instance: how routing tells one tenant that keeps many
/// connections busy from a sub-pool that is busy with many tenants.
#[derive(Clone, Debug)]
pub struct TenantScope {
    schema: SchemaName,
    in_flight: Arc<AtomicUsize>,
}

impl PartialEq for TenantScope {
    /// The same tenant: the same schema, whatever its units in flight.
    fn eq(&self, other: &Self) -> bool {
        self.schema == other.schema
    }
}

impl Eq for TenantScope {}

impl TenantScope {
    /// A scope for the tenant whose tables live in `schema`.
    pub fn new(schema: SchemaName) -> Self {
        Self { schema, in_flight: Arc::default() }
    }

    /// The tenant's schema.
    pub fn schema(&self) -> &SchemaName {
        &self.schema
    }

    /// Counts one more unit of work of this tenant in flight until the guard is dropped.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// The tenant's units of work in flight on this instance now (a snapshot).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// `SELECT ... FROM "<schema>"."<table>"`.
    pub fn find<E: EntityTrait>(&self) -> Select<E> {
        let mut select = E::find();
        select.query().from_clear().from((self.schema.clone(), E::default()));
        select
    }

    /// `INSERT INTO "<schema>"."<table>"`.
    pub fn insert<A: ActiveModelTrait>(&self, model: A) -> Insert<A> {
        let mut insert = A::Entity::insert(model);
        insert.query().into_table((self.schema.clone(), A::Entity::default()));
        insert
    }

    /// `INSERT INTO "<schema>"."<table>"` of several rows in one statement.
    pub fn insert_many<A: ActiveModelTrait>(&self, models: impl IntoIterator<Item = A>) -> InsertMany<A> {
        let mut insert = A::Entity::insert_many(models);
        insert.query().into_table((self.schema.clone(), A::Entity::default()));
        insert
    }

    /// `UPDATE "<schema>"."<table>"`; add a filter, or it updates every row.
    pub fn update_many<E: EntityTrait>(&self) -> UpdateMany<E> {
        let mut update = E::update_many();
        update.query().table((self.schema.clone(), E::default()));
        update
    }

    /// `DELETE FROM "<schema>"."<table>"`; add a filter, or it deletes every row.
    pub fn delete_many<E: EntityTrait>(&self) -> DeleteMany<E> {
        let mut delete = E::delete_many();
        delete.query().from_table((self.schema.clone(), E::default()));
        delete
    }
}

/// One unit of work of a tenant, counted while it lives (see [`TenantScope::enter`]).
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveValue::Set, ColumnTrait, DbBackend, QueryFilter};
    use tenantry_entity::product;

    use super::*;

    fn scope() -> TenantScope {
        TenantScope::new(SchemaName::parse("tenant_a").expect("valid"))
    }

    #[test]
    fn every_builder_names_the_tenant_schema() {
        let select =
            scope().find::<product::Entity>().filter(product::Column::Id.eq(1)).build(DbBackend::Postgres);
        assert!(select.sql.contains(r#"FROM "tenant_a"."products""#), "{}", select.sql);

        let model = product::ActiveModel { name: Set("n".into()), ..Default::default() };
        let insert = scope().insert(model).build(DbBackend::Postgres);
        assert!(insert.sql.starts_with(r#"INSERT INTO "tenant_a"."products""#), "{}", insert.sql);

        let update = scope()
            .update_many::<product::Entity>()
            .col_expr(product::Column::Name, "x".into())
            .build(DbBackend::Postgres);
        assert!(update.sql.starts_with(r#"UPDATE "tenant_a"."products""#), "{}", update.sql);

        let rows = (0..2).map(|i| product::ActiveModel { name: Set(format!("n{i}")), ..Default::default() });
        let many = scope().insert_many(rows).build(DbBackend::Postgres);
        assert!(many.sql.starts_with(r#"INSERT INTO "tenant_a"."products""#), "{}", many.sql);

        let delete = scope().delete_many::<product::Entity>().build(DbBackend::Postgres);
        assert!(delete.sql.starts_with(r#"DELETE FROM "tenant_a"."products""#), "{}", delete.sql);
    }

    #[test]
    fn units_in_flight_are_counted_across_clones_until_each_guard_drops() {
        let scope = scope();
        let copy = scope.clone();
        let first = scope.enter();
        let second = copy.enter();
        assert_eq!((scope.in_flight(), copy.in_flight()), (2, 2));
        drop(first);
        assert_eq!(copy.in_flight(), 1);
        drop(second);
        assert_eq!(scope.in_flight(), 0);
        assert_eq!(scope, TenantScope::new(SchemaName::parse("tenant_a").expect("valid")), "equal by schema");
    }
}
