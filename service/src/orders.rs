//! A tenant's orders.

use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use tenantry_entity::order::{self, Column, Entity as Order, Model};
use tenantry_entity::product;

use crate::db::Db;
use crate::limits::quota::{self, RowQuota};
use crate::page::{Page, PageRequest};
use crate::rows::read_one;
use crate::values::{Money, Quantity};
use crate::{ServiceError, TenantScope};

/// Orders in id order, optionally only those for one product.
pub async fn list(
    db: &Db,
    scope: &TenantScope,
    page: PageRequest,
    product_id: Option<i64>,
) -> Result<Page<Model>, ServiceError> {
    let mut select = scope.find::<Order>();
    if let Some(product_id) = product_id {
        select = select.filter(Column::ProductId.eq(product_id));
    }
    db.run(scope, async |work| page.fetch(work, select.clone(), |s| s.order_by_asc(Column::Id)).await).await
}

/// Places an order. The total is the product's current price times the quantity, read and
/// written in one transaction; the product row is share-locked so it cannot change price or
/// disappear in between. A product that does not exist in this tenant is unprocessable. Under
/// a quota, the same transaction first takes the tenant's quota lock and counts (see
/// [`quota`]); at the quota, a conflict and nothing written.
pub async fn create(
    db: &Db,
    scope: &TenantScope,
    limit: Option<RowQuota>,
    product_id: i64,
    quantity: Quantity,
) -> Result<Model, ServiceError> {
    db.atomic(scope, async |tx| {
        if let Some(limit) = limit {
            quota::reserve::<Order>(tx, scope, limit).await?;
        }
        let product = scope
            .find::<product::Entity>()
            .filter(product::Column::Id.eq(product_id))
            .lock_shared()
            .one(tx)
            .await?
            .ok_or_else(|| ServiceError::Unprocessable(format!("product {product_id} does not exist")))?;
        let total = Money::price(product.price)?.times(quantity)?;
        let row = order::ActiveModel {
            product_id: Set(product.id),
            quantity: Set(quantity.get()),
            total_price: Set(total.get()),
            ..Default::default()
        };
        Ok(scope.insert(row).exec_with_returning(tx).await?)
    })
    .await
}

/// One order by id.
pub async fn get(db: &Db, scope: &TenantScope, id: i64) -> Result<Model, ServiceError> {
    let found = db
        .run(scope, async |work| Ok(read_one(scope.find::<Order>().filter(Column::Id.eq(id)), work).await?));
    found.await?.ok_or_else(|| ServiceError::NotFound(format!("order {id}")))
}
