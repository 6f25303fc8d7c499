//! Data plane: `/products` of the request's tenant.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, FixedOffset};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tenantry_service::entity::product;
use tenantry_service::limits::quota::RowQuota;
use tenantry_service::products::{self, NewProduct, ProductChanges};
use tenantry_service::values::{Description, Money, Name};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::amount::{PriceText, two_decimals};
use super::body::JsonBody;
use super::fields::{not_null, present};
use super::paging::{Paged, window};
use super::params::{PathId, Query};
use crate::ApiError;
use crate::error::Problem;
use crate::extract::CurrentTenant;
use crate::startup::AppState;

/// A product to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateProduct {
    /// 1 to 200 characters, not blank, one line (no tabs, line breaks or control characters).
    #[schema(
        example = "Widget",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// At most 10,000 characters; no control characters but newlines and tabs.
    #[schema(max_length = 10_000, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    description: Option<String>,
    /// Decimal string with at most two decimals, 0 to 9999999999.99 (a JSON number, a sign or
    /// an exponent is refused).
    #[schema(value_type = String, example = "19.99", pattern = r"^[0-9]{1,10}(\.[0-9]{1,2})?$")]
    price: PriceText,
}

/// Fields to change; absent fields stay as they are. `"description": null` clears the
/// description; `null` for the name or the price is refused (400): they cannot be cleared.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateProduct {
    /// 1 to 200 characters, not blank, one line (no tabs, line breaks or control characters).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$")]
    name: Option<Option<String>>,
    /// At most 10,000 characters; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 10_000, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    description: Option<Option<String>>,
    /// Decimal string with at most two decimals, 0 to 9999999999.99 (a JSON number, a sign or
    /// an exponent is refused).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, example = "17.50", pattern = r"^[0-9]{1,10}(\.[0-9]{1,2})?$")]
    price: Option<Option<PriceText>>,
}

/// A product.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ProductBody {
    id: i64,
    name: String,
    description: Option<String>,
    /// Decimal string, always two decimals.
    #[serde(serialize_with = "two_decimals")]
    #[schema(value_type = String, example = "19.99")]
    price: Decimal,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    created_at: DateTime<FixedOffset>,
}

impl From<product::Model> for ProductBody {
    fn from(m: product::Model) -> Self {
        Self { id: m.id, name: m.name, description: m.description, price: m.price, created_at: m.created_at }
    }
}

/// `?limit=&offset=&q=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ProductsQuery {
    /// Rows per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Rows to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Only products whose name contains this, ignoring case (no NUL character).
    #[param(pattern = r"^[^\x00]*$")]
    q: Option<String>,
}

/// Lists the tenant's products in id order.
#[utoipa::path(tag = "products", security(("api_key" = [])), params(ProductsQuery), responses(
    (status = 200, body = Paged<ProductBody>, description = "A page of products"),
))]
#[get("/products")]
async fn list_products(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    query: Query<ProductsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let page = window(query.limit, query.offset)?;
    let page = products::list(&state.db, &tenant.0.scope, page, query.q.as_deref()).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, ProductBody::from)))
}

/// Creates a product (409 once the tenant's `max_products` quota is reached).
#[utoipa::path(tag = "products", security(("api_key" = [])), request_body = CreateProduct, responses(
    (status = 201, body = ProductBody, description = "Created", headers(("Location" = String, description = "The product's URL"))),
    (status = 409, body = Problem, description = "The tenant holds as many products as its `max_products` quota allows; the detail names the quota and its value, and nothing was written"),
))]
#[post("/products")]
async fn create_product(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    body: JsonBody<CreateProduct>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let new = NewProduct {
        name: Name::parse("name", body.name)?,
        description: body.description.map(Description::parse).transpose()?,
        price: Money::price(body.price.into())?,
    };
    let product =
        products::create(&state.db, &tenant.0.scope, RowQuota::products(tenant.0.limits.max_products), new)
            .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/products/{}", product.id)))
        .json(ProductBody::from(product)))
}

/// One product.
#[utoipa::path(tag = "products", security(("api_key" = [])), params(("id" = i64, Path)), responses(
    (status = 200, body = ProductBody, description = "The product"),
    (status = 404, body = Problem, description = "No such product in this tenant"),
))]
#[get("/products/{id}")]
async fn get_product(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    id: PathId,
) -> Result<HttpResponse, ApiError> {
    let product = products::get(&state.db, &tenant.0.scope, id.0).await?;
    Ok(HttpResponse::Ok().json(ProductBody::from(product)))
}

/// Changes some fields of a product.
#[utoipa::path(tag = "products", security(("api_key" = [])), params(("id" = i64, Path)), request_body = UpdateProduct, responses(
    (status = 200, body = ProductBody, description = "The product as changed"),
    (status = 404, body = Problem, description = "No such product in this tenant"),
))]
#[patch("/products/{id}")]
async fn update_product(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    id: PathId,
    body: JsonBody<UpdateProduct>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let changes = ProductChanges {
        name: not_null("name", body.name)?.map(|n| Name::parse("name", n)).transpose()?,
        description: body.description.map(|d| d.map(Description::parse).transpose()).transpose()?,
        price: not_null("price", body.price)?.map(|p| Money::price(p.into())).transpose()?,
    };
    let product = products::update(&state.db, &tenant.0.scope, id.0, changes).await?;
    Ok(HttpResponse::Ok().json(ProductBody::from(product)))
}

/// Deletes a product that no order refers to.
#[utoipa::path(tag = "products", security(("api_key" = [])), params(("id" = i64, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = Problem, description = "No such product in this tenant"),
    (status = 409, body = Problem, description = "Orders refer to it"),
))]
#[delete("/products/{id}")]
async fn delete_product(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    id: PathId,
) -> Result<HttpResponse, ApiError> {
    products::delete(&state.db, &tenant.0.scope, id.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_products)
        .service(create_product)
        .service(get_product)
        .service(update_product)
        .service(delete_product);
}
