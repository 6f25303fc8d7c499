//! Building and running the server: the seam tests start the real application through.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderName;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpServer, dev::Server, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use derive_more::{Display, Error, From};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use tenantry_config::AdminToken;
use tenantry_config::Settings;
use tenantry_service::ServiceError;
use tenantry_service::db::{Db, PoolOptions, connect_and_prepare};
use tenantry_service::keys::Keyring;
use tenantry_service::limits::{Admission, LimitSet};
use tenantry_service::tenants::Registry;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::ApiError;
use crate::openapi::{self, ApiDoc};
use crate::request_log;
use crate::routes::{self, RouteTable};
use crate::shutdown::{StopHandle, StopSignal, stop_channel};
use crate::telemetry::Telemetry;

/// Largest request body accepted (64 KiB): products and orders are small.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why the server could not start.
#[derive(Debug, Display, Error, From)]
pub enum StartupError {
    /// The listener could not be bound.
    #[display("cannot bind the listener: {_0}")]
    Bind(std::io::Error),
    /// The database could not be reached or prepared.
    #[display("cannot prepare the database: {_0}")]
    Database(ServiceError),
    /// A setting holds a value the server cannot use.
    #[display("invalid setting {_0}")]
    #[from(ignore)]
    Setting(#[error(not(source))] String),
}

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Tenant resolution, cached.
    pub registry: Registry,
    /// API key resolution, cached.
    pub keyring: Keyring,
    /// Per-tenant rate and concurrency limits of this instance's data plane.
    pub admission: Admission,
    /// SHA-256 of the admin token (the token itself is not kept).
    pub admin_token_digest: [u8; 32],
    /// The header that names a request's tenant.
    pub tenant_header: HeaderName,
    /// The same header as configured, for messages (`HeaderName` is lowercase).
    pub tenant_header_label: String,
    /// Metrics, per-tenant counts and the request log's format.
    pub telemetry: Telemetry,
    /// Largest archive `POST /tenants/import` takes (`transfer.max_archive_bytes`).
    pub max_archive_bytes: u64,
}

impl AppState {
    /// The state of the application serving `req`.
    pub fn of(req: &HttpRequest) -> Result<web::Data<Self>, ApiError> {
        req.app_data::<web::Data<Self>>()
            .cloned()
            .ok_or_else(|| ServiceError::Unexpected("application state missing".to_owned()).into())
    }
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    db: Db,
    stop: StopHandle,
    signal: StopSignal,
    shutdown_timeout: Duration,
    state: web::Data<AppState>,
}

/// How often histogram samples are drained into their buckets between scrapes.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// How long a stopping server waits for its pool to close: the drain has already given every
/// connection back, so this only bounds a connection lost by a request cut off at the timeout.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

impl Application {
    /// Prepares the database (creating it and applying the control migrations if needed) and
    /// binds the listener.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let tenant_header = HeaderName::try_from(settings.tenancy.header.as_str())
            .map_err(|e| StartupError::Setting(format!("tenancy.header: {e}")))?;
        let pool = PoolOptions::from(&settings.database);
        let admin_token_digest = admin_token_digest(settings.auth.admin_token.as_ref())?;
        let telemetry =
            Telemetry::new(&settings.metrics, settings.log.requests).map_err(StartupError::Setting)?;
        let mut db = connect_and_prepare(settings.database.url.expose_secret(), &pool).await?;
        // Before the caches are made over it: they register their handles through it.
        db.instrument(telemetry.recorder());
        let ttl = settings.tenancy.cache_ttl;
        let defaults =
            LimitSet::from_settings(&settings.limits).map_err(|e| StartupError::Setting(e.to_string()))?;
        let registry = Registry::new(db.clone(), ttl, defaults);
        let keyring = Keyring::new(db.clone(), ttl);
        let tenant_header_label = settings.tenancy.header.as_str().to_owned();
        let state = web::Data::new(AppState {
            db: db.clone(),
            registry,
            keyring,
            admission: Admission::new(),
            admin_token_digest,
            tenant_header,
            tenant_header_label,
            telemetry,
            max_archive_bytes: settings.transfer.max_archive_bytes,
        });
        let upkeep_state = state.clone();
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        let port = listener.local_addr()?.port();
        // Signals reach the server only through its stop handle (see `crate::shutdown`).
        let mut server = HttpServer::new(move || app(state.clone()))
            .disable_signals()
            .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
            .listen(listener)?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let (stop, signal) = stop_channel();
        let shutdown_timeout = settings.server.shutdown_timeout;
        let state = upkeep_state;
        Ok(Self { port, server: server.run(), db, stop, signal, shutdown_timeout, state })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's database handle (e.g. to read how many statements it ran).
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// The handle that stops this server gracefully, as SIGINT and SIGTERM do once
    /// [`StopHandle::stop_on_signals`] is called.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves until stopped through a [`StopHandle`]; then refuses new connections, gives
    /// in-flight requests up to `server.shutdown_timeout_secs`, closes the pool and logs one
    /// "server stopped" line.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self { mut server, db, mut signal, shutdown_timeout, stop, state, .. } = self;
        let server_handle = server.handle();
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(METRICS_UPKEEP);
            loop {
                every.tick().await;
                state.telemetry.upkeep();
            }
        });
        let _stop_upkeep = AbortOnDrop(upkeep);
        // Nobody left to ask for a stop: then the server serves until it fails.
        drop(stop);
        let reason = tokio::select! {
            result = &mut server => {
                close_pool(&db).await;
                signal.report_stopped();
                return result;
            }
            reason = signal.requested() => reason,
        };
        log::info!(
            "{reason}: refusing new connections, finishing in-flight requests (at most {} s)",
            shutdown_timeout.as_secs()
        );
        let started = Instant::now();
        let ((), result) = tokio::join!(server_handle.stop(true), server);
        let closed = close_pool(&db).await;
        // actix-server does not say whether its workers drained or were cut off; a drain that
        // lasted the whole timeout is the latter (workers check once a second).
        if started.elapsed() >= shutdown_timeout {
            log::warn!(
                "server stopped at the {} s shutdown timeout, cutting off requests still running; {closed}",
                shutdown_timeout.as_secs()
            );
        } else {
            log::info!("server stopped: in-flight requests finished; {closed}");
        }
        signal.report_stopped();
        result
    }
}

/// Ends a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Closes the pool inside the runtime, bounded by [`POOL_CLOSE_TIMEOUT`]; says how it went.
async fn close_pool(db: &Db) -> String {
    match tokio::time::timeout(POOL_CLOSE_TIMEOUT, db.close()).await {
        Ok(()) => "database pool closed".to_owned(),
        Err(_) => format!("the database pool did not close within {} s", POOL_CLOSE_TIMEOUT.as_secs()),
    }
}

/// The digest of the configured admin token; with none configured, of a random one that is
/// logged once, so a newcomer can follow the README while no fixed default ever exists.
fn admin_token_digest(configured: Option<&AdminToken>) -> Result<[u8; 32], StartupError> {
    let token = match configured {
        Some(token) => token.expose().to_owned(),
        None => {
            let mut random = [0u8; 32];
            getrandom::fill(&mut random).map_err(|e| StartupError::Setting(format!("no randomness: {e}")))?;
            let token = URL_SAFE_NO_PAD.encode(random);
            log::warn!(
                "no admin token configured (APP__AUTH__ADMIN_TOKEN); this run's control-plane token is: {token}"
            );
            token
        }
    };
    Ok(Sha256::digest(token.as_bytes()).into())
}

/// One worker's application. Every route is registered through utoipa-actix-web, so every
/// route is in the OpenAPI document by construction; the document's rules for every route
/// (`openapi::apply_rules`) are applied to it, and the route table built from it refuses
/// undocumented query parameters and answers 405 for undocumented methods.
fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let tenant_header = state.tenant_header_label.clone();
    let (app, mut openapi) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY_BYTES)
                .error_handler(|e, _| ApiError::from_json(&e).into()),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::from_query(&e).into()))
        .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::from_path(&e).into()))
        .configure(routes::configure)
        .split_for_parts();
    openapi::apply_rules(&mut openapi, &tenant_header);
    let table = RouteTable::from_doc(&openapi);
    app.app_data(web::Data::new(openapi))
        .app_data(web::Data::new(table))
        .wrap(from_fn(routes::check_query))
        .wrap(from_fn(routes::head_as_get))
        .wrap(from_fn(request_log::observe))
        .default_service(web::to(routes::no_route))
}
