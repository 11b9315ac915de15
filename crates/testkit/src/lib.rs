//! Sesame's test kit: the fixtures shared by the gateway, admin and bench tests.
//!
//! How the tests are organised: each crate keeps its unit tests next to the code and its
//! integration tests in one binary (`tests/it/main.rs`, one module per concern), so the crate
//! links once. An integration test starts the real thing, as zero2prod's `spawn_app()` does: a
//! fresh database (one SQLite file or one PostgreSQL database, dropped afterwards), the
//! simulated carrier, and the gateway ([`gateway::Stack`]) or the admin API
//! ([`admin::Server`]) on 127.0.0.1:0, with an HTTP client. Every test that touches the store
//! runs on both backends through [`both!`] (`<test>::sqlite`, `<test>::postgres`); a PostgreSQL
//! test fails, never skips, when `SESAME_TEST_PG_URL`'s server is missing. [`seed`] creates
//! accounts and users straight in the store (gateway tests, benches); [`admin`] goes through the
//! API. A test needing an external tool (qpdf, promtool, openapi-spec-validator) fails when it
//! is missing; `scripts/test.sh` installs them.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

pub mod admin;
pub mod gateway;
pub mod net;
pub mod portal;
pub mod seed;

pub use sesame_store::Backend;

/// A fixture a test body runs against: started on a fresh database, shut down afterwards.
pub trait Fixture: Sized {
    fn start(backend: Backend) -> impl std::future::Future<Output = Self>;
    fn shutdown(self) -> impl std::future::Future<Output = ()>;
}

/// Runs `body` against a fresh fixture on `backend`, then shuts the fixture down.
pub async fn on<F: Fixture>(backend: Backend, body: impl AsyncFnOnce(&F)) {
    let f = F::start(backend).await;
    body(&f).await;
    f.shutdown().await;
}

/// One test per backend, `<name>::sqlite` and `<name>::postgres`, each on a fresh database.
///
/// - `both!(name)`: `async fn name(backend: Backend)` builds its own fixture (a tuned config);
///   `both!(name, multi_thread)` runs it on a two-worker runtime; `both!(name, sync)` is for a
///   plain `fn name(backend: Backend)` that drives its own runtime (property tests).
/// - `both!(name, body)`: `async fn body(f: &F)` runs against a started [`Fixture`] `F`
///   (e.g. [`admin::Server`]) on a two-worker runtime.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        }
    };
    ($name:ident, multi_thread) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        }
    };
    ($name:ident, sync) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name($crate::Backend::Postgres)
            }
        }
    };
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::on($crate::Backend::Sqlite, super::$body).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::on($crate::Backend::Postgres, super::$body).await
            }
        }
    };
}

/// Every service right and every tool on the `all` scope: an account entitled to all of it.
pub const ALL_RIGHTS: &[&str] = &sesame_domain::rights::EVERY_SERVICE_AND_TOOL;

/// A right set from right ids (`ws_tracking`, `tracking_tool:own`…); panics on a bad id.
pub fn rights(ids: &[&str]) -> sesame_domain::RightSet {
    sesame_domain::RightSet::parse_ids(ids.iter().copied()).expect("valid rights")
}

/// The body of an answer as JSON, or as a JSON string when it is not JSON (`Null` when empty).
///
/// A multipart answer (the label service's) is read as its clients read it: the JSON of its
/// `jsonInfos` part.
pub async fn json_or_text(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if ct.starts_with("multipart/") {
        let body = resp.bytes().await.expect("body");
        let part = multipart_part(&ct, &body, "jsonInfos").expect("a jsonInfos part");
        return (
            status,
            serde_json::from_slice(&part).expect("jsonInfos is JSON"),
        );
    }
    let text = resp.text().await.expect("body");
    let v = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, v)
}

/// A server task started by a fixture, and the switch that stops it.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Spawns `run(shutdown)`, where `shutdown` completes when [`Running::stop`] is called.
    pub fn spawn<Fut>(run: impl FnOnce(tokio::sync::oneshot::Receiver<()>) -> Fut) -> Self
    where
        Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        Running {
            stop: Some(tx),
            task: Some(tokio::spawn(run(rx))),
        }
    }

    /// Tells the server to stop, without waiting for its drain.
    pub fn signal(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the server and waits for its drain; panics if it failed. Idempotent.
    pub async fn stop(&mut self) {
        self.signal();
        if let Some(t) = self.task.take() {
            t.await.expect("join").expect("server run");
        }
    }
}

/// The body of the part of a multipart answer whose `Content-ID` is `<id>`, split the way the
/// carrier's clients split it (the `boundary` parameter of `content_type`, CRLF delimiters):
/// written here by hand from RFC 2046, not with the gateway's or the simulator's code.
pub fn multipart_part(content_type: &str, body: &[u8], id: &str) -> Option<Vec<u8>> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        parts.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    let wanted = format!("content-id: <{}>", id.to_ascii_lowercase());
    parts.into_iter().skip(1).find_map(|p| {
        let p = p.strip_prefix(b"\r\n")?;
        let head_end = find(p, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&p[..head_end]).to_ascii_lowercase();
        head.lines().any(|l| l.trim() == wanted).then(|| {
            p[head_end + 4..]
                .strip_suffix(b"\r\n")
                .unwrap_or(&p[head_end + 4..])
                .to_vec()
        })
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
