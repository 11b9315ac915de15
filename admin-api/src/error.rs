//! The one error type of the admin API. Every refusal is classified once into an [`ApiError`]
//! variant; [`ApiError::parts`] says what it means on the wire (status, code, message, field,
//! right, `Retry-After`) and `IntoResponse` encodes it as
//! `{"error":{"code","message","field"?,"right"?}}`.
//!
//! Server errors (5xx) carry their internal detail in a response extension; [`log_server_errors`]
//! (a layer on the router) logs it, so converting an error never logs as a side effect.

use std::borrow::Cow;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sesame_domain::rights::DelegationError;
use sesame_domain::FieldError;
use sesame_store::{RuleViolation, StoreError};

type Text = Cow<'static, str>;

/// Every way the admin API refuses a request.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400 `bad_request`.
    BadRequest(Text),
    /// 400 `malformed_json`: the body is not JSON (names where, when serde says).
    MalformedJson {
        message: String,
        field: Option<String>,
    },
    /// 401 `unauthorized` (with `WWW-Authenticate: Bearer`).
    Unauthorized,
    /// 401 `bad_credentials`: unknown identifier or wrong password, alike.
    BadCredentials,
    /// 403 with its code (`forbidden`, or the store's own such as `identity_owned`), naming the
    /// field when one is at fault.
    Forbidden {
        code: &'static str,
        message: Text,
        field: Option<&'static str>,
    },
    /// 403 `delegation`: the delegation rule refused a right (names the field and the right).
    Delegation(DelegationError),
    /// 404 `not_found`: "`{0}` not found".
    NotFound(&'static str),
    /// 409 `conflict`: a unique value is taken (names the field).
    Conflict { field: Text, message: Text },
    /// 409 `rule`: a business rule refused the change.
    Rule(Text),
    /// 409 `shared_user`: an advanced user shared with other accounts is the operator's.
    SharedUser,
    /// 410 `expired`.
    Expired(String),
    /// 410 `already_used`.
    AlreadyUsed(String),
    /// 410 `invitation_expired`.
    InvitationExpired,
    /// 410 `invitation_used`.
    InvitationUsed,
    /// 422 `invalid`: a field failed validation (names it; the message starts with it).
    Invalid {
        field: Option<String>,
        message: Text,
    },
    /// 429 `too_many_attempts`: the sign-in throttle refused, unverified.
    TooManyAttempts { retry_after: u64 },
    /// 429 `too_many_requests`: the background slots are all taken.
    TooManyRequests,
    /// 503 `busy`: every password-check slot is taken.
    Busy,
    /// 503 `unavailable`: the database cannot be reached (the detail is logged, never shown).
    Unavailable(String),
    /// 500 `internal` (the detail is logged, never shown).
    Internal(String),
    /// A refusal of the framework itself (routing, body limits, extractors), classified by its
    /// status: 404 `no_route`, 405 `method_not_allowed`, 413 `too_large`, …
    Framework(StatusCode),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// What an error says on the wire.
pub struct Parts<'a> {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'a, str>,
    pub field: Option<&'a str>,
    pub right: Option<&'a str>,
    /// Seconds, for 429 and busy 503 answers.
    pub retry_after: Option<u64>,
}

const INVITATION_EXPIRED: &str = "Ce lien d'invitation a expiré (valable 48h) : demandez à votre administrateur de le renvoyer. \
                                  This invitation link has expired (valid 48 hours): ask your administrator to resend it.";
const INVITATION_USED: &str = "Ce lien d'invitation n'est plus valable : il a déjà été utilisé ou remplacé par un nouvel envoi. \
                               This invitation link is no longer valid: it was already used or replaced by a new one.";

impl ApiError {
    pub fn bad_request(message: impl Into<Text>) -> Self {
        ApiError::BadRequest(message.into())
    }
    /// A field failed validation (422), naming it.
    pub fn invalid(field: impl Into<String>, message: impl Into<Text>) -> Self {
        ApiError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }
    pub fn forbidden(message: impl Into<Text>) -> Self {
        ApiError::Forbidden {
            code: "forbidden",
            message: message.into(),
            field: None,
        }
    }
    pub fn conflict(field: impl Into<Text>, message: impl Into<Text>) -> Self {
        ApiError::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }
    /// 400 `malformed_json`.
    pub fn malformed_json(message: impl Into<String>, field: Option<String>) -> Self {
        ApiError::MalformedJson {
            message: message.into(),
            field,
        }
    }

    /// The one classification of every variant.
    pub fn parts(&self) -> Parts<'_> {
        use ApiError::*;
        let (status, code, message): (StatusCode, &'static str, Cow<'_, str>) = match self {
            BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.as_ref().into()),
            MalformedJson { message, .. } => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                message.as_str().into(),
            ),
            Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "authentication required: send a valid bearer token".into(),
            ),
            BadCredentials => (
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "unknown identifier or wrong password".into(),
            ),
            Forbidden { code, message, .. } => (StatusCode::FORBIDDEN, code, message.as_ref().into()),
            Delegation(d) => (StatusCode::FORBIDDEN, "delegation", d.to_string().into()),
            NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found").into(),
            ),
            Conflict { message, .. } => (StatusCode::CONFLICT, "conflict", message.as_ref().into()),
            Rule(m) => (StatusCode::CONFLICT, "rule", m.as_ref().into()),
            SharedUser => (
                StatusCode::CONFLICT,
                "shared_user",
                "this advanced user is linked to other accounts: remove the link instead, or ask the operator".into(),
            ),
            Expired(m) => (StatusCode::GONE, "expired", m.as_str().into()),
            AlreadyUsed(m) => (StatusCode::GONE, "already_used", m.as_str().into()),
            InvitationExpired => (StatusCode::GONE, "invitation_expired", INVITATION_EXPIRED.into()),
            InvitationUsed => (StatusCode::GONE, "invitation_used", INVITATION_USED.into()),
            Invalid { message, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                message.as_ref().into(),
            ),
            TooManyAttempts { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many failed sign-ins: try again later".into(),
            ),
            TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many requests: try again later".into(),
            ),
            Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many password checks under way; retry shortly".into(),
            ),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable; retry later".into(),
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error".into(),
            ),
            Framework(status) => {
                let (code, message) = framework_code(*status);
                (*status, code, message.into())
            }
        };
        let field = match self {
            MalformedJson { field, .. } | Invalid { field, .. } => field.as_deref(),
            Forbidden { field, .. } => *field,
            Delegation(_) => Some("rights"),
            Conflict { field, .. } => Some(field.as_ref()),
            _ => None,
        };
        let retry_after = match self {
            TooManyAttempts { retry_after } => Some(*retry_after),
            TooManyRequests | Busy => Some(1),
            _ => None,
        };
        Parts {
            status,
            code,
            message,
            field,
            right: match self {
                Delegation(d) => Some(d.id.as_str()),
                _ => None,
            },
            retry_after,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().status
    }
    pub fn code(&self) -> &'static str {
        self.parts().code
    }
    pub fn message(&self) -> String {
        self.parts().message.into_owned()
    }
    pub fn field(&self) -> Option<&str> {
        self.parts().field
    }
    /// The right a delegation refusal names.
    pub fn right(&self) -> Option<&str> {
        self.parts().right
    }

    /// The internal detail of a server error, for the log (never for the caller).
    fn detail(&self) -> Option<ServerErrorDetail> {
        match self {
            ApiError::Unavailable(d) => Some(ServerErrorDetail {
                unavailable: true,
                detail: d.clone(),
            }),
            ApiError::Internal(d) => Some(ServerErrorDetail {
                unavailable: false,
                detail: d.clone(),
            }),
            _ => None,
        }
    }
}

/// The code and message of a refusal by the framework, by status.
fn framework_code(status: StatusCode) -> (&'static str, &'static str) {
    match status {
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
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::invalid(e.field, format!("{}: {}", e.field, e.reason))
    }
}

impl From<DelegationError> for ApiError {
    fn from(e: DelegationError) -> Self {
        ApiError::Delegation(e)
    }
}

// ---------------------------------------------------------------------------------------------
// The store's refusals, classified (the one place that reads a `StoreError`'s kind).

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict { field } => {
                ApiError::conflict(field, format!("{field} is already in use"))
            }
            StoreError::Invalid(f) => f.into(),
            StoreError::Delegation(d) => ApiError::Delegation(d),
            StoreError::Forbidden {
                code,
                field,
                message,
            } => ApiError::Forbidden {
                code,
                message: message.into(),
                field: Some(field),
            },
            StoreError::Rule(rule) => match rule {
                RuleViolation::LinkExpired(_) => ApiError::Expired(rule.to_string()),
                RuleViolation::LinkUsed(_) | RuleViolation::InvitationWithdrawn => {
                    ApiError::AlreadyUsed(rule.to_string())
                }
                _ => ApiError::Rule(rule.to_string().into()),
            },
            // Every password check slot and queue place is taken: the caller retries soon.
            StoreError::Busy => ApiError::Busy,
            e if e.is_unavailable() => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(format!("{other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorView<'a>,
}

/// Fields in the order `serde_json` sorts them, as the answers always were.
#[derive(Serialize)]
struct ErrorView<'a> {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    right: Option<&'a str>,
}

/// A server error's internal detail, carried to [`log_server_errors`] in the response's
/// extensions.
#[derive(Clone, Debug)]
struct ServerErrorDetail {
    unavailable: bool,
    detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let p = self.parts();
        let body = Body {
            error: ErrorView {
                code: p.code,
                field: p.field,
                message: &p.message,
                right: p.right,
            },
        };
        let mut resp = (p.status, axum::Json(body)).into_response();
        if let Some(secs) = p.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if p.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(d) = self.detail() {
            resp.extensions_mut().insert(d);
        }
        resp
    }
}

/// Logs the internal detail of every server error answered (the layer on the router).
pub async fn log_server_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if let Some(d) = resp.extensions().get::<ServerErrorDetail>() {
        if d.unavailable {
            tracing::warn!(error = %d.detail, "store unavailable");
        } else {
            // Logged for ops, never shown to the caller.
            tracing::error!(error = %d.detail, "store error");
        }
    }
    resp
}

/// Turns the framework's own refusals (body too large, unreadable body, bad path, unsupported
/// media type…), which axum answers in `text/plain`, into the one JSON error shape. Handler
/// errors are already JSON and pages are HTML: only plain-text or empty error bodies change.
pub async fn json_rejections(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let plain = match resp.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.as_bytes().starts_with(b"text/plain"),
    };
    if !plain {
        return resp;
    }
    let mut out = ApiError::Framework(status).into_response();
    // Keep what the framework said about the exchange (e.g. `Allow`, `Retry-After`).
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut()
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> String {
        let b = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_one_json_shape() {
        let d = DelegationError {
            id: "ws_postage".into(),
            label: "Affranchissement".into(),
        };
        let resp = ApiError::Delegation(d.clone()).into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            body(resp).await,
            format!(
                r#"{{"error":{{"code":"delegation","field":"rights","message":"{d}","right":"ws_postage"}}}}"#
            )
        );
        let resp = ApiError::Unauthorized.into_response();
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let resp = ApiError::TooManyAttempts { retry_after: 7 }.into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
        assert_eq!(
            body(ApiError::Framework(StatusCode::NOT_FOUND).into_response()).await,
            r#"{"error":{"code":"no_route","message":"no such endpoint: see /admin/openapi.json"}}"#
        );
    }

    #[tokio::test]
    async fn server_errors_carry_their_detail_to_the_log_layer_not_to_the_caller() {
        let resp = ApiError::Internal("secret detail".into()).into_response();
        let d = resp.extensions().get::<ServerErrorDetail>().cloned();
        assert!(d.is_some_and(|d| !d.unavailable && d.detail == "secret detail"));
        let text = body(resp).await;
        assert_eq!(
            text,
            r#"{"error":{"code":"internal","message":"internal error"}}"#
        );
        let resp = ApiError::Invalid {
            field: Some("x".into()),
            message: "x: bad".into(),
        }
        .into_response();
        assert!(resp.extensions().get::<ServerErrorDetail>().is_none());
    }
}
