//! [`TenantPool`]: the pools tenant queries run on, of plain sqlx connections that a unit of
//! work holds from its first statement to its end and hands back without a round trip.
//!
//! A sqlx pool pings every connection handed back to it (a Sync and its ReadyForQuery: one
//! more wake-up of the Postgres backend and of the server per unit of work, measured at a
//! third of Postgres' CPU per request) and has no setting to stop it. The ping is there to
//! flush a rollback queued by a transaction dropped mid-way and to catch a connection left
//! mid-statement; here a unit of work that did not end cleanly (cancelled, failed mid-way, its
//! connection lost) closes its connection at once ([`Lease`]), and the pool's recycle step
//! refuses any connection not marked clean. A clean one goes back as it is: nothing is
//! pending on it. The rest of what sqlx's pool did on the way out or in is done on the way in
//! (see [`Connector::recycle`]): retiring a connection past its lifetime, and pinging one
//! idle since a connection was last found dead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};

use super::health::Health;
use crate::ServiceError;

/// A pool of tenant connections.
pub type TenantPool = managed::Pool<Connector>;

/// A connection held out of a [`TenantPool`].
pub type Pooled = managed::Object<Connector>;

/// A connection taken from a tenant pool for one unit of work, until [`Lease::release`].
/// Dropped without that (the unit was cancelled or failed mid-way), it is taken out of the pool
/// and closed at once, so a transaction it was in ends with it (Postgres rolls it back) instead
/// of keeping its locks until the pool would next hand it out.
#[derive(Debug)]
pub struct Lease(Option<Pooled>);

impl Lease {
    /// Takes `conn` for a unit of work: the pool will not reuse it unless released.
    pub fn new(mut conn: Pooled) -> Self {
        conn.hold();
        Self(Some(conn))
    }

    /// Hands the connection back as clean: only with nothing in flight and no transaction open.
    pub fn release(mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.release();
        }
    }

    /// The connection itself, to read.
    pub fn get(&self) -> &PgConnection {
        &self.0.as_ref().expect("a lease holds its connection until dropped").raw
    }

    /// The connection itself.
    pub fn raw(&mut self) -> &mut PgConnection {
        // Some from `new` until `drop`: nothing else takes it.
        &mut self.0.as_mut().expect("a lease holds its connection until dropped").raw
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take()
            && !conn.clean
        {
            drop(managed::Object::take(conn));
        }
    }
}

/// One pooled connection and what the pool must know of how it was last left.
#[derive(Debug)]
pub struct Conn {
    /// The connection itself.
    pub raw: PgConnection,
    /// Whether the last unit of work that held it ended cleanly: nothing in flight, no
    /// transaction open. Cleared when a unit takes it, set again only when that unit ended.
    clean: bool,
    /// When it was last handed back clean.
    released: Instant,
}

impl Conn {
    /// Marks the connection as held by a unit of work that has not ended yet.
    pub fn hold(&mut self) {
        self.clean = false;
    }

    /// Marks the connection as left with nothing in flight and no transaction open.
    pub fn release(&mut self) {
        self.clean = true;
        self.released = Instant::now();
    }
}

/// Opens and checks a pool's connections.
#[derive(Debug)]
pub struct Connector {
    options: PgConnectOptions,
    health: Arc<Health>,
    max_lifetime: Duration,
}

impl managed::Manager for Connector {
    type Type = Conn;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Conn, sqlx::Error> {
        // Boxed: sqlx's connect future is about 10 KiB, and unboxed it would sit in every
        // acquisition's future (and so in every request's), copied each time one moves.
        let raw = Box::pin(self.options.connect()).await?;
        Ok(Conn { raw, clean: true, released: Instant::now() })
    }

    /// Whether a connection may serve again: only one left clean and younger than the pool's
    /// lifetime (a backend's relation and plan caches only grow, so this bounds them), pinged
    /// first when it has sat idle since a connection was last found dead. A connection refused
    /// here is closed and the pool takes or opens another.
    async fn recycle(&self, conn: &mut Conn, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if !conn.clean {
            return Err(RecycleError::message("its last unit of work did not end cleanly"));
        }
        if metrics.age() >= self.max_lifetime {
            return Err(RecycleError::message("past its lifetime"));
        }
        if self.health.suspect(conn.released.elapsed()) {
            conn.raw.ping().await?;
        }
        Ok(())
    }
}

/// A pool of at most `size` connections opened with `options`; a caller waits at most
/// `acquire_timeout` for one, and opening one may take as long.
pub fn open(
    options: PgConnectOptions,
    size: u32,
    acquire_timeout: Duration,
    max_lifetime: Duration,
    health: Arc<Health>,
) -> Result<TenantPool, ServiceError> {
    let connector = Connector { options, health, max_lifetime };
    let timeouts = managed::Timeouts {
        wait: Some(acquire_timeout),
        create: Some(acquire_timeout),
        recycle: Some(acquire_timeout),
    };
    managed::Pool::builder(connector)
        .max_size(size as usize)
        .timeouts(timeouts)
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| ServiceError::Unexpected(format!("a tenant pool: {e}")))
}

/// Closes `pool`: its idle connections end with a Terminate message (so Postgres logs no lost
/// client), and those still held close when they come back.
pub async fn close(pool: &TenantPool) {
    let idle = pool.retain(|_, _| false);
    pool.close();
    for conn in idle.removed {
        conn.raw.close().await.ok();
    }
}
