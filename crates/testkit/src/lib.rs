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
pub async fn json_or_text(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
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
