//! Pickup points: `findRDVPointRetraitAcheminement`. Business errors are HTTP 200 with an
//! `errorCode`, like the carrier's service.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{error_json, ok_json, parse_scalars, raw_str_at, text_at};
use crate::state::Simulator;
use crate::synth;

fn envelope(code: u16, message: &str) -> Value {
    json!({"errorCode": code, "errorMessage": message, "qualiteReponse": 0})
}

pub(crate) async fn find(State(sim): State<Simulator>, body: Bytes) -> Response {
    let v = match parse_scalars(
        &body,
        &[
            "/accountNumber",
            "/password",
            "/zipCode",
            "/city",
            "/countryCode",
            "/weight",
            "/filterRelay",
            "/shippingDate",
        ],
    ) {
        Ok(v) => v,
        Err(m) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                envelope(400, &format!("Requête invalide : {m}")),
            )
        }
    };
    let Some(account) = sim.authenticate(
        text_at(&v, "/accountNumber").as_deref(),
        raw_str_at(&v, "/password"),
    ) else {
        return ok_json(&envelope(201, "Identifiant et/ou mot de passe invalide"));
    };
    if !account.pickup_allowed {
        return ok_json(&envelope(202, "Service non autorisé pour cet identifiant"));
    }
    let Some(zip) = text_at(&v, "/zipCode") else {
        return ok_json(&envelope(104, "Code postal obligatoire"));
    };
    // Weight in grams, as a string or a number: 1 g to 30 kg.
    let weight = text_at(&v, "/weight").and_then(|w| w.parse::<f64>().ok());
    if !matches!(weight, Some(w) if w > 0.0 && w <= 30_000.0) {
        return ok_json(&envelope(120, "Poids invalide"));
    }
    let city = text_at(&v, "/city").unwrap_or_default();
    let country = text_at(&v, "/countryCode").map_or_else(|| "FR".to_owned(), |c| c.to_uppercase());
    let relays = text_at(&v, "/filterRelay").as_deref() != Some("0");
    let points = synth::pickup_points(&zip, &city, &country, relays);
    ok_json(&json!({
        "errorCode": 0,
        "errorMessage": "Code retour OK",
        "qualiteReponse": 2,
        "wsRequestId": format!("{:016x}", crate::rng::hash(sim.seed(), &["wsRequestId", &sim.next_seq().to_string()])),
        "listePointRetraitAcheminement": points,
    }))
}
