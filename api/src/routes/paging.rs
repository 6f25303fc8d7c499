//! Paging parameters and list answers shared by every list route.

use serde::{Deserialize, Serialize};
use tenantry_service::page::{Page, PageRequest};
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

/// `?limit=&offset=`, for lists that take nothing else. Lists with filters declare the same
/// two fields beside theirs (serde cannot flatten query strings into typed fields).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Rows to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

impl PageQuery {
    /// The validated window.
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        window(self.limit, self.offset)
    }
}

/// The validated window of `?limit=&offset=`.
pub fn window(limit: Option<i64>, offset: Option<i64>) -> Result<PageRequest, ApiError> {
    Ok(PageRequest::new(limit, offset)?)
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Rows per page.
    pub limit: u64,
    /// Rows skipped.
    pub offset: u64,
    /// Rows in all.
    pub total: u64,
}

impl<T> Paged<T> {
    /// Shapes a service page, converting each row.
    pub fn from_page<M>(page: Page<M>, f: impl FnMut(M) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(f).collect(),
            limit: page.request.limit(),
            offset: page.request.offset(),
            total: page.total,
        }
    }
}
