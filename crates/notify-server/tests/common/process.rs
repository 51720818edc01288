//! The `notify-server` binary as a child process, which a test can kill without warning and
//! start again on the same port.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const TOKEN: &str = "reliability-token";

pub struct ServerProcess {
    child: Option<Child>,
    pub port: u16,
    store_url: String,
    extra: Vec<String>,
}

impl ServerProcess {
    /// Starts a server on a free port with `store_url`, waiting until it is ready.
    pub async fn start(store_url: &str, extra: &[&str]) -> ServerProcess {
        let port = super::cluster::free_port();
        let mut server = ServerProcess {
            child: None,
            port,
            store_url: store_url.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        server.restart().await;
        server
    }

    /// Starts the process again (after [`ServerProcess::kill`]) on the same port.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let child = Command::new(env!("CARGO_BIN_EXE_notify-server"))
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port), "--webhook-token", TOKEN])
            .args(["--api-auth", "none", "--store-url", &self.store_url, "--log-filter", "warn"])
            .args(&self.extra)
            .stdout(Stdio::null())
            // Their 503s are expected here; the tests print what matters.
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(self.url("/healthz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("notify-server on port {} did not start", self.port);
    }

    /// SIGKILL: no shutdown, no flush, whatever was in flight is cut off.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
