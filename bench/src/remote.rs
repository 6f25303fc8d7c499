//! Tenants on a server that is already running (`bench http --url`): provisioned, seeded and
//! deleted through its HTTP API, as an operator's own tooling would.

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use rand::Rng;
use serde_json::{Value, json};

use crate::setup::Tenant;

/// Requests in flight while provisioning, seeding and deleting.
const JOBS: usize = 8;

/// A running server and its control-plane token.
pub struct Remote {
    base: String,
    admin_token: String,
    client: reqwest::Client,
}

impl Remote {
    /// The server at `base` (`http://host:port`).
    pub fn new(base: &str, admin_token: String) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), admin_token, client: reqwest::Client::new() }
    }

    /// The server's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Provisions `count` tenants with slugs unique to this run (`bu<run><n>`), so a run never
    /// touches tenants it did not make. If one fails, those made are deleted again.
    pub async fn provision(&self, count: usize) -> anyhow::Result<Vec<Tenant>> {
        let run: String =
            (0..4).map(|_| char::from(b'a' + rand::rng().random_range(0..26u8))).collect::<String>();
        let results = stream::iter(0..count)
            .map(|i| {
                let slug = format!("bu{run}{i:05}");
                async move {
                    let body = json!({"slug": slug, "name": format!("Bench {i}")});
                    let reply: Value = self
                        .expect(
                            self.client.post(format!("{}/tenants", self.base)).bearer_auth(&self.admin_token),
                            &body,
                        )
                        .await?;
                    let key =
                        reply["api_key"].as_str().context("provisioning answered no api_key")?.to_owned();
                    let schema =
                        reply["schema"].as_str().context("provisioning answered no schema")?.to_owned();
                    Ok::<_, anyhow::Error>(Tenant { slug, schema, key })
                }
            })
            .buffered(JOBS)
            .collect::<Vec<_>>()
            .await;
        let (made, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
        let made: Vec<Tenant> = made.into_iter().filter_map(Result::ok).collect();
        match failed.into_iter().find_map(Result::err) {
            None => Ok(made),
            Some(e) => {
                self.delete(&made).await;
                Err(e)
            }
        }
    }

    /// Gives each tenant `count` products through `POST /products`.
    pub async fn seed(&self, tenants: &[Tenant], count: usize) -> anyhow::Result<()> {
        stream::iter(tenants)
            .map(|tenant| async move {
                for n in 1..=count {
                    let body = json!({"name": format!("{}-p{n}", tenant.slug), "price": format!("{n}.{:02}", n % 100)});
                    let request = self.client.post(format!("{}/products", self.base)).bearer_auth(&tenant.key);
                    self.expect(request, &body).await?;
                }
                Ok::<_, anyhow::Error>(())
            })
            .buffer_unordered(JOBS)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Deletes the tenants (schemas, keys and registry rows). Reports how many could not be.
    pub async fn delete(&self, tenants: &[Tenant]) -> usize {
        stream::iter(tenants)
            .map(|tenant| async move {
                let reply = self
                    .client
                    .delete(format!("{}/tenants/{}", self.base, tenant.slug))
                    .bearer_auth(&self.admin_token)
                    .send()
                    .await;
                matches!(reply, Ok(r) if r.status().is_success())
            })
            .buffer_unordered(JOBS)
            .filter(|deleted| futures::future::ready(!deleted))
            .count()
            .await
    }

    async fn expect(&self, request: reqwest::RequestBuilder, body: &Value) -> anyhow::Result<Value> {
        let reply = request.json(body).send().await.with_context(|| format!("sending to {}", self.base))?;
        let status = reply.status();
        let text = reply.text().await?;
        if !status.is_success() {
            anyhow::bail!("{} answered {status}: {text}", self.base);
        }
        serde_json::from_str(&text).with_context(|| format!("unreadable answer: {text}"))
    }
}
