//! Every route, one module per area, registered through utoipa-actix-web.

mod amount;
mod audit;
mod body;
mod cluster;
mod docs;
mod fields;
mod health;
mod keys;
mod limit_value;
mod limits;
mod metrics;
mod orders;
mod paging;
mod params;
mod products;
mod table;
mod tenants;
mod transfer;
mod usage;

use actix_web::middleware::from_fn;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub use table::{HeadRequest, RouteTable, check_query, head_as_get, no_route};

use crate::extract::require_admin;

/// Registers every route.
pub fn configure(cfg: &mut ServiceConfig) {
    health::configure(cfg);
    docs::configure(cfg);
    // The control plane: every route under /tenants, /cluster, /audit and /usage requires the
    // admin token.
    cfg.service(
        scope("/tenants")
            .wrap(from_fn(require_admin))
            // Before `tenants`: `POST /tenants/import` must not meet `/tenants/{slug}` first.
            .configure(transfer::configure)
            .configure(tenants::configure)
            .configure(keys::configure)
            .configure(cluster::configure_tenant_routes)
            .configure(usage::configure_tenant_routes),
    );
    cfg.service(scope("/cluster").wrap(from_fn(require_admin)).configure(cluster::configure));
    cfg.service(scope("/audit").wrap(from_fn(require_admin)).configure(audit::configure));
    cfg.service(scope("/usage").wrap(from_fn(require_admin)).configure(usage::configure));
    metrics::configure(cfg);
    products::configure(cfg);
    orders::configure(cfg);
}
