//! Who is calling: [`require_admin`] guards the control plane, [`CurrentTenant`] is the
//! data plane's tenant.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, Header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest};
use actix_web_httpauth::headers::authorization::{Authorization, Bearer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tenantry_service::ServiceError;
use tenantry_service::tenants::ResolvedTenant;

use crate::ApiError;
use crate::startup::AppState;

/// Middleware for the whole control plane: every request under it must carry the admin token
/// (401 otherwise). Applied to the `/tenants` scope, so no control-plane handler can forget it.
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    check_admin(req.request())?;
    next.call(req).await
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

/// The request's tenant: the one its API key opens. If the tenant header is sent too, it must
/// name the same tenant (403 otherwise). No or unknown key: 401; suspended tenant: 403.
pub struct CurrentTenant(pub ResolvedTenant);

impl FromRequest for CurrentTenant {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Credentials first: a request without them learns nothing else.
        let found = AppState::of(req).and_then(|state| {
            let key = bearer(req)?;
            Ok((key, claimed_tenant(req, &state)?, state))
        });
        Box::pin(async move {
            let (key, claimed, state) = found?;
            let slug = state.keyring.authenticate(&key).await?;
            if claimed.as_deref().is_some_and(|claimed| claimed != slug.as_str()) {
                return Err(ServiceError::Forbidden(format!(
                    "this API key belongs to another tenant than the {} header names",
                    state.tenant_header_label
                ))
                .into());
            }
            let tenant = state.registry.resolve(slug.as_str()).await.map_err(|e| match e {
                // The key outlived its tenant (deleted elsewhere): it opens nothing.
                ServiceError::NotFound(_) => {
                    ServiceError::Unauthorized("unknown or revoked API key".to_owned())
                }
                e => e,
            })?;
            Ok(Self(tenant))
        })
    }
}

/// The bearer token of the request. Missing or not a bearer token: 401.
fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    if !req.headers().contains_key(header::AUTHORIZATION) {
        return Err(ServiceError::Unauthorized("missing Authorization: Bearer credentials".to_owned()).into());
    }
    let auth = Authorization::<Bearer>::parse(req).map_err(|_| {
        ApiError::from(ServiceError::Unauthorized(
            "the Authorization header must be 'Bearer <token>'".to_owned(),
        ))
    })?;
    Ok(auth.as_ref().token().to_string())
}

/// The tenant the tenant header names, if it is sent.
fn claimed_tenant(req: &HttpRequest, state: &AppState) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(&state.tenant_header) else { return Ok(None) };
    let value = value.to_str().map_err(|_| {
        ApiError::bad_request(format!("the {} header must be ASCII", state.tenant_header_label))
    })?;
    Ok(Some(value.to_owned()))
}
