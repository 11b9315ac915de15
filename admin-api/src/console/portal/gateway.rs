//! The portal's client of the gateway's public listener (`admin.gateway_url`): parcels,
//! invoices and labels are reached **through the gateway over HTTP**, with the visitor's
//! session as `Authorization: Bearer`, so scopes, stamping, credential injection and refusals
//! stay in one place (the gateway's phases).
//!
//! Bounded: a connect timeout, a whole-call timeout (head and body), and the answer's body
//! (64 MiB: a zip of 100 invoices fits; a larger one is a clear error, never buffered whole).
//! The token is never logged, and nothing secret travels in the path.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_rustls::rustls;

use crate::config::AdminConfig;
use crate::error::ApiError;

/// The largest answer read from the gateway.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// Connecting to the gateway (it is local or close: a slow connect means it is down).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole call, answer body included (a zip of invoices is fanned out over accounts).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The start of the detail of an [`ApiError::Unavailable`] that says the gateway did not
/// answer: the portal shows "Le service de suivi ne répond pas" for it (`portal::fail`).
pub const GATEWAY_DOWN: &str = "gateway unreachable";

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The client of the gateway's public listener. Cheap to share (`Arc` in `AppState`).
pub struct PortalGateway {
    /// `Err`: the client could not be built (a CA file `AdminConfig::problems` did not catch);
    /// every call then fails closed with that reason.
    client: Result<HttpsClient, String>,
    /// `gateway_url` without its trailing `/`.
    base: String,
}

/// What the gateway answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (a gateway that answers something else is an internal error).
    pub fn json(&self) -> Result<serde_json::Value, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::Internal(format!("gateway answer is not JSON: {e}")))
    }

    /// A success as it is; a refusal as the [`ApiError`] that says the same thing: the
    /// gateway's `{"error":{"code","message","field"?}}` (401 → the session ended, 403, 404 →
    /// unknown or out of scope alike, 400 naming the field), 5xx → unavailable.
    pub fn ok(self) -> Result<Answer, ApiError> {
        if self.status.is_success() {
            return Ok(self);
        }
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let e = &v["error"];
        let message = e["message"].as_str().unwrap_or("").to_owned();
        let field = e["field"].as_str().map(str::to_owned);
        Err(match self.status {
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
            StatusCode::NOT_FOUND => ApiError::NotFound("parcel"),
            StatusCode::FORBIDDEN => ApiError::forbidden(if message.is_empty() {
                "forbidden".to_owned()
            } else {
                message
            }),
            StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests,
            s if s.is_client_error() => match field {
                Some(f) => ApiError::invalid(f, message),
                None => ApiError::bad_request(message),
            },
            s => ApiError::Unavailable(format!("gateway answered {s}")),
        })
    }
}

impl PortalGateway {
    /// The client for `cfg.gateway_url` (and `cfg.gateway_ca_file`'s authorities).
    pub fn new(cfg: &AdminConfig) -> PortalGateway {
        let client = Self::client(cfg);
        if let Err(e) = &client {
            tracing::error!(error = %e, "portal: no client for the gateway");
        }
        PortalGateway {
            client,
            base: cfg.gateway_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The pooled client; an error names the setting at fault.
    fn client(cfg: &AdminConfig) -> Result<HttpsClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &cfg.gateway_ca_file {
            for c in sesame_serve::load_ca_file(path)
                .map_err(|e| format!("admin.gateway_ca_file: {e}"))?
            {
                roots
                    .add(c)
                    .map_err(|e| format!("admin.gateway_ca_file: {e}"))?;
            }
        }
        // ring provider: no process-wide default is assumed (as the gateway's own clients).
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("admin.gateway_url: TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let conn = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(16)
            .build(conn))
    }

    /// One call: `method` on `path_and_query` (starting with `/`) with the visitor's session
    /// `token`, and a JSON `body` when given. The gateway down or too slow →
    /// [`ApiError::Unavailable`] starting with [`GATEWAY_DOWN`]; an answer over
    /// [`MAX_ANSWER_BYTES`] → an error saying so.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        token: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ApiError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| ApiError::Internal(format!("portal gateway client: {e}")))?;
        let uri = format!("{}{path_and_query}", self.base);
        let mut req = Request::builder().method(method).uri(&uri);
        let auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ApiError::Unauthorized)?;
        req = req
            .header(header::AUTHORIZATION, auth)
            .header(header::ACCEPT, "application/json");
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(b).map_err(|e| ApiError::Internal(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(body))
            .map_err(|e| ApiError::Internal(format!("gateway request: {e}")))?;
        // Logged without the query (filters are the user's data) and never the token.
        let logged = path_and_query.split('?').next().unwrap_or("");
        let call = async {
            let resp = client.request(req).await.map_err(|e| {
                tracing::warn!(path = logged, error = %e, "portal: gateway unreachable");
                ApiError::Unavailable(format!("{GATEWAY_DOWN}: {e}"))
            })?;
            let (parts, body) = resp.into_parts();
            let text = |h: header::HeaderName| {
                parts
                    .headers
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let content_type = text(header::CONTENT_TYPE);
            let content_disposition = text(header::CONTENT_DISPOSITION);
            let body = Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        ApiError::Internal(format!(
                            "gateway answer larger than {MAX_ANSWER_BYTES} bytes ({logged})"
                        ))
                    } else {
                        tracing::warn!(path = logged, error = %e, "portal: gateway answer cut");
                        ApiError::Unavailable(format!("{GATEWAY_DOWN}: {e}"))
                    }
                })?
                .to_bytes();
            Ok(Answer {
                status: parts.status,
                content_type,
                content_disposition,
                body,
            })
        };
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(path = logged, "portal: gateway did not answer in time");
                Err(ApiError::Unavailable(format!(
                    "{GATEWAY_DOWN}: no answer within {}s",
                    CALL_TIMEOUT.as_secs()
                )))
            }
        }
    }
}
