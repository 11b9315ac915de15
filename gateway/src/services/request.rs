//! Phase 1 (parse): the request as handlers see it, its body read within the limit, JSON
//! objects, query parameters and percent-decoding.

use std::net::IpAddr;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Uri};
use http_body_util::{BodyExt, Limited};
use serde_json::{Map, Value};

use crate::error::{GatewayError, R};

/// A request body as the serve loop hands it over: with its stall and whole-body clocks.
pub(crate) type ReqBody = sesame_serve::TimedBody;

/// An incoming request, split for the handlers (nothing copied: the URI, headers and body are
/// hyper's own).
pub(crate) struct Req {
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: ReqBody,
    /// The caller's address (`client_ip`): the throttle of failed attempts counts on it.
    pub ip: IpAddr,
}

impl Req {
    pub fn new(req: http::Request<ReqBody>, ip: IpAddr) -> Req {
        let (parts, body) = req.into_parts();
        Req {
            uri: parts.uri,
            headers: parts.headers,
            body,
            ip,
        }
    }

    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    pub fn path(&self) -> &str {
        self.uri.path()
    }
}

/// Reads the whole body within `max` bytes.
pub(crate) async fn read_body(body: ReqBody, headers: &HeaderMap, max: usize) -> R<Bytes> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > max as u64 {
            return Err(GatewayError::PayloadTooLarge);
        }
    }
    // Frames gathered by hand rather than with `collect()`: a body in one frame (most are)
    // is handed on as that frame's bytes, with no list of buffers allocated around it.
    let mut body = Limited::new(body, max);
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| unreadable(&*e))?.into_data() else {
            continue; // trailers: nothing a service reads
        };
        match (&mut first, &mut more) {
            (None, _) => first = Some(data),
            (Some(f), None) => {
                let mut all = BytesMut::with_capacity(f.len() + data.len());
                all.extend_from_slice(f);
                all.extend_from_slice(&data);
                more = Some(all);
            }
            (Some(_), Some(all)) => all.extend_from_slice(&data),
        }
    }
    Ok(match (first, more) {
        (_, Some(all)) => all.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}

/// Why a body could not be read, as the services answer it.
fn unreadable(e: &(dyn std::error::Error + Send + Sync + 'static)) -> GatewayError {
    if e.downcast_ref::<http_body_util::LengthLimitError>()
        .is_some()
    {
        GatewayError::PayloadTooLarge
    } else if sesame_serve::is_body_timeout(e) {
        GatewayError::RequestTimeout
    } else {
        GatewayError::BadRequest("corps de requête illisible".into())
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

pub(crate) fn header_bytes<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    h.get(name)
        .map(HeaderValue::as_bytes)
        .filter(|b| !b.is_empty())
}

pub(crate) fn wants_json(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// One query parameter, names and values percent-decoded; `None` when absent or blank.
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

/// Form decoding of a query component: `+` is a space, `%XX` (two hexadecimal digits, nothing
/// else: `%+2` stays literal) a byte; invalid UTF-8 becomes U+FFFD.
pub(crate) fn percent_decode(s: &str) -> String {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    if s.contains('+') {
        // Spaces first: an encoded plus (`%2B`) stays a plus.
        decode(&s.replace('+', " "))
    } else {
        decode(s)
    }
}
