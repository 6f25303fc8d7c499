//! Reading request parameters so that a refusal names the parameter, never a Rust type:
//! [`Query`] for query strings, [`PathId`] and [`PathSlug`] for path segments.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tenantry_service::tenants::Slug;

use crate::ApiError;

/// A route's typed query parameters. Unlike `web::Query`, a value that does not parse is
/// refused with a 400 naming its parameter (which names and bytes a route accepts at all is
/// checked before, by [`super::table::check_query`]).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_query(req.query_string()).map(Self))
    }
}

fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(pairs).map_err(|e| {
        let name = e.path().iter().next().map(ToString::to_string);
        match name {
            Some(name) => ApiError::bad_request(format!("invalid query parameter `{name}`: {}", e.inner())),
            // Not about one parameter (e.g. a parameter sent twice): serde's message says which.
            None => ApiError::bad_request(format!("invalid query parameters: {}", e.inner())),
        }
    })
}

/// The `{id}` segment of the path: a 64-bit integer.
pub struct PathId(pub i64);

impl FromRequest for PathId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(segments(req).and_then(|IdSegment { id: raw }| {
            raw.parse().map(Self).map_err(|_| {
                ApiError::bad_request(format!("invalid path parameter `id`: {raw:?} is not a 64-bit integer"))
                    .into()
            })
        }))
    }
}

/// The `{slug}` segment of the path, parsed as a tenant slug.
pub struct PathSlug(pub Slug);

impl FromRequest for PathSlug {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(segments(req).and_then(|SlugSegment { slug: raw }| {
            Slug::parse(&raw)
                .map(Self)
                .map_err(|e| ApiError::bad_request(format!("invalid path parameter `slug`: {e}")).into())
        }))
    }
}

#[derive(Deserialize)]
struct IdSegment {
    id: String,
}

#[derive(Deserialize)]
struct SlugSegment {
    slug: String,
}

/// The matched route's segments, percent-decoded by actix exactly as `web::Path` would. A
/// route whose pattern lacks the segment fails (through the `PathConfig` error handler) on its
/// first request: a programming error.
fn segments<S: DeserializeOwned + 'static>(req: &HttpRequest) -> Result<S, actix_web::Error> {
    web::Path::<S>::extract(req).into_inner().map(web::Path::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Page {
        limit: Option<i64>,
    }

    fn detail(e: ApiError) -> String {
        e.to_string()
    }

    #[test]
    fn a_bad_query_value_names_its_parameter() {
        let e = parse_query::<Page>("limit=abc").map(|p| p.limit).map_err(detail);
        assert!(e.as_ref().is_err_and(|d| d.contains("`limit`")), "{e:?}");
    }

    #[test]
    fn a_parameter_sent_twice_is_refused() {
        let e = parse_query::<Page>("limit=1&limit=2").map(|p| p.limit).map_err(detail);
        assert!(e.as_ref().is_err_and(|d| d.contains("duplicate field `limit`")), "{e:?}");
    }
}
