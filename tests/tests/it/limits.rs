//! Per-tenant limits and quotas: a tenant over its rate or at its concurrency limit gets 429
//! with `Retry-After` while other tenants are served; a create beyond a row quota gets 409 and
//! writes nothing, also when creates race; a `PATCH` applies here at once and on another
//! instance within the cache TTL; `null` brings back the default; bad values are refused
//! naming the field; refusals are counted in `/metrics` and changes in the audit log.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenantry_tests::{Reply, TestApp};

use crate::metrics::{scrape, value};

/// `PATCH /tenants/{slug}` with `{"limits": limits}`, as the admin.
async fn set_limits(app: &TestApp, slug: &str, limits: Value) -> Reply {
    app.patch(&format!("/tenants/{slug}"), None, &json!({ "limits": limits })).await
}

/// `GET path` on `app` with `key` (for an instance that did not provision the tenant).
async fn get_with(app: &TestApp, path: &str, key: &str) -> Reply {
    app.send_raw(app.client.get(app.url(path)).bearer_auth(key)).await
}

/// `n` requests of `GET /products` as `tenant`, one after another.
async fn products_n_times(app: &TestApp, tenant: &str, n: usize) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(n);
    for _ in 0..n {
        replies.push(app.get("/products", Some(tenant)).await);
    }
    replies
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn over_its_rate_a_tenant_gets_429_with_retry_after_and_another_tenant_is_served() {
    let app = TestApp::spawn().await;
    app.create_tenant("noisy").await;
    app.create_tenant("quiet").await;

    let reply = set_limits(&app, "noisy", json!({"requests_per_second": 1, "burst": 3})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let limits = &reply.body["limits"];
    assert_eq!((limits["requests_per_second"].as_i64(), limits["burst"].as_i64()), (Some(1), Some(3)));
    assert_eq!(limits["max_products"], Value::Null, "unset: the default");

    let started = Instant::now();
    let replies = products_n_times(&app, "noisy", 10).await;
    let elapsed = started.elapsed();

    let got = statuses(&replies);
    assert_eq!(got[..3], [200, 200, 200], "the burst is served: {got:?}");
    let served = got.iter().filter(|&&s| s == 200).count() as u64;
    assert!(served <= 3 + elapsed.as_secs() + 1, "{served} served in {elapsed:?}: {got:?}");
    let refused = replies.iter().find(|r| r.status == 429).expect("a request over the rate");
    refused.assert_problem(429, "requests_per_second is 1 (burst 3)");
    let retry_after: u64 = refused.retry_after.as_deref().and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(statuses(&products_n_times(&app, "quiet", 10).await), [200; 10], "another tenant is served");
}

#[tokio::test]
async fn at_its_concurrency_limit_a_tenant_gets_429_and_its_slot_comes_back_however_a_request_ends() {
    let app = TestApp::spawn().await;
    app.create_tenant("busy").await;
    app.create_tenant("calm").await;
    let key = app.key_of("busy").expect("key");
    assert_eq!(set_limits(&app, "busy", json!({"max_concurrent_requests": 1})).await.status, 200);
    let table = format!("{}.products", app.schema_of("busy"));

    // One request held in flight on a locked table.
    let lock = app.db.lock_table(&table).await;
    let held = tokio::spawn(app.client.get(app.url("/products")).bearer_auth(&key).send());
    lock.wait_for_waiters(1).await;

    let refused = app.get("/orders", Some("busy")).await;
    refused.assert_problem(429, "max_concurrent_requests is 1");
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    assert_eq!(app.get("/products", Some("calm")).await.status, 200, "another tenant is served");
    lock.release().await;
    let held = held.await.expect("the task").expect("an answer");
    assert_eq!(held.status(), 200);

    // After an answer and after an error, the slot is free again.
    assert_eq!(app.get("/orders", Some("busy")).await.status, 200);
    assert_eq!(app.get("/products/999999", Some("busy")).await.status, 404);
    assert_eq!(app.get("/orders", Some("busy")).await.status, 200);

    // A client that gives up mid-request: its slot comes back while its statement still waits.
    let lock = app.db.lock_table(&table).await;
    let gone = tokio::spawn(app.client.get(app.url("/products")).bearer_auth(&key).send());
    lock.wait_for_waiters(1).await;
    gone.abort();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.get("/orders", Some("busy")).await.status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(Instant::now() < deadline, "the slot of a client gone was not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lock.release().await;
}

#[tokio::test]
async fn a_create_beyond_a_quota_is_409_naming_it_and_writes_nothing() {
    let app = TestApp::spawn().await;
    app.create_tenant("small").await;
    app.create_tenant("roomy").await;
    let schema = app.schema_of("small");
    let reply = set_limits(&app, "small", json!({"max_products": 2, "max_orders": 1})).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    let product = app.create_product("small", "One", "1.00").await;
    app.create_product("small", "Two", "2.00").await;
    let third = app.post("/products", Some("small"), &json!({"name": "Three", "price": "3.00"})).await;
    let order = json!({"product_id": product["id"], "quantity": 1});
    assert_eq!(app.post("/orders", Some("small"), &order).await.status, 201);
    let second_order = app.post("/orders", Some("small"), &order).await;

    third.assert_problem(409, "max_products is 2");
    second_order.assert_problem(409, "max_orders is 1");
    let count = |table: &str| format!("SELECT count(*) AS n FROM {schema}.{table}");
    assert_eq!(app.db.count(&count("products")).await, 2, "nothing written");
    assert_eq!(app.db.count(&count("orders")).await, 1, "nothing written");
    for i in 0..3 {
        app.create_product("roomy", &format!("P{i}"), "1.00").await;
    }

    // A quota of 0 allows none.
    assert_eq!(set_limits(&app, "roomy", json!({"max_products": 0})).await.status, 200);
    app.post("/products", Some("roomy"), &json!({"name": "No", "price": "1.00"}))
        .await
        .assert_problem(409, "max_products is 0");
}

/// Sends `n` creates to `path` as `tenant` at once; their statuses.
async fn at_once(app: &TestApp, tenant: &str, path: &str, body: &Value, n: usize) -> Vec<u16> {
    let key = app.key_of(tenant).expect("key");
    let sends = (0..n).map(|_| app.client.post(app.url(path)).bearer_auth(&key).json(body).send());
    futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.expect("an answer").status().as_u16())
        .collect()
}

#[tokio::test]
async fn creates_racing_at_one_below_a_quota_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    app.create_tenant("racy").await;
    let schema = app.schema_of("racy");
    assert_eq!(set_limits(&app, "racy", json!({"max_products": 5, "max_orders": 3})).await.status, 200);
    let mut product = Value::Null;
    for i in 0..4 {
        product = app.create_product("racy", &format!("P{i}"), "1.00").await;
    }
    let order = json!({"product_id": product["id"], "quantity": 1});
    for _ in 0..2 {
        assert_eq!(app.post("/orders", Some("racy"), &order).await.status, 201);
    }

    let products = at_once(&app, "racy", "/products", &json!({"name": "Race", "price": "1.00"}), 8).await;
    let orders = at_once(&app, "racy", "/orders", &order, 8).await;

    for (what, got) in [("products", &products), ("orders", &orders)] {
        assert_eq!(got.iter().filter(|&&s| s == 201).count(), 1, "{what}: {got:?}");
        assert_eq!(got.iter().filter(|&&s| s == 409).count(), 7, "{what}: {got:?}");
    }
    let count = |table: &str| format!("SELECT count(*) AS n FROM {schema}.{table}");
    assert_eq!(app.db.count(&count("products")).await, 5);
    assert_eq!(app.db.count(&count("orders")).await, 3);
}

#[tokio::test]
async fn a_limits_change_applies_here_at_once_and_on_another_instance_within_the_ttl() {
    let ttl = [("APP__TENANCY__CACHE_TTL_SECS", "1")];
    let app = TestApp::spawn_with(&ttl).await;
    let other = app.spawn_beside_with(&ttl).await;
    app.create_tenant("acme").await;
    let key = app.key_of("acme").expect("key");
    assert_eq!(get_with(&other, "/products", &key).await.status, 200, "the other instance caches it");

    assert_eq!(set_limits(&app, "acme", json!({"requests_per_second": 1, "burst": 1})).await.status, 200);

    let here = products_n_times(&app, "acme", 3).await;
    assert_eq!(here[0].status, 200);
    assert!(here[1..].iter().any(|r| r.status == 429), "at once on this instance: {:?}", statuses(&here));
    let changed = Instant::now();
    let deadline = changed + Duration::from_secs(10);
    loop {
        if get_with(&other, "/products", &key).await.status == 429 {
            break;
        }
        assert!(Instant::now() < deadline, "the other instance never applied the new rate");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("the other instance applied the change after {:?} (TTL 1 s)", changed.elapsed());

    // Raising the rate rebuilds the bucket: the next requests are served at once.
    let raised = set_limits(&app, "acme", json!({"requests_per_second": 1000, "burst": 1000})).await;
    assert_eq!(raised.status, 200);
    assert_eq!(statuses(&products_n_times(&app, "acme", 5).await), [200; 5]);
}

#[tokio::test]
async fn null_clears_a_limit_back_to_the_default_in_settings() {
    let app = TestApp::spawn_with(&[
        ("APP__LIMITS__REQUESTS_PER_SECOND", "1"),
        ("APP__LIMITS__BURST", "2"),
        ("APP__LIMITS__MAX_PRODUCTS", "1"),
    ])
    .await;
    app.create_tenant("acme").await;
    let defaults = products_n_times(&app, "acme", 6).await;
    let refused = defaults.iter().find(|r| r.status == 429).expect("the default rate applies");
    refused.assert_problem(429, "requests_per_second is 1 (burst 2)");

    let own = json!({"requests_per_second": 1000, "burst": 1000, "max_products": 3});
    let reply = set_limits(&app, "acme", own).await;
    assert_eq!(reply.body["limits"]["requests_per_second"], 1000, "{reply:?}");
    for i in 0..3 {
        app.create_product("acme", &format!("P{i}"), "1.00").await;
    }
    assert_eq!(statuses(&products_n_times(&app, "acme", 6).await), [200; 6]);

    // One limit cleared: the others stay.
    let reply = set_limits(&app, "acme", json!({"max_products": null})).await;
    assert_eq!(reply.body["limits"]["max_products"], Value::Null, "{reply:?}");
    assert_eq!(reply.body["limits"]["requests_per_second"], 1000);
    app.post("/products", Some("acme"), &json!({"name": "X", "price": "1.00"}))
        .await
        .assert_problem(409, "max_products is 1");

    // All cleared.
    let reply = app.patch("/tenants/acme", None, &json!({"limits": null})).await;
    assert!(reply.body["limits"].as_object().expect("limits").values().all(Value::is_null), "{reply:?}");
    assert_eq!(app.get("/tenants/acme", None).await.body["limits"], reply.body["limits"]);
    let replies = products_n_times(&app, "acme", 6).await;
    assert!(replies.iter().any(|r| r.status == 429), "the default rate again: {:?}", statuses(&replies));
}

#[tokio::test]
async fn bad_limit_values_are_refused_naming_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let registry = "SELECT string_agg(slug || ':' || updated_at, ',') AS v FROM tenantry.tenants";
    let before = app.db.strings(registry).await;
    let cases: [(Value, &str); 13] = [
        (json!({"requests_per_second": 0}), "limits.requests_per_second must be from 1 to 1000000, got 0"),
        (json!({"requests_per_second": -5}), "limits.requests_per_second must be from 1"),
        (json!({"requests_per_second": 1_000_001}), "limits.requests_per_second must be from 1"),
        (json!({"burst": 0}), "limits.burst must be from 1"),
        (json!({"max_concurrent_requests": 0}), "limits.max_concurrent_requests must be from 1"),
        (json!({"max_products": -1}), "limits.max_products must be from 0"),
        (json!({"max_orders": -10}), "limits.max_orders must be from 0"),
        (json!({"requests_per_second": "fast"}), "limits.requests_per_second: expected a whole number"),
        (json!({"max_orders": 1.5}), "limits.max_orders: 1.5 is not a whole number"),
        (json!({"max_products": 1e30}), "limits.max_products: the number 1e30 is out of range"),
        (json!({"colour": 1}), "limits.colour: unknown field `colour`"),
        (json!(5), "invalid type: integer `5`, expected limits as a JSON object"),
        (json!([5, 10]), "invalid type: sequence, expected limits as a JSON object"),
    ];

    for (limits, needle) in cases {
        set_limits(&app, "acme", limits).await.assert_problem(400, needle);
    }
    // A field given twice is refused inside limits as it is at the top level.
    let twice = app
        .client
        .patch(app.url("/tenants/acme"))
        .header("content-type", "application/json")
        .body(r#"{"limits": {"max_products": 1, "max_products": 2}}"#);
    app.send(twice, None).await.assert_problem(400, "duplicate field `max_products`");

    assert_eq!(app.db.strings(registry).await, before, "nothing written");
}

#[tokio::test]
async fn throttled_requests_are_counted_per_tenant_and_by_limit_in_metrics() {
    let app = TestApp::spawn().await;
    app.create_tenant("noisy").await;
    app.create_tenant("quiet").await;
    assert_eq!(set_limits(&app, "noisy", json!({"requests_per_second": 1, "burst": 1})).await.status, 200);
    let refused = products_n_times(&app, "noisy", 5).await.iter().filter(|r| r.status == 429).count();
    assert!(refused >= 1);
    products_n_times(&app, "quiet", 2).await;

    let samples = scrape(&app).await;

    let throttled = |tenant: &str| value(&samples, "tenantry_tenant_throttled_total", &[("tenant", tenant)]);
    assert_eq!(throttled("noisy"), Some(refused as f64));
    assert_eq!(throttled("quiet"), Some(0.0));
    assert_eq!(value(&samples, "tenantry_tenant_requests_total", &[("tenant", "noisy")]), Some(5.0));
    let by_limit = value(&samples, "tenantry_throttled_total", &[("limit", "requests_per_second")]);
    assert_eq!(by_limit, Some(refused as f64));
}

#[tokio::test]
async fn a_limits_change_is_audited_with_the_values_it_set_and_cleared() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let patch = app.client.patch(app.url("/tenants/acme")).header("X-Request-Id", "req-limits-1");
    let body = json!({"limits": {"max_products": 10, "requests_per_second": null}});
    assert_eq!(app.send(patch.json(&body), None).await.status, 200);

    let entries = app.get("/audit?action=tenant.update", None).await.body;

    let entry = &entries["items"][0];
    assert_eq!(entry["request_id"], "req-limits-1");
    assert_eq!(entry["outcome"], "ok");
    assert_eq!(
        entry["change"],
        json!({"slug": null, "name": null, "state": null,
               "limits": {"max_products": 10, "requests_per_second": null}})
    );
    assert_eq!(app.get("/audit/verify", None).await.body["ok"], true);
}

#[tokio::test]
async fn unlimited_lifts_a_finite_default_and_null_brings_the_default_back() {
    let app = TestApp::spawn_with(&[
        ("APP__LIMITS__REQUESTS_PER_SECOND", "1"),
        ("APP__LIMITS__BURST", "2"),
        ("APP__LIMITS__MAX_CONCURRENT_REQUESTS", "1"),
        ("APP__LIMITS__MAX_PRODUCTS", "1"),
        ("APP__LIMITS__MAX_ORDERS", "1"),
    ])
    .await;
    let created = app.create_tenant("acme").await;
    assert!(created["limits"].as_object().expect("limits").values().all(Value::is_null), "{created}");

    let lifted = json!({"requests_per_second": "unlimited", "max_concurrent_requests": "unlimited",
                        "max_products": "unlimited", "max_orders": "unlimited"});
    let reply = set_limits(&app, "acme", lifted.clone()).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    let shown = json!({"requests_per_second": "unlimited", "burst": null, "max_concurrent_requests": "unlimited",
                       "max_products": "unlimited", "max_orders": "unlimited"});
    assert_eq!(reply.body["limits"], shown);
    assert_eq!(app.get("/tenants/acme", None).await.body["limits"], shown, "as stored");
    assert_eq!(statuses(&products_n_times(&app, "acme", 6).await), [200; 6], "no rate, whatever the default");
    let product = app.create_product("acme", "P0", "1.00").await;
    app.create_product("acme", "P1", "1.00").await;
    let order = json!({"product_id": product["id"], "quantity": 1});
    for _ in 0..2 {
        assert_eq!(app.post("/orders", Some("acme"), &order).await.status, 201, "no order quota");
    }
    let flags = "SELECT string_agg(concat_ws(':', requests_per_second_unlimited, max_concurrent_requests_unlimited, \
                 max_products_unlimited, max_orders_unlimited, requests_per_second, max_products), ',') AS v \
                 FROM tenantry.tenants";
    assert_eq!(app.db.strings(flags).await.concat(), "t:t:t:t", "flags set, values NULL");
    let audited = app.get("/audit?action=tenant.update", None).await.body;
    assert_eq!(audited["items"][0]["change"]["limits"], lifted, "the audit log says unlimited");

    // `null` is the default again: one product is already more than the default quota.
    let reply = set_limits(&app, "acme", json!({"max_products": null, "requests_per_second": 5})).await;
    assert_eq!(
        (&reply.body["limits"]["max_products"], &reply.body["limits"]["requests_per_second"]),
        (&Value::Null, &json!(5)),
        "{reply:?}"
    );
    app.post("/products", Some("acme"), &json!({"name": "P2", "price": "1.00"}))
        .await
        .assert_problem(409, "max_products is 1");
    assert_eq!(app.db.strings(flags).await.concat(), "f:t:f:t:5", "a value clears the flag");
}

#[tokio::test]
async fn unlimited_is_refused_for_the_burst_and_other_words_for_any_limit() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let registry = "SELECT string_agg(slug || ':' || updated_at, ',') AS v FROM tenantry.tenants";
    let before = app.db.strings(registry).await;

    for (limits, needle) in [
        (json!({"burst": "unlimited"}), "limits.burst cannot be unlimited"),
        (
            json!({"max_products": "lots"}),
            "limits.max_products: expected a whole number, \"unlimited\", or null",
        ),
        (json!({"requests_per_second": "Unlimited"}), "limits.requests_per_second: expected a whole number"),
        (
            json!({"max_orders": true}),
            "limits.max_orders: invalid type: boolean `true`, expected a whole number",
        ),
    ] {
        set_limits(&app, "acme", limits).await.assert_problem(400, needle);
    }

    assert_eq!(app.db.strings(registry).await, before, "nothing written");
}
