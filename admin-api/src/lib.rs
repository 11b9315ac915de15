//! Sesame's admin API (control plane, SPEC §5): accounts, users, links, invitations, CSV import
//! and export, back-office actions and the audit log, as JSON over HTTP with an OpenAPI 3
//! document served at `/admin/openapi.json`.
//!
//! Every write goes through the store, which records a change-log entry and an audit entry in the
//! same transaction; every request is checked against what its caller may do; every refusal is
//! one JSON error shape (`{"error":{"code","message","field"?,"right"?}}`).

mod auth;
mod config;
mod console;
pub mod csvio;
mod error;
mod extract;
mod forms;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod html;
mod import_worker;
pub mod mail;
mod openapi;
mod routes;
mod throttle;
mod upload;
mod views;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use sesame_store::Store;
use tokio::sync::{watch, Notify};

pub use config::{AdminConfig, SmtpConfig};
pub use error::{ApiError, ApiResult};

#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Store,
    pub cfg: Arc<AdminConfig>,
    pub operator_token: Arc<str>,
    pub import_wake: Arc<Notify>,
    pub throttle: Arc<throttle::Throttle>,
    /// The portal's client of the gateway's public listener (`admin.gateway_url`).
    pub gateway: Arc<console::portal::gateway::PortalGateway>,
}

/// The admin API. Cheap to clone.
#[derive(Clone)]
pub struct AdminApi {
    state: AppState,
}

impl AdminApi {
    pub fn new(cfg: AdminConfig, store: Store, operator_token: String) -> AdminApi {
        if operator_token.len() < 16 {
            tracing::warn!("the operator token is shorter than 16 characters");
        }
        let throttle = Arc::new(throttle::Throttle::new(cfg.throttle.clone()));
        let gateway = Arc::new(console::portal::gateway::PortalGateway::new(&cfg));
        AdminApi {
            state: AppState {
                store,
                cfg: Arc::new(cfg),
                operator_token: Arc::from(operator_token),
                import_wake: Arc::new(Notify::new()),
                throttle,
                gateway,
            },
        }
    }

    /// Issue 18: the sign-in throttle on a shared backend (`gateway.rate_limit.backend =
    /// "redis"`) instead of this process's memory; same `[admin.throttle]` settings.
    pub fn with_throttle(mut self, throttle: sesame_throttle::Throttle) -> AdminApi {
        self.state.throttle = Arc::new(throttle::Throttle::with_inner(throttle));
        self
    }

    /// The (method, path) pairs the router serves.
    pub fn route_list() -> Vec<(&'static str, &'static str)> {
        routes::all(1).list()
    }

    /// The router: every resource's routes, the OpenAPI document they describe, the one JSON
    /// error shape for the framework's own refusals, and the log of server errors.
    pub fn router(&self) -> Router {
        let routes = routes::all(self.state.cfg.max_import_bytes);
        let doc = openapi::Document::new(&openapi::document(&routes.ops, &routes.schemas));
        routes
            .router
            .merge(console::routes(self.state.cfg.max_import_bytes))
            .fallback(routes::fallback)
            .method_not_allowed_fallback(routes::method_not_allowed)
            .layer(axum::middleware::map_response(error::json_rejections))
            .layer(axum::middleware::from_fn(error::log_server_errors))
            .layer(Extension(doc))
            .with_state(self.state.clone())
    }

    /// Starts the background tasks (the import worker and, when SMTP is configured, the mail
    /// sender) until `stop` turns true. `run` does this itself; call it only when serving
    /// [`AdminApi::router`] some other way.
    pub fn spawn_background(
        &self,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let worker = import_worker::ImportWorker {
            store: self.state.store.clone(),
            public_url: self.state.cfg.public_url.clone(),
            lang: self.state.cfg.default_lang.clone(),
            wake: self.state.import_wake.clone(),
        };
        let mut tasks = vec![tokio::spawn(worker.run(stop.clone()))];
        if let Some(smtp) = self.state.cfg.smtp.clone() {
            tasks.push(tokio::spawn(mail::smtp_sender(
                self.state.store.clone(),
                smtp,
                stop,
            )));
        }
        tasks
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests. Also runs the background
    /// import worker and, when SMTP is configured, the mail sender; an import still running at
    /// shutdown stops between two lines and reports the lines it did not process.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let tasks = self.spawn_background(stop_rx);
        let stop = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        // The shared serve loop (connection cap, first-byte/head/body/idle clocks) with the
        // router as the service; axum::serve has no such limits.
        let res = sesame_serve::serve(
            sesame_serve::Listener {
                name: "admin",
                listener,
                limits: self.state.cfg.connections.clone(),
                tls: None,
                drain: Duration::from_secs(30),
            },
            stop_tx.subscribe(),
            router_handler(self.router()),
        )
        .await;
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
        res
    }
}

/// The router as the serve loop's handler; the peer is available to handlers as
/// `ConnectInfo<SocketAddr>`, as with `axum::serve`'s connect info.
fn router_handler(
    router: Router,
) -> impl Fn(
    axum::http::Request<sesame_serve::TimedBody>,
    std::net::SocketAddr,
) -> std::pin::Pin<Box<dyn Future<Output = axum::response::Response> + Send>>
       + Clone
       + Send
       + Sync
       + 'static {
    move |mut req, peer| {
        let router = router.clone();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        Box::pin(async move {
            match tower::ServiceExt::oneshot(router, req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        })
    }
}
