//! The OpenAPI document's fixed parts; paths and schemas are collected from the routes.

use utoipa::OpenApi;

/// Title, description and tags of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tenantry",
        description = "Multi-tenant products and orders: one PostgreSQL schema per tenant. \
                       Data-plane requests name their tenant in the X-Tenant header (configurable)."
    ),
    tags(
        (name = "tenants", description = "Control plane: provisioning and deleting tenants"),
        (name = "products", description = "A tenant's products"),
        (name = "orders", description = "A tenant's orders"),
        (name = "meta", description = "Health, readiness and this document"),
    )
)]
pub struct ApiDoc;
