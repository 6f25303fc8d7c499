//! Control plane: `/tenants`.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use tenantry_service::cluster;
use tenantry_service::entity::tenant::{self, State};
use tenantry_service::tenants::{self, NewTenant, Slug, TenantChange};
use tenantry_service::values::Name;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::body::JsonBody;
use super::cluster::PlacementBody;
use super::fields::{not_null, present};
use super::keys::KeyBody;
use super::limits::{self, LimitsBody, LimitsChangeBody};
use super::paging::{PageQuery, Paged};
use super::params::{PathSlug, Query};
use crate::ApiError;
use crate::actor::RequestActor;
use crate::error::Problem;
use crate::startup::AppState;

/// A tenant to provision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    /// `[a-z][a-z0-9_]{0,39}`, not a reserved name (its schema is named from the tenant's id).
    #[schema(example = "acme", pattern = "^[a-z][a-z0-9_]{0,39}$")]
    slug: String,
    /// Display name, 1 to 200 characters, not blank, one line.
    #[schema(
        example = "Acme Ltd",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
}

/// Changes to a tenant; absent fields stay as they are, and `null` is refused (400).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateTenant {
    /// New slug, as for provisioning: keys keep working, the old slug then names nothing.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, example = "acme2", pattern = "^[a-z][a-z0-9_]{0,39}$")]
    slug: Option<Option<String>>,
    /// New display name, 1 to 200 characters, not blank, one line.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$")]
    name: Option<Option<String>>,
    /// `suspended` refuses the tenant's data-plane requests (403) and keeps its data;
    /// `active` serves them again.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = StateBody)]
    state: Option<Option<StateBody>>,
    /// Limits and quotas: each number sets one, `null` clears it back to the default in
    /// settings; `"limits": null` clears them all. A new rate applies to this instance's next
    /// request, and to other instances' within `tenancy.cache_ttl_secs`.
    #[serde(default, deserialize_with = "limits::deserialize_change")]
    #[schema(value_type = Option<LimitsChangeBody>)]
    limits: Option<Option<LimitsChangeBody>>,
}

/// `{slug}`: the tenant, as [`PathSlug`] reads it.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "only documents the segment; PathSlug reads it")]
pub(super) struct SlugParam {
    /// The tenant's slug.
    #[param(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    slug: String,
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
pub(super) struct TenantBody {
    slug: String,
    /// The tenant's PostgreSQL schema.
    schema: String,
    name: String,
    state: StateBody,
    /// The newest tenant migration applied.
    version: Option<String>,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    created_at: DateTime<FixedOffset>,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    updated_at: DateTime<FixedOffset>,
    /// Its own limits and quotas; `null` values are the defaults in settings.
    limits: LimitsBody,
}

impl From<tenant::Model> for TenantBody {
    fn from(m: tenant::Model) -> Self {
        Self {
            limits: LimitsBody::from(&m),
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
    (status = 201, body = ProvisionedBody, description = "Provisioned", headers(("Location" = String, description = "The tenant's URL"))),
    (status = 409, body = Problem, description = "The slug is taken"),
))]
#[post("")]
async fn create_tenant(
    state: web::Data<AppState>,
    actor: RequestActor,
    body: JsonBody<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let new = NewTenant { slug: Slug::parse(&body.slug)?, name: Name::parse("name", body.name)? };
    let provisioned = tenants::provision(&state.db, &state.registry, &actor.0, new).await?;
    let body = ProvisionedBody {
        api_key: provisioned.key.secret,
        key: provisioned.key.record.into(),
        tenant: provisioned.tenant.into(),
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/tenants/{}", body.tenant.slug)))
        .json(body))
}

/// Changes a tenant's slug, display name or limits and quotas, suspends or reactivates it.
#[utoipa::path(tag = "tenants", params(SlugParam), request_body = UpdateTenant,
    security(("admin_token" = [])), responses(
    (status = 200, body = TenantBody, description = "The tenant as changed"),
    (status = 404, body = Problem, description = "No such tenant"),
    (status = 409, body = Problem, description = "The new slug is taken"),
))]
#[patch("/{slug}")]
async fn update_tenant(
    state: web::Data<AppState>,
    actor: RequestActor,
    slug: PathSlug,
    body: JsonBody<UpdateTenant>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let change = TenantChange {
        slug: not_null("slug", body.slug)?.map(|s| Slug::parse(&s)).transpose()?,
        name: not_null("name", body.name)?.map(|n| Name::parse("name", n)).transpose()?,
        state: not_null("state", body.state)?.map(State::from),
        limits: limits::change(body.limits)?,
    };
    let tenant = tenants::update(&state.db, &state.registry, &actor.0, &slug.0, change).await?;
    Ok(HttpResponse::Ok().json(TenantBody::from(tenant)))
}

/// Lists tenants in slug order.
#[utoipa::path(tag = "tenants", params(PageQuery), security(("admin_token" = [])), responses(
    (status = 200, body = Paged<TenantBody>, description = "A page of tenants"),
))]
#[get("")]
async fn list_tenants(state: web::Data<AppState>, query: Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let page = tenants::list(&state.db, query.0.request()?).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, TenantBody::from)))
}

/// A tenant with where its tables live.
#[derive(Debug, Serialize, ToSchema)]
struct TenantDetailBody {
    #[serde(flatten)]
    tenant: TenantBody,
    /// The node holding the tenant's tables on a Citus cluster; null on plain Postgres.
    placement: Option<PlacementBody>,
}

/// One tenant, with its placement on a Citus cluster.
#[utoipa::path(tag = "tenants", params(SlugParam), security(("admin_token" = [])), responses(
    (status = 200, body = TenantDetailBody, description = "The tenant, with its placement"),
    (status = 404, body = Problem, description = "No such tenant"),
))]
#[get("/{slug}")]
async fn get_tenant(state: web::Data<AppState>, slug: PathSlug) -> Result<HttpResponse, ApiError> {
    let (tenant, placement) = cluster::placement(&state.db, &slug.0).await?;
    Ok(HttpResponse::Ok()
        .json(TenantDetailBody { tenant: tenant.into(), placement: placement.map(Into::into) }))
}

/// Deletes a tenant with all its data (drops its schema).
#[utoipa::path(tag = "tenants", params(SlugParam), security(("admin_token" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = Problem, description = "No such tenant"),
))]
#[delete("/{slug}")]
async fn delete_tenant(
    state: web::Data<AppState>,
    actor: RequestActor,
    slug: PathSlug,
) -> Result<HttpResponse, ApiError> {
    tenants::delete(&state.db, &state.registry, &state.keyring, &actor.0, &slug.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_tenant)
        .service(list_tenants)
        .service(get_tenant)
        .service(update_tenant)
        .service(delete_tenant);
}
