//! Changing a company after its creation (the operator's): its entitlements (withdrawing one
//! withdraws it from every user at once), its credentials at the carrier, a department. Each
//! form posts to the store operation the JSON API calls (`PUT …/entitlements`,
//! `PUT …/upstream-credentials`, `POST …/departments`), as the operator.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use sesame_domain::model::{Account, Actor};
use sesame_domain::rights::Grant;
use sesame_domain::RightSet;

use super::accounts::entitlements_field;
use super::{account_of, account_path, require_operator, OperatorPage};
use crate::auth::Caller;
use crate::console::form::Form;
use crate::console::layout::{csrf_field, page_with, see_other};
use crate::console::session::Visitor;
use crate::console::widgets::{Errors, Field};
use crate::error::ApiError;
use crate::routes::accounts::new_department;
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    let base = "/console/back-office/accounts/{n}";
    r.route(&format!("{base}/edit"), get(edit))
        .route(&format!("{base}/entitlements"), post(entitlements))
        .route(&format!("{base}/upstream"), post(upstream))
        .route(&format!("{base}/departments"), post(department))
}

fn edit_page(v: &Visitor, status: StatusCode, a: &Account, errors: &Errors) -> Response {
    let base = account_path(a.number.as_str());
    let body = html! {
        (errors.summary(v))
        p { a href=(base) { "← " (a.company) } }
        form method="post" action={ (base) "/entitlements" } {
            (csrf_field(v))
            (entitlements_field(v, a.entitlements, errors))
            button type="submit" { (v.t("Enregistrer les droits", "Save the entitlements")) }
        }
        form method="post" action={ (base) "/upstream" } novalidate {
            (csrf_field(v))
            fieldset {
                legend { (v.t("Identifiants du compte chez le transporteur", "The account's credentials at the carrier")) }
                div.grid {
                    (Field::text("upstreamLogin", v.t("Identifiant transporteur", "Carrier login"), &a.upstream_login, true).autocomplete("off").render(v, errors))
                    (Field::text("upstreamPassword", v.t("Nouveau mot de passe transporteur", "New carrier password"), "", true).kind("password").autocomplete("new-password").render(v, errors))
                }
                button type="submit" { (v.t("Remplacer les identifiants", "Replace the credentials")) }
            }
        }
        form method="post" action={ (base) "/departments" } novalidate {
            (csrf_field(v))
            fieldset {
                legend { (v.t("Ajouter un service", "Add a department")) }
                (Field::text("name", v.t("Nom du service", "Department name"), "", true).render(v, errors))
                button type="submit" { (v.t("Ajouter", "Add")) }
            }
        }
    };
    page_with(
        v,
        status,
        &format!(
            "{} — {}",
            v.t("Modifier le compte", "Change the account"),
            a.number
        ),
        body,
    )
}

async fn edit(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    Path(n): Path<String>,
) -> Result<Response, Response> {
    let a = account_of(&state, &v, &n).await?;
    Ok(edit_page(&v, StatusCode::OK, &a, &Errors::none()))
}

/// The account's sheet with `done`, or the edit page with the refusal next to its field.
fn answer(v: &Visitor, a: &Account, r: Result<(), ApiError>, done: &str) -> Response {
    match r {
        Ok(()) => see_other(&format!("{}?done={done}", account_path(a.number.as_str()))),
        Err(e) => edit_page(
            v,
            e.status(),
            a,
            &Errors::from_api(
                v,
                &e,
                &["entitlements", "upstreamLogin", "upstreamPassword", "name"],
            ),
        ),
    }
}

async fn entitlements(
    State(state): State<AppState>,
    Path(n): Path<String>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let a = account_of(&state, &v, &n).await?;
    let mut ent = RightSet::EMPTY;
    for g in fields.all("entitlements") {
        match Grant::parse(g) {
            Ok(g) => ent = ent.grant(g),
            Err(e) => {
                let e = ApiError::invalid("entitlements", format!("entitlements: {}", e.reason));
                return Ok(answer(&v, &a, Err(e), ""));
            }
        }
    }
    let r = state
        .store
        .set_entitlements(Actor::Operator, a.id, ent)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    Ok(answer(&v, &a, r, "entitlements"))
}

async fn upstream(
    State(state): State<AppState>,
    Path(n): Path<String>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let a = account_of(&state, &v, &n).await?;
    let r = state
        .store
        .set_upstream_credentials(
            Actor::Operator,
            a.id,
            fields.get("upstreamLogin").unwrap_or(""),
            fields.raw("upstreamPassword"),
        )
        .await
        .map_err(ApiError::from);
    Ok(answer(&v, &a, r, "upstream"))
}

async fn department(
    State(state): State<AppState>,
    Path(n): Path<String>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let a = account_of(&state, &v, &n).await?;
    let r = new_department(
        &state,
        &Caller::Operator,
        &a,
        fields.get("name").unwrap_or(""),
    )
    .await
    .map(|_| ());
    Ok(answer(&v, &a, r, "department"))
}
