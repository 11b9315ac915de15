//! # Sesame gateway (data path)
//!
//! A reverse proxy in front of the carrier's web services. Every public request goes through the
//! same phases (named like pingora's, each one a function in `services.rs`):
//!
//! 1. **parse**: route on method and path (hand-written match: no allocation, no regex), read
//!    the body within `max_body_bytes`, parse the JSON object;
//! 2. **authenticate**: read the connection key where this service's clients put it (header,
//!    body field, query), or a legacy login/password; resolve it through the principal cache;
//! 3. **select account**: the explicit field, else the only linked account holding the right;
//! 4. **authorize**: the right on that account (rights are already effective: link ∩
//!    entitlements); rate limits per key and per account;
//! 5. **rewrite**: remove the caller's key/password, inject the account's upstream credentials,
//!    stamp labels with the user's key and tag;
//! 6. **forward**: pooled keep-alive client, bounded by timeouts; fan-out where answers span
//!    accounts;
//! 7. **filter**: keep only what the caller's scope covers (out of scope ≡ unknown);
//! 8. **respond**: errors are rendered in ONE place ([`GatewayError::into_response`]) in the
//!    service's own envelope.
//!
//! The ops listener serves `/metrics`, `/health` and `/ready`.
#![forbid(unsafe_code)]

mod auth;
#[doc(hidden)]
pub mod bench;
mod cache;
mod config;
mod error;
mod follower;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod metrics;
mod ratelimit;
mod services;
mod tls;
mod trace;
mod upstream;
mod zip;

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::{Link, Principal};
pub use config::{GatewayConfig, IpRange, RateLimitConfig, RateOverride, TlsConfig};
pub use error::{GatewayError, Service, LINK_DENIED};

use error::{bytes_resp, Resp};

/// A request body as the serve loop hands it over: with its stall and whole-body clocks.
pub(crate) type ReqBody = sesame_serve::TimedBody;

/// The gateway: cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub cfg: GatewayConfig,
    pub auth: auth::Authenticator,
    pub upstream: upstream::Upstream,
    pub limits: ratelimit::Limits,
    pub metrics: metrics::Metrics,
    registry: prometheus::Registry,
    /// TLS on the public listener, when configured; its certificate reloads while serving.
    tls: Option<Arc<tls::ReloadableTls>>,
    /// Cleared when shutdown starts: `/ready` answers 503 so load balancers stop sending.
    accepting: AtomicBool,
    request_ids: AtomicU64,
    /// Change-log version applied at start-up (the follower resumes from it).
    start_version: i64,
    /// Finished spans (optional OpenTelemetry export), shared with the upstream client.
    spans: trace::Spans,
}

impl Gateway {
    pub async fn new(
        cfg: GatewayConfig,
        store: sesame_store::Store,
        registry: prometheus::Registry,
    ) -> Result<Gateway, GatewayError> {
        let tls = match &cfg.tls {
            Some(t) => Some(Arc::new(tls::ReloadableTls::new(t)?)),
            None => None,
        };
        let problems = cfg.problems();
        if !problems.is_empty() {
            let all: Vec<String> = problems.iter().map(|p| format!("gateway.{p}")).collect();
            return Err(GatewayError::Config(all.join("; ")));
        }
        let metrics = metrics::Metrics::new(&registry)?;
        let spans = trace::Spans::default();
        let upstream = upstream::Upstream::new(
            &cfg.upstream_url,
            Duration::from_millis(cfg.connect_timeout_ms.max(1)),
            cfg.upstream_ca_file.as_deref(),
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
        let (stop_tx, stop_rx) = watch::channel(false);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            shutdown.await;
            inner.accepting.store(false, Ordering::Release);
            let _ = stop_tx.send(true);
        });
        let follower = tokio::spawn(follower::run(self.inner.clone(), stop_rx.clone()));
        if let Some(t) = self.inner.tls.clone() {
            tokio::spawn(watch_certificate(t, stop_rx.clone()));
        }
        let drain = Duration::from_millis(self.inner.cfg.drain_timeout_ms);

        let gw = self.inner.clone();
        let limits = self.inner.cfg.connections.clone();
        let public_task = sesame_serve::serve(
            sesame_serve::Listener {
                name: "public",
                listener: public,
                limits: limits.clone(),
                tls: self.inner.tls.as_ref().map(|t| t.acceptor.clone()),
                drain,
            },
            stop_rx.clone(),
            move |req, peer| {
                let gw = gw.clone();
                async move { gw.handle_public(req, peer.ip()).await }
            },
        );
        // The ops listener outlives the public drain, so `/ready` answers 503 (and metrics stay
        // scrapeable) while in-flight calls finish.
        let (ops_stop_tx, ops_stop_rx) = watch::channel(false);
        let gw = self.inner.clone();
        let ops_task = tokio::spawn(sesame_serve::serve(
            sesame_serve::Listener {
                name: "ops",
                listener: ops,
                limits,
                tls: None,
                drain,
            },
            ops_stop_rx,
            move |req, _peer| {
                let gw = gw.clone();
                async move { gw.handle_ops(req).await }
            },
        ));
        let a = public_task.await;
        let _ = ops_stop_tx.send(true);
        let b = ops_task
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        follower.abort();
        a.and(b)
    }

    /// Sends every finished, sampled span (one per request, one per upstream call) to `sink`,
    /// e.g. an OTLP exporter. Set before serving; false if a sink was already set.
    pub fn set_span_sink(&self, sink: Arc<dyn sesame_telemetry::SpanSink>) -> bool {
        self.inner.spans.set(sink)
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

/// Completes once shutdown was asked for (the guard `wait_for` returns is dropped here, so the
/// callers' futures stay `Send`).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Reloads the TLS certificate when its files change (checked every `reload_interval_ms`) or on
/// SIGHUP. A certificate that does not load is logged and the current one stays in use.
async fn watch_certificate(tls: Arc<tls::ReloadableTls>, mut stop: watch::Receiver<bool>) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(tls.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        let force = tokio::select! {
            _ = tick.tick() => false,
            _ = hangup => true,
            _ = stop.changed() => return,
        };
        match tls.reload(force) {
            Ok(true) => tracing::info!("TLS certificate reloaded"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "TLS certificate not reloaded; the current one stays in use")
            }
        }
    }
}

/// A path and query fit for logs: values of parameters that may hold a secret are replaced.
/// Names are compared after percent-decoding, as the handlers read them (`%61pikey` opens the
/// tracking link like `apikey`), and any name, value or path segment shaped like a connection
/// key is replaced whatever its name.
pub fn redact_uri(path: &str, query: Option<&str>) -> String {
    let mut out = String::with_capacity(path.len() + query.map_or(0, str::len) + 1);
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if holds_key(&services::percent_decode(seg)) {
            out.push_str("<redacted>");
        } else {
            out.push_str(seg);
        }
    }
    let Some(q) = query else {
        return out;
    };
    out.push('?');
    for (i, pair) in q.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let name = services::percent_decode(k);
        if holds_key(&name) {
            out.push_str("<redacted>");
            continue;
        }
        let lower = name.to_ascii_lowercase();
        let secret = services::is_key_name(&name)
            || lower == "key"
            || lower.contains("password")
            || lower.contains("token");
        if secret || holds_key(&services::percent_decode(v)) {
            out.push_str(k);
            out.push_str("=<redacted>");
        } else {
            out.push_str(pair);
        }
    }
    out
}

/// Whether text holds 32 hexadecimal characters in a row: the shape of a connection key, which
/// no parameter Sesame logs legitimately has (parcel numbers are 8 to 20 characters).
fn holds_key(s: &str) -> bool {
    let mut run = 0;
    s.bytes().any(|b| {
        run = if b.is_ascii_hexdigit() { run + 1 } else { 0 };
        run >= 32
    })
}

impl Inner {
    async fn handle_public(self: Arc<Self>, req: http::Request<ReqBody>, ip: IpAddr) -> Resp {
        let start = Instant::now();
        let id = self.request_ids.fetch_add(1, Ordering::Relaxed);
        let route = services::route(req.method(), req.uri().path());
        // Only for the access log: the query may carry a key (tracking links), so it is redacted.
        let logged_uri = tracing::enabled!(tracing::Level::DEBUG).then(|| {
            (
                req.method().clone(),
                redact_uri(req.uri().path(), req.uri().query()),
            )
        });
        let svc = route.service(req.headers());
        let ip = client_ip(&self.cfg.trusted_proxies, ip, req.headers());
        let tp = trace::TraceParent::for_request(req.headers(), self.spans.sample_ratio());
        let recorded = self.spans.start().map(|at| (at, req.method().clone()));
        // Boxed: `dispatch` is as large as the largest service's state machine; hyper moves the
        // request future around, and moving a box is cheaper than copying kilobytes each time.
        let result = trace::scope(tp, Box::pin(services::dispatch(&self, route, req, ip))).await;
        let (resp, outcome) = match result {
            Ok(r) => (r, "ok"),
            Err(e) => {
                let outcome = e.outcome();
                match &e {
                    GatewayError::Internal(m) => {
                        tracing::error!(request_id = id, route = svc.route(), error = %m, "internal error")
                    }
                    GatewayError::UpstreamUnavailable(m) => {
                        tracing::warn!(request_id = id, route = svc.route(), error = %m, "upstream unavailable")
                    }
                    other => {
                        tracing::debug!(request_id = id, route = svc.route(), error = %other, "refused")
                    }
                }
                (e.into_response(svc, &self.cfg.portal_url), outcome)
            }
        };
        let route_label = svc.route();
        self.metrics.observe_request(
            route_label,
            resp.status(),
            outcome,
            start.elapsed().as_secs_f64(),
        );
        if let Some((at, method)) = recorded {
            self.spans.record(
                &tp,
                sesame_telemetry::SpanKind::Server,
                at,
                resp.status().is_server_error(),
                || {
                    use sesame_telemetry::Attr;
                    let attributes = vec![
                        ("http.request.method", Attr::Str(method.to_string().into())),
                        ("http.route", Attr::Str(route_label.into())),
                        (
                            "http.response.status_code",
                            Attr::Int(i64::from(resp.status().as_u16())),
                        ),
                        ("sesame.outcome", Attr::Str(outcome.into())),
                        (
                            "sesame.request_id",
                            Attr::Int(i64::try_from(id).unwrap_or(i64::MAX)),
                        ),
                    ];
                    (route_label.into(), attributes)
                },
            );
        }
        let mut resp = resp;
        resp.headers_mut()
            .insert("x-request-id", http::HeaderValue::from(id));
        if let Some((method, uri)) = logged_uri {
            tracing::debug!(request_id = id, trace_id = %tp.trace_id_hex(), %method, uri = %uri, status = resp.status().as_u16(), outcome,
                elapsed_us = start.elapsed().as_micros() as u64, "request");
        }
        resp
    }

    async fn handle_ops(self: Arc<Self>, req: http::Request<ReqBody>) -> Resp {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/metrics") => {
                self.metrics
                    .cached_principals
                    .set(i64::try_from(self.auth.entry_count().await).unwrap_or(i64::MAX));
                let mut buf = String::new();
                let enc = prometheus::TextEncoder::new();
                match enc.encode_utf8(&self.registry.gather(), &mut buf) {
                    Ok(()) => bytes_resp(
                        StatusCode::OK,
                        "text/plain; version=0.0.4",
                        Bytes::from(buf),
                    ),
                    Err(e) => bytes_resp(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        Bytes::from(e.to_string()),
                    ),
                }
            }
            (&Method::GET, "/health") => {
                bytes_resp(StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n"))
            }
            (&Method::GET, "/ready") => {
                if !self.accepting.load(Ordering::Acquire) {
                    return bytes_resp(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        Bytes::from_static(b"shutting down\n"),
                    );
                }
                // Ready when the database answers, or when the cache is warm enough to serve
                // known callers without it (SPEC §7).
                let db =
                    tokio::time::timeout(Duration::from_secs(1), self.auth.store().ping()).await;
                if matches!(db, Ok(Ok(()))) || self.auth.entry_count().await > 0 {
                    bytes_resp(StatusCode::OK, "text/plain", Bytes::from_static(b"ready\n"))
                } else {
                    bytes_resp(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        Bytes::from_static(b"database unreachable, cache empty\n"),
                    )
                }
            }
            _ => bytes_resp(
                StatusCode::NOT_FOUND,
                "text/plain",
                Bytes::from_static(b"not found\n"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_uri;

    #[test]
    fn keys_in_urls_are_redacted() {
        let u = redact_uri(
            "/entreprise/colis/login/parcel",
            Some("apikey=0E0AC69EA87355213770755A310BFB32&cab=6A14091083866"),
        );
        assert_eq!(
            u,
            "/entreprise/colis/login/parcel?apikey=<redacted>&cab=6A14091083866"
        );
        assert!(!redact_uri("/x", Some("APIKEY=abc&password=p")).contains("abc"));
        assert_eq!(redact_uri("/x", None), "/x");
        let k = "0E0AC69EA87355213770755A310BFB32";
        for q in [
            format!("%61pikey={k}"),
            format!("API%5FKEY={k}"),
            format!("cab=6A1&other={}", k.to_lowercase()),
            format!("{k}=1"),
            format!("%70assword=p{k}"),
        ] {
            assert!(!redact_uri("/x", Some(&q)).contains(k), "{q}");
        }
        assert_eq!(
            redact_uri(&format!("/suivi/v2/idships/{k}"), Some("lang=fr_FR")),
            "/suivi/v2/idships/<redacted>?lang=fr_FR"
        );
    }
}

/// The caller's address: the TCP peer, unless the peer is a trusted proxy; then the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy. Entries further left were written
/// by the caller and prove nothing; an unparsable entry stops the walk at the peer.
fn client_ip(trusted: &[IpRange], peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
    let trusted_ip = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !trusted_ip(peer) {
        return peer;
    }
    let values: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for part in values.iter().rev().flat_map(|v| v.rsplit(',')) {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) if trusted_ip(ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

#[cfg(test)]
mod client_ip_tests {
    use super::client_ip;
    use std::net::IpAddr;

    fn h(values: &[&str]) -> http::HeaderMap {
        let mut m = http::HeaderMap::new();
        for v in values {
            m.append("x-forwarded-for", v.parse().unwrap());
        }
        m
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let lb: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let trusted: Vec<crate::IpRange> = ["10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // Untrusted peer: the header is ignored, whatever it says.
        assert_eq!(client_ip(&trusted, client, &h(&["198.51.100.1"])), client);
        assert_eq!(client_ip(&[], lb, &h(&["198.51.100.1"])), lb);
        // Trusted peer: the rightmost untrusted entry; spoofed entries to its left are ignored.
        assert_eq!(
            client_ip(&trusted, lb, &h(&["198.51.100.1, 203.0.113.7"])),
            client
        );
        assert_eq!(
            client_ip(&trusted, lb, &h(&["198.51.100.1", "203.0.113.7, 10.0.0.2"])),
            client
        );
        // Nothing usable: the peer.
        assert_eq!(client_ip(&trusted, lb, &h(&[])), lb);
        assert_eq!(client_ip(&trusted, lb, &h(&["garbage"])), lb);
        assert_eq!(client_ip(&trusted, lb, &h(&["10.0.0.2"])), lb);
    }

    #[test]
    fn ranges_are_cidr() {
        let r = |s: &str| s.parse::<crate::IpRange>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(r("10.42.0.0/16").contains(ip("10.42.7.9")));
        assert!(!r("10.42.0.0/16").contains(ip("10.43.0.1")));
        assert!(r("10.0.0.7").contains(ip("10.0.0.7")));
        assert!(!r("10.0.0.7").contains(ip("10.0.0.8")));
        assert!(r("0.0.0.0/0").contains(ip("203.0.113.7")));
        assert!(r("fd00::/8").contains(ip("fd12::1")));
        assert!(!r("fd00::/8").contains(ip("10.0.0.1")));
        // IPv4 peers seen through a dual-stack socket.
        assert!(r("10.42.0.0/16").contains(ip("::ffff:10.42.0.5")));
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "proxy",
            "10.0.0.1/x",
        ] {
            assert!(bad.parse::<crate::IpRange>().is_err(), "{bad}");
        }
        // Behind a trusted range, the first address left of the proxies is the caller.
        let trusted = vec![r("10.42.0.0/16")];
        assert_eq!(
            client_ip(&trusted, ip("10.42.3.4"), &h(&["198.51.100.9, 10.42.1.1"])),
            ip("198.51.100.9")
        );
    }
}
