//! The parcel sheet ("fiche colis", seed 000 §9): `/console/suivi/colis/{n}`, the parcel's
//! details and timeline from the gateway's `GET /sesame/v1/parcels/{n}`, with "Épingler" /
//! "Désépingler" (`pins.rs`) and, for `tracking_tool_cs` holders, "Faire une réclamation" (the
//! gateway's claims endpoint). A parcel the user may not see is "Colis introuvable" (404),
//! exactly as an unknown one: the gateway answers both alike, and so does this page.
//!
//! The tracking link's OK button (`GET /entreprise/colis/login/parcel` refused) leads here
//! through the sign-in (`?next=/console/suivi/colis/<cab>`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::tracking::tabs;
use super::PortalUser;
use crate::console::form::Form;
use crate::console::layout::{self, csrf_field, page, see_other};
use crate::console::session::Visitor;
use crate::console::url_encode;
use crate::error::ApiError;
use crate::extract::Query;
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/suivi/colis/{n}", get(sheet))
        .route("/console/suivi/colis/{n}/reclamation", post(claim))
}

/// The longest parcel number (the gateway's bound too).
const MAX_NUMBER: usize = 40;
/// The longest claim comment.
const MAX_COMMENT: usize = 2000;

/// The claim reasons offered (sent as the reason's text).
const REASONS: [(&str, &str); 4] = [
    ("Colis non reçu", "Parcel not received"),
    ("Colis endommagé", "Parcel damaged"),
    ("Retard de livraison", "Late delivery"),
    ("Autre", "Other"),
];

/// A parcel number as a path may carry it: letters and digits, at most 40; anything else is
/// no parcel (answered as an unknown one, never sent to the gateway).
pub fn parcel_number(n: &str) -> Option<String> {
    let n = n.trim();
    (!n.is_empty() && n.len() <= MAX_NUMBER && n.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| n.to_ascii_uppercase())
}

/// "Colis introuvable" (404): unknown and out of scope alike.
pub fn not_found(v: &Visitor) -> Response {
    layout::page_with(
        v,
        StatusCode::NOT_FOUND,
        v.t("Colis introuvable", "Parcel not found"),
        html! {
            p.notice.error role="alert" {
                (v.t("Ce colis est introuvable, ou votre compte utilisateur ne vous permet pas d'y accéder.", "This parcel cannot be found, or your user account does not give access to it."))
            }
            p { a href="/console/suivi" { (v.t("Retour à la recherche", "Back to the search")) } }
        },
    )
}

/// The sheet's JSON (`{"accountNumber","parcel","pinned"}`), or the page that refuses.
#[allow(clippy::result_large_err)] // the refusal is the page returned at once
async fn fetch(state: &AppState, u: &PortalUser, n: &str) -> Result<Value, Response> {
    let Some(n) = parcel_number(n) else {
        return Err(not_found(&u.v));
    };
    match u.get_json(state, &format!("/sesame/v1/parcels/{n}")).await {
        Ok(v) => Ok(v),
        Err(e) => Err(refuse(&u.v, &e)),
    }
}

fn text<'a>(p: &'a Value, ptr: &str) -> &'a str {
    p.pointer(ptr).and_then(Value::as_str).unwrap_or("-")
}

/// The details and the timeline, as the carrier's sheet shows them.
fn details(v: &Visitor, account: &str, p: &Value) -> Markup {
    let weight = p
        .get("weight")
        .and_then(Value::as_f64)
        .map_or_else(|| "-".to_owned(), |w| format!("{w} kg"));
    html! {
        p.status { strong { (text(p, "/statusLabel")) } }
        @if let Some(steps) = p.get("step").and_then(Value::as_array) {
            ol.steps aria-label=(v.t("Étapes", "Steps")) {
                @for s in steps {
                    @let on = s.get("status").and_then(Value::as_str) == Some("STEP_STATUS_ACTIVE");
                    li class=(if on { "on" } else { "off" }) {
                        (text(s, "/labelShort"))
                        @if on { span.sr-only { " (" (v.t("atteinte", "reached")) ")" } }
                    }
                }
            }
        }
        section {
            h2 { (v.t("Détails du colis", "Parcel details")) }
            dl.facts {
                dt { (v.t("N° compte client", "Customer account")) } dd { (account) }
                dt { (v.t("Produit", "Product")) } dd { (text(p, "/product")) }
                dt { (v.t("Poids annoncé", "Declared weight")) } dd { (weight) }
                dt { (v.t("Date de dépôt", "Deposit date")) } dd { (text(p, "/depositDate")) }
                dt { (v.t("Destinataire", "Recipient")) }
                dd { (text(p, "/recipient/name")) ", " (text(p, "/recipient/postalCode")) " " (text(p, "/recipient/city")) " " (text(p, "/recipient/country")) }
            }
        }
        section {
            h2 { (v.t("Timeline", "Timeline")) }
            ol.timeline {
                @for e in p.get("event").and_then(Value::as_array).into_iter().flatten() {
                    @let date = text(e, "/date");
                    li {
                        p { time datetime=(date) { (date.get(..10).unwrap_or(date)) } " — " strong { (text(e, "/labelLong")) } }
                        p.muted { (text(e, "/siteName")) }
                    }
                }
            }
        }
    }
}

/// The notices a post comes back with (`?done=…`).
fn done_notice(v: &Visitor, done: Option<&str>) -> Markup {
    let text = match done {
        Some("pinned") => Some(v.t("Colis épinglé.", "Parcel pinned.")),
        Some("unpinned") => Some(v.t("Colis désépinglé.", "Parcel unpinned.")),
        _ => None,
    };
    html! { @if let Some(t) = text { (layout::notice(t)) } }
}

async fn sheet(
    State(state): State<AppState>,
    u: PortalUser,
    Path(n): Path<String>,
    q: Result<Query, ApiError>,
) -> Response {
    let sheet = match fetch(&state, &u, &n).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let v = &u.v;
    let p = sheet.get("parcel").cloned().unwrap_or(Value::Null);
    let number = text(&p, "/parcelNumber").to_owned();
    let account = sheet
        .get("accountNumber")
        .and_then(Value::as_str)
        .unwrap_or("-");
    let pinned = sheet.get("pinned").and_then(Value::as_bool) == Some(true);
    let done = q.as_ref().ok().and_then(|q| q.str("done"));
    let enc = url_encode(&number);
    let body = html! {
        (tabs(v, false))
        (done_notice(v, done))
        (details(v, account, &p))
        section {
            @if pinned {
                form.inline method="post" action={ "/console/suivi/colis/" (enc) "/desepingler" } {
                    (csrf_field(v))
                    button.secondary #unpin type="submit" { "📌 " (v.t("Désépingler", "Unpin")) }
                }
            } @else {
                form.inline method="post" action={ "/console/suivi/colis/" (enc) "/epingler" } {
                    (csrf_field(v))
                    button #pin type="submit" { "📌 " (v.t("Épingler", "Pin")) }
                }
            }
        }
        @if v.portal.claims {
            section #claim {
                h2 { (v.t("Faire une réclamation", "Make a claim")) }
                form method="post" action={ "/console/suivi/colis/" (enc) "/reclamation" } {
                    (csrf_field(v))
                    div.field {
                        label for="f-reason" { (v.t("Motif", "Reason")) }
                        select #f-reason name="reason" required {
                            @for (fr, en) in &REASONS { option value=(fr) { (v.t(fr, en)) } }
                        }
                    }
                    div.field {
                        label for="f-comment" { (v.t("Commentaire", "Comment")) }
                        textarea #f-comment name="comment" rows="4" maxlength=(MAX_COMMENT) {}
                    }
                    div.actions { button type="submit" { (v.t("Envoyer la réclamation", "Send the claim")) } }
                }
            }
        }
    };
    page(
        v,
        &format!("{} {number}", v.t("Colis n°", "Parcel no.")),
        body,
    )
}

async fn claim(State(state): State<AppState>, Path(n): Path<String>, form: Form) -> Response {
    let fields = form.fields;
    let u = match PortalUser::of(form.v) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let v = &u.v;
    let Some(n) = parcel_number(&n) else {
        return not_found(v);
    };
    let reason = fields.get("reason").unwrap_or("");
    let comment = fields.get("comment").unwrap_or("");
    if !REASONS.iter().any(|(fr, _)| *fr == reason) {
        return layout::fail(v, &ApiError::invalid("reason", "reason: is required"));
    }
    if comment.chars().count() > MAX_COMMENT {
        return layout::fail(
            v,
            &ApiError::invalid(
                "comment",
                format!("comment: must be at most {MAX_COMMENT} characters"),
            ),
        );
    }
    let answer = match u
        .call(
            &state,
            http::Method::POST,
            &format!("/sesame/v1/parcels/{n}/claims"),
            Some(&json!({"reason": reason, "comment": comment})),
        )
        .await
        .and_then(|a| a.json())
    {
        Ok(a) => a,
        Err(e) => return refuse(v, &e),
    };
    let claim_id = answer.get("claimId").and_then(Value::as_str).unwrap_or("-");
    page(
        v,
        v.t("Réclamation enregistrée", "Claim recorded"),
        html! {
            (layout::notice(v.t("Votre réclamation a été transmise au service client.", "Your claim was sent to customer service.")))
            dl.facts {
                dt { (v.t("N° de colis", "Parcel number")) } dd { (n) }
                dt { (v.t("N° de réclamation", "Claim number")) } dd #claim-id { (claim_id) }
                dt { (v.t("Motif", "Reason")) } dd { (reason) }
            }
            p { a href={ "/console/suivi/colis/" (url_encode(&n)) } { (v.t("Retour à la fiche colis", "Back to the parcel sheet")) } }
        },
    )
}

/// After a pin or unpin: back to the sheet (or the pins' tab), with its notice.
pub fn back_to(n: &str, to_pins: bool, done: &str) -> Response {
    if to_pins {
        see_other(&format!("/console/suivi/epingles?done={done}"))
    } else {
        see_other(&format!(
            "/console/suivi/colis/{}?done={done}",
            url_encode(n)
        ))
    }
}

/// A refusal of a parcel action as its page: unknown or out of scope → "Colis introuvable".
pub fn refuse(v: &Visitor, e: &ApiError) -> Response {
    match e {
        ApiError::NotFound(_) => not_found(v),
        e => super::fail(v, e),
    }
}
