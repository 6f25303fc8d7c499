//! Liveness, readiness and the OpenAPI document: public, no tenant.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::ApiError;
use crate::startup::AppState;

/// Liveness or readiness.
#[derive(Serialize, ToSchema)]
struct Status {
    /// `ok` or `ready`.
    status: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "meta", responses((status = 200, body = Status, description = "Up")))]
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// The database answers.
#[utoipa::path(tag = "meta", responses(
    (status = 200, body = Status, description = "Ready"),
    // Shaped by the document's shared 503 (see `openapi::apply_rules`).
    (status = 503, description = "The database is not reachable"),
))]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.ping().await.map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}

/// This API's OpenAPI 3 document.
#[utoipa::path(tag = "meta", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
async fn openapi(doc: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(doc.get_ref())
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health).service(ready).service(openapi);
}
