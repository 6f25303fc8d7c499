//! Per-tenant limits and quotas: the defaults from settings ([`LimitSet`], each value absent
//! for "unlimited"), what a tenant's registry row sets ([`RowLimits`]: each limit the default,
//! explicitly unlimited, or a value; see [`Own`]), and what is in force for it ([`Limits`],
//! each absent for "unlimited"). The registry resolves a tenant with its [`Limits`], so
//! enforcing them costs no query: [`Admission`] admits data-plane requests
//! (rate and concurrency, per instance) and [`quota`] guards the creates (row counts, in the
//! database, so across instances).

mod admission;
pub mod quota;
mod row;

use std::num::NonZeroU32;

use tenantry_config::{LimitsSettings, MAX_CONCURRENT, MAX_QUOTA, MAX_RATE};

pub use admission::{Admission, Admitted};
pub use row::{LimitsChange, Own, RowLimits, UNLIMITED};

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

/// The defaults from settings, each possibly absent: absent means "unlimited" (and an absent
/// burst, one second's worth of the rate).
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
