//! The upstream (carrier) client: a pool of keep-alive HTTP/1.1 connections to the one carrier
//! host, every call bounded by a timeout so a client is never left hanging on a stuck upstream.
//!
//! The carrier is trusted and single-origin, so the proxy relays it with its own lean codec
//! (`h1.rs`, issue 17) rather than a general HTTP client: the request is written in one piece
//! (hot paths from a pre-built head), the answer's head parsed into a stack array, the body read
//! as framed, all on the request's own task — no connection task, so no wake-up of another
//! task per call, and no `HeaderMap` on this side. Hostile input arrives on the client side,
//! which stays on hyper. Connections: `dial.rs` (TCP, then rustls for `https://`).

mod dial;
pub(crate) mod h1;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde_json::Value;
use tokio::io::AsyncReadExt;

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

#[derive(Clone)]
pub struct Upstream {
    dialer: Arc<dial::Dialer>,
    pool: Arc<Pool>,
    /// The `Host` header of every call.
    host: HeaderValue,
    /// Path prefix of the configured URL, without trailing slash (usually empty).
    prefix: String,
    /// Request heads of the hot paths (a JSON POST), built once up to the content length.
    known: Arc<Vec<(&'static str, Vec<u8>)>>,
    metrics: Metrics,
    spans: crate::trace::Spans,
}

/// Largest write buffer kept with an idle connection.
const MAX_KEPT_OUT: usize = 32 * 1024;

/// Idle keep-alive connections, most recently used last (reused first: warm, least likely to
/// have been dropped by the carrier).
struct Pool {
    idle: Mutex<Vec<Conn>>,
}

struct Conn {
    io: dial::Io,
    /// Bytes read from the connection and not yet consumed.
    buf: BytesMut,
    /// The request being written: kept with the connection and cleared for each call, so a
    /// call on a pooled connection allocates nothing to write its request (issue 17).
    out: Vec<u8>,
    idle_since: Instant,
}

impl Conn {
    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.idle_since) < IDLE_TIMEOUT
    }

    /// Whether the carrier still holds the connection open: a read that would block. End of
    /// stream (the carrier closed it while idle) or stray bytes mean it cannot carry a request.
    /// Costs one non-blocking read at most (none while the socket is known not readable).
    fn open(&mut self) -> bool {
        self.buf.is_empty()
            && self.buf.capacity() > 0
            && self.io.read_buf(&mut self.buf).now_or_never().is_none()
    }
}

impl Pool {
    /// An idle connection still fresh at `now` and still open, if any.
    fn checkout(&self, now: Instant) -> Option<Conn> {
        loop {
            let mut c = {
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                idle.pop()?
            };
            if c.fresh(now) && c.open() {
                return Some(c);
            }
        }
    }

    /// Returns a connection idle since `now` (the call's start: a clock read less per call,
    /// and a connection counted older by one call's length only retires sooner).
    fn put(&self, mut c: Conn, now: Instant) {
        c.idle_since = now;
        // A large request's buffer is not kept idle (bodies over `h1::COALESCE` are written
        // from where they are, so this is rare).
        if c.out.capacity() > MAX_KEPT_OUT {
            c.out = Vec::new();
        }
        if c.buf.capacity() == 0 {
            c.buf.reserve(h1::READ_ROOM);
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // The oldest entries sit at the front: once the front is stale, sweep (dropping a
        // connection closes it).
        if idle.first().is_some_and(|f| !f.fresh(now)) || idle.len() >= MAX_IDLE {
            idle.retain(|c| c.fresh(now));
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

/// What goes with a call besides its body.
enum Extra {
    /// `Content-Type: application/json`, nothing else (every carrier call but a few).
    Json,
    Headers(HeaderMap),
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
        let tls =
            match uri.scheme_str() {
                Some("https") => true,
                Some("http") => false,
                _ => return Err(StartupError::Config(
                    "gateway.upstream_url: must be http://host:port or https://host (the carrier)"
                        .into(),
                )),
            };
        let (Some(authority), Some(host_name)) = (uri.authority(), uri.host()) else {
            return Err(StartupError::Config(
                "gateway.upstream_url: must be http://host:port or https://host (the carrier)"
                    .into(),
            ));
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let dialer = dial::Dialer::new(host_name, port, tls, extra_roots, connect_timeout)
            .map_err(StartupError::Config)?;
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| {
            StartupError::Config(format!("gateway.upstream_url: bad host: {base_url}"))
        })?;
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let mut up = Upstream {
            dialer: Arc::new(dialer),
            pool: Arc::new(Pool {
                idle: Mutex::new(Vec::new()),
            }),
            host,
            prefix,
            known: Arc::new(Vec::new()),
            metrics,
            spans,
        };
        let mut known = Vec::with_capacity(hot_paths.len());
        for p in hot_paths {
            if let Ok(head) = up.head_start(&Method::POST, p, &Extra::Json) {
                known.push((*p, head));
            }
        }
        up.known = Arc::new(known);
        Ok(up)
    }

    /// Calls the upstream with these headers (`Host`, `Content-Length` and the framing are the
    /// client's own); `service` labels the latency metric.
    pub async fn call(
        &self,
        service: &'static str,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Result<UpResp, GatewayError> {
        self.run(
            service,
            method,
            path_and_query,
            Extra::Headers(headers),
            &body,
            timeout,
        )
        .await
    }

    /// Calls the upstream with a JSON body (the hot paths' heads are pre-built). The body is
    /// borrowed: it is copied once, behind the head in the connection's write buffer.
    /// `run`'s own future, not one wrapping it: each level of futures is copied whole when
    /// awaited (issue 17).
    pub fn call_json<'a>(
        &'a self,
        service: &'static str,
        method: Method,
        path_and_query: &'a str,
        body: &'a [u8],
        timeout: Duration,
    ) -> impl Future<Output = Result<UpResp, GatewayError>> + Send + 'a {
        self.run(service, method, path_and_query, Extra::Json, body, timeout)
    }

    async fn run(
        &self,
        service: &'static str,
        method: Method,
        path_and_query: &str,
        extra: Extra,
        body: &[u8],
        timeout: Duration,
    ) -> Result<UpResp, GatewayError> {
        // The connection task's reading of this poll (`sesame_serve::clock`), as is the end:
        // a call starts and ends within microseconds of a poll's start.
        let start = sesame_serve::clock::now();
        // Each call is its own span, child of the request's: the carrier sees it as its parent.
        let span = crate::trace::current().map(|t| t.child());
        let recorded = self.spans.start().map(|at| (at, method.clone()));
        // Boxed: the exchange's state machine is a few KiB, and callers move this future around
        // (fan-outs collect one per account); moving a box is cheaper than copying that much.
        let res = tokio::time::timeout_at(
            (start + timeout).into(),
            Box::pin(self.exchange(&method, path_and_query, extra, body, span, start)),
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
        let elapsed = sesame_serve::clock::now().saturating_duration_since(start);
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
        let bytes = serde_json::to_vec(body).map_err(|e| GatewayError::Internal(e.to_string()))?;
        self.call_json(service, Method::POST, path, &bytes, timeout)
            .await
    }

    /// The request head up to (not including) its `Content-Length`: request line in origin
    /// form (the connection is already to the carrier), `Host`, the extra headers.
    fn head_start(
        &self,
        method: &Method,
        pq: &str,
        extra: &Extra,
    ) -> Result<Vec<u8>, GatewayError> {
        // The target goes on the wire as is: only visible ASCII, so nothing in it can end the
        // request line or start a header.
        if !pq.starts_with('/') || !pq.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(GatewayError::BadRequest("chemin invalide".into()));
        }
        let mut h = Vec::with_capacity(256);
        h.extend_from_slice(method.as_str().as_bytes());
        h.push(b' ');
        h.extend_from_slice(self.prefix.as_bytes());
        h.extend_from_slice(pq.as_bytes());
        h.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        h.extend_from_slice(self.host.as_bytes());
        h.extend_from_slice(b"\r\n");
        match extra {
            Extra::Json => h.extend_from_slice(b"content-type: application/json\r\n"),
            Extra::Headers(map) => {
                for (name, value) in map {
                    if matches!(
                        name,
                        &header::HOST
                            | &header::CONTENT_LENGTH
                            | &header::TRANSFER_ENCODING
                            | &header::CONNECTION
                    ) {
                        continue;
                    }
                    h.extend_from_slice(name.as_str().as_bytes());
                    h.extend_from_slice(b": ");
                    h.extend_from_slice(value.as_bytes());
                    h.extend_from_slice(b"\r\n");
                }
            }
        }
        Ok(h)
    }

    async fn exchange(
        &self,
        method: &Method,
        pq: &str,
        extra: Extra,
        body: &[u8],
        span: Option<crate::trace::TraceParent>,
        start: Instant,
    ) -> Result<UpResp, GatewayError> {
        // The hot paths' heads are pre-built; any other is built (and its target checked)
        // before a connection is taken.
        let known = match (&extra, method) {
            (Extra::Json, &Method::POST) => self
                .known
                .iter()
                .find(|(p, _)| *p == pq)
                .map(|(_, h)| h.as_slice()),
            _ => None,
        };
        let built = match known {
            Some(_) => None,
            None => Some(self.head_start(method, pq, &extra)?),
        };
        let unavailable = |e: h1::Fault| GatewayError::UpstreamUnavailable(e.to_string());
        // A pooled connection the carrier closed meanwhile is found closed before anything is
        // written (`Conn::open`), and the next one is tried: no call is ever sent twice.
        // Dialling is boxed: its state (DNS, TCP, TLS) would otherwise sit in every call's
        // future, which is moved around, while a pooled connection is the common case.
        let mut conn = match self.pool.checkout(start) {
            Some(c) => c,
            None => Box::pin(self.connect()).await?,
        };
        let mut head = match built {
            Some(h) => h,
            None => {
                let mut out = std::mem::take(&mut conn.out);
                out.clear();
                out.extend_from_slice(known.unwrap_or_default());
                out
            }
        };
        // No length on a bodiless GET (RFC 9110 §8.6: a length there may be misread).
        if !body.is_empty() || !matches!(*method, Method::GET | Method::HEAD | Method::DELETE) {
            head.extend_from_slice(b"content-length: ");
            head.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        // The request's trace continues upstream, this call's span as the parent.
        if let Some(tp) = span {
            head.extend_from_slice(b"traceparent: ");
            head.extend_from_slice(&tp.encoded());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        h1::write_request(&mut conn.io, &mut head, body)
            .await
            .map_err(|e| unavailable(h1::Fault::Io(e)))?;
        conn.out = head;
        let answer = h1::read_answer(&mut conn.io, &mut conn.buf, MAX_UPSTREAM_BODY)
            .await
            .map_err(unavailable)?;
        // The answer was read whole: the connection is free for the next call, unless the
        // carrier asked to close it.
        if answer.reusable {
            self.pool.put(conn, start);
        }
        Ok(UpResp {
            status: answer.status,
            content_type: answer.content_type,
            content_disposition: answer.content_disposition,
            body: answer.body,
        })
    }

    async fn connect(&self) -> Result<Conn, GatewayError> {
        let io = self
            .dialer
            .dial()
            .await
            .map_err(GatewayError::UpstreamUnavailable)?;
        Ok(Conn {
            io,
            buf: BytesMut::with_capacity(2 * h1::READ_ROOM),
            out: Vec::with_capacity(1024),
            idle_since: Instant::now(),
        })
    }
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
