//! Placement on a Citus cluster: which node holds a tenant, what each node holds, moving a
//! tenant, and the start-up check that every worker has the database.
//!
//! With Citus 12+ schema-based sharding each tenant schema is a distributed schema whose tables
//! all live on one node; the coordinator routes a query by the schema it names. On plain
//! Postgres none of this applies: placement calls answer [`ServiceError::Conflict`] saying so.
//! Every statement here reads Citus's own catalogue (`pg_dist_*`, `citus_shards`) or calls its
//! functions; schema names reach SQL only as bound parameters.

mod sql;

use crate::audit::{Actor, audited};
use std::fmt;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use tenantry_entity::tenant;

use crate::db::{Db, On};
use crate::tenants::{self, Slug};
use crate::{SchemaName, ServiceError};

/// Why placement calls are refused without Citus.
pub const NOT_CITUS: &str = "this database is not a Citus coordinator (no citus extension of version \
                             12 or later): tenants are not placed on nodes and cannot be moved";

/// A node of the cluster, as Citus names it (`host:port`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    /// Host name or address, as registered with `citus_add_node`.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Node {
    /// Parses `host:port`: the last `:` splits (so an IPv6 host keeps its colons), the host is
    /// 1 to 255 visible ASCII characters (a DNS name, an address), the port digits only,
    /// 1..=65535 (the OpenAPI document's pattern says the same).
    pub fn parse(s: &str) -> Result<Self, ServiceError> {
        let invalid = || ServiceError::Invalid(format!("node {s:?} must be host:port, e.g. 10.0.0.7:5432"));
        let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let port: u16 = port.parse().map_err(|_| invalid())?;
        if host.is_empty() || port == 0 || host.len() > 255 || !host.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid());
        }
        Ok(Self { host: host.to_owned(), port })
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Where a tenant's tables live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The node holding them: a worker for a distributed schema, the coordinator for a regular
    /// one (a tenant of a deployment not yet converted); `None` for a distributed schema that
    /// has no tables.
    pub node: Option<Node>,
    /// Whether the schema is a Citus distributed schema (movable).
    pub distributed: bool,
}

/// One node and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLoad {
    /// The node.
    pub node: Node,
    /// Whether Citus places new distributed schemas on it (`shouldhaveshards`; false for the
    /// coordinator by default).
    pub holds_tenants: bool,
    /// Registered tenants whose tables it holds.
    pub tenants: i64,
    /// Bytes of those tenants' tables, indexes included.
    pub bytes: i64,
}

/// How a move copied the tenant's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferMode {
    /// Logical replication (`force_logical`): reads and writes continue during the copy and
    /// are blocked only for the final switch-over. Needs `wal_level = logical` on every node.
    Logical,
    /// `block_writes`: the tenant's writes wait for the whole copy; reads continue.
    BlockWrites,
}

impl TransferMode {
    /// The name as `citus_schema_move` takes it, and as answers show it.
    pub fn as_citus(self) -> &'static str {
        match self {
            Self::Logical => "force_logical",
            Self::BlockWrites => "block_writes",
        }
    }
}

/// A move that happened.
#[derive(Clone, Debug)]
pub struct Moved {
    /// The tenant moved.
    pub tenant: tenant::Model,
    /// Where its tables were.
    pub from: Node,
    /// Where they are now.
    pub to: Node,
    /// How the data was copied.
    pub mode: TransferMode,
    /// How long `citus_schema_move` took.
    pub elapsed: Duration,
}

/// The registry row of `slug` with the tenant's placement (`None` on plain Postgres).
pub async fn placement(db: &Db, slug: &Slug) -> Result<(tenant::Model, Option<Placement>), ServiceError> {
    db.run(On::Control, async |work| {
        let model = tenants::find(work, slug).await?;
        if !is_citus(work).await? {
            return Ok((model, None));
        }
        let schema = tenants::stored_schema(&model)?;
        Ok((model, Some(placement_of(work, &schema).await?)))
    })
    .await
}

/// Every primary node with the tenants it holds; a conflict on plain Postgres.
pub async fn nodes(db: &Db) -> Result<Vec<NodeLoad>, ServiceError> {
    db.run(On::Control, async |work| {
        require_citus(work).await?;
        let rows = work.query_all_raw(Statement::from_string(DbBackend::Postgres, sql::NODES)).await?;
        rows.iter()
            .map(|row| {
                Ok(NodeLoad {
                    node: node_of(row.try_get("", "host")?, row.try_get("", "port")?)?,
                    holds_tenants: row.try_get("", "holds_tenants")?,
                    tenants: row.try_get("", "tenants")?,
                    bytes: row.try_get("", "bytes")?,
                })
            })
            .collect()
    })
    .await
}

/// Moves a tenant's schema to `to` with `citus_schema_move`: logically replicated (its
/// requests keep being answered) when every node has `wal_level = logical`, else with writes
/// blocked for the copy. One transaction; the statement timeout is lifted for it, since a copy
/// takes as long as the tenant's data needs. Audited as `tenant.move` in the same transaction.
pub async fn move_tenant(db: &Db, actor: &Actor, slug: &Slug, to: &Node) -> Result<Moved, ServiceError> {
    let change = tenants::audit_of("tenant.move", slug, serde_json::json!({"to": to.to_string()}));
    audited(db, actor, change, async |tx| {
        require_citus(tx).await?;
        let model = tenants::find(tx, slug).await?;
        let schema = tenants::stored_schema(&model)?;
        let placement = placement_of(tx, &schema).await?;
        let from = match placement {
            Placement { distributed: false, .. } => {
                return Err(ServiceError::Conflict(format!(
                    "tenant '{slug}' is in a regular schema on the coordinator: distribute it first \
                     (migration tenants distribute)"
                )));
            }
            Placement { node: None, .. } => {
                return Err(ServiceError::Conflict(format!("tenant '{slug}' has no tables to move")));
            }
            Placement { node: Some(node), .. } => node,
        };
        if &from == to {
            return Err(ServiceError::Conflict(format!("tenant '{slug}' is already on {to}")));
        }
        let target = one(tx, sql::TARGET_NODE, [to.host.clone().into(), i32::from(to.port).into()]).await?;
        if !target.is_some_and(|row| row.try_get::<bool>("", "holds").unwrap_or(false)) {
            return Err(ServiceError::Unprocessable(format!(
                "{to} is not an active primary node of this cluster that holds tenants"
            )));
        }
        let logical = one(tx, sql::ALL_LOGICAL, [])
            .await?
            .is_some_and(|row| row.try_get::<bool>("", "logical").unwrap_or(false));
        let mode = if logical { TransferMode::Logical } else { TransferMode::BlockWrites };
        tx.execute_unprepared("SET LOCAL statement_timeout = 0").await?;
        let started = Instant::now();
        let args: [Value; 4] = [
            schema.as_str().into(),
            to.host.clone().into(),
            i32::from(to.port).into(),
            mode.as_citus().into(),
        ];
        tx.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql::MOVE, args)).await?;
        let elapsed = started.elapsed();
        let id = model.id;
        Ok((Moved { tenant: model, from, to: to.clone(), mode, elapsed }, Some(id)))
    })
    .await
}

/// At start-up: on a Citus coordinator, every worker must have this database with the citus
/// extension, or tenants placed there could not be created. Plain Postgres passes.
pub async fn check_workers(db: &Db) -> Result<(), ServiceError> {
    db.run(On::Control, async |work| {
        if !is_citus(work).await? {
            return Ok(());
        }
        let rows =
            work.query_all_raw(Statement::from_string(DbBackend::Postgres, sql::WORKER_EXTENSIONS)).await?;
        let mut missing = Vec::new();
        for row in &rows {
            let node: String = row.try_get("", "node")?;
            let ok: bool = row.try_get("", "ok")?;
            let result: String = row.try_get("", "result")?;
            if !ok || result.is_empty() {
                missing.push(if ok {
                    format!("{node} (no citus extension)")
                } else {
                    format!("{node} ({result})")
                });
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let database: String = one(work, "SELECT current_database()::text AS db", [])
            .await?
            .map_or(Ok(String::new()), |r| r.try_get("", "db"))?;
        Err(ServiceError::Invalid(format!(
            "this Citus coordinator's workers lack database {database} with the citus extension: {}. \
             On each of them run CREATE DATABASE {database}; then, in it, CREATE EXTENSION citus",
            missing.join(", ")
        )))
    })
    .await
}

/// Whether this database has Citus 12+ (schema-based sharding's catalogue table).
pub async fn is_citus(conn: &impl ConnectionTrait) -> Result<bool, ServiceError> {
    Ok(one(conn, sql::IS_CITUS, [])
        .await?
        .is_some_and(|row| row.try_get::<bool>("", "citus").unwrap_or(false)))
}

async fn require_citus(conn: &impl ConnectionTrait) -> Result<(), ServiceError> {
    if is_citus(conn).await? { Ok(()) } else { Err(ServiceError::Conflict(NOT_CITUS.to_owned())) }
}

async fn placement_of(conn: &impl ConnectionTrait, schema: &SchemaName) -> Result<Placement, ServiceError> {
    let row = one(conn, sql::PLACEMENT, [schema.as_str().into()]).await?.ok_or_else(|| {
        ServiceError::Unexpected(format!("schema {schema} of a registered tenant is missing"))
    })?;
    let node = match (row.try_get::<Option<String>>("", "host")?, row.try_get::<Option<i32>>("", "port")?) {
        (Some(host), Some(port)) => Some(node_of(host, port)?),
        _ => None,
    };
    Ok(Placement { node, distributed: row.try_get("", "distributed")? })
}

fn node_of(host: String, port: i32) -> Result<Node, ServiceError> {
    let port = u16::try_from(port)
        .map_err(|_| ServiceError::Unexpected(format!("node port {port} out of range")))?;
    Ok(Node { host, port })
}

async fn one<const N: usize>(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: [Value; N],
) -> Result<Option<sea_orm::QueryResult>, ServiceError> {
    Ok(conn.query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?)
}

#[cfg(test)]
mod tests {
    use super::Node;

    #[test]
    fn a_node_is_host_colon_port() {
        let node = Node::parse("10.0.0.7:5432").expect("valid");
        assert_eq!((node.host.as_str(), node.port), ("10.0.0.7", 5432));
        assert_eq!(node.to_string(), "10.0.0.7:5432");
    }

    #[test]
    fn a_node_without_a_valid_port_or_host_is_refused() {
        for bad in [
            "",
            "host",
            "host:",
            ":5432",
            "host:0",
            "host:65536",
            "host:-1",
            "ho st:5432",
            "host:54x",
            "host:+80",
            "h\u{f4}st:5432",
            "host:\u{661}",
        ] {
            assert!(Node::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
