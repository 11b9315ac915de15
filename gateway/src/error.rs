//! The request error type, classified ONCE ([`GatewayError::classify`]) into a [`Refusal`]:
//! status, metric outcome, machine code, French message. Each service's envelope is then one
//! encoder over that value (`envelope.rs`), as linkerd2-proxy's `errors/respond.rs` does.
//! Start-up errors are another type (`startup.rs`): they never reach a client.

use std::borrow::Cow;

use http::StatusCode;

/// A handler's result.
pub(crate) type R<T> = Result<T, GatewayError>;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Malformed request: the message says what is wrong (never echoes a secret).
    #[error("{0}")]
    BadRequest(String),
    /// A malformed parameter of Sesame's own endpoints: 400 naming it (`error.field`).
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// The request conflicts with a bound or the state of the caller's data (too many pins):
    /// 409 naming the field.
    #[error("{field}: {message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
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
    /// A declared route's item (a document, say) unknown or outside the caller's scope.
    #[error("unknown item")]
    UnknownItem,
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
}

/// The class of a refusal: what every envelope branches on, and the machine code of Sesame's
/// own JSON endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidRequest,
    Conflict,
    PayloadTooLarge,
    AccountRequired,
    InvalidCredentials,
    Forbidden,
    UnknownParcel,
    UnknownInvoice,
    UnknownItem,
    RateLimited,
    Unavailable,
    Busy,
    RequestTimeout,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamCredentialsRefused,
    NotFound,
    MethodNotAllowed,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidRequest => "invalid_request",
            Code::Conflict => "conflict",
            Code::PayloadTooLarge => "payload_too_large",
            Code::AccountRequired => "account_required",
            Code::InvalidCredentials => "invalid_credentials",
            Code::Forbidden => "forbidden",
            Code::UnknownParcel => "unknown_parcel",
            Code::UnknownInvoice => "unknown_invoice",
            Code::UnknownItem => "unknown_item",
            Code::RateLimited => "rate_limited",
            Code::Unavailable => "unavailable",
            Code::Busy => "busy",
            Code::RequestTimeout => "request_timeout",
            Code::UpstreamTimeout => "upstream_timeout",
            Code::UpstreamUnavailable => "upstream_unavailable",
            Code::UpstreamCredentialsRefused => "upstream_credentials_refused",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::Internal => "internal",
        }
    }

    /// "Come back later": the caller did nothing wrong, and the answer reveals nothing about
    /// its key, parcel or rights (the tracking link shows these as they are).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Code::RateLimited
                | Code::Unavailable
                | Code::Busy
                | Code::UpstreamTimeout
                | Code::UpstreamUnavailable
                | Code::UpstreamCredentialsRefused
                | Code::Internal
        )
    }
}

/// A classified error: everything an envelope needs to answer it.
#[derive(Debug, Clone)]
pub struct Refusal<'e> {
    pub status: StatusCode,
    /// Metric label (`sesame_gateway_requests_total{outcome}`).
    pub outcome: &'static str,
    pub code: Code,
    /// The French message shown to the client.
    pub message: Cow<'static, str>,
    /// The field to fill (several accounts).
    pub field: Option<&'static str>,
    /// The right missing.
    pub right: Option<&'static str>,
    /// The parcel asked for (tracking v2 echoes it).
    pub parcel: Option<&'e str>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

const UNAVAILABLE: &str = "Service momentanément indisponible, veuillez réessayer ultérieurement";

impl GatewayError {
    /// The one classification of an error (status, outcome, code, message).
    pub fn classify(&self) -> Refusal<'_> {
        use GatewayError as E;
        use StatusCode as S;
        let (status, outcome, code, message): (_, _, _, Cow<'static, str>) = match self {
            E::BadRequest(m) => (
                S::BAD_REQUEST,
                "bad_request",
                Code::InvalidRequest,
                format!("Requête invalide : {m}").into(),
            ),
            E::InvalidField { field, message } => (
                S::BAD_REQUEST,
                "bad_request",
                Code::InvalidRequest,
                format!("Requête invalide : {field} : {message}").into(),
            ),
            E::Conflict { message, .. } => (
                S::CONFLICT,
                "bad_request",
                Code::Conflict,
                message.clone().into(),
            ),
            E::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "bad_request",
                Code::PayloadTooLarge,
                "Corps de requête trop volumineux".into(),
            ),
            E::AccountRequired { field } => (
                S::BAD_REQUEST,
                "bad_request",
                Code::AccountRequired,
                format!("Plusieurs comptes sont rattachés à cette clé : précisez le compte dans le champ {field}").into(),
            ),
            E::Unauthenticated => (
                S::UNAUTHORIZED,
                "unauthenticated",
                Code::InvalidCredentials,
                "Identifiant ou mot de passe incorrect".into(),
            ),
            E::Forbidden(right) => (
                S::FORBIDDEN,
                "forbidden",
                Code::Forbidden,
                format!("Service non autorisé pour cet identifiant (droit {right} requis sur le compte)").into(),
            ),
            E::UnknownParcel { .. } => (
                S::NOT_FOUND,
                "not_found",
                Code::UnknownParcel,
                "Numéro de colis inconnu".into(),
            ),
            E::UnknownInvoice => (
                S::NOT_FOUND,
                "not_found",
                Code::UnknownInvoice,
                "Facture inconnue".into(),
            ),
            E::UnknownItem => (
                S::NOT_FOUND,
                "not_found",
                Code::UnknownItem,
                "Élément inconnu".into(),
            ),
            E::RateLimited { .. } => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                Code::RateLimited,
                "Trop de requêtes : veuillez réessayer dans quelques instants".into(),
            ),
            E::StoreUnavailable => (
                S::SERVICE_UNAVAILABLE,
                "store_unavailable",
                Code::Unavailable,
                UNAVAILABLE.into(),
            ),
            E::Busy => (
                S::SERVICE_UNAVAILABLE,
                "busy",
                Code::Busy,
                UNAVAILABLE.into(),
            ),
            E::RequestTimeout => (
                S::REQUEST_TIMEOUT,
                "bad_request",
                Code::RequestTimeout,
                "Délai d'envoi de la requête dépassé".into(),
            ),
            E::UpstreamTimeout => (
                S::GATEWAY_TIMEOUT,
                "upstream_timeout",
                Code::UpstreamTimeout,
                "Le service n'a pas répondu à temps".into(),
            ),
            E::UpstreamUnavailable(_) => (
                S::BAD_GATEWAY,
                "upstream_error",
                Code::UpstreamUnavailable,
                UNAVAILABLE.into(),
            ),
            E::UpstreamCredentialsRefused => (
                S::BAD_GATEWAY,
                "upstream_credentials_refused",
                Code::UpstreamCredentialsRefused,
                "Les identifiants du compte ont été refusés par le transporteur : contactez l'administrateur du compte".into(),
            ),
            E::NotFound => (
                S::NOT_FOUND,
                "not_found",
                Code::NotFound,
                "Service inconnu".into(),
            ),
            E::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "bad_request",
                Code::MethodNotAllowed,
                "Méthode non autorisée".into(),
            ),
            E::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "internal",
                Code::Internal,
                "Erreur interne".into(),
            ),
        };
        Refusal {
            status,
            outcome,
            code,
            message,
            field: match self {
                E::AccountRequired { field }
                | E::InvalidField { field, .. }
                | E::Conflict { field, .. } => Some(field),
                _ => None,
            },
            right: match self {
                E::Forbidden(right) => Some(right),
                _ => None,
            },
            parcel: match self {
                E::UnknownParcel { id } => Some(id),
                _ => None,
            },
            retry_after: match self {
                E::RateLimited { retry_after_secs } => Some((*retry_after_secs).max(1)),
                // Checks last tens of milliseconds: the queue has drained within a second.
                E::Busy => Some(1),
                _ => None,
            },
        }
    }
}
