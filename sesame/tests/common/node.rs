//! Sesame nodes run as child processes of a test (included with `#[path]` by the multi-process
//! tests).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HEX32: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A child process killed when the test ends, however it ends.
pub struct Node(pub Child);
impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[derive(Clone, Copy)]
pub struct Ports {
    pub public: u16,
    pub ops: u16,
    pub admin: u16,
}

impl Ports {
    /// Three ports free now.
    pub fn free() -> Ports {
        Ports {
            public: free_port(),
            ops: free_port(),
            admin: free_port(),
        }
    }
}

/// `sesame serve --role <role>` on `p`, with none of this process's `SESAME__` settings: the
/// database, fixed secrets, the `operator` token and the carrier at `upstream`; the test client
/// stands for many callers, so it is a trusted proxy. Spawned by [`spawn`].
pub fn serve(role: &str, db: &str, upstream: &str, operator: &str, p: Ports) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sesame"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SESAME__") {
            c.env_remove(k);
        }
    }
    c.args(["serve", "--role", role])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SESAME__DATABASE__URL", db)
        .env("SESAME__SECRETS__SERVER_SECRET", HEX32)
        .env("SESAME__SECRETS__MASTER_KEY", HEX32)
        .env("SESAME__SECRETS__OPERATOR_TOKEN", operator)
        .env("SESAME__LISTEN__PUBLIC", format!("127.0.0.1:{}", p.public))
        .env("SESAME__LISTEN__OPS", format!("127.0.0.1:{}", p.ops))
        .env("SESAME__LISTEN__ADMIN", format!("127.0.0.1:{}", p.admin))
        .env("SESAME__GATEWAY__UPSTREAM_URL", upstream)
        .env("SESAME__GATEWAY__TRUSTED_PROXIES", "[\"127.0.0.1\"]");
    c
}

/// Starts the node `c` describes, its stdout dropped and its stderr (the logs) sent to `stderr`.
pub fn spawn(mut c: Command, p: Ports, stderr: Stdio) -> (Node, Ports) {
    let child = c
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("sesame starts");
    (Node(child), p)
}

pub async fn wait_until_up(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if http
            .get(url)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered");
}

/// The token of the invitation link in the first queued mail, read from the outbox as the
/// operator (the demo's way: no SMTP in these tests).
pub async fn first_invitation_token(http: &reqwest::Client, admin: &str, operator: &str) -> String {
    let url = format!("{admin}/admin/v1/outbox");
    let resp = http.get(url).bearer_auth(operator).send().await.unwrap();
    let outbox: serde_json::Value = resp.json().await.unwrap();
    let body = outbox["items"][0]["body"].as_str().unwrap_or_default();
    let link = body
        .split_whitespace()
        .find(|w| w.contains("/admin/v1/invitations/"))
        .unwrap_or_else(|| panic!("no invitation link in the first mail: {body}"));
    let token = link.rsplit('/').next().unwrap_or_default();
    token.trim_end_matches(['.', ',', ')']).to_owned()
}
