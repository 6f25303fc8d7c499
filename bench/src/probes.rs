//! What the request-path benchmark reads besides its own load: memory figures from /proc and
//! pgbench's throughput on the service's own statement, the physical limit printed beside it.

use std::collections::HashMap;

use anyhow::Context;
use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
use tenantry_service::TenantScope;
use tenantry_service::db::TENANT_SESSION;
use tenantry_service::page::PageRequest;
use tenantry_service::products;

use crate::cpu::{Cpu, backend_pids, children_cpu_seconds, cpu_seconds};
use crate::setup::Tenant;

/// Resident memory of a process (`self` or a pid), from /proc.
pub fn rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 =
        status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Mean and max private (not shared-buffer) memory of the server's Postgres backends, from
/// /proc/<pid>/smaps_rollup (needs the benchmark to run on the database host, as root or as
/// the postgres user).
pub async fn backend_private_mib(url: &str) -> (f64, f64) {
    let Ok(db) = sea_orm::Database::connect(url).await else { return (f64::NAN, f64::NAN) };
    let stmt = sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'tenantry'",
    );
    let pids: Vec<i32> = sea_orm::ConnectionTrait::query_all_raw(&db, stmt)
        .await
        .map(|rows| rows.iter().filter_map(|r| r.try_get::<i32>("", "pid").ok()).collect())
        .unwrap_or_default();
    db.close().await.ok();
    let sizes: Vec<f64> = pids.iter().filter_map(|pid| private_mib(*pid)).collect();
    if sizes.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let max = sizes.iter().copied().fold(0.0, f64::max);
    (sizes.iter().sum::<f64>() / sizes.len() as f64, max)
}

fn private_mib(pid: i32) -> Option<f64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let kib: f64 = rollup
        .lines()
        .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum();
    Some(kib / 1024.0)
}

/// What one pgbench run measured.
#[derive(Clone, Copy, Debug)]
pub struct PgbenchRun {
    /// Transactions per second, as pgbench reports them.
    pub tps: f64,
    /// CPU microseconds its Postgres backends spent per transaction (connection set-up
    /// included, a few milliseconds per client over the whole run).
    pub postgres: Cpu,
    /// CPU microseconds pgbench itself (the client) spent per transaction.
    pub client: Cpu,
}

/// The statement GET /products?limit=20 sends for one tenant (built by the service itself),
/// as a pgbench script whose parameters pgbench binds (`-M prepared`).
pub fn list_script(tenant: &Tenant) -> anyhow::Result<String> {
    let scope = TenantScope::new(tenant.schema()?);
    Ok(script(products::list_statement(&scope, PageRequest::new(Some(20), None)?, None), &[]))
}

/// Whom each pgbench transaction asks, over many tenants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spread {
    /// A random tenant per transaction, as the wrk load does.
    Random,
    /// Each client keeps to its own slice of the tenants (what tenant-affine routing aims at).
    Affine,
}

/// The two requests the wrk load mixes (`GET /products?limit=20`, `GET /products/{id}`, half
/// each), as pgbench scripts over `tenants` spread as `spread` says. A schema cannot be a bound
/// parameter, so these are for `-M simple`: the tenant's id is substituted into the statement
/// the service builds for the first tenant (the bench's schemas are `tenant_<id>` with
/// consecutive ids; checked here).
pub fn spread_scripts(
    tenants: &[Tenant],
    products: usize,
    clients: usize,
    spread: Spread,
) -> anyhow::Result<Vec<(String, u32)>> {
    let ids: Vec<i64> = tenants
        .iter()
        .map(|t| t.schema.strip_prefix("tenant_").and_then(|id| id.parse().ok()))
        .collect::<Option<_>>()
        .context("bench schemas are tenant_<id>")?;
    let (first, last) = (ids.iter().copied().min().unwrap_or(0), ids.iter().copied().max().unwrap_or(0));
    anyhow::ensure!(last - first + 1 == ids.len() as i64, "bench tenant ids are not consecutive");
    let pick = match spread {
        Spread::Random => format!("\\set t random({first}, {last})\n"),
        Spread::Affine => {
            let per = (ids.len() / clients.max(1)).max(1);
            format!("\\set t {first} + (:client_id * {per} + random(0, {})) % {}\n", per - 1, ids.len())
        }
    };
    let scope = TenantScope::new(tenants[0].schema()?);
    let schema = format!("\"{}\"", tenants[0].schema);
    let list = products::list_statement(&scope, PageRequest::new(Some(20), None)?, None);
    let get = products::get_statement(&scope, 1);
    let mut get_script = format!("\\set id random(1, {products})\n");
    get_script.push_str(&script(get, &["id"]));
    Ok(vec![
        (pick.clone() + &script(list, &[]).replace(&schema, "\"tenant_:t\""), 1),
        (pick + &get_script.replace(&schema, "\"tenant_:t\""), 1),
    ])
}

/// `statement` as a pgbench script: each parameter a pgbench variable, set to the statement's
/// value unless `named` gives the variable the script sets itself (in parameter order).
fn script(statement: sea_orm::Statement, named: &[&str]) -> String {
    let mut script = String::new();
    let mut sql = statement.sql.clone();
    let values = statement.values.map(|v| v.0).unwrap_or_default();
    // Highest first, so $1 does not rewrite the start of $10.
    for (i, value) in values.iter().enumerate().rev() {
        let n = i + 1;
        let name = match named.get(i) {
            Some(name) => (*name).to_owned(),
            None => {
                let literal = PostgresQueryBuilder.value_to_string(value);
                script.push_str(&format!("\\set p{n} {literal}\n"));
                format!("p{n}")
            }
        };
        sql = sql.replace(&format!("${n}"), &format!(":{name}"));
    }
    script.push_str(&sql);
    script.push_str(";\n");
    script
}

/// Runs `pgbench -n -M <mode> -j 2 -c <clients> -T <seconds>` with `scripts` (each
/// `(text, weight)`, one picked at random per transaction) against `url`, and reads its
/// backends' CPU from /proc while it runs (every 100 ms; the last tenth of a second before it
/// exits is lost, under 1% of a 10 s run).
pub async fn pgbench(
    url: &str,
    mode: &str,
    scripts: &[(String, u32)],
    clients: usize,
    seconds: u64,
) -> anyhow::Result<PgbenchRun> {
    let dir = std::env::temp_dir();
    let mut args: Vec<String> = ["-n", "-M", mode, "-j", "2"].map(str::to_owned).into();
    args.extend(["-c".to_owned(), clients.to_string(), "-T".to_owned(), seconds.to_string()]);
    let mut paths = Vec::new();
    for (n, (script, weight)) in scripts.iter().enumerate() {
        let path = dir.join(format!("tenantry-bench-{}-{n}.sql", std::process::id()));
        std::fs::write(&path, script)?;
        args.push("-f".to_owned());
        args.push(format!("{}@{weight}", path.display()));
        paths.push(path);
    }
    args.push(url.to_owned());
    let client_before = children_cpu_seconds();
    // The session settings the service's tenant connections start with, so pgbench runs the
    // statement as Postgres runs it for the service (an `options` in the URL still wins).
    let session: Vec<String> = TENANT_SESSION.iter().map(|(k, v)| format!("-c {k}={v}")).collect();
    let child = tokio::process::Command::new("pgbench")
        .args(&args)
        .env("PGOPTIONS", session.join(" "))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("pgbench")?;
    let output = child.wait_with_output();
    tokio::pin!(output);
    let mut cpu: HashMap<i32, Cpu> = HashMap::new();
    let output = loop {
        tokio::select! {
            output = &mut output => break output.context("pgbench")?,
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                for pid in backend_pids(url, "pgbench").await {
                    if let Some(t) = cpu_seconds(&pid.to_string()) {
                        cpu.insert(pid, t);
                    }
                }
            }
        }
    };
    for path in paths {
        std::fs::remove_file(&path).ok();
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let read = |prefix: &str, field: usize| -> Option<f64> {
        stdout.lines().find(|l| l.starts_with(prefix))?.split_whitespace().nth(field)?.parse().ok()
    };
    let tps = read("tps = ", 2);
    let transactions = read("number of transactions actually processed: ", 5);
    let (Some(tps), Some(transactions)) = (tps, transactions) else {
        anyhow::bail!("pgbench gave no tps: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    };
    let client =
        children_cpu_seconds().zip(client_before).map_or(Cpu::UNKNOWN, |(after, before)| after.since(before));
    let postgres = cpu.values().fold(Cpu::default(), |sum, &t| sum.plus(t));
    Ok(PgbenchRun { tps, postgres: postgres.per(transactions), client: client.per(transactions) })
}
