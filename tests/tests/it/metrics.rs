//! `/metrics`: guarded by the admin token, Prometheus text that parses, HTTP series by route
//! pattern, and per-tenant series bounded to the busiest `metrics.top_tenants` plus `other`.

use std::collections::HashMap;

use futures::StreamExt;
use tenantry_tests::{ADMIN_TOKEN, TestApp};

/// One sample of the exposition: metric name, labels, value.
pub(crate) type Sample = (String, HashMap<String, String>, f64);

/// Parses the Prometheus text format (0.0.4) strictly enough to fail on anything malformed:
/// every line is a comment (`# HELP`/`# TYPE`) or `name{label="value",...} number`.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(comment.starts_with("HELP ") || comment.starts_with("TYPE "), "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series, HashMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let labels = body
                    .split("\",")
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label: {line}"));
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
        };
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'), "{line}");
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

pub(crate) async fn scrape(app: &TestApp) -> Vec<Sample> {
    let response =
        app.client.get(app.url("/metrics")).bearer_auth(ADMIN_TOKEN).send().await.expect("answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse(&response.text().await.expect("a body"))
}

pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, _, v)| *v)
}

#[tokio::test]
async fn metrics_need_the_admin_token_and_count_requests_by_route_pattern_pools_and_caches() {
    let app = TestApp::spawn().await;
    app.create_tenant("met_a").await;
    let product = app.create_product("met_a", "Widget", "1.00").await;
    for _ in 0..3 {
        assert_eq!(app.get(&format!("/products/{}", product["id"]), Some("met_a")).await.status, 200);
    }

    let anonymous = app.client.get(app.url("/metrics")).send().await.expect("answers");
    assert_eq!(anonymous.status(), 401, "the exposition is the operator's");
    let samples = scrape(&app).await;

    let by_pattern = [("route", "/products/{id}"), ("method", "GET"), ("status", "2xx")];
    assert_eq!(value(&samples, "tenantry_http_requests_total", &by_pattern), Some(3.0));
    assert!(
        !samples
            .iter()
            .any(|(_, l, _)| l.get("route").is_some_and(|r| r.contains(&product["id"].to_string())))
    );
    let histogram = [("route", "/products/{id}"), ("method", "GET"), ("status", "2xx"), ("le", "+Inf")];
    assert_eq!(value(&samples, "tenantry_http_request_duration_seconds_bucket", &histogram), Some(3.0));
    assert!(value(&samples, "tenantry_db_pool_connections", &[("pool", "control")]).is_some());
    assert!(value(&samples, "tenantry_db_statements_total", &[]).is_some_and(|n| n > 0.0));
    // The product's creation and its three reads each waited for a tenant connection.
    assert!(value(&samples, "tenantry_db_acquire_wait_seconds_count", &[]).is_some_and(|n| n >= 4.0));
    assert!(value(&samples, "tenantry_db_pool_in_use_connections", &[("pool", "tenant_0")]).is_some());
    assert!(value(&samples, "tenantry_cache_hits_total", &[("cache", "keys")]).is_some_and(|n| n >= 3.0));
    // Provisioning put the tenant in the registry cache: every request since was a hit.
    assert!(value(&samples, "tenantry_cache_hits_total", &[("cache", "registry")]).is_some_and(|n| n >= 4.0));
    assert!(value(&samples, "tenantry_cache_misses_total", &[("cache", "keys")]).is_some_and(|n| n >= 1.0));
    assert_eq!(value(&samples, "tenantry_tenants_provisioned_total", &[]), Some(1.0));
    assert_eq!(value(&samples, "tenantry_tenant_requests_total", &[("tenant", "met_a")]), Some(4.0));
}

#[tokio::test]
async fn methods_outside_the_standard_ones_are_counted_as_other_so_no_caller_can_add_series() {
    let app = TestApp::spawn().await;
    for n in 0..20 {
        let method = reqwest::Method::from_bytes(format!("BREW{n}").as_bytes()).expect("a token");
        for path in ["/products", "/no/such/route"] {
            let answered = app.client.request(method.clone(), app.url(path)).send().await.expect("answers");
            assert!(answered.status().is_client_error(), "{}", answered.status());
        }
    }

    let samples = scrape(&app).await;

    let http: Vec<_> = samples.iter().filter(|(n, _, _)| n == "tenantry_http_requests_total").collect();
    assert!(http.iter().all(|(_, l, _)| !l["method"].starts_with("BREW")), "{http:?}");
    let other =
        |route| value(&samples, "tenantry_http_requests_total", &[("route", route), ("method", "other")]);
    assert_eq!(other("/products"), Some(20.0));
    assert_eq!(other("-"), Some(20.0));
}

/// Registers `n` tenants `bulk_<i>` with keys `tnt_bulk_<i>` straight in the registry (no
/// schemas: their requests are answered 401 once the missing schema is seen, after the key
/// and tenant were resolved, so each still counts as a request of that tenant).
async fn register_bulk_tenants(app: &TestApp, n: u32) {
    app.db
        .execute(&format!(
            "INSERT INTO tenantry.tenants (slug, schema_name, name, state) \
             SELECT 'bulk_' || i, 'tenant_bulk_' || i, 'Bulk ' || i, 'active' FROM generate_series(1, {n}) i; \
             INSERT INTO tenantry.api_keys (tenant_id, prefix, hash) \
             SELECT id, left('tnt_' || slug, 12), sha256(convert_to('tnt_' || slug, 'UTF8')) \
             FROM tenantry.tenants WHERE slug LIKE 'bulk\\_%'"
        ))
        .await;
}

#[tokio::test]
async fn ten_thousand_tenants_make_at_most_k_plus_one_tenant_series_and_a_busy_one_gets_its_own() {
    const K: usize = 5;
    let app = TestApp::spawn_with(&[("APP__METRICS__TOP_TENANTS", "5"), ("APP__LOG__REQUESTS", "off")]).await;
    register_bulk_tenants(&app, 10_000).await;
    let sent = futures::stream::iter(1..=10_000)
        .map(|i| {
            let request = app.client.get(app.url("/products")).bearer_auth(format!("tnt_bulk_{i}"));
            async move { request.send().await.map(|r| r.status().as_u16()) }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    assert!(sent.iter().all(|s| matches!(s, Ok(401))), "each key resolved, then its schema found gone");

    let tenant_series = |samples: &[Sample]| -> Vec<(String, f64)> {
        let mut series: Vec<_> = samples
            .iter()
            .filter(|(n, _, _)| n == "tenantry_tenant_requests_total")
            .map(|(_, l, v)| (l["tenant"].clone(), *v))
            .collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        series
    };
    let before = tenant_series(&scrape(&app).await);
    assert!(before.len() <= K + 1, "{} series: {before:?}", before.len());
    assert_eq!(before.iter().map(|(_, v)| v).sum::<f64>(), 10_000.0, "nothing lost: {before:?}");

    // One tenant becomes the busiest.
    app.create_tenant("busy_one").await;
    for _ in 0..3 {
        assert_eq!(app.get("/products", Some("busy_one")).await.status, 200);
    }
    let samples = scrape(&app).await;
    let after = tenant_series(&samples);
    assert!(after.len() <= K + 1, "{after:?}");
    assert!(after.contains(&("busy_one".to_owned(), 3.0)), "{after:?}");
    assert!(after.iter().any(|(t, v)| t == "other" && *v >= 10_000.0 - K as f64), "{after:?}");
    assert_eq!(value(&samples, "tenantry_tenant_errors_total", &[("tenant", "busy_one")]), Some(0.0));
}
