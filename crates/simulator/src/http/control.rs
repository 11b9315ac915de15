//! `/_sim/*`: control routes for tests and the demo. Never delayed, faulted or captured.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{error_json, json_response, ok_json};
use crate::config::{Faults, Latency, SimAccount, Stamp};
use crate::state::Simulator;

pub(super) fn routes(sim: Simulator) -> Router {
    Router::new()
        .route("/_sim/health", get(health))
        .route("/_sim/faults", put(faults))
        .route("/_sim/latency", put(latency))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/accounts", post(add_account).get(accounts))
        .route("/_sim/accounts/{number}/stamps", post(add_stamps))
        .route("/_sim/accounts/{number}/parcels", get(parcels))
        .route("/_sim/accounts/{number}/invoices", get(invoices))
        .with_state(sim)
}

fn bad_request(message: String) -> Response {
    error_json(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_request", "message": message}),
    )
}

fn ok() -> Response {
    ok_json(&json!({"status": "ok"}))
}

/// Deserialises a control body; the error names what is wrong.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid body: {e}")))
}

async fn health() -> Response {
    ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsBody {
    #[serde(default)]
    account: Option<String>,
    /// `null` with an account removes its override.
    faults: Option<Faults>,
}

async fn faults(State(sim): State<Simulator>, body: Bytes) -> Response {
    let b: FaultsBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match (b.account, b.faults) {
        (account, Some(f)) => sim.set_faults(account.as_deref(), f),
        (Some(a), None) => sim.clear_account_faults(&a),
        (None, None) => sim.set_faults(None, Faults::default()),
    }
    ok()
}

async fn latency(State(sim): State<Simulator>, body: Bytes) -> Response {
    match parse::<Latency>(&body) {
        Ok(l) => {
            sim.set_latency(l);
            ok()
        }
        Err(r) => r,
    }
}

async fn requests(State(sim): State<Simulator>) -> Response {
    let list: Vec<Value> = sim
        .captured()
        .into_iter()
        .map(|r| {
            json!({
                "method": r.method,
                "path": r.path,
                "headers": r.headers,
                "body": String::from_utf8_lossy(&r.body),
            })
        })
        .collect();
    ok_json(&json!({"requests": list}))
}

async fn clear_requests(State(sim): State<Simulator>) -> Response {
    sim.clear_captured();
    ok()
}

async fn add_account(State(sim): State<Simulator>, body: Bytes) -> Response {
    let a: SimAccount = match parse(&body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if a.number.len() != 6 || !a.number.bytes().all(|b| b.is_ascii_digit()) {
        return bad_request("number: six digits expected".to_owned());
    }
    if a.password.is_empty() {
        return bad_request("password: must not be empty".to_owned());
    }
    let number = a.number.clone();
    sim.add_account(a);
    json_response(
        StatusCode::CREATED,
        &json!({"status": "ok", "number": number}),
    )
}

async fn accounts(State(sim): State<Simulator>) -> Response {
    ok_json(&json!({"accounts": sim.accounts()}))
}

async fn add_stamps(
    State(sim): State<Simulator>,
    Path(number): Path<String>,
    body: Bytes,
) -> Response {
    let stamps: Vec<Stamp> = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !sim.accounts().contains(&number) {
        return error_json(StatusCode::NOT_FOUND, json!({"error": "unknown_account"}));
    }
    sim.add_stamps(&number, stamps);
    ok()
}

async fn parcels(State(sim): State<Simulator>, Path(number): Path<String>) -> Response {
    listing("parcels", serde_json::to_value(sim.parcels(&number)))
}

async fn invoices(State(sim): State<Simulator>, Path(number): Path<String>) -> Response {
    listing("invoices", serde_json::to_value(sim.invoices(&number)))
}

fn listing(key: &str, list: serde_json::Result<Value>) -> Response {
    match list {
        Ok(v) => ok_json(&json!({ key: v })),
        Err(e) => error_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "internal", "message": e.to_string()}),
        ),
    }
}
