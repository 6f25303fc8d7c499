//! A tenant's products.

use sea_orm::sea_query::extension::postgres::PgExpr;
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{ActiveValue::Set, Value};
use sea_orm::{ColumnTrait, DbBackend, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Statement};
use tenantry_entity::product::{self, Column, Entity as Product, Model};

use crate::db::{Db, Work};
use crate::error::OnConflict;
use crate::limits::quota::{self, RowQuota};
use crate::page::{Page, PageRequest};
use crate::rows::read_one;
use crate::values::{Description, Money, Name};
use crate::{ServiceError, TenantScope};

/// A product to create.
#[derive(Clone, Debug)]
pub struct NewProduct {
    /// Display name.
    pub name: Name,
    /// Optional free text.
    pub description: Option<Description>,
    /// Unit price.
    pub price: Money,
}

/// The fields of a product to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProductChanges {
    /// New name.
    pub name: Option<Name>,
    /// New description; `Some(None)` clears it.
    pub description: Option<Option<Description>>,
    /// New price.
    pub price: Option<Money>,
}

/// Products in id order, optionally only those whose name contains `query` (ignoring case).
pub async fn list(
    db: &Db,
    scope: &TenantScope,
    page: PageRequest,
    query: Option<&str>,
) -> Result<Page<Model>, ServiceError> {
    db.run(scope, async |work| page.fetch(work, matching(scope, query), in_id_order).await).await
}

/// The statement [`list`] sends, for benchmarks that replay it (e.g. with pgbench).
pub fn list_statement(scope: &TenantScope, page: PageRequest, query: Option<&str>) -> Statement {
    page.window(matching(scope, query), in_id_order).build(DbBackend::Postgres)
}

/// The tenant's products whose name contains `query` (ignoring case), or all of them.
fn matching(scope: &TenantScope, query: Option<&str>) -> Select<Product> {
    let select = scope.find::<Product>();
    match query.filter(|q| !q.is_empty()) {
        // Backslash is Postgres' default LIKE escape character.
        Some(query) => select.filter(
            Expr::col((Product, Column::Name)).ilike(LikeExpr::new(format!("%{}%", escape_like(query)))),
        ),
        None => select,
    }
}

fn in_id_order(select: Select<Product>) -> Select<Product> {
    select.order_by_asc(Column::Id)
}

/// Creates a product. Under a quota, counted and inserted in one transaction under the
/// tenant's quota lock (see [`quota`]); a tenant at its quota gets a conflict and nothing is
/// written. Without one, a single statement as before.
pub async fn create(
    db: &Db,
    scope: &TenantScope,
    limit: Option<RowQuota>,
    new: NewProduct,
) -> Result<Model, ServiceError> {
    let row = product::ActiveModel {
        name: Set(new.name.into_inner()),
        description: Set(new.description.map(Description::into_inner)),
        price: Set(new.price.get()),
        ..Default::default()
    };
    match limit {
        None => {
            db.run(scope, async |work| Ok(scope.insert(row.clone()).exec_with_returning(work).await?)).await
        }
        Some(limit) => {
            db.atomic(scope, async |tx| {
                quota::reserve::<Product>(tx, scope, limit).await?;
                Ok(scope.insert(row.clone()).exec_with_returning(tx).await?)
            })
            .await
        }
    }
}

/// One product by id.
pub async fn get(db: &Db, scope: &TenantScope, id: i64) -> Result<Model, ServiceError> {
    let found = db.run(scope, async |work| Ok(read_one(by_id(scope, id), work).await?));
    found.await?.ok_or_else(|| not_found(id))
}

/// The statement [`get`] sends (limited to one row), for benchmarks that replay it.
pub fn get_statement(scope: &TenantScope, id: i64) -> Statement {
    by_id(scope, id).limit(1).build(DbBackend::Postgres)
}

fn by_id(scope: &TenantScope, id: i64) -> Select<Product> {
    scope.find::<Product>().filter(Column::Id.eq(id))
}

/// Changes some fields of a product and returns it as it now is.
pub async fn update(
    db: &Db,
    scope: &TenantScope,
    id: i64,
    changes: ProductChanges,
) -> Result<Model, ServiceError> {
    let mut update = scope.update_many::<Product>().filter(Column::Id.eq(id));
    let mut changed = false;
    if let Some(name) = changes.name {
        update = update.col_expr(Column::Name, Expr::value(name.into_inner()));
        changed = true;
    }
    if let Some(description) = changes.description {
        let value: Value = description.map(Description::into_inner).into();
        update = update.col_expr(Column::Description, Expr::value(value));
        changed = true;
    }
    if let Some(price) = changes.price {
        update = update.col_expr(Column::Price, Expr::value(price.get()));
        changed = true;
    }
    if !changed {
        return get(db, scope, id).await;
    }
    let updated = db.run(scope, async |work| Ok(update.clone().exec_with_returning(work).await?)).await?;
    updated.into_iter().next().ok_or_else(|| not_found(id))
}

/// Deletes a product; a product that orders refer to cannot be deleted.
pub async fn delete(db: &Db, scope: &TenantScope, id: i64) -> Result<(), ServiceError> {
    let delete =
        async |work: &Work| Ok(scope.delete_many::<Product>().filter(Column::Id.eq(id)).exec(work).await?);
    let result = db
        .run(scope, delete)
        .await
        .on_conflict(|| format!("product {id} has orders; it cannot be deleted"))?;
    if result.rows_affected == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

fn not_found(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("product {id}"))
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_queries_match_literally() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}
