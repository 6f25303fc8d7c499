//! Every route, one module per area, registered through utoipa-actix-web.

mod health;
mod keys;
mod orders;
mod paging;
mod products;
mod tenants;

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::ApiError;
use crate::extract::require_admin;

/// Registers every route.
pub fn configure(cfg: &mut ServiceConfig) {
    health::configure(cfg);
    // The control plane: every route under /tenants requires the admin token.
    cfg.service(
        scope("/tenants")
            .wrap(from_fn(require_admin))
            .configure(tenants::configure)
            .configure(keys::configure),
    );
    products::configure(cfg);
    orders::configure(cfg);
}

/// Any request no route matched.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::Rejected(StatusCode::NOT_FOUND, format!("no route for {} {}", req.method(), req.path()))
        .error_response()
}
