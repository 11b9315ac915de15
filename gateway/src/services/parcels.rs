//! Sesame's own parcel endpoints: `GET /sesame/v1/parcels` (tracking-tool search across every
//! linked account, filtered to the right's scope; JSON pages or CSV) and
//! `POST /sesame/v1/parcels/{parcelNumber}/claims` (customer-service claim).

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde_json::Value;
use sesame_domain::ScopedRight;

use super::kind::Service;
use super::link::visible_parcel;
use super::paging::{
    contains_ci, fan_private, page_answer, page_param, period, scoped_links, sort_recent_first,
    PAGE_SIZE,
};
use super::phases::{authenticate, authenticate_session, forward_private, pass, private_creds};
use super::request::{header_bytes, parse_object, percent_decode, query_param, read_body, Req};
use crate::auth::{Link, Principal};
use crate::error::GatewayError;
use crate::error::R;
use crate::response::{bytes_resp, json_resp, Resp};
use crate::state::Inner;

pub(crate) const SEARCH: &str = "/sesame/v1/parcels";
const CLAIMS_PREFIX: &str = "/sesame/v1/parcels/";

/// The parcel id of a claim path (`/sesame/v1/parcels/{id}/claims`).
pub(crate) fn claim_id(path: &str) -> Option<&str> {
    path.strip_prefix(CLAIMS_PREFIX)?
        .strip_suffix("/claims")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Sesame's own endpoints authenticate before reading any body, with the `apiKey` header (a
/// connection key) or `Authorization: Bearer <session token>` (issue 14: a user signed in to
/// the admin API or the portal, whatever its kind, or an operator impersonating one). Either
/// way the principal is the same user with the same links, rights and scopes.
pub(crate) async fn own_auth(gw: &Inner, r: &Req) -> R<std::sync::Arc<Principal>> {
    if let Some(key) = header_bytes(&r.headers, "apikey") {
        return authenticate(gw, Some(key), None, r.ip).await;
    }
    match bearer(&r.headers) {
        Some(token) => authenticate_session(gw, token, r.ip).await,
        None => authenticate(gw, None, None, r.ip).await,
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
fn bearer(h: &http::HeaderMap) -> Option<&str> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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

/// Filter phase of the parcel search: only the account's own parcels, inside what the caller's
/// scope covers on that link (out of scope ≡ unknown), matching the caller's filter.
pub(crate) fn keep_parcel(p: &Principal, l: &Link, filter: &ParcelFilter, parcel: &Value) -> bool {
    parcel.get("accountNumber").and_then(Value::as_str) == Some(l.number.as_str())
        && p.in_scope(
            l,
            Principal::tool_scope(l),
            parcel.get("userKey").and_then(Value::as_str),
            parcel.get("tag").and_then(Value::as_str),
        )
        && filter.matches(parcel)
}

/// Most recent deposit first, then by parcel number.
pub(crate) fn sort_parcels(parcels: &mut [Value]) {
    sort_recent_first(parcels, "depositDate", "parcelNumber");
}

/// Page `page` (from 1) of sorted parcels, as the search answers it.
pub(crate) fn parcel_page_answer(parcels: Vec<Value>, page: usize, accounts: Vec<Value>) -> Value {
    page_answer(parcels, "parcels", page, PAGE_SIZE, accounts)
}

pub(crate) async fn search(gw: &Inner, r: Req) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let q = r.query();
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
        Service::ParcelSearch,
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

pub(crate) async fn claim(gw: &Inner, r: Req) -> R<Resp> {
    // Authenticated before the body is read: a bad key costs no body.
    let p = own_auth(gw, &r).await?;
    let id = claim_id(r.path()).ok_or(GatewayError::NotFound)?;
    let id = percent_decode(id).trim().to_ascii_uppercase();
    let body = read_body(r.body, &r.headers, gw.cfg.max_body_bytes).await?;
    let m = parse_object(&body)?;
    if p.links
        .iter()
        .all(|l| l.rights.scope(ScopedRight::TrackingToolCs).is_none())
    {
        return Err(GatewayError::Forbidden(ScopedRight::TrackingToolCs.id()));
    }
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
    let up = forward_private(gw, Service::Claim, &path, b, false).await?;
    if up.status == StatusCode::NOT_FOUND {
        return Err(GatewayError::UnknownParcel { id });
    }
    Ok(pass(up))
}
