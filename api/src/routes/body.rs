//! [`JsonBody`]: how every route reads a JSON request body.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::mime;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures::FutureExt;
use futures::future::{LocalBoxFuture, ready};
use serde::de::DeserializeOwned;

use super::fields::Object;
use crate::ApiError;

/// A JSON object body, read as `T`: `application/json` (or `+json`) in UTF-8 only, as
/// RFC 8259 section 8.1 asks. actix's `web::Json` ignores the `charset` parameter and decodes
/// whatever it is given as UTF-8, so `charset=latin1` would be misread rather than refused:
/// this answers 415 naming the charset first. Then as `web::Json<Object<T>>` (the
/// `JsonConfig` limits and error mapping, object only, errors naming their field).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Err(e) = utf8_only(req) {
            return ready(Err(e.into())).boxed_local();
        }
        web::Json::<Object<T>>::from_request(req, payload)
            .map(|read| Ok(Self(read?.into_inner().0)))
            .boxed_local()
    }
}

/// Refuses a `charset` other than UTF-8. A missing or unparsable `Content-Type` is left to
/// `web::Json`, which refuses it as not JSON.
fn utf8_only(req: &HttpRequest) -> Result<(), ApiError> {
    let Ok(Some(mime)) = req.mime_type() else { return Ok(()) };
    match mime.get_param(mime::CHARSET) {
        Some(charset) if !charset.as_str().eq_ignore_ascii_case("utf-8") => Err(ApiError::Rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "a JSON body must be UTF-8: charset={} is not supported (send Content-Type: \
                 application/json, or application/json; charset=utf-8)",
                charset.as_str()
            ),
        )),
        _ => Ok(()),
    }
}
