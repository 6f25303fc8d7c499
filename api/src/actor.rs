//! [`RequestActor`]: who makes a control-plane change and in which request, for the audit log.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use tenantry_service::audit::Actor;

use crate::ApiError;
use crate::startup::AppState;

/// The control plane's caller. Every control-plane route is behind the admin token, so the
/// credential is that token, named by the first 8 hex digits of its SHA-256 (never the token):
/// enough to tell a rotated token from the one before it.
pub struct RequestActor(pub Actor);

impl FromRequest for RequestActor {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(AppState::of(req).map(|state| {
            let digest: String = state.admin_token_digest[..4].iter().map(|b| format!("{b:02x}")).collect();
            Self(Actor { credential: format!("admin:{digest}"), request_id: request_id() })
        }))
    }
}

/// The id the request is served under (the caller's `X-Request-Id` where the server took it,
/// else the one it made), as its log lines, its answer's `X-Request-Id` and its error body
/// carry it: an audit entry is found from the log and the other way round.
fn request_id() -> Option<String> {
    tenantry_config::logging::current_request_id().map(|id| id.to_string())
}
