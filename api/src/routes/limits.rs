//! A tenant's limits and quotas in `/tenants` bodies: as shown ([`LimitsBody`]) and as
//! changed by `PATCH /tenants/{slug}` ([`LimitsChangeBody`]).

use serde::{Deserialize, Deserializer, Serialize};
use tenantry_service::ServiceError;
use tenantry_service::entity::tenant;
use tenantry_service::limits::{self, LimitsChange};
use utoipa::ToSchema;

use super::fields::{Whole, present};
use crate::ApiError;

/// A tenant's own limits and quotas; `null` is the default in settings (`limits.*`, where
/// "unlimited" is the default's default). Rates and concurrency hold on each instance; quotas
/// across instances.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LimitsBody {
    /// Data-plane requests per second (a token bucket), over which requests get 429.
    requests_per_second: Option<i32>,
    /// Requests that may come at once before the rate applies; `null` here and in settings:
    /// one second's worth of the rate.
    burst: Option<i32>,
    /// Data-plane requests in flight at once, over which requests get 429.
    max_concurrent_requests: Option<i32>,
    /// Products the tenant may hold; a create beyond it gets 409.
    max_products: Option<i64>,
    /// Orders the tenant may hold; a create beyond it gets 409.
    max_orders: Option<i64>,
}

impl From<&tenant::Model> for LimitsBody {
    fn from(m: &tenant::Model) -> Self {
        Self {
            requests_per_second: m.requests_per_second,
            burst: m.burst,
            max_concurrent_requests: m.max_concurrent_requests,
            max_products: m.max_products,
            max_orders: m.max_orders,
        }
    }
}

/// Limits and quotas to change: a number sets one, `null` clears it back to the default in
/// settings, a field left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsChangeBody {
    /// Data-plane requests per second on each instance, 1 to 1000000.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000, example = 50)]
    requests_per_second: Option<Option<Whole>>,
    /// The token bucket's size, 1 to 1000000.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000, example = 100)]
    burst: Option<Option<Whole>>,
    /// Data-plane requests in flight at once on each instance, 1 to 1000000.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000, example = 8)]
    max_concurrent_requests: Option<Option<Whole>>,
    /// Products the tenant may hold, 0 (none may be created) or more.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, example = 1000)]
    max_products: Option<Option<Whole>>,
    /// Orders the tenant may hold, 0 (none may be created) or more.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, example = 10000)]
    max_orders: Option<Option<Whole>>,
}

impl LimitsChangeBody {
    /// The change as the service takes it; a value out of range is a 400 naming its field.
    fn parse(self) -> Result<LimitsChange, ServiceError> {
        fn each<T>(
            field: &str,
            value: Option<Option<Whole>>,
            parse: fn(&str, i64) -> Result<T, ServiceError>,
        ) -> Result<Option<Option<T>>, ServiceError> {
            value.map(|v| v.map(|n| parse(field, n.0)).transpose()).transpose()
        }
        Ok(LimitsChange {
            requests_per_second: each("limits.requests_per_second", self.requests_per_second, limits::rate)?,
            burst: each("limits.burst", self.burst, limits::rate)?,
            max_concurrent_requests: each(
                "limits.max_concurrent_requests",
                self.max_concurrent_requests,
                limits::concurrent,
            )?,
            max_products: each("limits.max_products", self.max_products, limits::quota)?,
            max_orders: each("limits.max_orders", self.max_orders, limits::quota)?,
        })
    }
}

/// The `limits` field of a PATCH: left out, no change; `null`, every limit back to its
/// default; an object, the changes it lists.
pub(super) fn change(field: Option<Option<LimitsChangeBody>>) -> Result<LimitsChange, ApiError> {
    Ok(match field {
        None => LimitsChange::default(),
        Some(None) => LimitsChange::clear_all(),
        Some(Some(body)) => body.parse()?,
    })
}

/// Reads the `limits` field (with `#[serde(default)]`): a JSON object or `null` (the body's
/// [`super::fields::Object`] names the field at fault: `limits.burst: ...`). Read straight
/// from the body (not through a `serde_json::Value`, which would keep the last of two equal
/// keys), so a field given twice is refused as at the top level.
pub(super) fn deserialize_change<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<LimitsChangeBody>>, D::Error> {
    Ok(Some(Option::<Tracked>::deserialize(d)?.map(|t| t.0)))
}

/// A [`LimitsChangeBody`] read from a JSON object only.
struct Tracked(LimitsChangeBody);

impl<'de> Deserialize<'de> for Tracked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TrackedVisitor)
    }
}

struct TrackedVisitor;

impl<'de> serde::de::Visitor<'de> for TrackedVisitor {
    type Value = Tracked;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("limits as a JSON object, or null")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Tracked, A::Error> {
        LimitsChangeBody::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Tracked)
    }
}
