//! Load generators for the `http` scenario: `wrk` (C, event loop: cheap per request, so it
//! takes little of the CPU the server and Postgres share with it) when it is installed, else a
//! built-in reqwest client.

use anyhow::Context;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cpu::{Cpu, children_cpu_seconds};
use crate::report::Samples;
use crate::setup::Tenant;

/// Which program sends the requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generator {
    /// `wrk` if it is on the PATH, else the built-in client.
    Auto,
    /// `wrk` (Debian package `wrk`), driven by a generated Lua script.
    Wrk,
    /// reqwest in this process, sharing its runtime with the in-process server.
    Builtin,
}

/// Which requests a load sends, each to a tenant drawn uniformly at random.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// GET /products?limit=20 and GET /products/{id} (random id in 1..=products), alternately.
    ListAndGet,
    /// GET /products?limit=20 only.
    ListOnly,
}

/// One load's shape.
pub struct Load<'a> {
    /// The server, `http://host:port`.
    pub base: &'a str,
    /// Tenants to spread requests over.
    pub tenants: &'a [Tenant],
    /// Products each tenant has (ids 1..=products).
    pub products: usize,
    /// Open connections, each with one request in flight.
    pub connections: usize,
    /// How long.
    pub duration: Duration,
    /// Which requests.
    pub mix: Mix,
}

/// What a load measured.
pub struct Outcome {
    /// Requests answered.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Requests that failed or were not answered 2xx.
    pub errors: u64,
    /// CPU microseconds the load generator spent per request (wrk's; unknown for the built-in
    /// client, which shares this process with the server).
    pub client: Cpu,
}

impl Generator {
    /// The generator `Auto` stands for on this machine.
    pub fn resolve(self) -> Self {
        match self {
            Generator::Auto if wrk_installed() => Generator::Wrk,
            Generator::Auto => Generator::Builtin,
            other => other,
        }
    }

    /// Runs `load` to completion.
    pub async fn run(self, load: &Load<'_>) -> anyhow::Result<Outcome> {
        match self.resolve() {
            Generator::Wrk => {
                let script = wrk_script(load);
                let (base, connections, duration) = (load.base.to_owned(), load.connections, load.duration);
                tokio::task::spawn_blocking(move || run_wrk(&base, &script, connections, duration)).await?
            }
            _ => Ok(run_builtin(load).await),
        }
    }
}

fn wrk_installed() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// A Lua script for wrk: a random tenant's key per request, and a last line with the figures.
fn wrk_script(load: &Load<'_>) -> String {
    let mut keys = String::new();
    for tenant in load.tenants {
        // Keys are URL-safe base64 with a prefix: nothing in them needs escaping in Lua.
        let _ = writeln!(keys, "  \"Bearer {}\",", tenant.key);
    }
    let list_only = load.mix == Mix::ListOnly;
    if let ([tenant], true) = (load.tenants, list_only) {
        // The same request every time: no `request` function, so wrk sends the one it built at
        // start instead of calling Lua per request (as pgbench replays its script in C).
        return format!(
            r#"wrk.path = "/products?limit=20"
wrk.headers["Authorization"] = "Bearer {key}"
{DONE}"#,
            key = tenant.key
        );
    }
    format!(
        r#"local keys = {{
{keys}}}
local products = {products}
local list_only = {list_only}
local threads = 0
local n = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(thread_id * 7919)
end

function request()
  n = n + 1
  local path
  if list_only or n % 2 == 0 then
    path = "/products?limit=20"
  else
    path = "/products/" .. math.random(products)
  end
  return wrk.format("GET", path, {{["Authorization"] = keys[math.random(#keys)]}})
end
{DONE}"#,
        products = load.products,
    )
}

/// wrk's last words: the figures [`run_wrk`] reads.
const DONE: &str = r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("TENANTRY-WRK %d %d %d %.3f %.3f\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
"#;

fn run_wrk(base: &str, script: &str, connections: usize, duration: Duration) -> anyhow::Result<Outcome> {
    let path = std::env::temp_dir().join(format!("tenantry-bench-{}.lua", std::process::id()));
    std::fs::write(&path, script)?;
    let cpu_before = children_cpu_seconds();
    let output = Command::new("wrk")
        .args(["-t", "2", "-c", &connections.to_string(), "-d", &format!("{}s", duration.as_secs())])
        .args(["--timeout", "10s", "-s"])
        .arg(&path)
        .arg(base)
        .output();
    std::fs::remove_file(&path).ok();
    let output = output.context("wrk")?;
    let client =
        children_cpu_seconds().zip(cpu_before).map_or(Cpu::UNKNOWN, |(after, before)| after.since(before));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("TENANTRY-WRK ")).with_context(|| {
        format!("wrk gave no figures: {stdout} {}", String::from_utf8_lossy(&output.stderr))
    })?;
    let fields: Vec<f64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let [requests, micros, errors, p50_ms, p99_ms] = fields[..] else {
        anyhow::bail!("wrk figures unreadable: {line}");
    };
    Ok(Outcome {
        requests: requests as u64,
        rps: requests / (micros / 1e6),
        p50_ms,
        p99_ms,
        errors: errors as u64,
        client: client.per(requests),
    })
}

/// `connections` loops of requests, each on a random tenant, for `duration`.
async fn run_builtin(load: &Load<'_>) -> Outcome {
    let errors = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + load.duration;
    let loops = (0..load.connections).map(|c| {
        let errors = &errors;
        async move {
            let client = reqwest::Client::new();
            let mut rng = StdRng::seed_from_u64(c as u64);
            let mut samples = Samples::default();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let tenant = &load.tenants[rng.random_range(0..load.tenants.len())];
                let url = if load.mix == Mix::ListOnly || i.is_multiple_of(2) {
                    format!("{}/products?limit=20", load.base)
                } else {
                    format!("{}/products/{}", load.base, rng.random_range(1..=load.products))
                };
                i += 1;
                let sent = Instant::now();
                let ok = match client.get(url).bearer_auth(&tenant.key).send().await {
                    Ok(reply) => reply.status().is_success() && reply.bytes().await.is_ok(),
                    Err(_) => false,
                };
                samples.push(sent.elapsed());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            samples
        }
    });
    let mut all = Samples::default();
    for samples in join_all(loops).await {
        all.extend(samples);
    }
    Outcome {
        requests: all.len() as u64,
        rps: all.len() as f64 / started.elapsed().as_secs_f64(),
        p50_ms: all.quantile_ms(0.5),
        p99_ms: all.quantile_ms(0.99),
        errors: errors.load(Ordering::Relaxed),
        client: Cpu::UNKNOWN,
    }
}
