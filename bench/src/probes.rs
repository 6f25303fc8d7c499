//! What the request-path benchmark reads besides its own load: memory figures from /proc and
//! pgbench's throughput on the service's own statement, the physical limit printed beside it.

use anyhow::Context;
use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
use tenantry_service::TenantScope;
use tenantry_service::page::PageRequest;
use tenantry_service::products;

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

/// pgbench -M prepared on the statement GET /products?limit=20 sends for one tenant (built by
/// the service itself, its parameters bound by pgbench). Returns transactions per second.
pub fn pgbench(url: &str, tenant: &Tenant, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let scope = TenantScope::new(tenant.schema()?);
    let page = PageRequest::new(Some(20), None)?;
    let statement = products::list_statement(&scope, page, None);
    let mut script = String::new();
    let mut sql = statement.sql.clone();
    let values = statement.values.map(|v| v.0).unwrap_or_default();
    // Highest first, so $1 does not rewrite the start of $10.
    for (i, value) in values.iter().enumerate().rev() {
        let n = i + 1;
        let literal = PostgresQueryBuilder.value_to_string(value);
        script.push_str(&format!("\\set p{n} {literal}\n"));
        sql = sql.replace(&format!("${n}"), &format!(":p{n}"));
    }
    script.push_str(&sql);
    script.push_str(";\n");
    let path = std::env::temp_dir().join(format!("tenantry-bench-{}.sql", std::process::id()));
    std::fs::write(&path, script)?;
    let output = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &clients.to_string(), "-T", &seconds.to_string(), "-f"])
        .arg(&path)
        .arg(url)
        .output()
        .context("pgbench")?;
    std::fs::remove_file(&path).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("pgbench gave no tps: {stdout} {}", String::from_utf8_lossy(&output.stderr)))
}
