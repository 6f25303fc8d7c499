//! Setting values that are parsed, not just read, so a bad one fails at start-up.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use derive_more::{Display, Error};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::{Unexpected, Visitor};

/// Why a setting's value was refused.
#[derive(Debug, Display, Error)]
#[display("{_0}")]
pub struct InvalidValue(#[error(not(source))] String);

impl InvalidValue {
    pub(crate) fn new(why: String) -> Self {
        Self(why)
    }
}

/// What sits between the service and Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum PoolerMode {
    /// Postgres itself, or a pooler in session mode: each client connection keeps one server
    /// connection, so prepared statements are cached per connection.
    None,
    /// A pooler in transaction mode (PgBouncer `pool_mode = transaction`): a server connection
    /// is only ours for one transaction. Every unit of work then runs in one transaction and
    /// no prepared statement outlives it.
    Transaction,
}

impl TryFrom<String> for PoolerMode {
    type Error = InvalidValue;

    /// By hand rather than derived: the `config` crate's message for an unknown variant does
    /// not say which ones exist.
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "none" => Ok(Self::None),
            "transaction" => Ok(Self::Transaction),
            _ => Err(InvalidValue(format!(
                "{s:?} is not a pooler mode: use \"none\" (Postgres itself, or a session-mode pooler) \
                 or \"transaction\" (a transaction-mode pooler such as PgBouncer's pool_mode = transaction)"
            ))),
        }
    }
}

/// An unsigned integer type a count setting is read into.
pub(crate) trait Count: TryFrom<u64> + Copy + Default + PartialEq {
    /// Its largest value.
    const MAX: u64;
}

impl Count for u16 {
    const MAX: u64 = u16::MAX as u64;
}

impl Count for u32 {
    const MAX: u64 = u32::MAX as u64;
}

impl Count for u64 {
    const MAX: u64 = u64::MAX;
}

impl Count for usize {
    const MAX: u64 = usize::MAX as u64;
}

/// Longest duration any setting may be, in seconds: a year. Longer ones are mistakes, and some
/// would not run at all (a cache's lifetime past 1,000 years panics in moka, a wait past the
/// clock's range overflows it).
const MAX_DURATION_SECS: u64 = 365 * 24 * 60 * 60;

/// Most connections the pools may be given: beyond what any Postgres serves (its own
/// `max_connections` is a few hundred in practice), and each sub-pool is made at start-up.
const MAX_CONNECTIONS: u64 = 10_000;

/// Most HTTP worker threads: actix-server's own limit (it panics past it).
const MAX_WORKERS: u64 = 512;

/// Longest `statement_timeout` Postgres takes, in milliseconds (an `int`).
const MAX_STATEMENT_TIMEOUT_MS: u64 = i32::MAX as u64;

/// A whole number from `min` to `max` (and within `T`), and nothing else. Read as `T` itself,
/// a setting would take what the `config` crate makes of other numbers: `1.5` rounded, `1e3`
/// as 1,000, a number past 63 bits (read as a float) cut to the largest; each is a mistake to
/// report, not guess at.
struct Whole<T> {
    min: u64,
    max: u64,
    into: PhantomData<T>,
}

impl<T: Count> Whole<T> {
    /// At most `max`, `T`'s largest, and `i64::MAX`: the config crate holds integers as `i64`
    /// and reads larger ones as floats.
    fn new(min: u64, max: u64) -> Self {
        Self { min, max: max.min(T::MAX).min(i64::MAX as u64), into: PhantomData }
    }

    fn fit<E: serde::de::Error>(&self, n: u64) -> Result<T, E> {
        if !(self.min..=self.max).contains(&n) {
            return Err(E::invalid_value(Unexpected::Unsigned(n), self));
        }
        T::try_from(n).map_err(|_| E::invalid_value(Unexpected::Unsigned(n), self))
    }

    fn read<'de, D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<T: Count> Visitor<'_> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number from {} to {}", self.min, self.max)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<T, E> {
        self.fit(n)
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<T, E> {
        let n = u64::try_from(n).map_err(|_| E::invalid_value(Unexpected::Signed(n), &self))?;
        self.fit(n)
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<T, E> {
        Err(E::invalid_value(Unexpected::Float(n), &self))
    }

    /// A value the environment gave that did not parse as a number.
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        let n = text.parse::<u64>().map_err(|_| E::invalid_value(Unexpected::Str(text), &self))?;
        self.fit(n)
    }
}

/// Deserializes a count: a whole number that fits `T`.
pub(crate) fn whole<'de, D: serde::Deserializer<'de>, T: Count>(deserializer: D) -> Result<T, D::Error> {
    Whole::new(0, u64::MAX).read(deserializer)
}

/// An optional count (absent: `None`).
struct OptionalWhole<T>(T);

impl<'de, T: Count> Deserialize<'de> for OptionalWhole<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        whole(deserializer).map(Self)
    }
}

/// Deserializes an optional count (absent: `None`).
pub(crate) fn optional_whole<'de, D: serde::Deserializer<'de>, T: Count>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<OptionalWhole<T>>::deserialize(deserializer).map(|n| n.map(|OptionalWhole(n)| n))
}

/// Deserializes a count that must not be zero (0 would mean an empty pool, an instant timeout
/// or no limit at all, never what was meant).
pub(crate) fn nonzero<'de, D: serde::Deserializer<'de>, T: Count>(deserializer: D) -> Result<T, D::Error> {
    Whole::new(0, u64::MAX).read(deserializer).and_then(at_least_one)
}

fn at_least_one<T: Count, E: serde::de::Error>(n: T) -> Result<T, E> {
    if n == T::default() {
        return Err(E::custom("must be at least 1, not 0"));
    }
    Ok(n)
}

/// Deserializes `database.max_connections`: 1 to 10,000.
pub(crate) fn connections<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    Whole::new(0, MAX_CONNECTIONS).read(deserializer).and_then(at_least_one)
}

/// Deserializes `server.workers`: 0 (one per core) to 512.
pub(crate) fn workers<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    Whole::new(0, MAX_WORKERS).read(deserializer)
}

/// Deserializes a whole number of seconds, at most a year.
pub(crate) fn seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    Whole::<u64>::new(0, MAX_DURATION_SECS).read(deserializer).map(Duration::from_secs)
}

/// Deserializes a whole number of seconds, 1 to a year.
pub(crate) fn nonzero_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    Whole::<u64>::new(0, MAX_DURATION_SECS).read(deserializer).and_then(at_least_one).map(Duration::from_secs)
}

/// Deserializes a whole number of milliseconds, at most a year.
pub(crate) fn millis<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    Whole::<u64>::new(0, MAX_DURATION_SECS * 1000).read(deserializer).map(Duration::from_millis)
}

/// Deserializes `database.statement_timeout_ms`: 1 to 2,147,483,647 milliseconds, the most
/// Postgres' `statement_timeout` takes.
pub(crate) fn statement_timeout<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    Whole::<u64>::new(0, MAX_STATEMENT_TIMEOUT_MS)
        .read(deserializer)
        .and_then(at_least_one)
        .map(Duration::from_millis)
}

/// Deserializes `database.statement_cache_capacity`, refusing 0 with the reason: in sqlx 0.9
/// a capacity of 0 does not turn the cache off, it stops statements from ever being closed.
pub(crate) fn statement_cache<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    match Whole::<usize>::new(0, u64::MAX).read(deserializer)? {
        0 => Err(serde::de::Error::custom(
            "must be at least 1: a capacity of 0 does not turn sqlx's statement cache off, it leaks \
             every statement on the server (pooler_mode = transaction is the mode that caches none)",
        )),
        n => Ok(n),
    }
}

/// An HTTP header name: 1 to 64 characters of letters, digits and `-` (an RFC 9110 token,
/// narrowed to what a tenant header plausibly needs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HeaderName(String);

impl HeaderName {
    /// The header name as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HeaderName {
    type Error = InvalidValue;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let ok = (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidValue(format!(
                "{s:?} is not a header name (letters, digits and '-', 1 to 64 of them)"
            )))
        }
    }
}

/// The admin bearer token: at least 32 characters, so a configured token is not guessable.
/// Its `Debug` output is redacted.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct AdminToken(SecretString);

/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

impl AdminToken {
    /// The token itself.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken([REDACTED])")
    }
}

impl TryFrom<String> for AdminToken {
    type Error = InvalidValue;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.chars().count() < MIN_ADMIN_TOKEN_CHARS || s.chars().any(char::is_whitespace) {
            return Err(InvalidValue(format!(
                "the admin token must be at least {MIN_ADMIN_TOKEN_CHARS} characters without whitespace"
            )));
        }
        Ok(Self(SecretString::from(s)))
    }
}
