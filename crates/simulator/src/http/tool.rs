//! The tracking tool's private JSON API: parcel search by period and claims.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{
    date_at, error_json, expect_kind, json_response, ok_json, parse_object, raw_str_at, text_at,
    Kind,
};
use crate::config::SimAccount;
use crate::model::Parcel;
use crate::state::Simulator;

pub(crate) fn invalid(message: &str) -> Response {
    error_json(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_request", "message": message}),
    )
}

pub(crate) fn unauthorized() -> Response {
    error_json(
        StatusCode::UNAUTHORIZED,
        json!({"error": "invalid_credentials", "message": "Identifiant ou mot de passe incorrect"}),
    )
}

/// Parses the body and authenticates `contractNumber`/`password`; `Err` is the answer to send.
pub(crate) fn body_and_account(
    sim: &Simulator,
    body: &[u8],
    scalars: &[&str],
) -> Result<(Value, SimAccount), Response> {
    let v = parse_object(body).map_err(|m| invalid(&m))?;
    for p in ["/contractNumber", "/password"].iter().chain(scalars) {
        expect_kind(&v, p, Kind::Scalar).map_err(|m| invalid(&m))?;
    }
    let account = sim
        .authenticate(
            text_at(&v, "/contractNumber").as_deref(),
            raw_str_at(&v, "/password"),
        )
        .ok_or_else(unauthorized)?;
    Ok((v, account))
}

/// An inclusive `from`/`to` date period, both ends optional.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Period {
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
}

impl Period {
    pub(crate) fn contains(self, d: chrono::NaiveDate) -> bool {
        self.from.is_none_or(|f| d >= f) && self.to.is_none_or(|t| d <= t)
    }
}

/// Inclusive `from`/`to` dates, both optional; `to` before `from` is refused.
fn period(v: &Value) -> Result<Period, Response> {
    let from = date_at(v, "/from").map_err(|m| invalid(&m))?;
    let to = date_at(v, "/to").map_err(|m| invalid(&m))?;
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return Err(invalid(
                "la date de fin (to) précède la date de début (from)",
            ));
        }
    }
    Ok(Period { from, to })
}

/// A body with the account's credentials and an optional `from`/`to` period.
pub(crate) fn account_and_period(
    sim: &Simulator,
    body: &[u8],
) -> Result<(SimAccount, Period), Response> {
    let (v, account) = body_and_account(sim, body, &["/from", "/to"])?;
    Ok((account, period(&v)?))
}

pub(crate) async fn search(State(sim): State<Simulator>, body: Bytes) -> Response {
    let (account, period) = match account_and_period(&sim, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut parcels: Vec<Parcel> = sim
        .parcels(&account.number)
        .into_iter()
        .filter(|p| period.contains(p.deposit_date))
        .collect();
    parcels.sort_by(|a, b| {
        b.deposit_date
            .cmp(&a.deposit_date)
            .then_with(|| a.number.cmp(&b.number))
    });
    let list: Vec<Value> = parcels.iter().map(summary).collect();
    ok_json(&json!({"parcels": list}))
}

fn summary(p: &Parcel) -> Value {
    let last = p.last_event();
    json!({
        "parcelNumber": p.number,
        "accountNumber": p.account,
        "userKey": p.user_key,
        "tag": p.tag,
        "reference": p.reference,
        "recipientName": p.recipient_name,
        "postalCode": p.postal_code,
        "city": p.city,
        "country": p.country,
        "product": p.product,
        "status": p.status.code(),
        "statusLabel": p.status.label(),
        "location": last.map(|e| e.site_name.clone()),
        "depositDate": p.deposit_date.format("%Y-%m-%d").to_string(),
        "lastEventDate": last.map(|e| e.date.to_rfc3339()),
        "pass": p.pass,
    })
}

pub(crate) async fn claim(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (v, account) = match body_and_account(&sim, &body, &["/reason", "/comment"]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = id.trim().to_uppercase();
    let Some(parcel) = sim.parcel_of(&account.number, &id) else {
        return error_json(StatusCode::NOT_FOUND, json!({"error": "unknown_parcel"}));
    };
    let Some(reason) = text_at(&v, "/reason") else {
        return invalid("le motif de la réclamation (reason) est obligatoire");
    };
    json_response(
        StatusCode::CREATED,
        &json!({
            "claimId": format!("CLM-{:08}", sim.next_seq()),
            "parcelNumber": parcel.number,
            "status": "open",
            "reason": reason,
            "comment": text_at(&v, "/comment"),
        }),
    )
}
