//! Timestamps in response bodies: RFC 3339 exactly as chrono's own `Serialize` writes them
//! (`SecondsFormat::AutoSi`, `Z` for UTC), formatted into one buffer and written as one string.
//! chrono's impl goes through `collect_str`, which runs JSON escaping once per character
//! written; for a page of 20 products that was 12% of the server's instructions per request
//! (callgrind, docs/DESIGN-NOTES.md).

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::Serializer;

/// `#[serde(serialize_with = "crate::timestamp::rfc3339")]`.
pub fn rfc3339<S: Serializer>(at: &DateTime<FixedOffset>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
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
        ] {
            let at = DateTime::parse_from_rfc3339(text).expect(text);
            let expected = serde_json::to_string(&at).expect("chrono");
            assert_eq!(serde_json::to_string(&Ours(at)).expect("ours"), expected, "{text}");
        }
    }
}
