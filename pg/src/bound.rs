//! [`bound`]: a statement SeaORM built, ready to run on a plain sqlx connection.

use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;

/// `stmt` with its values bound the way SeaORM binds them (`sea-query-sqlx`), prepared (and
/// cached per connection) as SeaORM does: for connections held outside SeaORM's pools (the
/// service's tenant pools, the migration runner's batched transactions).
pub fn bound(stmt: &Statement) -> sqlx::query::Query<'_, sqlx::Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(sea_orm::sea_query::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

/// A sqlx error of a statement that returns no rows, as SeaORM reports it.
pub fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(e)))
}

/// A sqlx error of a query, as SeaORM reports it.
pub fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(e)))
}
