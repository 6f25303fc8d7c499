//! One limit on the wire ([`LimitValue`]): a whole number, or `"unlimited"` (as in settings);
//! `null` around it, where a field takes it, means "the default in settings".

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use tenantry_service::limits::UNLIMITED;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};

use super::fields::WholeVisitor;

/// A limit as a client writes it and as the service shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LimitValue {
    /// This many (each field's own range applies after).
    Number(i64),
    /// No limit, whatever the default.
    Unlimited,
}

impl Serialize for LimitValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Number(n) => s.serialize_i64(*n),
            Self::Unlimited => s.serialize_str(UNLIMITED),
        }
    }
}

impl<'de> Deserialize<'de> for LimitValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LimitVisitor)
    }
}

struct LimitVisitor;

impl Visitor<'_> for LimitVisitor {
    type Value = LimitValue;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a whole number, \"{UNLIMITED}\", or null for the default")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LimitValue, E> {
        Ok(LimitValue::Number(v))
    }

    // Numbers past 64 bits, and fractions, are refused as `Whole` refuses them.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LimitValue, E> {
        WholeVisitor.visit_u64(v).map(LimitValue::Number)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<LimitValue, E> {
        WholeVisitor.visit_f64(v).map(LimitValue::Number)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LimitValue, E> {
        if v == UNLIMITED {
            return Ok(LimitValue::Unlimited);
        }
        Err(E::custom(format!(
            "expected a whole number, \"{UNLIMITED}\", or null for the default, got the string {v:?}"
        )))
    }
}

/// How a limit field is documented (`schema_with` replaces the field's doc comment).
pub(super) struct Doc {
    /// What the limit counts.
    pub what: &'static str,
    /// Its least value.
    pub min: i64,
    /// Its greatest value, if any below `i64::MAX`.
    pub max: Option<i64>,
    /// Whether it may be `"unlimited"`.
    pub unlimited: bool,
    /// A typical value.
    pub example: i64,
}

/// The schema of a limit field: a whole number from `min` (to `max`, if any), `"unlimited"`
/// (if it may be), or `null` (the default).
pub(super) fn schema(doc: Doc) -> RefOr<Schema> {
    let Doc { what, min, max, unlimited, example } = doc;
    let range = match max {
        Some(max) => format!("{min} to {max}"),
        None => format!("{min} or more"),
    };
    let lifted = if unlimited { "; `\"unlimited\"`: no limit, whatever the default" } else { "" };
    let number = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(max)
        .examples([example]);
    let description = format!("{what}: {range}{lifted}; `null`: the default in settings (`limits.*`)");
    let mut one_of = OneOfBuilder::new().description(Some(description)).item(number);
    if unlimited {
        one_of = one_of.item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some([UNLIMITED])));
    }
    one_of.item(ObjectBuilder::new().schema_type(Type::Null)).into()
}
