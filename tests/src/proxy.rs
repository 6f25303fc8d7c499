//! [`Proxy`]: a TCP relay between the service and Postgres that a test can cut and restore,
//! to make the database unreachable without touching the shared Postgres server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use url::Url;

/// A relay on a loopback port; cut, it refuses connections and drops those it carried.
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Starts relaying a free loopback port to the server `upstream` (any URL on it) names.
    pub async fn start(upstream: &str) -> Self {
        let url = Url::parse(upstream).expect("upstream URL");
        let host = url.host_str().unwrap_or("127.0.0.1");
        let upstream = tokio::net::lookup_host((host, url.port().unwrap_or(5432)))
            .await
            .expect("upstream address")
            .next()
            .expect("an upstream address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("address");
        let proxy = Self { addr, upstream, tasks: Arc::default() };
        proxy.serve(listener);
        proxy
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let mut url = Url::parse(url).expect("URL");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(self.addr.port())).expect("port");
        url.to_string()
    }

    /// Stops listening (connections are refused) and drops every relayed connection.
    pub fn cut(&self) {
        for task in self.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("the proxy's port again");
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let (upstream, tasks) = (self.upstream, Arc::clone(&self.tasks));
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let relay = tokio::spawn(relay(client, upstream));
                tasks.lock().expect("tasks").push(relay);
            }
        });
        self.tasks.lock().expect("tasks").push(accept);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        tokio::io::copy_bidirectional(&mut client, &mut server).await.ok();
    }
}
