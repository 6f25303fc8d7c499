//! [`Admission`]: whether this instance serves a tenant's data-plane request now, by the
//! tenant's rate (a governor token bucket) and concurrency (a semaphore) limits.
//!
//! Each limited tenant has one gate here, keyed by its registry id and built from the limits
//! it was resolved with. A request whose tenant comes with other limits than its gate was built
//! for (a PATCH on this instance updates the registry at once; elsewhere within the registry
//! TTL) rebuilds the gate: a new bucket, full, and a new semaphore (requests still in flight
//! release their slots to the old one). A tenant with neither limit touches no gate at all.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, QuantaClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use moka::sync::Cache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Limits, Rate};
use crate::ServiceError;
use crate::error::Throttle;
use crate::tenants::CACHE_CAPACITY;

/// How long an unused gate is kept: long past any request (the statement timeout bounds
/// those), so a gate is never dropped while it has requests in flight; short enough that
/// gates of tenants gone quiet do not pile up.
const GATE_IDLE: Duration = Duration::from_secs(600);

type Bucket =
    RateLimiter<NotKeyed, InMemoryState, QuantaClock, NoOpMiddleware<<QuantaClock as Clock>::Instant>>;

/// One tenant's bucket and slots, with the limits they were built for.
struct Gate {
    rate: Option<Rate>,
    concurrent: Option<NonZeroU32>,
    bucket: Option<Bucket>,
    slots: Option<Arc<Semaphore>>,
}

/// The data-plane admission of this instance.
#[derive(Clone)]
pub struct Admission {
    gates: Cache<i64, Arc<Gate>>,
    clock: QuantaClock,
}

/// A request admitted: holds its tenant's concurrency slot, if it has a limit, until dropped
/// (when the request ends, however it ends: answered, failed, or its client gone).
#[must_use = "the concurrency slot is released when this is dropped"]
#[derive(Debug)]
pub struct Admitted {
    _slot: Option<OwnedSemaphorePermit>,
}

impl Default for Admission {
    fn default() -> Self {
        Self::new()
    }
}

impl Admission {
    /// No gates yet.
    pub fn new() -> Self {
        Self {
            gates: Cache::builder().max_capacity(CACHE_CAPACITY).time_to_idle(GATE_IDLE).build(),
            clock: QuantaClock::default(),
        }
    }

    /// Admits a request of tenant `id` under `limits`, or refuses it: over its rate, with how
    /// long until a request would conform; at its concurrency limit, to retry in a second.
    pub fn admit(&self, id: i64, limits: &Limits) -> Result<Admitted, ServiceError> {
        if limits.rate.is_none() && limits.concurrent.is_none() {
            return Ok(Admitted { _slot: None });
        }
        let gate = self.gate(id, limits);
        if let (Some(bucket), Some(rate)) = (&gate.bucket, gate.rate)
            && let Err(not_until) = bucket.check()
        {
            let wait = not_until.wait_time_from(self.clock.now());
            return Err(ServiceError::Throttled(Throttle::Rate { rate, retry_after: whole_seconds(wait) }));
        }
        let slot = match (&gate.slots, gate.concurrent) {
            (Some(slots), Some(limit)) => Some(
                Arc::clone(slots)
                    .try_acquire_owned()
                    .map_err(|_| ServiceError::Throttled(Throttle::Concurrency { limit }))?,
            ),
            _ => None,
        };
        Ok(Admitted { _slot: slot })
    }

    /// The tenant's gate, (re)built when its limits are not the ones it was built for.
    fn gate(&self, id: i64, limits: &Limits) -> Arc<Gate> {
        let fits = |gate: &Gate| gate.rate == limits.rate && gate.concurrent == limits.concurrent;
        let entry = self.gates.entry(id).and_compute_with(|current| match current {
            Some(entry) if fits(entry.value()) => moka::ops::compute::Op::Nop,
            _ => moka::ops::compute::Op::Put(Arc::new(self.build(limits))),
        });
        match entry {
            moka::ops::compute::CompResult::Inserted(e)
            | moka::ops::compute::CompResult::ReplacedWith(e)
            | moka::ops::compute::CompResult::Unchanged(e) => e.into_value(),
            // Neither Op asks for these; build one anyway rather than fail the request.
            moka::ops::compute::CompResult::StillNone(_) | moka::ops::compute::CompResult::Removed(_) => {
                Arc::new(self.build(limits))
            }
        }
    }

    fn build(&self, limits: &Limits) -> Gate {
        let bucket = limits.rate.map(|rate| {
            let quota = Quota::per_second(rate.per_second).allow_burst(rate.burst);
            RateLimiter::direct_with_clock(quota, self.clock.clone())
        });
        let slots = limits.concurrent.map(|n| Arc::new(Semaphore::new(n.get() as usize)));
        Gate { rate: limits.rate, concurrent: limits.concurrent, bucket, slots }
    }
}

/// `Retry-After` is whole seconds: the wait rounded up, at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: u32, burst: u32, concurrent: Option<u32>) -> Limits {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Limits {
            rate: Some(Rate { per_second: n(per_second), burst: n(burst) }),
            concurrent: concurrent.map(n),
            ..Limits::default()
        }
    }

    #[test]
    fn a_burst_is_admitted_then_refused_with_a_whole_second_to_wait() {
        let admission = Admission::new();
        let slow = limits(1, 3, None);
        for _ in 0..3 {
            assert!(admission.admit(1, &slow).is_ok());
        }
        match admission.admit(1, &slow) {
            Err(ServiceError::Throttled(Throttle::Rate { retry_after, .. })) => assert_eq!(retry_after, 1),
            other => panic!("expected a rate refusal, got {other:?}"),
        }
        assert!(admission.admit(2, &slow).is_ok(), "another tenant has its own bucket");
        assert!(admission.admit(1, &limits(1, 5, None)).is_ok(), "new limits, a new full bucket");
    }

    #[test]
    fn a_concurrency_slot_is_held_until_the_admission_is_dropped() {
        let admission = Admission::new();
        let one = limits(1000, 1000, Some(1));
        let first = admission.admit(7, &one).expect("admitted");
        assert!(matches!(
            admission.admit(7, &one),
            Err(ServiceError::Throttled(Throttle::Concurrency { .. }))
        ));
        drop(first);
        assert!(admission.admit(7, &one).is_ok());
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    }
}
