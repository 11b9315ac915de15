//! The one error type of the admin API: `{"error":{"code","message","field"?,"right"?}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sesame_domain::rights::DelegationError;
use sesame_domain::FieldError;
use sesame_store::{RuleViolation, StoreError};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub right: Option<String>,
    /// Seconds, for 429 answers (`Retry-After`).
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            right: None,
            retry_after: None,
        }
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// A field failed validation (422), naming it.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authentication required: send a valid bearer token",
        )
    }
    pub fn bad_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "unknown identifier or wrong password",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message).with_field(field)
    }
    pub fn gone(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, code, message)
    }
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is unavailable; retry later",
        )
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
    pub fn delegation(e: &DelegationError) -> Self {
        let mut err =
            Self::new(StatusCode::FORBIDDEN, "delegation", e.to_string()).with_field("rights");
        err.right = Some(e.id.clone());
        err
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::invalid(e.field, format!("{}: {}", e.field, e.reason))
    }
}

impl From<DelegationError> for ApiError {
    fn from(e: DelegationError) -> Self {
        ApiError::delegation(&e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict { field } => {
                ApiError::conflict(field, format!("{field} is already in use"))
            }
            StoreError::Invalid(f) => f.into(),
            StoreError::Delegation(d) => ApiError::delegation(&d),
            StoreError::Forbidden {
                code,
                field,
                message,
            } => ApiError::new(StatusCode::FORBIDDEN, code, message).with_field(field),
            StoreError::Rule(rule) => match rule {
                RuleViolation::LinkExpired(_) => ApiError::gone("expired", rule.to_string()),
                RuleViolation::LinkUsed(_) | RuleViolation::InvitationWithdrawn => {
                    ApiError::gone("already_used", rule.to_string())
                }
                _ => ApiError::new(StatusCode::CONFLICT, "rule", rule.to_string()),
            },
            StoreError::Busy => {
                // Every password check slot and queue place is taken: the caller retries soon.
                let mut err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "too many password checks under way; retry shortly",
                );
                err.retry_after = Some(1);
                err
            }
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::unavailable()
            }
            other => {
                // Logged for ops, never shown to the caller.
                tracing::error!(error = ?other, "store error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        if let Some(r) = &self.right {
            body["right"] = json!(r);
        }
        let mut resp = (self.status, axum::Json(json!({ "error": body }))).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// Turns the framework's own refusals (body too large, unreadable body, bad path, unsupported
/// media type…), which axum answers in `text/plain`, into the one JSON error shape. Handler
/// errors are already JSON and pages are HTML: only plain-text or empty error bodies change.
pub async fn json_rejections(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let plain = match resp.headers().get(axum::http::header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.as_bytes().starts_with(b"text/plain"),
    };
    if !plain {
        return resp;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "request body too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "unsupported content type")
        }
        StatusCode::NOT_FOUND => ("no_route", "no such endpoint: see /admin/openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "method not allowed on this endpoint")
        }
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid", "the request could not be understood"),
        s if s.is_client_error() => ("bad_request", "malformed request"),
        _ => ("internal", "internal error"),
    };
    let mut out = ApiError::new(status, code, message).into_response();
    // Keep what the framework said about the exchange (e.g. `Allow`, `Retry-After`).
    for (name, value) in resp.headers() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut()
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
    out
}
