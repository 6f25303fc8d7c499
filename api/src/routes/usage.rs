//! `GET /tenants/{slug}/usage` and `GET /usage`: what tenants store and how much this server
//! has served them.
//!
//! Storage is read from Postgres (one tenant: rows counted; the fleet: one statement per page,
//! rows estimated from the statistics system). Requests, errors and the last request time are
//! this server's own counts since it started (`counted_since`): with several instances, sum
//! theirs, or read the per-tenant series of `/metrics`.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_service::usage::{self, Storage, TableUsage};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::paging::{PageQuery, Paged};
use super::params::{PathSlug, Query};
use super::tenants::SlugParam;
use crate::ApiError;
use crate::error::Problem;
use crate::startup::AppState;
use crate::telemetry::Telemetry;

/// One tenant table.
#[derive(Debug, Serialize, ToSchema)]
struct TableUsageBody {
    /// The table's name in the tenant's schema.
    #[schema(example = "products")]
    table: String,
    /// Its rows: counted for one tenant, estimated (live tuples) in the fleet's list.
    rows: u64,
    /// Bytes on disk, indexes and TOAST included.
    bytes: u64,
}

/// What a tenant stores and how much this server has served it.
#[derive(Debug, Serialize, ToSchema)]
struct UsageBody {
    slug: String,
    /// The tenant's PostgreSQL schema.
    schema: String,
    /// The tenant's tables, in name order.
    tables: Vec<TableUsageBody>,
    /// Bytes of the whole schema: every table with its indexes, the migration ledger and the
    /// sequences.
    total_bytes: u64,
    /// Whether `rows` were counted (`GET /tenants/{slug}/usage`) or estimated (`GET /usage`).
    rows_exact: bool,
    /// Data-plane requests this server answered for the tenant since `counted_since`.
    requests: u64,
    /// Of those, answered with a 5xx.
    errors: u64,
    /// When this server last answered one; null if it has not since it started.
    last_request_at: Option<DateTime<Utc>>,
    /// When this server started counting (its start).
    counted_since: DateTime<Utc>,
}

impl UsageBody {
    fn new(storage: Storage, telemetry: &Telemetry) -> Self {
        let served = telemetry.usage_of(storage.id);
        Self {
            slug: storage.slug,
            schema: storage.schema,
            tables: storage.tables.into_iter().map(TableUsageBody::from).collect(),
            total_bytes: storage.total_bytes,
            rows_exact: storage.rows_exact,
            requests: served.as_ref().map_or(0, |s| s.requests),
            errors: served.as_ref().map_or(0, |s| s.errors),
            last_request_at: served.and_then(|s| DateTime::from_timestamp_millis(s.last_request_ms)),
            counted_since: telemetry.started(),
        }
    }
}

impl From<TableUsage> for TableUsageBody {
    fn from(t: TableUsage) -> Self {
        Self { table: t.table, rows: t.rows, bytes: t.bytes }
    }
}

/// One tenant's usage: its tables' rows (counted) and bytes, and this server's counts.
#[utoipa::path(tag = "tenants", params(SlugParam), security(("admin_token" = [])), responses(
    (status = 200, body = UsageBody, description = "The tenant's usage"),
    (status = 404, body = Problem, description = "No such tenant"),
    (status = 409, body = Problem, description = "The tenant is registered but its schema is missing"),
))]
#[get("/{slug}/usage")]
async fn tenant_usage(state: web::Data<AppState>, slug: PathSlug) -> Result<HttpResponse, ApiError> {
    let storage = usage::of_tenant(&state.db, &slug.0).await?;
    Ok(HttpResponse::Ok().json(UsageBody::new(storage, &state.telemetry)))
}

/// The fleet's usage, a page of tenants in slug order: rows estimated, bytes and this
/// server's counts; one query per page however many tenants there are.
#[utoipa::path(tag = "tenants", params(PageQuery), security(("admin_token" = [])), responses(
    (status = 200, body = Paged<UsageBody>, description = "A page of tenants' usage"),
))]
#[get("")]
async fn fleet_usage(state: web::Data<AppState>, query: Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let page = usage::of_fleet(&state.db, query.0.request()?).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, |s| UsageBody::new(s, &state.telemetry))))
}

/// `GET /tenants/{slug}/usage`, inside the `/tenants` scope.
pub(super) fn configure_tenant_routes(cfg: &mut ServiceConfig) {
    cfg.service(tenant_usage);
}

/// `GET /usage`, mounted by the caller under the admin guard.
pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(fleet_usage);
}
