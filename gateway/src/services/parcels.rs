//! Sesame's own parcel endpoints: `GET /sesame/v1/parcels` (tracking-tool search across every
//! linked account, filtered to the right's scope; JSON pages or CSV) and
//! `POST /sesame/v1/parcels/{parcelNumber}/claims` (customer-service claim) and
//! `GET /sesame/v1/parcels/{parcelNumber}` (the parcel's sheet as JSON, issue 14).

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value};
use sesame_domain::ScopedRight;

use super::kind::Service;
use super::link::visible_parcel;
use super::paging::{
    contains_ci, fan_private, page_answer, page_param, page_size_param, period, scoped_links,
    sort_by, sort_param, sort_recent_first, SortField, PAGE_SIZE,
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

/// The parcel id of a sheet path (`/sesame/v1/parcels/{id}`).
pub(crate) fn sheet_id(path: &str) -> Option<&str> {
    path.strip_prefix(CLAIMS_PREFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Longest parcel number Sesame's own endpoints accept (the carrier's are 11 to 15
/// characters; international ones a little longer).
const MAX_PARCEL_NUMBER: usize = 40;

/// A parcel number from a path segment: percent-decoded, 1 to 40 ASCII letters or digits,
/// upper-cased; anything else is refused naming `parcelNumber` before any lookup.
pub(crate) fn parcel_number(raw: &str) -> R<String> {
    let bad = || GatewayError::InvalidField {
        field: "parcelNumber",
        message: format!("de 1 à {MAX_PARCEL_NUMBER} lettres ou chiffres attendus"),
    };
    // Bounded before decoding: a long path costs nothing more than the refusal.
    if raw.len() > 3 * MAX_PARCEL_NUMBER {
        return Err(bad());
    }
    // Not trimmed: a space is no part of a parcel number, refused like any other character.
    let id = percent_decode(raw);
    if id.is_empty()
        || id.len() > MAX_PARCEL_NUMBER
        || !id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(bad());
    }
    Ok(id.to_ascii_uppercase())
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

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive); any other
/// scheme, or no token, is no session (such a caller authenticates as before).
pub(crate) fn bearer(h: &http::HeaderMap) -> Option<&str> {
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
    /// Sent with a prepaid "Colissimo Pass" or not (`pass=true|false`).
    pub pass: Option<bool>,
    /// The last event's site contains (case-insensitive).
    pub location: Option<String>,
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
            && self
                .pass
                .is_none_or(|want| p.get("pass").and_then(Value::as_bool) == Some(want))
            && self
                .location
                .as_deref()
                .is_none_or(|n| contains_ci(f("location"), n))
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

/// Page `page` (from 1) of `size` sorted parcels, as the search answers it.
pub(crate) fn parcel_page_answer(
    parcels: Vec<Value>,
    page: usize,
    size: usize,
    accounts: Vec<Value>,
) -> Value {
    page_answer(parcels, "parcels", page, size, accounts)
}

/// The search's page sizes (the tracking tool's "Afficher"), the first by default.
const PAGE_SIZES: [usize; 3] = [PAGE_SIZE, 50, 100];

/// The search's sortable columns (`sort=<name>`, `-<name>` descending). The status sorts by
/// its label, as the column shows it.
static SORT_FIELDS: [SortField; 10] = {
    const fn f(name: &'static str, key: &'static str) -> SortField {
        SortField {
            name,
            key,
            numeric: false,
        }
    }
    [
        f("accountNumber", "accountNumber"),
        f("parcelNumber", "parcelNumber"),
        f("pass", "pass"),
        f("reference", "reference"),
        f("recipientName", "recipientName"),
        f("postalCode", "postalCode"),
        f("status", "statusLabel"),
        f("location", "location"),
        f("country", "country"),
        f("depositDate", "depositDate"),
    ]
};

/// `pass=true|false`, else refused naming `pass`.
fn pass_param(q: Option<&str>) -> R<Option<bool>> {
    match query_param(q, "pass").as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(GatewayError::InvalidField {
            field: "pass",
            message: "true ou false attendu".into(),
        }),
    }
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
        pass: pass_param(q)?,
        location: query_param(q, "location"),
    };
    let page = page_param(q)?;
    let size = page_size_param(q, &PAGE_SIZES)?;
    let sort = sort_param(q, &SORT_FIELDS)?;
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
    match &sort {
        Some(by) => sort_by(&mut parcels, by, &["parcelNumber", "accountNumber"]),
        None => sort_parcels(&mut parcels),
    }
    if csv_out {
        return parcels_csv(&parcels);
    }
    Ok(json_resp(
        StatusCode::OK,
        &parcel_page_answer(parcels, page, size, fanned.accounts),
    ))
}

pub(crate) fn parcels_csv(parcels: &[Value]) -> R<Resp> {
    // The shared export writer: BOM, `;`, and every cell defused against formula injection
    // (references and recipient names are whatever the sender typed).
    let mut w = sesame_domain::csv::Writer::new();
    let cols = [
        ("accountNumber", "N° compte client"),
        ("parcelNumber", "N° de colis"),
        ("pass", "PASS"),
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
            Some(Value::Bool(b)) => if *b { "Oui" } else { "Non" }.to_owned(),
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

/// The parcel's sheet: `{"accountNumber", "parcel": {…the tracking link's JSON}, "pinned"}`,
/// found among the accounts where the caller holds the tracking tool, within its scope (out of
/// scope ≡ unknown: the same 404).
pub(crate) async fn sheet(gw: &Inner, r: Req) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let id = parcel_number(sheet_id(r.path()).ok_or(GatewayError::NotFound)?)?;
    let (l, v) = tool_parcel(gw, &p, &id).await?;
    let pinned = gw
        .auth
        .store()
        .pin_of(p.user_id, &id)
        .await
        .map_err(store_error)?
        .is_some();
    Ok(json_resp(
        StatusCode::OK,
        &json!({
            "accountNumber": l.number.as_str(),
            "parcel": v.get("parcel").cloned().unwrap_or(Value::Null),
            "pinned": pinned,
        }),
    ))
}

/// The parcel `id` as the tracking tool shows it to the caller, with the account it was found
/// on: no tool right on any account → 403; unknown or out of scope → the same 404.
pub(crate) async fn tool_parcel<'p>(
    gw: &Inner,
    p: &'p Principal,
    id: &str,
) -> R<(&'p Link, Value)> {
    if p.links.iter().all(|l| Principal::tool_scope(l).is_none()) {
        return Err(GatewayError::Forbidden(ScopedRight::TrackingTool.id()));
    }
    visible_parcel(gw, p, id, false)
        .await?
        .ok_or_else(|| GatewayError::UnknownParcel { id: id.to_owned() })
}

/// A store failure on a request path: unavailable → 503, anything else → 500 (logged, never
/// shown).
pub(crate) fn store_error(e: sesame_store::StoreError) -> GatewayError {
    if e.is_unavailable() {
        GatewayError::StoreUnavailable
    } else {
        GatewayError::Internal(e.to_string())
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_bearer_authorization_with_a_token_is_a_session() {
        let h = |v: &str| {
            let mut m = http::HeaderMap::new();
            m.insert(http::header::AUTHORIZATION, v.parse().unwrap());
            m
        };
        assert_eq!(super::bearer(&h("Bearer abc")), Some("abc"));
        assert_eq!(super::bearer(&h("bearer  abc ")), Some("abc"));
        assert_eq!(super::bearer(&h("Basic dXNlcjpwYXNz")), None);
        assert_eq!(super::bearer(&h("Bearer")), None);
        assert_eq!(super::bearer(&h("Bearer  ")), None);
        assert_eq!(super::bearer(&http::HeaderMap::new()), None);
    }
}
