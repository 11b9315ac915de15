//! "Editer mon compte" (seed 000 §8, SPEC §5): a user's own page. Its details (editable as the
//! API allows: a confirmed identity is the user's own), "Clé utilisateur", "Clé de connexion au
//! WS" with "Regénérer" (advanced users: the new key shown once, on the answer page, with an
//! optional grace period for the old one), the password change, and "Droits sur les comptes"
//! (one column per account, one row per right, + / -). Every change goes through the API's own
//! functions (`routes::me`): same rules, same field names, same audit.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use sesame_domain::model::UserKind;
use sesame_domain::rights::{Grant, ADVANCED_GRANTS};
use sesame_domain::RightSet;

use super::PortalUser;
use crate::auth::Caller;
use crate::console::form::{through_api, Form};
use crate::console::layout::{csrf_field, notice, page_with, see_other, OrPage};
use crate::console::session::{to_sign_in, Visitor};
use crate::console::user_form::{identity, posted, values_of, Values, PROFILE};
use crate::console::widgets::{Errors, Field};
use crate::extract::Query;
use crate::forms::UserEditIn;
use crate::routes::me::{
    change_my_password, my_accounts, regenerate_my_key, update_my_details, MyAccount, PasswordIn,
    RegenerateIn,
};
use crate::AppState;

/// The page's path.
pub const PATH: &str = "/console/mon-compte";

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(PATH, get(show).post(save_details))
        .route("/console/mon-compte/cle", post(regenerate))
        .route("/console/mon-compte/mot-de-passe", post(change_password))
}

/// The visitor of a portal page and the user it is (or acts for, in an assistance session).
pub(crate) struct Me {
    pub p: PortalUser,
    pub caller: Caller,
    pub user_id: i64,
}

/// The portal visitor behind `v`, with its user: refused as [`PortalUser::of`] refuses.
#[allow(clippy::result_large_err)] // the refusal is the page returned at once
pub(crate) fn me(v: Visitor) -> Result<Me, Response> {
    let p = PortalUser::of(v)?;
    match p.v.caller.clone() {
        Some(caller @ (Caller::User { user_id } | Caller::Impersonating { user_id, .. })) => {
            Ok(Me { p, caller, user_id })
        }
        // `PortalUser::of` lets no one else through.
        _ => Err(to_sign_in(&p.v.here)),
    }
}

/// The details every profile must keep (blank is refused, by name).
const REQUIRED: [&str; 9] = [
    "lastName",
    "firstName",
    "function",
    "phone",
    "email",
    "address",
    "postalCode",
    "city",
    "country",
];

/// The grace periods offered for the old key, in seconds (none, 1 h, 24 h, 7 days).
const GRACES: [(u32, &str, &str); 4] = [
    (
        0,
        "Aucun : l'ancienne clé cesse de fonctionner aussitôt",
        "None: the old key stops working at once",
    ),
    (3600, "1 heure", "1 hour"),
    (86_400, "24 heures", "24 hours"),
    (604_800, "7 jours", "7 days"),
];

/// What the page shows besides the user: the values in the details form, its errors, the
/// password form's errors, and a notice.
struct View<'a> {
    values: Values,
    details: Errors,
    password: Errors,
    key: Errors,
    done: Option<&'a str>,
}

fn done_notice(v: &Visitor, done: Option<&str>) -> Option<Markup> {
    let text = match done? {
        "saved" => v.t(
            "Vos informations ont été enregistrées.",
            "Your details were saved.",
        ),
        "password" => v.t(
            "Votre mot de passe a été changé.",
            "Your password was changed.",
        ),
        _ => return None,
    };
    Some(notice(text))
}

/// "Droits sur les comptes": one column per account (number and company), one row per right,
/// `+` where the user holds it there, `-` where not (said in words for screen readers).
fn rights_table(v: &Visitor, kind: UserKind, accounts: &[MyAccount]) -> Markup {
    let rows: Vec<Grant> = match kind {
        UserKind::Advanced => ADVANCED_GRANTS.iter().map(|(g, _)| *g).collect(),
        // A standard user's catalogue is long: the rights it holds somewhere.
        UserKind::Standard => {
            let held = accounts.iter().fold(RightSet::EMPTY, |s, a| {
                a.effective_rights.grants().fold(s, RightSet::grant)
            });
            held.grants().collect()
        }
    };
    html! {
        section #droits {
            h2 { (v.t("Droits sur les comptes", "Rights per account")) }
            @if accounts.is_empty() {
                p.muted { (v.t("Vous n'êtes lié à aucun compte.", "You are not linked to any account.")) }
            } @else {
                table.rights-matrix {
                    thead {
                        tr {
                            th scope="col" { (v.t("Droit", "Right")) }
                            @for a in accounts {
                                th scope="col" { (a.number) br; small { (a.company) } }
                            }
                        }
                    }
                    tbody {
                        @for g in &rows {
                            tr {
                                th scope="row" { (v.lang.grant(*g)) }
                                @for a in accounts {
                                    @let has = a.effective_rights.has_grant(*g);
                                    td.yes[has] title=(if has { v.t("oui", "yes") } else { v.t("non", "no") }) {
                                        span aria-hidden="true" { (if has { "+" } else { "-" }) }
                                        span.sr-only { (if has { v.t("oui", "yes") } else { v.t("non", "no") }) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The connection key's section: the key itself is never shown again (stored as a keyed hash);
/// "Regénérer" makes a new one, shown once on the answer.
fn key_section(v: &Visitor, impersonated: bool, errors: &Errors) -> Markup {
    html! {
        section #cle-connexion {
            h2 { (v.t("Clé de connexion au WS", "Web service connection key")) }
            p { (v.t("La clé de connexion se substitue à l'identifiant et au mot de passe lors de l'utilisation des Web Services. Elle n'est affichée qu'une fois, à sa création ou à sa régénération : Sesame n'en garde qu'une empreinte.", "The connection key replaces the login and password when calling the web services. It is shown only once, when created or regenerated: Sesame keeps only a fingerprint of it.")) }
            @if impersonated {
                p.notice.info { (v.t("Une session d'assistance ne peut pas régénérer la clé de l'utilisateur.", "An assistance session cannot regenerate the user's key.")) }
            } @else {
                (errors.summary(v))
                form method="post" action="/console/mon-compte/cle" data-confirm=(v.t("Regénérer la clé de connexion ? Les logiciels qui utilisent l'ancienne devront être mis à jour.", "Regenerate the connection key? Software using the old one must be updated.")) {
                    (csrf_field(v))
                    div.field.invalid[errors.of("graceSeconds").is_some()] {
                        label for="f-graceSeconds" { (v.t("Délai de grâce pour l'ancienne clé", "Grace period for the old key")) }
                        select #f-graceSeconds name="graceSeconds" aria-invalid=[errors.of("graceSeconds").map(|_| "true")] aria-describedby=[errors.of("graceSeconds").map(|_| "f-graceSeconds-error")] {
                            @for (s, fr, en) in GRACES { option value=(s) { (v.t(fr, en)) } }
                        }
                        @if let Some(m) = errors.of("graceSeconds") { p.field-error #f-graceSeconds-error { strong { (v.t("Erreur", "Error")) " : " } (m) } }
                    }
                    div.actions { button type="submit" { (v.t("Regénérer", "Regenerate")) } }
                }
            }
        }
    }
}

fn password_section(v: &Visitor, impersonated: bool, errors: &Errors) -> Markup {
    html! {
        section #mot-de-passe {
            h2 { (v.t("Mot de passe", "Password")) }
            @if impersonated {
                p.notice.info { (v.t("Une session d'assistance ne peut pas changer le mot de passe de l'utilisateur.", "An assistance session cannot change the user's password.")) }
            } @else {
                (errors.summary(v))
                form method="post" action="/console/mon-compte/mot-de-passe" novalidate {
                    (csrf_field(v))
                    (Field::text("currentPassword", v.t("Mot de passe actuel", "Current password"), "", true).kind("password").autocomplete("current-password").render(v, errors))
                    (Field::text("password", v.t("Mot de passe", "Password"), "", true).kind("password").autocomplete("new-password").render(v, errors))
                    (Field::text("passwordConfirmation", v.t("Confirmer Mot de passe", "Confirm password"), "", true).kind("password").autocomplete("new-password").render(v, errors))
                    p.muted { (v.t("8 à 128 caractères, dont au moins une lettre et un chiffre.", "8 to 128 characters, with at least one letter and one digit.")) }
                    div.actions { button type="submit" { (v.t("Changer le mot de passe", "Change the password")) } }
                }
            }
        }
    }
}

async fn render(
    state: &AppState,
    m: &Me,
    status: StatusCode,
    view: View<'_>,
) -> Result<Response, Response> {
    let v = &m.p.v;
    let user_id = m.user_id;
    let u = state.store.user(m.user_id).await.or_page(v)?;
    let accounts = my_accounts(state, user_id).await.or_page(v)?;
    let impersonated = matches!(m.caller, Caller::Impersonating { .. });
    let body = html! {
        @if let Some(n) = done_notice(v, view.done) { (n) }
        section #informations {
            (view.details.summary(v))
            dl.facts {
                dt { (v.t("Type", "Kind")) }
                dd { (match u.kind { UserKind::Standard => v.t("Utilisateur standard", "Standard user"), UserKind::Advanced => v.t("Utilisateur avancé", "Advanced user") }) }
                dt { (v.t("Utilisateur", "User")) } dd { (u.profile.first_name) " " (u.profile.last_name) }
                @if let Some(l) = &u.login { dt { (v.t("Identifiant", "Login")) } dd { (l.as_str()) } }
                @if let Some(k) = u.user_key {
                    dt { (v.t("Clé utilisateur", "User key")) } dd { code.key #cle-utilisateur { (k) } }
                }
            }
            @if u.user_key.is_some() {
                p.muted { (v.t("La clé utilisateur est l'identifiant unique à communiquer à un administrateur de compte pour qu'il vous associe à son compte.", "The user key is the unique identifier to give an account admin so they can associate you with their account.")) }
            }
            form method="post" action=(PATH) novalidate {
                (csrf_field(v))
                (identity(v, &view.values, &view.details, u.kind == UserKind::Standard, false))
                div.actions { button type="submit" { (v.t("Enregistrer", "Save")) } }
            }
        }
        @if u.kind == UserKind::Advanced { (key_section(v, impersonated, &view.key)) }
        @if u.login.is_some() { (password_section(v, impersonated, &view.password)) }
        (rights_table(v, u.kind, &accounts))
        section { (crate::console::widgets::preferences(v)) }
    };
    Ok(page_with(
        v,
        status,
        v.t("Edition d'un compte utilisateur", "Edit my account"),
        body,
    ))
}

async fn show(State(state): State<AppState>, v: Visitor, q: Query) -> Result<Response, Response> {
    let m = me(v)?;
    let u = state.store.user(m.user_id).await.or_page(&m.p.v)?;
    let view = View {
        values: values_of(&u, None),
        details: Errors::none(),
        password: Errors::none(),
        key: Errors::none(),
        done: q.str("done"),
    };
    render(&state, &m, StatusCode::OK, view).await
}

async fn save_details(
    State(state): State<AppState>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    let m = me(v)?;
    let mut json = fields.to_json(&PROFILE, &[]);
    // Only the details are sent (the rights and tag are the account admin's). A required field
    // posted blank is sent blank, for the API to refuse it by name rather than keep the old
    // value silently.
    if let Some(o) = json.as_object_mut() {
        for n in REQUIRED {
            if fields.0.iter().any(|(k, _)| k == n) && fields.get(n).is_none() {
                o.insert(n.to_owned(), "".into());
            }
        }
    }
    let result = through_api(&json, |input: UserEditIn| {
        update_my_details(&state, &m.caller, input)
    })
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("{PATH}?done=saved"))),
        Err(e) => {
            let v = &m.p.v;
            let view = View {
                values: posted(&fields, &PROFILE),
                details: Errors::from_api(v, &e, &PROFILE),
                password: Errors::none(),
                key: Errors::none(),
                done: None,
            };
            render(&state, &m, e.status(), view).await
        }
    }
}

/// The new key, shown once: this answer is the only place it appears (never in a URL, a
/// redirect or a log; the page is `no-store`).
async fn regenerate(
    State(state): State<AppState>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    let m = me(v)?;
    let v = &m.p.v;
    let mut json = serde_json::json!({});
    // "0" is "no grace period": the field is then left out, as the API reads it.
    if fields.get("graceSeconds") != Some("0") {
        fields.set_int(&mut json, "graceSeconds");
    }
    let result = through_api(&json, |input: RegenerateIn| {
        regenerate_my_key(&state, &m.caller, input)
    })
    .await;
    let key = match result {
        Ok(k) => k,
        Err(e) if e.field().is_some() => {
            let u = state.store.user(m.user_id).await.or_page(v)?;
            let view = View {
                values: values_of(&u, None),
                details: Errors::none(),
                password: Errors::none(),
                key: Errors::from_api(v, &e, &["graceSeconds"]),
                done: None,
            };
            return render(&state, &m, e.status(), view).await;
        }
        Err(e) => return Err(crate::console::layout::fail(v, &e)),
    };
    let body = html! {
        p.notice.ok role="status" { span aria-hidden="true" { "✔ " } (v.t("Votre nouvelle clé de connexion au WS a été générée.", "Your new web service connection key was generated.")) }
        dl.facts {
            dt { (v.t("Clé de connexion au WS", "Web service connection key")) }
            dd { code.key #nouvelle-cle { (key.connection_key) } }
        }
        p.notice.error role="alert" {
            strong { (v.t("Attention", "Warning")) " : " }
            (v.t("cette clé ne sera plus affichée. Copiez-la maintenant et conservez-la en lieu sûr ; en cas de perte, il faudra la régénérer.", "this key will not be shown again. Copy it now and keep it safe; if lost, it must be regenerated."))
        }
        p {
            @match key.previous_key_valid_until {
                Some(until) => { (v.t("L'ancienne clé reste valable jusqu'au", "The old key remains valid until")) " " (v.lang.date_time(until)) "." }
                None => { (v.t("L'ancienne clé ne fonctionne plus.", "The old key no longer works.")) }
            }
        }
        p { a.button href=(PATH) { (v.t("Retour à mon compte", "Back to my account")) } }
    };
    Ok(page_with(
        v,
        StatusCode::OK,
        v.t("Nouvelle clé de connexion", "New connection key"),
        body,
    ))
}

async fn change_password(
    State(state): State<AppState>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    let m = me(v)?;
    let v = &m.p.v;
    // Passwords as typed (never trimmed), even empty: the API's rules say what is wrong.
    let json = serde_json::json!({
        "currentPassword": fields.raw("currentPassword"),
        "password": fields.raw("password"),
        "passwordConfirmation": fields.raw("passwordConfirmation"),
    });
    let result = through_api(&json, |input: PasswordIn| {
        change_my_password(&state, &m.caller, input)
    })
    .await;
    match result {
        Ok(()) => Ok(see_other(&format!("{PATH}?done=password"))),
        Err(e) => {
            let u = state.store.user(m.user_id).await.or_page(v)?;
            let view = View {
                values: values_of(&u, None),
                details: Errors::none(),
                password: Errors::from_api(
                    v,
                    &e,
                    &["currentPassword", "password", "passwordConfirmation"],
                ),
                key: Errors::none(),
                done: None,
            };
            render(&state, &m, e.status(), view).await
        }
    }
}
