//! A contact of a company, as the back office sees it (seed 004 §4): its sheet ("Visualiser")
//! with the "Accès autorisé" toggle and the "Suivi client" timeline, and the actions of its
//! menu: "Renvoyer le mot de passe" (the invitation again while it is pending), "Connexion à
//! l'espace client" (see `impersonation`), "Ecrire un e-mail"; and "Ajouter un collaborateur".
//!
//! A contact is looked up within the company of the path (`user_in_account`): another
//! company's contact id is "not found", whatever exists.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use sesame_domain::model::{Account, AuditEntry, User, UserKind, UserStatus};
use sesame_domain::RightSet;
use sesame_store::AuditFilter;

use super::audit::{timeline, Numbers};
use super::{account_of, account_path, contact_path, require_operator, OperatorPage};
use crate::auth::Caller;
use crate::console::form::{Fields, Form};
use crate::console::layout::{csrf_field, notice, page, page_with, see_other, OrPage};
use crate::console::session::Visitor;
use crate::console::user_form::{department, identity, posted, val, Values, PROFILE};
use crate::console::widgets::{rights, Audience, Errors, Field};
use crate::extract::{parse_value, Query};
use crate::forms::parse_id;
use crate::routes::back_office::{send_message, set_status};
use crate::routes::password_resets::send_reset;
use crate::routes::users::{add_standard_user, StandardUserIn};
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    let base = "/console/back-office/accounts/{n}/contacts";
    r.route(&format!("{base}/new"), get(new_form).post(create))
        .route(&format!("{base}/{{id}}"), get(sheet))
        .route(&format!("{base}/{{id}}/access"), post(access))
        .route(&format!("{base}/{{id}}/password"), post(password))
        .route(
            &format!("{base}/{{id}}/message"),
            get(message_form).post(message),
        )
}

/// The notices after an action on a contact (`?done=…`): known words only.
pub(super) fn done_notice(v: &Visitor, done: Option<&str>) -> Option<Markup> {
    let text = match done? {
        "access-allowed" => v.t("Accès autorisé : le commentaire figure dans le suivi client.", "Access allowed: the comment is in the customer follow-up."),
        "access-denied" => v.t("Accès retiré : le contact ne peut plus se connecter ; le commentaire figure dans le suivi client.", "Access withdrawn: the contact can no longer sign in; the comment is in the customer follow-up."),
        "access-unchanged" => v.t("L'accès était déjà dans cet état : rien n'a changé.", "Access was already so: nothing changed."),
        "password-sent" => v.t("Un lien pour choisir un nouveau mot de passe a été envoyé au collaborateur (valable 24 h).", "A link to choose a new password was sent to the collaborator (valid 24 hours)."),
        "invitation-sent" => v.t("Le collaborateur n'a pas encore confirmé son compte : l'invitation lui a été renvoyée (lien valable 48 h).", "The collaborator has not confirmed their account yet: the invitation was sent again (link valid 48 hours)."),
        "contact-added" => v.t("Le collaborateur a été créé (statut de validation accepté).", "The collaborator was created (accepted)."),
        "message-sent" => v.t("L'e-mail a été envoyé.", "The e-mail was sent."),
        "impersonation-ended" => v.t("La session d'assistance est terminée.", "The assistance session has ended."),
        _ => return None,
    };
    Some(notice(text))
}

/// The company and the contact a path names; another company's contact is "not found".
pub(super) async fn contact_of(
    state: &AppState,
    v: &Visitor,
    n: &str,
    id: &str,
) -> Result<(Account, User), Response> {
    let a = account_of(state, v, n).await?;
    let id = parse_id(id).or_page(v)?;
    let u = state.store.user_in_account(a.id, id).await.or_page(v)?;
    Ok((a, u))
}

pub(super) fn full_name(u: &User) -> String {
    format!("{} {}", u.profile.first_name, u.profile.last_name)
}

async fn sheet(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    Path((n, id)): Path<(String, String)>,
    q: Query,
) -> Result<Response, Response> {
    let (a, u) = contact_of(&state, &v, &n, &id).await?;
    let link = state.store.link(u.id, a.id).await.or_page(&v)?;
    // The main contact's link holds every right and follows the account's entitlements.
    let rights_on_account = RightSet::effective(link.rights, a.entitlements);
    let others = state
        .store
        .links_of_user(u.id)
        .await
        .or_page(&v)?
        .into_iter()
        .filter(|l| l.account_id != a.id)
        .count();
    // "Suivi client": everything about the contact, newest first (the operator sees it all).
    let entries: Vec<AuditEntry> = state
        .store
        .audit_log(&AuditFilter {
            user_id: Some(u.id),
            limit: Some(200),
            ..AuditFilter::default()
        })
        .await
        .or_page(&v)?;
    let numbers = Numbers::of(&state, &entries).await;
    let sheet = contact_path(a.number.as_str(), u.id);
    let p = &u.profile;
    let body = html! {
        @if let Some(m) = done_notice(&v, q.str("done")) { (m) }
        p { a href={ (account_path(a.number.as_str())) "#contacts" } { "← " (a.company) " — " (v.t("Liste contacts", "Contacts")) } }
        div.tiles {
            section.tile {
                h2 { (v.t("Informations générales", "General information")) }
                dl.facts {
                    dt { (v.t("Nom", "Last name")) } dd { (p.last_name) }
                    dt { (v.t("Prénom", "First name")) } dd { (p.first_name) }
                    dt { (v.t("Fonction", "Job title")) } dd { (p.function) }
                    dt { (v.t("Email", "E-mail")) } dd { (p.email.as_ref().map(|e| e.as_str()).unwrap_or("")) }
                    dt { (v.t("Téléphone", "Phone")) } dd { (p.phone) }
                    dt { (v.t("Adresse", "Address")) } dd { (p.address) ", " (p.postal_code) " " (p.city) }
                    dt { (v.t("Identifiant", "Login")) } dd { (u.login.as_ref().map(|l| l.as_str()).unwrap_or("—")) }
                    dt { (v.t("Type", "Kind")) } dd {
                        @if u.main_contact { (v.t("Contact principal (mêmes droits que le compte)", "Main contact (the account's rights)")) }
                        @else if u.kind == UserKind::Advanced { (v.t("Utilisateur avancé", "Advanced user")) }
                        @else { (v.t("Collaborateur", "Collaborator")) }
                    }
                    @if u.kind == UserKind::Advanced {
                        dt { (v.t("Autres comptes liés", "Other linked accounts")) } dd { (others) }
                    }
                }
            }
            section.tile {
                h2 { (v.t("Configuration des accès", "Access configuration")) }
                ul { @for g in rights_on_account.grants() { li { (v.lang.grant(g)) } } }
                @if rights_on_account.is_empty() { p.muted { (v.t("Aucun droit sur ce compte.", "No right on this account.")) } }
            }
        }
        (access_form(&v, &sheet, &u))
        (actions(&v, &sheet, &u))
        h2 #suivi { (v.t("Suivi client", "Customer follow-up")) }
        (timeline(&v, &entries, &numbers))
    };
    Ok(page(
        &v,
        &format!("{} — {}", full_name(&u), a.company),
        body,
    ))
}

/// "Accès autorisé" (seed 004 §4): ticking or unticking it leaves a comment in "Suivi client".
fn access_form(v: &Visitor, sheet: &str, u: &User) -> Markup {
    let pending = u.status == UserStatus::Invited;
    html! {
        section {
            h2 { (v.t("Accès", "Access")) }
            @if u.main_contact {
                p.muted { (v.t("Le contact principal suit l'accès de son compte (voir « Accès du compte »).", "The main contact follows its account's access (see \"Account access\").")) }
            } @else {
                form method="post" action={ (sheet) "/access" } {
                    (csrf_field(v))
                    div.field.check {
                        input #f-allowed type="checkbox" name="allowed" value="true" checked[u.status == UserStatus::Active] disabled[pending];
                        " "
                        label for="f-allowed" { (v.t("Accès autorisé", "Access allowed")) }
                        @if pending { p.muted { (v.t("Invitation en attente : l'accès s'ouvre quand le collaborateur confirme son compte.", "Invitation pending: access opens when the collaborator confirms their account.")) } }
                    }
                    div.field {
                        label for="f-comment" { (v.t("Commentaire (suivi client)", "Comment (customer follow-up)")) }
                        textarea #f-comment name="comment" rows="2" maxlength="500" {}
                    }
                    button type="submit" disabled[pending] { (v.t("Enregistrer", "Save")) }
                }
            }
        }
    }
}

/// The action menu's entries, on the sheet: the password link, the impersonation (with its
/// reason, audited), the e-mail.
fn actions(v: &Visitor, sheet: &str, u: &User) -> Markup {
    html! {
        section {
            h2 { (v.t("Actions", "Actions")) }
            div.actions {
                form.inline method="post" action={ (sheet) "/password" } {
                    (csrf_field(v))
                    button.secondary type="submit" { (v.t("Renvoyer le mot de passe", "Resend the password")) }
                }
                @if u.profile.email.is_some() {
                    a.button.secondary href={ (sheet) "/message" } { (v.t("Ecrire un e-mail", "Write an e-mail")) }
                }
            }
            @if u.status == UserStatus::Active {
                form #impersonate method="post" action={ (sheet) "/impersonate" } {
                    (csrf_field(v))
                    fieldset {
                        legend { (v.t("Connexion à l'espace client", "Sign in to the customer area")) }
                        p.muted { (v.t("Ouvre une courte session d'assistance dans l'espace du collaborateur ; elle est journalisée et signalée par un bandeau sur chaque page.", "Opens a short assistance session in the collaborator's area; it is audited and shown by a banner on every page.")) }
                        div.field {
                            label for="f-reason" { (v.t("Motif (journal d'audit)", "Reason (audit log)")) }
                            input #f-reason type="text" name="comment" maxlength="500";
                        }
                        button type="submit" { (v.t("Connexion à l'espace client", "Sign in to the customer area")) }
                    }
                }
            }
        }
    }
}

async fn access(
    State(state): State<AppState>,
    Path((n, id)): Path<(String, String)>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let (a, u) = contact_of(&state, &v, &n, &id).await?;
    let allowed = fields.get("allowed") == Some("true");
    let sheet = contact_path(a.number.as_str(), u.id);
    if allowed == (u.status == UserStatus::Active) {
        return Ok(see_other(&format!("{sheet}?done=access-unchanged#suivi")));
    }
    set_status(
        &state,
        &Caller::Operator,
        &a,
        u.id,
        allowed,
        fields.get("comment"),
    )
    .await
    .or_page(&v)?;
    let done = if allowed {
        "access-allowed"
    } else {
        "access-denied"
    };
    Ok(see_other(&format!("{sheet}?done={done}#suivi")))
}

/// "Renvoyer le mot de passe": a reset link; to a contact who has not confirmed yet (no
/// password to reset), the invitation again.
async fn password(
    State(state): State<AppState>,
    Path((n, id)): Path<(String, String)>,
    Form { v, .. }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let (a, u) = contact_of(&state, &v, &n, &id).await?;
    let lang = v.lang.code();
    let done = if u.status == UserStatus::Invited {
        let (u, inv, token) = state
            .store
            .resend_invitation(Caller::Operator.actor(), a.id, u.id)
            .await
            .or_page(&v)?;
        crate::routes::invitations::send(&state, &u, &a.company, &token, lang, inv.expires_at)
            .await;
        "invitation-sent"
    } else {
        send_reset(&state, &Caller::Operator, &a, u.id, lang)
            .await
            .or_page(&v)?;
        "password-sent"
    };
    Ok(see_other(&format!(
        "{}?done={done}",
        contact_path(a.number.as_str(), u.id)
    )))
}

fn message_page(
    v: &Visitor,
    status: StatusCode,
    a: &Account,
    u: &User,
    fields: &Fields,
    errors: &Errors,
) -> Response {
    let sheet = contact_path(a.number.as_str(), u.id);
    let to = u.profile.email.as_ref().map(|e| e.as_str()).unwrap_or("");
    let body_error = errors.of("body");
    let body = html! {
        (errors.summary(v))
        form method="post" action={ (sheet) "/message" } novalidate {
            (csrf_field(v))
            div.field {
                label for="f-to" { (v.t("Destinataire", "To")) }
                input #f-to type="text" value={ (full_name(u)) " <" (to) ">" } readonly;
            }
            (Field::text("subject", v.t("Objet", "Subject"), fields.get("subject").unwrap_or(""), true).render(v, errors))
            div.field.invalid[body_error.is_some()] {
                label for="f-body" { (v.t("Message", "Message")) abbr title=(v.t("obligatoire", "required")) { "*" } }
                textarea #f-body name="body" rows="10" required aria-invalid=[body_error.map(|_| "true")] aria-describedby=[body_error.map(|_| "f-body-error")] { (fields.raw("body")) }
                @if let Some(m) = body_error { p.field-error #f-body-error { strong { (v.t("Erreur", "Error")) " : " } (m) } }
            }
            div.actions {
                button type="submit" { (v.t("Envoyer", "Send")) }
                a.button.secondary href=(sheet) { (v.t("Annuler", "Cancel")) }
            }
        }
    };
    page_with(v, status, v.t("Ecrire un e-mail", "Write an e-mail"), body)
}

async fn message_form(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    Path((n, id)): Path<(String, String)>,
) -> Result<Response, Response> {
    let (a, u) = contact_of(&state, &v, &n, &id).await?;
    Ok(message_page(
        &v,
        StatusCode::OK,
        &a,
        &u,
        &Fields::default(),
        &Errors::none(),
    ))
}

async fn message(
    State(state): State<AppState>,
    Path((n, id)): Path<(String, String)>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let (a, u) = contact_of(&state, &v, &n, &id).await?;
    let sent = send_message(
        &state,
        &Caller::Operator,
        &a,
        u.id,
        fields.get("subject").unwrap_or(""),
        fields.raw("body"),
        v.lang.code(),
    )
    .await;
    match sent {
        Ok(_) => Ok(see_other(&format!(
            "{}?done=message-sent",
            contact_path(a.number.as_str(), u.id)
        ))),
        Err(e) => Ok(message_page(
            &v,
            e.status(),
            &a,
            &u,
            &fields,
            &Errors::from_api(&v, &e, &["subject", "body"]),
        )),
    }
}

/// "Ajouter un collaborateur": the fields of the collaborator's form on the site (seed 004 §4),
/// i.e. the standard user's (seed 000 §4); created accepted, with the rights ticked.
fn collaborator_page(
    v: &Visitor,
    status: StatusCode,
    a: &Account,
    deps: &[sesame_domain::model::Department],
    values: &Values,
    checked: RightSet,
    errors: &Errors,
) -> Response {
    let base = account_path(a.number.as_str());
    let body = html! {
        (errors.summary(v))
        form method="post" action={ (base) "/contacts/new" } novalidate {
            (csrf_field(v))
            (identity(v, values, errors, true, false))
            fieldset {
                legend { (v.t("Identifiant et mot de passe", "Login and password")) }
                (Field::text("login", v.t("Identifiant", "Login"), val(values, "login"), true).autocomplete("off").render(v, errors))
                (Field::text("password", v.t("Mot de passe", "Password"), "", true).kind("password").autocomplete("new-password").render(v, errors))
                (Field::text("passwordConfirmation", v.t("Confirmer Mot de passe", "Confirm password"), "", true).kind("password").autocomplete("new-password").render(v, errors))
                (department(v, deps, values.get("departmentId").and_then(|d| d.parse().ok()), errors))
            }
            (rights(v, Audience::Standard, checked, a.entitlements, errors))
            div.actions {
                button type="submit" { (v.t("Création", "Create")) }
                a.button.secondary href={ (base) "#contacts" } { (v.t("Retour à la liste sans sauvegarde", "Back to the list without saving")) }
            }
            p.muted { abbr title=(v.t("obligatoire", "required")) { "*" } " " (v.t("Information obligatoire", "Required information")) }
        }
    };
    page_with(
        v,
        status,
        &format!(
            "{} — {}",
            v.t("Ajouter un collaborateur", "Add a collaborator"),
            a.company
        ),
        body,
    )
}

async fn new_form(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    Path(n): Path<String>,
) -> Result<Response, Response> {
    let a = account_of(&state, &v, &n).await?;
    let deps = state.store.departments(a.id).await.or_page(&v)?;
    let mut values = Values::new();
    values.insert("country", "France".to_owned());
    // Seed 004 §3: a collaborator reaches the site only with "Accès au site": ticked when the
    // account holds it.
    let site = sesame_domain::rights::Grant::Plain(sesame_domain::rights::Right::SiteAccess);
    let checked = if a.entitlements.has_grant(site) {
        RightSet::EMPTY.grant(site)
    } else {
        RightSet::EMPTY
    };
    Ok(collaborator_page(
        &v,
        StatusCode::OK,
        &a,
        &deps,
        &values,
        checked,
        &Errors::none(),
    ))
}

async fn create(
    State(state): State<AppState>,
    Path(n): Path<String>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let a = account_of(&state, &v, &n).await?;
    let mut texts: Vec<&str> = PROFILE.to_vec();
    texts.push("login");
    let mut json = fields.to_json(&texts, &["rights"]);
    if let Some(o) = json.as_object_mut() {
        for p in ["password", "passwordConfirmation"] {
            o.insert(p.into(), fields.raw(p).into());
        }
    }
    fields.set_int(&mut json, "departmentId");
    let result = match parse_value::<StandardUserIn>(&json) {
        Ok(input) => add_standard_user(&state, &Caller::Operator, &a, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(u) => Ok(see_other(&format!(
            "{}?done=contact-added",
            contact_path(a.number.as_str(), u.id)
        ))),
        Err(e) => {
            let mut known: Vec<&str> = PROFILE.to_vec();
            known.extend([
                "login",
                "password",
                "passwordConfirmation",
                "rights",
                "departmentId",
            ]);
            let mut names: Vec<&'static str> = PROFILE.to_vec();
            names.extend(["login", "departmentId"]);
            let deps = state.store.departments(a.id).await.or_page(&v)?;
            let checked = crate::console::user_form::ticked(&fields);
            Ok(collaborator_page(
                &v,
                e.status(),
                &a,
                &deps,
                &posted(&fields, &names),
                checked,
                &Errors::from_api(&v, &e, &known),
            ))
        }
    }
}
