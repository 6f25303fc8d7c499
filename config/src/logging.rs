//! The logger both binaries install: `env_logger`, filtered by `RUST_LOG` (or the binary's
//! default filter), with Postgres NOTICEs demoted to debug.
//!
//! sqlx logs every NOTICE a server sends (`schema "tenantry" already exists, skipping`,
//! `drop cascades to 3 other objects`) at INFO under the target `sqlx::postgres::notice`, and
//! has no setting for that level. They are expected on every start, provision and delete, so
//! at INFO they drown what matters. Asking Postgres not to send them (`client_min_messages`)
//! would hide them even from someone debugging, and a pooler drops that start-up option
//! anyway; so they are logged at DEBUG instead: `RUST_LOG=debug` (or
//! `RUST_LOG=info,sqlx::postgres::notice=debug`) shows them. Warnings and errors from Postgres
//! keep their level.
//!
//! A line logged while a request is being served ([`in_request`]) ends with that request's
//! id (`request_id=...`), whichever crate logs it, so an operator goes from the id in an error
//! answer to every line about that request with one grep. Records of [`JSON_TARGET`] are
//! written bare, one JSON object per line, for log shippers.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use log::{Level, Log, Metadata, Record};

/// The target sqlx logs Postgres notices under.
pub const NOTICE_TARGET: &str = "sqlx::postgres::notice";

/// Installs the logger for this process: `RUST_LOG` if set, else `default_filter` (such as
/// `info`). Does nothing if a logger is already installed.
pub fn init(default_filter: &str) {
    let default_format = env_logger::fmt::ConfigurableFormat::default();
    let logger = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        .format(move |buf, record| {
            if record.target() == JSON_TARGET {
                use std::io::Write as _;
                writeln!(buf, "{}", record.args())
            } else {
                default_format.format(buf, record)
            }
        })
        .build();
    let max_level = logger.filter();
    install(Box::new(logger), max_level);
}

/// Installs `inner`, wrapped as [`init`] wraps env_logger (notices at debug, request ids
/// appended), as this process's logger: for tests that read what the server logs. Does
/// nothing if a logger is already installed.
pub fn install(inner: Box<dyn Log>, max_level: log::LevelFilter) {
    if log::set_boxed_logger(Box::new(NoticesAtDebug::new(inner))).is_ok() {
        log::set_max_level(max_level);
    }
}

/// The target whose records are written bare: each is one JSON object (the request log's
/// JSON format).
pub const JSON_TARGET: &str = "tenantry::request::json";

thread_local! {
    /// The id of the request whose future this thread is polling, if any.
    static REQUEST_ID: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Runs `future` as the serving of request `id`: every line logged while it is polled ends
/// with `request_id=<id>`. A thread-local set around each poll, not a task-local, so it holds
/// on any executor and with nested requests on one thread (each poll restores the previous).
pub fn in_request<F: Future>(id: Arc<str>, future: F) -> InRequest<F> {
    InRequest { id, future: Box::pin(future) }
}

/// Runs `f` as part of serving request `id` (as [`in_request`] does for a future): what it
/// logs ends with `request_id=<id>`.
pub fn with_request_id<T>(id: Arc<str>, f: impl FnOnce() -> T) -> T {
    let previous = REQUEST_ID.with(|current| current.replace(Some(id)));
    let _restore = Restore(previous);
    f()
}

/// The id of the request being served on this thread, if any (see [`in_request`]).
pub fn current_request_id() -> Option<Arc<str>> {
    REQUEST_ID.with(|current| current.borrow().clone())
}

/// A future served as one request's (see [`in_request`]).
pub struct InRequest<F> {
    id: Arc<str>,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for InRequest<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let previous = REQUEST_ID.with(|current| current.replace(Some(Arc::clone(&self.id))));
        // Restored on the way out even if the poll panics: otherwise the thread would go on
        // tagging every later line with this request's id.
        let _restore = Restore(previous);
        self.future.as_mut().poll(cx)
    }
}

/// Puts the request id that was current back when dropped (see [`InRequest::poll`]).
struct Restore(Option<Arc<str>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        REQUEST_ID.with(|current| current.replace(previous));
    }
}

/// Wraps a logger so that Postgres NOTICEs (INFO records from [`NOTICE_TARGET`]) reach it, and
/// its filter, as DEBUG records.
#[derive(Debug)]
pub struct NoticesAtDebug<L> {
    inner: L,
}

impl<L: Log> NoticesAtDebug<L> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> Self {
        Self { inner }
    }
}

/// Whether a record at `level` for `target` is a NOTICE to demote.
fn is_notice(target: &str, level: Level) -> bool {
    level == Level::Info && target == NOTICE_TARGET
}

impl<L: Log> NoticesAtDebug<L> {
    /// Passes `record` on at `level` with `args` as its message, if the filter lets it through.
    fn emit(&self, record: &Record<'_>, level: Level, args: std::fmt::Arguments<'_>) {
        let record = Record::builder()
            .level(level)
            .target(record.target())
            .args(args)
            .module_path(record.module_path())
            .file(record.file())
            .line(record.line())
            .build();
        if self.inner.enabled(record.metadata()) {
            self.inner.log(&record);
        }
    }
}

impl<L: Log> Log for NoticesAtDebug<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if is_notice(metadata.target(), metadata.level()) {
            let demoted = Metadata::builder().level(Level::Debug).target(metadata.target()).build();
            return self.inner.enabled(&demoted);
        }
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if let Some(id) = current_request_id()
            && record.target() != JSON_TARGET
        {
            let level =
                if is_notice(record.target(), record.level()) { Level::Debug } else { record.level() };
            return self.emit(record, level, format_args!("{} request_id={id}", record.args()));
        }
        if !is_notice(record.target(), record.level()) {
            return self.inner.log(record);
        }
        let demoted = Record::builder()
            .level(Level::Debug)
            .target(record.target())
            .args(*record.args())
            .module_path(record.module_path())
            .file(record.file())
            .line(record.line())
            .build();
        if self.inner.enabled(demoted.metadata()) {
            self.inner.log(&demoted);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the logger writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Logs an INFO notice, an INFO line of our own and a WARN notice through a logger with
    /// `filter`, returning what it wrote.
    fn log_with(filter: &str) -> String {
        let captured = Captured::default();
        let inner = env_logger::Builder::new()
            .parse_filters(filter)
            .target(env_logger::Target::Pipe(Box::new(captured.clone())))
            .build();
        let logger = NoticesAtDebug::new(inner);
        for (level, target, text) in [
            (Level::Info, NOTICE_TARGET, "schema \"tenantry\" already exists, skipping"),
            (Level::Info, "tenantry_migration::cli", "using database tenantry"),
            (Level::Warn, NOTICE_TARGET, "a warning from Postgres"),
        ] {
            let args = format_args!("{text}");
            let record = Record::builder().level(level).target(target).args(args).build();
            if logger.enabled(record.metadata()) {
                logger.log(&record);
            }
        }
        let bytes = captured.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn notices_are_hidden_at_info_and_shown_at_debug() {
        let at_info = log_with("info");
        assert!(!at_info.contains("already exists"), "{at_info}");
        assert!(at_info.contains("using database tenantry"), "{at_info}");
        assert!(at_info.contains("a warning from Postgres"), "{at_info}");

        let at_debug = log_with("info,sqlx::postgres::notice=debug");
        let notice = at_debug.lines().find(|l| l.contains("already exists")).expect("shown at debug");
        assert!(notice.contains("DEBUG"), "{notice}");
    }

    #[test]
    fn a_request_whose_poll_panics_leaves_no_id_behind_on_its_thread() {
        let mut serving = in_request(Arc::from("r-1"), async { panic!("a bug") });
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Pin::new(&mut serving).poll(&mut cx)));
        assert!(polled.is_err(), "the poll panicked");
        assert_eq!(current_request_id(), None, "a later line on this thread would carry r-1");
        assert_eq!(with_request_id(Arc::from("r-2"), current_request_id).as_deref(), Some("r-2"));
        assert_eq!(current_request_id(), None);
    }
}
