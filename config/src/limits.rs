//! `[limits]`: the limits and quotas of every tenant whose registry row does not set its own.

use serde::Deserialize;

use crate::InvalidValue;

/// Highest requests-per-second rate or burst: a million a second is beyond what one instance
/// serves, and keeps the token bucket's refill interval (1 s / rate) a whole microsecond.
pub const MAX_RATE: u64 = 1_000_000;
/// Highest concurrent-requests limit.
pub const MAX_CONCURRENT: u64 = 1_000_000;
/// Highest row quota: Postgres' `bigint`.
pub const MAX_QUOTA: u64 = i64::MAX as u64;

/// A limit as configured: a whole number, or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(Option<u64>);

impl Limit {
    /// No limit.
    pub const UNLIMITED: Self = Self(None);

    /// The limit, `None` for unlimited.
    pub fn get(self) -> Option<u64> {
        self.0
    }
}

/// What a limit setting may be written as.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Number(i64),
    Text(String),
}

/// Parses a limit of at least `min` and at most `max`, or `"unlimited"`.
fn limit<'de, D: serde::Deserializer<'de>>(d: D, min: u64, max: u64) -> Result<Limit, D::Error> {
    let out_of_range = || {
        serde::de::Error::custom(InvalidValue::new(format!(
            "must be a whole number from {min} to {max}, or \"unlimited\""
        )))
    };
    match Written::deserialize(d).map_err(|_| out_of_range())? {
        Written::Text(text) if text == "unlimited" => Ok(Limit::UNLIMITED),
        // The environment gives numbers as text when they do not parse as one.
        Written::Text(_) => Err(out_of_range()),
        Written::Number(n) => match u64::try_from(n) {
            Ok(n) if (min..=max).contains(&n) => Ok(Limit(Some(n))),
            _ => Err(out_of_range()),
        },
    }
}

fn rate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Limit, D::Error> {
    limit(d, 1, MAX_RATE)
}

fn burst<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match limit(d, 1, MAX_RATE)? {
        Limit(None) => Err(serde::de::Error::custom(InvalidValue::new(
            "a burst cannot be unlimited; leave it out for one second's worth of the rate".to_owned(),
        ))),
        Limit(n) => Ok(n),
    }
}

fn concurrent<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Limit, D::Error> {
    limit(d, 1, MAX_CONCURRENT)
}

fn quota<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Limit, D::Error> {
    limit(d, 0, MAX_QUOTA)
}

/// Every tenant's limits and quotas unless its registry row sets its own (`PATCH
/// /tenants/{slug}` with `limits`). Rate and concurrency are enforced by each instance on its
/// own; the row quotas hold across instances (they are counted in the database).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// Requests per second each tenant may send to one instance's data plane (a token bucket
    /// refilled at this rate); `"unlimited"` by default.
    #[serde(deserialize_with = "rate")]
    pub requests_per_second: Limit,
    /// How many requests may come at once before the rate applies (the bucket's size); left
    /// out, one second's worth of the rate.
    #[serde(default, deserialize_with = "burst")]
    pub burst: Option<u64>,
    /// Data-plane requests of one tenant in flight at once on one instance; `"unlimited"` by
    /// default.
    #[serde(deserialize_with = "concurrent")]
    pub max_concurrent_requests: Limit,
    /// Products a tenant may hold (0 allows none); `"unlimited"` by default.
    #[serde(deserialize_with = "quota")]
    pub max_products: Limit,
    /// Orders a tenant may hold (0 allows none); `"unlimited"` by default.
    #[serde(deserialize_with = "quota")]
    pub max_orders: Limit,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            requests_per_second: Limit::UNLIMITED,
            burst: None,
            max_concurrent_requests: Limit::UNLIMITED,
            max_products: Limit::UNLIMITED,
            max_orders: Limit::UNLIMITED,
        }
    }
}
