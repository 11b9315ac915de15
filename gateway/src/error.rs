//! The gateway's one error type, and the one place where an error becomes an answer in the
//! calling service's own envelope (merchant software parses those envelopes, not HTTP statuses).

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

pub type Resp = http::Response<Full<Bytes>>;

/// The seed's message for every failure of the URL tracking link (seed 000 §9).
pub const LINK_DENIED: &str = "Ce compte utilisateur ne vous permet pas d'accéder à ces informations. Veuillez vous connecter avec le compte approprié.";

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Malformed request: the message says what is wrong (never echoes a secret).
    #[error("{0}")]
    BadRequest(String),
    #[error("request body too large")]
    PayloadTooLarge,
    /// Several linked accounts could serve the call: names the field to fill.
    #[error("several accounts: set {field}")]
    AccountRequired { field: &'static str },
    /// No key, unknown key, wrong password, disabled user, expired key.
    #[error("authentication failed")]
    Unauthenticated,
    /// Authenticated, but no linked account holds the right (or the named account is not linked
    /// or lacks it). Carries the right's id for the message.
    #[error("right {0} missing")]
    Forbidden(&'static str),
    /// Unknown parcel, or a parcel outside the caller's scope: one variant so both answer the same.
    #[error("unknown parcel")]
    UnknownParcel { id: String },
    /// Unknown invoice or invoice outside the caller's scope.
    #[error("unknown invoice")]
    UnknownInvoice,
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The database cannot be reached and the principal is not cached.
    #[error("store unavailable")]
    StoreUnavailable,
    /// Too many password checks under way (each holds ~19 MiB): 503 with `Retry-After`.
    #[error("too many password checks under way")]
    Busy,
    /// The client stalled while sending its request body.
    #[error("request body timeout")]
    RequestTimeout,
    #[error("upstream timeout")]
    UpstreamTimeout,
    #[error("upstream unavailable: {0}")]
    UpstreamUnavailable(String),
    /// The carrier refused the account's own stored credentials: an operator problem (wrong or
    /// changed upstream password), never the caller's, so the caller is not told its key is bad.
    #[error("account credentials refused upstream")]
    UpstreamCredentialsRefused,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("internal error: {0}")]
    Internal(String),
    /// Start-up problems (bad configuration): never reach a client.
    #[error("configuration: {0}")]
    Config(String),
}

/// Which envelope an answer uses: the carrier service the client called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Labels,
    Tracking,
    TrackingV2,
    Pickup,
    Eligibility,
    /// The URL tracking link (HTML, or JSON on request).
    Link {
        json: bool,
    },
    /// Sesame's own JSON endpoints.
    Own,
}

impl Service {
    /// Route label for metrics (bounded cardinality).
    pub fn route(self) -> &'static str {
        match self {
            Service::Labels => "labels",
            Service::Tracking => "tracking",
            Service::TrackingV2 => "tracking_v2",
            Service::Pickup => "pickup",
            Service::Eligibility => "eligibility",
            Service::Link { .. } => "tracking_link",
            Service::Own => "sesame_api",
        }
    }
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest(_) | GatewayError::AccountRequired { .. } => {
                StatusCode::BAD_REQUEST
            }
            GatewayError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::Unauthenticated => StatusCode::UNAUTHORIZED,
            GatewayError::Forbidden(_) => StatusCode::FORBIDDEN,
            GatewayError::UnknownParcel { .. }
            | GatewayError::UnknownInvoice
            | GatewayError::NotFound => StatusCode::NOT_FOUND,
            GatewayError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::StoreUnavailable | GatewayError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            GatewayError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::UpstreamUnavailable(_) | GatewayError::UpstreamCredentialsRefused => {
                StatusCode::BAD_GATEWAY
            }
            GatewayError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::Internal(_) | GatewayError::Config(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Outcome label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            GatewayError::BadRequest(_)
            | GatewayError::PayloadTooLarge
            | GatewayError::AccountRequired { .. } => "bad_request",
            GatewayError::Unauthenticated => "unauthenticated",
            GatewayError::Forbidden(_) => "forbidden",
            GatewayError::UnknownParcel { .. }
            | GatewayError::UnknownInvoice
            | GatewayError::NotFound => "not_found",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::StoreUnavailable => "store_unavailable",
            GatewayError::Busy => "busy",
            GatewayError::RequestTimeout => "bad_request",
            GatewayError::UpstreamTimeout => "upstream_timeout",
            GatewayError::UpstreamUnavailable(_) => "upstream_error",
            GatewayError::UpstreamCredentialsRefused => "upstream_credentials_refused",
            GatewayError::MethodNotAllowed => "bad_request",
            GatewayError::Internal(_) | GatewayError::Config(_) => "internal",
        }
    }

    /// The French message shown to the client.
    fn message(&self) -> String {
        match self {
            GatewayError::BadRequest(m) => format!("Requête invalide : {m}"),
            GatewayError::PayloadTooLarge => "Corps de requête trop volumineux".to_owned(),
            GatewayError::AccountRequired { field } => format!(
                "Plusieurs comptes sont rattachés à cette clé : précisez le compte dans le champ {field}"
            ),
            GatewayError::Unauthenticated => "Identifiant ou mot de passe incorrect".to_owned(),
            GatewayError::Forbidden(right) => {
                format!("Service non autorisé pour cet identifiant (droit {right} requis sur le compte)")
            }
            GatewayError::UnknownParcel { .. } => "Numéro de colis inconnu".to_owned(),
            GatewayError::UnknownInvoice => "Facture inconnue".to_owned(),
            GatewayError::RateLimited { .. } => {
                "Trop de requêtes : veuillez réessayer dans quelques instants".to_owned()
            }
            GatewayError::RequestTimeout => {
                "Délai d'envoi de la requête dépassé".to_owned()
            }
            GatewayError::StoreUnavailable
            | GatewayError::Busy
            | GatewayError::UpstreamUnavailable(_) => {
                "Service momentanément indisponible, veuillez réessayer ultérieurement".to_owned()
            }
            GatewayError::UpstreamTimeout => "Le service n'a pas répondu à temps".to_owned(),
            GatewayError::UpstreamCredentialsRefused => {
                "Les identifiants du compte ont été refusés par le transporteur : contactez l'administrateur du compte"
                    .to_owned()
            }
            GatewayError::NotFound => "Service inconnu".to_owned(),
            GatewayError::MethodNotAllowed => "Méthode non autorisée".to_owned(),
            GatewayError::Internal(_) | GatewayError::Config(_) => "Erreur interne".to_owned(),
        }
    }

    /// Short machine code for Sesame's own JSON endpoints.
    fn code(&self) -> &'static str {
        match self {
            GatewayError::BadRequest(_) => "invalid_request",
            GatewayError::PayloadTooLarge => "payload_too_large",
            GatewayError::AccountRequired { .. } => "account_required",
            GatewayError::Unauthenticated => "invalid_credentials",
            GatewayError::Forbidden(_) => "forbidden",
            GatewayError::UnknownParcel { .. } => "unknown_parcel",
            GatewayError::UnknownInvoice => "unknown_invoice",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::StoreUnavailable => "unavailable",
            GatewayError::Busy => "busy",
            GatewayError::RequestTimeout => "request_timeout",
            GatewayError::UpstreamTimeout => "upstream_timeout",
            GatewayError::UpstreamUnavailable(_) => "upstream_unavailable",
            GatewayError::UpstreamCredentialsRefused => "upstream_credentials_refused",
            GatewayError::NotFound => "not_found",
            GatewayError::MethodNotAllowed => "method_not_allowed",
            GatewayError::Internal(_) | GatewayError::Config(_) => "internal",
        }
    }

    /// The answer, in `svc`'s envelope. The only place errors are rendered.
    pub fn into_response(self, svc: Service, portal_url: &str) -> Resp {
        let status = self.status();
        let msg = self.message();
        let mut resp = match svc {
            Service::Labels | Service::Eligibility => {
                let id = match &self {
                    GatewayError::Unauthenticated => "30000".to_owned(),
                    GatewayError::BadRequest(_) | GatewayError::AccountRequired { .. } => {
                        "30001".to_owned()
                    }
                    GatewayError::Forbidden(_) => "30002".to_owned(),
                    other => other.status().as_u16().to_string(),
                };
                json_resp(
                    status,
                    &json!({"messages": [{"id": id, "type": "ERROR", "messageContent": msg}]}),
                )
            }
            Service::Tracking => {
                // The carrier answers business errors with HTTP 200 and a status code; keep that
                // so existing clients branch the same way.
                let (code, http) = match &self {
                    GatewayError::UnknownParcel { .. } => ("105", StatusCode::OK),
                    GatewayError::Unauthenticated => ("201", StatusCode::OK),
                    GatewayError::Forbidden(_) => ("202", StatusCode::OK),
                    GatewayError::BadRequest(_) | GatewayError::AccountRequired { .. } => {
                        ("400", status)
                    }
                    _ => ("", status),
                };
                let code = if code.is_empty() {
                    status.as_str()
                } else {
                    code
                };
                json_resp(http, &json!({"status": [{"code": code, "message": msg}]}))
            }
            Service::TrackingV2 => {
                let body = match &self {
                    GatewayError::UnknownParcel { id } => {
                        json!({"returnCode": 404, "returnMessage": "Résultat non trouvé", "idShip": id})
                    }
                    _ => json!({"returnCode": status.as_u16(), "returnMessage": msg}),
                };
                json_resp(status, &body)
            }
            Service::Pickup => {
                let (code, http) = match &self {
                    GatewayError::Unauthenticated => (201, StatusCode::OK),
                    GatewayError::Forbidden(_) => (202, StatusCode::OK),
                    _ => (status.as_u16(), status),
                };
                json_resp(
                    http,
                    &json!({"errorCode": code, "errorMessage": msg, "qualiteReponse": 0}),
                )
            }
            Service::Own => json_resp(status, &json!({"error": self.code(), "message": msg})),
            Service::Link { json } => link_error(&self, json, portal_url),
        };
        if let GatewayError::RateLimited { retry_after_secs } = self {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        if matches!(self, GatewayError::Busy) {
            // Checks last tens of milliseconds: the queue has drained within a second.
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// The tracking link answers every refusal (bad key, unknown parcel, out of scope, missing
/// right) with the same page; only "come back later" situations differ, and they reveal nothing.
fn link_error(e: &GatewayError, json: bool, portal_url: &str) -> Resp {
    let (status, msg) = match e {
        GatewayError::RateLimited { .. }
        | GatewayError::StoreUnavailable
        | GatewayError::Busy
        | GatewayError::UpstreamTimeout
        | GatewayError::UpstreamUnavailable(_)
        | GatewayError::UpstreamCredentialsRefused
        | GatewayError::Internal(_) => (e.status(), e.message()),
        _ => (StatusCode::FORBIDDEN, LINK_DENIED.to_owned()),
    };
    if json {
        return json_resp(status, &json!({"error": "access_denied", "message": msg}));
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Erreur d'authentification</title>\
         <style>body{{font-family:sans-serif;background:#f4f4f4}}.box{{max-width:560px;margin:80px auto;background:#fff;\
         padding:24px;border-radius:6px;box-shadow:0 2px 8px #0002}}a.ok{{float:right;background:#ffb400;color:#000;\
         padding:8px 24px;text-decoration:none;border-radius:4px}}</style></head><body><div class=\"box\">\
         <h1>Erreur d'authentification</h1><p>{}</p><a class=\"ok\" href=\"{}\">OK</a><div style=\"clear:both\"></div>\
         </div></body></html>\n",
        html_escape(&msg),
        html_escape(portal_url)
    );
    html_resp(status, html)
}

pub fn json_resp(status: StatusCode, body: &Value) -> Resp {
    bytes_resp(
        status,
        "application/json;charset=UTF-8",
        Bytes::from(body.to_string()),
    )
}

pub fn html_resp(status: StatusCode, html: String) -> Resp {
    bytes_resp(status, "text/html; charset=utf-8", Bytes::from(html))
}

pub fn bytes_resp(status: StatusCode, content_type: &'static str, body: Bytes) -> Resp {
    let mut r = http::Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Escapes text for HTML bodies and double-quoted attributes (apostrophes stay readable: the
/// seed's message is full of them).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
