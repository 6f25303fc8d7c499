//! Tenant-affine routing: which sub-pool serves a tenant's unit of work.

use sea_orm::DatabaseConnection;

use super::{Db, On};

impl Db {
    /// The pool a unit of work runs on. A tenant's is its home sub-pool, chosen by a hash of
    /// its schema; when every connection there is busy and the next sub-pool has one idle,
    /// that one instead. So each backend meets about 2/N of the tenants, and one busy tenant is
    /// not held to one sub-pool's connections. (A connection on its way back counts as busy:
    /// sqlx pings it first, so even one client at a time is served by both sub-pools.)
    pub(super) fn pool_for(&self, on: On<'_>) -> &DatabaseConnection {
        let On::Tenant(scope) = on else { return &self.control };
        if self.shards.is_empty() {
            return &self.control;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(scope.schema().as_str(), &mut hasher);
        let home = (std::hash::Hasher::finish(&hasher) % self.shards.len() as u64) as usize;
        let neighbour = (home + 1) % self.shards.len();
        let (home_pool, neighbour_pool) = (&self.shards[home], &self.shards[neighbour]);
        if !has_free_connection(home_pool) && idle(neighbour_pool) > 0 {
            return neighbour_pool;
        }
        home_pool
    }
}

/// Idle connections in a pool (a snapshot: another task may take one at once).
fn idle(conn: &DatabaseConnection) -> usize {
    conn.get_postgres_connection_pool().num_idle()
}

/// Whether a pool has a connection idle or room to open one.
fn has_free_connection(conn: &DatabaseConnection) -> bool {
    let pool = conn.get_postgres_connection_pool();
    pool.num_idle() > 0 || pool.size() < pool.options().get_max_connections()
}
