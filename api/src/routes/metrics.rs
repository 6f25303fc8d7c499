//! `GET /metrics`: the Prometheus exposition, behind the admin token.
//!
//! Guarded rather than on a listener of its own: one port to expose and firewall, and the
//! same credential check (the control plane's middleware) as every operator route. The cost
//! is that the scraper holds the admin token (Prometheus: `authorization: {credentials_file:
//! ...}`); keep it in a secret, as for any operator.

use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, get, web};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::extract::require_admin;
use crate::startup::AppState;

/// The exposition's media type (Prometheus text format 0.0.4; documented as the same string).
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Metrics in the Prometheus text format: HTTP requests and latency by route pattern, method
/// and status class; database pools, statements, retries and 503s; cache hits, misses and
/// evictions; provisioning; per-tenant requests and errors for the busiest tenants
/// (`metrics.top_tenants`) and `other`.
#[utoipa::path(tag = "meta", security(("admin_token" = [])), responses(
    (status = 200, description = "The Prometheus text exposition", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
))]
#[get("")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let body = state.telemetry.render(&state.db);
    HttpResponse::Ok().insert_header((header::CONTENT_TYPE, EXPOSITION)).body(body)
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(scope("/metrics").wrap(from_fn(require_admin)).service(metrics));
}
