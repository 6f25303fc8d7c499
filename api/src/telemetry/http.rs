//! [`HttpMeters`]: the handles of `tenantry_http_requests_total` and
//! `tenantry_http_request_duration_seconds`, registered once per route pattern, method and
//! status class and reused for every later request with the same three, so counting a request
//! costs a read lock, one map lookup and two atomic updates instead of two registrations (each
//! a label vector allocated, hashed and looked up in the recorder's registry).
//!
//! The cache is bounded by what labels it can hold: route patterns are the router's (`-` when
//! none matched), methods the nine of RFC 9110 and RFC 5789 with every other token counted as
//! `other` (actix accepts any token as a method, so the raw method would let any caller add
//! series), and status classes five; so at most `routes x 10 x 5` entries whatever arrives.
//!
//! A held handle stays the series' own because the recorder drops no idle series (no idle
//! timeout is set in `Telemetry::new`), as for the handles the database and caches hold.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use metrics::{Counter, Histogram, Key, Label, Recorder};

use super::METADATA;

/// The `method` label values: the methods of RFC 9110 and PATCH (RFC 5789), then `other`.
const METHODS: [&str; 10] =
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other"];
/// The `status` label values.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Handles one route can have: one per method label and class.
const PER_ROUTE: usize = METHODS.len() * CLASSES.len();

/// One (route, method, class)'s two handles.
struct Handles {
    requests: Counter,
    seconds: Histogram,
}

impl Handles {
    fn record(&self, seconds: f64) {
        self.requests.increment(1);
        self.seconds.record(seconds);
    }
}

/// A route's handles, by method label and class (`method * CLASSES.len() + class`).
type RouteHandles = [Option<Handles>; PER_ROUTE];

/// See the module documentation.
#[derive(Default)]
pub(super) struct HttpMeters {
    by_route: RwLock<HashMap<Box<str>, Box<RouteHandles>>>,
}

impl HttpMeters {
    /// Counts one request answered `status` after `seconds`, registering its handles on
    /// `recorder` the first time this route, method label and class are seen.
    pub(super) fn record(
        &self,
        recorder: &dyn Recorder,
        route: &str,
        method: &str,
        status: u16,
        seconds: f64,
    ) {
        let slot = method_label(method) * CLASSES.len() + class(status);
        {
            let by_route = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(handles) = by_route.get(route).and_then(|slots| slots[slot].as_ref()) {
                handles.record(seconds);
                return;
            }
        }
        let mut by_route = self.by_route.write().unwrap_or_else(PoisonError::into_inner);
        let slots = by_route.entry(route.into()).or_insert_with(|| Box::new([const { None }; PER_ROUTE]));
        slots[slot].get_or_insert_with(|| register(recorder, route, slot)).record(seconds);
    }

    /// How many handle pairs are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        let by_route = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
        by_route.values().map(|slots| slots.iter().flatten().count()).sum()
    }
}

/// The two handles of `route` and `slot`, registered on `recorder`.
fn register(recorder: &dyn Recorder, route: &str, slot: usize) -> Handles {
    let labels = vec![
        Label::new("route", route.to_owned()),
        Label::new("method", METHODS[slot / CLASSES.len()]),
        Label::new("status", CLASSES[slot % CLASSES.len()]),
    ];
    let requests = Key::from_parts("tenantry_http_requests_total", labels.clone());
    let seconds = Key::from_parts("tenantry_http_request_duration_seconds", labels);
    Handles {
        requests: recorder.register_counter(&requests, &METADATA),
        seconds: recorder.register_histogram(&seconds, &METADATA),
    }
}

/// The index in [`METHODS`] of `method`'s label (methods are case-sensitive: `get` is `other`).
fn method_label(method: &str) -> usize {
    METHODS[..METHODS.len() - 1].iter().position(|m| *m == method).unwrap_or(METHODS.len() - 1)
}

/// The index in [`CLASSES`] of `status`'s class; anything from 500 up is `5xx`.
fn class(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    #[test]
    fn a_repeated_request_reuses_its_handles_and_counts_in_the_same_series() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let meters = HttpMeters::default();
        for status in [200, 204, 200] {
            meters.record(&recorder, "/products/{id}", "GET", status, 0.001);
        }
        assert_eq!(meters.len(), 1);
        let text = recorder.handle().render();
        assert!(
            text.contains(
                r#"tenantry_http_requests_total{route="/products/{id}",method="GET",status="2xx"} 3"#
            ),
            "{text}"
        );
    }

    #[test]
    fn extension_methods_and_every_status_add_no_more_than_fifty_handles_to_a_route() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let meters = HttpMeters::default();
        for n in 0..1_000u16 {
            let method = format!("EXT{n}");
            meters.record(&recorder, "-", &method, 100 + n % 500, 0.001);
            meters.record(&recorder, "-", METHODS[usize::from(n) % 9], 100 + n % 500, 0.001);
        }
        assert_eq!(meters.len(), PER_ROUTE);
        let text = recorder.handle().render();
        assert!(!text.contains("EXT"), "{text}");
        assert!(
            text.contains(r#"tenantry_http_requests_total{route="-",method="other",status="4xx"} 200"#),
            "{text}"
        );
    }

    #[test]
    fn each_standard_method_keeps_its_name_and_case_matters() {
        for (i, method) in METHODS[..9].iter().enumerate() {
            assert_eq!(method_label(method), i);
        }
        assert_eq!(METHODS[method_label("get")], "other");
        assert_eq!(CLASSES[class(101)], "1xx");
        assert_eq!(CLASSES[class(399)], "3xx");
        assert_eq!(CLASSES[class(599)], "5xx");
    }
}
