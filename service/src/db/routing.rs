//! Tenant-affine routing: which sub-pool serves a tenant's unit of work.

use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool::managed::{PoolError, TimeoutType, Timeouts};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use metrics::Counter;
use sea_orm::sqlx;

use super::tenant_pool::{Pooled, TenantPool};
use super::work::Source;
use super::{Db, On};

/// Where a unit waiting at the sub-pool it was sent to (`home`: its tenant's, or for a tenant
/// busy on its own the least wanted) goes when no connection comes there within `after`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Elsewhere<'a> {
    shards: &'a [TenantPool],
    home: usize,
    after: Duration,
    /// Counts each unit that went elsewhere: for benchmarks ([`Db::spills`]) and `/metrics`.
    spills: (&'a AtomicU64, &'a Counter),
}

impl Db {
    /// The pool a unit of work runs on. A tenant's is its home sub-pool, chosen by a hash of
    /// its schema, and it waits there when every connection there is taken: so each backend
    /// meets about 1/N of the tenants, and keeps their statements prepared and their relations
    /// open. It waits there for `database.home_wait_ms` at most: then it takes the first
    /// connection any sub-pool frees, so a slow statement of one tenant does not hold up the
    /// others of its sub-pool while other connections serve (see [`get`]). A tenant that alone has more units in flight than its home sub-pool has
    /// connections is busy on its own, not held up by others: it waits where the fewest wait,
    /// any sub-pool, opening connections there if need be, so one busy tenant can use every
    /// connection, as with one pool; there too, past the home wait, it takes the first
    /// connection any sub-pool frees.
    ///
    /// A tenant used to take the next sub-pool's idle connection whenever its own were taken,
    /// without waiting. At 10,000 tenants that doubled the tenants each backend met, so almost
    /// every statement missed the backend's statement cache (three round trips instead of one)
    /// and every request reopened its tables' files: 2.2x fewer requests a second
    /// (docs/DESIGN-NOTES.md). Under load a home sub-pool frees a connection within a few
    /// milliseconds, so the home wait keeps that affinity.
    pub(super) fn pool_for(&self, on: On<'_>) -> Source<'_> {
        let On::Tenant(scope) = on else { return Source::Orm(&self.control) };
        let tenant = |pool, elsewhere| Source::Tenant {
            pool,
            elsewhere,
            statements: &self.statements,
            acquire: &self.meters.acquire_seconds,
        };
        if self.shards.len() == 1 {
            return tenant(&self.shards[0], None);
        }
        // FNV-1a over the name's bytes: fixed by its specification, so a tenant keeps its
        // sub-pool across builds and Rust releases (std's DefaultHasher promises neither).
        let mut hasher = fnv::FnvHasher::default();
        hasher.write(scope.schema().as_str().as_bytes());
        let home = (hasher.finish() % self.shards.len() as u64) as usize;
        let home_status = self.shards[home].status();
        let first = if users(&home_status) < home_status.max_size || scope.in_flight() <= home_status.max_size
        {
            home
        } else {
            least_wanted(&self.shards, home)
        };
        let spills = (&*self.spills, &self.meters.spills);
        let elsewhere = Elsewhere { shards: &self.shards, home: first, after: self.home_wait, spills };
        tenant(&self.shards[first], Some(elsewhere))
    }
}

/// A connection of `pool`, waiting at most the pool's acquire timeout in all. With
/// `elsewhere`, after waiting `elsewhere.after` at home (and never more than half the acquire
/// timeout, so that going elsewhere always has time left) it takes the first connection that
/// comes free in any sub-pool, home included, for the rest of the timeout.
///
/// It waits in every sub-pool's queue at once, not in the one that looked the least wanted:
/// units held up together at home (behind one slow statement) all saw the same idle
/// connection elsewhere, and all but the first that went for it then waited there, or back at
/// home, until the timeout answered 503, while the other sub-pools' connections came free every
/// millisecond (a black-box test, six units behind one slow search, two of them 503). Each
/// sub-pool hands its next connection to the first in its queue, so a unit in every queue is
/// served by whichever frees one first and leaves the others' queues as it goes. This happens
/// only after the home wait, which under load no unit reaches (`tenantry_db_spills_total`).
pub(super) async fn get(
    pool: &TenantPool,
    elsewhere: Option<Elsewhere<'_>>,
) -> Result<Pooled, PoolError<sqlx::Error>> {
    let Some(Elsewhere { shards, home, after, spills }) = elsewhere else { return pool.get().await };
    let timeouts = pool.timeouts();
    let Some(total) = timeouts.wait else { return pool.get().await };
    let after = after.min(total / 2);
    match pool.timeout_get(&Timeouts { wait: Some(after), ..timeouts }).await {
        Err(PoolError::Timeout(TimeoutType::Wait)) => {}
        done => return done,
    }
    let rest = Timeouts { wait: Some(total - after), ..timeouts };
    let mut waits: FuturesUnordered<_> = shards
        .iter()
        .enumerate()
        .map(|(n, shard)| async move { (n, shard.timeout_get(&rest).await) })
        .collect();
    let mut failed = PoolError::Timeout(TimeoutType::Wait);
    // The first connection wins; dropping the other waits leaves their queues (a connection
    // one of them was handed at the same moment goes back to its pool).
    while let Some((n, got)) = waits.next().await {
        match got {
            Ok(conn) => {
                if n != home {
                    spills.0.fetch_add(1, Ordering::Relaxed);
                    spills.1.increment(1);
                }
                return Ok(conn);
            }
            // One sub-pool failing to open a connection is not the end while others may free one.
            Err(e) => failed = e,
        }
    }
    Err(failed)
}

/// Units holding, opening or waiting for a pool's connections (deadpool counts each from the
/// moment it asks).
fn users(status: &deadpool::Status) -> usize {
    status.size - status.available + status.waiting
}

/// Connections a pool has to spare: idle, or room to open one; negative when units wait.
fn spare(pool: &TenantPool) -> isize {
    let status = pool.status();
    status.max_size as isize - users(&status) as isize
}

/// The sub-pool with the most connections to spare (idle, or room to open one), or, when all
/// are taken, the fewest units waiting; `home` on a tie. Each status is a snapshot: another
/// task may take what it shows at once (so a unit sent there may still wait: [`get`]).
fn least_wanted(shards: &[TenantPool], home: usize) -> usize {
    // From `home` on, so the first of equals (which `min_by_key` keeps) is `home`.
    (0..shards.len())
        .map(|step| (home + step) % shards.len())
        .min_by_key(|&n| -spare(&shards[n]))
        .unwrap_or(home)
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
