//! [`logged`]: what the servers of this test binary have logged, for tests that check log
//! lines. The capturing logger is installed through the same wrapper the binaries use
//! (`tenantry_config::logging::install`), so request ids are appended exactly as in production.
//! Every server in the binary logs into it; tests find their own lines by a request id or a
//! slug only they use.

use std::sync::{Mutex, Once, PoisonError};

use log::{Log, Metadata, Record};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

struct Capture;

impl Log for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {} {}", record.level(), record.target(), record.args());
            LINES.lock().unwrap_or_else(PoisonError::into_inner).push(line);
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per test binary).
pub(crate) fn install() {
    INSTALL.call_once(|| tenantry_config::logging::install(Box::new(Capture), log::LevelFilter::Info));
}

/// Every line logged so far that contains `needle`, as `LEVEL target message`.
pub fn logged(needle: &str) -> Vec<String> {
    LINES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}
