//! [`RequestActor`]: who makes a control-plane change and in which request, for the audit log.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use tenantry_service::audit::Actor;

use crate::ApiError;
use crate::startup::AppState;

/// The header a request id is read from (when the server has not set one on the request).
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest request id recorded; a longer one (or one with other than visible ASCII) is not
/// recorded rather than refused: a client's tracing header must not break its request.
const MAX_REQUEST_ID: usize = 200;

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
            Self(Actor { credential: format!("admin:{digest}"), request_id: request_id(req) })
        }))
    }
}

/// The request's `X-Request-Id`, if it is one value of 1 to 200 visible ASCII characters.
fn request_id(req: &HttpRequest) -> Option<String> {
    let mut values = req.headers().get_all(REQUEST_ID_HEADER);
    let value = values.next()?.to_str().ok()?;
    let fits = (1..=MAX_REQUEST_ID).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
    (fits && values.next().is_none()).then(|| value.to_owned())
}
