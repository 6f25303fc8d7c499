//! Data plane: `/orders` of the request's tenant.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, FixedOffset};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tenantry_service::entity::order;
use tenantry_service::limits::quota::RowQuota;
use tenantry_service::orders;
use tenantry_service::values::Quantity;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::amount::two_decimals;
use super::body::JsonBody;
use super::fields::Whole;
use super::paging::{Paged, window};
use super::params::{PathId, Query};
use crate::ApiError;
use crate::error::Problem;
use crate::extract::CurrentTenant;
use crate::startup::AppState;

/// An order to place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateOrder {
    /// A product of the same tenant.
    #[schema(value_type = i64)]
    product_id: Whole,
    /// 1 to 2147483647; the total (price times quantity) must fit 9999999999.99.
    #[schema(value_type = i64, example = 2, minimum = 1, maximum = 2_147_483_647)]
    quantity: Whole,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
struct OrderBody {
    id: i64,
    product_id: i64,
    quantity: i32,
    /// The product's price at order time times the quantity; decimal string, always two
    /// decimals.
    #[serde(serialize_with = "two_decimals")]
    #[schema(value_type = String, example = "39.98")]
    total_price: Decimal,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    order_date: DateTime<FixedOffset>,
}

impl From<order::Model> for OrderBody {
    fn from(m: order::Model) -> Self {
        Self {
            id: m.id,
            product_id: m.product_id,
            quantity: m.quantity,
            total_price: m.total_price,
            order_date: m.order_date,
        }
    }
}

/// `?limit=&offset=&product_id=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OrdersQuery {
    /// Rows per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Rows to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Only orders for this product.
    product_id: Option<i64>,
}

/// Lists the tenant's orders in id order.
#[utoipa::path(tag = "orders", security(("api_key" = [])), params(OrdersQuery), responses(
    (status = 200, body = Paged<OrderBody>, description = "A page of orders"),
))]
#[get("/orders")]
async fn list_orders(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    query: Query<OrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let page = window(query.limit, query.offset)?;
    let page = orders::list(&state.db, &tenant.0.scope, page, query.product_id).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, OrderBody::from)))
}

/// Places an order; its total is the product's current price times the quantity.
#[utoipa::path(tag = "orders", security(("api_key" = [])), request_body = CreateOrder, responses(
    (status = 201, body = OrderBody, description = "Placed", headers(("Location" = String, description = "The order's URL"))),
    (status = 409, body = Problem, description = "The tenant holds as many orders as its `max_orders` quota allows; the detail names the quota and its value, and nothing was written"),
    (status = 422, body = Problem, description = "No such product in this tenant"),
))]
#[post("/orders")]
async fn create_order(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    body: JsonBody<CreateOrder>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let quantity = Quantity::parse(body.quantity.0)?;
    let order = orders::create(
        &state.db,
        &tenant.0.scope,
        RowQuota::orders(tenant.0.limits.max_orders),
        body.product_id.0,
        quantity,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/orders/{}", order.id)))
        .json(OrderBody::from(order)))
}

/// One order.
#[utoipa::path(tag = "orders", security(("api_key" = [])), params(("id" = i64, Path)), responses(
    (status = 200, body = OrderBody, description = "The order"),
    (status = 404, body = Problem, description = "No such order in this tenant"),
))]
#[get("/orders/{id}")]
async fn get_order(
    state: web::Data<AppState>,
    tenant: CurrentTenant,
    id: PathId,
) -> Result<HttpResponse, ApiError> {
    let order = orders::get(&state.db, &tenant.0.scope, id.0).await?;
    Ok(HttpResponse::Ok().json(OrderBody::from(order)))
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_orders).service(create_order).service(get_order);
}
