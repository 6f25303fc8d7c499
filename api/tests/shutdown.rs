//! The `tenantry` binary on SIGINT and SIGTERM: it stops accepting, lets the request in flight
//! finish (held there by a table lock the test controls), logs one "server stopped" line,
//! exits 0 and never panics. A separate test binary because only this package's tests get
//! `CARGO_BIN_EXE_tenantry`; the harness (`tenantry-tests`) is a dev-dependency.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use tenantry_tests::{ADMIN_TOKEN, TestDb};

/// How long a condition the test waits for may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// A `tenantry` process on its own database, killed if the test fails before it exits.
struct Process {
    child: Child,
    /// Its log (stderr), line by line, as it comes.
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    port: u16,
}

impl Process {
    /// Starts the binary with only the environment given here (plus `overrides`), and waits
    /// for its "listening on" line.
    async fn start(db: &TestDb, overrides: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .env_clear()
            .env("DATABASE_URL", db.url())
            .env("APP__SERVER__PORT", "0")
            .env("APP__SERVER__WORKERS", "2")
            .env("APP__DATABASE__MAX_CONNECTIONS", "4")
            .env("APP__AUTH__ADMIN_TOKEN", ADMIN_TOKEN)
            .envs(overrides.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the tenantry binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        let mut process = Self { child, log, reader: Some(reader), port: 0 };
        let deadline = tokio::time::Instant::now() + DEADLINE;
        process.port = loop {
            if let Some(port) = process.lines().iter().find_map(|l| listening_port(l)) {
                break port;
            }
            let exited = process.child.try_wait().expect("child status");
            assert!(exited.is_none(), "the server exited at start-up: {:#?}", process.lines());
            assert!(tokio::time::Instant::now() < deadline, "no 'listening on' line: {:#?}", process.lines());
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        process
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Sends `signal` (`INT`, `TERM`) with kill(1): the crate forbids the unsafe a direct
    /// kill(2) would need.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit, then for the rest of its log.
    async fn exit_status(&mut self) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                break status;
            }
            assert!(tokio::time::Instant::now() < deadline, "still running: {:#?}", self.lines());
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if let Some(reader) = self.reader.take() {
            reader.join().expect("log reader");
        }
        status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

fn listening_port(line: &str) -> Option<u16> {
    line.split("listening on http://").nth(1)?.rsplit(':').next()?.trim().parse().ok()
}

fn refuses_connections(port: u16) -> bool {
    matches!(std::net::TcpStream::connect(("127.0.0.1", port)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// Polls `condition` until it holds, failing the test after [`DEADLINE`].
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "not within {DEADLINE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Provisions `slug` with one product, "Widget", and returns its API key and schema.
async fn tenant_with_a_product(client: &reqwest::Client, base: &str, slug: &str) -> (String, String) {
    let tenant: Value = client
        .post(format!("{base}/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"slug": slug, "name": slug}))
        .send()
        .await
        .expect("provisioning answers")
        .json()
        .await
        .expect("tenant JSON");
    let key = tenant["api_key"].as_str().expect("a new tenant's key").to_owned();
    let schema = tenant["schema"].as_str().expect("a new tenant's schema").to_owned();
    let created = client
        .post(format!("{base}/products"))
        .bearer_auth(&key)
        .json(&json!({"name": "Widget", "price": "19.99"}))
        .send()
        .await
        .expect("product creation answers");
    assert_eq!(created.status(), 201);
    (key, schema)
}

/// `GET /products` as `key`, sent now and read whole in the background.
fn list_products(
    client: &reqwest::Client,
    base: &str,
    key: &str,
) -> tokio::task::JoinHandle<reqwest::Result<(u16, String)>> {
    let request = client.get(format!("{base}/products")).bearer_auth(key).send();
    tokio::spawn(async move {
        let response = request.await?;
        Ok((response.status().as_u16(), response.text().await?))
    })
}

fn stopped_lines(log: &[String]) -> Vec<&String> {
    log.iter().filter(|l| l.contains("server stopped")).collect()
}

fn assert_no_panic(log: &[String]) {
    assert!(!log.iter().any(|l| l.contains("panicked")), "a panic: {log:#?}");
}

/// Holds a request on a locked table, sends `signal`, and checks the whole graceful path.
async fn signal_drains_the_request_in_flight(signal: &str) {
    let db = TestDb::new().await;
    let mut server = Process::start(&db, &[]).await;
    let (client, base) = (reqwest::Client::new(), server.base());
    let (key, schema) = tenant_with_a_product(&client, &base, "held").await;
    let lock = db.lock_table(&format!("{schema}.products")).await;
    let in_flight = list_products(&client, &base, &key);
    lock.wait_for_waiters(1).await;

    server.signal(signal);
    eventually("new connections are refused", || refuses_connections(server.port)).await;
    assert!(!in_flight.is_finished(), "the request was still waiting on the lock");
    lock.release().await;

    let (status, body) = in_flight.await.expect("request task").expect("the in-flight request is answered");
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("a whole JSON body");
    assert_eq!(body["items"][0]["name"], "Widget", "{body}");
    let exit = server.exit_status().await;
    let log = server.lines();
    assert_eq!(exit.code(), Some(0), "{log:#?}");
    assert_eq!(stopped_lines(&log).len(), 1, "{log:#?}");
    assert_no_panic(&log);
}

#[tokio::test]
async fn sigint_stops_accepting_answers_the_request_in_flight_and_exits_0() {
    signal_drains_the_request_in_flight("INT").await;
}

#[tokio::test]
async fn sigterm_stops_accepting_answers_the_request_in_flight_and_exits_0() {
    signal_drains_the_request_in_flight("TERM").await;
}

#[tokio::test]
async fn a_request_still_running_at_the_shutdown_timeout_is_cut_off_without_a_panic() {
    let db = TestDb::new().await;
    let mut server = Process::start(&db, &[("APP__SERVER__SHUTDOWN_TIMEOUT_SECS", "1")]).await;
    let (client, base) = (reqwest::Client::new(), server.base());
    let (key, schema) = tenant_with_a_product(&client, &base, "stuck").await;
    let lock = db.lock_table(&format!("{schema}.products")).await;
    let in_flight = list_products(&client, &base, &key);
    lock.wait_for_waiters(1).await;

    server.signal("INT");
    let exit = server.exit_status().await;
    let cut_off = in_flight.await.expect("request task");
    lock.release().await;

    let log = server.lines();
    assert!(cut_off.is_err(), "answered although the timeout passed: {cut_off:?}");
    assert_eq!(exit.code(), Some(0), "{log:#?}");
    let stopped = stopped_lines(&log);
    assert!(stopped.len() == 1 && stopped[0].contains("shutdown timeout"), "{log:#?}");
    assert_no_panic(&log);
}
