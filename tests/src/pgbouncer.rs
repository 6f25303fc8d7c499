//! [`PgBouncer`]: a real PgBouncer in transaction pooling mode in front of the test server, for
//! proving the service stays correct behind the pooler that breaks django-tenants and apartment.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use url::Url;

/// Server connections PgBouncer keeps per database and user: deliberately tiny, so many client
/// connections share each one.
pub const SERVER_POOL_SIZE: u32 = 2;

/// Ports tried before giving up.
const ATTEMPTS: usize = 5;
/// PgBouncer's log file in its directory.
const LOG: &str = "pgbouncer.log";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A PgBouncer process listening on a free loopback port; stopped on drop.
pub struct PgBouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl PgBouncer {
    /// Where the Debian package installs it.
    const BINARY: &'static str = "/usr/sbin/pgbouncer";

    /// Whether PgBouncer is installed (`apt-get install pgbouncer`).
    pub fn available() -> bool {
        Path::new(Self::BINARY).exists()
    }

    /// Starts PgBouncer in transaction mode in front of the server `upstream` (any URL on it).
    /// Deliberately without `server_reset_query`: the test proves Tenantry leaves no prepared
    /// statement behind on a server connection by itself (the README still recommends the
    /// reset as a safety net for transactions that fail half-way).
    pub async fn start(upstream: &str) -> Self {
        let upstream = Url::parse(upstream).expect("upstream URL");
        let dir = std::env::temp_dir().join(format!(
            "tenantry-pgbouncer-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("pgbouncer dir");
        // Run as postgres (see `spawn`), it must be able to write its log here.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("pgbouncer dir mode");
        // PgBouncer cannot pick a free port itself, and a port found free may be taken before
        // it binds: it then exits, and another port is tried.
        for _ in 0..ATTEMPTS {
            let port = free_port();
            let mut child = spawn(&dir, &upstream, port);
            if listening(&mut child, &dir, port).await {
                return Self { child, dir, port };
            }
            child.kill().ok();
            child.wait().ok();
        }
        panic!("pgbouncer did not listen on any of {ATTEMPTS} ports; see {}", dir.join(LOG).display());
    }

    /// `url` with its host and port replaced by PgBouncer's.
    pub fn url_for(&self, url: &str) -> String {
        let mut url = Url::parse(url).expect("URL");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(self.port)).expect("port");
        url.to_string()
    }
}

/// Whether PgBouncer says (in its log) that it listens on `port`, rather than some other
/// process answering there; false once it has exited.
async fn listening(child: &mut Child, dir: &Path, port: u16) -> bool {
    let listening = format!("listening on 127.0.0.1:{port}");
    for _ in 0..500 {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let log = std::fs::read_to_string(dir.join(LOG)).unwrap_or_default();
        if log.contains(&listening) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("pgbouncer neither listened on port {port} nor exited within 5 s");
}

/// Writes the configuration for `port` and starts PgBouncer with it.
fn spawn(dir: &Path, upstream: &Url, port: u16) -> Child {
    let user = if upstream.username().is_empty() { "postgres" } else { upstream.username() };
    let password = upstream.password().map(|p| format!(" password={p}")).unwrap_or_default();
    std::fs::remove_file(dir.join(LOG)).ok();
    let ini = format!(
        "[databases]\n* = host={host} port={upstream_port} user={user}{password}\n\n\
         [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n\
         auth_file = {auth}\nlogfile = {log}\npool_mode = transaction\ndefault_pool_size = {SERVER_POOL_SIZE}\n\
         max_client_conn = 500\nignore_startup_parameters = extra_float_digits,options\n",
        host = upstream.host_str().unwrap_or("127.0.0.1"),
        upstream_port = upstream.port().unwrap_or(5432),
        auth = dir.join("users.txt").display(),
        log = dir.join(LOG).display(),
    );
    std::fs::write(dir.join("pgbouncer.ini"), ini).expect("write pgbouncer.ini");
    std::fs::write(dir.join("users.txt"), format!("\"{user}\" \"\"\n")).expect("write users.txt");
    let mut command = Command::new(PgBouncer::BINARY);
    // PgBouncer refuses to run as root; CI runs as root.
    if is_root() {
        command.args(["-u", "postgres"]);
    }
    command
        .arg(dir.join("pgbouncer.ini"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pgbouncer")
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}
