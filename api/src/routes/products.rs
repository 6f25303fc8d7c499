//! Data plane: `/products` of the request's tenant.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, FixedOffset};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use tenantry_service::entity::product;
use tenantry_service::products::{self, NewProduct, ProductChanges};
use tenantry_service::values::{Description, Money, Name};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::paging::{PageQuery, Paged};
use crate::ApiError;
use crate::error::Problem;
use crate::extract::CurrentTenant;
use crate::startup::AppState;

/// A product to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateProduct {
    /// 1 to 200 characters.
    #[schema(example = "Widget")]
    name: String,
    description: Option<String>,
    /// Decimal string (or number) with at most two decimals, 0 to 9999999999.99.
    #[schema(value_type = String, example = "19.99")]
    price: Decimal,
}

/// Fields to change; absent fields stay as they are, `"description": null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateProduct {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    #[schema(value_type = Option<String>, example = "17.50")]
    price: Option<Decimal>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`, via `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A product.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ProductBody {
    id: i64,
    name: String,
    description: Option<String>,
    /// Decimal string, two decimals.
    #[schema(value_type = String, example = "19.99")]
    price: Decimal,
    created_at: DateTime<FixedOffset>,
}

impl From<product::Model> for ProductBody {
    fn from(m: product::Model) -> Self {
        Self { id: m.id, name: m.name, description: m.description, price: m.price, created_at: m.created_at }
    }
}

/// `?q=`: filter products by name.
#[derive(Debug, Deserialize, IntoParams)]
struct SearchQuery {
    /// Case-insensitive substring of the name.
    q: Option<String>,
}

/// Lists the tenant's products in id order.
#[utoipa::path(tag = "products", security(("api_key" = [])), params(PageQuery, SearchQuery), responses(
    (status = 200, body = Paged<ProductBody>),
    (status = 400, body = Problem), (status = 404, body = Problem, description = "Unknown tenant"),
))]
#[get("/products")]
async fn list_products(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    page: web::Query<PageQuery>,
    search: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = products::list(&state.db, &tenant.0.scope, page.request()?, search.q.as_deref()).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, ProductBody::from)))
}

/// Creates a product.
#[utoipa::path(tag = "products", security(("api_key" = [])), request_body = CreateProduct, responses(
    (status = 201, body = ProductBody), (status = 400, body = Problem),
))]
#[post("/products")]
async fn create_product(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    body: web::Json<CreateProduct>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewProduct {
        name: Name::parse("name", body.name)?,
        description: body.description.map(Description::parse).transpose()?,
        price: Money::price(body.price)?,
    };
    let product = products::create(&state.db, &tenant.0.scope, new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/products/{}", product.id)))
        .json(ProductBody::from(product)))
}

/// One product.
#[utoipa::path(tag = "products", security(("api_key" = [])), params(("id" = i64, Path)), responses(
    (status = 200, body = ProductBody), (status = 404, body = Problem),
))]
#[get("/products/{id}")]
async fn get_product(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let product = products::get(&state.db, &tenant.0.scope, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ProductBody::from(product)))
}

/// Changes some fields of a product.
#[utoipa::path(tag = "products", security(("api_key" = [])), params(("id" = i64, Path)), request_body = UpdateProduct, responses(
    (status = 200, body = ProductBody), (status = 400, body = Problem), (status = 404, body = Problem),
))]
#[patch("/products/{id}")]
async fn update_product(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    id: web::Path<i64>,
    body: web::Json<UpdateProduct>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let changes = ProductChanges {
        name: body.name.map(|n| Name::parse("name", n)).transpose()?,
        description: body.description.map(|d| d.map(Description::parse).transpose()).transpose()?,
        price: body.price.map(Money::price).transpose()?,
    };
    let product = products::update(&state.db, &tenant.0.scope, id.into_inner(), changes).await?;
    Ok(HttpResponse::Ok().json(ProductBody::from(product)))
}

/// Deletes a product that no order refers to.
#[utoipa::path(tag = "products", security(("api_key" = [])), params(("id" = i64, Path)), responses(
    (status = 204, description = "Deleted"), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "Orders refer to it"),
))]
#[delete("/products/{id}")]
async fn delete_product(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    products::delete(&state.db, &tenant.0.scope, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_products)
        .service(create_product)
        .service(get_product)
        .service(update_product)
        .service(delete_product);
}
