//! Liveness and readiness: public, no tenant.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use tenantry_service::{DatabaseConnection, db};

use crate::ApiError;

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// The process is up.
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// The database answers.
#[get("/ready")]
async fn ready(db: web::Data<DatabaseConnection>) -> Result<HttpResponse, ApiError> {
    db::ping(&db).await.map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health).service(ready);
}
