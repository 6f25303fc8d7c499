//! CPU time from /proc, so every run says where a request's microseconds go: in the server
//! (this process, which hosts it) and in the Postgres backends serving it, next to what
//! Postgres spends per pgbench transaction. CPU time does not depend on what else the machine
//! runs, unlike throughput, so these figures stay comparable on a shared machine.

use std::collections::HashMap;

/// Clock ticks per second in /proc/<pid>/stat: Linux's USER_HZ, 100 on every architecture it
/// exports to user space (x86, arm64).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time split into user space and the kernel: a process's own work against what its
/// system calls, wake-ups and task switches cost. Seconds from /proc, or microseconds per
/// request once divided by [`Cpu::per`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cpu {
    /// Time in user space.
    pub user: f64,
    /// Time in the kernel (system calls, the network stack, scheduling).
    pub system: f64,
}

impl Cpu {
    /// Unknown (the built-in load generator shares this process, so its CPU is not its own).
    pub const UNKNOWN: Cpu = Cpu { user: f64::NAN, system: f64::NAN };

    /// User and kernel time together.
    pub fn total(self) -> f64 {
        self.user + self.system
    }

    /// The part of the total spent in the kernel, 0 to 1.
    pub fn kernel_share(self) -> f64 {
        self.system / self.total()
    }

    /// Microseconds per one of `count` (requests or transactions), from seconds.
    pub fn per(self, count: f64) -> Cpu {
        let n = count.max(1.0);
        Cpu { user: self.user * 1e6 / n, system: self.system * 1e6 / n }
    }

    /// The time used between `earlier` and `self`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu { user: self.user - earlier.user, system: self.system - earlier.system }
    }

    /// `self` and `other` together.
    pub fn plus(self, other: Cpu) -> Cpu {
        Cpu { user: self.user + other.user, system: self.system + other.system }
    }
}

/// CPU time a process has used so far: `self` or a pid.
pub fn cpu_seconds(pid: &str) -> Option<Cpu> {
    // utime and stime: fields 14 and 15 (proc(5)).
    stat_seconds(pid, 11)
}

/// CPU time of this process's children that have ended and been waited for: read before and
/// after a load generator or pgbench runs (nothing else ends between), the difference is that
/// program's CPU.
pub fn children_cpu_seconds() -> Option<Cpu> {
    // cutime and cstime: fields 16 and 17 (proc(5)).
    stat_seconds("self", 13)
}

/// Two adjacent tick counts of `/proc/<pid>/stat` (user, then system), as seconds: `at`
/// counts fields after the command name, which is in parentheses and may hold spaces (state,
/// field 3, is at 0).
fn stat_seconds(pid: &str, at: usize) -> Option<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: f64 = fields.get(at)?.parse().ok()?;
    let system: f64 = fields.get(at + 1)?.parse().ok()?;
    Some(Cpu { user: user / TICKS_PER_SECOND, system: system / TICKS_PER_SECOND })
}

/// The pids of the backends whose `application_name` is `application`.
pub async fn backend_pids(url: &str, application: &str) -> Vec<i32> {
    let Ok(db) = sea_orm::Database::connect(url).await else { return Vec::new() };
    let stmt = sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
        [application.into()],
    );
    let pids = sea_orm::ConnectionTrait::query_all_raw(&db, stmt)
        .await
        .map(|rows| rows.iter().filter_map(|r| r.try_get::<i32>("", "pid").ok()).collect())
        .unwrap_or_default();
    db.close().await.ok();
    pids
}

/// CPU seconds of the server (this process) and of its Postgres backends at one moment.
#[derive(Clone, Debug)]
pub struct CpuSnapshot {
    server: Cpu,
    backends: HashMap<i32, Cpu>,
}

impl CpuSnapshot {
    /// Reads this process and the server's backends (`application_name = 'tenantry'`).
    pub async fn take(url: &str) -> Self {
        let backends = backend_pids(url, "tenantry")
            .await
            .into_iter()
            .filter_map(|pid| Some((pid, cpu_seconds(&pid.to_string())?)))
            .collect();
        Self { server: cpu_seconds("self").unwrap_or(Cpu::UNKNOWN), backends }
    }

    /// Microseconds per request of the server and of Postgres between `self` and `later`. A
    /// backend opened in between counts from zero; one closed in between is lost (sub-pools
    /// keep their connections for `database.max_lifetime_secs`, far longer than a run).
    pub fn per_request_us(&self, later: &CpuSnapshot, requests: u64) -> (Cpu, Cpu) {
        let n = requests as f64;
        let postgres = later.backends.iter().fold(Cpu::default(), |sum, (pid, &t)| {
            sum.plus(t.since(self.backends.get(pid).copied().unwrap_or_default()))
        });
        (later.server.since(self.server).per(n), postgres.per(n))
    }
}
