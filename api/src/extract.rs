//! Who is calling: [`require_admin`] guards the control plane, [`CurrentTenant`] is the
//! data plane's tenant.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tenantry_service::ServiceError;
use tenantry_service::limits::Admitted;
use tenantry_service::tenants::ResolvedTenant;

use crate::ApiError;
use crate::startup::AppState;
use crate::telemetry::Tenant;

/// Middleware for the whole control plane: every request under it must carry the admin token
/// (401 otherwise). Applied to the `/tenants` scope, so no control-plane handler can forget it.
/// The refusal is answered here rather than returned as an error, so it passes back through
/// the request log's middleware as an answer (with the request id in its body and header).
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Err(e) = check_admin(req.request()) {
        return Ok(req.error_response(e).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

fn check_admin(req: &HttpRequest) -> Result<(), ApiError> {
    let state = AppState::of(req)?;
    let token = bearer(req)?;
    // Compare digests in constant time: neither the token's content nor its length leaks
    // through timing.
    let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if bool::from(presented.ct_eq(&state.admin_token_digest)) {
        Ok(())
    } else {
        Err(ServiceError::Unauthorized("invalid admin token".to_owned()).into())
    }
}

/// The request's tenant: the one its API key opens, found by the tenant's immutable id. If the
/// tenant header is sent too, it must be sent once and name the same tenant (400 for several
/// values, 403 for another tenant). No or unknown key: 401; suspended tenant: 403. Then the
/// tenant's limits on this instance admit the request or refuse it (429): it holds its
/// concurrency slot for as long as the handler holds this, so the slot is released however
/// the handler ends (an answer, an error, or its future dropped with a client gone).
pub struct CurrentTenant(
    pub ResolvedTenant,
    #[allow(dead_code, reason = "held, never read: dropping it releases the concurrency slot")] Admitted,
);

impl FromRequest for CurrentTenant {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Credentials first: a request without them learns nothing else.
        let req = req.clone();
        let found = AppState::of(&req).and_then(|state| {
            let key = bearer(&req)?;
            Ok((key, claimed_tenant(&req, &state)?, state))
        });
        Box::pin(async move {
            let (key, claimed, state) = found?;
            let id = state.keyring.authenticate(&key).await?;
            let tenant = state.registry.resolve(id).await.map_err(|e| match e {
                // The key outlived its tenant (deleted elsewhere): it opens nothing.
                ServiceError::NotFound(_) => {
                    ServiceError::Unauthorized("unknown or revoked API key".to_owned())
                }
                e => e,
            })?;
            if claimed.as_deref().is_some_and(|claimed| claimed != tenant.slug.as_str()) {
                return Err(ServiceError::Forbidden(format!(
                    "this API key belongs to another tenant than the {} header names",
                    state.tenant_header_label
                ))
                .into());
            }
            // For the request log and the per-tenant counts, throttled requests included.
            let served_for = Tenant { id: tenant.id, slug: tenant.slug.as_str().to_owned() };
            let admitted = state.admission.admit(tenant.id, &tenant.limits);
            if let Err(ServiceError::Throttled(throttle)) = &admitted {
                state.telemetry.record_throttled(&served_for, throttle.limit());
            }
            req.extensions_mut().insert(served_for);
            Ok(Self(tenant, admitted?))
        })
    }
}

/// The bearer token of the request. Missing, sent twice, or not a bearer token: 401. The
/// scheme is matched ignoring case (RFC 9110 section 11.1).
fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let unauthorized = |why: &str| ApiError::from(ServiceError::Unauthorized(why.to_owned()));
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values.next().ok_or_else(|| unauthorized("missing Authorization: Bearer credentials"))?;
    if values.next().is_some() {
        return Err(unauthorized("send one Authorization header, not several"));
    }
    let malformed = || unauthorized("the Authorization header must be 'Bearer <token>'");
    let (scheme, token) = value.to_str().ok().and_then(|v| v.split_once(' ')).ok_or_else(malformed)?;
    let token = token.trim_start_matches(' ');
    if !scheme.eq_ignore_ascii_case("bearer") || !is_token68(token) {
        return Err(malformed());
    }
    Ok(token.to_owned())
}

/// RFC 9110's `token68`: the syntax of a bearer token.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// The tenant the tenant header names, if it is sent. Several values (repeated headers, or
/// one comma-separated list, which HTTP treats as the same) are refused: picking one would
/// let a proxy and the service disagree on the tenant.
fn claimed_tenant(req: &HttpRequest, state: &AppState) -> Result<Option<String>, ApiError> {
    let label = &state.tenant_header_label;
    let mut values = req.headers().get_all(&state.tenant_header);
    let Some(value) = values.next() else { return Ok(None) };
    let value =
        value.to_str().map_err(|_| ApiError::bad_request(format!("the {label} header must be ASCII")))?;
    if values.next().is_some() || value.contains(',') {
        return Err(ApiError::bad_request(format!("the {label} header must be sent once, with one tenant")));
    }
    Ok(Some(value.trim().to_owned()))
}
