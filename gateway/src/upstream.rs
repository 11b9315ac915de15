//! The upstream (carrier) client: one pooled keep-alive hyper client, every call bounded by a
//! timeout so a client is never left hanging on a stuck upstream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::error::GatewayError;
use crate::metrics::Metrics;

/// Upstream answers larger than this are refused (invoice PDFs are the largest, a few hundred KiB).
const MAX_UPSTREAM_BODY: usize = 32 * 1024 * 1024;

#[derive(Clone)]
pub struct Upstream {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `scheme://authority` and an optional path prefix, without trailing slash.
    base: String,
    metrics: Metrics,
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
        metrics: Metrics,
    ) -> Result<Upstream, GatewayError> {
        let uri: Uri = base_url.parse().map_err(|_| {
            GatewayError::Config(format!("gateway.upstream_url: not a URL: {base_url}"))
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(GatewayError::Config(
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
        // The carrier's certificate is publicly trusted: Mozilla's roots, ring provider (no
        // process-wide default provider is assumed).
        let conn = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(
                tokio_rustls::rustls::crypto::ring::default_provider(),
            ))
            .map_err(|e| GatewayError::Config(format!("gateway.upstream_url: TLS: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(conn);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(conn);
        Ok(Upstream {
            client,
            base: base_url.trim_end_matches('/').to_owned(),
            metrics,
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
        let res = tokio::time::timeout(
            timeout,
            self.exchange(method, path_and_query, headers, body),
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
        self.metrics
            .upstream_duration
            .with_label_values(&[service, result])
            .observe(start.elapsed().as_secs_f64());
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
    ) -> Result<UpResp, GatewayError> {
        let uri: Uri = format!("{}{}", self.base, pq)
            .parse()
            .map_err(|_| GatewayError::BadRequest("chemin invalide".into()))?;
        let mut req = http::Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        // The request's trace continues upstream, Sesame's span as the parent.
        if let Some(tp) = crate::trace::current() {
            req.headers_mut().insert("traceparent", tp.header_value());
        }
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| GatewayError::UpstreamUnavailable(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        let limited = http_body_util::Limited::new(body, MAX_UPSTREAM_BODY);
        let body = limited
            .collect()
            .await
            .map_err(|e| GatewayError::UpstreamUnavailable(e.to_string()))?
            .to_bytes();
        Ok(UpResp {
            status: parts.status,
            content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
            content_disposition: parts.headers.get(header::CONTENT_DISPOSITION).cloned(),
            body,
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
        "labels" | "eligibility" => {
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
