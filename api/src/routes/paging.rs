//! Paging parameters and list answers shared by every list route.

use serde::{Deserialize, Serialize};
use tenantry_service::page::{Page, PageRequest};
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

/// `?limit=&offset=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Rows per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Rows to skip (default 0).
    pub offset: Option<i64>,
}

impl PageQuery {
    /// The validated window.
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::new(self.limit, self.offset)?)
    }
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
