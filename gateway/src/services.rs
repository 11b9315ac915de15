//! The public routes: the carrier's web services (drop-in compatible) and Sesame's own JSON
//! endpoints. Each handler follows the phases listed in `lib.rs`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::{json, Map, Value};
use sesame_domain::{ParcelNumber, Right, Scope, ScopedRight};

use crate::auth::{Link, Principal};
use crate::error::{bytes_resp, html_escape, html_resp, json_resp, GatewayError, Resp, Service};
use crate::upstream::UpResp;
use crate::Inner;

type R<T> = Result<T, GatewayError>;

const LABELS_PREFIX: &str = "/sls-ws/SlsServiceWSRest/";
const TRACKING: &str = "/tracking-timeline-ws/rest/tracking/timelineCompany";
const V2_PREFIX: &str = "/suivi/v2/idships/";
const PICKUP: &str = "/pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement";
const ELIGIBILITY: &str = "/api-ewe/v1/rest/additionalinformations";
/// The carrier paths called on every request of their service: parsed once (`Upstream::new`).
pub(crate) const HOT_UPSTREAM_PATHS: &[&str] = &[TRACKING, PICKUP, ELIGIBILITY];
const LINK: &str = "/entreprise/colis/login/parcel";
const OWN_PARCELS: &str = "/sesame/v1/parcels";
const OWN_INVOICES: &str = "/sesame/v1/invoices";
/// Page size of the parcel search (the tracking tool's "Afficher: 25").
pub const PAGE_SIZE: usize = 25;
/// Largest `pageSize` of the invoice list.
const MAX_INVOICE_PAGE: usize = 200;
/// Most invoices in one zip download.
const MAX_ZIP: usize = 100;

/// Where a request goes. Path parameters are borrowed later from the URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Labels,
    Tracking,
    TrackingV2(String),
    Pickup,
    Eligibility,
    Link,
    Search,
    Claim(String),
    Invoices,
    InvoicePdf(String, String),
    InvoiceZip,
    NotFound,
}

/// Phase 1 (parse): routing on path, a plain match.
pub(crate) fn route(method: &Method, path: &str) -> Route {
    if let Some(rest) = path.strip_prefix(LABELS_PREFIX) {
        return match rest {
            "2.0/generateLabel"
            | "3.1/generateLabel"
            | "2.0/checkGenerateLabel"
            | "3.1/checkGenerateLabel" => Route::Labels,
            _ => Route::NotFound,
        };
    }
    if let Some(id) = path.strip_prefix(V2_PREFIX) {
        return if !id.is_empty() && !id.contains('/') && method == Method::GET {
            Route::TrackingV2(id.to_owned())
        } else {
            Route::NotFound
        };
    }
    match path {
        TRACKING => return Route::Tracking,
        PICKUP => return Route::Pickup,
        ELIGIBILITY => return Route::Eligibility,
        LINK => return Route::Link,
        OWN_PARCELS => return Route::Search,
        OWN_INVOICES => return Route::Invoices,
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/sesame/v1/parcels/") {
        if let Some(id) = rest.strip_suffix("/claims") {
            if !id.is_empty() && !id.contains('/') {
                return Route::Claim(id.to_owned());
            }
        }
    }
    if let Some(rest) = path.strip_prefix("/sesame/v1/invoices/") {
        if rest == "zip" {
            return Route::InvoiceZip;
        }
        if let Some(r) = rest.strip_suffix("/pdf") {
            if let Some((acc, num)) = r.split_once('/') {
                if !acc.is_empty() && !num.is_empty() && !num.contains('/') {
                    return Route::InvoicePdf(acc.to_owned(), num.to_owned());
                }
            }
        }
    }
    Route::NotFound
}

impl Route {
    /// The envelope errors on this route use.
    pub(crate) fn service(&self, headers: &HeaderMap) -> Service {
        match self {
            Route::Labels => Service::Labels,
            Route::Tracking => Service::Tracking,
            Route::TrackingV2(_) => Service::TrackingV2,
            Route::Pickup => Service::Pickup,
            Route::Eligibility => Service::Eligibility,
            Route::Link => Service::Link {
                json: wants_json(headers),
            },
            _ => Service::Own,
        }
    }
}

fn wants_json(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// Incoming request, split for the handlers.
pub(crate) struct Req {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub path_and_query: String,
    pub body: Option<crate::ReqBody>,
    pub ip: IpAddr,
}

pub(crate) async fn dispatch(
    gw: &Arc<Inner>,
    route: Route,
    req: http::Request<crate::ReqBody>,
    ip: IpAddr,
) -> R<Resp> {
    let (parts, body) = req.into_parts();
    let r = Req {
        method: parts.method,
        query: parts.uri.query().map(str::to_owned),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: parts.headers,
        body: Some(body),
        ip,
    };
    let post = r.method == Method::POST;
    let get = r.method == Method::GET;
    match route {
        Route::Labels if post => labels(gw, r).await,
        Route::Tracking if post => tracking(gw, r).await,
        Route::TrackingV2(id) if get => tracking_v2(gw, r, id).await,
        Route::Pickup if post => pickup(gw, r).await,
        Route::Eligibility if post => eligibility(gw, r).await,
        Route::Link if get => link(gw, r).await,
        Route::Search if get => search(gw, r).await,
        Route::Claim(id) if post => claim(gw, r, id).await,
        Route::Invoices if get => invoices(gw, r).await,
        Route::InvoicePdf(acc, num) if get => invoice_pdf(gw, r, acc, num).await,
        Route::InvoiceZip if post => invoice_zip(gw, r).await,
        Route::NotFound => Err(GatewayError::NotFound),
        _ => Err(GatewayError::MethodNotAllowed),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared phases
// ---------------------------------------------------------------------------------------------

/// Reads the whole body within the configured limit.
async fn read_body(gw: &Inner, r: &mut Req) -> R<Bytes> {
    let max = gw.cfg.max_body_bytes;
    if let Some(len) = r
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > max as u64 {
            return Err(GatewayError::PayloadTooLarge);
        }
    }
    let body = r
        .body
        .take()
        .ok_or_else(|| GatewayError::Internal("body read twice".into()))?;
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(GatewayError::PayloadTooLarge)
        }
        Err(e) if sesame_serve::is_body_timeout(&*e) => Err(GatewayError::RequestTimeout),
        Err(_) => Err(GatewayError::BadRequest(
            "corps de requête illisible".into(),
        )),
    }
}

/// Parses a JSON object body; the message says what is wrong.
pub(crate) fn parse_object(body: &[u8]) -> R<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::BadRequest("corps de requête vide".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(GatewayError::BadRequest(
            "le corps de requête doit être un objet JSON".into(),
        )),
        Err(e) => Err(GatewayError::BadRequest(format!(
            "JSON invalide (ligne {}, colonne {})",
            e.line(),
            e.column()
        ))),
    }
}

/// A text field (string, or number: clients send account numbers both ways).
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The legacy credentials in a body: (`contractNumber` | `login` | `accountNumber`) + `password`.
pub(crate) fn legacy_creds(m: &Map<String, Value>) -> Option<(String, String)> {
    let password = m.get("password").and_then(Value::as_str)?.to_owned();
    let login = ["contractNumber", "login", "accountNumber"]
        .iter()
        .find_map(|k| text(m.get(*k)))?;
    Some((login, password))
}

/// Phase 2 (authenticate) + the per-key rate limit.
async fn authenticate(
    gw: &Inner,
    key: Option<&[u8]>,
    legacy: Option<(String, String)>,
    ip: IpAddr,
) -> R<Arc<Principal>> {
    let p = match (key, legacy) {
        (Some(k), _) => gw.auth.by_key(k, ip).await?,
        (None, Some((login, password))) => gw.auth.by_password(&login, &password, ip).await?,
        (None, None) => {
            gw.metrics
                .auth_failures
                .with_label_values(&["missing_credentials"])
                .inc();
            return Err(GatewayError::Unauthenticated);
        }
    };
    gw.limits.check_user(&p)?;
    Ok(p)
}

pub(crate) fn header_bytes<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    h.get(name)
        .map(HeaderValue::as_bytes)
        .filter(|b| !b.is_empty())
}

/// Phase 3+4 (select account, authorize): the explicit account if any, else the only linked
/// account holding the right; several → the error names the field to fill.
pub(crate) fn select<'p>(
    gw: &Inner,
    p: &'p Principal,
    explicit: Option<&str>,
    right: Right,
    field: &'static str,
) -> R<&'p Link> {
    let link = match explicit {
        Some(n) => p
            .link(n)
            .filter(|l| l.rights.has(right))
            .ok_or(GatewayError::Forbidden(right.id()))?,
        None => {
            let mut it = p.with_right(right);
            let first = it.next().ok_or(GatewayError::Forbidden(right.id()))?;
            if it.next().is_some() {
                return Err(GatewayError::AccountRequired { field });
            }
            first
        }
    };
    gw.limits.check_account(link.account_id)?;
    Ok(link)
}

fn timeout(gw: &Inner, fanout: bool) -> Duration {
    Duration::from_millis(if fanout {
        gw.cfg.fanout_timeout_ms
    } else {
        gw.cfg.request_timeout_ms
    })
}

/// Whether a field or parameter name is a spelling of the connection key (`apiKey`, `apikey`,
/// `APIKEY`, `api_key`, `X-Okapi-Key`…): callers send it under several, sometimes at once, and
/// none may reach the carrier. Compared without case, `-` or `_`.
pub(crate) fn is_key_name(name: &str) -> bool {
    let folded = name
        .bytes()
        .filter(|b| !matches!(b, b'-' | b'_'))
        .map(|b| b.to_ascii_lowercase());
    ["apikey", "xokapikey", "okapikey"]
        .iter()
        .any(|w| folded.clone().eq(w.bytes()))
}

/// Rewrite phase: removes every spelling of the caller's key from a body about to be forwarded.
fn strip_keys(m: &mut Map<String, Value>) {
    m.retain(|k, _| !is_key_name(k));
}

/// The query forwarded to the carrier: the caller's, without any key parameter (names compared
/// after percent-decoding: `%61pikey` is `apikey`). `None` when nothing is left.
fn forwarded_query(q: &str) -> Option<String> {
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !pair.is_empty() && !is_key_name(&percent_decode(name))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// Passes an upstream answer through unchanged (status, content type, body).
fn pass(up: UpResp) -> Resp {
    let mut r = http::Response::new(http_body_util::Full::new(up.body));
    *r.status_mut() = up.status;
    if let Some(ct) = up.content_type {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    if let Some(cd) = up.content_disposition {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, cd);
    }
    r
}

/// 5xx from the upstream is its own failure: report it as such rather than relaying a body
/// that might not match the envelope the client expects.
fn upstream_ok(up: UpResp) -> R<UpResp> {
    if up.status.is_server_error() {
        return Err(GatewayError::UpstreamUnavailable(format!(
            "upstream answered {}",
            up.status
        )));
    }
    Ok(up)
}

fn body_bytes(m: &Map<String, Value>) -> R<Bytes> {
    serde_json::to_vec(m)
        .map(Bytes::from)
        .map_err(|e| GatewayError::Internal(e.to_string()))
}

fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h
}

pub(crate) fn query_param(q: Option<&str>, name: &str) -> Option<String> {
    let q = q?;
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k) == name {
            let v = percent_decode(v);
            let v = v.trim();
            return (!v.is_empty()).then(|| v.to_owned());
        }
    }
    None
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            // Two hex digits, nothing else: `from_str_radix` alone also takes a sign (`%+2`).
            b'%' if i + 2 < b.len() && b[i + 1..i + 3].iter().all(u8::is_ascii_hexdigit) => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The credentials body of Sesame's private upstream API.
fn private_creds(l: &Link) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "contractNumber".into(),
        Value::String(l.account.upstream_login.clone()),
    );
    m.insert(
        "password".into(),
        Value::String(l.account.upstream_password.clone()),
    );
    m
}

fn record_fanout(gw: &Inner, route: &str, n: usize) {
    gw.metrics
        .fanout_width
        .with_label_values(&[route])
        .observe(n as f64);
}

/// One account's failure, as fanned-out answers report it.
fn account_error(e: &GatewayError) -> Value {
    let code = match e {
        GatewayError::UpstreamTimeout => "timeout",
        GatewayError::RateLimited { .. } => "rate_limited",
        GatewayError::UpstreamCredentialsRefused => "upstream_credentials_refused",
        _ => "upstream_error",
    };
    let message = match e {
        GatewayError::UpstreamTimeout => "Le service n'a pas répondu à temps",
        GatewayError::RateLimited { .. } => "Trop de requêtes pour ce compte",
        GatewayError::UpstreamCredentialsRefused => {
            "Les identifiants du compte ont été refusés par le transporteur : contactez l'administrateur du compte"
        }
        _ => "Service momentanément indisponible",
    };
    json!({"code": code, "message": message})
}

/// The web services whose body carries the key or the account.
#[derive(Clone, Copy, Debug)]
pub enum BodyService {
    Labels,
    Tracking,
    Pickup,
    Eligibility,
}

/// What the parse phase reads off a request: the connection key (or legacy login/password),
/// the explicit account, and for tracking the parcel.
#[derive(Debug, Default)]
pub struct Credentials {
    pub key: Option<Vec<u8>>,
    pub legacy: Option<(String, String)>,
    pub account: Option<String>,
    /// Tracking: the parcel number (the account is the parcel's own).
    pub parcel: Option<String>,
}

/// Where each service's clients put the key and the account (SPEC §4): labels take the key in
/// the `apiKey` header and the account in `contractNumber` or the free field ACCOUNT_NUMBER;
/// tracking and pickup points take the key in the body; eligibility inside `credential`. A
/// legacy caller's account field is its login: it acts for its own account only.
pub fn credentials(svc: BodyService, headers: &HeaderMap, m: &Map<String, Value>) -> Credentials {
    let field = |k: &str| text(m.get(k));
    let body_key = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec())
    };
    match svc {
        BodyService::Labels | BodyService::Tracking | BodyService::Pickup => {
            let key = match svc {
                BodyService::Labels => header_bytes(headers, "apikey").map(<[u8]>::to_vec),
                BodyService::Tracking => body_key("apiKey"),
                _ => body_key("apikey"),
            };
            let legacy = if key.is_none() { legacy_creds(m) } else { None };
            let account = match svc {
                _ if key.is_none() => None,
                BodyService::Labels => {
                    field("contractNumber").or_else(|| free_field(m, "ACCOUNT_NUMBER"))
                }
                // Tracking: every linked account holding the right is asked for the parcel.
                BodyService::Tracking => None,
                _ => field("accountNumber").or_else(|| field("codTiersPourPartenaire")),
            };
            let parcel = match svc {
                BodyService::Tracking => field("parcelNumber"),
                _ => None,
            };
            Credentials {
                key,
                legacy,
                account,
                parcel,
            }
        }
        BodyService::Eligibility => {
            let cred = m.get("credential").and_then(Value::as_object);
            let key = cred
                .and_then(|c| c.get("apiKey"))
                .and_then(Value::as_str)
                .map(|s| s.as_bytes().to_vec());
            let legacy = if key.is_none() {
                cred.and_then(|c| {
                    Some((
                        text(c.get("login"))?,
                        c.get("password")?.as_str()?.to_owned(),
                    ))
                })
            } else {
                None
            };
            Credentials {
                key,
                legacy,
                account: field("partnerClientCode"),
                parcel: None,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------

async fn labels(gw: &Inner, mut r: Req) -> R<Resp> {
    let body = read_body(gw, &mut r).await?;
    let mut m = parse_object(&body)?;
    let c = credentials(BodyService::Labels, &r.headers, &m);
    let p = authenticate(gw, c.key.as_deref(), c.legacy, r.ip).await?;

    // Account: `contractNumber`, or the free field ACCOUNT_NUMBER (key callers only: a legacy
    // caller's contractNumber is its login and it acts for its own account).
    let fields_ok = match m.get("fields") {
        None | Some(Value::Null) => true,
        Some(Value::Object(f)) => matches!(
            f.get("field"),
            None | Some(Value::Null) | Some(Value::Array(_))
        ),
        Some(_) => false,
    };
    if !fields_ok {
        return Err(GatewayError::BadRequest(
            "le champ fields.field doit être un tableau".into(),
        ));
    }
    let link = select(
        gw,
        &p,
        c.account.as_deref(),
        Right::WsPostage,
        "contractNumber",
    )?;

    // Rewrite: credentials, and the stamps that let the tracking tool find the parcel later. A
    // caller cannot stamp someone else's key or tag: any stamp it sent is replaced.
    strip_keys(&mut m);
    m.insert(
        "contractNumber".into(),
        Value::String(link.account.upstream_login.clone()),
    );
    m.insert(
        "password".into(),
        Value::String(link.account.upstream_password.clone()),
    );
    let fields = m.entry("fields").or_insert_with(|| json!({}));
    if fields.is_null() {
        *fields = json!({});
    }
    if let Some(f) = fields.as_object_mut() {
        let list = f.entry("field").or_insert_with(|| json!([]));
        if list.is_null() {
            *list = json!([]);
        }
        if let Some(arr) = list.as_array_mut() {
            arr.retain(|e| {
                !matches!(
                    e.get("key").and_then(Value::as_str),
                    Some("ACCOUNT_NUMBER" | "USER_KEY" | "TAG_USER")
                )
            });
            if let Some(k) = &p.user_key {
                arr.push(json!({"key": "USER_KEY", "value": k.as_str()}));
            }
            if let Some(t) = &p.tag {
                arr.push(json!({"key": "TAG_USER", "value": t.as_str()}));
            }
        }
    }
    let path = r.path_and_query.split('?').next().unwrap_or("");
    let up = gw
        .upstream
        .call(
            "labels",
            Method::POST,
            path,
            json_headers(),
            body_bytes(&m)?,
            timeout(gw, false),
        )
        .await?;
    Ok(pass(upstream_ok(up)?))
}

pub(crate) fn free_field(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get("fields")?
        .get("field")?
        .as_array()?
        .iter()
        .find(|f| f.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|f| text(f.get("value")))
}

// ---------------------------------------------------------------------------------------------
// Tracking (timelineCompany) and tracking v2
// ---------------------------------------------------------------------------------------------

/// Code of a timelineCompany answer (`status[0].code`), read without building the whole JSON
/// tree: serde skips every other field (timelines can be long; this is the proxy's hot path).
pub(crate) fn timeline_code(body: &[u8]) -> Option<String> {
    // Fast path: the carrier writes `status` first, so the code is usually read off the first
    // bytes without scanning the timeline (a few KiB) at all.
    const HEAD: &[u8] = br#"{"status":[{"code":""#;
    if let Some(rest) = body.strip_prefix(HEAD) {
        if let Some(end) = rest.iter().take(16).position(|b| *b == b'"') {
            let code = &rest[..end];
            if code.iter().all(u8::is_ascii_alphanumeric) {
                return std::str::from_utf8(code).ok().map(str::to_owned);
            }
        }
    }
    #[derive(serde::Deserialize)]
    struct Head {
        status: Vec<Code>,
    }
    #[derive(serde::Deserialize)]
    struct Code {
        code: Value,
    }
    let head: Head = serde_json::from_slice(body).ok()?;
    match &head.status.first()?.code {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What asking every account for a parcel gave.
enum Lookup<'p> {
    /// The account that knows the parcel, and its answer.
    Found(&'p Link, UpResp),
    Unknown,
    /// An answer that does not depend on the account (invalid number…): relayed as is.
    Other(UpResp),
}

/// Asks each account (concurrently) for the parcel; the first that knows it and where
/// `visible` accepts it wins. A parcel of another account is unknown upstream, so this finds
/// the parcel's own account. A parcel `visible` refuses (outside the caller's scope) counts as
/// unknown on that account, and the other accounts are still awaited: the answer and its timing
/// are then those of an unknown parcel, whatever the other accounts do (failing, slow).
async fn find_parcel<'p>(
    gw: &Inner,
    links: &[&'p Link],
    parcel: &str,
    extra: &Map<String, Value>,
    visible: impl Fn(&Link, &UpResp) -> bool,
) -> R<Lookup<'p>> {
    let fan = links.len() > 1;
    if fan {
        record_fanout(gw, "tracking", links.len());
    }
    let mut pending: FuturesUnordered<_> = links
        .iter()
        .map(|l| {
            let mut body = extra.clone();
            body.insert(
                "login".into(),
                Value::String(l.account.upstream_login.clone()),
            );
            body.insert(
                "password".into(),
                Value::String(l.account.upstream_password.clone()),
            );
            body.insert("parcelNumber".into(), Value::String(parcel.to_owned()));
            let l: &'p Link = l;
            async move {
                let res = gw
                    .upstream
                    .post_json("tracking", TRACKING, &Value::Object(body), timeout(gw, fan))
                    .await;
                (l, res)
            }
        })
        .collect();
    let mut failure = None;
    let mut other_answer = None;
    while let Some((l, res)) = pending.next().await {
        match res.and_then(upstream_ok) {
            Ok(up) => {
                match timeline_code(&up.body).as_deref() {
                    Some("0") if visible(l, &up) => return Ok(Lookup::Found(l, up)),
                    Some("0" | "105") => {}
                    // (A refusal of the account's own credentials never gets here: the
                    // upstream client turns it into `UpstreamCredentialsRefused`.)
                    _ => other_answer = Some(up),
                }
            }
            Err(e) => failure = Some(e),
        }
    }
    if let Some(up) = other_answer {
        return Ok(Lookup::Other(up));
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(Lookup::Unknown),
    }
}

async fn tracking(gw: &Inner, mut r: Req) -> R<Resp> {
    let body = read_body(gw, &mut r).await?;
    let mut m = parse_object(&body)?;
    let c = credentials(BodyService::Tracking, &r.headers, &m);
    let p = authenticate(gw, c.key.as_deref(), c.legacy, r.ip).await?;
    // Rewrite: the caller's key goes no further (its password is replaced per account below).
    strip_keys(&mut m);
    let parcel = c
        .parcel
        .ok_or_else(|| GatewayError::BadRequest("le champ parcelNumber est obligatoire".into()))?;
    let links: Vec<&Link> = p.with_right(Right::WsTracking).collect();
    if links.is_empty() {
        return Err(GatewayError::Forbidden(Right::WsTracking.id()));
    }
    for l in &links {
        gw.limits.check_account(l.account_id)?;
    }
    // `ws_tracking` covers every parcel of the account: whatever an account finds is visible.
    match find_parcel(gw, &links, &parcel, &m, |_, _| true).await? {
        Lookup::Found(_, up) | Lookup::Other(up) => Ok(pass(up)),
        Lookup::Unknown => Err(GatewayError::UnknownParcel { id: parcel }),
    }
}

async fn tracking_v2(gw: &Inner, r: Req, id: String) -> R<Resp> {
    let key = header_bytes(&r.headers, "x-okapi-key");
    let p = authenticate(gw, key, None, r.ip).await?;
    let id = v2_id(&id)?;
    let links: Vec<&Link> = p.with_right(Right::WsTracking).collect();
    if links.is_empty() {
        return Err(GatewayError::Forbidden(Right::WsTracking.id()));
    }
    for l in &links {
        gw.limits.check_account(l.account_id)?;
    }
    let fan = links.len() > 1;
    if fan {
        record_fanout(gw, "tracking_v2", links.len());
    }
    // Encoded even though a valid id is letters and digits: what goes into the carrier's path
    // never depends on the validation staying that strict.
    let encoded = percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC);
    let path = match r.query.as_deref().and_then(forwarded_query) {
        Some(q) => format!("{V2_PREFIX}{encoded}?{q}"),
        None => format!("{V2_PREFIX}{encoded}"),
    };
    let mut pending: FuturesUnordered<_> = links
        .iter()
        .map(|l| {
            let mut h = HeaderMap::new();
            if let Some(b) = &l.account.basic_auth {
                h.insert(header::AUTHORIZATION, b.clone());
            }
            h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
            let path = path.as_str();
            async move {
                gw.upstream
                    .call(
                        "tracking_v2",
                        Method::GET,
                        path,
                        h,
                        Bytes::new(),
                        timeout(gw, fan),
                    )
                    .await
            }
        })
        .collect();
    let mut failure = None;
    let mut other = None;
    while let Some(res) = pending.next().await {
        match res.and_then(upstream_ok) {
            Ok(up) if up.status == StatusCode::OK => return Ok(pass(up)),
            Ok(up) if up.status == StatusCode::NOT_FOUND => {}
            // (401, the account's own credentials refused, is already an error from the
            // upstream client.)
            Ok(up) => other = Some(up),
            Err(e) => failure = Some(e),
        }
    }
    if let Some(up) = other {
        return Ok(pass(up));
    }
    Err(failure.unwrap_or(GatewayError::UnknownParcel { id }))
}

/// The parcel numbers of a tracking v2 path segment, decoded and each checked against the
/// carrier's syntax ([`ParcelNumber`]: 8 to 20 letters or digits), before anything is
/// forwarded: a decoded `/`, `?` or `#` would otherwise become the carrier's path or query, sent
/// with the account's credentials. Comma-separated ids are each checked on their own.
fn v2_ids(segment: &str) -> R<Vec<String>> {
    percent_decode(segment)
        .split(',')
        .map(|id| {
            ParcelNumber::parse(id)
                .map(|n| n.as_str().to_owned())
                .map_err(|_| {
                    GatewayError::BadRequest(
                        "idShip : numéro de colis invalide (8 à 20 lettres ou chiffres)".into(),
                    )
                })
        })
        .collect()
}

/// The one parcel number of a tracking v2 call.
fn v2_id(segment: &str) -> R<String> {
    let mut ids = v2_ids(segment)?;
    match (ids.pop(), ids.is_empty()) {
        (Some(id), true) => Ok(id),
        _ => Err(GatewayError::BadRequest(
            "idShip : un seul numéro de colis par appel".into(),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Pickup points
// ---------------------------------------------------------------------------------------------

async fn pickup(gw: &Inner, mut r: Req) -> R<Resp> {
    let body = read_body(gw, &mut r).await?;
    let mut m = parse_object(&body)?;
    let c = credentials(BodyService::Pickup, &r.headers, &m);
    let p = authenticate(gw, c.key.as_deref(), c.legacy, r.ip).await?;
    let link = select(
        gw,
        &p,
        c.account.as_deref(),
        Right::WsPickupPoint,
        "accountNumber",
    )?;
    strip_keys(&mut m);
    m.remove("codTiersPourPartenaire");
    m.insert(
        "accountNumber".into(),
        Value::String(link.account.upstream_login.clone()),
    );
    m.insert(
        "password".into(),
        Value::String(link.account.upstream_password.clone()),
    );
    let up = gw
        .upstream
        .call(
            "pickup",
            Method::POST,
            PICKUP,
            json_headers(),
            body_bytes(&m)?,
            timeout(gw, false),
        )
        .await?;
    Ok(pass(upstream_ok(up)?))
}

// ---------------------------------------------------------------------------------------------
// Eligibility
// ---------------------------------------------------------------------------------------------

fn eligibility_body(m: &Map<String, Value>, l: &Link) -> Map<String, Value> {
    let mut b = m.clone();
    strip_keys(&mut b);
    b.insert(
        "credential".into(),
        json!({"login": l.account.upstream_login, "password": l.account.upstream_password}),
    );
    b.insert(
        "partnerClientCode".into(),
        Value::String(l.account.upstream_login.clone()),
    );
    b
}

async fn eligibility(gw: &Inner, mut r: Req) -> R<Resp> {
    let body = read_body(gw, &mut r).await?;
    let m = parse_object(&body)?;
    if !matches!(
        m.get("credential"),
        None | Some(Value::Null) | Some(Value::Object(_))
    ) {
        return Err(GatewayError::BadRequest(
            "le champ credential doit être un objet".into(),
        ));
    }
    let c = credentials(BodyService::Eligibility, &r.headers, &m);
    let is_legacy = c.key.is_none();
    let p = authenticate(gw, c.key.as_deref(), c.legacy, r.ip).await?;
    let explicit = c.account;

    if explicit.is_some() || is_legacy {
        let link = select(
            gw,
            &p,
            explicit.as_deref(),
            Right::WsEligibility,
            "partnerClientCode",
        )?;
        let b = eligibility_body(&m, link);
        let up = gw
            .upstream
            .call(
                "eligibility",
                Method::POST,
                ELIGIBILITY,
                json_headers(),
                body_bytes(&b)?,
                timeout(gw, false),
            )
            .await?;
        return Ok(pass(upstream_ok(up)?));
    }

    // No account named: one answer per linked account holding the right (seed 000 §1).
    let links: Vec<&Link> = p.with_right(Right::WsEligibility).collect();
    if links.is_empty() {
        return Err(GatewayError::Forbidden(Right::WsEligibility.id()));
    }
    record_fanout(gw, "eligibility", links.len());
    let calls = links.iter().map(|l| {
        let b = eligibility_body(&m, l);
        async move {
            gw.limits.check_account(l.account_id)?;
            let up = gw
                .upstream
                .call(
                    "eligibility",
                    Method::POST,
                    ELIGIBILITY,
                    json_headers(),
                    body_bytes(&b)?,
                    timeout(gw, true),
                )
                .await?;
            upstream_ok(up)
        }
    });
    let results = futures_util::future::join_all(calls).await;
    /// One account's answer. Fields in alphabetical order, as the rest of the envelope.
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        #[serde(rename = "accountNumber")]
        account: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<Value>,
        /// The carrier's answer as received (checked to be JSON, not rebuilt: with 20
        /// accounts, parsing and re-serialising every offer list was most of the merge).
        #[serde(skip_serializing_if = "Option::is_none")]
        response: Option<Box<serde_json::value::RawValue>>,
        status: &'static str,
    }
    let failed = |account, error| Answer {
        account,
        error: Some(error),
        response: None,
        status: "error",
    };
    let answers: Vec<Answer> = links
        .iter()
        .zip(results)
        .map(|(l, res)| match res {
            Ok(up) if up.status.is_success() => {
                match serde_json::from_slice::<Box<serde_json::value::RawValue>>(&up.body) {
                    Ok(raw) => Answer {
                        account: l.number.as_str(),
                        error: None,
                        response: Some(raw),
                        status: "ok",
                    },
                    Err(_) => failed(
                        l.number.as_str(),
                        json!({"code": "upstream_error", "message": "Réponse illisible"}),
                    ),
                }
            }
            Ok(up) => {
                let msg = up
                    .json()
                    .and_then(|v| {
                        v.pointer("/messages/0/messageContent")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| "Erreur du service".to_owned());
                failed(
                    l.number.as_str(),
                    json!({"code": up.status.as_u16(), "message": msg}),
                )
            }
            Err(e) => failed(l.number.as_str(), account_error(&e)),
        })
        .collect();
    #[derive(serde::Serialize)]
    struct Answers<'a> {
        answers: Vec<Answer<'a>>,
    }
    let body = serde_json::to_vec(&Answers { answers })
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(bytes_resp(
        StatusCode::OK,
        "application/json;charset=UTF-8",
        Bytes::from(body),
    ))
}

// ---------------------------------------------------------------------------------------------
// URL tracking link
// ---------------------------------------------------------------------------------------------

/// Finds a parcel among the accounts where the caller holds a tracking-tool right, and checks
/// that the right's scope covers it. `Ok(None)`: unknown or out of scope (indistinguishable).
async fn visible_parcel<'p>(
    gw: &Inner,
    p: &'p Principal,
    parcel: &str,
    cs_only: bool,
) -> R<Option<(&'p Link, Value)>> {
    let scope_of = |l: &Link| {
        if cs_only {
            l.rights.scope(ScopedRight::TrackingToolCs)
        } else {
            Principal::tool_scope(l)
        }
    };
    let links: Vec<&Link> = p.links.iter().filter(|l| !scope_of(l).is_none()).collect();
    if links.is_empty() {
        return Ok(None);
    }
    for l in &links {
        gw.limits.check_account(l.account_id)?;
    }
    let in_scope = |l: &Link, v: &Value| {
        let parcel = v.get("parcel");
        let field = |k: &str| parcel.and_then(|x| x.get(k)).and_then(Value::as_str);
        p.in_scope(scope_of(l), field("userKey"), field("tag"))
    };
    // The scope is checked while the accounts answer (out of scope ≡ unknown, see
    // `find_parcel`). Invalid parcel number etc.: for the tool, that is simply "not found".
    let lookup = find_parcel(gw, &links, parcel, &Map::new(), |l, up| {
        up.json().is_some_and(|v| in_scope(l, &v))
    })
    .await?;
    let Lookup::Found(l, up) = lookup else {
        return Ok(None);
    };
    let v = up
        .json()
        .ok_or_else(|| GatewayError::UpstreamUnavailable("unreadable tracking answer".into()))?;
    Ok(Some((l, v)))
}

async fn link(gw: &Inner, r: Req) -> R<Resp> {
    let q = r.query.as_deref();
    let key = query_param(q, "apikey");
    let cab = query_param(q, "cab");
    let p = authenticate(gw, key.as_deref().map(str::as_bytes), None, r.ip).await?;
    let Some(cab) = cab.map(|c| c.to_ascii_uppercase()) else {
        return Err(GatewayError::UnknownParcel { id: String::new() });
    };
    let Some((_, v)) = visible_parcel(gw, &p, &cab, false).await? else {
        return Err(GatewayError::UnknownParcel { id: cab });
    };
    if wants_json(&r.headers) {
        let mut out = json!({"parcel": v.get("parcel").cloned().unwrap_or(Value::Null)});
        if let Some(msg) = v.get("message") {
            out["message"] = msg.clone();
        }
        return Ok(json_resp(StatusCode::OK, &out));
    }
    Ok(html_resp(StatusCode::OK, parcel_page(&v)))
}

/// The parcel's timeline and details ("fiche colis"), as the carrier's page shows them.
pub(crate) fn parcel_page(v: &Value) -> String {
    let p = v.get("parcel").cloned().unwrap_or(Value::Null);
    let s = |ptr: &str| -> String {
        match p.pointer(ptr) {
            Some(Value::String(s)) => html_escape(s),
            Some(Value::Number(n)) => n.to_string(),
            _ => "—".to_owned(),
        }
    };
    let mut events = String::new();
    if let Some(list) = p.get("event").and_then(Value::as_array) {
        for e in list {
            let g = |k: &str| html_escape(e.get(k).and_then(Value::as_str).unwrap_or(""));
            let date = g("date");
            events.push_str(&format!(
                "<li><span class=\"date\">{}</span> <strong>{}</strong> <span class=\"site\">{}</span></li>\n",
                date.get(..10).unwrap_or(&date),
                g("labelLong"),
                g("siteName")
            ));
        }
    }
    let mut steps = String::new();
    if let Some(list) = p.get("step").and_then(Value::as_array) {
        for st in list {
            let active = st.get("status").and_then(Value::as_str) == Some("STEP_STATUS_ACTIVE");
            steps.push_str(&format!(
                "<li class=\"{}\">{}</li>",
                if active { "on" } else { "off" },
                html_escape(st.get("labelShort").and_then(Value::as_str).unwrap_or(""))
            ));
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Colis n° {num}</title>\
<style>body{{font-family:sans-serif;background:#f4f4f4;margin:0}}main{{max-width:860px;margin:24px auto;background:#fff;padding:24px}}\
ol.steps{{display:flex;list-style:none;padding:0;gap:8px}}ol.steps li{{flex:1;padding:8px;border-top:4px solid #ccc;font-size:13px}}\
ol.steps li.on{{border-color:#ffb400;font-weight:bold}}table{{border-collapse:collapse}}td,th{{padding:4px 12px;text-align:left}}\
.date{{color:#666}}</style></head><body><main>\n<h1>Colis n° {num}</h1>\n<p class=\"status\">{status}</p>\n\
<ol class=\"steps\">{steps}</ol>\n<h2>Détails du colis</h2>\n<table>\
<tr><th>Produit</th><td>{product}</td></tr><tr><th>Poids annoncé</th><td>{weight} kg</td></tr>\
<tr><th>Date de dépôt</th><td>{deposit}</td></tr><tr><th>Destinataire</th><td>{name}, {zip} {city} {country}</td></tr>\
</table>\n<h2>Timeline</h2>\n<ul class=\"events\">\n{events}</ul>\n</main></body></html>\n",
        num = s("/parcelNumber"),
        status = s("/statusLabel"),
        steps = steps,
        product = s("/product"),
        weight = s("/weight"),
        deposit = s("/depositDate"),
        name = s("/recipient/name"),
        zip = s("/recipient/postalCode"),
        city = s("/recipient/city"),
        country = s("/recipient/country"),
        events = events,
    )
}

// ---------------------------------------------------------------------------------------------
// Sesame's own endpoints: parcel search, claims
// ---------------------------------------------------------------------------------------------

/// Sesame's own endpoints authenticate with the `apiKey` header.
async fn own_auth(gw: &Inner, r: &Req) -> R<Arc<Principal>> {
    authenticate(gw, header_bytes(&r.headers, "apikey"), None, r.ip).await
}

/// Filters of the parcel search, from the query string.
#[derive(Debug, Default, Clone)]
pub struct ParcelFilter {
    pub account: Option<String>,
    pub parcel_number: Option<String>,
    pub reference: Option<String>,
    pub recipient: Option<String>,
    pub postal_code: Option<String>,
    pub status: Option<String>,
    pub country: Option<String>,
}

fn contains_ci(hay: Option<&str>, needle: &str) -> bool {
    hay.is_some_and(|h| h.to_lowercase().contains(&needle.to_lowercase()))
}

impl ParcelFilter {
    pub(crate) fn matches(&self, p: &Value) -> bool {
        let f = |k: &str| p.get(k).and_then(Value::as_str);
        self.parcel_number
            .as_deref()
            .is_none_or(|n| f("parcelNumber").is_some_and(|x| x.eq_ignore_ascii_case(n)))
            && self
                .reference
                .as_deref()
                .is_none_or(|n| contains_ci(f("reference"), n))
            && self
                .recipient
                .as_deref()
                .is_none_or(|n| contains_ci(f("recipientName"), n))
            && self
                .postal_code
                .as_deref()
                .is_none_or(|n| f("postalCode").is_some_and(|x| x.starts_with(n)))
            && self
                .status
                .as_deref()
                .is_none_or(|n| f("status").is_some_and(|x| x.eq_ignore_ascii_case(n)))
            && self
                .country
                .as_deref()
                .is_none_or(|n| contains_ci(f("country"), n))
    }
}

/// Per-account results of a fan-out over Sesame's private upstream API.
struct Fanned {
    items: Vec<Value>,
    accounts: Vec<Value>,
}

/// Calls `path` for every link with `body_extra`, keeps the array at `field` filtered by `keep`.
async fn fan_private<F>(
    gw: &Inner,
    route: &str,
    links: &[&Link],
    path: &str,
    extra: &Map<String, Value>,
    field: &str,
    keep: F,
) -> Fanned
where
    F: Fn(&Link, &Value) -> bool,
{
    record_fanout(gw, route, links.len());
    let calls = links.iter().map(|l| {
        let mut body = private_creds(l);
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
        async move {
            gw.limits.check_account(l.account_id)?;
            let up = gw
                .upstream
                .post_json(
                    route_service(route),
                    path,
                    &Value::Object(body),
                    timeout(gw, true),
                )
                .await?;
            let up = upstream_ok(up)?;
            if !up.status.is_success() {
                return Err(GatewayError::UpstreamUnavailable(format!(
                    "upstream answered {}",
                    up.status
                )));
            }
            up.json()
                .ok_or_else(|| GatewayError::UpstreamUnavailable("unreadable answer".into()))
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let mut items = Vec::new();
    let mut accounts = Vec::new();
    for (l, res) in links.iter().zip(results) {
        match res {
            Ok(v) => {
                keep_items(&mut items, l, v, field, &keep);
                accounts.push(account_ok(l));
            }
            Err(e) => accounts.push(json!({"accountNumber": l.number.as_str(), "status": "error", "error": account_error(&e)})),
        }
    }
    Fanned { items, accounts }
}

/// Merge phase of a fan-out: moves the items of one account's answer (the array at `field`)
/// that `keep` accepts into `items` (moved, not copied: answers can hold thousands).
pub(crate) fn keep_items<F>(
    items: &mut Vec<Value>,
    l: &Link,
    mut answer: Value,
    field: &str,
    keep: &F,
) where
    F: Fn(&Link, &Value) -> bool,
{
    if let Some(Value::Array(list)) = answer.get_mut(field).map(Value::take) {
        items.extend(list.into_iter().filter(|x| keep(l, x)));
    }
}

/// An account that answered, in a fanned-out answer's `accounts`.
pub(crate) fn account_ok(l: &Link) -> Value {
    json!({"accountNumber": l.number.as_str(), "status": "ok"})
}

/// Filter phase of the parcel search: only the account's own parcels, inside what the caller's
/// scope covers on that link (out of scope ≡ unknown), matching the caller's filter.
pub(crate) fn keep_parcel(p: &Principal, l: &Link, filter: &ParcelFilter, parcel: &Value) -> bool {
    parcel.get("accountNumber").and_then(Value::as_str) == Some(l.number.as_str())
        && p.in_scope(
            Principal::tool_scope(l),
            parcel.get("userKey").and_then(Value::as_str),
            parcel.get("tag").and_then(Value::as_str),
        )
        && filter.matches(parcel)
}

/// Most recent first by the `date` field, then by the `id` field (dates are ISO 8601: text
/// order is time order). Compares borrowed strings: no allocation per comparison.
fn sort_recent_first(items: &mut [Value], date: &str, id: &str) {
    fn s<'a>(x: &'a Value, k: &str) -> &'a str {
        x.get(k).and_then(Value::as_str).unwrap_or("")
    }
    items.sort_by(|a, b| {
        s(b, date)
            .cmp(s(a, date))
            .then_with(|| s(a, id).cmp(s(b, id)))
    });
}

/// Most recent deposit first, then by parcel number.
pub(crate) fn sort_parcels(parcels: &mut [Value]) {
    sort_recent_first(parcels, "depositDate", "parcelNumber");
}

/// Page `page` (from 1) of `size` sorted items, with the paging fields every list answers with:
/// `{"total", "page", "pageSize", "pages", <field>: [...], "accounts"}`.
fn page_answer(
    items: Vec<Value>,
    field: &str,
    page: usize,
    size: usize,
    accounts: Vec<Value>,
) -> Value {
    let total = items.len();
    let pages = total.div_ceil(size).max(1);
    let page_items: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    let mut m = Map::new();
    m.insert("total".into(), json!(total));
    m.insert("page".into(), json!(page));
    m.insert("pageSize".into(), json!(size));
    m.insert("pages".into(), json!(pages));
    m.insert(field.into(), Value::Array(page_items));
    m.insert("accounts".into(), Value::Array(accounts));
    Value::Object(m)
}

/// Page `page` (from 1) of sorted parcels, as the search answers it.
pub(crate) fn parcel_page_answer(parcels: Vec<Value>, page: usize, accounts: Vec<Value>) -> Value {
    page_answer(parcels, "parcels", page, PAGE_SIZE, accounts)
}

/// `page` of a list request: from 1 (default 1).
pub(crate) fn page_param(q: Option<&str>) -> R<usize> {
    match query_param(q, "page") {
        None => Ok(1),
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| GatewayError::BadRequest("page : entier positif attendu".into())),
    }
}

fn route_service(route: &str) -> &'static str {
    match route {
        "parcel_search" => "tracking_tool",
        "invoices" => "invoices",
        _ => "private",
    }
}

pub(crate) fn period(q: Option<&str>) -> R<Map<String, Value>> {
    let mut m = Map::new();
    for k in ["from", "to"] {
        if let Some(v) = query_param(q, k) {
            if chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d").is_err() {
                return Err(GatewayError::BadRequest(format!(
                    "{k} : date attendue au format AAAA-MM-JJ"
                )));
            }
            m.insert(k.into(), Value::String(v));
        }
    }
    Ok(m)
}

/// Links for an optional `account` filter among those passing `has`.
fn scoped_links<'p>(
    p: &'p Principal,
    account: Option<&str>,
    right: &'static str,
    has: impl Fn(&Link) -> bool,
) -> R<Vec<&'p Link>> {
    let links: Vec<&Link> = p
        .links
        .iter()
        .filter(|l| has(l))
        .filter(|l| account.is_none_or(|a| l.number.as_str() == a))
        .collect();
    if links.is_empty() {
        return Err(GatewayError::Forbidden(right));
    }
    Ok(links)
}

async fn search(gw: &Inner, r: Req) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let q = r.query.as_deref();
    let filter = ParcelFilter {
        account: query_param(q, "account"),
        parcel_number: query_param(q, "parcelNumber"),
        reference: query_param(q, "reference"),
        recipient: query_param(q, "recipient"),
        postal_code: query_param(q, "postalCode"),
        status: query_param(q, "status"),
        country: query_param(q, "country"),
    };
    let page = page_param(q)?;
    let csv_out = query_param(q, "format").is_some_and(|f| f.eq_ignore_ascii_case("csv"));
    let extra = period(q)?;
    let links = scoped_links(
        &p,
        filter.account.as_deref(),
        ScopedRight::TrackingTool.id(),
        |l| !Principal::tool_scope(l).is_none(),
    )?;
    let fanned = fan_private(
        gw,
        "parcel_search",
        &links,
        "/tracking-tool/v1/parcels/search",
        &extra,
        "parcels",
        |l, parcel| keep_parcel(&p, l, &filter, parcel),
    )
    .await;
    let mut parcels = fanned.items;
    sort_parcels(&mut parcels);
    if csv_out {
        return parcels_csv(&parcels);
    }
    Ok(json_resp(
        StatusCode::OK,
        &parcel_page_answer(parcels, page, fanned.accounts),
    ))
}

pub(crate) fn parcels_csv(parcels: &[Value]) -> R<Resp> {
    // The shared export writer: BOM, `;`, and every cell defused against formula injection
    // (references and recipient names are whatever the sender typed).
    let mut w = sesame_domain::csv::Writer::new();
    let cols = [
        ("accountNumber", "N° compte client"),
        ("parcelNumber", "N° de colis"),
        ("reference", "Réf. Client"),
        ("recipientName", "Destinataire"),
        ("postalCode", "Code postal"),
        ("statusLabel", "Statut"),
        ("location", "Localisation"),
        ("country", "Pays"),
        ("depositDate", "Date de dépôt"),
    ];
    let err = |e: sesame_domain::csv::Error| GatewayError::Internal(e.to_string());
    w.record(cols.iter().map(|c| c.1)).map_err(err)?;
    for p in parcels {
        w.record(cols.iter().map(|(k, _)| match p.get(*k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }))
        .map_err(err)?;
    }
    let out = w.finish().map_err(err)?;
    let mut resp = bytes_resp(StatusCode::OK, "text/csv; charset=utf-8", Bytes::from(out));
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"colis.csv\""),
    );
    Ok(resp)
}

async fn claim(gw: &Inner, mut r: Req, id: String) -> R<Resp> {
    let body = read_body(gw, &mut r).await?;
    let m = parse_object(&body)?;
    let p = own_auth(gw, &r).await?;
    if p.links
        .iter()
        .all(|l| l.rights.scope(ScopedRight::TrackingToolCs).is_none())
    {
        return Err(GatewayError::Forbidden(ScopedRight::TrackingToolCs.id()));
    }
    let id = percent_decode(&id).trim().to_ascii_uppercase();
    let Some((l, _)) = visible_parcel(gw, &p, &id, true).await? else {
        return Err(GatewayError::UnknownParcel { id });
    };
    let mut b = private_creds(l);
    for k in ["reason", "comment"] {
        if let Some(v) = m.get(k) {
            b.insert(k.into(), v.clone());
        }
    }
    let path = format!("/tracking-tool/v1/parcels/{id}/claims");
    let up = gw
        .upstream
        .post_json(
            "tracking_tool",
            &path,
            &Value::Object(b),
            timeout(gw, false),
        )
        .await?;
    let up = upstream_ok(up)?;
    if up.status == StatusCode::NOT_FOUND {
        return Err(GatewayError::UnknownParcel { id });
    }
    Ok(pass(up))
}

// ---------------------------------------------------------------------------------------------
// Invoices
// ---------------------------------------------------------------------------------------------

fn invoice_scope(l: &Link) -> Scope {
    l.rights.scope(ScopedRight::Invoices)
}

fn invoice_visible(p: &Principal, l: &Link, inv: &Value) -> bool {
    inv.get("accountNumber").and_then(Value::as_str) == Some(l.number.as_str())
        && p.doc_in_scope(
            invoice_scope(l),
            inv.get("contactUserKey").and_then(Value::as_str),
            inv.get("department").and_then(Value::as_str),
        )
}

async fn invoices(gw: &Inner, r: Req) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let q = r.query.as_deref();
    let account = query_param(q, "account");
    let company = query_param(q, "company");
    let number = query_param(q, "number");
    let extra = period(q)?;
    let page = page_param(q)?;
    let size = match query_param(q, "pageSize") {
        None => PAGE_SIZE,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=MAX_INVOICE_PAGE).contains(n))
            .ok_or_else(|| {
                GatewayError::BadRequest(format!(
                    "pageSize : entier de 1 à {MAX_INVOICE_PAGE} attendu"
                ))
            })?,
    };
    let links = scoped_links(&p, account.as_deref(), ScopedRight::Invoices.id(), |l| {
        !invoice_scope(l).is_none()
    })?;
    let fanned = fan_private(
        gw,
        "invoices",
        &links,
        "/invoices/v1/list",
        &extra,
        "invoices",
        |l, inv| {
            invoice_visible(&p, l, inv)
                && company
                    .as_deref()
                    .is_none_or(|c| contains_ci(inv.get("company").and_then(Value::as_str), c))
                && number
                    .as_deref()
                    .is_none_or(|n| contains_ci(inv.get("number").and_then(Value::as_str), n))
        },
    )
    .await;
    let mut list = fanned.items;
    sort_recent_first(&mut list, "date", "number");
    Ok(json_resp(
        StatusCode::OK,
        &page_answer(list, "invoices", page, size, fanned.accounts),
    ))
}

/// Checks that `number` of account `l` is visible to the caller (listing it upstream), then
/// downloads its PDF.
async fn fetch_visible_pdf(gw: &Inner, p: &Principal, l: &Link, number: &str) -> R<UpResp> {
    gw.limits.check_account(l.account_id)?;
    let up = gw
        .upstream
        .post_json(
            "invoices",
            "/invoices/v1/list",
            &Value::Object(private_creds(l)),
            timeout(gw, false),
        )
        .await?;
    let up = upstream_ok(up)?;
    let v = up
        .json()
        .ok_or_else(|| GatewayError::UpstreamUnavailable("unreadable answer".into()))?;
    let visible = v
        .get("invoices")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter().any(|i| {
                i.get("number").and_then(Value::as_str) == Some(number) && invoice_visible(p, l, i)
            })
        });
    if !visible {
        return Err(GatewayError::UnknownInvoice);
    }
    let path = format!("/invoices/v1/{number}/pdf");
    let up = gw
        .upstream
        .post_json(
            "invoices",
            &path,
            &Value::Object(private_creds(l)),
            timeout(gw, false),
        )
        .await?;
    let up = upstream_ok(up)?;
    if !up.status.is_success() {
        return Err(GatewayError::UnknownInvoice);
    }
    Ok(up)
}

fn invoice_link<'p>(p: &'p Principal, account: &str) -> R<&'p Link> {
    p.link(account)
        .filter(|l| !invoice_scope(l).is_none())
        .ok_or(GatewayError::Forbidden(ScopedRight::Invoices.id()))
}

fn valid_invoice_number(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 40
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn invoice_pdf(gw: &Inner, r: Req, account: String, number: String) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let number = percent_decode(&number);
    if !valid_invoice_number(&number) {
        return Err(GatewayError::UnknownInvoice);
    }
    let l = invoice_link(&p, &account)?;
    let up = fetch_visible_pdf(gw, &p, l, &number).await?;
    Ok(pass(up))
}

async fn invoice_zip(gw: &Inner, mut r: Req) -> R<Resp> {
    let body = read_body(gw, &mut r).await?;
    let m = parse_object(&body)?;
    let p = own_auth(gw, &r).await?;
    let list = m.get("invoices").and_then(Value::as_array).ok_or_else(|| {
        GatewayError::BadRequest(
            "le champ invoices (tableau de {accountNumber, number}) est obligatoire".into(),
        )
    })?;
    if list.is_empty() || list.len() > MAX_ZIP {
        return Err(GatewayError::BadRequest(format!(
            "de 1 à {MAX_ZIP} factures par archive"
        )));
    }
    let mut wanted = Vec::with_capacity(list.len());
    for item in list {
        let acc = text(item.get("accountNumber")).ok_or_else(|| {
            GatewayError::BadRequest("invoices[].accountNumber est obligatoire".into())
        })?;
        let num = text(item.get("number"))
            .ok_or_else(|| GatewayError::BadRequest("invoices[].number est obligatoire".into()))?;
        if !valid_invoice_number(&num) {
            return Err(GatewayError::UnknownInvoice);
        }
        let l = invoice_link(&p, &acc)?;
        wanted.push((l, num));
    }
    record_fanout(gw, "invoice_zip", wanted.len());
    let pdfs =
        futures_util::future::join_all(wanted.iter().map(|(l, n)| fetch_visible_pdf(gw, &p, l, n)))
            .await;
    let mut entries = Vec::with_capacity(pdfs.len());
    for ((l, n), res) in wanted.iter().zip(pdfs) {
        entries.push((format!("{}_{}.pdf", l.number.as_str(), n), res?.body));
    }
    let mut resp = bytes_resp(
        StatusCode::OK,
        "application/zip",
        Bytes::from(crate::zip::build(&entries)),
    );
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"factures.zip\""),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let post = Method::POST;
        assert_eq!(
            route(&post, "/sls-ws/SlsServiceWSRest/2.0/generateLabel"),
            Route::Labels
        );
        assert_eq!(
            route(&post, "/sls-ws/SlsServiceWSRest/3.1/checkGenerateLabel"),
            Route::Labels
        );
        assert_eq!(
            route(&post, "/sls-ws/SlsServiceWSRest/9.9/generateLabel"),
            Route::NotFound
        );
        assert_eq!(
            route(&Method::GET, "/suivi/v2/idships/6A123"),
            Route::TrackingV2("6A123".into())
        );
        assert_eq!(
            route(&Method::GET, "/suivi/v2/idships/a/b"),
            Route::NotFound
        );
        assert_eq!(
            route(&post, "/sesame/v1/parcels/6A1/claims"),
            Route::Claim("6A1".into())
        );
        assert_eq!(
            route(&Method::GET, "/sesame/v1/invoices/123456/F-1/pdf"),
            Route::InvoicePdf("123456".into(), "F-1".into())
        );
        assert_eq!(route(&post, "/sesame/v1/invoices/zip"), Route::InvoiceZip);
        assert_eq!(
            route(&Method::GET, "/entreprise/colis/login/parcel"),
            Route::Link
        );
        assert_eq!(route(&Method::GET, "/"), Route::NotFound);
    }

    #[test]
    fn timeline_code_fast_path_agrees_with_the_parser() {
        let code = |b: &[u8]| timeline_code(b);
        assert_eq!(
            code(br#"{"status":[{"code":"0","message":"ok"}],"parcel":{}}"#).as_deref(),
            Some("0")
        );
        // Not first, a number, an escape: the full parse.
        assert_eq!(
            code(br#"{"parcel":{},"status":[{"code":"105"}]}"#).as_deref(),
            Some("105")
        );
        assert_eq!(
            code(br#"{"status":[{"code":201}]}"#).as_deref(),
            Some("201")
        );
        assert_eq!(
            code(br#"{"status":[{"code":"a\"b"}]}"#).as_deref(),
            Some("a\"b")
        );
        assert_eq!(code(br#"{"status":[{"code":""#), None);
        assert_eq!(code(b"garbage"), None);
    }

    #[test]
    fn query_parameters() {
        let q = Some("apikey=ABC&cab=6A%2012&empty=&recipient=Jean+Dupont&bad=%zz");
        assert_eq!(query_param(q, "apikey").as_deref(), Some("ABC"));
        assert_eq!(query_param(q, "cab").as_deref(), Some("6A 12"));
        assert_eq!(query_param(q, "empty"), None);
        assert_eq!(query_param(q, "recipient").as_deref(), Some("Jean Dupont"));
        assert_eq!(query_param(q, "bad").as_deref(), Some("%zz"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    /// Found by the `query_decode` fuzz target (fuzz/corpus/query_decode/crash-percent-sign-digit):
    /// `u8::from_str_radix` accepts a leading `+`, so `%+2` decoded to the byte 0x02.
    #[test]
    fn percent_followed_by_a_sign_is_literal_not_a_control_byte() {
        assert_eq!(percent_decode("%+2"), "% 2");
        assert_eq!(percent_decode("%+a%-1"), "% a%-1");
        assert_eq!(
            query_param(Some("cab=6A%+0"), "cab").as_deref(),
            Some("6A% 0")
        );
    }

    #[test]
    fn legacy_credentials_need_a_login_and_a_password() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            legacy_creds(&m(json!({"contractNumber": 123456, "password": "p"}))),
            Some(("123456".into(), "p".into()))
        );
        assert_eq!(
            legacy_creds(&m(json!({"login": "jdupont", "password": "p"}))),
            Some(("jdupont".into(), "p".into()))
        );
        assert_eq!(legacy_creds(&m(json!({"login": "jdupont"}))), None);
        assert_eq!(legacy_creds(&m(json!({"password": "p"}))), None);
    }
}
