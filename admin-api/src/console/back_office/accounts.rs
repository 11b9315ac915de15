//! The accounts list (search in the number and the company, status, pages), the creation form
//! (entitlements, upstream credentials, admin password, departments) and a company's sheet:
//! its details, its access (enable/disable with a comment) and its "Liste contacts" with each
//! contact's action menu (seed 004 §4).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use sesame_domain::model::{Account, AccountStatus, UserStatus};
use sesame_domain::rights::{Grant, Right, Scope, ScopedRight};
use sesame_domain::RightSet;
use sesame_store::{AccountUser, UserFilter};

use super::{account_of, account_path, column_heads, contact_path, require_operator, OperatorPage};
use crate::console::form::{Fields, Form};
use crate::console::layout::{csrf_field, notice, page, page_with, see_other, OrPage};
use crate::console::session::Visitor;
use crate::console::url_encode;
use crate::console::widgets::{Errors, Field};
use crate::error::ApiError;
use crate::extract::{parse_value, Query};
use crate::forms::check_text;
use crate::routes::accounts::{account_filter, add_account, NewAccount};
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/back-office", get(list))
        .route(
            "/console/back-office/accounts/new",
            get(new_form).post(create),
        )
        .route("/console/back-office/accounts/{n}", get(sheet))
        .route("/console/back-office/accounts/{n}/status", post(set_status))
}

/// Accounts per page of the list.
const PER_PAGE: i64 = 50;

fn status_text(v: &Visitor, s: AccountStatus) -> &'static str {
    match s {
        AccountStatus::Active => v.t("Actif", "Active"),
        AccountStatus::Disabled => v.t("Désactivé", "Disabled"),
    }
}

/// The notices of this screen after an action (`?done=…`): known words only.
fn done_notice(v: &Visitor, done: Option<&str>) -> Option<Markup> {
    let text = match done? {
        "created" => v.t(
            "Le compte a été créé, avec son contact principal.",
            "The account was created, with its main contact.",
        ),
        "enabled" => v.t("Le compte est réactivé.", "The account is enabled again."),
        "disabled" => v.t(
            "Le compte est désactivé : ses utilisateurs ne peuvent plus agir pour lui.",
            "The account is disabled: its users can no longer act for it.",
        ),
        _ => return None,
    };
    Some(notice(text))
}

async fn list(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    q: Query,
) -> Result<Response, Response> {
    let mut q = q;
    q.0.entry("perPage".into())
        .or_insert_with(|| PER_PAGE.to_string());
    let f = account_filter(&q).or_page(&v)?;
    let (items, total) = state.store.search_accounts(&f).await.or_page(&v)?;
    let search = q.str("q").unwrap_or("");
    let status = q.str("status").unwrap_or("");
    let page_no = f.offset / f.limit + 1;
    let pages = ((total + f.limit - 1) / f.limit).max(1);
    let link = |p: i64| {
        format!(
            "/console/back-office?q={}&status={}&page={p}",
            url_encode(search),
            url_encode(status)
        )
    };
    let body = html! {
        @if let Some(n) = done_notice(&v, q.str("done")) { (n) }
        div.actions {
            a.button href="/console/back-office/accounts/new" { (v.t("Créer un compte", "Create an account")) }
            a.button.secondary href="/console/back-office/audit" { (v.t("Journal d'audit", "Audit log")) }
            a.button.secondary href="/console/outbox" { (v.t("E-mails envoyés", "Sent e-mails")) }
        }
        form.search method="get" action="/console/back-office" role="search" {
            div.grid {
                (Field::text("q", v.t("Rechercher (numéro de compte ou société)", "Search (account number or company)"), search, false).kind("search").render(&v, &Errors::none()))
                div.field {
                    label for="f-status" { (v.t("Statut", "Status")) }
                    select #f-status name="status" {
                        option value="" { (v.t("Tous", "All")) }
                        @for s in [AccountStatus::Active, AccountStatus::Disabled] {
                            option value=(s.as_str()) selected[status == s.as_str()] { (status_text(&v, s)) }
                        }
                    }
                }
            }
            button type="submit" { (v.t("Rechercher", "Search")) }
        }
        table {
            caption { (v.t("Comptes clients", "Customer accounts")) " (" (total) ")" }
            (column_heads(&v, &[("N° compte client", "Account number"), ("Société", "Company"), ("Contrat", "Contract"), ("Statut", "Status"), ("Contacts", "Contacts"), ("Créé le", "Created")]))
            tbody {
                @for s in &items {
                    tr {
                        td { a href=(account_path(s.account.number.as_str())) { (s.account.number) } }
                        td { (s.account.company) }
                        td { (s.account.contract_type) }
                        td { (status_text(&v, s.account.status)) }
                        td { (s.users) }
                        td { (v.lang.date(s.account.created_at)) }
                    }
                }
                @if items.is_empty() {
                    tr { td colspan="6" { (v.t("Aucun compte ne correspond.", "No account matches.")) } }
                }
            }
        }
        @if pages > 1 {
            nav.pages aria-label=(v.t("Pages", "Pages")) {
                @if page_no > 1 { a href=(link(page_no - 1)) rel="prev" { (v.t("Page précédente", "Previous page")) } " " }
                span { "Page " (page_no) " / " (pages) }
                @if page_no < pages { " " a href=(link(page_no + 1)) rel="next" { (v.t("Page suivante", "Next page")) } }
            }
        }
    };
    Ok(page(
        &v,
        v.t(
            "Back office — comptes clients",
            "Back office — customer accounts",
        ),
        body,
    ))
}

/// Every right an account can be entitled to, grouped: the web services and tools of advanced
/// users, the scoped rights (each scope a checkbox), the standard catalogue.
fn grant_groups() -> [(&'static str, &'static str, Vec<Grant>); 3] {
    let scoped = ScopedRight::ALL
        .into_iter()
        .flat_map(|r| [Scope::OWN, Scope::GROUP, Scope::ALL].map(|s| Grant::Scoped(r, s)))
        .collect();
    let plain = |advanced: bool| {
        Right::ALL
            .into_iter()
            .filter(move |r| r.for_advanced() == advanced)
            .map(Grant::Plain)
            .collect()
    };
    [
        (
            "Web services et applications",
            "Web services and applications",
            plain(true),
        ),
        (
            "Suivi et factures (par portée)",
            "Tracking and invoices (by scope)",
            scoped,
        ),
        (
            "Catalogue des utilisateurs standards",
            "Standard users' catalogue",
            plain(false),
        ),
    ]
}

pub(super) fn entitlements_field(v: &Visitor, checked: RightSet, errors: &Errors) -> Markup {
    let error = errors.of("entitlements");
    html! {
        fieldset.rights aria-describedby=[error.map(|_| "f-entitlements-error")] {
            legend { (v.t("Droits du compte (services du contrat)", "Account entitlements (contract services)")) }
            @if let Some(m) = error {
                p.field-error #f-entitlements-error { strong { (v.t("Erreur", "Error")) " : " } (m) }
            }
            @for (fr, en, grants) in grant_groups() {
                fieldset.group {
                    legend { (v.t(fr, en)) }
                    ul.checks {
                        @for g in grants {
                            @let id = format!("e-{}", g.id().replace(':', "-"));
                            li {
                                input type="checkbox" id=(id) name="entitlements" value=(g.id()) checked[checked.has_grant(g)];
                                label for=(id) { (v.lang.grant(g)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The creation form's text fields, by the API's names.
const TEXTS: [&str; 5] = [
    "number",
    "company",
    "contractType",
    "upstreamLogin",
    "departments",
];
const KNOWN: [&str; 8] = [
    "number",
    "company",
    "contractType",
    "adminPassword",
    "upstreamLogin",
    "upstreamPassword",
    "departments",
    "entitlements",
];

fn account_form(v: &Visitor, status: StatusCode, fields: &Fields, errors: &Errors) -> Response {
    let val = |n: &str| fields.get(n).unwrap_or("").to_owned();
    let contract = fields.get("contractType").unwrap_or("PRIVILEGE");
    let deps_error = errors.of("departments");
    let checked = fields
        .all("entitlements")
        .into_iter()
        .filter_map(|g| Grant::parse(g).ok())
        .fold(RightSet::EMPTY, RightSet::grant);
    let body = html! {
        (errors.summary(v))
        form method="post" action="/console/back-office/accounts/new" novalidate {
            (csrf_field(v))
            fieldset {
                legend { (v.t("Informations du compte", "Account details")) }
                div.grid {
                    (Field::text("number", v.t("N° compte client (6 chiffres)", "Account number (6 digits)"), &val("number"), true).render(v, errors))
                    (Field::text("company", v.t("Société", "Company"), &val("company"), true).render(v, errors))
                    (Field::text("contractType", v.t("Contrat", "Contract"), contract, true).render(v, errors))
                    (Field::text("adminPassword", v.t("Mot de passe de l'administrateur du compte", "Account admin's password"), "", true).kind("password").autocomplete("new-password").render(v, errors))
                }
                p.muted { (v.t("L'administrateur du compte se connecte avec le numéro de compte et ce mot de passe (10 caractères au moins, lettres et chiffres).", "The account admin signs in with the account number and this password (at least 10 characters, letters and digits).")) }
            }
            fieldset {
                legend { (v.t("Identifiants du compte chez le transporteur", "The account's credentials at the carrier")) }
                div.grid {
                    (Field::text("upstreamLogin", v.t("Identifiant transporteur", "Carrier login"), &val("upstreamLogin"), true).autocomplete("off").render(v, errors))
                    (Field::text("upstreamPassword", v.t("Mot de passe transporteur", "Carrier password"), "", true).kind("password").autocomplete("new-password").render(v, errors))
                }
                p.muted { (v.t("Chiffré au repos, jamais affiché ni journalisé.", "Encrypted at rest, never shown nor logged.")) }
            }
            div.field.invalid[deps_error.is_some()] {
                label for="f-departments" { (v.t("Services (un par ligne)", "Departments (one per line)")) }
                textarea #f-departments name="departments" rows="3" aria-invalid=[deps_error.map(|_| "true")] aria-describedby=[deps_error.map(|_| "f-departments-error")] { (val("departments")) }
                @if let Some(m) = deps_error { p.field-error #f-departments-error { strong { (v.t("Erreur", "Error")) " : " } (m) } }
            }
            (entitlements_field(v, checked, errors))
            div.actions {
                button type="submit" { (v.t("Création", "Create")) }
                a.button.secondary href="/console/back-office" { (v.t("Retour à la liste sans sauvegarde", "Back to the list without saving")) }
            }
        }
    };
    page_with(
        v,
        status,
        v.t("Création d'un compte client", "New customer account"),
        body,
    )
}

async fn new_form(OperatorPage(v): OperatorPage) -> Response {
    account_form(&v, StatusCode::OK, &Fields::default(), &Errors::none())
}

async fn create(
    State(state): State<AppState>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let mut json = fields.to_json(&TEXTS, &["entitlements"]);
    if let Some(o) = json.as_object_mut() {
        // Passwords as typed; departments one per line.
        for p in ["adminPassword", "upstreamPassword"] {
            o.insert(p.into(), fields.raw(p).into());
        }
        let deps: Vec<serde_json::Value> = fields
            .raw("departments")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(serde_json::Value::from)
            .collect();
        o.insert("departments".into(), serde_json::Value::Array(deps));
        for required in ["number", "company", "upstreamLogin"] {
            if !o.contains_key(required) {
                let e = ApiError::invalid(required, format!("{required}: is required"));
                return Ok(account_form(
                    &v,
                    e.status(),
                    &fields,
                    &Errors::from_api(&v, &e, &KNOWN),
                ));
            }
        }
    }
    let result = match parse_value::<NewAccount>(&json) {
        Ok(input) => add_account(&state, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(a) => Ok(see_other(&format!(
            "{}?done=created",
            account_path(a.number.as_str())
        ))),
        Err(e) => Ok(account_form(
            &v,
            e.status(),
            &fields,
            &Errors::from_api(&v, &e, &KNOWN),
        )),
    }
}

fn user_status_text(v: &Visitor, s: UserStatus) -> &'static str {
    match s {
        UserStatus::Invited => v.t("Invitation envoyée", "Invitation sent"),
        UserStatus::Active => v.t("Accès autorisé", "Access allowed"),
        UserStatus::Disabled => v.t("Accès refusé", "Access denied"),
    }
}

/// A contact's action menu (seed 004 §4): a `<details>` list, usable with the keyboard and
/// without script; the actions that write are small forms (posted with the CSRF token).
fn action_menu(v: &Visitor, a: &Account, u: &AccountUser) -> Markup {
    let n = a.number.as_str();
    let id = u.user.id;
    let sheet = contact_path(n, id);
    let name = format!("{} {}", u.user.profile.first_name, u.user.profile.last_name);
    html! {
        details.menu {
            summary.button.secondary aria-label={ (v.t("Actions pour ", "Actions for ")) (name) } { (v.t("Actions", "Actions")) " ▾" }
            ul {
                li { a href=(sheet) { (v.t("Visualiser", "View")) } }
                li { a href=(super::segments::segments_path(a, &u.user)) { (v.t("Segmentation libre", "Free segmentation")) } }
                li {
                    form.inline method="post" action={ (sheet) "/password" } {
                        (csrf_field(v))
                        button.link type="submit" { (v.t("Renvoyer le mot de passe", "Resend the password")) }
                    }
                }
                @if u.user.status == UserStatus::Active {
                    li { a href={ (sheet) "#impersonate" } { (v.t("Connexion à l'espace client", "Sign in to the customer area")) } }
                }
                @if u.user.profile.email.is_some() {
                    li { a href={ (sheet) "/message" } { (v.t("Ecrire un e-mail", "Write an e-mail")) } }
                }
            }
        }
    }
}

async fn sheet(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    Path(n): Path<String>,
    q: Query,
) -> Result<Response, Response> {
    let a = account_of(&state, &v, &n).await?;
    let search = q.str("q").map(str::to_owned);
    if let Some(s) = &search {
        check_text("q", s, 100).or_page(&v)?;
    }
    // "Segmentation libre": `?segment=<id>` lists that segment's contacts.
    let segment = q.str("segment").and_then(|s| s.parse().ok());
    let segments = state.store.segments().await.or_page(&v)?;
    let (contacts, total) = state
        .store
        .list_account_users(
            a.id,
            &UserFilter {
                kind: None,
                q: search.clone(),
                offset: 0,
                limit: 500,
                segment_id: segment,
            },
        )
        .await
        .or_page(&v)?;
    let deps = state.store.departments(a.id).await.or_page(&v)?;
    let done = q.str("done");
    let body = html! {
        @if let Some(m) = done_notice(&v, done) { (m) }
        @if let Some(m) = super::contacts::done_notice(&v, done) { (m) }
        @if let Some(m) = super::collaborators::done_notice(&v, done) { (m) }
        p { a href="/console/back-office" { "← " (v.t("Comptes clients", "Customer accounts")) } }
        div.tiles {
            section.tile {
                h2 { (v.t("Fiche contact de la société", "Company sheet")) }
                dl.facts {
                    dt { (v.t("Société", "Company")) } dd { (a.company) }
                    dt { (v.t("Compte client", "Customer account")) } dd { (a.number) }
                    dt { (v.t("Contrat", "Contract")) } dd { (a.contract_type) }
                    dt { (v.t("Statut", "Status")) } dd { (status_text(&v, a.status)) }
                    dt { (v.t("Identifiant transporteur", "Carrier login")) } dd { (a.upstream_login) }
                    dt { (v.t("Services", "Departments")) } dd { @for (i, d) in deps.iter().enumerate() { @if i > 0 { ", " } (d.name) } }
                }
                p { a href={ (account_path(a.number.as_str())) "/edit" } { (v.t("Modifier les droits, les identifiants transporteur, les services", "Change entitlements, carrier credentials, departments")) } }
                p { a href={ "/console/back-office/audit?accountNumber=" (a.number) } { (v.t("Journal d'audit du compte", "The account's audit log")) } }
            }
            section.tile {
                h2 { (v.t("Services du contrat", "Contract services")) }
                ul { @for g in a.entitlements.grants() { li { (v.lang.grant(g)) } } }
            }
            section.tile {
                h2 { (v.t("Accès du compte", "Account access")) }
                form method="post" action={ (account_path(a.number.as_str())) "/status" } {
                    (csrf_field(&v))
                    input type="hidden" name="enabled" value=(if a.status == AccountStatus::Active { "false" } else { "true" });
                    div.field {
                        label for="f-account-comment" { (v.t("Commentaire", "Comment")) }
                        textarea #f-account-comment name="comment" rows="2" maxlength="500" {}
                    }
                    @if a.status == AccountStatus::Active {
                        button.danger type="submit" { (v.t("Désactiver le compte", "Disable the account")) }
                    } @else {
                        button type="submit" { (v.t("Réactiver le compte", "Enable the account")) }
                    }
                }
            }
            (super::collaborators::modules_tile(&v, &a))
        }
        h2 #contacts { (v.t("Liste contacts", "Contacts")) }
        div.actions {
            a.button href={ (account_path(a.number.as_str())) "/contacts/new" } { (v.t("Ajouter un collaborateur", "Add a collaborator")) }
        }
        form.search method="get" action=(account_path(a.number.as_str())) role="search" {
            div.grid {
                (Field::text("q", v.t("Rechercher un contact (nom, prénom, e-mail, identifiant)", "Search a contact (name, e-mail, login)"), search.as_deref().unwrap_or(""), false).kind("search").render(&v, &Errors::none()))
                (super::segments::segment_filter(&v, &segments, segment))
            }
            button type="submit" { (v.t("Rechercher", "Search")) }
            " "
            (super::segments::export_link(&v, &segments, segment))
        }
        table {
            caption { (v.t("Collaborateurs de la société", "The company's collaborators")) " (" (total) ")" }
            (column_heads(&v, &[("Nom", "Last name"), ("Prénom", "First name"), ("Email", "E-mail"), ("Identifiant", "Login"), ("Type", "Kind"), ("Accès", "Access"), ("Validation", "Validation"), ("Actions", "Actions")]))
            tbody {
                @for u in &contacts {
                    tr {
                        td { a href=(contact_path(a.number.as_str(), u.user.id)) { (u.user.profile.last_name) } }
                        td { (u.user.profile.first_name) }
                        td { (u.user.profile.email.as_ref().map(|e| e.as_str()).unwrap_or("")) }
                        td { (u.user.login.as_ref().map(|l| l.as_str()).unwrap_or("")) }
                        td {
                            @if u.user.main_contact { (v.t("Contact principal", "Main contact")) }
                            @else if u.user.kind == sesame_domain::model::UserKind::Advanced { (v.t("Utilisateur avancé", "Advanced user")) }
                            @else { (v.t("Collaborateur", "Collaborator")) }
                        }
                        td { (user_status_text(&v, u.user.status)) }
                        td { (super::collaborators::validation_cell(&v, &a, &u.user)) }
                        td { (action_menu(&v, &a, u)) }
                    }
                }
            }
        }
    };
    Ok(page(&v, &format!("{} — {}", a.company, a.number), body))
}

async fn set_status(
    State(state): State<AppState>,
    Path(n): Path<String>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let a = account_of(&state, &v, &n).await?;
    let enabled = fields.get("enabled") == Some("true");
    let comment = fields.get("comment");
    crate::forms::check_comment(comment).or_page(&v)?;
    let status = if enabled {
        AccountStatus::Active
    } else {
        AccountStatus::Disabled
    };
    state
        .store
        .set_account_status(sesame_domain::model::Actor::Operator, a.id, status, comment)
        .await
        .or_page(&v)?;
    let done = if enabled { "enabled" } else { "disabled" };
    Ok(see_other(&format!(
        "{}?done={done}",
        account_path(a.number.as_str())
    )))
}
