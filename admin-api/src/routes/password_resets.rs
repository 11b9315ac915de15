//! Password resets: the account admin e-mails a reset link; "Mot de passe oublié ?" (seed 000
//! §3) does the same for whoever knows the login and the address on file; the link opens a
//! public form (`/admin/v1/password-resets/{token}`: the token is the credential).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sesame_domain::model::{Account, Actor, UserStatus};
use sesame_domain::secrets::check_password_policy;
use sesame_domain::AccountNumber;
use sesame_store::{ResetTarget, StoreError};

use super::back_office::check_exclusive;
use super::table::Routes;
use crate::auth::{account_for, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::forms::{check_new_password, check_text, lang_of, parse_id};
use crate::openapi::{obj, op, s, Op, ADMIN, PUBLIC, PUBLIC_TOKEN};
use crate::views::{no_content, ok, reply, Res, SentView};
use crate::{html, mail, AppState};

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/accounts/{n}/users/{id}/password-reset",
        post(send_password_reset),
        [op("post", "E-mail a password-reset link (24 h)", ADMIN, None, 200)],
    )
    .route(
        "/admin/v1/password-resets",
        post(forgot_password),
        [Op {
            too_many: Some("too many requests being handled: try again"),
            ..op("post", "Forgotten password: login and e-mail on file (a user's login and e-mail, or the account admin's 6-digit number and the main contact's e-mail given at subscription); a reset link is mailed if they match (always 202)", PUBLIC, Some("Forgot"), 202)
        }],
    )
    .route(
        "/admin/v1/password-resets/{token}",
        get(get_password_reset).post(do_password_reset),
        [
            op("get", "Check a password-reset link", PUBLIC_TOKEN, None, 200),
            op("post", "Set a new password through a reset link", PUBLIC_TOKEN, Some("Reset"), 204),
        ],
    )
    .schemas([
        (
            "Forgot",
            obj(
                &["login", "email"],
                &[("login", s("string")), ("email", s("string")), ("lang", s("string"))],
            ),
        ),
        (
            "Reset",
            obj(
                &["password", "passwordConfirmation"],
                &[("password", s("string")), ("passwordConfirmation", s("string"))],
            ),
        ),
    ])
}

/// E-mails a user of `account` a password-reset link (seed 004 §4 "Renvoyer le mot de passe"):
/// the rule of `POST …/password-reset` and of the console's action.
pub(crate) async fn send_reset(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    user_id: i64,
    lang: &str,
) -> ApiResult<SentView> {
    let u = state.store.user_in_account(account.id, user_id).await?;
    check_exclusive(state, caller, account.id, &u).await?;
    let (u, token, expires) = state
        .store
        .create_password_reset(caller.actor(), Some(account.id), u.id)
        .await?;
    let link = mail::password_reset_link(&state.cfg.public_url, &token);
    let to = mail::address_of(&u);
    let queued = mail::send(&state.store, &to, &mail::password_reset(lang, &link), lang).await;
    Ok(SentView {
        expires_at: expires,
        sent_to: to,
        queued,
    })
}

async fn send_password_reset(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    q: Query,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let lang = lang_of(&state, q.str("lang"))?;
    ok(send_reset(&state, &caller, &a, parse_id(&id)?, &lang).await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ForgotIn {
    login: String,
    email: String,
    #[serde(default)]
    lang: Option<String>,
}

#[derive(Serialize)]
struct Notice {
    message: &'static str,
}

/// "Mot de passe oublié ?" (seed 000 §3): the login and the e-mail address on file. The answer is
/// the same whether or not they match, so nobody can probe logins, and it takes as long: the
/// lookup, the reset and the mail are done after the answer (on bounded slots).
async fn forgot_password(State(state): State<AppState>, Json(b): Json<ForgotIn>) -> Res {
    let lang = lang_of(&state, b.lang.as_deref())?;
    request_reset(&state, b.login, b.email, lang)?;
    reply(
        StatusCode::ACCEPTED,
        Notice {
            message: "Si ces informations correspondent à un compte, un e-mail a été envoyé. If these details match an account, an e-mail has been sent.",
        },
    )
}

/// "Mot de passe oublié ?" (the API's and the console's): checks the sizes, then does the work
/// after the answer on a bounded slot, so the answer says nothing and takes as long.
pub fn request_reset(
    state: &AppState,
    login: String,
    email: String,
    lang: String,
) -> ApiResult<()> {
    check_text("login", &login, 64)?;
    check_text("email", &email, 254)?;
    let st = state.clone();
    state.throttle.off_request(async move {
        if let Err(e) = send_forgotten_reset(&st, &login, &email, &lang).await {
            tracing::warn!(error = %e, "forgotten password: could not send the reset");
        }
    })
}

async fn send_forgotten_reset(
    state: &AppState,
    login: &str,
    email: &str,
    lang: &str,
) -> sesame_store::Result<()> {
    // The account admin's login is the 6-digit number; the address is the main contact's, given
    // at subscription (seed 000 §3). Users' logins are never 6-digit numbers.
    if let Ok(number) = AccountNumber::parse(login.trim()) {
        return send_forgotten_admin_reset(state, &number, email, lang).await;
    }
    let Some(u) = state.store.user_by_login(login).await? else {
        return Ok(());
    };
    let matches = u
        .profile
        .email
        .as_ref()
        .is_some_and(|e| e.as_str().eq_ignore_ascii_case(email.trim()));
    if !(matches && u.status == UserStatus::Active) {
        return Ok(());
    }
    let (u, token, _) = state
        .store
        .create_password_reset(Actor::System, None, u.id)
        .await?;
    let link = mail::password_reset_link(&state.cfg.public_url, &token);
    if let Some(to) = u.profile.email.as_ref() {
        mail::send(
            &state.store,
            to.as_str(),
            &mail::password_reset(lang, &link),
            lang,
        )
        .await;
    }
    Ok(())
}

async fn send_forgotten_admin_reset(
    state: &AppState,
    number: &AccountNumber,
    email: &str,
    lang: &str,
) -> sesame_store::Result<()> {
    let account = match state.store.account_by_number(number).await {
        Ok(a) => a,
        Err(StoreError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some((to, token, _)) = state
        .store
        .create_admin_password_reset(Actor::System, account.id, email)
        .await?
    else {
        return Ok(());
    };
    let link = mail::password_reset_link(&state.cfg.public_url, &token);
    mail::send(
        &state.store,
        to.as_str(),
        &mail::password_reset(lang, &link),
        lang,
    )
    .await;
    Ok(())
}

fn reset_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::NotFound("password reset link"),
        other => other.into(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResetView {
    login: String,
    last_name: String,
    first_name: String,
}

async fn get_password_reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Res {
    let found = state.store.password_reset_target(&token).await;
    html::token_page(
        &headers,
        found.map_err(reset_error),
        |target, browser| async move {
            let view = match target {
                ResetTarget::User(u) => ResetView {
                    login: u
                        .login
                        .as_ref()
                        .map(|l| l.as_str().to_owned())
                        .unwrap_or_default(),
                    last_name: u.profile.last_name,
                    first_name: u.profile.first_name,
                },
                // The account admin signs in with the account number.
                ResetTarget::AccountAdmin(a) => ResetView {
                    login: a.number.to_string(),
                    last_name: a.company,
                    first_name: String::new(),
                },
            };
            if browser {
                return Ok(html::reset_page(&view.login));
            }
            ok(view)
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResetIn {
    password: String,
    password_confirmation: String,
}

async fn do_password_reset(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(b): Json<ResetIn>,
) -> Res {
    check_new_password(&b.password, &b.password_confirmation)?;
    check_password_policy(&b.password)?;
    state
        .store
        .reset_password(&token, &b.password)
        .await
        .map_err(reset_error)?;
    no_content()
}
