//! Converting an existing deployment onto Citus schema-based sharding: the explicit step the
//! README describes, `citus_schema_distribute` on each registered tenant's schema.
//!
//! Run it after Citus is installed on every node and the nodes are registered, and before
//! `citus.enable_schema_based_sharding` is turned on (the runner never adopts an existing
//! schema either way: it creates a schema only when it is missing). Each tenant converts in
//! its own transaction, under the same per-tenant advisory lock as its migrations, so a
//! deploy never migrates a tenant halfway through its conversion. The control schema is left
//! alone: it stays a regular schema on the coordinator.

use derive_more::{Display, Error};
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait,
};

use crate::fleet::registered_tenants;
use tenantry_pg::SchemaName;

/// What converting one tenant did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Its schema became a distributed schema, placed on this node (`host:port`).
    Distributed(String),
    /// Its schema already was one, on this node.
    AlreadyDistributed(String),
    /// Citus refused; the tenant was left as it was.
    Failed(String),
}

/// One tenant's line in a conversion report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistributionEntry {
    /// The tenant's slug.
    pub slug: String,
    /// Its schema as stored in the registry.
    pub schema: String,
    /// What happened.
    pub result: Distribution,
}

/// Why a conversion could not run at all.
#[derive(Debug, Display, Error)]
pub enum CitusError {
    /// The database has no Citus 12+.
    #[display(
        "this database has no citus extension of version 12 or later: install Citus on every node and \
         CREATE EXTENSION citus in this database on each of them first (README: Scale out with Citus)"
    )]
    NotCitus,
    /// A statement failed.
    #[display("{_0}")]
    Db(DbErr),
}

impl From<DbErr> for CitusError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// Distributes every registered tenant's schema that is not distributed yet, in slug order,
/// calling `on_done` with each tenant's result as soon as it is known.
pub async fn distribute_fleet(
    db: &DatabaseConnection,
    on_done: &dyn Fn(&DistributionEntry),
) -> Result<Vec<DistributionEntry>, CitusError> {
    let citus = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT to_regclass('pg_catalog.pg_dist_schema') IS NOT NULL AS citus",
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "citus"))
        .transpose()?
        .unwrap_or(false);
    if !citus {
        return Err(CitusError::NotCitus);
    }
    let mut entries = Vec::new();
    for tenant in registered_tenants(db).await? {
        let result = match SchemaName::parse(&tenant.schema) {
            Ok(schema) => {
                distribute(db, &schema).await.unwrap_or_else(|e| Distribution::Failed(e.to_string()))
            }
            Err(e) => Distribution::Failed(format!("invalid schema name in the registry: {e}")),
        };
        let entry = DistributionEntry { slug: tenant.slug, schema: tenant.schema, result };
        on_done(&entry);
        entries.push(entry);
    }
    Ok(entries)
}

/// Distributes one schema unless it already is distributed, and says where it is.
async fn distribute(db: &DatabaseConnection, schema: &SchemaName) -> Result<Distribution, DbErr> {
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtext('tenantry.migrate'), hashtext($1))",
        [schema.as_str().into()],
    ))
    .await?;
    let already = node_of(&txn, schema).await?;
    if let Some(node) = already {
        txn.rollback().await?;
        return Ok(Distribution::AlreadyDistributed(node));
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT citus_schema_distribute($1::regnamespace)",
        [schema.as_str().into()],
    ))
    .await?;
    let node = node_of(&txn, schema).await?.unwrap_or_else(|| "(no tables)".to_owned());
    txn.commit().await?;
    Ok(Distribution::Distributed(node))
}

/// `host:port` of the node holding `schema`'s tables if it is a distributed schema; `None` if
/// it is a regular one.
async fn node_of(conn: &impl ConnectionTrait, schema: &SchemaName) -> Result<Option<String>, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT (SELECT n.nodename || ':' || n.nodeport FROM pg_dist_partition p \
                 JOIN pg_dist_shard sh ON sh.logicalrelid = p.logicalrelid \
                 JOIN pg_dist_placement pl ON pl.shardid = sh.shardid \
                 JOIN pg_dist_node n ON n.groupid = pl.groupid AND n.noderole = 'primary' \
                 WHERE p.colocationid = s.colocationid LIMIT 1) AS node \
             FROM pg_dist_schema s WHERE s.schemaid = to_regnamespace($1)",
            [schema.as_str().into()],
        ))
        .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            Ok(Some(row.try_get::<Option<String>>("", "node")?.unwrap_or_else(|| "(no tables)".to_owned())))
        }
    }
}

/// One tenant's result as a line of text.
pub fn entry_line(entry: &DistributionEntry) -> String {
    let what = match &entry.result {
        Distribution::Distributed(node) => format!("distributed, on {node}"),
        Distribution::AlreadyDistributed(node) => format!("already distributed, on {node}"),
        Distribution::Failed(e) => format!("FAILED: {e}"),
    };
    format!("{} ({}): {what}", entry.slug, entry.schema)
}
