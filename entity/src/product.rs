//! A product in one tenant's catalogue (`<tenant schema>.products`).

use sea_orm::entity::prelude::*;

/// One row of a tenant's `products` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    /// Identity key, unique within the tenant.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Display name (indexed).
    pub name: String,
    /// Optional free text.
    pub description: Option<String>,
    /// Unit price, `numeric(12,2)`, never negative.
    #[sea_orm(column_type = "Decimal(Some((12, 2)))")]
    pub price: Decimal,
    /// When the product was created.
    pub created_at: DateTimeWithTimeZone,
}

/// Products are referenced by orders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The orders for this product.
    #[sea_orm(has_many = "super::order::Entity")]
    Orders,
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Orders.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
