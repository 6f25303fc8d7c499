//! Reading JSON bodies: only as objects ([`Object`]), and partial-update fields, where a field
//! left out keeps its value and `null` is refused where it would mean nothing (a name or a
//! price cannot be cleared), instead of being taken as "left out" and answered 200 with nothing
//! changed.

use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::ApiError;

/// A request body that must be a JSON object. serde's derived structs also read a JSON array
/// as their fields in order (`["Widget", "1.00"]` as a product), which the OpenAPI document,
/// saying `object`, does not allow: this reads only a map, then the struct from it, with the
/// struct's own rules (unknown and duplicate fields refused).
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor(PhantomData)).map(Object)
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, via `default`).
/// Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The value of a field that cannot be cleared: left out is `None`, `null` is a 400 naming it.
pub fn not_null<T>(field: &str, value: Option<Option<T>>) -> Result<Option<T>, ApiError> {
    match value {
        Some(None) => Err(ApiError::bad_request(format!(
            "{field} must not be null; leave it out to keep the current value"
        ))),
        Some(Some(value)) => Ok(Some(value)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_is_refused_naming_the_field_and_absent_is_no_change() {
        let refused = not_null::<i32>("price", Some(None)).map_err(|e| e.to_string());
        assert!(refused.is_err_and(|d| d.contains("price must not be null")));
        assert_eq!(not_null::<i32>("price", None).ok(), Some(None));
        assert_eq!(not_null("price", Some(Some(1))).ok(), Some(Some(1)));
    }
}
