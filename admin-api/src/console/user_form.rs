//! Screen 4: the forms. "Création d'un nouveau compte utilisateur" (standard user, seed 000 §4),
//! "Création d'un compte utilisateur avancé" (§5.1), "Edition d'un compte utilisateur" (§8:
//! details, rights on this account, "Suppression des liens"). Each posts to the API's own
//! function (`routes::users`), its input read by the API's own type: the same rules, the same
//! audit, the field errors shown next to their field.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use sesame_domain::model::{Account, Department, User, UserKind, UserStatus};
use sesame_domain::RightSet;

use super::form::{through_api, Fields, Form};
use super::layout::{csrf_field, page_with, see_other, OrPage};
use super::session::{SignedIn, Visitor};
use super::widgets::{rights, Audience, Errors, Field};
use crate::extract::Query;
use crate::forms::{parse_id, UserEditIn};
use crate::openapi::REQUIRED_PROFILE as ADVANCED_TEXTS;
use crate::routes::users::{
    add_advanced_user, add_standard_user, edit_user, AdvancedUserIn, StandardUserIn,
};
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(
        "/console/users/new",
        get(new_standard).post(create_standard),
    )
    .route(
        "/console/advanced-users/new",
        get(new_advanced).post(create_advanced),
    )
    .route("/console/users/{id}", get(edit).post(save))
}

/// The identity fields of the seeds' forms, by the API's field names.
pub const PROFILE: [&str; 12] = [
    "civility",
    "lastName",
    "firstName",
    "function",
    "phone",
    "email",
    "emailConfirmation",
    "fax",
    "address",
    "postalCode",
    "city",
    "country",
];

/// What the form shows in its fields.
pub(crate) type Values = BTreeMap<&'static str, String>;

pub(crate) fn posted(fields: &Fields, names: &[&'static str]) -> Values {
    names
        .iter()
        .map(|n| (*n, fields.get(n).unwrap_or("").to_owned()))
        .collect()
}

pub(crate) fn val<'a>(values: &'a Values, name: &str) -> &'a str {
    values.get(name).map_or("", String::as_str)
}

/// "Informations du compte utilisateur": the identity fields. `standard`: the civility, fax
/// and country fields of the standard form too; `locked`: shown, not editable (a confirmed
/// advanced user's identity is its own).
pub(crate) fn identity(
    v: &Visitor,
    values: &Values,
    errors: &Errors,
    standard: bool,
    locked: bool,
) -> Markup {
    let f = |name: &'static str, fr: &'static str, en: &'static str, required: bool| {
        let mut field = Field::text(name, v.t(fr, en), val(values, name), required && !locked);
        if name.starts_with("email") {
            field = field.kind("email");
        }
        if name == "phone" || name == "fax" {
            field = field.kind("tel");
        }
        if locked {
            html! {
                div.field {
                    label for={ "f-" (name) } { (v.t(fr, en)) }
                    input id={ "f-" (name) } type="text" value=(val(values, name)) readonly;
                }
            }
        } else {
            field.render(v, errors)
        }
    };
    let civility = val(values, "civility");
    html! {
        fieldset {
            legend { (v.t("Informations du compte utilisateur", "User account details")) }
            @if locked {
                p.notice.info { (v.t("Cet utilisateur avancé a confirmé son compte : ses informations d'identité sont les siennes, lui seul les modifie. Vous gérez ses droits sur votre compte.", "This advanced user has confirmed their account: their identity is theirs to change. You manage their rights on your account.")) }
            }
            div.grid {
                @if standard && !locked {
                    div.field.invalid[errors.of("civility").is_some()] {
                        label for="f-civility" { (v.t("Civilité", "Title")) }
                        select #f-civility name="civility" {
                            option value="" { (v.t("Faites votre choix", "Choose")) }
                            option value="madame" selected[civility == "madame"] { (v.t("Madame", "Mrs")) }
                            option value="monsieur" selected[civility == "monsieur"] { (v.t("Monsieur", "Mr")) }
                        }
                        @if let Some(m) = errors.of("civility") { p.field-error { strong { (v.t("Erreur", "Error")) " : " } (m) } }
                    }
                }
                (f("lastName", "Nom", "Last name", true))
                (f("firstName", "Prénom", "First name", true))
                (f("function", "Fonction", "Job title", true))
                (f("phone", "Téléphone", "Phone", true))
                (f("email", "Email", "E-mail", true))
                @if !locked { (f("emailConfirmation", "Confirmer Email", "Confirm e-mail", true)) }
                @if standard { (f("fax", "Fax", "Fax", false)) }
                (f("address", "Adresse géographique", "Street address", true))
                (f("postalCode", "Code postal", "Postal code", true))
                (f("city", "Ville", "City", true))
                @if standard { (f("country", "Pays", "Country", true)) }
            }
        }
    }
}

/// The department select (seed 004 "services"), when the account has departments.
pub(crate) fn department(
    v: &Visitor,
    deps: &[Department],
    current: Option<i64>,
    errors: &Errors,
) -> Markup {
    html! {
        @if !deps.is_empty() {
            div.field.invalid[errors.of("departmentId").is_some()] {
                label for="f-departmentId" { (v.t("Service", "Department")) }
                select #f-departmentId name="departmentId" {
                    option value="" { (v.t("Aucun", "None")) }
                    @for d in deps { option value=(d.id) selected[current == Some(d.id)] { (d.name) } }
                }
                @if let Some(m) = errors.of("departmentId") { p.field-error { strong { (v.t("Erreur", "Error")) " : " } (m) } }
            }
        }
    }
}

fn footer(v: &Visitor) -> Markup {
    html! {
        div.actions {
            button type="submit" { (v.t("Enregistrer", "Save")) }
            a.button.secondary href="/console/users" { (v.t("Retour à la liste sans sauvegarde", "Back to the list without saving")) }
        }
        p.muted { abbr title=(v.t("obligatoire", "required")) { "*" } " " (v.t("Information obligatoire", "Required information")) }
    }
}

struct StandardForm<'a> {
    values: Values,
    rights: RightSet,
    department: Option<i64>,
    errors: Errors,
    account: &'a Account,
    deps: Vec<Department>,
}

const STANDARD_FIELDS: [&str; 3] = ["login", "password", "passwordConfirmation"];

fn standard_page(v: &Visitor, status: StatusCode, f: &StandardForm<'_>) -> Response {
    let body = html! {
        (f.errors.summary(v))
        form method="post" action="/console/users/new" novalidate {
            (csrf_field(v))
            (identity(v, &f.values, &f.errors, true, false))
            fieldset {
                legend { (v.t("Identifiant et mot de passe du compte utilisateur", "User account login and password")) }
                (Field::text("login", v.t("Identifiant", "Login"), val(&f.values, "login"), true).autocomplete("off").render(v, &f.errors))
                (Field::text("password", v.t("Mot de passe", "Password"), "", true).kind("password").autocomplete("new-password").render(v, &f.errors))
                (Field::text("passwordConfirmation", v.t("Confirmer Mot de passe", "Confirm password"), "", true).kind("password").autocomplete("new-password").render(v, &f.errors))
                (department(v, &f.deps, f.department, &f.errors))
            }
            (rights(v, Audience::Standard, f.rights, f.account.entitlements, &f.errors))
            (footer(v))
        }
    };
    page_with(
        v,
        status,
        v.t(
            "Création d'un nouveau compte utilisateur",
            "New user account",
        ),
        body,
    )
}

async fn new_standard(State(state): State<AppState>, s: SignedIn) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let deps = state.store.departments(a.id).await.or_page(&s.v)?;
    let mut values = Values::new();
    values.insert("country", "France".to_owned());
    Ok(standard_page(
        &s.v,
        StatusCode::OK,
        &StandardForm {
            values,
            rights: RightSet::EMPTY,
            department: None,
            errors: Errors::none(),
            account: &a,
            deps,
        },
    ))
}

/// The rights ticked on a posted form (unknown ones are left for the API's type to refuse).
pub fn ticked(fields: &Fields) -> RightSet {
    fields
        .all("rights")
        .into_iter()
        .filter_map(|r| sesame_domain::rights::Grant::parse(r).ok())
        .fold(RightSet::EMPTY, RightSet::grant)
}

async fn create_standard(
    State(state): State<AppState>,
    s: SignedIn,
    Form { fields, .. }: Form,
) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let v = &s.v;
    let mut texts: Vec<&str> = PROFILE.to_vec();
    texts.extend(["login"]);
    let mut json = fields.to_json(&texts, &["rights"]);
    // Passwords as typed (not trimmed), even empty: the API's type says what is missing.
    if let Some(o) = json.as_object_mut() {
        for p in ["password", "passwordConfirmation"] {
            o.insert(p.into(), fields.raw(p).into());
        }
    }
    fields.set_int(&mut json, "departmentId");
    let result = through_api(&json, |input: StandardUserIn| {
        add_standard_user(&state, &s.caller, &a, input)
    })
    .await;
    match result {
        Ok(_) => Ok(see_other("/console/users?done=standard-added")),
        Err(e) => {
            let mut known: Vec<&str> = PROFILE.to_vec();
            known.extend(STANDARD_FIELDS);
            known.extend(["rights", "departmentId"]);
            let mut names: Vec<&'static str> = PROFILE.to_vec();
            names.push("login");
            let deps = state.store.departments(a.id).await.or_page(v)?;
            Ok(standard_page(
                v,
                e.status(),
                &StandardForm {
                    values: posted(&fields, &names),
                    rights: ticked(&fields),
                    department: fields.get("departmentId").and_then(|d| d.parse().ok()),
                    errors: Errors::from_api(v, &e, &known),
                    account: &a,
                    deps,
                },
            ))
        }
    }
}

fn advanced_page(
    v: &Visitor,
    status: StatusCode,
    a: &Account,
    deps: &[Department],
    values: &Values,
    checked: RightSet,
    errors: &Errors,
) -> Response {
    let body = html! {
        (errors.summary(v))
        form method="post" action="/console/advanced-users/new" novalidate {
            (csrf_field(v))
            (identity(v, values, errors, false, false))
            fieldset {
                legend { (v.t("Tag et service", "Tag and department")) }
                (Field::text("tag", v.t("Tag utilisateur", "User tag"), val(values, "tag"), false).render(v, errors))
                p.muted { (v.t("Le tag permet de limiter la vue de l'outil de suivi colis avec le droit « Suivi limité au tag utilisateur ».", "The tag limits the parcel tracking tool's view with the \"limited to the user tag\" right.")) }
                (department(v, deps, values.get("departmentId").and_then(|d| d.parse().ok()), errors))
            }
            (rights(v, Audience::Advanced, checked, a.entitlements, errors))
            p { (v.t("Une fois ces informations soumises, l'utilisateur avancé recevra un e-mail l'invitant à finaliser la création de son compte en complétant son identifiant et son mot de passe (lien valable 48 h).", "Once submitted, the advanced user receives an e-mail inviting them to complete their account with a login and password (link valid 48 hours).")) }
            (footer(v))
        }
    };
    page_with(
        v,
        status,
        v.t(
            "Création d'un compte utilisateur avancé",
            "New advanced user account",
        ),
        body,
    )
}

async fn new_advanced(State(state): State<AppState>, s: SignedIn) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let deps = state.store.departments(a.id).await.or_page(&s.v)?;
    Ok(advanced_page(
        &s.v,
        StatusCode::OK,
        &a,
        &deps,
        &Values::new(),
        RightSet::EMPTY,
        &Errors::none(),
    ))
}

async fn create_advanced(
    State(state): State<AppState>,
    s: SignedIn,
    Form { fields, .. }: Form,
) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let v = &s.v;
    let mut texts: Vec<&str> = ADVANCED_TEXTS.to_vec();
    texts.push("tag");
    let mut json = fields.to_json(&texts, &["rights"]);
    fields.set_int(&mut json, "departmentId");
    // The invitation in the admin's language.
    Fields::set(&mut json, "lang", v.lang.code());
    let result = through_api(&json, |input: AdvancedUserIn| {
        add_advanced_user(&state, &s.caller, &a, input)
    })
    .await;
    match result {
        Ok(_) => Ok(see_other("/console/users?done=advanced-added")),
        Err(e) => {
            let mut known: Vec<&str> = ADVANCED_TEXTS.to_vec();
            known.extend(["tag", "rights", "departmentId"]);
            let mut names: Vec<&'static str> = ADVANCED_TEXTS.to_vec();
            names.extend(["tag", "departmentId"]);
            let deps = state.store.departments(a.id).await.or_page(v)?;
            Ok(advanced_page(
                v,
                e.status(),
                &a,
                &deps,
                &posted(&fields, &names),
                ticked(&fields),
                &Errors::from_api(v, &e, &known),
            ))
        }
    }
}

/// The values of a user's fields; `tag` is the one this account's link gives it (tags are per
/// link).
pub(crate) fn values_of(u: &User, tag: Option<&sesame_domain::Tag>) -> Values {
    let p = &u.profile;
    let email = p
        .email
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    [
        (
            "civility",
            p.civility
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
        ),
        ("lastName", p.last_name.clone()),
        ("firstName", p.first_name.clone()),
        ("function", p.function.clone()),
        ("phone", p.phone.clone()),
        ("email", email.clone()),
        ("emailConfirmation", email),
        ("fax", p.fax.clone().unwrap_or_default()),
        ("address", p.address.clone()),
        ("postalCode", p.postal_code.clone()),
        ("city", p.city.clone()),
        ("country", p.country.clone()),
        (
            "tag",
            tag.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        ),
    ]
    .into_iter()
    .collect()
}

/// Whether the account edits this user's identity: its standard users, and an advanced user it
/// invited until the user confirms (after that the identity is the user's).
fn identity_locked(u: &User) -> bool {
    u.kind == UserKind::Advanced && u.status != UserStatus::Invited
}

struct EditForm<'a> {
    user: &'a User,
    values: Values,
    rights: RightSet,
    errors: Errors,
    account: &'a Account,
    deps: Vec<Department>,
}

fn edit_page(v: &Visitor, status: StatusCode, f: &EditForm<'_>, done: Option<&str>) -> Response {
    let u = f.user;
    let locked = identity_locked(u);
    let audience = match u.kind {
        UserKind::Standard => Audience::Standard,
        UserKind::Advanced => Audience::Advanced,
    };
    let body = html! {
        @if let Some(n) = super::users::done_notice(v, done) { (n) }
        (f.errors.summary(v))
        dl.facts {
            dt { (v.t("Type", "Kind")) }
            dd { (match u.kind { UserKind::Standard => v.t("Utilisateur standard", "Standard user"), UserKind::Advanced => v.t("Utilisateur avancé", "Advanced user") }) }
            @if let Some(l) = &u.login { dt { (v.t("Identifiant", "Login")) } dd { (l.as_str()) } }
            @if let Some(k) = u.user_key { dt { (v.t("Clé utilisateur", "User key")) } dd { code.key { (k) } } }
        }
        form method="post" action={ "/console/users/" (u.id) } novalidate {
            (csrf_field(v))
            (identity(v, &f.values, &f.errors, u.kind == UserKind::Standard, locked))
            @if u.kind == UserKind::Advanced || !f.deps.is_empty() {
                fieldset {
                    legend { (v.t("Tag et service", "Tag and department")) }
                    @if u.kind == UserKind::Advanced {
                        (Field::text("tag", v.t("Tag utilisateur", "User tag"), val(&f.values, "tag"), false).render(v, &f.errors))
                    }
                    (department(v, &f.deps, u.department_id, &f.errors))
                }
            }
            (rights(v, audience, f.rights, f.account.entitlements, &f.errors))
            div.actions {
                button type="submit" { (v.t("Enregistrer", "Save")) }
                a.button.secondary href="/console/users" { (v.t("Retour à la liste sans sauvegarde", "Back to the list without saving")) }
            }
        }
        @let (label, confirm) = match u.kind {
            UserKind::Standard => (v.t("Supprimer l'utilisateur", "Delete the user"), v.t("Supprimer définitivement cet utilisateur ?", "Delete this user for good?")),
            UserKind::Advanced => (v.t("Suppression des liens avec l'utilisateur", "Remove the link with the user"), v.t("Supprimer le lien avec cet utilisateur avancé ? Son compte est conservé.", "Remove the link with this advanced user? Their account is kept.")),
        };
        form method="post" action={ "/console/users/" (u.id) "/delete" } data-confirm=(confirm) {
            (csrf_field(v))
            button.danger type="submit" { (label) }
        }
    };
    page_with(
        v,
        status,
        v.t("Edition d'un compte utilisateur", "Edit a user account"),
        body,
    )
}

async fn edit(
    State(state): State<AppState>,
    s: SignedIn,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let v = &s.v;
    let u = state
        .store
        .user_in_account(a.id, parse_id(&id).or_page(v)?)
        .await
        .or_page(v)?;
    let link = state.store.link(u.id, a.id).await.or_page(v)?;
    let deps = state.store.departments(a.id).await.or_page(v)?;
    Ok(edit_page(
        v,
        StatusCode::OK,
        &EditForm {
            user: &u,
            values: values_of(&u, link.tag.as_ref()),
            rights: link.rights,
            errors: Errors::none(),
            account: &a,
            deps,
        },
        q.str("done"),
    ))
}

async fn save(
    State(state): State<AppState>,
    s: SignedIn,
    Path(id): Path<String>,
    Form { fields, .. }: Form,
) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let v = &s.v;
    let id = parse_id(&id).or_page(v)?;
    let u = state.store.user_in_account(a.id, id).await.or_page(v)?;
    // A locked identity is not sent at all: the form edits the link only.
    let texts: Vec<&str> = if identity_locked(&u) {
        Vec::new()
    } else if u.kind == UserKind::Standard {
        PROFILE.to_vec()
    } else {
        ADVANCED_TEXTS.to_vec()
    };
    let mut json = fields.to_json(&texts, &["rights"]);
    fields.set_int(&mut json, "departmentId");
    if let Some(o) = json.as_object_mut() {
        if u.kind == UserKind::Advanced {
            // An empty tag removes it.
            o.insert("tag".into(), fields.get("tag").unwrap_or("").into());
        }
        // The e-mail's confirmation is needed only when it changes.
        if o.get("emailConfirmation").is_none() {
            o.remove("emailConfirmation");
        }
    }
    let result = through_api(&json, |input: UserEditIn| {
        edit_user(&state, &s.caller, &a, id, input)
    })
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/console/users/{id}?done=saved"))),
        Err(e) => {
            let mut known: Vec<&str> = PROFILE.to_vec();
            known.extend(["tag", "rights", "departmentId"]);
            let link = state.store.link(u.id, a.id).await.or_page(v)?;
            let mut values = values_of(&u, link.tag.as_ref());
            for n in PROFILE.iter().chain(["tag"].iter()) {
                if let Some(x) = fields.get(n) {
                    values.insert(n, x.to_owned());
                }
            }
            let deps = state.store.departments(a.id).await.or_page(v)?;
            Ok(edit_page(
                v,
                e.status(),
                &EditForm {
                    user: &u,
                    values,
                    rights: ticked(&fields),
                    errors: Errors::from_api(v, &e, &known),
                    account: &a,
                    deps,
                },
                None,
            ))
        }
    }
}
