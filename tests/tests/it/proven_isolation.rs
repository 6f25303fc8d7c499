//! Proven isolation: thousands of randomly interleaved requests for many tenants over a tiny
//! pool, directly and through PgBouncer in transaction mode, each answer checked.

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tenantry_tests::{PgBouncer, Reply, TestApp};

const TENANTS: usize = 20;
const PRODUCTS: usize = 5;
const REQUESTS: usize = 5_000;
const CLIENTS: usize = 32;

fn slug(t: usize) -> String {
    format!("iso{t:02}")
}

/// Tenant `t`'s product `n` (1-based) costs `t*100 + n` units: a price identifies its tenant.
fn price(t: usize, n: usize) -> Decimal {
    Decimal::from(t * 100 + n)
}

async fn seed(app: &TestApp) {
    for t in 0..TENANTS {
        app.create_tenant(&slug(t)).await;
        for n in 1..=PRODUCTS {
            app.create_product(&slug(t), &format!("{}-p{n}", slug(t)), &price(t, n).to_string()).await;
        }
    }
}

/// What one request found: whether the answer was right, and if not, why.
enum Outcome {
    Ok,
    Leak(String),
    Wrong(String),
}

fn decimal(v: &Value) -> Option<Decimal> {
    v.as_str().and_then(|s| s.parse().ok())
}

/// Checks that every order in `orders` is priced with one of tenant `t`'s prices.
fn orders_belong_to(t: usize, orders: &[Value]) -> Result<(), String> {
    for order in orders {
        let (Some(total), Some(quantity)) = (decimal(&order["total_price"]), order["quantity"].as_i64())
        else {
            return Err(format!("malformed order {order}"));
        };
        let unit = total / Decimal::from(quantity);
        if !(1..=PRODUCTS).any(|n| price(t, n) == unit) {
            return Err(format!("{} got an order priced {unit} per unit", slug(t)));
        }
    }
    Ok(())
}

async fn one_request(app: &TestApp, rng_seed: u64) -> Outcome {
    let mut rng = StdRng::seed_from_u64(rng_seed);
    let t = rng.random_range(0..TENANTS);
    let me = slug(t);
    let n = rng.random_range(1..=PRODUCTS);
    let check = |reply: Reply, expected: u16| -> Result<Value, Outcome> {
        if reply.status == expected {
            Ok(reply.body)
        } else {
            Err(Outcome::Wrong(format!("{me}: expected {expected}, got {reply:?}")))
        }
    };
    let result = match rng.random_range(0..10) {
        0 | 1 => check(app.get("/products?limit=100", Some(&me)).await, 200).map(|body| {
            let names: Vec<&str> =
                body["items"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
            match names.iter().find(|name| !name.starts_with(&format!("{me}-"))) {
                Some(other) => Outcome::Leak(format!("{me} listed {other}")),
                None if names.len() != PRODUCTS => Outcome::Wrong(format!("{me} listed {names:?}")),
                None => Outcome::Ok,
            }
        }),
        2 | 3 => {
            check(app.get(&format!("/products/{n}"), Some(&me)).await, 200).map(|body| {
                match body["name"].as_str() {
                    Some(name) if name == format!("{me}-p{n}") => Outcome::Ok,
                    other => Outcome::Leak(format!("{me} product {n} was {other:?}")),
                }
            })
        }
        4 | 5 => {
            check(app.get("/orders?limit=100", Some(&me)).await, 200).map(|body| {
                match orders_belong_to(t, body["items"].as_array().map(Vec::as_slice).unwrap_or_default()) {
                    Ok(()) => Outcome::Ok,
                    Err(e) => Outcome::Leak(e),
                }
            })
        }
        6 | 7 => {
            let quantity = rng.random_range(1..=9);
            let body = json!({"product_id": n, "quantity": quantity});
            check(app.post("/orders", Some(&me), &body).await, 201).map(|order| {
                let expected = price(t, n) * Decimal::from(quantity);
                if decimal(&order["total_price"]) == Some(expected) {
                    Outcome::Ok
                } else {
                    Outcome::Leak(format!(
                        "{me} ordered product {n} x{quantity} and was charged {}",
                        order["total_price"]
                    ))
                }
            })
        }
        8 => check(app.get(&format!("/products?q={me}-p{n}"), Some(&me)).await, 200).map(|body| {
            match body["items"].as_array().map(Vec::as_slice) {
                Some([only]) if only["name"] == format!("{me}-p{n}") => Outcome::Ok,
                other => Outcome::Leak(format!("{me} searching {me}-p{n} found {other:?}")),
            }
        }),
        _ => {
            // A key of one tenant asking for another: always refused, never data.
            let other = slug((t + rng.random_range(1..TENANTS)) % TENANTS);
            let key = app.key_of(&me).unwrap_or_default();
            let request = app.client.get(app.url("/products")).bearer_auth(key).header("X-Tenant", &other);
            let reply = app.send_raw(request).await;
            if reply.status == 403 && reply.body.get("items").is_none() {
                Ok(Outcome::Ok)
            } else {
                Ok(Outcome::Leak(format!("{me}'s key asking for {other} got {reply:?}")))
            }
        }
    };
    result.unwrap_or_else(|wrong| wrong)
}

/// Runs the workload and asserts zero leaks and zero wrong answers.
async fn prove(app: &TestApp) {
    seed(app).await;

    let outcomes: Vec<Outcome> = futures::stream::iter(0..REQUESTS as u64)
        .map(|i| one_request(app, i))
        .buffer_unordered(CLIENTS)
        .collect()
        .await;

    let leaks: Vec<&String> =
        outcomes.iter().filter_map(|o| if let Outcome::Leak(e) = o { Some(e) } else { None }).collect();
    let wrong: Vec<&String> =
        outcomes.iter().filter_map(|o| if let Outcome::Wrong(e) = o { Some(e) } else { None }).collect();
    assert_eq!(outcomes.len(), REQUESTS);
    assert!(leaks.is_empty(), "{} leaks, e.g. {:?}", leaks.len(), &leaks[..leaks.len().min(5)]);
    assert!(wrong.is_empty(), "{} wrong answers, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_interleaved_requests_over_four_connections_never_leak() {
    // One shared pool: every connection serves every tenant.
    let app = TestApp::spawn_with(&[
        ("APP__DATABASE__MAX_CONNECTIONS", "4"),
        ("APP__DATABASE__TENANT_SHARDS", "0"),
    ])
    .await;

    prove(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_interleaved_requests_through_pgbouncer_transaction_pooling_never_leak() {
    if !PgBouncer::available() {
        assert!(std::env::var_os("CI").is_none(), "CI must run this test: install pgbouncer");
        eprintln!("SKIPPED: pgbouncer is not installed (apt-get install pgbouncer); CI installs it");
        return;
    }
    let app = TestApp::spawn_behind_pgbouncer(&[("APP__DATABASE__MAX_CONNECTIONS", "4")]).await;

    prove(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_interleaved_requests_over_tenant_affine_sub_pools_never_leak() {
    let app = TestApp::spawn_with(&[
        ("APP__DATABASE__MAX_CONNECTIONS", "4"),
        ("APP__DATABASE__TENANT_SHARDS", "4"),
    ])
    .await;

    prove(&app).await;
}
