//! Tracking: the `timelineCompany` web service (credentials in the body) and tracking v2
//! (`/suivi/v2/idships/{id}`, Basic auth).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::{basic_auth, error_json, json_response, ok_json, parse_scalars, raw_str_at, text_at};
use crate::model::Parcel;
use crate::state::Simulator;
use crate::synth::{self, STEPS};

fn status_only(code: &str, message: &str) -> Value {
    json!({"status": [{"code": code, "message": message}]})
}

/// The one answer for "no such parcel" and "not your parcel": built in a single place so both
/// cases are byte-identical.
fn unknown_parcel() -> Response {
    ok_json(&status_only("105", "Numéro de colis inconnu"))
}

pub(crate) async fn timeline_company(State(sim): State<Simulator>, body: Bytes) -> Response {
    let v = match parse_scalars(&body, &["/login", "/password", "/parcelNumber", "/lang"]) {
        Ok(v) => v,
        Err(m) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                status_only("400", &format!("Requête invalide : {m}")),
            )
        }
    };
    let Some(account) = sim.authenticate(
        text_at(&v, "/login").as_deref(),
        raw_str_at(&v, "/password"),
    ) else {
        return ok_json(&status_only("201", "Identifiant ou mot de passe incorrect"));
    };
    let number = text_at(&v, "/parcelNumber").map(|n| n.to_uppercase());
    let Some(number) = number.filter(|n| synth::is_parcel_number(n)) else {
        return ok_json(&status_only("101", "Numéro de colis invalide"));
    };
    let Some(parcel) = sim.parcel_of(&account.number, &number) else {
        return unknown_parcel();
    };
    ok_json(&timeline_json(&parcel))
}

fn timeline_json(p: &Parcel) -> Value {
    let reached = synth::steps_reached(&p.events);
    let libelle = p
        .last_event()
        .map_or_else(|| p.status.label().to_owned(), |e| e.label_long.clone());
    json!({
        "status": [{"code": "0", "message": "json.ok"}],
        "message": {"code": "0", "libelle": libelle},
        "parcel": {
            "parcelNumber": p.number,
            "accountNumber": p.account,
            "userKey": p.user_key,
            "tag": p.tag,
            "product": p.product,
            "weight": p.weight_kg,
            "depositDate": p.deposit_date.format("%Y-%m-%d").to_string(),
            "statusLabel": p.status.label(),
            "recipient": {
                "name": p.recipient_name,
                "postalCode": p.postal_code,
                "city": p.city,
                "country": p.country,
            },
            // Most recent first, as the carrier lists them.
            "event": p.events.iter().rev().map(|e| json!({
                "code": e.code,
                "date": e.date.to_rfc3339(),
                "siteName": e.site_name,
                "labelLong": e.label_long,
                "labelShort": e.label_short,
            })).collect::<Vec<_>>(),
            "step": STEPS.iter().enumerate().map(|(i, (short, _))| json!({
                "stepId": i + 1,
                "labelShort": short,
                "status": if i < usize::from(reached) { "STEP_STATUS_ACTIVE" } else { "STEP_STATUS_INACTIVE" },
            })).collect::<Vec<_>>(),
        },
    })
}

/// The most ids one v2 call answers (the carrier refuses longer lists).
const MAX_V2_IDS: usize = 20;

pub(crate) async fn idship_v2(
    State(sim): State<Simulator>,
    Path(ids): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let lang = query
        .get("lang")
        .cloned()
        .unwrap_or_else(|| "fr_FR".to_owned());
    let refusal = |status: StatusCode, message: &str| {
        error_json(
            status,
            json!({"returnCode": status.as_u16(), "returnMessage": message, "lang": lang}),
        )
    };
    let account =
        basic_auth(&headers).and_then(|(user, pw)| sim.authenticate(Some(&user), Some(&pw)));
    let Some(account) = account else {
        return refusal(StatusCode::UNAUTHORIZED, "Non autorisé");
    };
    let ids: Vec<String> = ids.split(',').map(|id| id.trim().to_uppercase()).collect();
    if ids.len() > MAX_V2_IDS {
        return refusal(StatusCode::BAD_REQUEST, "Trop de numéros");
    }
    if !ids.iter().all(|id| synth::is_parcel_number(id)) {
        return refusal(StatusCode::BAD_REQUEST, "Numéro invalide");
    }
    // One entry per id; a single id answers its entry alone, several an array (207 when the
    // entries' codes differ).
    let entries: Vec<(StatusCode, Value)> = ids
        .iter()
        .map(|id| match sim.parcel_of(&account.number, id) {
            Some(p) => (StatusCode::OK, v2_json(&p, &lang)),
            None => (
                StatusCode::NOT_FOUND,
                json!({"returnCode": 404, "returnMessage": "Résultat non trouvé", "lang": lang, "idShip": id}),
            ),
        })
        .collect();
    match entries.as_slice() {
        [(status, body)] => json_response(*status, body),
        _ => {
            let first = entries.first().map_or(StatusCode::OK, |(s, _)| *s);
            let status = if entries.iter().all(|(s, _)| *s == first) {
                first
            } else {
                StatusCode::MULTI_STATUS
            };
            let list: Vec<Value> = entries.into_iter().map(|(_, v)| v).collect();
            json_response(status, &Value::Array(list))
        }
    }
}

fn v2_json(p: &Parcel, lang: &str) -> Value {
    let reached = usize::from(synth::steps_reached(&p.events));
    // Date a step was reached: the first event that reached it.
    let step_date = |step: usize| {
        p.events
            .iter()
            .find(|e| usize::from(synth::steps_reached(std::slice::from_ref(*e))) >= step)
            .map(|e| e.date.to_rfc3339())
    };
    let delivery = p
        .events
        .iter()
        .rev()
        .find(|e| e.code == "LIVCFM")
        .map(|e| e.date.to_rfc3339());
    let entry = p.events.first().map(|e| e.date.to_rfc3339());
    json!({
        "lang": lang,
        "scope": "open",
        "returnCode": 200,
        "shipment": {
            "idShip": p.number,
            "holder": 4,
            "product": "colissimo",
            "isFinal": p.status.is_final(),
            "entryDate": entry,
            "deliveryDate": delivery,
            "timeline": STEPS.iter().enumerate().map(|(i, (short, long))| {
                let step = i + 1;
                let done = step <= reached;
                json!({
                    "id": step,
                    "shortLabel": short,
                    "longLabel": if done { *long } else { "" },
                    "date": if done { step_date(step) } else { None },
                    "country": "FR",
                    "status": done,
                    "type": 1,
                })
            }).collect::<Vec<_>>(),
            "event": p.events.iter().rev().map(|e| json!({
                "code": synth::v2_code(&e.code),
                "label": e.label_long,
                "date": e.date.to_rfc3339(),
            })).collect::<Vec<_>>(),
            "contextData": {
                "originCountry": "FR",
                // A plain country code, as the carrier writes it.
                "arrivalCountry": p.country,
            },
        },
        "accountNumber": p.account,
        "userKey": p.user_key,
        "tag": p.tag,
    })
}
