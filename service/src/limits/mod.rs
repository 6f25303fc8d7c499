//! Per-tenant limits and quotas: what a tenant's registry row sets ([`LimitSet`], each value
//! absent for "the default"), the defaults from settings, and what is in force for it
//! ([`Limits`], each absent for "unlimited"). The registry resolves a tenant with its
//! [`Limits`], so enforcing them costs no query: [`Admission`] admits data-plane requests
//! (rate and concurrency, per instance) and [`quota`] guards the creates (row counts, in the
//! database, so across instances).

mod admission;
pub mod quota;

use std::num::NonZeroU32;

use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, UpdateMany, Value};
use serde_json::json;
use tenantry_config::{LimitsSettings, MAX_CONCURRENT, MAX_QUOTA, MAX_RATE};
use tenantry_entity::tenant;

pub use admission::{Admission, Admitted};

use crate::ServiceError;

/// A token bucket: refilled at `per_second`, holding at most `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second.
    pub per_second: NonZeroU32,
    /// Requests that may come at once before the rate applies.
    pub burst: NonZeroU32,
}

/// The limits in force for a tenant; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Its data-plane rate on each instance.
    pub rate: Option<Rate>,
    /// Its data-plane requests in flight at once on each instance.
    pub concurrent: Option<NonZeroU32>,
    /// Products it may hold.
    pub max_products: Option<u64>,
    /// Orders it may hold.
    pub max_orders: Option<u64>,
}

/// Limit values, each possibly absent: on a registry row absent means "the default"; as the
/// defaults, absent means "unlimited" (and an absent burst, one second's worth of the rate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitSet {
    /// Requests per second.
    pub requests_per_second: Option<NonZeroU32>,
    /// The token bucket's size.
    pub burst: Option<NonZeroU32>,
    /// Requests in flight at once.
    pub max_concurrent_requests: Option<NonZeroU32>,
    /// Products it may hold.
    pub max_products: Option<u64>,
    /// Orders it may hold.
    pub max_orders: Option<u64>,
}

impl LimitSet {
    /// The defaults as configured (the settings are range-checked when they are loaded).
    pub fn from_settings(settings: &LimitsSettings) -> Result<Self, ServiceError> {
        let wide = |key: &str, n: Option<u64>| {
            n.map(|n| {
                u32::try_from(n)
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| ServiceError::Invalid(format!("limits.{key}: {n} is out of range")))
            })
            .transpose()
        };
        Ok(Self {
            requests_per_second: wide("requests_per_second", settings.requests_per_second.get())?,
            burst: wide("burst", settings.burst)?,
            max_concurrent_requests: wide("max_concurrent_requests", settings.max_concurrent_requests.get())?,
            max_products: settings.max_products.get(),
            max_orders: settings.max_orders.get(),
        })
    }

    /// What a registry row sets. The table's checks keep the values in range; a row that
    /// breaks them anyway is a corrupt registry, not a request's fault.
    pub fn of(model: &tenant::Model) -> Result<Self, ServiceError> {
        let corrupt =
            |key: &str| ServiceError::Unexpected(format!("registry row {} holds an invalid {key}", model.id));
        let narrow = |key: &str, n: Option<i32>| {
            n.map(|n| u32::try_from(n).ok().and_then(NonZeroU32::new).ok_or_else(|| corrupt(key))).transpose()
        };
        let count =
            |key: &str, n: Option<i64>| n.map(|n| u64::try_from(n).map_err(|_| corrupt(key))).transpose();
        Ok(Self {
            requests_per_second: narrow("requests_per_second", model.requests_per_second)?,
            burst: narrow("burst", model.burst)?,
            max_concurrent_requests: narrow("max_concurrent_requests", model.max_concurrent_requests)?,
            max_products: count("max_products", model.max_products)?,
            max_orders: count("max_orders", model.max_orders)?,
        })
    }

    /// The limits in force: each value set here, else the default's, else unlimited. The
    /// burst falls back to the default burst, then to one second's worth of the rate.
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

/// Changes to a tenant's limits: `None` leaves a value as it is, `Some(None)` clears it back
/// to the default, `Some(Some(v))` sets it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitsChange {
    /// Requests per second.
    pub requests_per_second: Option<Option<NonZeroU32>>,
    /// The token bucket's size.
    pub burst: Option<Option<NonZeroU32>>,
    /// Requests in flight at once.
    pub max_concurrent_requests: Option<Option<NonZeroU32>>,
    /// Products it may hold.
    pub max_products: Option<Option<u64>>,
    /// Orders it may hold.
    pub max_orders: Option<Option<u64>>,
}

impl LimitsChange {
    /// Clears every limit back to its default.
    pub fn clear_all() -> Self {
        Self {
            requests_per_second: Some(None),
            burst: Some(None),
            max_concurrent_requests: Some(None),
            max_products: Some(None),
            max_orders: Some(None),
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Adds the changed columns to `update`.
    pub(crate) fn apply<E: EntityTrait>(&self, mut update: UpdateMany<E>) -> UpdateMany<E> {
        let narrow = |v: Option<NonZeroU32>| -> Value { v.map(|n| n.get() as i32).into() };
        let count = |v: Option<u64>| -> Value { v.map(|n| n as i64).into() };
        let columns = [
            (tenant::Column::RequestsPerSecond, self.requests_per_second.map(narrow)),
            (tenant::Column::Burst, self.burst.map(narrow)),
            (tenant::Column::MaxConcurrentRequests, self.max_concurrent_requests.map(narrow)),
            (tenant::Column::MaxProducts, self.max_products.map(count)),
            (tenant::Column::MaxOrders, self.max_orders.map(count)),
        ];
        for (column, value) in columns {
            if let Some(value) = value {
                update = update.col_expr(column, Expr::value(value));
            }
        }
        update
    }

    /// The change as the audit log records it: only the values changed, `null` for cleared.
    pub(crate) fn detail(&self) -> serde_json::Value {
        let mut detail = serde_json::Map::new();
        let mut put = |key: &str, value: Option<serde_json::Value>| {
            if let Some(value) = value {
                detail.insert(key.to_owned(), value);
            }
        };
        put("requests_per_second", self.requests_per_second.map(|v| json!(v.map(NonZeroU32::get))));
        put("burst", self.burst.map(|v| json!(v.map(NonZeroU32::get))));
        put("max_concurrent_requests", self.max_concurrent_requests.map(|v| json!(v.map(NonZeroU32::get))));
        put("max_products", self.max_products.map(|v| json!(v)));
        put("max_orders", self.max_orders.map(|v| json!(v)));
        serde_json::Value::Object(detail)
    }
}

/// Parses a requests-per-second rate or burst given as `field`: 1 to 1,000,000 (0 would serve
/// nothing; suspend a tenant for that).
pub fn rate(field: &str, value: i64) -> Result<NonZeroU32, ServiceError> {
    ranged(field, value, 1, MAX_RATE).map(|n| NonZeroU32::new(n as u32).unwrap_or(NonZeroU32::MIN))
}

/// Parses a concurrent-requests limit given as `field`: 1 to 1,000,000.
pub fn concurrent(field: &str, value: i64) -> Result<NonZeroU32, ServiceError> {
    ranged(field, value, 1, MAX_CONCURRENT).map(|n| NonZeroU32::new(n as u32).unwrap_or(NonZeroU32::MIN))
}

/// Parses a row quota given as `field`: 0 (no rows may be created) or more.
pub fn quota(field: &str, value: i64) -> Result<u64, ServiceError> {
    ranged(field, value, 0, MAX_QUOTA)
}

fn ranged(field: &str, value: i64, min: u64, max: u64) -> Result<u64, ServiceError> {
    match u64::try_from(value) {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ServiceError::Invalid(format!("{field} must be from {min} to {max}, got {value}"))),
    }
}

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
        let row = LimitSet { max_products: Some(7), max_orders: Some(0), ..LimitSet::default() };

        let limits = row.over(&defaults);

        assert_eq!(limits.rate, Some(Rate { per_second: n(10), burst: n(10) }), "burst: one second's worth");
        assert_eq!((limits.max_products, limits.max_orders), (Some(7), Some(0)));
        assert_eq!(limits.concurrent, None);
        assert_eq!(LimitSet::default().over(&LimitSet::default()), Limits::default(), "all unlimited");
    }

    #[test]
    fn the_burst_falls_back_to_the_default_burst_then_to_the_rate() {
        let defaults = LimitSet { burst: Some(n(30)), ..LimitSet::default() };
        let row = LimitSet { requests_per_second: Some(n(5)), ..LimitSet::default() };
        assert_eq!(row.over(&defaults).rate, Some(Rate { per_second: n(5), burst: n(30) }));
        let row = LimitSet { burst: Some(n(2)), ..row };
        assert_eq!(row.over(&defaults).rate, Some(Rate { per_second: n(5), burst: n(2) }));
        let row = LimitSet { requests_per_second: None, ..row };
        assert_eq!(row.over(&defaults).rate, None, "a burst without a rate limits nothing");
    }

    #[test]
    fn out_of_range_values_are_refused_naming_the_field() {
        for (result, field) in [
            (rate("limits.requests_per_second", 0).map(drop), "limits.requests_per_second"),
            (rate("limits.burst", 1_000_001).map(drop), "limits.burst"),
            (concurrent("limits.max_concurrent_requests", -1).map(drop), "limits.max_concurrent_requests"),
            (quota("limits.max_products", -1).map(drop), "limits.max_products"),
        ] {
            let message = result.map_err(|e| e.to_string()).expect_err("refused");
            assert!(message.starts_with(field), "{message}");
        }
        assert_eq!(quota("limits.max_orders", 0).ok(), Some(0));
        assert_eq!(rate("limits.requests_per_second", 1_000_000).ok(), Some(n(1_000_000)));
    }
}
