//! Control plane: the audit log, `/audit` (read only: the service has no way to change it).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use tenantry_service::audit::{self, Filter};
use tenantry_service::entity::audit_entry;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::paging::{Paged, window};
use super::params::Query;
use crate::ApiError;
use crate::startup::AppState;

/// `?tenant=&action=&since=&limit=&offset=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Entries that named this slug, or concern the tenant that carries it now (no NUL
    /// character).
    #[param(pattern = r"^[^\x00]*$")]
    tenant: Option<String>,
    /// Entries of this action, e.g. `tenant.provision` (no NUL character).
    #[param(example = "tenant.update", pattern = r"^[^\x00]*$")]
    action: Option<String>,
    /// Entries at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<DateTime<FixedOffset>>,
    /// Rows per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Rows to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// One control-plane change as recorded.
#[derive(Debug, Serialize, ToSchema)]
struct AuditEntryBody {
    /// Position in the chain.
    id: i64,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    at: DateTime<FixedOffset>,
    /// `tenant.provision`, `tenant.update`, `tenant.delete`, `key.issue` or `key.revoke`.
    action: String,
    /// The tenant's registry id: the tenant changed, or for a refusal the existing tenant the
    /// change was about (`null` if it named none, or would have created one).
    tenant_id: Option<i64>,
    /// The slug the request named.
    tenant: Option<String>,
    /// Which credential: `admin:` and the first 8 hex digits of the admin token's SHA-256.
    actor: String,
    /// The id the request was served under (its answer's `X-Request-Id`); `null` for a change the
    /// `migration` tool made.
    request_id: Option<String>,
    /// `ok`, or `refused: ` and why (a refused change wrote nothing else).
    outcome: String,
    /// What was changed (never a secret).
    #[schema(value_type = Object)]
    change: serde_json::Value,
    /// SHA-256 (hex) over the entry and the previous entry's hash.
    hash: String,
    /// The previous entry's hash.
    prev_hash: String,
}

impl From<audit_entry::Model> for AuditEntryBody {
    fn from(m: audit_entry::Model) -> Self {
        Self {
            id: m.id,
            at: m.at,
            action: m.action,
            tenant_id: m.tenant_id,
            tenant: m.tenant_slug,
            actor: m.actor,
            request_id: m.request_id,
            outcome: m.outcome,
            change: serde_json::from_str(&m.change).unwrap_or(serde_json::Value::String(m.change)),
            hash: m.hash,
            prev_hash: m.prev_hash,
        }
    }
}

/// What walking the chain found.
#[derive(Debug, Serialize, ToSchema)]
struct VerdictBody {
    /// Whether every entry matches its hash and links to the one before.
    ok: bool,
    /// Entries checked (up to and including the first that does not match).
    checked: u64,
    /// The first entry that does not match, if any.
    first_mismatch: Option<i64>,
    /// Why it does not match.
    problem: Option<String>,
}

/// Lists audit entries, oldest first.
#[utoipa::path(tag = "audit", params(AuditQuery), security(("admin_token" = [])), responses(
    (status = 200, body = Paged<AuditEntryBody>, description = "A page of audit entries"),
))]
#[get("")]
async fn list_audit(state: web::Data<AppState>, query: Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let page = window(query.limit, query.offset)?;
    let since = query.since.map(|t| t.with_timezone(&Utc));
    let filter = Filter { tenant: query.tenant, action: query.action, since };
    let page = audit::list(&state.db, filter, page).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, AuditEntryBody::from)))
}

/// Walks the hash chain and names the first entry that does not match (200 either way).
#[utoipa::path(tag = "audit", security(("admin_token" = [])), responses(
    (status = 200, body = VerdictBody, description = "What the walk found"),
))]
#[get("/verify")]
async fn verify_audit(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let verdict = audit::verify(&state.db).await?;
    let (first_mismatch, problem) =
        verdict.first_mismatch.map_or((None, None), |(id, why)| (Some(id), Some(why)));
    let body = VerdictBody {
        ok: first_mismatch.is_none(),
        checked: verdict.checked,
        first_mismatch,
        problem: problem.map(str::to_owned),
    };
    Ok(HttpResponse::Ok().json(body))
}

pub(super) fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_audit).service(verify_audit);
}
