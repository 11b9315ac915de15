//! Screen 6: the operator's back office (seed 004 §4, SPEC §5): the accounts list and their
//! creation (entitlements, upstream credentials, departments), a company's sheet with its
//! "Liste contacts" and each contact's action menu (Visualiser, Segmentation libre, Renvoyer le mot de passe,
//! Connexion à l'espace client, Ecrire un e-mail), the company's sub-accounts module and its
//! collaborators' validation (Accepter / Refuser), "Ajouter un collaborateur", the contact's
//! sheet with the "Accès autorisé" toggle and its "Suivi client" timeline, and the audit log
//! with its filters.
//!
//! Every page is the operator's: another signed-in visitor gets a refusal page (403), nobody
//! signed in goes to the operator's sign-in. Every action calls the API's own function
//! (`crate::routes::*`) as the operator: the same rules, the same audit.

mod account_edit;
mod accounts;
mod audit;
mod collaborators;
mod contacts;
mod impersonation;
mod segments;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;

use super::layout::{self, OrPage};
use super::session::Visitor;
use crate::auth::Caller;
use crate::AppState;
use sesame_domain::model::Account;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    let r = accounts::routes(r);
    let r = account_edit::routes(r);
    let r = contacts::routes(r);
    let r = collaborators::routes(r);
    let r = segments::routes(r);
    let r = impersonation::routes(r);
    audit::routes(r)
}

/// The refusal of a back-office page to anyone but the operator: nobody signed in goes to the
/// operator's sign-in; anyone else is told the page is not theirs (and nothing is done).
fn not_operator(v: &Visitor) -> Response {
    if v.caller.is_none() {
        return Redirect::to("/console/operator/sign-in").into_response();
    }
    layout::message_page(
        v,
        StatusCode::FORBIDDEN,
        v.t("Action non autorisée", "Not allowed"),
        v.t(
            "Le back office est réservé à l'opérateur : rien n'a été fait.",
            "The back office is the operator's: nothing was done.",
        ),
    )
}

/// The signed-in operator (a page's extractor; a posted form checks [`require_operator`]).
pub struct OperatorPage(pub Visitor);

impl FromRequestParts<AppState> for OperatorPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let v = Visitor::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        require_operator(&v)?;
        Ok(OperatorPage(v))
    }
}

/// Whether a posted form comes from the operator (checked after its CSRF token).
// The refusal is the page the handler returns at once (axum's `Result<_, Response>` idiom).
#[allow(clippy::result_large_err)]
pub fn require_operator(v: &Visitor) -> Result<(), Response> {
    match v.caller {
        Some(Caller::Operator) => Ok(()),
        _ => Err(not_operator(v)),
    }
}

/// The path of a company's sheet.
fn account_path(number: &str) -> String {
    format!("/console/back-office/accounts/{number}")
}

/// The path of a contact's sheet.
fn contact_path(number: &str, id: i64) -> String {
    format!("/console/back-office/accounts/{number}/contacts/{id}")
}

/// The account a back-office path names (six digits), or the "not found" page.
async fn account_of(state: &AppState, v: &Visitor, n: &str) -> Result<Account, Response> {
    crate::auth::account_for(state, &Caller::Operator, n)
        .await
        .or_page(v)
}

/// A table's column headings, each a pair (French, English).
pub fn column_heads(v: &Visitor, cols: &[(&str, &str)]) -> maud::Markup {
    maud::html! {
        thead { tr { @for (fr, en) in cols { th scope="col" { (v.t(fr, en)) } } } }
    }
}
