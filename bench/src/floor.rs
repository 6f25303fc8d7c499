//! Floors under the server's figure for `GET /products?limit=20`: the same request against a
//! bare actix-web server in this process, with the server's worker count, answering with the
//! very bytes Tenantry answered for it, in two layers:
//!
//! - `HTTP alone`: the answer and nothing else (what actix-web and wrk cost a request);
//! - `HTTP and the statement`: first the service's own list statement for the tenant, through
//!   the service's own pools (`Db::run`, the connections Tenantry's server used), its rows
//!   received by sqlx but neither decoded into products nor written as JSON.
//!
//! Neither checks the key, looks the tenant up, applies limits, logs or counts the request:
//! what Tenantry's server spends above the second floor is those layers, SeaORM's query
//! building, decoding the rows and encoding the page. Both are yardsticks of this bench, never
//! routes of the service.

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use sea_orm::{ConnectionTrait, Statement};
use tenantry_service::db::Db;
use tenantry_service::page::PageRequest;
use tenantry_service::{TenantScope, products};

use crate::compare::{self, Served};
use crate::http::HttpArgs;
use crate::setup::{Bench, Tenant};

/// How much of the request path a floor keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The recorded answer, nothing else.
    Http,
    /// The tenant's list statement through the service's pools, then the recorded answer.
    Statement,
}

impl Layer {
    /// As the figures name it.
    pub fn label(self) -> &'static str {
        match self {
            Layer::Http => "HTTP alone",
            Layer::Statement => "HTTP and the statement",
        }
    }
}

/// What a floor's handler needs.
struct Floor {
    layer: Layer,
    db: Db,
    scope: TenantScope,
    statement: Statement,
    /// Rows the statement must return (those of the recorded page).
    rows: usize,
    /// Tenantry's own answer to the request.
    body: web::Bytes,
}

/// Tenantry's answer to `GET /products?limit=20` for one tenant.
pub struct Recorded {
    body: web::Bytes,
    /// Products in it.
    rows: usize,
}

/// Tenantry's answer to `GET /products?limit=20` for `tenant`, from the running server at
/// `base`.
pub async fn record(base: &str, tenant: &Tenant) -> anyhow::Result<Recorded> {
    let reply = reqwest::Client::new()
        .get(format!("{base}/products?limit=20"))
        .bearer_auth(&tenant.key)
        .send()
        .await?
        .error_for_status()?;
    let body = reply.bytes().await?;
    let page: serde_json::Value = serde_json::from_slice(&body)?;
    let rows = page["items"].as_array().context("a page has items")?.len();
    Ok(Recorded { body, rows })
}

/// Runs the list-only load against a floor of `layer` for `tenant`, measured as Tenantry's
/// list is ([`compare::list_load`]: this process's CPU, the service's backends').
pub async fn measure(
    bench: &Bench,
    db: &Db,
    args: &HttpArgs,
    tenant: &Tenant,
    recorded: &Recorded,
    layer: Layer,
) -> anyhow::Result<Served> {
    let scope = TenantScope::new(tenant.schema()?);
    let statement = products::list_statement(&scope, PageRequest::new(Some(20), None)?, None);
    let floor = Arc::new(Floor {
        layer,
        db: db.clone(),
        scope,
        statement,
        rows: recorded.rows,
        body: recorded.body.clone(),
    });
    let state = web::Data::from(floor);
    let mut server =
        HttpServer::new(move || App::new().app_data(state.clone()).route("/products", web::get().to(answer)))
            .disable_signals()
            .shutdown_timeout(1)
            .bind(("127.0.0.1", 0))?;
    if bench.settings.server.workers > 0 {
        server = server.workers(bench.settings.server.workers);
    }
    let port = server.addrs().first().context("the floor's listener")?.port();
    let server = server.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    let measured = compare::list_load(bench, args, &format!("http://127.0.0.1:{port}"), tenant, 0).await;
    handle.stop(true).await;
    task.await??;
    let (served, errors) = measured?;
    anyhow::ensure!(errors == 0, "{errors} of the floor's requests failed ({})", layer.label());
    Ok(served)
}

/// The floor's one route: the statement if its layer has it, then Tenantry's recorded answer.
async fn answer(floor: web::Data<Floor>) -> HttpResponse {
    if floor.layer == Layer::Statement {
        let rows = floor
            .db
            .run(&floor.scope, async |work| Ok(work.query_all_raw(floor.statement.clone()).await?.len()))
            .await;
        match rows {
            Ok(n) if n == floor.rows => {}
            Ok(n) => {
                return HttpResponse::InternalServerError().body(format!("{n} rows, not {}", floor.rows));
            }
            Err(e) => return HttpResponse::ServiceUnavailable().body(e.to_string()),
        }
    }
    HttpResponse::Ok().content_type("application/json").body(floor.body.clone())
}
