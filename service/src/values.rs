//! Domain values parsed from client input: once built, they are valid.

use rust_decimal::Decimal;

use crate::ServiceError;

/// Longest name (product or tenant display name), in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest product description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// A display name: 1 to 200 characters, not blank, one line: no control characters at all
/// (tabs and line breaks included, so a name prints as one line in lists and logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Parses `value` as the field called `field` (named in the error).
    pub fn parse(field: &str, value: String) -> Result<Self, ServiceError> {
        check_text(field, &value, MAX_NAME_CHARS, Lines::One)?;
        if value.trim().is_empty() {
            return Err(ServiceError::Invalid(format!("{field} must not be blank")));
        }
        Ok(Self(value))
    }

    /// The name.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// The name, borrowed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product description: at most 10,000 characters, no control characters but newlines
/// and tabs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Parses a description.
    pub fn parse(value: String) -> Result<Self, ServiceError> {
        check_text("description", &value, MAX_DESCRIPTION_CHARS, Lines::Many)?;
        Ok(Self(value))
    }

    /// The text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Whether a text may span lines (and so hold tabs and line breaks, but no other control
/// character).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    Many,
}

fn check_text(field: &str, value: &str, max: usize, lines: Lines) -> Result<(), ServiceError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(ServiceError::Invalid(format!("{field} is at most {max} characters, got {chars}")));
    }
    let layout = |c: char| lines == Lines::Many && matches!(c, '\n' | '\t' | '\r');
    if let Some(bad) = value.chars().find(|&c| c.is_control() && !layout(c)) {
        let what = if lines == Lines::One {
            "one line without control characters"
        } else {
            "free of control characters other than tabs and line breaks"
        };
        return Err(ServiceError::Invalid(format!("{field} must be {what}, not contain {bad:?}")));
    }
    Ok(())
}

/// An amount of money as stored: `numeric(12,2)`, so at most 9,999,999,999.99, with at most
/// two decimal places (more are refused, never rounded away).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(Decimal);

impl Money {
    /// The largest amount `numeric(12,2)` holds.
    pub fn max() -> Decimal {
        Decimal::new(999_999_999_999, 2)
    }

    /// Parses a price: not negative, at most two decimals, within `numeric(12,2)`.
    pub fn price(value: Decimal) -> Result<Self, ServiceError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(ServiceError::Invalid(format!("price must not be negative, got {value}")));
        }
        Self::amount("price", value)
    }

    fn amount(field: &str, value: Decimal) -> Result<Self, ServiceError> {
        if value.normalize().scale() > 2 {
            return Err(ServiceError::Invalid(format!("{field} has more than two decimal places: {value}")));
        }
        if value > Self::max() {
            return Err(ServiceError::Invalid(format!("{field} is at most {}, got {value}", Self::max())));
        }
        Ok(Self(value.round_dp(2)))
    }

    /// This amount times `quantity`, if the result still fits `numeric(12,2)`.
    pub fn times(self, quantity: Quantity) -> Result<Self, ServiceError> {
        let total = self
            .0
            .checked_mul(Decimal::from(quantity.get()))
            .ok_or_else(|| ServiceError::Invalid("total price is too large".to_owned()))?;
        Self::amount("total price", total)
    }

    /// The amount.
    pub fn get(self) -> Decimal {
        self.0
    }
}

/// How many of a product an order is for: 1 to 2,147,483,647 (`integer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity(i32);

impl Quantity {
    /// Parses a quantity.
    pub fn parse(value: i64) -> Result<Self, ServiceError> {
        i32::try_from(value).ok().filter(|q| *q > 0).map(Self).ok_or_else(|| {
            ServiceError::Invalid(format!("quantity must be between 1 and {}, got {value}", i32::MAX))
        })
    }

    /// The count.
    pub fn get(self) -> i32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn names_are_one_to_two_hundred_characters_and_not_blank() {
        assert!(Name::parse("name", "a".into()).is_ok());
        assert!(Name::parse("name", "é".repeat(200)).is_ok());
        assert!(Name::parse("name", "é".repeat(201)).is_err());
        assert!(Name::parse("name", "".into()).is_err());
        assert!(Name::parse("name", "   ".into()).is_err());
        assert!(Name::parse("name", "a\0b".into()).is_err());
        for layout in ["a\nb", "a\tb", "a\rb"] {
            assert!(Name::parse("name", layout.into()).is_err(), "{layout:?}");
            assert!(Description::parse(layout.into()).is_ok(), "{layout:?}");
        }
        assert!(Description::parse("a\0b".into()).is_err());
    }

    #[test]
    fn prices_are_non_negative_two_decimal_amounts_within_numeric_12_2() {
        assert_eq!(Money::price(dec("19.99")).map(Money::get).ok(), Some(dec("19.99")));
        assert!(Money::price(dec("0")).is_ok());
        assert!(Money::price(dec("19.990")).is_ok(), "trailing zeros are not extra precision");
        assert!(Money::price(dec("9999999999.99")).is_ok());
        assert!(Money::price(dec("10000000000")).is_err());
        assert!(Money::price(dec("-0.01")).is_err());
        assert!(Money::price(dec("1.999")).is_err());
    }

    #[test]
    fn totals_that_overflow_numeric_12_2_are_refused() {
        let price = Money::price(dec("9999999999.99")).expect("price");
        assert!(price.times(Quantity::parse(2).expect("qty")).is_err());
        let price = Money::price(dec("2.50")).expect("price");
        assert_eq!(price.times(Quantity::parse(3).expect("qty")).map(Money::get).ok(), Some(dec("7.50")));
    }

    #[test]
    fn quantities_are_positive_integers() {
        assert!(Quantity::parse(1).is_ok());
        assert!(Quantity::parse(i64::from(i32::MAX)).is_ok());
        for q in [0, -1, i64::from(i32::MAX) + 1] {
            assert!(Quantity::parse(q).is_err(), "{q}");
        }
    }
}
