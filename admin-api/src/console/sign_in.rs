//! Screen 1: sign-in ("Connectez-vous": the six-digit account number for the account admin, the
//! login for a user, and the password; seed 000 §3), "Mot de passe oublié ?", sign-out, and the
//! operator's sign-in with the operator token. All through the API's own sign-in rule
//! (`routes::sessions::open_session`): same throttle, same audit, same store sessions.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use super::form::Form;
use super::layout::{self, csrf_field, page, page_with, see_other};
use super::session::{set_cookie, Visitor, PRE_COOKIE, SESSION_COOKIE};
use super::widgets::{Errors, Field};
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::password_resets::request_reset;
use crate::routes::sessions::{close_session, open_session, Credentials};
use crate::throttle::{peer_ip, Peer};
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", axum::routing::post(sign_out))
        .route("/console/forgot-password", get(forgot_page).post(forgot))
        .route(
            "/console/operator/sign-in",
            get(operator_page).post(operator_sign_in),
        )
}

/// Where to go after signing in: the `next` page if it is a console page.
fn next_of(next: Option<&str>) -> &str {
    next.filter(|n| super::local_path(n)).unwrap_or("/console/")
}

fn sign_in_form(
    v: &Visitor,
    status: StatusCode,
    id: &str,
    next: Option<&str>,
    errors: &Errors,
    notice: Option<&str>,
) -> Response {
    let body = html! {
        @if let Some(n) = notice { (layout::notice(n)) }
        (errors.summary(v))
        form method="post" action="/console/sign-in" novalidate {
            (csrf_field(v))
            @if let Some(n) = next.filter(|n| super::local_path(n)) { input type="hidden" name="next" value=(n); }
            (Field::text("identifiant", v.t("Identifiant", "Login"), id, true).autocomplete("username").autofocus().render(v, errors))
            p.muted #id-help { (v.t("Administrateur de compte : votre numéro de compte client à 6 chiffres. Utilisateur : votre identifiant.", "Account admin: your 6-digit customer account number. User: your login.")) }
            (Field::text("password", v.t("Mot de passe", "Password"), "", true).kind("password").autocomplete("current-password").render(v, errors))
            div.actions {
                button type="submit" { (v.t("Confirmer", "Sign in")) }
                a href="/console/forgot-password" { (v.t("Mot de passe oublié ?", "Forgotten password?")) }
            }
        }
        p.muted { a href="/console/operator/sign-in" { (v.t("Connexion opérateur (back office)", "Operator sign-in (back office)")) } }
    };
    page_with(v, status, v.t("Connectez-vous", "Sign in"), body)
}

async fn sign_in_page(v: Visitor, q: Query) -> Response {
    if v.caller.is_some() {
        return see_other(next_of(q.str("next")));
    }
    let notice = match q.str("done") {
        Some("signed-out") => Some(v.t("Vous êtes déconnecté.", "You are signed out.")),
        _ => None,
    };
    sign_in_form(
        &v,
        StatusCode::OK,
        "",
        q.str("next"),
        &Errors::none(),
        notice,
    )
}

/// The session cookie for `token`, and the pre-session seed dropped (its token is spent).
fn signed_in(v: &Visitor, state: &AppState, token: &str, to: &str) -> Response {
    let mut resp = see_other(to);
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            token,
            Some(state.cfg.session_ttl_secs),
            v.secure,
        ),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(PRE_COOKIE, "", Some(0), v.secure),
    );
    resp
}

async fn sign_in(State(state): State<AppState>, peer: Peer, Form { v, fields }: Form) -> Response {
    let id = fields.get("identifiant").unwrap_or("");
    let password = fields.raw("password");
    let next = fields.get("next");
    // Six digits are an account number (user logins never are, see `Login`).
    let creds = if id.len() == 6 && id.bytes().all(|b| b.is_ascii_digit()) {
        Credentials::Account {
            number: id,
            password,
        }
    } else {
        Credentials::Login {
            login: id,
            password,
        }
    };
    let refusal = if id.is_empty() {
        ApiError::invalid("identifiant", "identifiant: is required")
    } else if password.is_empty() {
        ApiError::invalid("password", "password: is required")
    } else {
        match open_session(&state, peer_ip(&peer), creds).await {
            Ok((token, _)) => return signed_in(&v, &state, &token, next_of(next)),
            Err(ApiError::Invalid { .. }) => ApiError::BadCredentials,
            Err(e) => e,
        }
    };
    let errors = Errors::from_api(&v, &refusal, &["identifiant", "password"]);
    sign_in_form(&v, refusal.status(), id, next, &errors, None)
}

async fn sign_out(State(state): State<AppState>, Form { v, .. }: Form) -> Response {
    if let (Some(caller), Some(token)) = (&v.caller, &v.session) {
        if let Err(e) = close_session(&state, caller, token).await {
            return layout::fail(&v, &e);
        }
    }
    let mut resp = see_other("/console/sign-in?done=signed-out");
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", Some(0), v.secure),
    );
    resp
}

fn forgot_form(v: &Visitor, login: &str, email: &str, errors: &Errors) -> Response {
    let body = html! {
        p { (v.t("Renseignez votre identifiant et l'adresse e-mail enregistrée pour votre compte : si elles correspondent, vous recevrez un lien pour choisir un nouveau mot de passe (valable 24 h).", "Enter your login and the e-mail address on file: if they match, you will receive a link to choose a new password (valid 24 hours).")) }
        (errors.summary(v))
        form method="post" action="/console/forgot-password" novalidate {
            (csrf_field(v))
            (Field::text("login", v.t("Identifiant", "Login"), login, true).autocomplete("username").render(v, errors))
            (Field::text("email", v.t("Email", "E-mail"), email, true).kind("email").autocomplete("email").render(v, errors))
            div.actions {
                button type="submit" { (v.t("Envoyer", "Send")) }
                a href="/console/sign-in" { (v.t("Retour à la connexion", "Back to sign-in")) }
            }
        }
    };
    page(v, v.t("Mot de passe oublié ?", "Forgotten password?"), body)
}

async fn forgot_page(v: Visitor) -> Response {
    forgot_form(&v, "", "", &Errors::none())
}

async fn forgot(State(state): State<AppState>, Form { v, fields }: Form) -> Response {
    let login = fields.get("login").unwrap_or("");
    let email = fields.get("email").unwrap_or("");
    let missing = if login.is_empty() {
        Some("login")
    } else if email.is_empty() {
        Some("email")
    } else {
        None
    };
    let result = match missing {
        Some(f) => Err(ApiError::invalid(f, format!("{f}: is required"))),
        None => request_reset(
            &state,
            login.to_owned(),
            email.to_owned(),
            v.lang.code().to_owned(),
        ),
    };
    match result {
        Ok(()) => page(
            &v,
            v.t("Mot de passe oublié ?", "Forgotten password?"),
            html! {
                (layout::notice(v.t("Si ces informations correspondent à un compte, un e-mail vous a été envoyé avec un lien pour choisir un nouveau mot de passe.", "If these details match an account, an e-mail has been sent with a link to choose a new password.")))
                p { a href="/console/sign-in" { (v.t("Retour à la connexion", "Back to sign-in")) } }
            },
        ),
        Err(e) => forgot_form(
            &v,
            login,
            email,
            &Errors::from_api(&v, &e, &["login", "email"]),
        ),
    }
}

fn operator_form(v: &Visitor, status: StatusCode, errors: &Errors) -> Response {
    let body = html! {
        p { (v.t("Le back office est réservé à l'opérateur. Saisissez le jeton opérateur (la valeur de SESAME_OPERATOR_TOKEN) : il ouvre une session de la durée habituelle, et n'est jamais conservé dans le navigateur.", "The back office is the operator's. Enter the operator token (the value of SESAME_OPERATOR_TOKEN): it opens a session of the usual length and is never kept in the browser.")) }
        (errors.summary(v))
        form method="post" action="/console/operator/sign-in" novalidate {
            (csrf_field(v))
            (Field::text("token", v.t("Jeton opérateur", "Operator token"), "", true).kind("password").autocomplete("current-password").render(v, errors))
            div.actions { button type="submit" { (v.t("Confirmer", "Sign in")) } }
        }
    };
    page_with(
        v,
        status,
        v.t("Connexion opérateur", "Operator sign-in"),
        body,
    )
}

async fn operator_page(v: Visitor) -> Response {
    operator_form(&v, StatusCode::OK, &Errors::none())
}

async fn operator_sign_in(
    State(state): State<AppState>,
    peer: Peer,
    Form { v, fields }: Form,
) -> Response {
    let token = fields.raw("token");
    match open_session(&state, peer_ip(&peer), Credentials::Operator { token }).await {
        Ok((session, _)) => signed_in(&v, &state, &session, "/console/back-office"),
        Err(e) => {
            let e = match e {
                ApiError::BadCredentials | ApiError::Invalid { .. } => {
                    ApiError::invalid("token", "token: wrong operator token")
                }
                e => e,
            };
            operator_form(&v, e.status(), &Errors::from_api(&v, &e, &["token"]))
        }
    }
}
