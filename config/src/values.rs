//! Setting values that are parsed, not just read, so a bad one fails at start-up.

use derive_more::{Display, Error};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Why a setting's value was refused.
#[derive(Debug, Display, Error)]
#[display("{_0}")]
pub struct InvalidValue(#[error(not(source))] String);

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
