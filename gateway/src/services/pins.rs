//! "Colis épinglés" (issue 14): `PUT /sesame/v1/pins/{parcelNumber}` pins a parcel the caller
//! may see, `DELETE /sesame/v1/pins/{parcelNumber}` unpins it, `GET /sesame/v1/pins` lists the
//! caller's pins, newest first. Pins belong to the user (a connection key or a session of the
//! same user see the same pins) and are kept by the store; whether each pinned parcel is still
//! visible is decided again at every listing, so a withdrawn right shows the pin without its
//! data.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http::StatusCode;
use http_body_util::Full;
use serde_json::{json, Map, Value};
use sesame_domain::model::Actor;
use sesame_store::{Pin, RuleViolation, StoreError};

use super::kind::Service;
use super::paging::fan_private;
use super::parcels::{
    keep_parcel, own_auth, parcel_number, store_error, tool_parcel, ParcelFilter,
};
use super::request::Req;
use crate::auth::{Link, Principal};
use crate::error::{GatewayError, R};
use crate::response::{json_resp, Resp};
use crate::state::Inner;

pub(crate) const LIST: &str = "/sesame/v1/pins";
const PREFIX: &str = "/sesame/v1/pins/";

/// The parcel id of a pin path (`/sesame/v1/pins/{id}`).
pub(crate) fn pin_id(path: &str) -> Option<&str> {
    path.strip_prefix(PREFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// What a pin's writes are recorded under: the user itself (a key call or a session of the
/// user; an impersonating operator's session speaks for the user too).
fn actor(p: &Principal) -> Actor {
    Actor::User { user_id: p.user_id }
}

fn pinned_at(pin: &Pin) -> Value {
    DateTime::<Utc>::from_timestamp_millis(pin.created_at).map_or(Value::Null, |d| {
        Value::String(d.to_rfc3339_opts(SecondsFormat::Millis, true))
    })
}

fn pin_json(pin: &Pin) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("parcelNumber".into(), json!(pin.parcel_number));
    m.insert("accountNumber".into(), json!(pin.account_number));
    m.insert("pinnedAt".into(), pinned_at(pin));
    m
}

/// `PUT`: pins the parcel if the caller may see it now (unknown or out of scope: the same 404,
/// nothing written); pinning it again answers the same pin.
pub(crate) async fn pin(gw: &Inner, r: Req) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let id = parcel_number(pin_id(r.path()).ok_or(GatewayError::NotFound)?)?;
    let (l, _) = tool_parcel(gw, &p, &id).await?;
    let pin = gw
        .auth
        .store()
        .pin(actor(&p), p.user_id, &id, l.number.as_str())
        .await
        .map_err(|e| match e {
            StoreError::Rule(rule @ RuleViolation::TooManyPins) => GatewayError::Conflict {
                field: "parcelNumber",
                message: format!(
                    "Vous avez déjà {} colis épinglés : désépinglez-en un d'abord ({rule})",
                    sesame_store::MAX_PINS
                ),
            },
            other => store_error(other),
        })?;
    let mut out = pin_json(&pin);
    out.insert("visible".into(), Value::Bool(true));
    Ok(json_resp(StatusCode::OK, &Value::Object(out)))
}

/// `DELETE`: unpins the parcel; 204 whether it was pinned or not (no right needed: a user whose
/// right was withdrawn can still tidy its list).
pub(crate) async fn unpin(gw: &Inner, r: Req) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let id = parcel_number(pin_id(r.path()).ok_or(GatewayError::NotFound)?)?;
    gw.auth
        .store()
        .unpin(actor(&p), p.user_id, &id)
        .await
        .map_err(store_error)?;
    let mut resp = http::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

/// `GET`: `{"pins": [{"parcelNumber", "accountNumber", "pinnedAt", "visible", "parcel"?}],
/// "accounts"}`, newest pin first. Each pinned account is searched once (the same search and
/// scope filter as `GET /sesame/v1/parcels`); a pin whose parcel the caller may no longer see
/// (right withdrawn, account unlinked or failing) is listed with `"visible": false` and none
/// of the parcel's data.
pub(crate) async fn list(gw: &Inner, r: Req) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let pins = gw
        .auth
        .store()
        .pins_of(p.user_id)
        .await
        .map_err(store_error)?;
    let links: Vec<&Link> = p
        .links
        .iter()
        .filter(|l| !Principal::tool_scope(l).is_none())
        .filter(|l| pins.iter().any(|x| x.account_number == l.number.as_str()))
        .collect();
    let mut rows: HashMap<(String, String), Value> = HashMap::new();
    let mut accounts = Vec::new();
    if !links.is_empty() {
        let filter = ParcelFilter::default();
        let fanned = fan_private(
            gw,
            Service::ParcelSearch,
            &links,
            "/tracking-tool/v1/parcels/search",
            &Map::new(),
            "parcels",
            |l, parcel| {
                let n = parcel.get("parcelNumber").and_then(Value::as_str);
                n.is_some_and(|n| {
                    pins.iter()
                        .any(|x| x.parcel_number == n && x.account_number == l.number.as_str())
                }) && keep_parcel(&p, l, &filter, parcel)
            },
        )
        .await;
        accounts = fanned.accounts;
        for row in fanned.items {
            let key = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            rows.insert((key("accountNumber"), key("parcelNumber")), row);
        }
    }
    let list: Vec<Value> = pins
        .iter()
        .map(|pin| {
            let mut m = pin_json(pin);
            let row = rows.remove(&(pin.account_number.clone(), pin.parcel_number.clone()));
            m.insert("visible".into(), Value::Bool(row.is_some()));
            if let Some(row) = row {
                m.insert("parcel".into(), row);
            }
            Value::Object(m)
        })
        .collect();
    Ok(json_resp(
        StatusCode::OK,
        &json!({"pins": list, "accounts": accounts}),
    ))
}
