//! "COLIS ÉPINGLÉS" (issue 14): the user's pinned parcels, kept per user by the gateway's pins
//! (`GET /sesame/v1/pins`, `PUT`/`DELETE /sesame/v1/pins/{n}`), with the search's columns, each
//! linking to its sheet, and "Désépingler". A pin whose parcel the user no longer sees (a right
//! withdrawn) is listed by its number only, never with its data.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde_json::Value;

use super::parcel::{back_to, parcel_number, refuse};
use super::tracking::{parcel_table, plain_head, tabs};
use super::{OrPortal, PortalUser};
use crate::console::form::Form;
use crate::console::layout::{self, csrf_field, page};
use crate::console::url_encode;
use crate::error::ApiError;
use crate::extract::Query;
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/suivi/epingles", get(list))
        .route("/console/suivi/colis/{n}/epingler", post(pin))
        .route("/console/suivi/colis/{n}/desepingler", post(unpin))
}

async fn list(
    State(state): State<AppState>,
    u: PortalUser,
    q: Result<Query, ApiError>,
) -> Response {
    let v = &u.v;
    let answer = match u.get_json(&state, "/sesame/v1/pins").await.or_portal(v) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let pins: &[Value] = answer
        .get("pins")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    // A row per pin: the parcel's summary when still visible, else its number and account.
    let rows: Vec<Value> = pins
        .iter()
        .map(|p| match p.get("parcel") {
            Some(parcel @ Value::Object(_)) => parcel.clone(),
            _ => serde_json::json!({
                "parcelNumber": p.get("parcelNumber").cloned().unwrap_or(Value::Null),
                "accountNumber": p.get("accountNumber").cloned().unwrap_or(Value::Null),
                "statusLabel": v.t("Colis non visible (droits retirés)", "Parcel no longer visible (rights withdrawn)"),
            }),
        })
        .collect();
    let done = q.as_ref().ok().and_then(|q| q.str("done"));
    let unpin_button = |p: &Value| {
        let n = p.get("parcelNumber").and_then(Value::as_str).unwrap_or("");
        html! {
            td {
                form.inline method="post" action={ "/console/suivi/colis/" (url_encode(n)) "/desepingler" } {
                    (csrf_field(v))
                    input type="hidden" name="back" value="pins";
                    button.secondary.unpin type="submit" aria-label={ (v.t("Désépingler", "Unpin")) " " (n) } { (v.t("Désépingler", "Unpin")) }
                }
            }
        }
    };
    let body = html! {
        (tabs(v, true))
        @if done == Some("unpinned") { (layout::notice(v.t("Colis désépinglé.", "Parcel unpinned."))) }
        p #found { strong { (rows.len()) " " (v.t("colis épinglés", "pinned parcels")) } }
        (parcel_table(v, plain_head(v, v.t("Action", "Action")), &rows, unpin_button))
    };
    page(v, v.t("Outil de suivi colis", "Parcel tracking tool"), body)
}

/// "Épingler": through the gateway, which pins only a parcel the user may see.
async fn pin(State(state): State<AppState>, Path(n): Path<String>, form: Form) -> Response {
    set(state, n, form, true).await
}

/// "Désépingler".
async fn unpin(State(state): State<AppState>, Path(n): Path<String>, form: Form) -> Response {
    set(state, n, form, false).await
}

async fn set(state: AppState, n: String, form: Form, pinned: bool) -> Response {
    let to_pins = form.fields.get("back") == Some("pins");
    let u = match PortalUser::of(form.v) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let Some(n) = parcel_number(&n) else {
        return super::parcel::not_found(&u.v);
    };
    let method = if pinned {
        http::Method::PUT
    } else {
        http::Method::DELETE
    };
    match u
        .call(&state, method, &format!("/sesame/v1/pins/{n}"), None)
        .await
    {
        Ok(_) => back_to(&n, to_pins, if pinned { "pinned" } else { "unpinned" }),
        Err(e) => refuse(&u.v, &e),
    }
}
