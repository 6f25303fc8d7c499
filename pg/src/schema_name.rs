//! [`SchemaName`]: the one way a tenant's schema name reaches SQL.

use std::borrow::Cow;

use derive_more::{Display, Error};
use sea_orm::sea_query::Iden;
use serde::{Deserialize, Serialize};

/// The schema that holds Tenantry's own tables (the tenant registry and its migration ledger).
pub const CONTROL_SCHEMA: &str = "tenantry";

/// Postgres truncates identifiers longer than `NAMEDATALEN - 1` = 63 bytes; we refuse them
/// instead, so two long names can never collide after truncation.
pub const MAX_LEN: usize = 63;

/// Names Postgres reserves (or that hold shared objects) besides the `pg_` prefix.
const RESERVED: &[&str] = &["public", "information_schema", CONTROL_SCHEMA];

/// A Postgres schema name that is safe to put in SQL: `[a-z][a-z0-9_]*`, at most 63 bytes, not
/// reserved. Its grammar excludes `"`, so quoting it can never be escaped out of.
///
/// The field is private: the only constructors are [`SchemaName::parse`] and serde, which
/// goes through the same parser.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SchemaName(String);

/// Why a string is not a valid schema name.
#[derive(Clone, Debug, PartialEq, Eq, Display, Error)]
pub enum SchemaNameError {
    /// The string is empty.
    #[display("a schema name cannot be empty")]
    Empty,
    /// The string is longer than [`MAX_LEN`] bytes.
    #[display("a schema name is at most 63 bytes (Postgres' identifier limit); this one has {_0}")]
    TooLong(#[error(not(source))] usize),
    /// The first character is not `a-z`.
    #[display("a schema name must start with a lowercase letter a-z, not {_0:?}")]
    BadFirstChar(#[error(not(source))] char),
    /// A character outside `[a-z0-9_]`.
    #[display("a schema name may contain only a-z, 0-9 and _, not {_0:?}")]
    BadChar(#[error(not(source))] char),
    /// A name reserved by Postgres (`public`, `information_schema`, `pg_*`) or by Tenantry.
    #[display("the schema name {_0:?} is reserved")]
    Reserved(#[error(not(source))] String),
}

impl SchemaName {
    /// Parses `s`, refusing anything that is not a safe, non-reserved schema name.
    pub fn parse(s: &str) -> Result<Self, SchemaNameError> {
        let mut chars = s.chars();
        let first = chars.next().ok_or(SchemaNameError::Empty)?;
        if s.len() > MAX_LEN {
            return Err(SchemaNameError::TooLong(s.len()));
        }
        if !first.is_ascii_lowercase() {
            return Err(SchemaNameError::BadFirstChar(first));
        }
        if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
            return Err(SchemaNameError::BadChar(bad));
        }
        if s.starts_with("pg_") || RESERVED.contains(&s) {
            return Err(SchemaNameError::Reserved(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as written, without quotes.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted SQL identifier, `"tenant_x"`. Safe because the grammar has no `"`.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl Iden for SchemaName {
    fn quoted(&self) -> Cow<'static, str> {
        Cow::Owned(self.0.clone())
    }

    fn unquoted(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SchemaName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SchemaName {
    type Err = SchemaNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for SchemaName {
    type Error = SchemaNameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<SchemaName> for String {
    fn from(name: SchemaName) -> Self {
        name.0
    }
}

impl AsRef<str> for SchemaName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_round_trip() {
        for s in ["a", "tenant_acme", "t1", "a_b_c_9", &"a".repeat(63)] {
            let name = SchemaName::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(name.as_str(), s);
            assert_eq!(String::from(name.clone()), s);
            let json = serde_json::to_string(&name).expect("serialises");
            assert_eq!(json, format!("\"{s}\""));
            let back: SchemaName = serde_json::from_str(&json).expect("deserialises");
            assert_eq!(back, name);
        }
    }

    #[test]
    fn deserialising_goes_through_the_parser() {
        let err = serde_json::from_str::<SchemaName>("\"pg_catalog\"").expect_err("reserved");
        assert!(err.to_string().contains("reserved"), "{err}");
    }

    #[test]
    fn empty_is_rejected() {
        assert_eq!(SchemaName::parse(""), Err(SchemaNameError::Empty));
    }

    #[test]
    fn longer_than_63_bytes_is_rejected() {
        assert_eq!(SchemaName::parse(&"a".repeat(64)), Err(SchemaNameError::TooLong(64)));
    }

    #[test]
    fn multibyte_length_is_counted_in_bytes() {
        // 62 ASCII letters plus one two-byte character is 64 bytes.
        let s = format!("{}é", "a".repeat(62));
        assert_eq!(SchemaName::parse(&s), Err(SchemaNameError::TooLong(64)));
    }

    #[test]
    fn first_character_must_be_a_lowercase_letter() {
        for (s, c) in [("1abc", '1'), ("_abc", '_'), ("Abc", 'A'), ("\"x", '"'), (" x", ' ')] {
            assert_eq!(SchemaName::parse(s), Err(SchemaNameError::BadFirstChar(c)), "{s:?}");
        }
    }

    #[test]
    fn characters_outside_the_grammar_are_rejected() {
        for (s, c) in [
            ("ab\"c", '"'),
            ("a;drop", ';'),
            ("aB", 'B'),
            ("a-b", '-'),
            ("a b", ' '),
            ("a\0b", '\0'),
            ("aé", 'é'),
            ("a.b", '.'),
        ] {
            assert_eq!(SchemaName::parse(s), Err(SchemaNameError::BadChar(c)), "{s:?}");
        }
    }

    #[test]
    fn reserved_names_are_rejected() {
        for s in ["public", "information_schema", "pg_catalog", "pg_toast", "pg_", CONTROL_SCHEMA] {
            assert_eq!(SchemaName::parse(s), Err(SchemaNameError::Reserved(s.to_owned())), "{s:?}");
        }
    }

    #[test]
    fn names_that_merely_contain_reserved_words_are_allowed() {
        for s in ["publicity", "tenant_pg_x", "tenantry_x", "pgx"] {
            assert!(SchemaName::parse(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn quoting_wraps_the_name_in_double_quotes() {
        let name = SchemaName::parse("tenant_a").expect("valid");
        assert_eq!(name.quoted(), "\"tenant_a\"");
    }
}
