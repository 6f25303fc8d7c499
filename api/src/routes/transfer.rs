//! Control plane: a tenant's export (`GET /tenants/{slug}/export`) and an archive's import
//! (`POST /tenants/import`). The archive format is docs/EXPORT-FORMAT.md.

use std::io::Write;

use actix_web::body::SizedStream;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tenantry_service::tenants::{self, NewTenant, Slug};
use tenantry_service::transfer::{self, ImportTarget};
use tenantry_service::values::Name;
use tokio::io::AsyncReadExt;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::HeadRequest;
use super::keys::KeyBody;
use super::params::{PathSlug, Query};
use super::tenants::{SlugParam, TenantBody};
use crate::ApiError;
use crate::actor::RequestActor;
use crate::error::Problem;
use crate::startup::AppState;

/// Media type of a tenant archive: a plain tar file.
const TAR: &str = "application/x-tar";
/// Bytes read from the archive file per chunk of the export's body.
const CHUNK: usize = 64 * 1024;

/// Where an import goes: exactly one of `slug` (a new tenant) and `into` (an existing, empty one).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// The slug of a new tenant to create from the archive (409 if taken).
    #[param(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    slug: Option<String>,
    /// The slug of an existing tenant whose tables are all empty, to load the archive into.
    #[param(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    into: Option<String>,
    /// The new tenant's display name (default: its slug); only with `slug`.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
}

/// A tenant restored from an archive.
#[derive(Debug, Serialize, ToSchema)]
struct ImportedBody {
    #[serde(flatten)]
    tenant: TenantBody,
    /// The new tenant's secret key (only when the import created the tenant; shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    /// The new key's record (only when the import created the tenant).
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<KeyBody>,
    /// Rows loaded, per table.
    rows: std::collections::BTreeMap<String, u64>,
}

/// Streams one archive of the tenant's data, taken in one consistent snapshot: a tar file with
/// `manifest.json` (format version, migration version, tables, row counts, SHA-256 per table)
/// and each table's rows in COPY text format. Audited.
#[utoipa::path(tag = "tenants", params(SlugParam), security(("admin_token" = [])), responses(
    (status = 200, body = String, content_type = "application/x-tar",
        description = "The archive (docs/EXPORT-FORMAT.md)",
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"<slug>.tar\"`"))),
    (status = 404, body = Problem, description = "No such tenant"),
    (status = 409, body = Problem, description = "The tenant's schema is missing, or its tables are not those its migration version creates (an archive of them would not restore)"),
))]
#[get("/{slug}/export")]
async fn export_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: RequestActor,
    slug: PathSlug,
) -> Result<HttpResponse, ApiError> {
    let disposition = format!("attachment; filename=\"{}.tar\"", slug.0);
    if req.extensions().contains::<HeadRequest>() {
        // HEAD: the headers an export would have, without taking (or auditing) one; its length
        // is not known without it.
        tenants::get(&state.db, &slug.0).await?;
        return Ok(HttpResponse::Ok()
            .content_type(TAR)
            .insert_header((header::CONTENT_DISPOSITION, disposition))
            .streaming(futures::stream::empty::<Result<web::Bytes, std::io::Error>>()));
    }
    let archive = transfer::export(&state.db, &actor.0, &slug.0).await?;
    let file = tokio::fs::File::from_std(archive.file);
    let body = futures::stream::unfold((file, vec![0u8; CHUNK]), |(mut file, mut buf)| async move {
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => Some((Ok(web::Bytes::copy_from_slice(&buf[..n])), (file, buf))),
            Err(e) => Some((Err(e), (file, buf))),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(TAR)
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .body(SizedStream::new(archive.len, body.boxed_local())))
}

/// Restores an archive from `GET /tenants/{slug}/export` as a new tenant (`?slug=`) or into an
/// existing empty one (`?into=`), in one transaction: the schema at the archive's migration
/// version, its rows with their ids (new rows get ids after the largest), migrated forward to
/// this server's version. Any failure leaves nothing. Audited.
#[utoipa::path(tag = "tenants", params(ImportQuery), security(("admin_token" = [])),
    request_body(content = String, content_type = "application/x-tar",
        description = "An archive from `GET /tenants/{slug}/export`"),
    responses(
    (status = 201, body = ImportedBody, description = "A new tenant, with its first API key",
        headers(("Location" = String, description = "The tenant's URL"))),
    (status = 200, body = ImportedBody, description = "Loaded into the existing empty tenant",
        headers(("Location" = String, description = "The tenant's URL"))),
    (status = 404, body = Problem, description = "`into` names no tenant"),
    (status = 409, body = Problem, description = "`slug` is taken, the `into` tenant is not empty, or the archive holds more rows than the tenant's quota allows"),
    (status = 413, body = Problem, description = "The archive is larger than `transfer.max_archive_bytes`"),
    (status = 422, body = Problem,
        description = "The archive is of a format version, or from a migration version, this server does not know"),
))]
#[post("/import")]
async fn import_tenant(
    state: web::Data<AppState>,
    actor: RequestActor,
    query: Query<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let target = target(query.0)?;
    let file = receive(body, state.max_archive_bytes).await?;
    let into = matches!(target, ImportTarget::Into(_));
    let imported = transfer::import(&state.db, &state.registry, &actor.0, target, file).await?;
    let rows = imported.manifest.tables.iter().map(|t| (t.name.clone(), t.rows)).collect();
    let location = format!("/tenants/{}", imported.tenant.slug);
    let body = ImportedBody {
        api_key: imported.key.as_ref().map(|k| k.secret.clone()),
        key: imported.key.map(|k| k.record.into()),
        tenant: imported.tenant.into(),
        rows,
    };
    let status = if into { StatusCode::OK } else { StatusCode::CREATED };
    Ok(HttpResponse::build(status).insert_header((header::LOCATION, location)).json(body))
}

fn target(query: ImportQuery) -> Result<ImportTarget, ApiError> {
    match (query.slug, query.into, query.name) {
        (Some(slug), None, name) => {
            let slug = Slug::parse(&slug)?;
            let name = Name::parse("name", name.unwrap_or_else(|| slug.as_str().to_owned()))?;
            Ok(ImportTarget::New(NewTenant { slug, name }))
        }
        (None, Some(into), None) => Ok(ImportTarget::Into(Slug::parse(&into)?)),
        (None, Some(_), Some(_)) => Err(ApiError::bad_request("`name` goes with `slug`, not with `into`")),
        _ => Err(ApiError::bad_request("give exactly one of the query parameters `slug` and `into`")),
    }
}

/// Spools the request body to a temp file, refusing it (413) once it passes `limit` bytes.
async fn receive(mut body: web::Payload, limit: u64) -> Result<std::fs::File, ApiError> {
    let unexpected = |e: std::io::Error| {
        ApiError::from(tenantry_service::ServiceError::Unexpected(format!("spooling an archive: {e}")))
    };
    let mut file = tempfile::tempfile().map_err(unexpected)?;
    let mut received = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("the request body could not be read: {e}")))?;
        received += chunk.len() as u64;
        if received > limit {
            return Err(ApiError::Rejected(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the archive is larger than {limit} bytes (transfer.max_archive_bytes)"),
            ));
        }
        file.write_all(&chunk).map_err(unexpected)?;
    }
    std::io::Seek::rewind(&mut file).map_err(unexpected)?;
    Ok(file)
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(import_tenant).service(export_tenant);
}
