//! `noisy`: one tenant sends `factor` times its `requests_per_second` limit while the others
//! send a steady, normal load; the others' latency and throughput are compared with a run
//! without the noisy tenant (and, for contrast, one where it has no limit).
//!
//! Every sender is open-loop: requests leave at a fixed rate whatever the answers take (so a
//! slow server cannot hide its slowness by slowing the senders down), each its own task, with
//! reads alternating between `GET /products?limit=20` and `GET /products/{id}`. The server runs
//! in this process with the service's settings; the senders share this process's runtime and
//! the machine's cores with it and Postgres.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures::future::join_all;
use serde_json::json;
use tenantry_service::limits::LimitSet;
use tenantry_service::tenants::Registry;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::report::{Samples, figure};
use crate::setup::{self, Bench, Tenant};

/// Products each tenant is seeded with.
const PRODUCTS: usize = 100;

/// Requests one sender keeps in flight at most (each on its own connection); a tick that finds
/// them all taken sends nothing and counts as not sent, so an overloaded server cannot make
/// the bench open connections without bound.
const MAX_IN_FLIGHT: usize = 64;

/// Options of the `noisy` scenario.
#[derive(Debug, Args)]
pub struct NoisyArgs {
    /// Well-behaved tenants, each sending `--other-rate` requests per second.
    #[arg(long, default_value_t = 8)]
    others: usize,
    /// Requests per second each well-behaved tenant sends.
    #[arg(long, default_value_t = 50)]
    other_rate: u32,
    /// The noisy tenant's `requests_per_second` limit (and burst).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// How many times its limit the noisy tenant sends.
    #[arg(long, default_value_t = 10)]
    factor: u32,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 10)]
    duration: u64,
}

/// What one tenant's sender saw.
#[derive(Default)]
struct Tally {
    /// Latencies of the requests answered 2xx.
    served: Samples,
    /// Answered 429.
    throttled: u64,
    /// Failed or answered anything else.
    failed: u64,
    /// Not sent: `MAX_IN_FLIGHT` requests were still waiting for their answers.
    unsent: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.served.extend(other.served);
        self.throttled += other.throttled;
        self.failed += other.failed;
        self.unsent += other.unsent;
    }
}

/// Runs the scenario.
pub async fn run(bench: &Bench, args: &NoisyArgs) -> anyhow::Result<()> {
    let db = bench.db(5).await?;
    let registry = Registry::new(db.clone(), Duration::from_secs(30), LimitSet::default());
    eprintln!("bench: provisioning {} tenants with {PRODUCTS} products each", args.others + 1);
    let (tenants, _) = setup::provision(&db, &registry, 0..args.others + 1, 4).await?;
    setup::seed_products(&db, &tenants, PRODUCTS, 4).await?;
    db.connection().clone().close().await?;
    let (noisy, others) = tenants.split_first().context("no tenants")?;

    let settings = &bench.settings;
    let served = setup::Served::start(settings).await?;
    let (base, token) = (served.base.clone(), setup::ADMIN_TOKEN);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let duration = Duration::from_secs(args.duration);
    let noisy_rate = args.limit.saturating_mul(args.factor);
    let result = async {
        set_limit(&client, &base, token, noisy, Some(args.limit)).await?;
        for tenant in &tenants {
            client.get(format!("{base}/products/1")).bearer_auth(&tenant.key).send().await?;
        }
        let ctx = json!({
            "others": args.others, "other_rate": args.other_rate, "noisy_limit": args.limit,
            "noisy_sends": noisy_rate, "duration_s": args.duration, "workers": settings.server.workers,
            "pool": settings.database.max_connections,
        });
        let alone = load(&client, &base, others, args.other_rate, None, duration).await;
        report("alone", &alone, None, ctx.clone());
        let noisy_load = Some((noisy, noisy_rate));
        let limited = load(&client, &base, others, args.other_rate, noisy_load, duration).await;
        report("noisy tenant limited", &limited, Some(&alone), ctx.clone());
        set_limit(&client, &base, token, noisy, None).await?;
        let unlimited = load(&client, &base, others, args.other_rate, noisy_load, duration).await;
        report("noisy tenant unlimited", &unlimited, Some(&alone), ctx);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    served.stop().await?;
    result
}

/// Sets (or, with `None`, clears to the default) the tenant's rate and burst.
async fn set_limit(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    tenant: &Tenant,
    limit: Option<u32>,
) -> anyhow::Result<()> {
    let body = json!({"limits": {"requests_per_second": limit, "burst": limit}});
    let reply =
        client.patch(format!("{base}/tenants/{}", tenant.slug)).bearer_auth(token).json(&body).send().await?;
    anyhow::ensure!(reply.status().is_success(), "setting the limit answered {}", reply.status());
    Ok(())
}

/// The others' and (if any) the noisy tenant's tallies after one run.
struct Run {
    others: Tally,
    noisy: Option<Tally>,
    seconds: f64,
}

async fn load(
    client: &reqwest::Client,
    base: &str,
    others: &[Tenant],
    other_rate: u32,
    noisy: Option<(&Tenant, u32)>,
    duration: Duration,
) -> Run {
    let started = Instant::now();
    let senders = others.iter().map(|t| send(client, base, t, other_rate, duration));
    let noisy_sender = async {
        match noisy {
            Some((tenant, rate)) => Some(send(client, base, tenant, rate, duration).await),
            None => None,
        }
    };
    let (tallies, noisy) = tokio::join!(join_all(senders), noisy_sender);
    let mut others = Tally::default();
    for tally in tallies {
        others.add(tally);
    }
    Run { others, noisy, seconds: started.elapsed().as_secs_f64().max(duration.as_secs_f64()) }
}

/// Sends `rate` requests a second as `tenant` for `duration`, each in its own task.
async fn send(client: &reqwest::Client, base: &str, tenant: &Tenant, rate: u32, duration: Duration) -> Tally {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    // Behind schedule (a busy machine), the missed requests go at once: the offered rate holds.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let deadline = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    let mut tally = Tally::default();
    let mut n = 0usize;
    loop {
        ticker.tick().await;
        if Instant::now() >= deadline {
            break;
        }
        while let Some(done) = tasks.try_join_next() {
            tally.count(done);
        }
        if tasks.len() >= MAX_IN_FLIGHT {
            tally.unsent += 1;
            continue;
        }
        n += 1;
        let url = if n.is_multiple_of(2) {
            format!("{base}/products?limit=20")
        } else {
            format!("{base}/products/{}", n % PRODUCTS + 1)
        };
        let request = client.get(url).bearer_auth(&tenant.key);
        tasks.spawn(async move {
            let sent = Instant::now();
            let status = match request.send().await {
                Ok(reply) => {
                    let status = reply.status().as_u16();
                    reply.bytes().await.ok().map(|_| status)
                }
                Err(_) => None,
            };
            (status, sent.elapsed())
        });
    }
    while let Some(done) = tasks.join_next().await {
        tally.count(done);
    }
    tally
}

impl Tally {
    fn count(&mut self, done: Result<(Option<u16>, Duration), tokio::task::JoinError>) {
        match done {
            Ok((Some(status), took)) if (200..300).contains(&status) => self.served.push(took),
            Ok((Some(429), _)) => self.throttled += 1,
            _ => self.failed += 1,
        }
    }
}

fn report(run: &str, measured: &Run, alone: Option<&Run>, mut ctx: serde_json::Value) {
    ctx["run"] = json!(run);
    let others = &measured.others;
    let throughput = others.served.len() as f64 / measured.seconds;
    figure("noisy", "others: served per second", throughput, "1/s", ctx.clone());
    figure("noisy", "others: p50 latency", others.served.quantile_ms(0.5), "ms", ctx.clone());
    figure("noisy", "others: p99 latency", others.served.quantile_ms(0.99), "ms", ctx.clone());
    figure("noisy", "others: refused or failed", (others.throttled + others.failed) as f64, "", ctx.clone());
    figure("noisy", "others: not sent (sender at its in-flight cap)", others.unsent as f64, "", ctx.clone());
    if let Some(noisy) = &measured.noisy {
        let served = noisy.served.len() as f64 / measured.seconds;
        figure("noisy", "noisy: served per second", served, "1/s", ctx.clone());
        figure(
            "noisy",
            "noisy: refused 429 per second",
            noisy.throttled as f64 / measured.seconds,
            "1/s",
            ctx.clone(),
        );
        figure("noisy", "noisy: failed", noisy.failed as f64, "", ctx.clone());
        figure("noisy", "noisy: not sent (in-flight cap)", noisy.unsent as f64, "", ctx.clone());
    }
    if let Some(alone) = alone {
        let before = alone.others.served.len() as f64 / alone.seconds;
        figure("noisy", "others: throughput relative to alone", throughput / before, "x", ctx.clone());
        let p99 = others.served.quantile_ms(0.99) / alone.others.served.quantile_ms(0.99);
        figure("noisy", "others: p99 relative to alone", p99, "x", ctx);
    }
}
