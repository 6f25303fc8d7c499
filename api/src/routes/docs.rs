//! `GET /docs`: Swagger UI over `/openapi.json`, public like the document, served entirely
//! from the binary (utoipa-swagger-ui's `vendored` assets), so it renders on a machine that
//! reaches no other host. The online validator badge is off for the same reason.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, get, web};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::Config;

use crate::ApiError;

/// Swagger UI's page refers to its assets relatively (`./swagger-ui.css`); a base makes them
/// resolve under `/docs/` although the page itself is `/docs`.
const BASE: &str = "<head>\n    <base href=\"/docs/\">";

fn config() -> Arc<Config<'static>> {
    Arc::new(Config::new(["/openapi.json"]).validator_url("none"))
}

/// The interactive API page.
#[utoipa::path(tag = "meta", responses(
    (status = 200, description = "Swagger UI for this API", content_type = "text/html; charset=utf-8"),
))]
#[get("/docs")]
async fn docs() -> Result<HttpResponse, ApiError> {
    let page = asset("index.html")?;
    let html = String::from_utf8_lossy(&page.0).replacen("<head>", BASE, 1);
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}

/// One of the page's assets (scripts, styles, icons).
#[utoipa::path(tag = "meta", params(("file" = String, Path, description = "An asset's file name")), responses(
    (status = 200, description = "The asset", content(
        ("text/javascript"), ("text/css"), ("text/html"), ("image/png"),
    )),
    (status = 404, description = "No such asset", body = crate::Problem),
))]
#[get("/docs/{file}")]
async fn docs_asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (bytes, content_type) = asset(&file)?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(CacheControl(vec![CacheDirective::Public, CacheDirective::MaxAge(3600)]))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes))
}

/// The bytes and media type of `file` (`index.html` is the page).
fn asset(file: &str) -> Result<(Vec<u8>, String), ApiError> {
    let not_found = || ApiError::Rejected(StatusCode::NOT_FOUND, format!("no docs asset {file:?}"));
    let found = utoipa_swagger_ui::serve(file, config()).map_err(|e| {
        ApiError::from(tenantry_service::ServiceError::Unexpected(format!("docs asset {file}: {e}")))
    })?;
    let found = found.ok_or_else(not_found)?;
    // Without the `gzip` feature nothing is stored compressed; this says so if that changes.
    if found.gzpipped {
        return Err(
            tenantry_service::ServiceError::Unexpected(format!("docs asset {file} is gzipped")).into()
        );
    }
    Ok((found.bytes.into_owned(), found.content_type))
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(docs).service(docs_asset);
}
