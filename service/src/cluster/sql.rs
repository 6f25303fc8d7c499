//! The statements placement runs, against Citus 12+'s catalogue. Only [`IS_CITUS`] may run
//! where Citus is absent; the others name Citus's tables and functions.

/// Whether schema-based sharding's catalogue exists (Citus 12+ installed in this database).
pub(super) const IS_CITUS: &str = "SELECT to_regclass('pg_catalog.pg_dist_schema') IS NOT NULL AS citus";

/// Where the tables of schema `$1` live: for a distributed schema, the group of its tables'
/// (colocated, so common) placement; for a regular one, the coordinator (group 0).
pub(super) const PLACEMENT: &str = "\
SELECT n.nodename::text AS host, n.nodeport AS port, s.schemaid IS NOT NULL AS distributed
FROM (SELECT to_regnamespace($1) AS nsp) q
LEFT JOIN pg_dist_schema s ON s.schemaid = q.nsp
LEFT JOIN LATERAL (
    SELECT pl.groupid FROM pg_dist_partition p
    JOIN pg_dist_shard sh ON sh.logicalrelid = p.logicalrelid
    JOIN pg_dist_placement pl ON pl.shardid = sh.shardid
    WHERE p.colocationid = s.colocationid
    LIMIT 1
) g ON true
LEFT JOIN pg_dist_node n
    ON n.noderole = 'primary' AND n.groupid = CASE WHEN s.schemaid IS NULL THEN 0 ELSE g.groupid END
WHERE q.nsp IS NOT NULL";

/// Every primary node with the registered tenants it holds and their size. `citus_shards`
/// asks every node for its shard sizes, so it is read once (materialised), not per tenant.
pub(super) const NODES: &str = "\
WITH sizes AS MATERIALIZED (
    SELECT colocation_id, sum(shard_size)::bigint AS bytes FROM citus_shards
    WHERE citus_table_type = 'schema' GROUP BY colocation_id
), tenant AS (
    SELECT t.id, to_regnamespace(t.schema_name) AS nsp FROM tenantry.tenants t
), placed AS (
    SELECT tenant.id,
        CASE WHEN s.schemaid IS NULL THEN 0 ELSE (
            SELECT pl.groupid FROM pg_dist_partition p
            JOIN pg_dist_shard sh ON sh.logicalrelid = p.logicalrelid
            JOIN pg_dist_placement pl ON pl.shardid = sh.shardid
            WHERE p.colocationid = s.colocationid LIMIT 1
        ) END AS groupid,
        CASE WHEN s.schemaid IS NULL THEN (
            SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
            WHERE c.relnamespace = tenant.nsp AND c.relkind = 'r'
        ) ELSE coalesce(sizes.bytes, 0) END AS bytes
    FROM tenant
    LEFT JOIN pg_dist_schema s ON s.schemaid = tenant.nsp
    LEFT JOIN sizes ON sizes.colocation_id = s.colocationid
    WHERE tenant.nsp IS NOT NULL
)
SELECT n.nodename::text AS host, n.nodeport AS port, n.shouldhaveshards AS holds_tenants,
    count(placed.id) AS tenants, coalesce(sum(placed.bytes), 0)::bigint AS bytes
FROM pg_dist_node n
LEFT JOIN placed ON placed.groupid = n.groupid
WHERE n.noderole = 'primary'
GROUP BY n.nodeid, n.nodename, n.nodeport, n.shouldhaveshards
ORDER BY n.nodename, n.nodeport";

/// Whether node `$1:$2` is an active primary that new and moved schemas may be placed on.
pub(super) const TARGET_NODE: &str = "\
SELECT (isactive AND shouldhaveshards) AS holds FROM pg_dist_node
WHERE nodename = $1 AND nodeport = $2 AND noderole = 'primary'";

/// Whether every node can replicate logically, which a non-blocking move needs.
pub(super) const ALL_LOGICAL: &str = "\
SELECT coalesce(bool_and(success AND result = 'logical'), false) AS logical
FROM run_command_on_all_nodes($$SHOW wal_level$$)";

/// Moves schema `$1` to node `$2:$3` in transfer mode `$4`.
pub(super) const MOVE: &str = "\
SELECT citus_schema_move($1::regnamespace, $2, $3, shard_transfer_mode => $4::citus.shard_transfer_mode)";

/// Each worker's citus version in this database (an empty result: no extension; a failure:
/// no such database, or the worker is unreachable).
pub(super) const WORKER_EXTENSIONS: &str = "\
SELECT nodename::text || ':' || nodeport AS node, success AS ok, coalesce(result, '') AS result
FROM run_command_on_workers($$SELECT extversion FROM pg_extension WHERE extname = 'citus'$$)";
