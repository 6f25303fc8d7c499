//! [`TestApp`]: the real application, in-process on port 0, over its own database.

use std::collections::HashMap;

use tenantry_api::Application;
use tenantry_config::Settings;

use crate::TestDb;

/// A running server and the database behind it; both go away when this drops.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A client for talking to it.
    pub client: reqwest::Client,
    /// The server's database.
    pub db: TestDb,
}

impl TestApp {
    /// Starts the application with default settings plus `overrides` (`APP__...` variables).
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let db = TestDb::new().await;
        let mut vars: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".to_owned(), db.url().to_owned()),
            ("APP__SERVER__PORT".to_owned(), "0".to_owned()),
            ("APP__SERVER__WORKERS".to_owned(), "2".to_owned()),
            ("APP__DATABASE__MAX_CONNECTIONS".to_owned(), "4".to_owned()),
        ]);
        vars.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let settings = Settings::load_from(vars).expect("test settings load");
        let app = Application::build(&settings).await.expect("the application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self { address, client: reqwest::Client::new(), db }
    }

    /// Starts the application with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}
