//! An order for one of the same tenant's products (`<tenant schema>.orders`).

use sea_orm::entity::prelude::*;

/// One row of a tenant's `orders` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    /// Identity key, unique within the tenant.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The product ordered (indexed; a key into the same schema's products).
    pub product_id: i64,
    /// How many, always positive.
    pub quantity: i32,
    /// The product's price at order time times the quantity, `numeric(12,2)`.
    #[sea_orm(column_type = "Decimal(Some((12, 2)))")]
    pub total_price: Decimal,
    /// When the order was placed.
    pub order_date: DateTimeWithTimeZone,
}

/// Each order belongs to a product.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The product ordered.
    #[sea_orm(
        belongs_to = "super::product::Entity",
        from = "Column::ProductId",
        to = "super::product::Column::Id"
    )]
    Product,
}

impl Related<super::product::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Product.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
