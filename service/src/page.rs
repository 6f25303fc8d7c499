//! Paging: a validated window, and a page of results with the total.

use sea_orm::sea_query::{Asterisk, Expr, Func, WindowStatement};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QuerySelect, QueryTrait, Select};

use crate::ServiceError;
use crate::rows::ReadRows;

/// Most rows one page may hold.
pub const MAX_LIMIT: u64 = 100;
/// Rows per page when the client does not say.
pub const DEFAULT_LIMIT: u64 = 20;

/// A window `limit` rows long starting at row `offset`. Out-of-range values are refused,
/// not clamped: a client that asked for 1,000 rows should learn it gets at most 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    limit: u64,
    offset: u64,
}

impl PageRequest {
    /// Checks `limit` (1..=100, default 20) and `offset` (0..=i64::MAX, default 0).
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Self, ServiceError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT as i64);
        let offset = offset.unwrap_or(0);
        let limit = u64::try_from(limit).ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
            ServiceError::Invalid(format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"))
        })?;
        let offset = u64::try_from(offset)
            .map_err(|_| ServiceError::Invalid(format!("offset must not be negative, got {offset}")))?;
        Ok(Self { limit, offset })
    }

    /// Rows per page.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Rows skipped.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The window asked for.
    pub request: PageRequest,
    /// How many rows match in all.
    pub total: u64,
}

/// The column each row of a windowed select carries the total in; no entity column starts with
/// an underscore.
const TOTAL: &str = "_page_total";

impl PageRequest {
    /// `select` narrowed to this window in the order `order` gives, each row also carrying the
    /// number of rows `select` matches in all (`count(*) OVER ()`, computed before the limit):
    /// one statement, one round trip, and the page and its total always agree.
    pub fn window<E: EntityTrait>(
        self,
        select: Select<E>,
        order: impl FnOnce(Select<E>) -> Select<E>,
    ) -> Select<E> {
        let mut select = order(select).limit(self.limit).offset(self.offset);
        QueryTrait::query(&mut select).expr_window_as(
            Func::count(Expr::col(Asterisk)),
            WindowStatement::new(),
            TOTAL,
        );
        select
    }

    /// Reads this window of `select`'s rows in the order `order` gives, with the total, on
    /// `conn`. One statement, unless the window lies past the last row: then no row carries the
    /// total, and a count is asked for.
    pub async fn fetch<E, C>(
        self,
        conn: &C,
        select: Select<E>,
        order: impl FnOnce(Select<E>) -> Select<E>,
    ) -> Result<Page<E::Model>, ServiceError>
    where
        E: EntityTrait,
        E::Model: ReadRows + Sync,
        C: ConnectionTrait,
    {
        // Only a window that starts past row 0 can come back empty while rows match.
        let count_select = (self.offset > 0).then(|| select.clone());
        let statement = self.window(select, order).build(DbBackend::Postgres);
        let rows = conn.query_all_raw(statement).await?;
        let total = match (rows.first(), count_select) {
            (Some(row), _) => u64::try_from(row.try_get::<i64>("", TOTAL)?).unwrap_or(0),
            (None, None) => 0,
            (None, Some(select)) => select.count(conn).await?,
        };
        let items = E::Model::read_rows(&rows)?;
        Ok(Page { items, request: self, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_twenty_from_the_start() {
        let page = PageRequest::new(None, None).expect("defaults");
        assert_eq!((page.limit(), page.offset()), (20, 0));
    }

    #[test]
    fn limits_outside_one_to_a_hundred_are_refused() {
        for limit in [0, -1, 101, i64::MAX, i64::MIN] {
            assert!(PageRequest::new(Some(limit), None).is_err(), "{limit}");
        }
        assert!(PageRequest::new(Some(100), None).is_ok());
        assert!(PageRequest::new(Some(1), None).is_ok());
    }

    #[test]
    fn negative_offsets_are_refused() {
        assert!(PageRequest::new(None, Some(-1)).is_err());
        assert!(PageRequest::new(None, Some(i64::MIN)).is_err());
        assert!(PageRequest::new(None, Some(i64::MAX)).is_ok());
    }
}
