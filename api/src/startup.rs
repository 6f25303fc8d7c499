//! Building and running the server: the seam tests start the real application through.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpServer, dev::Server, web};
use derive_more::{Display, Error, From};
use secrecy::ExposeSecret;
use tenantry_config::Settings;
use tenantry_service::db::{PoolOptions, connect_and_prepare};
use tenantry_service::{DatabaseConnection, ServiceError};

use crate::routes;

/// Why the server could not start.
#[derive(Debug, Display, Error, From)]
pub enum StartupError {
    /// The listener could not be bound.
    #[display("cannot bind the listener: {_0}")]
    Bind(std::io::Error),
    /// The database could not be reached or prepared.
    #[display("cannot prepare the database: {_0}")]
    Database(ServiceError),
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Prepares the database (creating it and applying the control migrations if needed) and
    /// binds the listener.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let pool = PoolOptions {
            max_connections: settings.database.max_connections,
            acquire_timeout: Duration::from_secs(settings.database.acquire_timeout_secs),
        };
        let db = connect_and_prepare(settings.database.url.expose_secret(), &pool).await?;
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        let port = listener.local_addr()?.port();
        let server = serve(listener, db, settings)?;
        Ok(Self { port, server })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM), then drains.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn serve(listener: TcpListener, db: DatabaseConnection, settings: &Settings) -> std::io::Result<Server> {
    let db = web::Data::new(db);
    let mut server = HttpServer::new(move || App::new().app_data(db.clone()).configure(routes::configure))
        .listen(listener)?;
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    Ok(server.run())
}
