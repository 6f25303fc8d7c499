//! Amounts of money on the wire: one spelling in and one out, the one the OpenAPI document
//! gives (`^[0-9]{1,10}(\.[0-9]{1,2})?$` in, always two decimals out).
//!
//! A JSON number, an exponent (`"1e3"`), a sign (`"+1"`, `"-0"`), spaces or a third decimal
//! are refused, naming the field, rather than read some other way: a client finds out at once
//! that its amount was not what it meant, and no float ever carries money.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};

/// A price as a client sends it: a JSON string matching the pattern above (the one the request
/// schemas in `products` declare).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceText(Decimal);

impl From<PriceText> for Decimal {
    fn from(price: PriceText) -> Self {
        price.0
    }
}

impl<'de> Deserialize<'de> for PriceText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PriceVisitor).map(PriceText)
    }
}

struct PriceVisitor;

impl Visitor<'_> for PriceVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the price as a decimal string such as \"19.99\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Decimal, E> {
        parse("price", text).map_err(E::custom)
    }

    // A number gets its own message: serde's default would call a large one a "floating
    // point" (serde_json reads an integer past 64 bits as a float).
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Decimal, E> {
        Err(E::custom(NOT_A_NUMBER))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Decimal, E> {
        Err(E::custom(NOT_A_NUMBER))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Decimal, E> {
        Err(E::custom(NOT_A_NUMBER))
    }
}

/// The refusal of an amount sent as a JSON number.
const NOT_A_NUMBER: &str = "expected the price as a decimal string such as \"19.99\", not a JSON number (a float cannot carry money)";

/// Reads `text` as an amount in the one accepted spelling; the error says what is wrong with it.
fn parse(field: &str, text: &str) -> Result<Decimal, String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let well_formed = digits(whole) && (fraction.is_empty() || digits(fraction)) && !text.ends_with('.');
    if !well_formed {
        // A negative amount gets its own message; "-0" is not negative, only badly spelled.
        if let Some(magnitude) =
            text.strip_prefix('-').filter(|m| parse(field, m).is_ok_and(|v| !v.is_zero()))
        {
            return Err(format!("{field} must not be negative, got -{magnitude}"));
        }
        return Err(format!(
            "{field} must be a decimal string of digits with at most two decimals, such as \"19.99\" \
             (no sign, exponent or spaces), got {text:?}"
        ));
    }
    if fraction.len() > 2 {
        return Err(format!("{field} has more than two decimal places: {text}"));
    }
    if whole.len() > 10 {
        return Err(format!(
            "{field} is at most 9999999999.99 (at most 10 digits before the point), got {text}"
        ));
    }
    text.parse::<Decimal>().map_err(|e| format!("{field} {text:?} does not parse: {e}"))
}

/// Writes an amount as a string with exactly two decimals (`"0.00"`, not `"0"`): the text
/// `Decimal`'s `Display` writes at scale 2, built from the mantissa in one buffer and written
/// as one string. Through `Display` and `collect_str` a price took about 660 instructions, 6%
/// of a page of products (callgrind, docs/DESIGN-NOTES.md); an amount too large to hold two
/// decimals still goes that way.
pub fn two_decimals<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    let mut value = *value;
    value.rescale(2);
    if value.scale() != 2 {
        return s.collect_str(&value);
    }
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value.mantissa().unsigned_abs()).as_bytes();
    // "-", the whole part (at least "0"), ".", two decimals: at most 1 + 39 + 1 + 2 bytes.
    let mut text = [0u8; 43];
    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        text[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    if value.is_sign_negative() {
        push(b"-");
    }
    match digits.len() {
        1 => push(&[b'0', b'.', b'0', digits[0]]),
        2 => push(&[b'0', b'.', digits[0], digits[1]]),
        n => {
            push(&digits[..n - 2]);
            push(b".");
            push(&digits[n - 2..]);
        }
    }
    match std::str::from_utf8(&text[..len]) {
        Ok(text) => s.serialize_str(text),
        Err(_) => s.collect_str(&value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(json: &str) -> Result<Decimal, String> {
        serde_json::from_str::<PriceText>(json).map(Decimal::from).map_err(|e| e.to_string())
    }

    #[test]
    fn amounts_are_written_as_decimals_display_writes_them_at_two_places() {
        #[derive(serde::Serialize)]
        struct Ours(#[serde(serialize_with = "two_decimals")] Decimal);
        let mut values: Vec<Decimal> = [
            "0",
            "-0",
            "0.05",
            "-0.05",
            "0.5",
            "1",
            "19.99",
            "-19.99",
            "100.005",
            "9999999999.99",
            "0.001",
            "-0.004",
            "123456789012345678901234567.89",
            "79228162514264337593543950335",
        ]
        .iter()
        .map(|text| text.parse().expect(text))
        .collect();
        // Mantissas over every length, both signs, scales 0 to 4.
        let mut m: i64 = 7;
        for i in 0..600 {
            values.push(Decimal::new(if i % 2 == 0 { m } else { -m }, i % 5));
            m = m.wrapping_mul(31).wrapping_add(i64::from(i)) % 1_000_000_000_000_000;
        }
        for value in values {
            let mut expected = value;
            expected.rescale(2);
            let expected = serde_json::to_string(&expected.to_string()).expect("json");
            assert_eq!(serde_json::to_string(&Ours(value)).expect("ours"), expected, "{value:?}");
        }
    }

    #[test]
    fn only_the_documented_spelling_is_taken() {
        for (json, value) in [
            (r#""19.99""#, "19.99"),
            (r#""0""#, "0"),
            (r#""7.5""#, "7.5"),
            (r#""9999999999.99""#, "9999999999.99"),
        ] {
            assert_eq!(price(json), Ok(value.parse().expect("decimal")), "{json}");
        }
        for (json, needle) in [
            ("17.5", "expected the price as a decimal string"),
            ("1", "expected the price as a decimal string"),
            (r#""1e3""#, "no sign, exponent or spaces"),
            (r#""+1""#, "no sign, exponent or spaces"),
            (r#"" 1""#, "no sign, exponent or spaces"),
            (r#""1.""#, "no sign, exponent or spaces"),
            (r#"".5""#, "no sign, exponent or spaces"),
            (r#""""#, "no sign, exponent or spaces"),
            (r#""1.000""#, "more than two decimal places"),
            (r#""-0""#, "no sign, exponent or spaces"),
            (r#""00000000001.00""#, "at most 10 digits before the point"),
            (r#""-1.00""#, "must not be negative"),
            (r#""10000000000""#, "at most 9999999999.99"),
        ] {
            let refused = price(json).expect_err(json);
            assert!(refused.contains(needle), "{json}: {refused}");
        }
    }

    #[test]
    fn amounts_are_written_with_two_decimals() {
        let text = |d: &str| {
            let mut out = Vec::new();
            two_decimals(&d.parse().expect("decimal"), &mut serde_json::Serializer::new(&mut out))
                .expect("written");
            String::from_utf8(out).expect("utf-8")
        };
        assert_eq!(text("0"), r#""0.00""#);
        assert_eq!(text("7.5"), r#""7.50""#);
        assert_eq!(text("19.99"), r#""19.99""#);
    }
}
