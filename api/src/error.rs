//! The API's one error type, mapped to HTTP once.
//!
//! Bodies follow RFC 9457 (`application/problem+json`: type, title, status, detail). A 4xx
//! names the problem; a 5xx says only that something failed, and its cause is logged once.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use derive_more::{Display, Error};
use serde::Serialize;
use tenantry_service::ServiceError;
use utoipa::ToSchema;

/// Seconds a client is told to wait before retrying a 503 (`Retry-After`): about how long the
/// service takes to notice the database is back.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Everything a handler can fail with.
#[derive(Debug, Display, Error)]
pub enum ApiError {
    /// A service call failed.
    #[display("{_0}")]
    Service(ServiceError),
    /// The database is unreachable (readiness).
    #[display("database unavailable: {_0}")]
    Unavailable(ServiceError),
    /// The request itself was refused before reaching the service: malformed JSON, a bad
    /// parameter, a missing header, an oversized body, an unknown route.
    #[display("{_1}")]
    Rejected(#[error(not(source))] StatusCode, #[error(not(source))] String),
}

impl ApiError {
    /// A 400 naming the problem.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::Rejected(StatusCode::BAD_REQUEST, detail.into())
    }

    /// Maps a JSON body that could not be read.
    pub fn from_json(e: &JsonPayloadError) -> Self {
        match e {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                Self::Rejected(StatusCode::PAYLOAD_TOO_LARGE, format!("request body too large: {e}"))
            }
            JsonPayloadError::ContentType => Self::Rejected(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be JSON (Content-Type: application/json)".to_owned(),
            ),
            JsonPayloadError::Deserialize(e) => Self::bad_request(format!("invalid JSON body: {e}")),
            e => Self::bad_request(format!("invalid request body: {e}")),
        }
    }

    /// Maps a query string that could not be read.
    pub fn from_query(e: &QueryPayloadError) -> Self {
        Self::bad_request(format!("invalid query parameters: {e}"))
    }

    /// Maps a path segment that could not be read (e.g. a non-numeric id).
    pub fn from_path(e: &PathError) -> Self {
        Self::Rejected(StatusCode::BAD_REQUEST, format!("invalid path parameter: {e}"))
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

/// An error answer (RFC 9457 problem details).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status's reason phrase.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong with the request; generic for server errors.
    pub detail: String,
    /// The request's id, as answered in `X-Request-Id`: every log line about the request
    /// ends with `request_id=<this>`, a server error's cause included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Rejected(status, _) => *status,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Service(e) => match e {
                ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
                ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
                ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
                ServiceError::Conflict(_) => StatusCode::CONFLICT,
                ServiceError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                ServiceError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
                ServiceError::Timeout(_)
                | ServiceError::Unavailable(_)
                | ServiceError::Busy(_)
                | ServiceError::Migrating(_) => StatusCode::SERVICE_UNAVAILABLE,
                ServiceError::Database(_) | ServiceError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = if status.is_server_error() {
            log::error!("{status}: {self}");
            match self {
                Self::Unavailable(_) | Self::Service(ServiceError::Unavailable(_)) => {
                    "the database is not reachable; try again shortly".to_owned()
                }
                Self::Service(ServiceError::Busy(_)) => {
                    "the service is busy: no database connection came free in time; try again shortly"
                        .to_owned()
                }
                Self::Service(ServiceError::Timeout(_)) => "the request took too long; try again".to_owned(),
                Self::Service(ServiceError::Migrating(_)) => {
                    "this tenant's data is being migrated; try again shortly".to_owned()
                }
                _ => "an internal error occurred; it has been logged".to_owned(),
            }
        } else {
            self.to_string()
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let request_id = tenantry_config::logging::current_request_id().map(|id| id.to_string());
        let body = Problem { kind: "about:blank", title, status: status.as_u16(), detail, request_id };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 is worth retrying: the database is back, or the statement less contended.
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        if let Self::Service(ServiceError::Throttled(throttle)) = self {
            response.insert_header((header::RETRY_AFTER, throttle.retry_after().to_string()));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"tenantry\""));
        }
        response.json(body)
    }
}
