//! [`Numeric`]: `NUMERIC` values into [`Decimal`] without sqlx's general conversion.
//!
//! sqlx decodes a binary `NUMERIC` into a vector of base-10,000 digits and then sums them as
//! `Decimal`s, raising 10,000 to each digit's weight by repeated multiplication or division:
//! about 1,300 instructions for a price, 9% of the server's instructions for a page of 20
//! products (callgrind; docs/DESIGN-NOTES.md). Here the digits are summed as one integer and
//! scaled once. Only values whose exact digits fit a `Decimal` (96 bits, at most 28 places,
//! which every column of this service does) take this path; anything else (NaN, infinities,
//! more digits, text format) goes to sqlx's own decoding, so the result, and any error, is
//! always the one sqlx gives.

use rust_decimal::Decimal;
use sea_orm::sqlx::error::BoxDynError;
use sea_orm::sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef};
use sea_orm::sqlx::{Decode, Postgres, Type};

/// A `NUMERIC` read as a [`Decimal`]: `row.try_get::<Numeric, _>(i)?.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numeric(pub Decimal);

impl Type<Postgres> for Numeric {
    fn type_info() -> PgTypeInfo {
        <Decimal as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <Decimal as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Numeric {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() == PgValueFormat::Binary
            && let Some(decimal) = value.as_bytes().ok().and_then(exact)
        {
            return Ok(Self(decimal));
        }
        <Decimal as Decode<Postgres>>::decode(value).map(Self)
    }
}

/// The binary `NUMERIC` in `bytes` as sqlx would decode it, when its digits fit exactly:
/// a header of four 16-bit fields (digit count, weight of the first digit in powers of 10,000,
/// sign, display scale), then the base-10,000 digits, most significant first.
fn exact(bytes: &[u8]) -> Option<Decimal> {
    const POSITIVE: u16 = 0x0000;
    const NEGATIVE: u16 = 0x4000;
    /// The largest `Decimal` mantissa.
    const MAX_MANTISSA: u128 = (1 << 96) - 1;
    let field = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let count = usize::from(field(0)?);
    let weight = i32::from(field(2)? as i16);
    let sign = field(4)?;
    let scale = u32::from(field(6)?);
    if bytes.len() != 8 + 2 * count || !matches!(sign, POSITIVE | NEGATIVE) || scale > 28 {
        return None;
    }
    if count == 0 {
        // Zero, whatever its scale: sqlx gives `Decimal::ZERO` (scale 0) too.
        return Some(Decimal::ZERO);
    }
    let mut mantissa: u128 = 0;
    for i in 0..count {
        let digit = field(8 + 2 * i)?;
        if digit >= 10_000 {
            return None;
        }
        mantissa = mantissa.checked_mul(10_000)?.checked_add(u128::from(digit))?;
        if mantissa > MAX_MANTISSA {
            return None;
        }
    }
    // The last digit stands for 10,000^(weight - count + 1), i.e. 10^places.
    let places = 4 * (weight - i32::try_from(count).ok()? + 1);
    // Bring the mantissa to `scale` decimal places: value = mantissa * 10^(places + scale).
    let shift = places + i32::try_from(scale).ok()?;
    if shift >= 0 {
        mantissa = mantissa.checked_mul(10u128.checked_pow(shift.unsigned_abs())?)?;
    } else {
        let divisor = 10u128.checked_pow(shift.unsigned_abs())?;
        if !mantissa.is_multiple_of(divisor) {
            // Digits beyond the display scale: leave the rounding to sqlx.
            return None;
        }
        mantissa /= divisor;
    }
    if mantissa > MAX_MANTISSA {
        return None;
    }
    let signed = i128::try_from(mantissa).ok()?;
    let signed = if sign == NEGATIVE { -signed } else { signed };
    Decimal::try_from_i128_with_scale(signed, scale).ok()
}

#[cfg(test)]
mod tests {
    use super::exact;
    use rust_decimal::Decimal;

    /// The binary form Postgres sends for `digits` (base 10,000) at `weight`, `sign`, `scale`.
    fn wire(digits: &[u16], weight: i16, sign: u16, scale: u16) -> Vec<u8> {
        let mut out = Vec::new();
        for field in [digits.len() as u16, weight as u16, sign, scale] {
            out.extend(field.to_be_bytes());
        }
        for digit in digits {
            out.extend(digit.to_be_bytes());
        }
        out
    }

    #[test]
    fn prices_and_their_scales_come_through_exactly() {
        let cases = [
            (wire(&[19, 9900], 0, 0, 2), "19.99"),
            (wire(&[1], 0, 0, 2), "1.00"),
            (wire(&[1234, 5678], 1, 0x4000, 0), "-12345678"),
            (wire(&[1], 1, 0, 0), "10000"),
            (wire(&[5000], -1, 0, 1), "0.5"),
            (wire(&[12], -1, 0, 4), "0.0012"),
            (wire(&[], 0, 0, 2), "0"),
        ];
        for (bytes, expected) in cases {
            let got = exact(&bytes).expect(expected);
            assert_eq!(got.to_string(), expected);
            assert_eq!(got, expected.parse::<Decimal>().expect("literal"));
        }
    }

    #[test]
    fn what_does_not_fit_is_left_to_sqlx() {
        assert_eq!(exact(&wire(&[], 0, 0xC000, 0)), None, "NaN");
        assert_eq!(exact(&wire(&[], 0, 0xD000, 0)), None, "infinity");
        assert_eq!(exact(&wire(&[1; 9], 8, 0, 0)), None, "more than 96 bits");
        assert_eq!(exact(&wire(&[1], -8, 0, 32)), None, "more than 28 places");
        assert_eq!(exact(&wire(&[12, 3456], 0, 0, 2)), None, "digits beyond the scale");
        assert_eq!(exact(&wire(&[10_000], 0, 0, 0)), None, "a digit out of range");
        assert_eq!(exact(&wire(&[1, 2], 0, 0, 0)[..10]), None, "truncated");
    }
}
