//! [`observe`]: the outermost middleware. It gives each request an id (the caller's
//! `X-Request-Id` if sane, else a new one), serves the request with that id attached to every
//! line logged meanwhile (the 5xx cause included, see `tenantry_config::logging`), answers it
//! in `X-Request-Id` (and error bodies carry it as `request_id`), counts the request in the
//! metrics and writes the request's one log line.
//!
//! The line (`log.requests = text`, target `tenantry::request`):
//! `GET /products/{id} 200 1.42ms tenant=acme bytes=87 request_id=1f3a9c0e-2a`: method, route
//! pattern (`-` when no route matched), status, latency, tenant slug (`-` when none), response
//! bytes (`-` when streamed). With `json`, the same fields as one JSON object per line (target
//! `tenantry::request::json`); with `off`, no line.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use futures::FutureExt;
use tenantry_config::{RequestLog, logging};
use tenantry_service::ServiceError;
use tenantry_service::tenants::Slug;

use crate::error::ApiError;

use crate::startup::AppState;
use crate::telemetry::Tenant;

/// The request id header, accepted and answered.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest accepted incoming request id.
pub const MAX_REQUEST_ID: usize = 64;

/// The target of the text request line.
pub const TEXT_TARGET: &str = "tenantry::request";

/// Ids made here: a random prefix per process, so two instances never make the same id, and a
/// counter, so making one costs an atomic add.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// See the module documentation.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = accepted_id(req.headers()).unwrap_or_else(new_id);
    // Every inner layer answers its errors itself (handlers, `check_query`, `require_admin`),
    // so they are logged inside this scope; an error that still escaped would be answered by
    // actix outside it, without the id. (The request cannot be kept aside to answer it here:
    // a clone taken before routing makes actix's router panic.)
    let served = AssertUnwindSafe(logging::in_request(Arc::clone(&id), next.call(req))).catch_unwind().await;
    let mut response = match served {
        Ok(response) => response?,
        Err(panic) => return Err(panicked(&id, panic.as_ref())),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    let Some(state) = response.request().app_data::<web::Data<AppState>>().cloned() else {
        return Ok(response);
    };
    let elapsed = started.elapsed();
    let req = response.request();
    let route = req.match_pattern();
    let route = route.as_deref().unwrap_or("-");
    let status = response.status().as_u16();
    let extensions = req.extensions();
    let served_for = extensions.get::<Tenant>();
    state.telemetry.record_request(route, req.method().as_str(), status, elapsed.as_secs_f64(), served_for);
    if state.telemetry.request_log == RequestLog::Off {
        drop(extensions);
        return Ok(response);
    }
    // A control-plane route names its tenant in the path; only a valid slug is logged.
    let tenant = served_for
        .map(|t| t.slug.as_str())
        .or_else(|| req.match_info().get("slug").filter(|s| Slug::parse(s).is_ok()));
    let bytes = match response.response().body().size() {
        BodySize::Sized(n) => Some(n),
        BodySize::None => Some(0),
        BodySize::Stream => None,
    };
    let line = Line {
        method: req.method().as_str(),
        route,
        status,
        latency_ms: elapsed.as_secs_f64() * 1000.0,
        tenant,
        bytes,
        request_id: &id,
    };
    line.log(state.telemetry.request_log);
    drop(extensions);
    Ok(response)
}

/// A request whose serving panicked (a bug, or a value the database holds that no Rust type
/// can take, such as a timestamp of `infinity` put there behind the service's back): logged
/// once with the request's id and what the panic said, and answered as every internal error
/// is (500, problem+json, the id in `X-Request-Id` and the body), not with a dropped
/// connection. The request line and the metrics are left out: the request is gone with the
/// panic.
fn panicked(id: &Arc<str>, panic: &(dyn std::any::Any + Send)) -> actix_web::Error {
    let said = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    let error = ApiError::Service(ServiceError::Unexpected(format!("serving the request panicked: {said}")));
    let mut response = logging::with_request_id(Arc::clone(id), || error.error_response());
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    actix_web::error::InternalError::from_response("serving the request panicked", response).into()
}

/// One request's line.
#[derive(serde::Serialize)]
struct Line<'a> {
    method: &'a str,
    route: &'a str,
    status: u16,
    latency_ms: f64,
    tenant: Option<&'a str>,
    bytes: Option<u64>,
    request_id: &'a str,
}

impl Line<'_> {
    fn log(&self, format: RequestLog) {
        match format {
            RequestLog::Off => {}
            RequestLog::Text => log::info!(
                target: TEXT_TARGET,
                "{} {} {} {:.2}ms tenant={} bytes={} request_id={}",
                self.method,
                self.route,
                self.status,
                self.latency_ms,
                self.tenant.unwrap_or("-"),
                OrDash(self.bytes),
                self.request_id,
            ),
            RequestLog::Json => match serde_json::to_string(self) {
                Ok(json) => log::info!(target: logging::JSON_TARGET, "{json}"),
                Err(e) => log::warn!("cannot write the request line as JSON: {e}"),
            },
        }
    }
}

/// A number, or `-` for none: written straight into the line, no string made for it.
struct OrDash(Option<u64>);

impl std::fmt::Display for OrDash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => n.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// The caller's request id, if it is 1 to 64 characters of `[A-Za-z0-9._-]`; otherwise it is
/// ignored (never refused: an id is for tracing, not a reason to fail a request).
fn accepted_id(headers: &HeaderMap) -> Option<Arc<str>> {
    let mut values = headers.get_all(X_REQUEST_ID);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let bytes = value.as_bytes();
    let sane = !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b));
    // Sane bytes are ASCII, so this conversion cannot fail.
    sane.then(|| value.to_str().ok().map(Arc::from)).flatten()
}

/// A new id: `<process prefix>-<counter>`, e.g. `1f3a9c0e-2a`.
fn new_id() -> Arc<str> {
    let prefix = PREFIX.get_or_init(|| {
        let mut random = [0u8; 4];
        // Without randomness, the start time still tells instances apart.
        if getrandom::fill(&mut random).is_err() {
            random = (std::process::id() ^ chrono::Utc::now().timestamp_subsec_nanos()).to_be_bytes();
        }
        random.iter().map(|b| format!("{b:02x}")).collect()
    });
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    Arc::from(format!("{prefix}-{n:x}"))
}
