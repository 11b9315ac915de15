//! The URL tracking link (`GET /entreprise/colis/login/parcel?apikey=…&cab=…`): the parcel's
//! page (JSON on request) when the key's holder has a tracking-tool right whose scope covers
//! the parcel; every refusal is the same 403 page. [`visible_parcel`] is also the claims'
//! lookup.

use http::StatusCode;
use serde_json::{json, Value};
use sesame_domain::ScopedRight;

use super::phases::authenticate;
use super::request::{query_param, wants_json, Req};
use super::tracking::{find_parcel, Lookup};
use crate::auth::{Link, Principal};
use crate::error::GatewayError;
use crate::error::R;
use crate::response::{html_escape, html_resp, json_resp, Resp};
use crate::state::Inner;

pub(crate) const PATH: &str = "/entreprise/colis/login/parcel";

/// Finds a parcel among the accounts where the caller holds a tracking-tool right, and checks
/// that the right's scope covers it. `Ok(None)`: unknown or out of scope (indistinguishable).
pub(crate) async fn visible_parcel<'p>(
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
        p.in_scope(l, scope_of(l), field("userKey"), field("tag"))
    };
    // The scope is checked while the accounts answer (out of scope ≡ unknown, see
    // `find_parcel`). Invalid parcel number etc.: for the tool, that is simply "not found".
    let lookup = find_parcel(gw, &links, parcel, &[], |l, up| {
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

pub(crate) async fn handle(gw: &Inner, r: Req) -> R<Resp> {
    let q = r.query();
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
            Some(Value::String(s)) => html_escape(s).into_owned(),
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
