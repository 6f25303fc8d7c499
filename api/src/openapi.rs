//! The OpenAPI document: its fixed parts ([`ApiDoc`]), the paths and schemas collected from the
//! routes, and [`apply_rules`], which adds what every route of a kind can answer.
//!
//! Each route documents only what is its own (its success, a 404, a 409...). The statuses that
//! follow from what a route *is* are added here, once, as shared responses under
//! `components/responses`, so no route can leave one out:
//! - every route: 400 (a query parameter it does not take, a bad parameter or body value, a NUL
//!   byte in a text value, a query parameter that is not UTF-8), 431 (headers too large:
//!   answered by actix-http's parser, before any of our code runs, so without a body) and 500
//!   (generic body; the cause is logged);
//! - the control plane (`admin_token`): 401 and 503 (database unreachable, statement timeout;
//!   with `Retry-After`);
//! - the data plane (`api_key`): 401, 403 (suspended tenant, or a tenant header naming another
//!   tenant), 429 (the tenant's rate or concurrency limit; with `Retry-After`), 503, and the
//!   optional tenant header as a parameter;
//! - a route with a JSON body: 413 and 415 (a route with another body, such as the archive
//!   `POST /tenants/import` takes, documents its own 413 and takes any media type).
//!
//! Every operation also takes an optional `X-Request-Id`, and every answer carries one (see
//! `request_log`): it is added here too.
//!
//! A route that lists one of these statuses itself (as `/ready` lists 503) gets the shared one.
//! Every error is `application/problem+json` with the `Problem` schema.

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Object, ObjectBuilder, Ref, RefOr, Required, Response, Type};
use utoipa::{Modify, OpenApi};

use crate::error::Problem;
use crate::startup::MAX_BODY_BYTES;

/// Media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Title, description and tags of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerSchemes),
    components(schemas(Problem)),
    info(
        title = "Tenantry",
        description = "Multi-tenant products and orders: one PostgreSQL schema per tenant. \
                       The control plane (/tenants, /audit) takes the admin token; the data plane \
                       (/products, /orders) takes a tenant's API key, which determines the tenant. \
                       A route refuses query parameters it does not list (400), as it refuses \
                       unknown fields in a JSON body."
    ),
    tags(
        (name = "tenants", description = "Control plane: provisioning and deleting tenants"),
        (name = "cluster", description = "Control plane: tenants' placement on a Citus cluster"),
        (name = "products", description = "A tenant's products"),
        (name = "orders", description = "A tenant's orders"),
        (name = "audit", description = "Control plane: the tamper-evident log of control-plane changes"),
        (name = "meta", description = "Health, readiness and this document"),
    )
)]
pub struct ApiDoc;

/// Declares the two bearer schemes routes refer to.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in
            [("admin_token", "The control plane's admin token"), ("api_key", "A tenant's API key")]
        {
            let mut scheme = Http::new(HttpAuthScheme::Bearer);
            scheme.description = Some(what.to_owned());
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// The shared responses: status, component name, description.
const SHARED: [(u16, &str, &str); 9] = [
    (
        400,
        "BadRequest",
        "Bad input: a query parameter this route does not take, a parameter or body value that \
         does not parse or breaks a rule, a NUL byte in a text value, a query parameter that is \
         not UTF-8 once percent-decoded, the tenant header sent more than once. The detail names it.",
    ),
    (
        401,
        "Unauthorized",
        "No credentials, or not the ones this route takes (`WWW-Authenticate` says which scheme)",
    ),
    (
        403,
        "Forbidden",
        "The tenant is suspended, or the tenant header names another tenant than the API key's",
    ),
    (413, "PayloadTooLarge", "The body is larger than 64 KiB"),
    (
        429,
        "TooManyRequests",
        "The tenant is over its `requests_per_second` rate or at its `max_concurrent_requests` \
         on this instance; the detail names the limit and its value. Retry after `Retry-After` \
         seconds",
    ),
    (
        431,
        "HeadersTooLarge",
        "The request head (request line and headers) is larger than 128 KiB, or has more than 96 \
         headers. The HTTP layer answers this before the request reaches Tenantry, with an empty \
         body and no request id, and closes the connection",
    ),
    (
        415,
        "UnsupportedMediaType",
        "The body is not `application/json`, or names a `charset` other than `utf-8` (the detail \
         names it): JSON bodies are read as UTF-8 only",
    ),
    (
        500,
        "InternalError",
        "Something failed on the server; the body says only that, and the cause is logged",
    ),
    (
        503,
        "Unavailable",
        "The database is not reachable, no database connection came free within the acquire \
         timeout, the statement ran past the statement timeout, or (data plane) the tenant's \
         schema is being migrated; retry after `Retry-After` seconds",
    ),
];

/// Adds the shared responses and the tenant header (named `tenant_header`, as configured) to
/// every operation by what it is, and makes every `Problem` answer `application/problem+json`.
pub fn apply_rules(doc: &mut utoipa::openapi::OpenApi, tenant_header: &str) {
    const _: () = assert!(MAX_BODY_BYTES == 64 * 1024, "the 413 description says 64 KiB");
    let components = doc.components.get_or_insert_with(Default::default);
    for (status, name, description) in SHARED {
        components.responses.insert(name.to_owned(), RefOr::T(shared_response(status, description)));
    }
    let api_key = SecurityRequirement::new("api_key", Vec::<String>::new());
    let admin_token = SecurityRequirement::new("admin_token", Vec::<String>::new());
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            let requires = |r: &SecurityRequirement| operation.security.iter().flatten().any(|s| s == r);
            let data_plane = requires(&api_key);
            let control_plane = requires(&admin_token);
            let mut statuses = vec![400, 431, 500];
            if data_plane || control_plane {
                statuses.extend([401, 503]);
            }
            if data_plane {
                statuses.extend([403, 429]);
                add_tenant_header(operation, tenant_header);
            }
            let json_body = operation
                .request_body
                .as_ref()
                .map(|body| matches!(body, RefOr::T(b) if b.content.contains_key("application/json")));
            if json_body == Some(true) {
                statuses.extend([413, 415]);
            }
            // A body of another kind has its own limit: its route describes its own 413.
            let own: &[u16] = if json_body == Some(false) { &[413, 415] } else { &[] };
            share_responses(operation, &statuses, own);
            add_request_id(operation);
        }
    }
}

fn shared_response(status: u16, description: &str) -> Response {
    let mut response = Response::new(description);
    if status == 431 {
        return response;
    }
    response.content.insert(PROBLEM_JSON.to_owned(), RefOr::T(problem_content()));
    let header = match status {
        401 => Some(("WWW-Authenticate", Type::String, "`Bearer realm=\"tenantry\"`")),
        429 | 503 => {
            Some(("Retry-After", Type::Integer, "Whole seconds to wait before retrying (at least 1)"))
        }
        _ => None,
    };
    if let Some((name, kind, description)) = header {
        let mut header = Header::new(Object::with_type(kind));
        header.description = Some(description.to_owned());
        mark_required(&mut header);
        response.headers.insert(name.to_owned(), RefOr::T(header));
    }
    add_request_id_header(&mut response);
    response
}

/// Documents the request id every answer carries.
fn add_request_id_header(response: &mut Response) {
    let mut header = Header::new(Object::with_type(Type::String));
    header.description = Some(
        "This request's id: the one sent, if sane, or a new one. Every log line about the request \
         carries it; error bodies carry it as `request_id`."
            .to_owned(),
    );
    mark_required(&mut header);
    response.headers.insert("X-Request-Id".to_owned(), RefOr::T(header));
}

/// Documents the optional request id an operation takes, and the one each own answer carries.
fn add_request_id(operation: &mut Operation) {
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            add_request_id_header(response);
        }
    }
    let header = ParameterBuilder::new()
        .name("X-Request-Id")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "An id for this request, echoed in the answer and in the server's log: at most 64 \
             characters of `A-Z a-z 0-9 . _ -`. Any other value is ignored and a new id is made \
             (never refused).",
        ))
        .schema(Some(Object::with_type(Type::String)))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(header));
}

fn problem_content() -> Content {
    Content::new(Some(Ref::from_schema_name("Problem")))
}

/// Points each of `statuses` at its shared response (also where the route listed it, unless
/// it is one of the route's `own`), and moves the route's own `Problem` answers to
/// `application/problem+json`. Every documented response header is one the server always sends.
fn share_responses(operation: &mut Operation, statuses: &[u16], own: &[u16]) {
    let responses = &mut operation.responses.responses;
    for (status, name, _) in SHARED {
        if own.contains(&status) {
            continue;
        }
        if statuses.contains(&status) || responses.contains_key(&status.to_string()) {
            responses.insert(status.to_string(), RefOr::Ref(Ref::from_response_name(name)));
        }
    }
    for response in responses.values_mut() {
        let RefOr::T(response) = response else { continue };
        let is_problem = response.content.get("application/json").is_some_and(|content| {
            matches!(content, RefOr::T(Content { schema: Some(RefOr::Ref(r)), .. })
                if r.ref_location == Ref::from_schema_name("Problem").ref_location)
        });
        if is_problem {
            response.content.shift_remove("application/json");
            response.content.insert(PROBLEM_JSON.to_owned(), RefOr::T(problem_content()));
        }
        for header in response.headers.values_mut() {
            if let RefOr::T(header) = header {
                mark_required(header);
            }
        }
    }
}

/// OpenAPI's Header Object has `required`; utoipa's type lacks the field, so it goes in as an
/// extension (which serializes flat, beside the other fields).
fn mark_required(header: &mut Header) {
    header.extensions.get_or_insert_with(Extensions::default).insert("required".to_owned(), true.into());
}

/// Documents the optional tenant header of a data-plane operation.
/// What the tenant header may hold: one value of visible ASCII (and spaces and tabs), no comma
/// ([`crate::extract`] refuses anything else with 400, before comparing it with the key's
/// tenant).
const TENANT_HEADER_PATTERN: &str = r"^[\t\x20-\x2b\x2d-\x7e]*$";

fn add_tenant_header(operation: &mut Operation, tenant_header: &str) {
    let header = ParameterBuilder::new()
        .name(tenant_header)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The tenant this request is for, by slug. Optional: the API key determines the \
             tenant, and a header naming another tenant is refused (403). ASCII, one value: a \
             comma (a list) or any other byte is refused (400).",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some(TENANT_HEADER_PATTERN))))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(header));
}
