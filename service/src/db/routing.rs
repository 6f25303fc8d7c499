//! Tenant-affine routing: which sub-pool serves a tenant's unit of work.

use std::hash::Hasher;

use super::tenant_pool::TenantPool;
use super::work::Source;
use super::{Db, On};

impl Db {
    /// The pool a unit of work runs on. A tenant's is its home sub-pool, chosen by a hash of
    /// its schema; when every connection there is busy and the next sub-pool has one idle,
    /// that one instead. So each backend meets about 2/N of the tenants, and one busy tenant is
    /// not held to one sub-pool's connections.
    pub(super) fn pool_for(&self, on: On<'_>) -> Source<'_> {
        let On::Tenant(scope) = on else { return Source::Orm(&self.control) };
        let tenant = |pool| Source::Tenant {
            pool,
            statements: &self.statements,
            acquire: &self.meters.acquire_seconds,
        };
        if self.shards.len() == 1 {
            return tenant(&self.shards[0]);
        }
        // FNV-1a over the name's bytes: fixed by its specification, so a tenant keeps its
        // sub-pool across builds and Rust releases (std's DefaultHasher promises neither).
        let mut hasher = fnv::FnvHasher::default();
        hasher.write(scope.schema().as_str().as_bytes());
        let home = (hasher.finish() % self.shards.len() as u64) as usize;
        let neighbour = (home + 1) % self.shards.len();
        let (home_pool, neighbour_pool) = (&self.shards[home], &self.shards[neighbour]);
        if !has_free_connection(home_pool) && neighbour_pool.status().available > 0 {
            return tenant(neighbour_pool);
        }
        tenant(home_pool)
    }
}

/// Whether a pool has a connection idle or room to open one (a snapshot: another task may
/// take it at once).
fn has_free_connection(pool: &TenantPool) -> bool {
    let status = pool.status();
    status.available > 0 || status.size < status.max_size
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;

    #[test]
    fn the_routing_hash_is_fnv_1a_as_specified() {
        // Published FNV-1a 64-bit test vectors: a sub-pool choice must never change under us.
        for (input, expected) in
            [("", 0xcbf2_9ce4_8422_2325_u64), ("a", 0xaf63_dc4c_8601_ec8c), ("foobar", 0x8594_4171_f739_67e8)]
        {
            let mut hasher = fnv::FnvHasher::default();
            hasher.write(input.as_bytes());
            assert_eq!(hasher.finish(), expected, "{input:?}");
        }
    }
}
