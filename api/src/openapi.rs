//! The OpenAPI document's fixed parts; paths and schemas are collected from the routes.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Title, description and tags of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerSchemes),
    info(
        title = "Tenantry",
        description = "Multi-tenant products and orders: one PostgreSQL schema per tenant. \
                       The control plane (/tenants) takes the admin token; the data plane \
                       (/products, /orders) takes a tenant's API key, which determines the tenant."
    ),
    tags(
        (name = "tenants", description = "Control plane: provisioning and deleting tenants"),
        (name = "products", description = "A tenant's products"),
        (name = "orders", description = "A tenant's orders"),
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
