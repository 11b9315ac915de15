//! The audit log with its filters (account, user, actor, action, dates; SPEC §5), and the
//! rendering of entries that the contact sheet's "Suivi client" shares: who acted, when, what
//! (in words), the comment left, and what changed.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde_json::Value;
use sesame_domain::model::{Actor, AuditEntry};

use super::{column_heads, OperatorPage};
use crate::console::layout::{page, OrPage};
use crate::console::session::Visitor;
use crate::console::url_encode;
use crate::console::widgets::{Errors, Field};
use crate::extract::Query;
use crate::routes::audit::operator_audit_filter;
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/back-office/audit", get(audit))
}

/// The options of a filter: (value, French, English).
type Options = &'static [(&'static str, &'static str, &'static str)];

/// Entries per page of the log.
const PER_PAGE: i64 = 50;

/// The actions the store records, in words (French, English); the filter offers them too.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("account.create", "Création du compte", "Account created"),
    (
        "account.entitlements",
        "Droits du compte modifiés",
        "Account entitlements changed",
    ),
    (
        "account.status",
        "Accès du compte modifié",
        "Account access changed",
    ),
    (
        "account.upstream_credentials",
        "Identifiants transporteur modifiés",
        "Carrier credentials changed",
    ),
    (
        "account.admin_password_change",
        "Mot de passe de l'administrateur modifié",
        "Admin password changed",
    ),
    ("department.create", "Service ajouté", "Department added"),
    (
        "user.create_standard",
        "Création du collaborateur",
        "Collaborator created",
    ),
    (
        "user.create_advanced",
        "Création de l'utilisateur avancé (invitation)",
        "Advanced user created (invitation)",
    ),
    (
        "user.invitation_resend",
        "Invitation renvoyée",
        "Invitation resent",
    ),
    (
        "user.activate",
        "Compte confirmé par l'utilisateur",
        "Account confirmed by the user",
    ),
    (
        "user.update",
        "Informations ou droits modifiés",
        "Details or rights changed",
    ),
    (
        "user.update_self",
        "Informations modifiées par l'utilisateur",
        "Details changed by the user",
    ),
    ("user.status", "Accès autorisé modifié", "Access changed"),
    (
        "user.password_reset_sent",
        "Lien de mot de passe envoyé",
        "Password link sent",
    ),
    (
        "user.password_reset",
        "Mot de passe réinitialisé",
        "Password reset",
    ),
    (
        "user.password_change",
        "Mot de passe modifié",
        "Password changed",
    ),
    (
        "user.key_regenerate",
        "Clé de connexion regénérée",
        "Connection key regenerated",
    ),
    (
        "user.message",
        "E-mail écrit au contact",
        "E-mail written to the contact",
    ),
    (
        "user.identity_change_refused",
        "Modification d'identité refusée",
        "Identity change refused",
    ),
    (
        "user.delete",
        "Collaborateur supprimé",
        "Collaborator deleted",
    ),
    (
        "link.create",
        "Association à un compte",
        "Linked to an account",
    ),
    (
        "link.rights",
        "Droits sur le compte modifiés",
        "Rights on the account changed",
    ),
    ("link.delete", "Suppression des liens", "Link removed"),
    ("import.start", "Import de fichier", "File import"),
    ("session.create", "Connexion", "Sign-in"),
    (
        "session.impersonate",
        "Connexion à l'espace client (assistance)",
        "Customer area sign-in (assistance)",
    ),
    ("session.revoke", "Déconnexion", "Sign-out"),
];

/// The families the filter offers (`user.` selects every `user.*` action).
const FAMILIES: &[(&str, &str, &str)] = &[
    ("account.", "Comptes (tout)", "Accounts (all)"),
    ("user.", "Utilisateurs (tout)", "Users (all)"),
    ("link.", "Liens (tout)", "Links (all)"),
    ("session.", "Sessions (tout)", "Sessions (all)"),
];

const ACTOR_KINDS: &[(&str, &str, &str)] = &[
    ("operator", "Opérateur", "Operator"),
    ("account_admin", "Administrateur de compte", "Account admin"),
    ("user", "Utilisateur", "User"),
    (
        "impersonating",
        "Assistance (administrateur)",
        "Assistance (admin)",
    ),
    (
        "operator_impersonating",
        "Assistance (opérateur)",
        "Assistance (operator)",
    ),
    ("system", "Système", "System"),
];

fn action_text(v: &Visitor, action: &str) -> String {
    ACTIONS
        .iter()
        .find(|(a, ..)| *a == action)
        .map_or_else(|| action.to_owned(), |(_, fr, en)| v.t(fr, en).to_owned())
}

/// The numbers of the accounts a page of entries names (as actor or as subject), so that the
/// log shows account numbers rather than internal ids. At most two lookups per entry shown.
pub struct Numbers(HashMap<i64, String>);

impl Numbers {
    pub async fn of(state: &AppState, entries: &[AuditEntry]) -> Numbers {
        let mut ids: Vec<i64> = entries
            .iter()
            .flat_map(|e| [e.account_id, e.actor.ids().0])
            .flatten()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut map = HashMap::new();
        for id in ids {
            // An account deleted since is shown by its id.
            if let Ok(a) = state.store.account(id).await {
                map.insert(id, a.number.to_string());
            }
        }
        Numbers(map)
    }
    fn show(&self, id: i64) -> String {
        self.0.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
    }
}

fn actor_text(v: &Visitor, a: &Actor, n: &Numbers) -> String {
    match *a {
        Actor::Operator => v.t("Opérateur", "Operator").to_owned(),
        Actor::AccountAdmin { account_id } => format!(
            "{} {}",
            v.t("Administrateur du compte", "Admin of account"),
            n.show(account_id)
        ),
        Actor::User { user_id } => format!("{} #{user_id}", v.t("Utilisateur", "User")),
        Actor::Impersonating { user_id, .. } => format!(
            "{} #{user_id}",
            v.t(
                "Administrateur, en assistance de l'utilisateur",
                "Admin, assisting user"
            )
        ),
        Actor::OperatorImpersonating { user_id, .. } => format!(
            "{} #{user_id}",
            v.t(
                "Opérateur, en assistance de l'utilisateur",
                "Operator, assisting user"
            )
        ),
        Actor::System => v.t("Système", "System").to_owned(),
    }
}

/// What an entry changed, in words where the seed has words for it ("Accès autorisé" ticked
/// or unticked); otherwise the fields whose values differ.
fn change_text(v: &Visitor, e: &AuditEntry) -> Option<String> {
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
    };
    let (before, after) = (parse(&e.before), parse(&e.after));
    if e.action == "user.status" || e.action == "account.status" {
        let now = after.as_ref()?.get("status")?.as_str()?;
        return Some(match now {
            "active" => v
                .t("Accès autorisé : coché", "Access allowed: ticked")
                .to_owned(),
            _ => v
                .t("Accès autorisé : décoché", "Access allowed: unticked")
                .to_owned(),
        });
    }
    let (Some(Value::Object(b)), Some(Value::Object(a))) = (before, after) else {
        return None;
    };
    let changed: Vec<&str> = a
        .iter()
        .filter(|(k, val)| b.get(*k) != Some(*val))
        .map(|(k, _)| k.as_str())
        .collect();
    (!changed.is_empty()).then(|| format!("{} : {}", v.t("Modifié", "Changed"), changed.join(", ")))
}

/// Entries as a timeline (newest first): date, who, what, the comment.
pub fn timeline(v: &Visitor, entries: &[AuditEntry], n: &Numbers) -> Markup {
    html! {
        @if entries.is_empty() {
            p.muted { (v.t("Aucun événement.", "No event.")) }
        } @else {
            ol.timeline {
                @for e in entries {
                    li {
                        p.when { time { (v.lang.date_time(e.at)) } " — " (actor_text(v, &e.actor, n)) }
                        p.what { strong { (action_text(v, &e.action)) } @if let Some(c) = change_text(v, e) { " (" (c) ")" } }
                        @if let Some(c) = &e.comment {
                            blockquote.comment { span.muted { (v.t("Commentaire", "Comment")) " : " } (c) }
                        }
                    }
                }
            }
        }
    }
}

fn select(
    v: &Visitor,
    name: &str,
    label: &str,
    current: &str,
    groups: &[(&str, Options)],
) -> Markup {
    html! {
        div.field {
            label for={ "f-" (name) } { (label) }
            select id={ "f-" (name) } name=(name) {
                option value="" { (v.t("Tous", "All")) }
                @for (title, options) in groups {
                    optgroup label=(title) {
                        @for (value, fr, en) in options.iter() {
                            option value=(value) selected[current == *value] { (v.t(fr, en)) }
                        }
                    }
                }
            }
        }
    }
}

async fn audit(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    q: Query,
) -> Result<Response, Response> {
    let mut q = q;
    q.0.entry("perPage".into())
        .or_insert_with(|| PER_PAGE.to_string());
    let filter = operator_audit_filter(&state, &q).await;
    // A bad filter is shown next to the filters, with the log unfiltered by it.
    let (filter, errors) = match filter {
        Ok(f) => (f, Errors::none()),
        Err(e) => {
            let errors = Errors::from_api(
                &v,
                &e,
                &[
                    "accountNumber",
                    "userId",
                    "actor",
                    "action",
                    "from",
                    "to",
                    "page",
                ],
            );
            let f = sesame_store::AuditFilter {
                limit: Some(PER_PAGE),
                ..sesame_store::AuditFilter::default()
            };
            (f, errors)
        }
    };
    let per = filter.limit.unwrap_or(PER_PAGE);
    let mut fetch = filter.clone();
    fetch.limit = Some(per + 1);
    let mut entries = state.store.audit_log(&fetch).await.or_page(&v)?;
    let more = entries.len() as i64 > per;
    entries.truncate(per as usize);
    let numbers = Numbers::of(&state, &entries).await;
    let page_no = filter.offset.unwrap_or(0) / per + 1;
    let keep = |name: &str| q.str(name).unwrap_or("").to_owned();
    let link = |p: i64| {
        let mut s = String::from("/console/back-office/audit?");
        for n in ["accountNumber", "userId", "actor", "action", "from", "to"] {
            s.push_str(&format!("{n}={}&", url_encode(&keep(n))));
        }
        s.push_str(&format!("page={p}"));
        s
    };
    let families = FAMILIES;
    let body = html! {
        (errors.summary(&v))
        form.filters method="get" action="/console/back-office/audit" role="search" {
            fieldset {
                legend { (v.t("Filtres", "Filters")) }
                div.grid {
                    (Field::text("accountNumber", v.t("N° compte client", "Account number"), &keep("accountNumber"), false).render(&v, &errors))
                    (Field::text("userId", v.t("N° d'utilisateur", "User id"), &keep("userId"), false).kind("number").render(&v, &errors))
                    (select(&v, "actor", v.t("Auteur", "Actor"), &keep("actor"), &[(v.t("Auteur", "Actor"), ACTOR_KINDS)]))
                    (select(&v, "action", v.t("Action", "Action"), &keep("action"), &[(v.t("Familles", "Families"), families), (v.t("Actions", "Actions"), ACTIONS)]))
                    (Field::text("from", v.t("Du", "From"), &keep("from"), false).kind("date").render(&v, &errors))
                    (Field::text("to", v.t("Au", "To"), &keep("to"), false).kind("date").render(&v, &errors))
                }
                div.actions {
                    button type="submit" { (v.t("Filtrer", "Filter")) }
                    a.button.secondary href="/console/back-office/audit" { (v.t("Effacer les filtres", "Clear the filters")) }
                }
            }
        }
        table.audit {
            caption { (v.t("Journal d'audit", "Audit log")) ", page " (page_no) }
            (column_heads(&v, &[("Date", "Date"), ("Auteur", "Actor"), ("Action", "Action"), ("Compte", "Account"), ("Utilisateur", "User"), ("Commentaire", "Comment")]))
            tbody {
                @for e in &entries {
                    tr {
                        td { (v.lang.date_time(e.at)) }
                        td { (actor_text(&v, &e.actor, &numbers)) }
                        td { (action_text(&v, &e.action)) @if let Some(c) = change_text(&v, e) { br; span.muted { (c) } } }
                        td { @if let Some(a) = e.account_id { (numbers.show(a)) } }
                        td { @if let Some(u) = e.user_id { a href={ "/console/back-office/audit?userId=" (u) } { "#" (u) } } }
                        td { (e.comment.as_deref().unwrap_or("")) }
                    }
                }
                @if entries.is_empty() {
                    tr { td colspan="6" { (v.t("Aucune entrée ne correspond.", "No entry matches.")) } }
                }
            }
        }
        nav.pages aria-label=(v.t("Pages", "Pages")) {
            @if page_no > 1 { a href=(link(page_no - 1)) rel="prev" { (v.t("Page précédente", "Previous page")) } " " }
            @if more { a href=(link(page_no + 1)) rel="next" { (v.t("Page suivante", "Next page")) } }
        }
    };
    Ok(page(&v, v.t("Journal d'audit", "Audit log"), body))
}
