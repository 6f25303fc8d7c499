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

use log::{Level, Log, Metadata, Record};

/// The target sqlx logs Postgres notices under.
pub const NOTICE_TARGET: &str = "sqlx::postgres::notice";

/// Installs the logger for this process: `RUST_LOG` if set, else `default_filter` (such as
/// `info`). Does nothing if a logger is already installed.
pub fn init(default_filter: &str) {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter)).build();
    let max_level = logger.filter();
    if log::set_boxed_logger(Box::new(NoticesAtDebug::new(logger))).is_ok() {
        log::set_max_level(max_level);
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

impl<L: Log> Log for NoticesAtDebug<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if is_notice(metadata.target(), metadata.level()) {
            let demoted = Metadata::builder().level(Level::Debug).target(metadata.target()).build();
            return self.inner.enabled(&demoted);
        }
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
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
}
