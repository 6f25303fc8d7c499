//! Reading JSON bodies: only as objects ([`Object`]), whose errors name the field at fault;
//! whole numbers ([`Whole`]) refused in words when they are out of range; and partial-update
//! fields, where a field left out keeps its value and `null` is refused where it would mean
//! nothing (a name or a price cannot be cleared), instead of being taken as "left out" and
//! answered 200 with nothing changed.

use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::ApiError;

/// A request body that must be a JSON object. serde's derived structs also read a JSON array
/// as their fields in order (`["Widget", "1.00"]` as a product), which the OpenAPI document,
/// saying `object`, does not allow: this reads only a map, then the struct from it, with the
/// struct's own rules (unknown and duplicate fields refused). An error inside a field is
/// prefixed with the field's path (`limits.burst: ...`): serde_json's own message names none.
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
        serde_path_to_error::deserialize(MapAccessDeserializer::new(map)).map_err(|e| {
            let path = e.path().to_string();
            match path.as_str() {
                // Not inside a field (a missing or unknown field): serde's message names it.
                "." => e.into_inner(),
                _ => A::Error::custom(format!("{path}: {}", e.into_inner())),
            }
        })
    }
}

/// A whole number in a JSON body, as a 64-bit integer. serde_json reads an integer too large
/// for 64 bits (or one with an exponent) as a float, and serde's refusal then speaks of a
/// "floating point" the client never sent: this says the number is out of range instead, and
/// what the field takes. Each field's own rule (a quantity's range) applies after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Whole(pub i64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_i64(WholeVisitor).map(Whole)
    }
}

pub(super) struct WholeVisitor;

impl Visitor<'_> for WholeVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a whole number from {} to {}", i64::MIN, i64::MAX)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(out_of_range(&v.to_string())))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() != 0.0 {
            return Err(E::custom(format!("{v} is not a whole number; expected {}", Expected)));
        }
        // Whole but read as a float: past 64 bits (or written with an exponent).
        let fits = (i64::MIN as f64..i64::MAX as f64).contains(&v);
        if fits { Ok(v as i64) } else { Err(E::custom(out_of_range(&format!("{v:e}")))) }
    }
}

/// What [`Whole`] takes, for messages.
struct Expected;

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        WholeVisitor.expecting(f)
    }
}

fn out_of_range(number: &str) -> String {
    format!("the number {number} is out of range: expected {Expected}")
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

    fn whole(json: &str) -> Result<i64, String> {
        serde_json::from_str::<Whole>(json).map(|w| w.0).map_err(|e| e.to_string())
    }

    #[test]
    fn a_whole_number_past_64_bits_is_out_of_range_not_a_float() {
        assert_eq!(whole("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(whole("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(whole("1e3"), Ok(1000));
        for (json, needle) in [
            ("9223372036854775808", "9223372036854775808 is out of range"),
            ("123456789012345678901234567890", "is out of range: expected a whole number from"),
            ("-1e300", "is out of range"),
            ("1.5", "1.5 is not a whole number"),
            ("\"7\"", "expected a whole number"),
        ] {
            let refused = whole(json).expect_err(json);
            assert!(refused.contains(needle) && !refused.contains("floating"), "{json}: {refused}");
        }
    }

    #[test]
    fn null_is_refused_naming_the_field_and_absent_is_no_change() {
        let refused = not_null::<i32>("price", Some(None)).map_err(|e| e.to_string());
        assert!(refused.is_err_and(|d| d.contains("price must not be null")));
        assert_eq!(not_null::<i32>("price", None).ok(), Some(None));
        assert_eq!(not_null("price", Some(Some(1))).ok(), Some(Some(1)));
    }
}
