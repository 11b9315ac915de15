//! The upstream (carrier) client: a pool of keep-alive HTTP/1.1 connections to the one carrier
//! host, every call bounded by a timeout so a client is never left hanging on a stuck upstream.
//!
//! The pool is Sesame's own rather than hyper-util's general client: there is a single origin,
//! so there is no per-host map to hash on every checkout and return (the general client's pool
//! bookkeeping was ~7% of the proxy path's instructions, benches/README.md). Connections come
//! from hyper-util's connector (connect timeout, TCP_NODELAY, keep-alive probes) wrapped in
//! hyper-rustls for `https://`; each connection's I/O runs in its own task, as in hyper's client.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;

use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::startup::StartupError;

/// Upstream answers larger than this are refused (invoice PDFs are the largest, a few hundred KiB).
const MAX_UPSTREAM_BODY: usize = 32 * 1024 * 1024;

/// Idle connections kept per gateway; more are opened under load and closed when returned.
const MAX_IDLE: usize = 256;
/// An idle connection older than this is closed rather than reused (carriers and load
/// balancers drop idle connections after a minute or two; reusing one they dropped costs a
/// retry).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

#[derive(Clone)]
pub struct Upstream {
    connector: Connector,
    pool: Arc<Pool>,
    /// `scheme://authority/` of the carrier: what the connector dials.
    origin: Uri,
    /// The `Host` header of every call.
    host: HeaderValue,
    /// Path prefix of the configured URL, without trailing slash (usually empty).
    prefix: String,
    /// Request targets of the hot paths, parsed once: a `Uri` clone is a reference count, a
    /// parse is ~1.2k instructions per call.
    known: Arc<Vec<(&'static str, Uri)>>,
    metrics: Metrics,
    spans: crate::trace::Spans,
}

/// Idle keep-alive connections, most recently used last (reused first: warm, least likely to
/// have been dropped by the carrier).
struct Pool {
    idle: Mutex<Vec<Conn>>,
}

struct Conn {
    tx: http1::SendRequest<Full<Bytes>>,
    idle_since: Instant,
}

impl Conn {
    fn reusable(&self) -> bool {
        !self.tx.is_closed() && self.idle_since.elapsed() < IDLE_TIMEOUT
    }
}

impl Pool {
    fn checkout(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop() {
            if c.reusable() {
                return Some(c);
            }
        }
        None
    }

    fn put(&self, mut c: Conn) {
        if c.tx.is_closed() {
            return;
        }
        c.idle_since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // The oldest entries sit at the front: once the front is stale, sweep (dropping a
        // sender closes its connection).
        if idle.first().is_some_and(|f| !f.reusable()) || idle.len() >= MAX_IDLE {
            idle.retain(Conn::reusable);
        }
        if idle.len() < MAX_IDLE {
            idle.push(c);
        }
    }
}

/// An upstream answer, fully read.
#[derive(Debug)]
pub struct UpResp {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub content_disposition: Option<HeaderValue>,
    pub body: Bytes,
}

impl UpResp {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl Upstream {
    pub fn new(
        base_url: &str,
        connect_timeout: Duration,
        extra_roots: Option<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>>,
        hot_paths: &[&'static str],
        metrics: Metrics,
        spans: crate::trace::Spans,
    ) -> Result<Upstream, StartupError> {
        let uri: Uri = base_url.parse().map_err(|_| {
            StartupError::Config(format!("gateway.upstream_url: not a URL: {base_url}"))
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(StartupError::Config(
                "gateway.upstream_url: must be http://host:port or https://host (the carrier)"
                    .into(),
            ));
        }
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(connect_timeout));
        // Small JSON exchanges: Nagle would add tens of milliseconds per call.
        conn.set_nodelay(true);
        conn.set_keepalive(Some(Duration::from_secs(60)));
        // `enforce_http(false)`: the HTTPS layer below handles `https://` (the real carrier); the
        // simulator is plain HTTP.
        conn.enforce_http(false);
        // The carrier's certificate is publicly trusted: Mozilla's roots, plus the authorities of
        // `upstream_ca_file` if any; ring provider (no process-wide default is assumed).
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let tls_err = |e: &dyn std::fmt::Display| {
            StartupError::Config(format!("gateway.upstream_url: TLS: {e}"))
        };
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match extra_roots {
            None => builder
                .with_provider_and_webpki_roots(provider)
                .map_err(|e| tls_err(&e))?,
            Some(certs) => {
                let mut roots = tokio_rustls::rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        StartupError::Config(format!("gateway.upstream_ca_file: {e}"))
                    })?;
                }
                let cfg = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| tls_err(&e))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                builder.with_tls_config(cfg)
            }
        };
        let conn = builder.https_or_http().enable_http1().wrap_connector(conn);
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let origin: Uri = format!("{}://{authority}/", uri.scheme_str().unwrap_or("http"))
            .parse()
            .map_err(|_| {
                StartupError::Config(format!("gateway.upstream_url: not a URL: {base_url}"))
            })?;
        let host = HeaderValue::from_str(authority).map_err(|_| {
            StartupError::Config(format!("gateway.upstream_url: bad host: {base_url}"))
        })?;
        Ok(Upstream {
            connector: conn,
            pool: Arc::new(Pool {
                idle: Mutex::new(Vec::new()),
            }),
            origin,
            host,
            known: Arc::new(
                hot_paths
                    .iter()
                    .filter_map(|p| {
                        let target = format!("{}{p}", uri.path().trim_end_matches('/'));
                        Some((*p, target.parse::<Uri>().ok()?))
                    })
                    .collect(),
            ),
            prefix: uri.path().trim_end_matches('/').to_owned(),
            metrics,
            spans,
        })
    }

    /// Calls the upstream; `service` labels the latency metric.
    pub async fn call(
        &self,
        service: &'static str,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Result<UpResp, GatewayError> {
        let start = Instant::now();
        // Each call is its own span, child of the request's: the carrier sees it as its parent.
        let span = crate::trace::current().map(|t| t.child());
        let recorded = self.spans.start().map(|at| (at, method.clone()));
        // Boxed: the exchange's state machine is a few KiB, and callers move this future around
        // (fan-outs collect one per account); moving a box is cheaper than copying that much.
        let res = tokio::time::timeout(
            timeout,
            Box::pin(self.exchange(method, path_and_query, headers, body, span)),
        )
        .await;
        let (result, out) = match res {
            Ok(Ok(r)) if credentials_refused(service, &r) => {
                tracing::warn!(
                    service,
                    "the carrier refused an account's stored credentials"
                );
                (
                    "credentials_refused",
                    Err(GatewayError::UpstreamCredentialsRefused),
                )
            }
            Ok(Ok(r)) => ("ok", Ok(r)),
            Ok(Err(e)) => ("error", Err(e)),
            Err(_) => ("timeout", Err(GatewayError::UpstreamTimeout)),
        };
        let elapsed = start.elapsed();
        self.metrics
            .observe_upstream(service, result, elapsed.as_secs_f64());
        if let (Some(span), Some((at, method))) = (span, recorded) {
            let status = match &out {
                Ok(r) => Some(r.status),
                Err(_) => None,
            };
            self.spans.record(
                &span,
                sesame_telemetry::SpanKind::Client,
                at,
                status.is_none_or(|s| s.is_server_error()),
                || {
                    use sesame_telemetry::Attr;
                    // The path only: a query may carry a key.
                    let path = path_and_query.split('?').next().unwrap_or_default();
                    let mut a = vec![
                        ("http.request.method", Attr::Str(method.to_string().into())),
                        ("url.path", Attr::Str(path.to_owned().into())),
                        ("sesame.upstream_service", Attr::Str(service.into())),
                        ("sesame.upstream_result", Attr::Str(result.into())),
                    ];
                    if let Some(s) = status {
                        a.push((
                            "http.response.status_code",
                            Attr::Int(i64::from(s.as_u16())),
                        ));
                    }
                    (format!("upstream {service}").into(), a)
                },
            );
        }
        out
    }

    /// POST of a JSON body.
    pub async fn post_json(
        &self,
        service: &'static str,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<UpResp, GatewayError> {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let bytes = Bytes::from(
            serde_json::to_vec(body).map_err(|e| GatewayError::Internal(e.to_string()))?,
        );
        self.call(service, Method::POST, path, h, bytes, timeout)
            .await
    }

    async fn exchange(
        &self,
        method: Method,
        pq: &str,
        headers: HeaderMap,
        body: Bytes,
        span: Option<crate::trace::TraceParent>,
    ) -> Result<UpResp, GatewayError> {
        // Origin form (`/path?query`): the connection is already to the carrier.
        let uri = match self.known.iter().find(|(p, _)| *p == pq) {
            Some((_, u)) => u.clone(),
            None => if self.prefix.is_empty() {
                pq.parse()
            } else {
                format!("{}{}", self.prefix, pq).parse()
            }
            .map_err(|_| GatewayError::BadRequest("chemin invalide".into()))?,
        };
        let mut req = http::Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        req.headers_mut().insert(header::HOST, self.host.clone());
        // The request's trace continues upstream, this call's span as the parent.
        if let Some(tp) = span {
            req.headers_mut().insert("traceparent", tp.header_value());
        }
        let (resp, conn) = self.send(req).await?;
        let (parts, body) = resp.into_parts();
        let limited = http_body_util::Limited::new(body, MAX_UPSTREAM_BODY);
        let body = limited
            .collect()
            .await
            .map_err(|e| GatewayError::UpstreamUnavailable(e.to_string()))?
            .to_bytes();
        // The answer was read whole: the connection is free for the next call (unless the
        // carrier asked to close it, which `is_closed` then tells).
        self.pool.put(conn);
        Ok(UpResp {
            status: parts.status,
            content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
            content_disposition: parts.headers.get(header::CONTENT_DISPOSITION).cloned(),
            body,
        })
    }
}

impl Upstream {
    /// Sends on a pooled connection, else on a new one. A pooled connection the carrier closed
    /// meanwhile hands the request back unsent, and it goes on the next: no call is ever sent
    /// twice.
    async fn send(
        &self,
        mut req: http::Request<Full<Bytes>>,
    ) -> Result<(http::Response<hyper::body::Incoming>, Conn), GatewayError> {
        while let Some(mut c) = self.pool.checkout() {
            if c.tx.ready().await.is_err() {
                continue;
            }
            match c.tx.try_send_request(req).await {
                Ok(resp) => return Ok((resp, c)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => req = unsent,
                    None => {
                        return Err(GatewayError::UpstreamUnavailable(
                            e.into_error().to_string(),
                        ))
                    }
                },
            }
        }
        let mut c = self.connect().await?;
        let resp =
            c.tx.send_request(req)
                .await
                .map_err(|e| GatewayError::UpstreamUnavailable(e.to_string()))?;
        Ok((resp, c))
    }

    async fn connect(&self) -> Result<Conn, GatewayError> {
        use tower_service::Service;
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| GatewayError::UpstreamUnavailable(format!("connect: {e}")))?;
        let io = connector
            .call(self.origin.clone())
            .await
            .map_err(|e| GatewayError::UpstreamUnavailable(format!("connect: {e}")))?;
        let (tx, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| GatewayError::UpstreamUnavailable(format!("handshake: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(Conn {
            tx,
            idle_since: Instant::now(),
        })
    }
}

/// The certificates of a PEM file of authorities; an error says what is wrong with the file.
pub(crate) fn load_ca_file(
    path: &std::path::Path,
) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}

/// Whether the carrier refused the account's own credentials. Sesame always injects the
/// account's stored credentials (the caller's never go upstream), so such a refusal means the
/// account is misconfigured: it must not reach the caller as "your identifier is wrong". Each
/// service says it its own way; bodies are only parsed when a cheap byte check hits.
fn credentials_refused(service: &str, r: &UpResp) -> bool {
    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }
    if r.status == StatusCode::UNAUTHORIZED {
        return true;
    }
    // A refusal is a short envelope; real answers (timelines, lists of pickup points) are long
    // and may contain "201" anywhere (ids, coordinates). Only short bodies are looked into, so
    // the check costs nothing on the answers that matter.
    if r.body.len() > MAX_REFUSAL_BODY {
        return false;
    }
    let json = || r.json().unwrap_or(Value::Null);
    match service {
        // The label service refuses in the `jsonInfos` part of a multipart answer.
        "labels" => {
            r.status.is_client_error()
                && contains(&r.body, b"30000")
                && r.content_type
                    .as_ref()
                    .and_then(|ct| ct.to_str().ok())
                    .and_then(|ct| crate::multipart::part(ct, &r.body, "jsonInfos"))
                    .and_then(|j| serde_json::from_slice::<Value>(j).ok())
                    .is_some_and(|v| {
                        v["messages"]
                            .as_array()
                            .is_some_and(|m| m.iter().any(|x| x["id"] == "30000"))
                    })
        }
        // The SOAP service refuses inside the operation's answer (HTTP 200).
        "labels_soap" => contains(&r.body, b"<id>30000</id>"),
        "eligibility" => {
            r.status.is_client_error()
                && contains(&r.body, b"30000")
                && json()["messages"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|x| x["id"] == "30000"))
        }
        "tracking" => contains(&r.body, b"201") && json()["status"][0]["code"] == "201",
        "pickup" => contains(&r.body, b"201") && json()["errorCode"] == 201,
        _ => false,
    }
}

/// Longest body a credentials refusal can be (the carrier's error envelopes are ~100 bytes).
const MAX_REFUSAL_BODY: usize = 1024;
