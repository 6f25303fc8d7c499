//! What the OpenAPI document says each route takes, enforced: a query parameter the document
//! does not list for a route is refused (as unknown JSON fields are), a NUL byte or bytes that
//! are not UTF-8 in any query parameter are refused before they can reach SQL, and a known
//! path asked with a method it does not serve answers 405 with `Allow`. The table is built from the document itself, so the
//! server and its contract cannot disagree about either.

use std::collections::HashMap;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::{OpenApi, RefOr};

use crate::ApiError;

/// Each documented route pattern's methods, and the query parameters each method takes.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: HashMap<String, Vec<(Method, Vec<String>)>>,
}

impl RouteTable {
    /// The table of `doc`.
    pub fn from_doc(doc: &OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(pattern, item)| {
                let methods =
                    operations(item).map(|(method, operation)| (method, query_names(operation))).collect();
                (pattern.clone(), methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods served on `pattern`, in document order.
    fn methods(&self, pattern: &str) -> Option<&[(Method, Vec<String>)]> {
        self.routes.get(pattern).map(Vec::as_slice)
    }
}

fn operations(item: &PathItem) -> impl Iterator<Item = (Method, &Operation)> {
    [
        (Method::GET, &item.get),
        (Method::POST, &item.post),
        (Method::PUT, &item.put),
        (Method::PATCH, &item.patch),
        (Method::DELETE, &item.delete),
        (Method::HEAD, &item.head),
        (Method::OPTIONS, &item.options),
        (Method::TRACE, &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_ref().map(|operation| (method, operation)))
}

fn query_names(operation: &Operation) -> Vec<String> {
    operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|parameter| match parameter {
            RefOr::T(p) if p.parameter_in == ParameterIn::Query => Some(p.name.clone()),
            _ => None,
        })
        .collect()
}

/// Middleware for the whole application: refuses, with a 400 naming the parameter, a query
/// parameter whose name or value is not UTF-8 once percent-decoded (it would otherwise be read
/// with U+FFFD in place of the bad bytes, and `q=%ff` would search for that), one the route
/// does not take, and one whose name or value holds a NUL byte (Postgres cannot store NUL in
/// text, and would answer an error instead of a result).
pub async fn check_query(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !req.query_string().is_empty()
        && let Err(e) = allowed_query(req.request())
    {
        return Ok(req.error_response(e).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

fn allowed_query(req: &HttpRequest) -> Result<(), ApiError> {
    let table = req.app_data::<web::Data<RouteTable>>();
    let taken = req.match_pattern().and_then(|pattern| {
        let methods = table?.methods(&pattern)?;
        methods.iter().find(|(method, _)| method == req.method()).map(|(_, names)| names.as_slice())
    });
    // An unknown route or method is answered by `no_route`, whatever its query.
    let Some(taken) = taken else { return Ok(()) };
    utf8_query(req.query_string())?;
    for (name, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if name.contains('\0') {
            return Err(ApiError::bad_request(format!(
                "invalid query parameter {:?}: a name must not contain a NUL byte",
                name
            )));
        }
        if !taken.iter().any(|t| *t == name) {
            let expected = match taken {
                [] => "this route takes none".to_owned(),
                _ => format!("this route takes {}", taken.join(", ")),
            };
            return Err(ApiError::bad_request(format!("unknown query parameter `{name}`: {expected}")));
        }
        if value.contains('\0') {
            return Err(ApiError::bad_request(format!(
                "invalid query parameter `{name}`: it must not contain a NUL byte"
            )));
        }
    }
    Ok(())
}

/// Refuses a name or value that is not UTF-8 once percent-decoded. `form_urlencoded` decodes
/// lossily, so this reads the pairs as it splits them (`&`, then the first `=`); `+` is a
/// space there and cannot change whether the bytes are UTF-8.
fn utf8_query(query: &str) -> Result<(), ApiError> {
    let utf8 = |raw: &str| percent_encoding::percent_decode_str(raw).decode_utf8().is_ok();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !utf8(name) {
            return Err(ApiError::bad_request(format!(
                "invalid query parameter name {name:?}: it is not valid UTF-8 once percent-decoded"
            )));
        }
        if !utf8(value) {
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy().replace('+', " ");
            return Err(ApiError::bad_request(format!(
                "invalid query parameter `{name}`: its value is not valid UTF-8 once percent-decoded"
            )));
        }
    }
    Ok(())
}

/// Middleware for the whole application: HEAD is GET without the body (RFC 9110 asks both of a
/// general-purpose server). A HEAD request is routed as the GET it asks about; actix-http noted
/// the method when it parsed the request, so it sends the answer's headers only.
/// A route whose GET is costly or has effects (an export) asks for [`HeadRequest`] in the
/// request's extensions and answers the headers without doing the work.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
        req.extensions_mut().insert(HeadRequest);
    }
    next.call(req).await
}

/// Marks a request that came as HEAD and is routed as GET (see [`head_as_get`]).
#[derive(Clone, Copy, Debug)]
pub struct HeadRequest;

/// Any request no route matched: 405 with `Allow` if the path is served with other methods
/// (HEAD wherever GET is), 404 otherwise.
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    let table = req.app_data::<web::Data<RouteTable>>();
    let allowed: Vec<&str> = req
        .match_pattern()
        .and_then(|pattern| table?.methods(&pattern))
        .map(|methods| {
            let mut allowed: Vec<&str> = methods.iter().map(|(method, _)| method.as_str()).collect();
            if methods.iter().any(|(method, _)| method == Method::GET) {
                allowed.push(Method::HEAD.as_str());
            }
            allowed
        })
        .unwrap_or_default();
    if allowed.is_empty() {
        return ApiError::Rejected(
            StatusCode::NOT_FOUND,
            format!("no route for {} {}", req.method(), req.path()),
        )
        .error_response();
    }
    let allow = allowed.join(", ");
    let mut response = ApiError::Rejected(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not served on {}; allowed: {allow}", req.method(), req.path()),
    )
    .error_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
