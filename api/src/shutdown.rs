//! Stopping the server gracefully. SIGINT, SIGTERM and [`StopHandle::stop`] take one path: the
//! listener closes at once, in-flight requests get up to `server.shutdown_timeout_secs` to
//! finish, then the database pool is closed inside the runtime and one "server stopped" line
//! is logged.
//!
//! actix-server's own signal handling is not used: it treats SIGINT as a forced shutdown
//! (in-flight requests are cut off, and sqlx connections dropped outside a Tokio context
//! panic), and it would install process-wide handlers in every test that starts a server.

use std::sync::Arc;

use derive_more::Display;
use tokio::sync::watch;

/// Why the server is stopping.
#[derive(Clone, Copy, Debug, Display, PartialEq, Eq)]
pub enum StopReason {
    /// The process got SIGINT (Ctrl-C).
    #[display("SIGINT received")]
    Interrupt,
    /// The process got SIGTERM (e.g. from an orchestrator).
    #[display("SIGTERM received")]
    Terminate,
    /// [`StopHandle::stop`] or [`StopHandle::request_stop`] was called.
    #[display("stop requested")]
    Requested,
}

/// Stops a running [`crate::Application`] gracefully; cheap to clone, usable from any thread.
#[derive(Clone, Debug)]
pub struct StopHandle {
    /// The first reason given; later requests change nothing.
    request: Arc<watch::Sender<Option<StopReason>>>,
    /// Becomes `true` when the server has stopped; closed if it was dropped without stopping.
    stopped: watch::Receiver<bool>,
}

/// The server's side of a [`StopHandle`]: what `run_until_stopped` waits on and reports to.
#[derive(Debug)]
pub(crate) struct StopSignal {
    request: watch::Receiver<Option<StopReason>>,
    stopped: watch::Sender<bool>,
}

/// A connected handle and signal.
pub(crate) fn stop_channel() -> (StopHandle, StopSignal) {
    let (request_tx, request) = watch::channel(None);
    let (stopped, stopped_rx) = watch::channel(false);
    (StopHandle { request: Arc::new(request_tx), stopped: stopped_rx }, StopSignal { request, stopped })
}

impl StopHandle {
    /// Asks the server to stop, and returns at once. The first request's reason is the one
    /// logged; asking again changes nothing.
    pub fn request_stop(&self, reason: StopReason) {
        self.request.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(reason);
            }
            first
        });
    }

    /// Asks the server to stop and waits until it has: in-flight requests answered (or cut off
    /// at the shutdown timeout) and the pool closed. Also returns if the server was dropped
    /// without running to the end.
    pub async fn stop(&self) {
        self.request_stop(StopReason::Requested);
        let mut stopped = self.stopped.clone();
        // An error means the server is gone without reporting, which is stopped too.
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }

    /// Whether a stop has been asked for.
    pub fn is_stopping(&self) -> bool {
        self.request.borrow().is_some()
    }

    /// From now on, SIGINT and SIGTERM stop the server through this handle (a second signal
    /// while stopping is logged and changes nothing: the drain is bounded by the timeout).
    /// Must be called inside a Tokio runtime. Only the binary calls this: a test process keeps
    /// its signals.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let handle = self.clone();
        tokio::spawn(async move {
            loop {
                let reason = tokio::select! {
                    Some(()) = interrupt.recv() => StopReason::Interrupt,
                    Some(()) = terminate.recv() => StopReason::Terminate,
                    else => return,
                };
                if handle.is_stopping() {
                    log::warn!("{reason} while stopping; still finishing in-flight requests");
                }
                handle.request_stop(reason);
            }
        });
        Ok(())
    }
}

impl StopSignal {
    /// Waits until a stop is asked for, and says why.
    pub(crate) async fn requested(&mut self) -> StopReason {
        loop {
            if let Some(reason) = *self.request.borrow_and_update() {
                return reason;
            }
            // The sender lives in every handle, and `Application` keeps one until it runs, so
            // the channel closes only once nobody can ask any more: then wait forever.
            if self.request.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Tells every [`StopHandle::stop`] waiting that the server has stopped.
    pub(crate) fn report_stopped(self) {
        self.stopped.send_replace(true);
    }
}
