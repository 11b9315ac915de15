//! Eligibility (`additionalinformations`): which products an account may ship.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{error_json, expect_kind, ok_json, parse_object, raw_str_at, text_at, Kind};
use crate::state::Simulator;
use crate::synth;

fn error(status: StatusCode, id: &str, message: &str) -> Response {
    error_json(
        status,
        json!({"messages": [{"id": id, "type": "ERROR", "messageContent": message}]}),
    )
}

pub(crate) async fn additional_informations(State(sim): State<Simulator>, body: Bytes) -> Response {
    let v = match parse_object(&body).and_then(|v| {
        expect_kind(&v, "/credential", Kind::Object)?;
        expect_kind(&v, "/credential/login", Kind::Scalar)?;
        expect_kind(&v, "/credential/password", Kind::Scalar)?;
        expect_kind(&v, "/partnerClientCode", Kind::Scalar)?;
        Ok(v)
    }) {
        Ok(v) => v,
        Err(m) => {
            return error(
                StatusCode::BAD_REQUEST,
                "30001",
                &format!("Requête invalide : {m}"),
            )
        }
    };
    let account = sim.authenticate(
        text_at(&v, "/credential/login").as_deref(),
        raw_str_at(&v, "/credential/password"),
    );
    // The credentials only speak for their own account: another partnerClientCode is refused
    // like bad credentials.
    let code = text_at(&v, "/partnerClientCode");
    let account = account.filter(|a| code.as_deref().is_none_or(|c| c == a.number));
    let Some(account) = account else {
        return error(
            StatusCode::UNAUTHORIZED,
            "30000",
            "Identifiant ou mot de passe incorrect",
        );
    };
    let infos: Vec<_> = synth::PRODUCTS
        .iter()
        .map(|(code, label)| {
            json!({
                "code": code,
                "label": label,
                "eligible": synth::eligible(sim.seed(), &account.number, code),
            })
        })
        .collect();
    ok_json(&json!({
        "messages": [{"id": "0", "type": "INFOS", "messageContent": "OK"}],
        "partnerClientCode": account.number,
        "additionalInformations": infos,
    }))
}
