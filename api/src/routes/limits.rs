//! A tenant's limits and quotas in `/tenants` bodies: as shown ([`LimitsBody`]) and as
//! changed by `PATCH /tenants/{slug}` ([`LimitsChangeBody`]).

use serde::{Deserialize, Deserializer, Serialize};
use tenantry_config::{MAX_CONCURRENT, MAX_RATE};
use tenantry_service::ServiceError;
use tenantry_service::entity::tenant;
use tenantry_service::limits::{self, LimitsChange, Own};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use super::fields::present;
use super::limit_value::{self, Doc, LimitValue};
use crate::ApiError;

/// A tenant's own limits and quotas: a number, `"unlimited"` (no limit whatever the
/// default), or `null` (the default in settings, `limits.*`, where "unlimited" is the
/// default's default). Rates and concurrency hold on each instance; quotas across instances.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LimitsBody {
    /// Data-plane requests per second (a token bucket), over which requests get 429.
    #[schema(schema_with = rate_schema)]
    requests_per_second: Option<LimitValue>,
    /// Requests that may come at once before the rate applies; `null` here and in settings:
    /// one second's worth of the rate. Never `"unlimited"`.
    #[schema(schema_with = burst_schema)]
    burst: Option<LimitValue>,
    /// Data-plane requests in flight at once, over which requests get 429.
    #[schema(schema_with = concurrent_schema)]
    max_concurrent_requests: Option<LimitValue>,
    /// Products the tenant may hold; a create beyond it gets 409.
    #[schema(schema_with = products_schema)]
    max_products: Option<LimitValue>,
    /// Orders the tenant may hold; a create beyond it gets 409.
    #[schema(schema_with = orders_schema)]
    max_orders: Option<LimitValue>,
}

impl From<&tenant::Model> for LimitsBody {
    fn from(m: &tenant::Model) -> Self {
        // The table's checks keep a value and its `_unlimited` flag from being set together.
        let shown = |value: Option<i64>, unlimited: bool| match (value, unlimited) {
            (_, true) => Some(LimitValue::Unlimited),
            (value, false) => value.map(LimitValue::Number),
        };
        let wide = |n: Option<i32>| n.map(i64::from);
        Self {
            requests_per_second: shown(wide(m.requests_per_second), m.requests_per_second_unlimited),
            burst: shown(wide(m.burst), false),
            max_concurrent_requests: shown(
                wide(m.max_concurrent_requests),
                m.max_concurrent_requests_unlimited,
            ),
            max_products: shown(m.max_products, m.max_products_unlimited),
            max_orders: shown(m.max_orders, m.max_orders_unlimited),
        }
    }
}

/// Limits and quotas to change: a number sets one, `"unlimited"` lifts it whatever the
/// default, `null` clears it back to the default in settings, a field left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsChangeBody {
    /// Data-plane requests per second on each instance, 1 to 1000000, or `"unlimited"`.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = rate_schema)]
    requests_per_second: Option<Option<LimitValue>>,
    /// The token bucket's size, 1 to 1000000 (not `"unlimited"`: make the rate unlimited).
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = burst_schema)]
    burst: Option<Option<LimitValue>>,
    /// Data-plane requests in flight at once on each instance, 1 to 1000000, or `"unlimited"`.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = concurrent_schema)]
    max_concurrent_requests: Option<Option<LimitValue>>,
    /// Products the tenant may hold, 0 (none may be created) or more, or `"unlimited"`.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = products_schema)]
    max_products: Option<Option<LimitValue>>,
    /// Orders the tenant may hold, 0 (none may be created) or more, or `"unlimited"`.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = orders_schema)]
    max_orders: Option<Option<LimitValue>>,
}

fn rate_schema() -> RefOr<Schema> {
    let what = "Data-plane requests per second on each instance (a token bucket; over it, 429)";
    limit_value::schema(Doc { what, min: 1, max: Some(MAX_RATE as i64), unlimited: true, example: 50 })
}

fn burst_schema() -> RefOr<Schema> {
    let what = "Requests that may come at once before the rate applies (the token bucket's size; \
                `null` here and in settings: one second's worth of the rate). It cannot be lifted: \
                lift the rate instead";
    limit_value::schema(Doc { what, min: 1, max: Some(MAX_RATE as i64), unlimited: false, example: 100 })
}

fn concurrent_schema() -> RefOr<Schema> {
    let what = "Data-plane requests in flight at once on each instance (over it, 429)";
    limit_value::schema(Doc { what, min: 1, max: Some(MAX_CONCURRENT as i64), unlimited: true, example: 8 })
}

fn products_schema() -> RefOr<Schema> {
    let what = "Products the tenant may hold (0: none may be created; a create beyond it, 409)";
    limit_value::schema(Doc { what, min: 0, max: None, unlimited: true, example: 1000 })
}

fn orders_schema() -> RefOr<Schema> {
    let what = "Orders the tenant may hold (0: none may be created; a create beyond it, 409)";
    limit_value::schema(Doc { what, min: 0, max: None, unlimited: true, example: 10000 })
}

impl LimitsChangeBody {
    /// The change as the service takes it; a value out of range, or `"unlimited"` for the
    /// burst, is a 400 naming its field.
    fn parse(self) -> Result<LimitsChange, ServiceError> {
        fn each<T>(
            field: &str,
            value: Option<Option<LimitValue>>,
            parse: fn(&str, i64) -> Result<T, ServiceError>,
        ) -> Result<Option<Own<T>>, ServiceError> {
            value
                .map(|v| match v {
                    None => Ok(Own::Default),
                    Some(LimitValue::Unlimited) => Ok(Own::Unlimited),
                    Some(LimitValue::Number(n)) => parse(field, n).map(Own::Set),
                })
                .transpose()
        }
        let burst = match self.burst {
            Some(Some(LimitValue::Unlimited)) => {
                return Err(ServiceError::Invalid(
                    "limits.burst cannot be unlimited: it is the token bucket's size; set \
                     requests_per_second to \"unlimited\" for no rate limit"
                        .to_owned(),
                ));
            }
            Some(Some(LimitValue::Number(n))) => Some(Some(limits::rate("limits.burst", n)?)),
            Some(None) => Some(None),
            None => None,
        };
        Ok(LimitsChange {
            requests_per_second: each("limits.requests_per_second", self.requests_per_second, limits::rate)?,
            burst,
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
