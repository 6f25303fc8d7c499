//! The API's one error type, mapped to HTTP once.
//!
//! Bodies follow RFC 9457 (`application/problem+json`: type, title, status, detail). A 4xx
//! names the problem; a 5xx says only that something failed, and its cause is logged once.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use derive_more::{Display, Error};
use serde::Serialize;
use tenantry_service::ServiceError;

/// Everything a handler can fail with.
#[derive(Debug, Display, Error)]
pub enum ApiError {
    /// A service call failed.
    #[display("{_0}")]
    Service(ServiceError),
    /// The database is unreachable (readiness).
    #[display("database unavailable: {_0}")]
    Unavailable(ServiceError),
    /// The request itself is malformed: bad JSON, a bad parameter, a missing header.
    #[display("{_0}")]
    BadRequest(#[error(not(source))] String),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Service(e) => match e {
                ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
                ServiceError::Conflict(_) => StatusCode::CONFLICT,
                ServiceError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
                ServiceError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = if status.is_server_error() {
            log::error!("{status}: {self}");
            match self {
                Self::Unavailable(_) => "the database is not reachable".to_owned(),
                _ => "an internal error occurred; it has been logged".to_owned(),
            }
        } else {
            self.to_string()
        };
        let title = status.canonical_reason().unwrap_or("Error");
        HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "application/problem+json"))
            .json(Problem { kind: "about:blank", title, status: status.as_u16(), detail })
    }
}
