//! Sesame's admin API (control plane, SPEC §5): accounts, users, links, invitations, CSV import
//! and export, back-office actions and the audit log, as JSON over HTTP with an OpenAPI 3
//! document served at `/admin/openapi.json`.
//!
//! Every write goes through the store, which records a change-log entry and an audit entry in the
//! same transaction; every request is checked against what its caller may do; every refusal is
//! one JSON error shape (`{"error":{"code","message","field"?,"right"?}}`).
#![forbid(unsafe_code)]

mod api;
mod auth;
pub mod csvio;
mod error;
mod extract;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod html;
pub mod mail;
mod openapi;
mod throttle;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use serde::Deserialize;
use sesame_store::Store;
use tokio::sync::{watch, Notify};

pub use error::{ApiError, ApiResult};

/// SMTP relay settings. Without them, mails stay in the outbox (`GET /admin/v1/outbox`).
/// `Debug` redacts the password.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    pub from: String,
    /// STARTTLS (rustls) on the submission port; `false` only for a local relay.
    #[serde(default = "default_true")]
    pub starttls: bool,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("starttls", &self.starttls)
            .finish()
    }
}

fn default_smtp_port() -> u16 {
    587
}
fn default_true() -> bool {
    true
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Base URL used in e-mail links.
    pub public_url: String,
    /// Lifetime of an account admin or user session.
    pub session_ttl_secs: u64,
    /// Lifetime of a back-office impersonation session (short).
    pub impersonation_ttl_secs: u64,
    pub smtp: Option<SmtpConfig>,
    /// Language of e-mails when a request does not say (`fr` or `en`).
    pub default_lang: String,
    /// Largest accepted CSV upload.
    pub max_import_bytes: usize,
    /// Most lines accepted in one CSV upload.
    pub max_import_lines: i64,
    /// The sign-in throttle (`[admin.throttle]`, see `sesame-throttle`).
    pub throttle: sesame_throttle::ThrottleConfig,
    /// Open connections on the admin listener and their clocks (first byte, head, body, idle).
    pub connections: sesame_serve::ConnLimits,
}

impl AdminConfig {
    /// Every problem with the values, each naming its key (relative to `[admin]`).
    pub fn problems(&self) -> Vec<String> {
        let mut errors: Vec<String> = Vec::new();
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            errors.push("public_url: must start with http:// or https://".into());
        }
        if self.session_ttl_secs == 0 {
            errors.push("session_ttl_secs: must be positive".into());
        }
        if self.impersonation_ttl_secs == 0 || self.impersonation_ttl_secs > 4 * 3600 {
            errors.push("impersonation_ttl_secs: must be 1 to 14400 (a short session)".into());
        }
        if self.default_lang != "fr" && self.default_lang != "en" {
            errors.push("default_lang: must be \"fr\" or \"en\"".into());
        }
        if self.max_import_bytes < 1024 {
            errors.push("max_import_bytes: must be at least 1024".into());
        }
        if self.max_import_lines < 1 {
            errors.push("max_import_lines: must be positive".into());
        }
        errors.extend(self.throttle.problems("throttle"));
        errors.extend(self.connections.problems());
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                errors.push("smtp.host: must not be empty".into());
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                errors.push(
                    "smtp.from: must be a mailbox such as \"Sesame <noreply@example.com>\"".into(),
                );
            }
            if smtp.username.is_some() != smtp.password.is_some() {
                errors.push("smtp.username: username and password go together".into());
            }
        }
        errors
    }

    /// Checks the values; the error names every bad key.
    pub fn validate(&self) -> Result<(), String> {
        let p = self.problems();
        if p.is_empty() {
            Ok(())
        } else {
            Err(p.join("; "))
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8081".into(),
            session_ttl_secs: 8 * 3600,
            impersonation_ttl_secs: 15 * 60,
            smtp: None,
            default_lang: "fr".into(),
            max_import_bytes: 16 * 1024 * 1024,
            max_import_lines: 50_000,
            throttle: sesame_throttle::ThrottleConfig::default(),
            connections: sesame_serve::ConnLimits::default(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Store,
    pub cfg: Arc<AdminConfig>,
    pub operator_token: Arc<str>,
    pub import_wake: Arc<Notify>,
    pub throttle: Arc<throttle::Throttle>,
}

/// The admin API. Cheap to clone.
#[derive(Clone)]
pub struct AdminApi {
    state: AppState,
}

/// Every route: (method, path). The OpenAPI document must describe exactly these (tested).
pub(crate) struct Routes {
    router: Router<AppState>,
    pub list: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn add(
        mut self,
        methods: &'static str,
        path: &'static str,
        mr: MethodRouter<AppState>,
    ) -> Self {
        for m in methods.split(',') {
            self.list.push((m, path));
        }
        self.router = self.router.route(path, mr);
        self
    }
}

fn routes(max_import_bytes: usize) -> Routes {
    use api::*;
    let r = Routes {
        router: Router::new(),
        list: Vec::new(),
    };
    r.add("get", "/admin/openapi.json", get(openapi::serve))
        .add("get", "/admin/v1/rights", get(rights_catalogue))
        .add("post", "/admin/v1/sessions", post(sign_in))
        .add("delete", "/admin/v1/sessions/current", delete(sign_out))
        .add(
            "get,post",
            "/admin/v1/accounts",
            get(list_accounts).post(create_account),
        )
        .add("get", "/admin/v1/accounts/{n}", get(get_account))
        .add(
            "put",
            "/admin/v1/accounts/{n}/entitlements",
            put(set_entitlements),
        )
        .add(
            "put",
            "/admin/v1/accounts/{n}/status",
            put(set_account_status),
        )
        .add(
            "put",
            "/admin/v1/accounts/{n}/upstream-credentials",
            put(set_upstream),
        )
        .add(
            "get,post",
            "/admin/v1/accounts/{n}/departments",
            get(list_departments).post(add_department),
        )
        .add(
            "get,post",
            "/admin/v1/accounts/{n}/users",
            get(list_users).post(create_standard_user),
        )
        .add(
            "post",
            "/admin/v1/accounts/{n}/advanced-users",
            post(create_advanced_user),
        )
        .add(
            "get,put,delete",
            "/admin/v1/accounts/{n}/users/{id}",
            get(get_user).put(update_user).delete(delete_user),
        )
        .add(
            "post",
            "/admin/v1/accounts/{n}/users/{id}/invitation",
            post(resend_invitation),
        )
        .add(
            "put",
            "/admin/v1/accounts/{n}/users/{id}/status",
            put(set_user_status),
        )
        .add(
            "post",
            "/admin/v1/accounts/{n}/users/{id}/password-reset",
            post(send_password_reset),
        )
        .add(
            "post",
            "/admin/v1/accounts/{n}/users/{id}/impersonate",
            post(impersonate),
        )
        .add(
            "post",
            "/admin/v1/accounts/{n}/users/{id}/messages",
            post(write_message),
        )
        .add("post", "/admin/v1/accounts/{n}/links", post(associate))
        .add(
            "delete",
            "/admin/v1/accounts/{n}/links/{id}",
            delete(unlink),
        )
        .add(
            "get",
            "/admin/v1/advanced-users/{userKey}",
            get(find_advanced),
        )
        .add(
            "get,post",
            "/admin/v1/invitations/{token}",
            get(get_invitation).post(accept_invitation),
        )
        .add("post", "/admin/v1/password-resets", post(forgot_password))
        .add(
            "get,post",
            "/admin/v1/password-resets/{token}",
            get(get_password_reset).post(do_password_reset),
        )
        .add("get,patch", "/admin/v1/me", get(me).patch(update_me))
        .add("post", "/admin/v1/me/connection-key", post(regenerate_key))
        .add("post", "/admin/v1/me/password", post(change_password))
        .add(
            "get",
            "/admin/v1/accounts/{n}/imports/template",
            get(import_template),
        )
        .add(
            "post",
            "/admin/v1/accounts/{n}/imports",
            post(upload_import).layer(DefaultBodyLimit::max(max_import_bytes)),
        )
        .add(
            "get",
            "/admin/v1/accounts/{n}/imports/current",
            get(current_import),
        )
        .add(
            "get",
            "/admin/v1/accounts/{n}/imports/current/result",
            get(import_result),
        )
        .add(
            "get",
            "/admin/v1/accounts/{n}/exports/advanced-users",
            get(export_advanced),
        )
        .add("get", "/admin/v1/accounts/{n}/audit", get(account_audit))
        .add("get", "/admin/v1/audit", get(all_audit))
        .add("get", "/admin/v1/outbox", get(outbox))
}

async fn fallback() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "no_route",
        "no such endpoint: see /admin/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

impl AdminApi {
    pub fn new(cfg: AdminConfig, store: Store, operator_token: String) -> AdminApi {
        if operator_token.len() < 16 {
            tracing::warn!("the operator token is shorter than 16 characters");
        }
        let throttle = Arc::new(throttle::Throttle::new(cfg.throttle.clone()));
        AdminApi {
            state: AppState {
                store,
                cfg: Arc::new(cfg),
                operator_token: Arc::from(operator_token),
                import_wake: Arc::new(Notify::new()),
                throttle,
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
        let mut l: Vec<_> = routes(1).list.into_iter().collect();
        l.sort_unstable();
        l.dedup();
        l
    }

    pub fn router(&self) -> Router {
        routes(self.state.cfg.max_import_bytes)
            .router
            .fallback(fallback)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::map_response(error::json_rejections))
            .with_state(self.state.clone())
    }

    /// Starts the background tasks (the import worker and, when SMTP is configured, the mail
    /// sender) until `stop` turns true. `run` does this itself; call it only when serving
    /// [`AdminApi::router`] some other way.
    pub fn spawn_background(
        &self,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![tokio::spawn(import_worker(
            self.state.clone(),
            stop.clone(),
        ))];
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

async fn import_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        match state.store.claim_next_import().await {
            Ok(Some((job, input))) => {
                tracing::info!(job = job.id, lines = job.total_lines, "import started");
                api::process_import(&state, job, input, &stop).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "import queue unavailable"),
        }
        tokio::select! {
            _ = state.import_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => {}
        }
    }
}
