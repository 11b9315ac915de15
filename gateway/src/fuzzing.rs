//! Fuzzing hooks for `fuzz/` (cargo fuzz, libFuzzer): thin wrappers over the gateway's own parse
//! and render functions, so the fuzz targets exercise exactly the code a hostile request reaches
//! without sockets, a database or a runtime. Only built with the `fuzzing` feature; not an API.

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;
use serde_json::{Map, Value};

pub use crate::envelope::{Envelope, Lang};
use crate::error::GatewayError;
use crate::response::{html_escape, Resp};
use crate::services;
/// The web services whose body carries the key or the account (their parse phase).
pub use crate::services::Service as BodyService;
pub use crate::services::{Credentials, Service};

/// Where the router sends a request, as text: `NotFound`, `TrackingV2`, …
pub fn route(method: &Method, path: &str) -> String {
    format!("{:?}", services::route(method, path))
}

/// The path parameters the router borrowed out of the path (v2 parcel id, claim id, invoice
/// account and number), for the targets' invariants on them.
pub fn route_params(method: &Method, path: &str) -> Vec<String> {
    services::route_params(services::route(method, path), path)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The envelope an error on this route is rendered in (depends on `Accept` for the link, on
/// the query's `lang` for tracking v2).
pub fn route_service(method: &Method, path: &str, headers: &HeaderMap) -> Envelope {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    services::route(method, path).envelope(headers, query)
}

/// The parse phase of a body-carrying service: JSON object, then the key, legacy login/password,
/// account and parcel read where that service's clients put them.
pub fn body_credentials(
    svc: BodyService,
    api_key_header: Option<&[u8]>,
    body: &[u8],
) -> Result<(Map<String, Value>, Credentials), GatewayError> {
    let m = services::parse_object(body)?;
    let mut h = HeaderMap::new();
    if let Some(v) = api_key_header.and_then(|b| HeaderValue::from_bytes(b).ok()) {
        h.insert("apikey", v);
    }
    let c = services::credentials(svc, &h, &m);
    Ok((m, c))
}

/// The labels free field lookup (`fields.field[].key == key`).
pub fn free_field(m: &Map<String, Value>, key: &str) -> Option<String> {
    services::free_field(m, key)
}

/// Whether the tracking and pickup paths' in-place reading of a body (`services/members.rs`)
/// agrees with the general parser; `Err` says where not.
pub fn members_agree(body: &[u8]) -> Result<(), String> {
    services::agrees_with_map(body)
}

/// The code of a timelineCompany answer (fast path, then the parser).
pub fn timeline_code(body: &[u8]) -> Option<String> {
    services::timeline_code(body).map(|c| c.into_owned())
}

/// One query-string parameter, decoded (tracking link `apikey`/`cab`, search filters, …).
pub fn query_param(q: Option<&str>, name: &str) -> Option<String> {
    services::query_param(q, name)
}

/// The gateway's percent-decoder (query values, v2 parcel ids, invoice numbers).
pub fn percent_decode(s: &str) -> String {
    services::percent_decode(s)
}

/// The search's `page` and `from`/`to` query parameters.
pub fn search_params(q: Option<&str>) -> Result<(usize, Map<String, Value>), GatewayError> {
    Ok((services::page_param(q)?, services::period(q)?))
}

/// The HTML escaper of the gateway's pages.
pub fn escape(s: &str) -> String {
    html_escape(s).into_owned()
}

/// The tracking link's parcel page ("fiche colis") for a carrier answer.
pub fn parcel_page(v: &Value) -> String {
    services::parcel_page(v)
}

/// An error rendered in a service's envelope: status, content type and body.
pub fn error_answer(
    e: GatewayError,
    envelope: Envelope,
    portal_url: &str,
) -> (u16, String, Vec<u8>) {
    resp_parts(e.into_response(envelope, portal_url))
}

/// The parcel search's CSV export of already filtered parcels.
pub fn parcels_csv(parcels: &[Value]) -> Result<Vec<u8>, GatewayError> {
    Ok(resp_parts(services::parcels_csv(parcels)?).2)
}

/// The multi-invoice ZIP archive.
pub fn zip(entries: &[(String, Bytes)]) -> Vec<u8> {
    crate::zip::build(entries)
}

/// A rendered answer's parts. The bodies are `Full` (in memory), so collecting them completes on
/// the first poll: no runtime needed.
fn resp_parts(r: Resp) -> (u16, String, Vec<u8>) {
    let (parts, body) = r.into_parts();
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = match body.collect().now_or_never() {
        Some(Ok(c)) => c.to_bytes().to_vec(),
        // `Full`'s error type is `Infallible` and it is ready at once.
        _ => Vec::new(),
    };
    (parts.status.as_u16(), ct, bytes)
}

/// The carrier-side codec (`upstream/h1.rs`) reading one answer off `wire`, delivered whole and
/// then `step` bytes at a time: `(status, body, reusable)` or the fault, for each delivery (the
/// target checks that they agree and that the limit holds).
pub fn upstream_answer(
    wire: &[u8],
    step: usize,
    max_body: usize,
) -> [Result<(u16, Vec<u8>, bool), String>; 2] {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    struct Trickle<'a>(&'a [u8], usize);
    impl tokio::io::AsyncRead for Trickle<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            out: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let n = self.1.min(self.0.len()).min(out.remaining());
            out.put_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Poll::Ready(Ok(()))
        }
    }
    let read = |step: usize| {
        let mut io = Trickle(wire, step.max(1));
        let mut buf = bytes::BytesMut::new();
        // The reader never waits, so the future finishes on its first poll.
        match crate::upstream::h1::read_answer(&mut io, &mut buf, max_body).now_or_never() {
            Some(Ok(a)) => Ok((a.status.as_u16(), a.body.to_vec(), a.reusable)),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("pending".into()),
        }
    };
    [read(usize::MAX), read(step)]
}
