//! [`Health`]: what the pools have seen of the database, so dead connections are not handed
//! out twice and an unreachable database is reported within seconds, not after the acquire
//! timeout.
//!
//! Two facts are kept. When a connection is found dead (the server restarted, or its backend
//! was terminated), every connection that had sat idle since before that moment is suspect:
//! the pools ping those once before handing them out (no ping otherwise, so a warm request
//! still costs one round trip). And when a unit of work has waited a while, a fresh connection
//! attempt tells "the pool is busy" (keep waiting) from "the database is unreachable" (answer
//! 503 now): sqlx's pool retries a refused connection silently until its acquire timeout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
use tokio::sync::Mutex;

/// How long a unit of work waits before the database's reachability is checked.
pub const PROBE_AFTER: Duration = Duration::from_millis(750);
/// Longest a reachability check may take; together with [`PROBE_AFTER`] it bounds how long a
/// request waits on a database that does not answer at all (under 4 s; one that refuses
/// connections is told within about a second). Not shorter: on a loaded machine opening a
/// connection took over a second (measured in CI: a busy database called unreachable).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one check's answer stands: while the database is unreachable, requests in this
/// window are refused at once instead of each waiting for a check of its own.
const PROBE_VALID: Duration = Duration::from_millis(500);

/// Shared by every pool of one [`super::Db`].
#[derive(Debug)]
pub struct Health {
    origin: Instant,
    /// Milliseconds after `origin` when a connection was last found dead, plus one (0: never).
    last_loss: AtomicU64,
    /// Milliseconds after `origin` until which the last check's "unreachable" stands (0: none):
    /// read by every unit of work, so an atomic rather than the lock below.
    unreachable_until: AtomicU64,
    /// When the database was last checked, and whether it answered; held while checking, so
    /// one check runs at a time.
    last_probe: Mutex<Option<(Instant, bool)>>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            last_loss: AtomicU64::new(0),
            unreachable_until: AtomicU64::new(0),
            last_probe: Mutex::new(None),
        }
    }
}

impl Health {
    /// Records that a connection was found dead just now.
    pub fn connection_lost(&self) {
        self.last_loss.fetch_max(self.now_ms() + 1, Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX / 2)
    }

    /// Whether a connection idle for `idle_for` has been idle since before a connection was
    /// last found dead, and so may be dead too.
    pub fn suspect(&self, idle_for: Duration) -> bool {
        let loss = self.last_loss.load(Ordering::Relaxed);
        if loss == 0 {
            return false;
        }
        let since_loss = self.origin.elapsed().saturating_sub(Duration::from_millis(loss - 1));
        idle_for >= since_loss
    }

    /// Whether a check in the last moment found the database unreachable.
    pub fn known_unreachable(&self) -> bool {
        self.now_ms() < self.unreachable_until.load(Ordering::Relaxed)
    }

    /// Resolves only if the database is unreachable: after [`PROBE_AFTER`], it tries a fresh
    /// connection (one check at a time, shared by every waiting caller) and stays pending while
    /// the database answers, so a caller that is merely waiting for a busy pool keeps waiting.
    pub async fn unreachable(&self, target: &PgConnectOptions) {
        tokio::time::sleep(PROBE_AFTER).await;
        loop {
            if !self.probe(target).await {
                return;
            }
            tokio::time::sleep(PROBE_AFTER).await;
        }
    }

    /// Whether the database accepts a connection now, from a check at most [`PROBE_VALID`] old.
    async fn probe(&self, target: &PgConnectOptions) -> bool {
        let mut last = self.last_probe.lock().await;
        if let Some((at, reachable)) = *last
            && at.elapsed() < PROBE_VALID
        {
            return reachable;
        }
        // Boxed: sqlx's connect future is about 10 KiB, and every unit of work's future holds
        // this probe's.
        let reachable = match tokio::time::timeout(PROBE_TIMEOUT, Box::pin(target.connect())).await {
            Ok(Ok(conn)) => {
                conn.close().await.ok();
                true
            }
            Ok(Err(e)) => {
                log::warn!("the database does not accept connections: {e}");
                false
            }
            Err(_) => {
                log::warn!("the database did not answer a connection attempt within {PROBE_TIMEOUT:?}");
                false
            }
        };
        *last = Some((Instant::now(), reachable));
        let until = if reachable { 0 } else { self.now_ms() + PROBE_VALID.as_millis() as u64 };
        self.unreachable_until.store(until, Ordering::Relaxed);
        reachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_suspect_before_a_loss() {
        assert!(!Health::default().suspect(Duration::from_secs(3600)));
    }

    #[test]
    fn only_connections_idle_since_before_the_loss_are_suspect() {
        let health = Health::default();
        std::thread::sleep(Duration::from_millis(20));
        health.connection_lost();
        std::thread::sleep(Duration::from_millis(20));
        assert!(health.suspect(Duration::from_millis(30)), "idle since before the loss");
        assert!(!health.suspect(Duration::from_millis(5)), "used after the loss");
    }
}
