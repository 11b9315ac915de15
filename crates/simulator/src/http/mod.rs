//! HTTP side: routes, the capture/latency/fault layer, and helpers shared by the services.

// Validation helpers return the finished error `Response` as their `Err`: it is built once per
// failed request and sent as is, so its size does not matter.
#![allow(clippy::result_large_err)]

mod commerce;
mod control;
mod eligibility;
mod invoices;
mod labels;
mod labels_soap;
mod pickup;
mod tool;
mod tracking;

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::model::CapturedRequest;
use crate::state::{Outcome, Simulator};

/// Largest request body accepted (labels carry the biggest bodies, a few KiB).
const MAX_BODY: usize = 1024 * 1024;

impl Simulator {
    /// The axum router serving every simulated service and the `/_sim/` control routes.
    /// (Here, not in `state.rs`, so the state never imports the HTTP layer.)
    pub fn router(&self) -> Router {
        router(self.clone())
    }
}

fn router(sim: Simulator) -> Router {
    let services = Router::new()
        .route(
            "/sls-ws/SlsServiceWSRest/2.0/generateLabel",
            post(labels::generate),
        )
        .route(
            "/sls-ws/SlsServiceWSRest/3.1/generateLabel",
            post(labels::generate),
        )
        .route(
            "/sls-ws/SlsServiceWSRest/2.0/checkGenerateLabel",
            post(labels::check),
        )
        .route(
            "/sls-ws/SlsServiceWSRest/3.1/checkGenerateLabel",
            post(labels::check),
        )
        .route(
            labels_soap::PATH,
            post(labels_soap::call).get(labels_soap::wsdl),
        )
        .route(
            "/tracking-timeline-ws/rest/tracking/timelineCompany",
            post(tracking::timeline_company),
        )
        .route("/suivi/v2/idships/{id}", get(tracking::idship_v2))
        .route(
            "/pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement",
            post(pickup::find),
        )
        .route(
            "/api-ewe/v1/rest/additionalinformations",
            post(eligibility::additional_informations),
        )
        .route("/tracking-tool/v1/parcels/search", post(tool::search))
        .route("/tracking-tool/v1/parcels/{id}/claims", post(tool::claim))
        .route("/invoices/v1/list", post(invoices::list))
        .route("/invoices/v1/{number}/pdf", post(invoices::pdf))
        // Issue 16: the commerce back-end the demo puts behind declared routes.
        .route(
            "/commerce/v1/orders",
            post(commerce::create_order).get(commerce::orders),
        )
        .route(
            "/commerce/v1/orders/{id}/validation",
            post(commerce::validate_order),
        )
        .route(
            "/commerce/v1/addresses",
            get(commerce::addresses).post(commerce::create_address),
        )
        .route(
            "/commerce/v1/addresses/{id}",
            axum::routing::put(commerce::replace_address),
        )
        .route("/commerce/v1/documents", get(commerce::documents))
        .route("/commerce/v1/documents/{id}", get(commerce::document))
        .route(
            "/commerce/v1/documents/{id}/pdf",
            get(commerce::document_pdf),
        )
        .fallback(not_found)
        // Applied after the routes and the fallback so it wraps all of them, and before the
        // control routes are merged so those are neither delayed, faulted nor captured.
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            service_layer,
        ))
        .with_state(sim.clone());
    services.merge(control::routes(sim))
}

async fn not_found(req: Request) -> Response {
    error_json(
        StatusCode::NOT_FOUND,
        json!({"error": "not_found", "message": format!("no simulated service at {}", req.uri().path())}),
    )
}

/// Which simulated service a path belongs to: decides the envelope of layer-level errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Labels,
    LabelsSoap,
    Tracking,
    TrackingV2,
    Pickup,
    Eligibility,
    Private,
}

impl Service {
    fn of(path: &str) -> Service {
        if path.starts_with(labels_soap::PATH) {
            Service::LabelsSoap
        } else if path.starts_with("/sls-ws/") {
            Service::Labels
        } else if path.starts_with("/tracking-timeline-ws/") {
            Service::Tracking
        } else if path.starts_with("/suivi/") {
            Service::TrackingV2
        } else if path.starts_with("/pointretrait-ws-cxf/") {
            Service::Pickup
        } else if path.starts_with("/api-ewe/") {
            Service::Eligibility
        } else {
            Service::Private
        }
    }

    /// An error answer in the service's own envelope.
    fn envelope(self, status: StatusCode, message: &str) -> Response {
        let code = status.as_u16();
        let body = match self {
            Service::Labels => return labels::refusal(status, &code.to_string(), message),
            Service::LabelsSoap => return labels_soap::fault(status, "soap:Server", message),
            Service::Eligibility => {
                json!({"messages": [{"id": code.to_string(), "type": "ERROR", "messageContent": message}]})
            }
            Service::Tracking => {
                json!({"status": [{"code": code.to_string(), "message": message}]})
            }
            Service::TrackingV2 => json!({"returnCode": code, "returnMessage": message}),
            Service::Pickup => {
                json!({"errorCode": code, "errorMessage": message, "qualiteReponse": 0})
            }
            Service::Private => {
                json!({"error": if code == 503 { "unavailable" } else { "invalid_request" }, "message": message})
            }
        };
        error_json(status, body)
    }
}

/// Wraps every service route: buffers and captures the request, then applies latency and
/// faults (for the account whose credentials the request carries, if it has an override).
async fn service_layer(State(sim): State<Simulator>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let service = Service::of(parts.uri.path());
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return service.envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Corps de requête illisible ou trop volumineux",
            )
        }
    };
    sim.capture(CapturedRequest {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: bytes.clone(),
    });

    // Parsing the body a second time only matters when some account has its own faults.
    let account = if sim.has_account_faults() {
        account_of(&parts.headers, &bytes)
    } else {
        None
    };
    let plan = sim.plan(account.as_deref());
    if plan.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(plan.delay_ms)).await;
    }
    match plan.outcome {
        Outcome::Drop => return dropped_connection(),
        Outcome::Error => {
            return service.envelope(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service momentanément indisponible, veuillez réessayer ultérieurement",
            )
        }
        Outcome::Proceed => {}
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A response whose body fails at once: hyper then aborts the connection, so the client sees a
/// connection reset / incomplete message instead of an answer.
fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated dropped connection",
        ))
    });
    Response::new(Body::from_stream(stream))
}

/// The account a request acts for, from Basic auth or the usual credential fields.
fn account_of(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if let Some((user, _)) = basic_auth(headers) {
        return Some(user);
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    [
        "/contractNumber",
        "/login",
        "/accountNumber",
        "/credential/login",
    ]
    .iter()
    .find_map(|p| text_at(&v, p))
}

/// `Authorization: Basic base64(user:password)` decoded.
pub(crate) fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Parses a JSON object body; the error says what is wrong, for the service's 400 envelope.
pub(crate) fn parse_object(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("corps de requête vide".to_owned());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("le corps de requête doit être un objet JSON".to_owned()),
        Err(e) => Err(format!("JSON invalide ({e})")),
    }
}

/// Parses a JSON object body whose fields at `scalars`, when present, are strings or numbers.
pub(crate) fn parse_scalars(body: &[u8], scalars: &[&str]) -> Result<Value, String> {
    let v = parse_object(body)?;
    for p in scalars {
        expect_kind(&v, p, Kind::Scalar)?;
    }
    Ok(v)
}

/// A text field at a JSON pointer: strings (trimmed, non-empty) and numbers (clients sometimes
/// send account numbers as numbers) are accepted.
pub(crate) fn text_at(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A field's raw string value, not trimmed (passwords are compared exactly).
pub(crate) fn raw_str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Checks that the value at `pointer`, if present and not null, is of the wanted JSON kind; the
/// error names the field.
pub(crate) fn expect_kind(v: &Value, pointer: &str, want: Kind) -> Result<(), String> {
    let ok = matches!(
        (v.pointer(pointer), want),
        (None | Some(Value::Null), _)
            | (Some(Value::Object(_)), Kind::Object)
            | (Some(Value::Array(_)), Kind::Array)
            | (Some(Value::String(_) | Value::Number(_)), Kind::Scalar)
    );
    if ok {
        Ok(())
    } else {
        let field = pointer.trim_start_matches('/').replace('/', ".");
        let what = match want {
            Kind::Object => "un objet",
            Kind::Array => "un tableau",
            Kind::Scalar => "une chaîne ou un nombre",
        };
        Err(format!("le champ {field} doit être {what}"))
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Object,
    Array,
    Scalar,
}

/// A JSON answer with an explicit status.
pub(crate) fn error_json(status: StatusCode, body: Value) -> Response {
    json_response(status, &body)
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    resp
}

pub(crate) fn ok_json(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// Parses an optional `YYYY-MM-DD` field.
pub(crate) fn date_at(v: &Value, pointer: &str) -> Result<Option<chrono::NaiveDate>, String> {
    match text_at(v, pointer) {
        None => Ok(None),
        Some(s) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                format!(
                    "{}: date attendue au format AAAA-MM-JJ",
                    pointer.trim_start_matches('/')
                )
            }),
    }
}
