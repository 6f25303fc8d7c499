//! [`Slug`]: a tenant's public, mutable label. It names no schema: identity is the tenant's
//! registry id (see [`super::schema_for`]).

use tenantry_pg::{SchemaName, SchemaNameError};

use crate::ServiceError;

/// Longest slug, in characters.
pub const MAX_SLUG_LEN: usize = 40;

/// A tenant slug: `[a-z][a-z0-9_]{0,39}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

/// Slugs that are path segments of routes under `/tenants`.
const ROUTE_WORDS: [&str; 1] = ["import"];

impl Slug {
    /// Parses a slug, naming the rule it breaks.
    pub fn parse(s: &str) -> Result<Self, ServiceError> {
        let invalid = |why: String| ServiceError::Invalid(format!("invalid tenant slug: {why}"));
        let first = s.chars().next().ok_or_else(|| invalid("it is empty".to_owned()))?;
        if s.len() > MAX_SLUG_LEN {
            return Err(invalid(format!("it is longer than {MAX_SLUG_LEN} characters")));
        }
        if !first.is_ascii_lowercase() {
            return Err(invalid(format!("it must start with a lowercase letter a-z, not {first:?}")));
        }
        if let Some(bad) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
            return Err(invalid(format!("it may contain only a-z, 0-9 and _, not {bad:?}")));
        }
        // A slug never becomes a schema name, but one that reads like a reserved schema
        // (`public`, `pg_catalog`, the control schema...) only invites confusion.
        if let Err(SchemaNameError::Reserved(_)) = SchemaName::parse(s) {
            return Err(invalid(format!("{s:?} is reserved")));
        }
        // `/tenants/import` is a route of its own: a tenant of that slug could be read and
        // deleted at that path but not imported into it.
        if ROUTE_WORDS.contains(&s) {
            return Err(invalid(format!("{s:?} is reserved (it names a route under /tenants)")));
        }
        Ok(Self(s.to_owned()))
    }

    /// The slug as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_schema_names_are_refused_as_slugs() {
        for s in ["public", "pg_catalog", "pg_x", "tenantry", "information_schema"] {
            let err = Slug::parse(s).expect_err(s).to_string();
            assert!(err.contains("reserved"), "{s}: {err}");
        }
        assert!(Slug::parse("publicity").is_ok());
        assert!(Slug::parse("import").is_err_and(|e| e.to_string().contains("names a route")));
        assert!(Slug::parse("imports").is_ok());
    }

    #[test]
    fn each_rule_is_named_when_broken() {
        let too_long = "a".repeat(41);
        let cases = [
            ("", "empty"),
            (too_long.as_str(), "longer than 40"),
            ("1a", "start with"),
            ("_a", "start with"),
            ("Acme", "start with"),
            ("ac-me", "only a-z"),
            ("acmE", "only a-z"),
            ("a\"b", "only a-z"),
            ("a b", "only a-z"),
        ];
        for (s, rule) in cases {
            let err = Slug::parse(s).expect_err(s).to_string();
            assert!(err.contains(rule), "{s:?}: {err}");
        }
    }
}
