//! Tracking v2 (`GET /suivi/v2/idships/{id}` or `{id1},{id2},…`): key in the `X-Okapi-Key`
//! header, each parcel's own account found by asking every linked account holding `ws_tracking`
//! (Basic auth upstream); several ids get one entry each, as the carrier answers them.

use std::ops::ControlFlow;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;
use serde_json::value::{to_raw_value, RawValue};
use sesame_domain::{ParcelNumber, Right};

use super::fanout::{fan_all, fan_out};
use super::kind::Service;
use super::phases::{authenticate, every_link, forwarded_query, pass, timeout, upstream_ok};
use super::request::{header_bytes, percent_decode, Req};
use crate::auth::Link;
use crate::envelope::{v2_unknown, Lang};
use crate::error::GatewayError;
use crate::error::R;
use crate::response::{bytes_resp, Resp};
use crate::state::Inner;
use crate::upstream::UpResp;

pub(crate) const PREFIX: &str = "/suivi/v2/idships/";

/// The id segment of a v2 path: one non-empty segment after [`PREFIX`].
pub(crate) fn id_segment(path: &str) -> Option<&str> {
    path.strip_prefix(PREFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The most parcel ids one call may ask for (each becomes one entry per linked account).
pub(crate) const MAX_IDS: usize = 20;

pub(crate) async fn handle(gw: &Inner, r: Req) -> R<Resp> {
    let key = header_bytes(&r.headers, "x-okapi-key");
    let p = authenticate(gw, key, None, r.ip).await?;
    let ids = v2_ids(id_segment(r.path()).ok_or(GatewayError::NotFound)?)?;
    if ids.len() > MAX_IDS {
        return Err(GatewayError::BadRequest(format!(
            "idShip : au plus {MAX_IDS} numéros de colis par appel"
        )));
    }
    let links = every_link(gw, &p, Right::WsTracking)?;
    // Encoded even though a valid id is letters and digits: what goes into the carrier's path
    // never depends on the validation staying that strict.
    let mut path = String::from(PREFIX);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            path.push(',');
        }
        path.extend(percent_encoding::utf8_percent_encode(
            id,
            percent_encoding::NON_ALPHANUMERIC,
        ));
    }
    if let Some(q) = r.query().and_then(forwarded_query) {
        path.push('?');
        path.push_str(&q);
    }
    let fan = links.len() > 1;
    match <[String; 1]>::try_from(ids) {
        Ok([id]) => one(gw, &links, &path, id).await,
        Err(ids) => {
            let answers =
                fan_all(gw, Service::TrackingV2, &links, |l| ask(gw, l, &path, fan)).await;
            several(answers, &ids, Lang::of_query(r.query()))
        }
    }
}

/// One account's answer to `path` (Basic auth with its own credentials).
async fn ask(gw: &Inner, l: &Link, path: &str, fan: bool) -> R<UpResp> {
    let mut h = HeaderMap::new();
    if let Some(b) = &l.account.basic_auth {
        h.insert(header::AUTHORIZATION, b.clone());
    }
    h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let up = gw
        .upstream
        .call(
            Service::TrackingV2.upstream_label(),
            Method::GET,
            path,
            h,
            Bytes::new(),
            timeout(gw, fan),
        )
        .await?;
    upstream_ok(up)
}

/// One parcel: the first account that knows it answers (the others are not awaited); else a
/// relayed answer that does not depend on the account (invalid number…), else the failure,
/// else unknown.
async fn one(gw: &Inner, links: &[&Link], path: &str, id: String) -> R<Resp> {
    let fan = links.len() > 1;
    let mut failure = None;
    let mut other = None;
    let found = fan_out(
        gw,
        Service::TrackingV2,
        fan,
        links,
        |l| ask(gw, l, path, fan),
        |_, _, res| {
            match res {
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

/// What the gateway reads of one entry of a v2 answer: its code and whose parcel it is.
#[derive(serde::Deserialize)]
struct Entry {
    #[serde(rename = "returnCode")]
    code: Option<u16>,
    shipment: Option<Shipment>,
}

#[derive(serde::Deserialize)]
struct Shipment {
    #[serde(rename = "idShip")]
    id: String,
}

/// The found entries of one account's answer (one object, or the carrier's array).
fn found_entries(body: &[u8]) -> Vec<(String, Box<RawValue>)> {
    let raws: Vec<Box<RawValue>> = match serde_json::from_slice::<Box<RawValue>>(body) {
        Ok(raw) if raw.get().trim_start().starts_with('[') => {
            serde_json::from_str(raw.get()).unwrap_or_default()
        }
        Ok(raw) => vec![raw],
        Err(_) => Vec::new(),
    };
    raws.into_iter()
        .filter_map(|raw| {
            let e: Entry = serde_json::from_str(raw.get()).ok()?;
            let id = e.shipment?.id.to_ascii_uppercase();
            (e.code == Some(200)).then_some((id, raw))
        })
        .collect()
}

/// Several parcels: one entry per id, in the order asked, each resolved across the accounts
/// (found on one → its entry; found on none → unknown, exactly as a parcel of no linked
/// account; unresolved because an account failed → that failure, in the v2 shape). The HTTP
/// status is the entries' common code, 207 Multi-Status when they differ.
fn several(answers: Vec<R<UpResp>>, ids: &[String], lang: Lang) -> R<Resp> {
    let mut found: Vec<Option<Box<RawValue>>> = ids.iter().map(|_| None).collect();
    let mut failure = None;
    let mut other = None;
    for res in answers {
        match res {
            Ok(up) if matches!(up.status.as_u16(), 200 | 207 | 404) => {
                for (id, raw) in found_entries(&up.body) {
                    for (slot, asked) in found.iter_mut().zip(ids) {
                        if slot.is_none() && *asked == id {
                            *slot = Some(raw.clone());
                        }
                    }
                }
            }
            Ok(up) => other = Some(up),
            Err(e) => failure = Some(e),
        }
    }
    if found.iter().all(Option::is_none) {
        if let Some(up) = other {
            return Ok(pass(up));
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    let mut codes = Vec::with_capacity(ids.len());
    let mut entries = Vec::with_capacity(ids.len());
    for (slot, id) in found.into_iter().zip(ids) {
        let (code, raw) = match (slot, &failure) {
            (Some(raw), _) => (200, Ok(raw)),
            (None, None) => (404, to_raw_value(&v2_unknown(id, lang))),
            (None, Some(e)) => {
                let r = e.classify();
                let body = json!({"returnCode": r.status.as_u16(), "returnMessage": r.message, "lang": lang.as_str(), "idShip": id});
                (r.status.as_u16(), to_raw_value(&body))
            }
        };
        codes.push(code);
        entries.push(raw.map_err(|e| GatewayError::Internal(e.to_string()))?);
    }
    let status = match codes.split_first() {
        Some((first, rest)) if rest.iter().all(|c| c == first) => {
            StatusCode::from_u16(*first).unwrap_or(StatusCode::MULTI_STATUS)
        }
        _ => StatusCode::MULTI_STATUS,
    };
    let body = serde_json::to_vec(&entries).map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(bytes_resp(
        status,
        "application/json;charset=UTF-8",
        Bytes::from(body),
    ))
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
