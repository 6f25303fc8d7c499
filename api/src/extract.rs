//! [`CurrentTenant`]: the tenant a data-plane request is for.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use tenantry_service::tenants::ResolvedTenant;

use crate::ApiError;
use crate::startup::AppState;

/// The request's tenant, named by the tenant header and resolved through the registry cache.
/// Missing header: 400; unknown tenant: 404; suspended: 403.
pub struct CurrentTenant(pub ResolvedTenant);

impl FromRequest for CurrentTenant {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = AppState::of(req).and_then(|state| Ok((header_value(req, &state)?, state)));
        Box::pin(async move {
            let (slug, state) = found?;
            Ok(Self(state.registry.resolve(&slug).await?))
        })
    }
}

fn header_value(req: &HttpRequest, state: &AppState) -> Result<String, ApiError> {
    let name = &state.tenant_header_label;
    let value = req
        .headers()
        .get(&state.tenant_header)
        .ok_or_else(|| ApiError::bad_request(format!("missing {name} header naming the tenant")))?;
    let value =
        value.to_str().map_err(|_| ApiError::bad_request(format!("the {name} header must be ASCII")))?;
    Ok(value.to_owned())
}
