//! Timestamps in response bodies: RFC 3339 exactly as chrono's own `Serialize` writes them
//! (`SecondsFormat::AutoSi`, `Z` for UTC), formatted into one buffer on the stack and written
//! as one string. chrono's impl goes through `collect_str`, which runs JSON escaping once per
//! piece written; for a page of 20 products that was 12% of the server's instructions per
//! request, and `to_rfc3339_opts` with its `String` still 1,175 instructions a timestamp, 10%
//! (callgrind, docs/DESIGN-NOTES.md). Years outside 0 to 9999, leap seconds and offsets with
//! seconds, which no column of this service holds, are still written by chrono.

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Timelike};
use serde::Serializer;

/// `#[serde(serialize_with = "crate::timestamp::rfc3339")]`.
pub fn rfc3339<S: Serializer>(at: &DateTime<FixedOffset>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = [0u8; MAX_LEN];
    match write(at, &mut text).and_then(|len| std::str::from_utf8(&text[..len]).ok()) {
        Some(text) => serializer.serialize_str(text),
        None => serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// [`rfc3339`] for an optional timestamp (`null` when absent).
pub fn rfc3339_opt<S: Serializer>(
    at: &Option<DateTime<FixedOffset>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// `2026-12-02T00:53:57.123456789+02:00`.
const MAX_LEN: usize = 35;

/// Writes `at` into `out` as chrono's `to_rfc3339_opts(AutoSi, true)` would and says how long
/// it is, or `None` for what is left to chrono.
fn write(at: &DateTime<FixedOffset>, out: &mut [u8; MAX_LEN]) -> Option<usize> {
    let local = at.naive_local();
    let offset = at.offset().local_minus_utc();
    let (year, nano) = (local.year(), local.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 || offset % 60 != 0 {
        return None;
    }
    /// Writes the last two digits of `value` at `len` and moves past them.
    fn two(value: u32, out: &mut [u8; MAX_LEN], len: &mut usize) {
        out[*len] = b'0' + (value / 10 % 10) as u8;
        out[*len + 1] = b'0' + (value % 10) as u8;
        *len += 2;
    }
    let mut len = 0;
    let year = year.unsigned_abs();
    two(year / 100, out, &mut len);
    two(year % 100, out, &mut len);
    for (separator, value) in [
        (b'-', local.month()),
        (b'-', local.day()),
        (b'T', local.hour()),
        (b':', local.minute()),
        (b':', local.second()),
    ] {
        out[len] = separator;
        len += 1;
        two(value, out, &mut len);
    }
    // AutoSi: no fraction, or as many of 3, 6 or 9 digits as it takes.
    let (fraction, digits) = match nano {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    if digits > 0 {
        out[len] = b'.';
        let mut rest = fraction;
        for i in (1..=digits).rev() {
            out[len + i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        len += 1 + digits;
    }
    if offset == 0 {
        out[len] = b'Z';
        return Some(len + 1);
    }
    out[len] = if offset < 0 { b'-' } else { b'+' };
    len += 1;
    let minutes = offset.unsigned_abs() / 60;
    two(minutes / 60, out, &mut len);
    out[len] = b':';
    len += 1;
    two(minutes % 60, out, &mut len);
    Some(len)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, FixedOffset};

    #[derive(serde::Serialize)]
    struct Ours(#[serde(serialize_with = "super::rfc3339")] DateTime<FixedOffset>);

    #[test]
    fn timestamps_are_written_exactly_as_chronos_own_serialize_writes_them() {
        for text in [
            "2026-12-02T00:53:57Z",
            "2026-12-02T00:53:57.120Z",
            "2026-12-02T00:53:57.123456789Z",
            "2026-12-02T00:53:57.123456+02:00",
            "1999-01-01T23:59:59-05:30",
            "0000-01-01T00:00:00.000000001+23:59",
            "9999-12-31T23:59:59.999999999-23:59",
            "2016-12-31T23:59:60.5Z",
        ] {
            let at = DateTime::parse_from_rfc3339(text).expect(text);
            let expected = serde_json::to_string(&at).expect("chrono");
            assert_eq!(serde_json::to_string(&Ours(at)).expect("ours"), expected, "{text}");
        }
        // Left to chrono: a year past 9999, an offset with seconds.
        let far =
            chrono::NaiveDate::from_ymd_opt(10_000, 1, 1).expect("date").and_hms_opt(0, 0, 0).expect("time");
        let odd = FixedOffset::east_opt(3_601).expect("offset");
        for at in [far.and_utc().fixed_offset(), far.and_utc().with_timezone(&odd)] {
            let expected = serde_json::to_string(&at).expect("chrono");
            assert_eq!(serde_json::to_string(&Ours(at)).expect("ours"), expected, "{at:?}");
        }
        // Every precision, offsets either side, over four centuries.
        let mut seconds: i64 = 12_345;
        for i in 0..5_000_i64 {
            seconds = (seconds * 7_919 + i * 104_729) % 12_600_000_000;
            let nanos = [0, 120_000_000, 123_456_000, 123_456_789, 5][(i % 5) as usize];
            let offset = FixedOffset::east_opt(((i % 49) as i32 - 24) * 1_800).expect("offset");
            let at = DateTime::from_timestamp(seconds - 2_208_988_800, nanos)
                .expect("in range")
                .with_timezone(&offset);
            let expected = serde_json::to_string(&at).expect("chrono");
            assert_eq!(serde_json::to_string(&Ours(at)).expect("ours"), expected, "{at:?}");
        }
    }
}
