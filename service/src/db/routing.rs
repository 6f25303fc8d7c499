//! Tenant-affine routing: which sub-pool serves a tenant's unit of work.

use std::hash::Hasher;

use super::tenant_pool::TenantPool;
use super::work::Source;
use super::{Db, On};

impl Db {
    /// The pool a unit of work runs on. A tenant's is its home sub-pool, chosen by a hash of
    /// its schema, and it waits there when every connection there is taken: so each backend
    /// meets about 1/N of the tenants, and keeps their statements prepared and their relations
    /// open. A tenant that alone has more units in flight than its home sub-pool has
    /// connections is busy on its own, not held up by others: it waits where the fewest wait,
    /// any sub-pool, opening connections there if need be, so one busy tenant can use every
    /// connection, as with one pool.
    ///
    /// A tenant used to take the next sub-pool's idle connection whenever its own were taken.
    /// At 10,000 tenants that doubled the tenants each backend met, so almost every statement
    /// missed the backend's statement cache (three round trips instead of one) and every
    /// request reopened its tables' files: 2.2x fewer requests a second (docs/DESIGN-NOTES.md).
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
        let home_pool = &self.shards[home];
        let home_status = home_pool.status();
        if users(&home_status) < home_status.max_size || scope.in_flight() <= home_status.max_size {
            return tenant(home_pool);
        }
        tenant(least_wanted(&self.shards, home))
    }
}

/// Units holding, opening or waiting for a pool's connections (deadpool counts each from the
/// moment it asks).
fn users(status: &deadpool::Status) -> usize {
    status.size - status.available + status.waiting
}

/// The sub-pool with the most connections to spare (idle, or room to open one), or, when all
/// are taken, the fewest units waiting; `home` on a tie. Each status is a snapshot: another
/// task may take what it shows at once.
fn least_wanted(shards: &[TenantPool], home: usize) -> &TenantPool {
    let load = |pool: &&TenantPool| {
        let status = pool.status();
        users(&status) as isize - status.max_size as isize
    };
    // From `home` on, so the first of equals (which `min_by_key` keeps) is `home`.
    (0..shards.len())
        .map(|step| &shards[(home + step) % shards.len()])
        .min_by_key(load)
        .unwrap_or(&shards[home])
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
