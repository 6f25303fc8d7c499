//! Control plane: a tenant's API keys, `/tenants/{slug}/keys`.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use tenantry_service::entity::api_key;
use tenantry_service::keys;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::paging::{PageQuery, Paged};
use super::params::{PathId, PathSlug, Query};
use super::tenants::SlugParam;
use crate::ApiError;
use crate::actor::RequestActor;
use crate::error::Problem;
use crate::startup::AppState;

/// An API key's record; never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct KeyBody {
    id: i64,
    /// The key's first characters, to recognise it.
    #[schema(example = "tnt_3q2Zk9aB")]
    prefix: String,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    created_at: DateTime<FixedOffset>,
    /// When it was revoked; a revoked key opens nothing.
    #[serde(serialize_with = "crate::timestamp::rfc3339_opt")]
    revoked_at: Option<DateTime<FixedOffset>>,
}

impl From<api_key::Model> for KeyBody {
    fn from(m: api_key::Model) -> Self {
        Self { id: m.id, prefix: m.prefix, created_at: m.created_at, revoked_at: m.revoked_at }
    }
}

/// A key just issued, with its secret (shown only this once).
#[derive(Debug, Serialize, ToSchema)]
struct IssuedKeyBody {
    #[serde(flatten)]
    key: KeyBody,
    /// The secret key: send it as `Authorization: Bearer <api_key>`. Not shown again.
    api_key: String,
}

/// Issues another API key for the tenant.
#[utoipa::path(tag = "tenants", params(SlugParam), security(("admin_token" = [])), responses(
    (status = 201, body = IssuedKeyBody, description = "Issued", headers(("Location" = String, description = "The key's URL"))),
    (status = 404, body = Problem, description = "No such tenant"),
))]
#[post("/{slug}/keys")]
async fn create_key(
    state: web::Data<AppState>,
    actor: RequestActor,
    slug: PathSlug,
) -> Result<HttpResponse, ApiError> {
    let slug = slug.0;
    let issued = keys::issue(&state.db, &actor.0, &slug).await?;
    let body = IssuedKeyBody { key: issued.record.into(), api_key: issued.secret };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/tenants/{slug}/keys/{}", body.key.id)))
        .json(body))
}

/// Lists the tenant's keys, newest first (records only, never secrets).
#[utoipa::path(tag = "tenants", params(SlugParam, PageQuery), security(("admin_token" = [])), responses(
    (status = 200, body = Paged<KeyBody>, description = "A page of the tenant's keys"),
    (status = 404, body = Problem, description = "No such tenant"),
))]
#[get("/{slug}/keys")]
async fn list_keys(
    state: web::Data<AppState>,
    slug: PathSlug,
    page: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let keys = keys::list(&state.db, &slug.0, page.0.request()?).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(keys, KeyBody::from)))
}

/// Revokes a key at once.
#[utoipa::path(tag = "tenants", params(SlugParam, ("id" = i64, Path)), security(("admin_token" = [])), responses(
    (status = 204, description = "Revoked"),
    (status = 404, body = Problem, description = "No such tenant, or no such key of it"),
))]
#[delete("/{slug}/keys/{id}")]
async fn revoke_key(
    state: web::Data<AppState>,
    actor: RequestActor,
    slug: PathSlug,
    id: PathId,
) -> Result<HttpResponse, ApiError> {
    keys::revoke(&state.db, &state.keyring, &actor.0, &slug.0, id.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_key).service(list_keys).service(revoke_key);
}
