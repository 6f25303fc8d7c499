//! Control plane: `/tenants`.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use tenantry_service::entity::tenant::{self, State};
use tenantry_service::tenants::{self, NewTenant, Slug};
use tenantry_service::values::Name;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::paging::{PageQuery, Paged};
use crate::ApiError;
use crate::error::Problem;
use crate::startup::AppState;

/// A tenant to provision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    /// `[a-z][a-z0-9_]{0,39}`; the schema is `tenant_<slug>`.
    #[schema(example = "acme")]
    slug: String,
    /// Display name, 1 to 200 characters.
    #[schema(example = "Acme Ltd")]
    name: String,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
struct TenantBody {
    slug: String,
    /// The tenant's PostgreSQL schema.
    schema: String,
    name: String,
    /// `active` or `suspended`.
    state: &'static str,
    /// The newest tenant migration applied.
    version: Option<String>,
    created_at: DateTime<FixedOffset>,
    updated_at: DateTime<FixedOffset>,
}

impl From<tenant::Model> for TenantBody {
    fn from(m: tenant::Model) -> Self {
        let state = match m.state {
            State::Active => "active",
            State::Suspended => "suspended",
        };
        Self {
            slug: m.slug,
            schema: m.schema_name,
            name: m.name,
            state,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Provisions a tenant: registry row, schema and tables in one transaction.
#[utoipa::path(tag = "tenants", request_body = CreateTenant, responses(
    (status = 201, body = TenantBody),
    (status = 400, body = Problem, description = "Invalid slug or name"),
    (status = 409, body = Problem, description = "The slug is taken"),
))]
#[post("/tenants")]
async fn create_tenant(
    state: web::Data<AppState>,
    body: web::Json<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewTenant { slug: Slug::parse(&body.slug)?, name: Name::parse("name", body.name)? };
    let tenant = tenants::provision(&state.db, &state.registry, new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/tenants/{}", tenant.slug)))
        .json(TenantBody::from(tenant)))
}

/// Lists tenants in slug order.
#[utoipa::path(tag = "tenants", params(PageQuery), responses(
    (status = 200, body = Paged<TenantBody>),
    (status = 400, body = Problem),
))]
#[get("/tenants")]
async fn list_tenants(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = tenants::list(&state.db, query.request()?).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, TenantBody::from)))
}

/// One tenant.
#[utoipa::path(tag = "tenants", params(("slug" = String, Path)), responses(
    (status = 200, body = TenantBody),
    (status = 404, body = Problem),
))]
#[get("/tenants/{slug}")]
async fn get_tenant(state: web::Data<AppState>, slug: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let tenant = tenants::get(&state.db, &Slug::parse(&slug)?).await?;
    Ok(HttpResponse::Ok().json(TenantBody::from(tenant)))
}

/// Deletes a tenant with all its data (drops its schema).
#[utoipa::path(tag = "tenants", params(("slug" = String, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = Problem),
))]
#[delete("/tenants/{slug}")]
async fn delete_tenant(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tenants::delete(&state.db, &state.registry, &Slug::parse(&slug)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_tenant).service(list_tenants).service(get_tenant).service(delete_tenant);
}
