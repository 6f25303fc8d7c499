//! [`ReadRows`]: turning a result set into models, for the tenant tables by column position.
//!
//! SeaORM's derived `FromQueryResult` finds every value by column name, row after row: in
//! sqlx a hash lookup and a type check per value, and for a NULL in an `Option` column an error
//! message formatted and thrown away. For a page of products that was a third of the server's
//! instructions per request (callgrind; docs/DESIGN-NOTES.md). The hot tables' models are read
//! here instead: each column's position is looked up by name once per result set, from the
//! first row, and every row is then read by those positions. A result set that lacks one of the
//! columns is read by name as before, so a query that selects something else still decodes or
//! fails as SeaORM would.

use std::sync::Arc;

use sea_orm::sqlx::postgres::{PgRow, Postgres};
use sea_orm::sqlx::{self, Column as _, Row as _, TypeInfo as _};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, IdenStatic, QueryResult, QuerySelect,
    QueryTrait, RuntimeErr, Select,
};
use tenantry_entity::{api_key, audit_entry, order, product, tenant};

mod numeric;

pub use numeric::Numeric;

/// A model that can be read from the rows of a select of its entity.
pub trait ReadRows: FromQueryResult {
    /// Reads every row of `rows`; by default by column name, as SeaORM does.
    fn read_rows(rows: &[QueryResult]) -> Result<Vec<Self>, DbErr> {
        rows.iter().map(|row| Self::from_query_result(row, "")).collect()
    }
}

/// The first row `select` finds (it is limited to one), read as [`ReadRows`] reads: SeaORM's
/// `Select::one` with the model read by position.
pub async fn read_one<E, C>(select: Select<E>, conn: &C) -> Result<Option<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: ReadRows,
    C: ConnectionTrait,
{
    let statement = select.limit(1).build(DbBackend::Postgres);
    let Some(row) = conn.query_one_raw(statement).await? else { return Ok(None) };
    Ok(E::Model::read_rows(std::slice::from_ref(&row))?.pop())
}

impl ReadRows for tenant::Model {}
impl ReadRows for api_key::Model {}
impl ReadRows for audit_entry::Model {}

impl ReadRows for product::Model {
    fn read_rows(rows: &[QueryResult]) -> Result<Vec<Self>, DbErr> {
        use product::Column as C;
        by_position(
            rows,
            [C::Id, C::Name, C::Description, C::Price, C::CreatedAt],
            |row, [id, name, description, price, created_at]| {
                Ok(Self {
                    id: row.get(id)?,
                    name: row.get(name)?,
                    description: row.get(description)?,
                    price: row.get::<Numeric>(price)?.0,
                    created_at: row.get(created_at)?,
                })
            },
        )
    }
}

impl ReadRows for order::Model {
    fn read_rows(rows: &[QueryResult]) -> Result<Vec<Self>, DbErr> {
        use order::Column as C;
        by_position(
            rows,
            [C::Id, C::ProductId, C::Quantity, C::TotalPrice, C::OrderDate],
            |row, [id, product_id, quantity, total_price, order_date]| {
                Ok(Self {
                    id: row.get(id)?,
                    product_id: row.get(product_id)?,
                    quantity: row.get(quantity)?,
                    total_price: row.get::<Numeric>(total_price)?.0,
                    order_date: row.get(order_date)?,
                })
            },
        )
    }
}

/// Reads `rows` with `read`, handing it the position of each of `columns` (in that order), found
/// by name in the first row. Falls back to SeaORM's by-name reading when the rows are not
/// Postgres rows or lack one of the columns.
fn by_position<M, C, const N: usize>(
    rows: &[QueryResult],
    columns: [C; N],
    read: impl Fn(&Values<'_>, [usize; N]) -> Result<M, sqlx::Error>,
) -> Result<Vec<M>, DbErr>
where
    M: FromQueryResult,
    C: IdenStatic,
{
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let Some(positions) = first.try_as_pg_row().and_then(|row| positions(row, &columns)) else {
        return rows.iter().map(|row| M::from_query_result(row, "")).collect();
    };
    let first_columns = first.try_as_pg_row().map(|row| row.columns());
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let row = row.try_as_pg_row().ok_or_else(|| DbErr::Type("a row of another backend".into()))?;
            // Rows sharing the first row's columns (one result set) were type-checked with it.
            let checked = i == 0 || !first_columns.is_some_and(|first| std::ptr::eq(first, row.columns()));
            read(&Values { row, checked }, positions)
                .map_err(|e| DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))
        })
        .collect()
}

/// One row's values for [`by_position`]. The rows of one result set share their columns, so
/// each column's type is checked against the Rust type once, on the first row (NULL or not),
/// and later rows are decoded without sqlx's per-value check: that check compared type infos
/// about 180 instructions a value, 4% of a page of products (callgrind, docs/DESIGN-NOTES.md).
/// Decoding itself still refuses a value of the wrong size or shape.
pub(crate) struct Values<'r> {
    row: &'r PgRow,
    checked: bool,
}

impl<'r> Values<'r> {
    /// The value at position `i`.
    fn get<T>(&self, i: usize) -> Result<T, sqlx::Error>
    where
        T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        if self.checked {
            let column = self.row.try_column(i)?;
            let found = column.type_info();
            if !T::compatible(found) {
                return Err(sqlx::Error::ColumnDecode {
                    index: format!("{:?}", column.name()),
                    source: format!(
                        "mismatched types; Rust type `{}` (as SQL type `{}`) is not compatible with SQL type `{}`",
                        std::any::type_name::<T>(),
                        T::type_info().name(),
                        found.name()
                    )
                    .into(),
                });
            }
        }
        self.row.try_get_unchecked(i)
    }
}

/// Where each of `columns` sits in `row`, or `None` if one is missing.
fn positions<C: IdenStatic, const N: usize>(row: &PgRow, columns: &[C; N]) -> Option<[usize; N]> {
    let mut found = [0; N];
    for (slot, column) in found.iter_mut().zip(columns) {
        *slot = row.columns().iter().position(|c| c.name() == column.as_str())?;
    }
    Some(found)
}
