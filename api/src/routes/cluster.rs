//! Placement on a Citus cluster: `GET /cluster` and `POST /tenants/{slug}/move` (admin).
//! On plain Postgres both answer 409 saying why.

use crate::actor::RequestActor;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use tenantry_service::cluster::{self, Node, NodeLoad, Placement};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::body::JsonBody;
use super::params::PathSlug;
use super::tenants::SlugParam;
use crate::ApiError;
use crate::error::Problem;
use crate::startup::AppState;

/// Where a tenant's tables live on a Citus cluster.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PlacementBody {
    /// `host:port` of the node holding the tenant's tables: a worker for a distributed schema,
    /// the coordinator for a regular one; null for a distributed schema without tables.
    #[schema(example = "10.0.0.7:5432")]
    node: Option<String>,
    /// Whether the tenant's schema is a Citus distributed schema (movable).
    distributed: bool,
}

impl From<Placement> for PlacementBody {
    fn from(p: Placement) -> Self {
        Self { node: p.node.map(|n| n.to_string()), distributed: p.distributed }
    }
}

/// The cluster's nodes.
#[derive(Debug, Serialize, ToSchema)]
struct ClusterBody {
    /// Every primary node, coordinator included, by address.
    nodes: Vec<NodeBody>,
}

/// One node and what it holds.
#[derive(Debug, Serialize, ToSchema)]
struct NodeBody {
    /// `host:port`, as registered with Citus.
    #[schema(example = "10.0.0.7:5432")]
    node: String,
    /// Whether Citus places tenants on it (false for the coordinator by default).
    holds_tenants: bool,
    /// Registered tenants whose tables it holds.
    tenants: i64,
    /// Bytes of those tenants' tables, indexes included.
    bytes: i64,
}

impl From<NodeLoad> for NodeBody {
    fn from(n: NodeLoad) -> Self {
        Self { node: n.node.to_string(), holds_tenants: n.holds_tenants, tenants: n.tenants, bytes: n.bytes }
    }
}

/// Where to move a tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MoveTenant {
    /// The target node, `host:port` as `GET /cluster` lists it: a host of 1 to 255 visible
    /// ASCII characters, a port of 1 to 65535.
    #[schema(
        example = "10.0.0.8:5432",
        pattern = r"^[!-~]{1,255}:0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
    )]
    node: String,
}

/// A move that happened.
#[derive(Debug, Serialize, ToSchema)]
struct MovedBody {
    slug: String,
    /// Where the tenant's tables were.
    from: String,
    /// Where they are now.
    to: String,
    /// `force_logical` (requests kept being answered) or `block_writes` (writes waited).
    mode: String,
    /// How long the move took, in milliseconds.
    elapsed_ms: u64,
}

/// Lists the cluster's nodes with the tenants each holds.
#[utoipa::path(tag = "cluster", security(("admin_token" = [])), responses(
    (status = 200, body = ClusterBody, description = "The nodes"),
    (status = 401, body = Problem, description = "No or wrong admin token"),
    (status = 409, body = Problem, description = "The database is not a Citus coordinator"),
))]
#[get("")]
async fn get_cluster(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let nodes = cluster::nodes(&state.db).await?;
    Ok(HttpResponse::Ok().json(ClusterBody { nodes: nodes.into_iter().map(NodeBody::from).collect() }))
}

/// Moves a tenant to another node with `citus_schema_move`; its requests keep being answered.
#[utoipa::path(tag = "cluster", params(SlugParam), request_body = MoveTenant,
    security(("admin_token" = [])), responses(
    (status = 200, body = MovedBody, description = "Moved"),
    (status = 400, body = Problem, description = "The node is not host:port"),
    (status = 401, body = Problem, description = "No or wrong admin token"),
    (status = 404, body = Problem, description = "No such tenant"),
    (status = 409, body = Problem, description = "Not a Citus coordinator, or the tenant is already there or cannot move"),
    (status = 422, body = Problem, description = "The node is not one that holds tenants"),
))]
#[post("/{slug}/move")]
async fn move_tenant(
    state: web::Data<AppState>,
    actor: RequestActor,
    slug: PathSlug,
    body: JsonBody<MoveTenant>,
) -> Result<HttpResponse, ApiError> {
    let (slug, to) = (slug.0, Node::parse(&body.0.node)?);
    let moved = cluster::move_tenant(&state.db, &actor.0, &slug, &to).await?;
    Ok(HttpResponse::Ok().json(MovedBody {
        slug: moved.tenant.slug,
        from: moved.from.to_string(),
        to: moved.to.to_string(),
        mode: moved.mode.as_citus().to_owned(),
        elapsed_ms: u64::try_from(moved.elapsed.as_millis()).unwrap_or(u64::MAX),
    }))
}

/// `GET /cluster`, mounted by the caller under the admin guard.
pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_cluster);
}

/// `POST /tenants/{slug}/move`, inside the `/tenants` scope.
pub(super) fn configure_tenant_routes(cfg: &mut ServiceConfig) {
    cfg.service(move_tenant);
}
