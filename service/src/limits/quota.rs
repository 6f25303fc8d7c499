//! Row quotas: a create in a tenant at its quota is refused (409) and writes nothing.
//!
//! Race-free across requests and instances: the create's own transaction first takes a
//! transaction-level advisory lock for (table, tenant schema), then counts the tenant's rows,
//! then inserts; a second create of the same tenant and table waits for the first to commit
//! (or roll back) and so counts its row. Other tenants, other tables and reads never wait.
//! A tenant without a quota skips all of it: no lock, no count, no transaction it did not
//! already have. The count stops at the quota (`LIMIT`), so it costs at most `quota` rows
//! however large a table grew before the quota was set.

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QuerySelect, QueryTrait, Statement};

use crate::db::Tx;
use crate::{ServiceError, TenantScope};

/// A quota on one of a tenant's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowQuota {
    /// The limit's name, as settings and the tenant's `limits` spell it.
    pub name: &'static str,
    /// What the rows are, for messages.
    pub rows: &'static str,
    /// Rows the tenant may hold.
    pub max: u64,
}

impl RowQuota {
    /// The products quota, if the tenant has one.
    pub fn products(max: Option<u64>) -> Option<Self> {
        max.map(|max| Self { name: "max_products", rows: "products", max })
    }

    /// The orders quota, if the tenant has one.
    pub fn orders(max: Option<u64>) -> Option<Self> {
        max.map(|max| Self { name: "max_orders", rows: "orders", max })
    }
}

/// Makes room for one more row of `E` in `scope` under `quota`, in `tx`: afterwards, until
/// `tx` ends, no other create of this tenant's `E` rows can count or insert. At the quota: a
/// conflict naming it and its value.
pub(crate) async fn reserve<E: EntityTrait>(
    tx: &Tx,
    scope: &TenantScope,
    quota: RowQuota,
) -> Result<(), ServiceError> {
    // The same form as the migration runner's per-tenant lock, under another first key.
    let lock = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
        [format!("tenantry.quota.{}", quota.rows).into(), scope.schema().as_str().into()],
    );
    tx.query_one_raw(lock).await?;
    let held = held::<E>(tx, scope, quota).await?;
    if held >= quota.max {
        return Err(ServiceError::Conflict(format!(
            "quota reached: {} is {} for this tenant, which holds that many {} or more (counted up to \
             the quota); nothing was written",
            quota.name, quota.max, quota.rows
        )));
    }
    Ok(())
}

/// The tenant's rows of `E`, counted up to the quota.
async fn held<E: EntityTrait>(tx: &Tx, scope: &TenantScope, quota: RowQuota) -> Result<u64, ServiceError> {
    let upto = scope.find::<E>().select_only().expr(Expr::value(1)).limit(quota.max).into_query();
    let count = Query::select()
        .expr_as(Expr::cust("count(*)"), Alias::new("n"))
        .from_subquery(upto, Alias::new("held"))
        .to_owned();
    let row = tx
        .query_one_raw(DbBackend::Postgres.build(&count))
        .await?
        .ok_or_else(|| ServiceError::Unexpected("count(*) returned no row".to_owned()))?;
    let n: i64 = row.try_get("", "n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}
