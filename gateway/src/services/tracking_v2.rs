//! Tracking v2 (`GET /suivi/v2/idships/{id}`): key in the `X-Okapi-Key` header, the parcel's own
//! account found by asking every linked account holding `ws_tracking` (Basic auth upstream).

use std::ops::ControlFlow;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use sesame_domain::{ParcelNumber, Right};

use super::fanout::fan_out;
use super::kind::Service;
use super::phases::{authenticate, every_link, forwarded_query, pass, timeout, upstream_ok};
use super::request::{header_bytes, percent_decode, Req};
use crate::error::GatewayError;
use crate::error::R;
use crate::response::Resp;
use crate::state::Inner;

pub(crate) const PREFIX: &str = "/suivi/v2/idships/";

/// The id segment of a v2 path: one non-empty segment after [`PREFIX`].
pub(crate) fn id_segment(path: &str) -> Option<&str> {
    path.strip_prefix(PREFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

pub(crate) async fn handle(gw: &Inner, r: Req) -> R<Resp> {
    let key = header_bytes(&r.headers, "x-okapi-key");
    let p = authenticate(gw, key, None, r.ip).await?;
    let id = v2_id(id_segment(r.path()).ok_or(GatewayError::NotFound)?)?;
    let links = every_link(gw, &p, Right::WsTracking)?;
    let fan = links.len() > 1;
    // Encoded even though a valid id is letters and digits: what goes into the carrier's path
    // never depends on the validation staying that strict.
    let encoded = percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC);
    let path = match r.query().and_then(forwarded_query) {
        Some(q) => format!("{PREFIX}{encoded}?{q}"),
        None => format!("{PREFIX}{encoded}"),
    };
    let mut failure = None;
    let mut other = None;
    let found = fan_out(
        gw,
        Service::TrackingV2,
        fan,
        &links,
        |l| {
            let mut h = HeaderMap::new();
            if let Some(b) = &l.account.basic_auth {
                h.insert(header::AUTHORIZATION, b.clone());
            }
            h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
            let path = path.as_str();
            async move {
                gw.upstream
                    .call(
                        Service::TrackingV2.upstream_label(),
                        Method::GET,
                        path,
                        h,
                        Bytes::new(),
                        timeout(gw, fan),
                    )
                    .await
            }
        },
        |_, _, res| {
            match res.and_then(upstream_ok) {
                Ok(up) if up.status == StatusCode::OK => return ControlFlow::Break(up),
                Ok(up) if up.status == StatusCode::NOT_FOUND => {}
                // (401, the account's own credentials refused, is already an error from the
                // upstream client.)
                Ok(up) => other = Some(up),
                Err(e) => failure = Some(e),
            }
            ControlFlow::Continue(())
        },
    )
    .await;
    if let Some(up) = found.or(other) {
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
