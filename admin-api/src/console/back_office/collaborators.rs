//! Seed 004's collaborators in the back office: the company's sub-accounts module and whether
//! the collaborators its admin creates wait for validation (§2, a form on the company's sheet),
//! and each collaborator's validation status in "Liste contacts" with "Accepter" / "Refuser"
//! for a pending one (§4). Both post through the API's own functions
//! (`routes::collaborators`): the same rules, the same audit as the operator.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};
use sesame_domain::model::{Account, User, ValidationStatus};

use super::{account_path, contact_path, require_operator};
use crate::console::form::Form;
use crate::console::layout::{csrf_field, notice, see_other, OrPage};
use crate::console::session::Visitor;
use crate::error::ApiError;
use crate::routes::collaborators::{switch_modules, validate_collaborator};
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/back-office/accounts/{n}/modules", post(modules))
        .route(
            "/console/back-office/accounts/{n}/contacts/{id}/validation",
            post(validation),
        )
}

/// The notices of these actions (`?done=…`): known words only.
pub(super) fn done_notice(v: &Visitor, done: Option<&str>) -> Option<Markup> {
    let text = match done? {
        "modules-saved" => v.t(
            "Les modules du compte sont enregistrés.",
            "The account's modules are saved.",
        ),
        "validation-accepted" => v.t(
            "Le collaborateur est accepté : il peut se connecter.",
            "The collaborator is accepted: they can sign in.",
        ),
        "validation-refused" => v.t(
            "Le collaborateur est refusé : il ne peut pas se connecter.",
            "The collaborator is refused: they cannot sign in.",
        ),
        _ => return None,
    };
    Some(notice(text))
}

fn on_off(v: &Visitor, on: bool) -> &'static str {
    if on {
        v.t("Oui", "Yes")
    } else {
        v.t("Non", "No")
    }
}

/// The company's modules (seed 004 §2): the current state said in words, and the form that
/// switches them.
pub(super) fn modules_tile(v: &Visitor, a: &Account) -> Markup {
    html! {
        section.tile #modules {
            h2 { (v.t("Gestion des sous-comptes clients", "Customer sub-accounts")) }
            // A list rather than the facts grid: the labels are long for a tile's width.
            ul {
                li { (v.t("Module sous-comptes", "Sub-accounts module")) " : " strong { (on_off(v, a.sub_accounts)) } }
                li { (v.t("Validation des collaborateurs requise", "Collaborators need validation")) " : " strong { (on_off(v, a.collaborator_validation)) } }
            }
            form method="post" action={ (account_path(a.number.as_str())) "/modules" } {
                (csrf_field(v))
                ul.checks {
                    li {
                        input type="checkbox" #f-subAccounts name="subAccounts" value="true" checked[a.sub_accounts];
                        label for="f-subAccounts" { (v.t("Module sous-comptes (l'administrateur du compte gère ses collaborateurs)", "Sub-accounts module (the account admin manages its collaborators)")) }
                    }
                    li {
                        input type="checkbox" #f-collaboratorValidation name="collaboratorValidation" value="true" checked[a.collaborator_validation];
                        label for="f-collaboratorValidation" { (v.t("Validation des collaborateurs requise (ceux que l'administrateur crée attendent votre validation)", "Collaborators need validation (those the admin creates wait for yours)")) }
                    }
                }
                button type="submit" { (v.t("Enregistrer", "Save")) }
            }
        }
    }
}

pub(super) fn validation_text(v: &Visitor, s: ValidationStatus) -> &'static str {
    match s {
        ValidationStatus::Pending => v.t("En attente", "Pending"),
        ValidationStatus::Accepted => v.t("Accepté", "Accepted"),
        ValidationStatus::Refused => v.t("Refusé", "Refused"),
    }
}

/// A contact's validation status in "Liste contacts"; a pending one gets "Accepter" and
/// "Refuser" (each a small form with its token and an optional comment for the audit).
pub(super) fn validation_cell(v: &Visitor, a: &Account, u: &User) -> Markup {
    let action = format!("{}/validation", contact_path(a.number.as_str(), u.id));
    let comment_id = format!("f-validation-comment-{}", u.id);
    html! {
        (validation_text(v, u.validation))
        @if u.validation == ValidationStatus::Pending {
            form.inline method="post" action=(action) {
                (csrf_field(v))
                label for=(comment_id) { (v.t("Commentaire (facultatif)", "Comment (optional)")) }
                input type="text" id=(comment_id) name="comment" maxlength="500";
                button type="submit" name="status" value="accepted" { (v.t("Accepter", "Accept")) }
                " "
                button.danger type="submit" name="status" value="refused" { (v.t("Refuser", "Refuse")) }
            }
        }
    }
}

async fn modules(
    State(state): State<AppState>,
    Path(n): Path<String>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    // Unticked boxes are not posted: absent is off.
    let on = |name: &str| fields.get(name) == Some("true");
    let a = switch_modules(&state, &n, on("subAccounts"), on("collaboratorValidation"))
        .await
        .or_page(&v)?;
    Ok(see_other(&format!(
        "{}?done=modules-saved#modules",
        account_path(a.number.as_str())
    )))
}

async fn validation(
    State(state): State<AppState>,
    Path((n, id)): Path<(String, String)>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let status = match fields.get("status") {
        Some("accepted") => ValidationStatus::Accepted,
        Some("refused") => ValidationStatus::Refused,
        _ => {
            return Err(crate::console::layout::fail(
                &v,
                &ApiError::invalid("status", "status: accepted or refused"),
            ))
        }
    };
    let u = validate_collaborator(&state, &n, &id, status, fields.get("comment"))
        .await
        .or_page(&v)?;
    let done = match u.validation {
        ValidationStatus::Refused => "validation-refused",
        _ => "validation-accepted",
    };
    Ok(see_other(&format!(
        "{}?done={done}#contacts",
        account_path(&n)
    )))
}
