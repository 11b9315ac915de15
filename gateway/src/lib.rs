//! # Sesame gateway (data path)
//!
//! A reverse proxy in front of the carrier's web services. Every public request goes through the
//! same phases (named like pingora's `ProxyHttp` ones, each a function in
//! `services/phases.rs`, shared by every service's file under `services/`):
//!
//! 1. **parse**: route on method and path (`services/mod.rs`: a plain match, no allocation),
//!    read the body within `max_body_bytes`, parse the JSON object (`services/request.rs`);
//! 2. **authenticate**: read the connection key where this service's clients put it
//!    (`services/credentials.rs`: header, body field, query), or a legacy login/password;
//!    resolve it through the principal cache (`auth/`). Header-key routes authenticate before
//!    reading the body;
//! 3. **select account**: the explicit field, else the only linked account holding the right;
//! 4. **authorize**: the right on that account (rights are already effective: link ∩
//!    entitlements); rate limits per key and per account;
//! 5. **rewrite**: remove the caller's key/password, inject the account's upstream credentials,
//!    stamp labels with the user's key and tag;
//! 6. **forward**: pooled keep-alive client (`upstream.rs`), bounded by timeouts; fan-out where
//!    answers span accounts (`services/fanout.rs`);
//! 7. **filter**: keep only what the caller's scope covers (out of scope ≡ unknown);
//! 8. **respond**: an error is classified once ([`GatewayError::classify`]) and encoded in the
//!    service's own envelope (`envelope.rs`).
//!
//! Requests no built-in service takes go to the declared routes (`routes/`, issue 16): any
//! upstream API, through the same phase functions, from `[[gateway.routes]]`.
//!
//! `listen.rs` serves the listeners; the ops listener (`ops.rs`) serves `/metrics`, `/health`
//! and `/ready`.

mod auth;
#[cfg(feature = "bench")]
pub mod bench;
mod client_ip;
mod config;
mod envelope;
mod error;
mod follower;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod listen;
mod metrics;
mod multipart;
mod ops;
mod ratelimit;
mod redact;
mod reloader;
mod response;
mod routes;
mod services;
mod startup;
mod state;
mod tls;
mod trace;
mod upstream;
mod zip;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use auth::{Link, Principal};
pub use config::{GatewayConfig, IpRange, RateLimitConfig, RateOverride, TlsConfig};
pub use envelope::{Envelope, LINK_DENIED};
pub use error::{Code, GatewayError, Refusal};
pub use redact::redact_uri;
pub use routes::{
    ErrorConfig, OwnerIs, RouteConfig, RouteSource, RouteTableConfig, ScopeConfig, UpstreamAuth,
    UpstreamConfig,
};
pub use services::Service;
pub use startup::StartupError;

use state::Inner;

/// The gateway: cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl Gateway {
    /// Checks the configuration and reads its files once (TLS certificate and key, upstream
    /// authorities): every problem is reported at once, each naming its `gateway.` key.
    pub async fn new(
        cfg: GatewayConfig,
        store: sesame_store::Store,
        registry: prometheus::Registry,
    ) -> Result<Gateway, StartupError> {
        let mut problems: Vec<String> = cfg
            .problems()
            .into_iter()
            .map(|p| format!("gateway.{p}"))
            .collect();
        let tls = match &cfg.tls {
            Some(t) => match tls::ReloadableTls::new(t) {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    problems.push(e);
                    None
                }
            },
            None => None,
        };
        let extra_roots = match &cfg.upstream_ca_file {
            Some(path) => match sesame_serve::load_ca_file(path) {
                Ok(certs) => Some(certs),
                Err(e) => {
                    problems.push(format!("gateway.upstream_ca_file: {e}"));
                    None
                }
            },
            None => None,
        };
        let metrics = metrics::Metrics::new(&registry)?;
        let spans = trace::Spans::default();
        // Issue 16: the declared routes, every problem named by its key.
        let table = match routes::Table::build(&cfg.route_table(), &metrics, &spans) {
            Ok(t) => t,
            Err(p) => {
                problems.extend(p.into_iter().map(|m| format!("gateway.{m}")));
                routes::Table::default()
            }
        };
        if !problems.is_empty() {
            return Err(StartupError::Config(problems.join("; ")));
        }
        let upstream = upstream::Upstream::new(
            &cfg.upstream_url,
            Duration::from_millis(cfg.connect_timeout_ms.max(1)),
            extra_roots,
            services::HOT_UPSTREAM_PATHS,
            metrics.clone(),
            spans.clone(),
        )?;
        // Where the follower starts: if the database is down at start, from 0 (the cache is
        // empty, so replaying old changes only costs a few reads once it is back).
        let start_version = store.latest_version().await.unwrap_or(0);
        metrics.changelog_version.set(start_version);
        // Issue 18: the backend of the rate limits and of the throttle (local or Redis).
        let link = ratelimit::connect(&cfg.rate_limit, &registry).await?;
        let limits = ratelimit::Limits::new(&cfg.rate_limit, metrics.clone(), link.clone());
        let auth = auth::Authenticator::new(&cfg, store, metrics.clone()).with_throttle(
            sesame_limits::throttle(&cfg.throttle, link.as_ref(), "gateway"),
        );
        Ok(Gateway {
            inner: Arc::new(Inner {
                cfg,
                auth,
                upstream,
                limits,
                metrics,
                registry,
                tls,
                accepting: AtomicBool::new(true),
                request_ids: AtomicU64::new(1),
                start_version,
                spans,
                routes: routes::Routes::new(table),
            }),
        })
    }

    /// Serves the public and ops listeners until `shutdown` completes, then stops accepting,
    /// flips `/ready` to 503 and drains in-flight calls (up to `drain_timeout_ms`). Also runs
    /// the change-log follower.
    pub async fn run(
        self,
        public: TcpListener,
        ops: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        listen::run(self.inner, public, ops, shutdown).await
    }

    /// Sends every finished, sampled span (one per request, one per upstream call) to `sink`,
    /// e.g. an OTLP exporter. Set before serving; false if a sink was already set.
    pub fn set_span_sink(&self, sink: Arc<dyn sesame_telemetry::SpanSink>) -> bool {
        self.inner.spans.set(sink)
    }

    /// Where reloads read the route table from (its files are watched, SIGHUP forces a
    /// reload). Set before serving; false if already set.
    pub fn watch_routes(&self, source: RouteSource) -> bool {
        routes::reload::set_source(&self.inner, source)
    }

    /// Reads the route table again now (what SIGHUP does). `Ok(n)`: `n` routes in use;
    /// `Err`: every problem, the current table kept.
    pub fn reload_routes(&self) -> Result<usize, String> {
        routes::reload::reload(&self.inner, true)
            .map(|n| n.unwrap_or_else(|| self.inner.routes.len()))
    }

    /// Evicts everything cached (operators' escape hatch; tests).
    pub fn evict_all(&self) {
        self.inner.auth.evict_all();
    }

    /// Resolves a connection key as a request would (HMAC, cache, store on a miss), without the
    /// failed-authentication slow-down. For benchmarks of the key → rights hot path.
    pub async fn authenticate_key(&self, key: &str) -> Result<Arc<Principal>, GatewayError> {
        let key =
            sesame_domain::ConnectionKey::parse(key).map_err(|_| GatewayError::Unauthenticated)?;
        let hash = self.inner.auth.store().hasher().hash_key(&key);
        match self.inner.auth.principal(&hash).await? {
            Some(p) if p.usable(sesame_domain::model::now_millis()) => Ok(p),
            _ => Err(GatewayError::Unauthenticated),
        }
    }

    /// Principals currently cached.
    pub async fn cached_principals(&self) -> u64 {
        self.inner.auth.entry_count().await
    }
}
