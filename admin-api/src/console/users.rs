//! Screen 3: "Gestion des utilisateurs" (seed 000 §3, §7): the standard users table and the
//! advanced users table (Nom, Prénom, Email, Identifiant; "Voir plus"), the search, and the
//! buttons: "Ajouter un utilisateur", "Ajouter un utilisateur avancé" (unitary form or import),
//! "Associer un utilisateur avancé", "Exporter les utilisateurs avancés", "Guide d'utilisation".
//! Also the export download and the deletion of a user / of a link.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use sesame_domain::model::{UserKind, UserStatus};
use sesame_store::{AccountUser, UserFilter};

use super::form::Form;
use super::layout::{csrf_field, notice, page, see_other, OrPage};
use super::session::{SignedIn, Visitor};
use crate::extract::Query;
use crate::forms::{check_text, parse_id};
use crate::routes::imports::export_download;
use crate::routes::users::remove_user;
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/users", get(users))
        .route("/console/users/export", get(export))
        .route("/console/users/{id}/delete", post(delete))
}

/// Rows shown per table before "Voir plus".
const FIRST_ROWS: i64 = 10;
/// Most rows one table shows (then the search narrows it).
const MAX_ROWS: i64 = 500;

/// The notices a page shows after an action (`?done=…`): known words only.
pub fn done_notice(v: &Visitor, done: Option<&str>) -> Option<Markup> {
    let text = match done? {
        "standard-added" => v.t("L'utilisateur a été créé.", "The user was created."),
        "advanced-added" => v.t("L'utilisateur avancé a été créé : il a reçu par e-mail l'invitation à finaliser la création de son compte (lien valable 48 h).", "The advanced user was created: they received the invitation by e-mail to complete their account (link valid 48 hours)."),
        "associated" => v.t("L'utilisateur avancé est associé à votre compte : il a reçu par e-mail la liste de ses droits.", "The advanced user is associated with your account: they received the list of their rights by e-mail."),
        "saved" => v.t("Les modifications ont été enregistrées.", "The changes were saved."),
        "deleted" => v.t("L'utilisateur a été supprimé.", "The user was deleted."),
        "unlinked" => v.t("Le lien avec l'utilisateur avancé a été supprimé (son compte est conservé).", "The link with the advanced user was removed (their account is kept)."),
        _ => return None,
    };
    Some(notice(text))
}

fn status_text(v: &Visitor, s: UserStatus) -> &'static str {
    match s {
        UserStatus::Invited => v.t("Invitation envoyée", "Invitation sent"),
        UserStatus::Active => v.t("Actif", "Active"),
        UserStatus::Disabled => v.t("Désactivé", "Disabled"),
    }
}

fn table(
    v: &Visitor,
    caption: &str,
    rows: &[AccountUser],
    total: i64,
    more: Option<String>,
) -> Markup {
    html! {
        table {
            caption { (caption) " (" (total) ")" }
            thead {
                tr {
                    th scope="col" { (v.t("Nom", "Last name")) }
                    th scope="col" { (v.t("Prénom", "First name")) }
                    th scope="col" { (v.t("Email", "E-mail")) }
                    th scope="col" { (v.t("Identifiant", "Login")) }
                    th scope="col" { (v.t("Statut", "Status")) }
                    th scope="col" { (v.t("Actions", "Actions")) }
                }
            }
            tbody {
                @if rows.is_empty() {
                    tr { td colspan="6" { (v.t("Aucun utilisateur.", "No users.")) } }
                }
                @for r in rows {
                    @let u = &r.user;
                    @let name = format!("{} {}", u.profile.first_name, u.profile.last_name);
                    tr {
                        td { (u.profile.last_name) }
                        td { (u.profile.first_name) }
                        td { (u.profile.email.as_ref().map(|e| e.as_str()).unwrap_or("")) }
                        td { (u.login.as_ref().map(|l| l.as_str()).unwrap_or("—")) }
                        td { (status_text(v, u.status)) }
                        td {
                            @if u.main_contact {
                                span.muted { (v.t("Contact principal", "Main contact")) }
                            } @else {
                                a href={ "/console/users/" (u.id) } aria-label={ (v.t("Modifier", "Edit")) " " (name) } { (v.t("Modifier", "Edit")) }
                                " "
                                @let (label, confirm) = match u.kind {
                                    UserKind::Standard => (v.t("Supprimer", "Delete"), v.t("Supprimer définitivement cet utilisateur ?", "Delete this user for good?")),
                                    UserKind::Advanced => (v.t("Suppression des liens", "Remove the link"), v.t("Supprimer le lien avec cet utilisateur avancé ? Son compte est conservé.", "Remove the link with this advanced user? Their account is kept.")),
                                };
                                form.inline method="post" action={ "/console/users/" (u.id) "/delete" } data-confirm=(confirm) {
                                    (csrf_field(v))
                                    button.danger type="submit" aria-label={ (label) " : " (name) } { (label) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(href) = more {
            p { a href=(href) { (v.t("Voir plus", "Show more")) } }
        }
    }
}

async fn users(State(state): State<AppState>, s: SignedIn, q: Query) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let v = &s.v;
    let search = q
        .str("q")
        .map(|x| x.trim().to_owned())
        .filter(|x| !x.is_empty());
    if let Some(x) = &search {
        check_text("q", x, 100).or_page(v)?;
    }
    let rows = |name: &str| {
        q.int(name)
            .ok()
            .flatten()
            .unwrap_or(FIRST_ROWS)
            .clamp(1, MAX_ROWS)
    };
    let (std_rows, adv_rows) = (rows("std"), rows("adv"));
    let filter = |kind, limit| UserFilter {
        kind: Some(kind),
        q: search.clone(),
        offset: 0,
        limit,
        segment_id: None,
    };
    let (standard, std_total) = state
        .store
        .list_account_users(a.id, &filter(UserKind::Standard, std_rows))
        .await
        .or_page(v)?;
    let (advanced, adv_total) = state
        .store
        .list_account_users(a.id, &filter(UserKind::Advanced, adv_rows))
        .await
        .or_page(v)?;
    let qs = search
        .as_deref()
        .map(|x| format!("&q={}", super::url_encode(x)))
        .unwrap_or_default();
    let more = |total: i64, shown: i64, this: &str, other: (&str, i64)| {
        (total > shown && shown < MAX_ROWS).then(|| {
            format!(
                "/console/users?{this}={}&{}={}{qs}",
                (shown * 2).min(MAX_ROWS),
                other.0,
                other.1
            )
        })
    };
    let body = html! {
        @if let Some(n) = done_notice(v, q.str("done")) { (n) }
        // Seed 004 §2: the sub-accounts module off, the account manages no collaborators; say
        // so rather than offer a form that would be refused.
        @if !a.sub_accounts {
            p.notice role="status" { (v.t("La gestion des sous-comptes (collaborateurs) n'est pas activée pour ce compte : adressez-vous à votre interlocuteur pour l'activer.", "The sub-accounts module is off for this account: ask your contact to switch it on.")) }
        } @else if a.collaborator_validation {
            p.muted { (v.t("Les collaborateurs que vous créez attendent la validation de votre interlocuteur avant de pouvoir se connecter.", "The collaborators you create wait for your contact's validation before they can sign in.")) }
        }
        div.actions {
            @if a.sub_accounts {
                a.button href="/console/users/new" { (v.t("Ajouter un utilisateur", "Add a user")) }
            }
            details.menu {
                summary.button { (v.t("Ajouter un utilisateur avancé", "Add an advanced user")) " ▾" }
                ul {
                    li { a href="/console/advanced-users/new" { (v.t("Ajouter un utilisateur", "Add one user")) } }
                    li { a href="/console/imports" { (v.t("Ajouter via un fichier d'import", "Add from an import file")) } }
                }
            }
            a.button href="/console/advanced-users/associate" { (v.t("Associer un utilisateur avancé", "Associate an advanced user")) }
        }
        form.search method="get" action="/console/users" role="search" {
            div.field {
                label for="f-q" { (v.t("Rechercher (nom, prénom, e-mail, identifiant)", "Search (name, e-mail, login)")) }
                input #f-q type="search" name="q" value=(search.as_deref().unwrap_or(""));
            }
            button.secondary type="submit" { (v.t("Rechercher", "Search")) }
            @if search.is_some() { " " a href="/console/users" { (v.t("Effacer la recherche", "Clear the search")) } }
        }
        h2 { (v.t("Utilisateurs standards", "Standard users")) }
        (table(v, v.t("Utilisateurs standards", "Standard users"), &standard, std_total, more(std_total, std_rows, "std", ("adv", adv_rows))))
        h2 { (v.t("Utilisateurs avancés", "Advanced users")) }
        (table(v, v.t("Utilisateurs avancés", "Advanced users"), &advanced, adv_total, more(adv_total, adv_rows, "adv", ("std", std_rows))))
        div.actions {
            a.button.secondary href="/console/users/export" download { (v.t("Exporter les utilisateurs avancés", "Export the advanced users")) }
            a.button.secondary href="/console/guide" { (v.t("Guide d'utilisation", "User guide")) }
        }
    };
    Ok(page(
        v,
        v.t("Gestion des utilisateurs", "User management"),
        body,
    ))
}

async fn export(State(state): State<AppState>, s: SignedIn) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    export_download(&state, &a).await.or_page(&s.v)
}

async fn delete(
    State(state): State<AppState>,
    s: SignedIn,
    Path(id): Path<String>,
    _form: Form,
) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let id = parse_id(&id).or_page(&s.v)?;
    let kind = remove_user(&state, &s.caller, &a, id).await.or_page(&s.v)?;
    Ok(see_other(match kind {
        UserKind::Standard => "/console/users?done=deleted",
        UserKind::Advanced => "/console/users?done=unlinked",
    }))
}
