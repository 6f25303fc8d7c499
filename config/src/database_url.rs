//! The database connection URL, parsed at load time so a malformed one fails at start-up
//! naming `database.url`, and described in logs without its password.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::InvalidValue;

/// Postgres' default port, used when the URL names none (as libpq and sqlx do).
const DEFAULT_PORT: u16 = 5432;

/// What a connection URL must look like; every refusal repeats it.
const EXPECTED: &str = "expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE";

/// A `postgres://` URL that names a host and a database. On a loopback host (`localhost`,
/// `127.0.0.0/8`, `::1`) a URL that names no `sslmode` connects without TLS, as if it said
/// `sslmode=disable`: there TLS protects nothing from anyone who could not read the server's
/// memory anyway, and it cost about a fifth of the CPU of a request (measured:
/// docs/DESIGN-NOTES.md). Any other host keeps the driver's default (TLS when the server offers
/// it), and an explicit `sslmode` is always kept. The whole URL may carry a password,
/// so it is kept secret: `Debug` and [`Display`](std::fmt::Display) show only host, port,
/// database and user, and [`ExposeSecret`] is the only way to the full text.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct DatabaseUrl {
    url: SecretString,
    host: String,
    port: u16,
    database: String,
    user: String,
}

impl DatabaseUrl {
    /// Parses a connection URL. Error messages never repeat the URL: it may hold a password.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let invalid = |why: String| InvalidValue::new(format!("{why}; {EXPECTED}"));
        let url = Url::parse(s).map_err(|e| invalid(format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid(format!("the scheme is {:?}, not postgres", url.scheme())));
        }
        // A Unix socket is named by a `host` query parameter (`postgres:///db?host=/run/pg`).
        let query_host = url.query_pairs().find(|(k, _)| k == "host").map(|(_, v)| v.into_owned());
        let host = match (url.host_str(), query_host) {
            (_, Some(host)) if !host.is_empty() => host,
            (Some(host), _) if !host.is_empty() => host.to_owned(),
            _ => return Err(invalid("the URL names no host".to_owned())),
        };
        let database = url.path().trim_start_matches('/');
        if database.is_empty() || database.contains('/') {
            return Err(invalid(
                "the URL names no database (the path after the host, e.g. /tenantry)".to_owned(),
            ));
        }
        let loopback = url.query_pairs().all(|(k, _)| k != "sslmode") && is_loopback(url.host());
        let url_text = match loopback {
            true if url.query().is_some_and(|q| !q.is_empty()) => format!("{s}&sslmode=disable"),
            true if s.ends_with('?') => format!("{s}sslmode=disable"),
            true => format!("{s}?sslmode=disable"),
            false => s.to_owned(),
        };
        Ok(Self {
            url: SecretString::from(url_text),
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            database: database.to_owned(),
            user: url.username().to_owned(),
        })
    }

    /// The URL to connect with, password included (as configured, plus `sslmode=disable` on
    /// loopback when it names no `sslmode`): for connecting, never for logs.
    pub fn expose(&self) -> &str {
        self.url.expose_secret()
    }

    /// The host (or Unix socket directory) it connects to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port it connects to (5432 when the URL names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database it names, as written in the URL.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The user it connects as (empty when the URL names none).
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// Whether a URL's TCP host is this machine's loopback (a Unix socket has no URL host).
fn is_loopback(host: Option<url::Host<&str>>) -> bool {
    match host {
        // `postgres:` is not a special scheme, so `url` leaves even an IPv4 address a "domain".
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl ExposeSecret<str> for DatabaseUrl {
    /// The URL to connect with, password included (see [`DatabaseUrl::expose`]).
    fn expose_secret(&self) -> &str {
        self.url.expose_secret()
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = InvalidValue;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl std::fmt::Display for DatabaseUrl {
    /// `database tenantry on 127.0.0.1:5432 as postgres`: what a start-up log line needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database {} on {}:{}", self.database, self.host, self.port)?;
        if !self.user.is_empty() {
            write!(f, " as {}", self.user)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}
