//! Process wiring: logging, listeners, the store, and the parts each role runs.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use sesame_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::settings::{ConfigErrors, LogFormat, Settings};

pub type AppError = Box<dyn std::error::Error + Send + Sync>;

/// What a node runs. Several gateway nodes share one PostgreSQL; the admin API can run apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    All,
    Gateway,
    Admin,
}

/// `config/default.toml` (and `config/demo.toml` for the demo) when run from the project root.
pub fn default_config_files(demo: bool) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for (name, wanted) in [("config/default.toml", true), ("config/demo.toml", demo)] {
        let p = PathBuf::from(name);
        if wanted && p.exists() {
            v.push(p);
        }
    }
    v
}

pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr: stdout is for what a command prints for its user (the demo's commands).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr);
    // A second init (tests run several apps in one process) is harmless: keep the first.
    let _ = match settings.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}

/// Binds a listener, naming the setting when the address is taken.
pub async fn bind(addr: SocketAddr, key: &str) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{key} = {addr}: cannot listen: {e}").into())
}

pub async fn open_store(settings: &Settings) -> Result<Store, AppError> {
    let secrets = settings.store_secrets().map_err(Box::new)?;
    Store::connect_with(
        &settings.database.url,
        secrets,
        settings.database.max_connections,
    )
    .await
    .inspect(|store| store.set_password_limits(settings.security.password_limits()))
    .map_err(|e| format!("database.url: {e}").into())
}

/// A shutdown signal that several tasks can wait on.
#[derive(Clone)]
pub struct ShutdownRx(watch::Receiver<bool>);

impl ShutdownRx {
    pub fn new(signal: impl Future<Output = ()> + Send + 'static) -> ShutdownRx {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            signal.await;
            let _ = tx.send(true);
        });
        ShutdownRx(rx)
    }
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }
}

pub async fn migrate(settings: Settings) -> Result<(), AppError> {
    init_logging(&settings);
    settings.store_secrets().map_err(Box::new)?;
    let store = open_store(&settings).await?;
    let v = store
        .latest_version()
        .await
        .map_err(|e| format!("database: {e}"))?;
    println!(
        "database at {} is migrated (change-log version {v})",
        redact_url(&settings.database.url)
    );
    Ok(())
}

pub async fn simulator(
    settings: Settings,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    init_logging(&settings);
    let errors: Vec<String> = settings.validate().err().map(|e| e.0).unwrap_or_default();
    let sim_errors: Vec<String> = errors
        .into_iter()
        .filter(|e| e.starts_with("simulator."))
        .collect();
    if !sim_errors.is_empty() {
        return Err(Box::new(ConfigErrors(sim_errors)));
    }
    let listener = bind(settings.listen.simulator, "listen.simulator").await?;
    tracing::info!(addr = %listener.local_addr()?, "simulator listening");
    sesame_simulator::Simulator::new(settings.simulator.clone())
        .run(listener, signal)
        .await?;
    Ok(())
}

pub async fn serve(
    settings: Settings,
    role: Role,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    init_logging(&settings);
    settings.validate().map_err(Box::new)?;
    raise_fd_limit();
    let store = open_store(&settings).await?;
    let parts = Parts::bind(&settings, role).await?;
    parts.run(settings, store, ShutdownRx::new(signal)).await
}

/// Raises the soft limit on open descriptors to the hard limit: every connection holds one, and
/// the listeners' caps (`max_connections`) are meant to be reached before the process's limit
/// (often a soft 1024), not after.
pub fn raise_fd_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let mut lim = getrlimit(Resource::Nofile);
        let before = lim.current;
        if lim.maximum.is_some() && lim.current != lim.maximum {
            lim.current = lim.maximum;
            match setrlimit(Resource::Nofile, lim) {
                Ok(()) => {
                    tracing::info!(before = ?before, now = ?lim.current, "descriptor limit raised")
                }
                Err(e) => tracing::warn!(error = %e, "descriptor limit not raised"),
            }
        }
    }
}

/// Bound listeners of a node, so callers (the demo, tests) can learn the real ports first.
pub struct Parts {
    pub public: Option<TcpListener>,
    pub ops: Option<TcpListener>,
    pub admin: Option<TcpListener>,
    /// Where the gateway reloads its route table from (SIGHUP, file change).
    pub routes: Option<sesame_gateway::RouteSource>,
}

impl Parts {
    pub async fn bind(settings: &Settings, role: Role) -> Result<Parts, AppError> {
        let gw = matches!(role, Role::All | Role::Gateway);
        let adm = matches!(role, Role::All | Role::Admin);
        Ok(Parts {
            public: if gw {
                Some(bind(settings.listen.public, "listen.public").await?)
            } else {
                None
            },
            ops: if gw {
                Some(bind(settings.listen.ops, "listen.ops").await?)
            } else {
                None
            },
            admin: if adm {
                Some(bind(settings.listen.admin, "listen.admin").await?)
            } else {
                None
            },
            routes: (!settings.files.is_empty())
                .then(|| crate::settings::route_source(&settings.files, None)),
        })
    }

    pub async fn run(
        self,
        settings: Settings,
        store: Store,
        shutdown: ShutdownRx,
    ) -> Result<(), AppError> {
        let mut tasks = tokio::task::JoinSet::new();
        if let (Some(public), Some(ops)) = (self.public, self.ops) {
            tracing::info!(public = %public.local_addr()?, ops = %ops.local_addr()?, "gateway listening");
            let registry = prometheus::Registry::new();
            let gw = sesame_gateway::Gateway::new(
                settings.gateway.clone(),
                store.clone(),
                registry.clone(),
            )
            .await
            .map_err(|e| format!("gateway: {e}"))?;
            if let Some(source) = self.routes {
                gw.watch_routes(source);
            }
            // The ops listener serves this registry, so the exporter's counters appear beside
            // the gateway's.
            let role = if self.admin.is_some() {
                "all"
            } else {
                "gateway"
            };
            let exporter = start_exporter(&settings, role, &registry, &gw)?;
            let sd = shutdown.clone();
            tasks.spawn(async move {
                let res = gw.run(public, ops, sd.wait()).await;
                // After the drain: the last requests' spans are queued by now.
                if let Some(exporter) = exporter {
                    exporter.shutdown().await;
                }
                res
            });
        }
        if let Some(admin) = self.admin {
            tracing::info!(admin = %admin.local_addr()?, "admin API listening");
            let api = sesame_admin::AdminApi::new(
                settings.admin.clone(),
                store.clone(),
                settings.secrets.operator_token.expose().to_owned(),
            );
            let api = admin_shared_throttle(&settings, api).await?;
            let sd = shutdown.clone();
            tasks.spawn(async move { api.run(admin, sd.wait()).await });
        }
        let mut first_err: Option<AppError> = None;
        while let Some(res) = tasks.join_next().await {
            let err: Option<AppError> = match res {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(Box::new(e)),
                Err(e) => Some(Box::new(e)),
            };
            if let Some(e) = err {
                tracing::error!(error = %e, "a listener stopped with an error");
                first_err.get_or_insert(e);
            }
        }
        store.close().await;
        first_err.map_or(Ok(()), Err)
    }
}

/// Issue 18: with `gateway.rate_limit.backend = "redis"` the admin sign-in throttle counts in
/// the same Redis (its own `th:admin:` keys, `[admin.throttle]` settings), falling back to
/// memory while Redis is down. The admin node exports no metrics: its fall-backs are logged.
async fn admin_shared_throttle(
    settings: &Settings,
    api: sesame_admin::AdminApi,
) -> Result<sesame_admin::AdminApi, AppError> {
    let rl = &settings.gateway.rate_limit;
    if rl.backend != sesame_limits::BackendKind::Redis {
        return Ok(api);
    }
    let metrics = sesame_limits::LinkMetrics::register(&prometheus::Registry::new())
        .map_err(|e| format!("admin: {e}"))?;
    let link = sesame_limits::Link::connect(&rl.redis_settings(), metrics)
        .await
        .map_err(|e| format!("gateway.{e}"))?;
    Ok(api.with_throttle(sesame_limits::throttle(
        &settings.admin.throttle,
        Some(&link),
        "admin",
    )))
}

/// Starts the OTLP trace exporter when `telemetry.endpoint` is set, and hands its sink to the
/// gateway. `None`: export is off (the default), and recording a span costs nothing.
fn start_exporter(
    settings: &Settings,
    role: &str,
    registry: &prometheus::Registry,
    gw: &sesame_gateway::Gateway,
) -> Result<Option<sesame_telemetry::OtlpExporter>, AppError> {
    if settings.telemetry.enabled_endpoint().is_none() {
        return Ok(None);
    }
    let exporter = sesame_telemetry::OtlpExporter::start(&settings.telemetry, role, registry)
        .map_err(|e| match e {
            // Each problem names its key within the section: name the section too.
            sesame_telemetry::OtlpError::Config(p) => p
                .iter()
                .map(|p| format!("telemetry.{p}"))
                .collect::<Vec<_>>()
                .join("; "),
            other => format!("telemetry: {other}"),
        })?;
    if !gw.set_span_sink(exporter.sink()) {
        // Only this function sets a sink; a second one would be a wiring bug, not fatal.
        tracing::warn!("the gateway already had a span sink; OTLP export not attached");
    }
    Ok(Some(exporter))
}

/// Database URLs may carry a password: never print it.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("sqlite://a.db"), "sqlite://a.db");
    }
}
