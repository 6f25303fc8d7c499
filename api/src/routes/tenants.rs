//! Control plane: `/tenants`.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use tenantry_service::entity::tenant::{self, State};
use tenantry_service::tenants::{self, NewTenant, Slug};
use tenantry_service::values::Name;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::keys::KeyBody;
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

/// Changes to a tenant; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateTenant {
    /// New display name.
    name: Option<String>,
    /// `suspended` refuses the tenant's data-plane requests (403) and keeps its data;
    /// `active` serves them again.
    state: Option<StateBody>,
}

/// A tenant's lifecycle state.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum StateBody {
    Active,
    Suspended,
}

impl From<StateBody> for State {
    fn from(s: StateBody) -> Self {
        match s {
            StateBody::Active => State::Active,
            StateBody::Suspended => State::Suspended,
        }
    }
}

impl From<State> for StateBody {
    fn from(s: State) -> Self {
        match s {
            State::Active => StateBody::Active,
            State::Suspended => StateBody::Suspended,
        }
    }
}

/// A tenant just provisioned, with its first API key (shown only this once).
#[derive(Debug, Serialize, ToSchema)]
struct ProvisionedBody {
    #[serde(flatten)]
    tenant: TenantBody,
    /// The secret key: send it as `Authorization: Bearer <api_key>`. Not shown again.
    api_key: String,
    /// The key's record, as key listings show it.
    key: KeyBody,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
struct TenantBody {
    slug: String,
    /// The tenant's PostgreSQL schema.
    schema: String,
    name: String,
    state: StateBody,
    /// The newest tenant migration applied.
    version: Option<String>,
    created_at: DateTime<FixedOffset>,
    updated_at: DateTime<FixedOffset>,
}

impl From<tenant::Model> for TenantBody {
    fn from(m: tenant::Model) -> Self {
        Self {
            slug: m.slug,
            schema: m.schema_name,
            name: m.name,
            state: m.state.into(),
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Provisions a tenant: registry row, first API key, schema and tables in one transaction.
#[utoipa::path(tag = "tenants", request_body = CreateTenant, security(("admin_token" = [])), responses(
    (status = 201, body = ProvisionedBody),
    (status = 400, body = Problem, description = "Invalid slug or name"),
    (status = 401, body = Problem),
    (status = 409, body = Problem, description = "The slug is taken"),
))]
#[post("")]
async fn create_tenant(
    state: web::Data<AppState>,
    body: web::Json<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewTenant { slug: Slug::parse(&body.slug)?, name: Name::parse("name", body.name)? };
    let provisioned = tenants::provision(&state.db, &state.registry, new).await?;
    let body = ProvisionedBody {
        api_key: provisioned.key.secret,
        key: provisioned.key.record.into(),
        tenant: provisioned.tenant.into(),
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/tenants/{}", body.tenant.slug)))
        .json(body))
}

/// Renames, suspends or reactivates a tenant.
#[utoipa::path(tag = "tenants", params(("slug" = String, Path)), request_body = UpdateTenant,
    security(("admin_token" = [])), responses(
    (status = 200, body = TenantBody), (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 404, body = Problem),
))]
#[patch("/{slug}")]
async fn update_tenant(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: web::Json<UpdateTenant>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = body.name.map(|n| Name::parse("name", n)).transpose()?;
    let state_change = body.state.map(State::from);
    let tenant =
        tenants::update(&state.db, &state.registry, &Slug::parse(&slug)?, name, state_change).await?;
    Ok(HttpResponse::Ok().json(TenantBody::from(tenant)))
}

/// Lists tenants in slug order.
#[utoipa::path(tag = "tenants", params(PageQuery), security(("admin_token" = [])), responses(
    (status = 200, body = Paged<TenantBody>),
    (status = 400, body = Problem),
))]
#[get("")]
async fn list_tenants(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = tenants::list(&state.db, query.request()?).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, TenantBody::from)))
}

/// One tenant.
#[utoipa::path(tag = "tenants", params(("slug" = String, Path)), security(("admin_token" = [])), responses(
    (status = 200, body = TenantBody),
    (status = 404, body = Problem),
))]
#[get("/{slug}")]
async fn get_tenant(state: web::Data<AppState>, slug: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let tenant = tenants::get(&state.db, &Slug::parse(&slug)?).await?;
    Ok(HttpResponse::Ok().json(TenantBody::from(tenant)))
}

/// Deletes a tenant with all its data (drops its schema).
#[utoipa::path(tag = "tenants", params(("slug" = String, Path)), security(("admin_token" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = Problem),
))]
#[delete("/{slug}")]
async fn delete_tenant(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tenants::delete(&state.db, &state.registry, &state.keyring, &Slug::parse(&slug)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_tenant)
        .service(list_tenants)
        .service(get_tenant)
        .service(update_tenant)
        .service(delete_tenant);
}
