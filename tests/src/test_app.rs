//! [`TestApp`]: the real application, in-process on port 0, over its own database.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};
use tenantry_api::{Application, StopHandle, StopReason};
use tenantry_config::Settings;
use tenantry_service::db::Db;

use crate::{PgBouncer, TestDb};

/// The admin token every test server is configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghijklmnop";

/// A running server and the database behind it; both go away when this drops: the server is
/// stopped through its [`StopHandle`] (draining, closing its pool), then the database dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A client for talking to it.
    pub client: reqwest::Client,
    /// The server's database.
    pub db: TestDb,
    /// The API key and schema of each tenant provisioned through [`TestApp::create_tenant`].
    keys: Mutex<HashMap<String, (String, String)>>,
    /// The server's own database handle (to count the statements it runs).
    pub server_db: Db,
    /// Stops the server gracefully, as SIGINT and SIGTERM stop the binary.
    stop: StopHandle,
    /// The thread the server runs on, with its own runtime, so dropping a `TestApp` can wait
    /// for the server to stop whatever the test's runtime is doing (or whether it still runs).
    server: Option<std::thread::JoinHandle<Option<std::io::Result<()>>>>,
    /// The pooler between the server and its database, if any (declared after the server's
    /// fields, so it goes after the server has stopped).
    _bouncer: Option<PgBouncer>,
}

/// What the server thread reports once the application is bound: port, database, stop handle.
type Started = Result<(u16, Db, StopHandle), String>;

impl TestApp {
    /// Starts the application with default settings plus `overrides` (`APP__...` variables).
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let db = TestDb::with_registry().await;
        let url = db.url().to_owned();
        Self::start(db, url, None, overrides).await
    }

    /// Starts a second instance of the application on this one's database, as a second server
    /// of the same deployment would run: its own caches, the same registry. Drop it first.
    pub async fn spawn_beside(&self) -> Self {
        self.spawn_beside_with(&[]).await
    }

    /// [`TestApp::spawn_beside`] with default settings plus `overrides` (`APP__...` variables).
    pub async fn spawn_beside_with(&self, overrides: &[(&str, &str)]) -> Self {
        let db = self.db.beside();
        let url = db.url().to_owned();
        Self::start(db, url, None, overrides).await
    }

    /// Starts the application on `db` (e.g. a [`crate::CitusDb`]'s coordinator database, by a
    /// [`TestDb::beside`] handle) with default settings plus `overrides`.
    pub async fn spawn_on(db: TestDb, overrides: &[(&str, &str)]) -> Self {
        let url = db.url().to_owned();
        Self::start(db, url, None, overrides).await
    }

    /// Starts the application on a fresh database reached through `proxy`, which the test can
    /// cut to make the database unreachable.
    pub async fn spawn_through(proxy: &crate::Proxy, db: TestDb) -> Self {
        let url = proxy.url_for(db.url());
        Self::start(db, url, None, &[]).await
    }

    /// Starts the application behind a real PgBouncer in transaction pooling mode with
    /// [`crate::pgbouncer::SERVER_POOL_SIZE`] server connections, configured as the README tells
    /// operators to: the fail-closed defaults set on the database, `pooler_mode = transaction`.
    pub async fn spawn_behind_pgbouncer(overrides: &[(&str, &str)]) -> Self {
        let db = TestDb::with_registry().await;
        db.set_pooler_defaults(5000).await;
        let bouncer = PgBouncer::start(db.url()).await;
        let url = bouncer.url_for(db.url());
        let mut overrides = overrides.to_vec();
        overrides.push(("APP__DATABASE__POOLER_MODE", "transaction"));
        Self::start(db, url, Some(bouncer), &overrides).await
    }

    async fn start(db: TestDb, url: String, bouncer: Option<PgBouncer>, overrides: &[(&str, &str)]) -> Self {
        crate::log_capture::install();
        let mut vars: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".to_owned(), url),
            ("APP__SERVER__PORT".to_owned(), "0".to_owned()),
            ("APP__SERVER__WORKERS".to_owned(), "2".to_owned()),
            ("APP__DATABASE__MAX_CONNECTIONS".to_owned(), "4".to_owned()),
            ("APP__AUTH__ADMIN_TOKEN".to_owned(), ADMIN_TOKEN.to_owned()),
        ]);
        vars.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let settings = Settings::load_from(vars).expect("test settings load");
        let (started_tx, started) = tokio::sync::oneshot::channel::<Started>();
        let server = std::thread::Builder::new()
            .name("test-server".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = started_tx.send(Err(format!("no runtime: {e}")));
                        return None;
                    }
                };
                runtime.block_on(async move {
                    let app = match Application::build(&settings).await {
                        Ok(app) => app,
                        Err(e) => {
                            let _ = started_tx.send(Err(e.to_string()));
                            return None;
                        }
                    };
                    started_tx.send(Ok((app.port(), app.db(), app.stop_handle()))).ok()?;
                    Some(app.run_until_stopped().await)
                })
            })
            .expect("a thread for the test server");
        let started = started.await.expect("the server thread reports");
        let (port, server_db, stop) = started.expect("the application starts");
        Self {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            db,
            keys: Mutex::default(),
            server_db,
            stop,
            server: Some(server),
            _bouncer: bouncer,
        }
    }

    /// The handle that stops this server gracefully (dropping the `TestApp` uses it too).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Starts the application with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Provisions a tenant through the API, remembers its API key and returns its JSON,
    /// failing the test otherwise.
    pub async fn create_tenant(&self, slug: &str) -> Value {
        let body = json!({"slug": slug, "name": format!("Tenant {slug}")});
        let response = self.post("/tenants", None, &body).await;
        assert_eq!(response.status, 201, "provisioning {slug}: {}", response.body);
        let key = response.body["api_key"].as_str().expect("a new tenant comes with a key").to_owned();
        let schema = response.body["schema"].as_str().expect("a new tenant names its schema").to_owned();
        self.keys.lock().expect("keys lock").insert(slug.to_owned(), (key, schema));
        response.body
    }

    /// The API key [`TestApp::create_tenant`] got for `slug`.
    pub fn key_of(&self, slug: &str) -> Option<String> {
        self.keys.lock().expect("keys lock").get(slug).map(|(key, _)| key.clone())
    }

    /// The schema of the tenant [`TestApp::create_tenant`] provisioned as `slug`, for a test's
    /// own SQL; failing the test if there is none.
    pub fn schema_of(&self, slug: &str) -> String {
        let keys = self.keys.lock().expect("keys lock");
        keys.get(slug).map(|(_, schema)| schema.clone()).unwrap_or_else(|| panic!("no tenant {slug} here"))
    }

    /// Creates a product in `tenant` and returns its JSON.
    pub async fn create_product(&self, tenant: &str, name: &str, price: &str) -> Value {
        let response = self.post("/products", Some(tenant), &json!({"name": name, "price": price})).await;
        assert_eq!(response.status, 201, "creating product {name} in {tenant}: {}", response.body);
        response.body
    }

    /// `GET path`, as `tenant` if given.
    pub async fn get(&self, path: &str, tenant: Option<&str>) -> Reply {
        self.send(self.client.get(self.url(path)), tenant).await
    }

    /// `POST path` with a JSON body, as `tenant` if given.
    pub async fn post(&self, path: &str, tenant: Option<&str>, body: &Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(body), tenant).await
    }

    /// `PATCH path` with a JSON body, as `tenant` if given.
    pub async fn patch(&self, path: &str, tenant: Option<&str>, body: &Value) -> Reply {
        self.send(self.client.patch(self.url(path)).json(body), tenant).await
    }

    /// `DELETE path`, as `tenant` if given.
    pub async fn delete(&self, path: &str, tenant: Option<&str>) -> Reply {
        self.send(self.client.delete(self.url(path)), tenant).await
    }

    /// Sends a request as `tenant` (its API key and the tenant header naming it; a tenant
    /// this app did not provision gets the header only), or, without a tenant, as the admin.
    pub async fn send(&self, request: reqwest::RequestBuilder, tenant: Option<&str>) -> Reply {
        let request = match tenant {
            Some(tenant) => match self.key_of(tenant) {
                Some(key) => request.header("X-Tenant", tenant).bearer_auth(key),
                None => request.header("X-Tenant", tenant),
            },
            None => request.bearer_auth(ADMIN_TOKEN),
        };
        self.send_raw(request).await
    }

    /// Sends a request exactly as built, with no credentials added.
    pub async fn send_raw(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let www_authenticate = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.expect("a readable body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply { status, content_type, www_authenticate, retry_after, body }
    }
}

impl Drop for TestApp {
    /// Stops the server through its handle and waits until it has drained and closed its pool,
    /// so the database is dropped with no session of the server's left on it.
    fn drop(&mut self) {
        self.stop.request_stop(StopReason::Requested);
        let Some(server) = self.server.take() else { return };
        match server.join() {
            Ok(Some(Err(e))) => eprintln!("the test server failed: {e}"),
            Err(_) => eprintln!("the test server's thread panicked"),
            Ok(_) => {}
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The Content-Type header.
    pub content_type: String,
    /// The WWW-Authenticate header, if any.
    pub www_authenticate: Option<String>,
    /// The Retry-After header, if any.
    pub retry_after: Option<String>,
    /// The body as JSON (a JSON string if it was not JSON; null if empty).
    pub body: Value,
}

impl Reply {
    /// Asserts an RFC 9457 error answer with `status` whose detail contains `needle`.
    pub fn assert_problem(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type, "application/problem+json", "{self:?}");
        assert_eq!(self.body["status"], status, "{self:?}");
        let detail = self.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "expected {needle:?} in {detail:?}");
    }
}
