//! What a tenant's registry row holds of its limits ([`RowLimits`], each one [`Own`]) and how
//! `PATCH /tenants/{slug}` changes them ([`LimitsChange`]).

use std::num::NonZeroU32;

use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, UpdateMany, Value};
use serde_json::json;
use tenantry_entity::tenant;

use super::{LimitSet, Limits, Rate};
use crate::ServiceError;

/// One limit as a tenant's registry row holds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Own<T> {
    /// The default in settings applies (the column is `NULL`, its `_unlimited` flag false).
    #[default]
    Default,
    /// No limit, whatever the default (the `_unlimited` flag is set).
    Unlimited,
    /// This value.
    Set(T),
}

impl<T: Copy> Own<T> {
    /// The value in force: this row's, none if unlimited, else `default`.
    fn or(self, default: Option<T>) -> Option<T> {
        match self {
            Self::Default => default,
            Self::Unlimited => None,
            Self::Set(v) => Some(v),
        }
    }

    /// What the row's value column and its `_unlimited` flag hold.
    fn columns(self) -> (Option<T>, bool) {
        match self {
            Self::Default => (None, false),
            Self::Unlimited => (None, true),
            Self::Set(v) => (Some(v), false),
        }
    }
}

/// What a registry row sets. A burst cannot be unlimited (it is the token bucket's size;
/// an unlimited rate is how a tenant goes without one): absent, it is the default's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowLimits {
    /// Requests per second.
    pub requests_per_second: Own<NonZeroU32>,
    /// The token bucket's size.
    pub burst: Option<NonZeroU32>,
    /// Requests in flight at once.
    pub max_concurrent_requests: Own<NonZeroU32>,
    /// Products it may hold.
    pub max_products: Own<u64>,
    /// Orders it may hold.
    pub max_orders: Own<u64>,
}

impl RowLimits {
    /// What a registry row sets. The table's checks keep the values in range and a limit
    /// from being both set and unlimited; a row that breaks them anyway is a corrupt
    /// registry, not a request's fault.
    pub fn of(model: &tenant::Model) -> Result<Self, ServiceError> {
        let corrupt =
            |key: &str| ServiceError::Unexpected(format!("registry row {} holds an invalid {key}", model.id));
        let narrow = |key: &str, n: Option<i32>| {
            n.map(|n| u32::try_from(n).ok().and_then(NonZeroU32::new).ok_or_else(|| corrupt(key))).transpose()
        };
        let count =
            |key: &str, n: Option<i64>| n.map(|n| u64::try_from(n).map_err(|_| corrupt(key))).transpose();
        fn own<T>(value: Option<T>, unlimited: bool, corrupt: ServiceError) -> Result<Own<T>, ServiceError> {
            match (value, unlimited) {
                (None, false) => Ok(Own::Default),
                (None, true) => Ok(Own::Unlimited),
                (Some(v), false) => Ok(Own::Set(v)),
                (Some(_), true) => Err(corrupt),
            }
        }
        let m = model;
        Ok(Self {
            requests_per_second: own(
                narrow("requests_per_second", m.requests_per_second)?,
                m.requests_per_second_unlimited,
                corrupt("requests_per_second"),
            )?,
            burst: narrow("burst", m.burst)?,
            max_concurrent_requests: own(
                narrow("max_concurrent_requests", m.max_concurrent_requests)?,
                m.max_concurrent_requests_unlimited,
                corrupt("max_concurrent_requests"),
            )?,
            max_products: own(
                count("max_products", m.max_products)?,
                m.max_products_unlimited,
                corrupt("max_products"),
            )?,
            max_orders: own(
                count("max_orders", m.max_orders)?,
                m.max_orders_unlimited,
                corrupt("max_orders"),
            )?,
        })
    }

    /// The limits in force: each value set here, else none if unlimited here, else the
    /// default's, else unlimited. The burst falls back to the default burst, then to one
    /// second's worth of the rate.
    pub fn over(&self, defaults: &LimitSet) -> Limits {
        let rate = self.requests_per_second.or(defaults.requests_per_second).map(|per_second| Rate {
            per_second,
            burst: self.burst.or(defaults.burst).unwrap_or(per_second),
        });
        Limits {
            rate,
            concurrent: self.max_concurrent_requests.or(defaults.max_concurrent_requests),
            max_products: self.max_products.or(defaults.max_products),
            max_orders: self.max_orders.or(defaults.max_orders),
        }
    }
}

/// Changes to a tenant's limits: `None` leaves a value as it is, `Some(Own::Default)` clears
/// it back to the default (for the burst, `Some(None)`), `Some(Own::Unlimited)` lifts it
/// whatever the default, `Some(Own::Set(v))` sets it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitsChange {
    /// Requests per second.
    pub requests_per_second: Option<Own<NonZeroU32>>,
    /// The token bucket's size.
    pub burst: Option<Option<NonZeroU32>>,
    /// Requests in flight at once.
    pub max_concurrent_requests: Option<Own<NonZeroU32>>,
    /// Products it may hold.
    pub max_products: Option<Own<u64>>,
    /// Orders it may hold.
    pub max_orders: Option<Own<u64>>,
}

impl LimitsChange {
    /// Clears every limit back to its default.
    pub fn clear_all() -> Self {
        Self {
            requests_per_second: Some(Own::Default),
            burst: Some(None),
            max_concurrent_requests: Some(Own::Default),
            max_products: Some(Own::Default),
            max_orders: Some(Own::Default),
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Adds the changed columns to `update`: a limit's value and its `_unlimited` flag change
    /// together, so a row never holds both.
    pub(crate) fn apply<E: EntityTrait>(&self, mut update: UpdateMany<E>) -> UpdateMany<E> {
        use tenant::Column as C;
        fn narrow(v: Option<NonZeroU32>) -> Value {
            v.map(|n| n.get() as i32).into()
        }
        fn count(v: Option<u64>) -> Value {
            v.map(|n| n as i64).into()
        }
        fn with_flag<T: Copy>(own: Own<T>, to_value: fn(Option<T>) -> Value) -> (Value, Value) {
            let (value, unlimited) = own.columns();
            (to_value(value), Value::from(unlimited))
        }
        let mut columns = Vec::new();
        if let Some(burst) = self.burst {
            columns.push((C::Burst, narrow(burst)));
        }
        let owned = [
            (
                C::RequestsPerSecond,
                C::RequestsPerSecondUnlimited,
                self.requests_per_second.map(|o| with_flag(o, narrow)),
            ),
            (
                C::MaxConcurrentRequests,
                C::MaxConcurrentRequestsUnlimited,
                self.max_concurrent_requests.map(|o| with_flag(o, narrow)),
            ),
            (C::MaxProducts, C::MaxProductsUnlimited, self.max_products.map(|o| with_flag(o, count))),
            (C::MaxOrders, C::MaxOrdersUnlimited, self.max_orders.map(|o| with_flag(o, count))),
        ];
        for (column, flag, values) in owned {
            if let Some((value, unlimited)) = values {
                columns.extend([(column, value), (flag, unlimited)]);
            }
        }
        for (column, value) in columns {
            update = update.col_expr(column, Expr::value(value));
        }
        update
    }

    /// The change as the audit log records it: only the values changed, `null` for cleared,
    /// `"unlimited"` for lifted.
    pub(crate) fn detail(&self) -> serde_json::Value {
        fn shown<T: serde::Serialize>(own: Own<T>) -> serde_json::Value {
            match own {
                Own::Default => serde_json::Value::Null,
                Own::Unlimited => json!(UNLIMITED),
                Own::Set(v) => json!(v),
            }
        }
        let mut detail = serde_json::Map::new();
        let mut put = |key: &str, value: Option<serde_json::Value>| {
            if let Some(value) = value {
                detail.insert(key.to_owned(), value);
            }
        };
        put("requests_per_second", self.requests_per_second.map(shown));
        put("burst", self.burst.map(|v| json!(v.map(NonZeroU32::get))));
        put("max_concurrent_requests", self.max_concurrent_requests.map(shown));
        put("max_products", self.max_products.map(shown));
        put("max_orders", self.max_orders.map(shown));
        serde_json::Value::Object(detail)
    }
}

/// How "no limit" is written, on the wire and in the audit log as in settings.
pub const UNLIMITED: &str = "unlimited";

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
    }

    #[test]
    fn a_rows_values_win_then_the_defaults_then_unlimited() {
        let defaults =
            LimitSet { requests_per_second: Some(n(10)), max_products: Some(5), ..LimitSet::default() };
        let row = RowLimits { max_products: Own::Set(7), max_orders: Own::Set(0), ..RowLimits::default() };

        let limits = row.over(&defaults);

        assert_eq!(limits.rate, Some(Rate { per_second: n(10), burst: n(10) }), "burst: one second's worth");
        assert_eq!((limits.max_products, limits.max_orders), (Some(7), Some(0)));
        assert_eq!(limits.concurrent, None);
        assert_eq!(RowLimits::default().over(&LimitSet::default()), Limits::default(), "all unlimited");
    }

    #[test]
    fn a_row_can_lift_a_finite_default() {
        let defaults = LimitSet {
            requests_per_second: Some(n(10)),
            max_concurrent_requests: Some(n(4)),
            max_products: Some(5),
            max_orders: Some(6),
            ..LimitSet::default()
        };
        let row = RowLimits {
            requests_per_second: Own::Unlimited,
            burst: Some(n(3)),
            max_concurrent_requests: Own::Unlimited,
            max_products: Own::Unlimited,
            max_orders: Own::Unlimited,
        };
        assert_eq!(row.over(&defaults), Limits::default(), "every one lifted, the burst with the rate");
    }

    #[test]
    fn the_burst_falls_back_to_the_default_burst_then_to_the_rate() {
        let defaults = LimitSet { burst: Some(n(30)), ..LimitSet::default() };
        let row = RowLimits { requests_per_second: Own::Set(n(5)), ..RowLimits::default() };
        assert_eq!(row.over(&defaults).rate, Some(Rate { per_second: n(5), burst: n(30) }));
        let row = RowLimits { burst: Some(n(2)), ..row };
        assert_eq!(row.over(&defaults).rate, Some(Rate { per_second: n(5), burst: n(2) }));
        let row = RowLimits { requests_per_second: Own::Default, ..row };
        assert_eq!(row.over(&defaults).rate, None, "a burst without a rate limits nothing");
    }

    #[test]
    fn the_audit_detail_tells_cleared_from_lifted() {
        let change = LimitsChange {
            requests_per_second: Some(Own::Unlimited),
            max_products: Some(Own::Default),
            max_orders: Some(Own::Set(3)),
            ..LimitsChange::default()
        };
        assert_eq!(
            change.detail(),
            json!({"requests_per_second": "unlimited", "max_products": null, "max_orders": 3})
        );
    }
}
