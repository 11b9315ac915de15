//! Sign-in and sign-out (`/admin/v1/sessions`).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::routing::{delete, post};
use serde::Deserialize;
use sesame_domain::model::{AccountStatus, Actor, UserStatus};
use sesame_domain::AccountNumber;
use sesame_store::{NewSession, Session, SessionKind};

use super::table::Routes;
use crate::auth::{is_operator_token, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::forms::check_text;
use crate::openapi::{obj, s, Op, PUBLIC, SESSION};
use crate::throttle::{peer_ip, Peer};
use crate::views::{created, no_content, Res, SessionView};
use crate::AppState;

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/sessions",
        post(sign_in),
        [Op {
            too_many: Some(
                "too many failed sign-ins for this login or from this address: not checked, try again after Retry-After",
            ),
            ..crate::openapi::op(
                "post",
                "Sign in: account admin (accountNumber+password) or user (login+password)",
                PUBLIC,
                Some("SignIn"),
                201,
            )
        }],
    )
    .route(
        "/admin/v1/sessions/current",
        delete(sign_out),
        [crate::openapi::op(
            "delete",
            "Sign out (revoke the bearer session)",
            SESSION,
            None,
            204,
        )],
    )
    .schemas([(
        "SignIn",
        obj(
            &["password"],
            &[
                (
                    "accountNumber",
                    serde_json::json!({"type": "string", "pattern": "^[0-9]{6}$"}),
                ),
                ("login", s("string")),
                ("password", s("string")),
            ],
        ),
    )])
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignIn {
    account_number: Option<String>,
    login: Option<String>,
    password: String,
}

/// What a sign-in proves: the API's body and the console's form both become one of these.
pub enum Credentials<'a> {
    /// The account admin: the six-digit account number and the account's password.
    Account { number: &'a str, password: &'a str },
    /// A user: its login and password.
    Login { login: &'a str, password: &'a str },
    /// The operator in the web console: the operator token, once, for a cookie session.
    Operator { token: &'a str },
}

async fn sign_in(State(state): State<AppState>, peer: Peer, Json(body): Json<SignIn>) -> Res {
    let creds = match (&body.account_number, &body.login) {
        (Some(n), None) => Credentials::Account {
            number: n,
            password: &body.password,
        },
        (None, Some(login)) => Credentials::Login {
            login,
            password: &body.password,
        },
        _ => {
            return Err(ApiError::invalid(
                "accountNumber",
                "give either accountNumber or login, with password",
            ))
        }
    };
    let (token, session) = open_session(&state, peer_ip(&peer), creds).await?;
    created(SessionView {
        token,
        token_type: "Bearer",
        kind: session.kind.as_str(),
        expires_at: session.expires_at,
        user: None,
    })
}

/// A sign-in (the API's and the console's). Each password check is reserved with the throttle
/// first (counted as a failure until it succeeds), so parallel guesses cannot all be verified.
/// A disabled account or user answers exactly like a wrong password: the answer is no oracle
/// for the password.
pub async fn open_session(
    state: &AppState,
    ip: std::net::IpAddr,
    creds: Credentials<'_>,
) -> ApiResult<(String, Session)> {
    let ttl = (state.cfg.session_ttl_secs as i64).saturating_mul(1000);
    let (actor, new, permit) = match creds {
        Credentials::Account { number, password } => {
            check_text("password", password, 128)?;
            let number = AccountNumber::parse(number)?;
            let permit = state
                .throttle
                .reserve(&format!("account:{number}"), ip)
                .await?;
            let account = state
                .store
                .verify_account_admin(&number, password)
                .await?
                .filter(|a| a.status == AccountStatus::Active)
                .ok_or(ApiError::BadCredentials)?;
            (
                Actor::AccountAdmin {
                    account_id: account.id,
                },
                NewSession {
                    kind: SessionKind::Admin,
                    account_id: Some(account.id),
                    user_id: None,
                    impersonator_account_id: None,
                    ttl_millis: ttl,
                },
                permit,
            )
        }
        Credentials::Login { login, password } => {
            check_text("password", password, 128)?;
            check_text("login", login, 64)?;
            if login.trim().is_empty() {
                return Err(ApiError::invalid("login", "login: must not be empty"));
            }
            let permit = state
                .throttle
                .reserve(&format!("login:{}", login.trim()), ip)
                .await?;
            let user = state
                .store
                .verify_user_login(login, password)
                .await?
                .filter(|u| u.status == UserStatus::Active)
                .ok_or(ApiError::BadCredentials)?;
            (
                Actor::User { user_id: user.id },
                NewSession {
                    kind: SessionKind::User,
                    account_id: None,
                    user_id: Some(user.id),
                    impersonator_account_id: None,
                    ttl_millis: ttl,
                },
                permit,
            )
        }
        Credentials::Operator { token } => {
            check_text("token", token, 256)?;
            // One throttle key for the operator: guessing the token is throttled like a password.
            let permit = state.throttle.reserve("operator", ip).await?;
            if !is_operator_token(state, token) {
                return Err(ApiError::BadCredentials);
            }
            (
                Actor::Operator,
                NewSession {
                    kind: SessionKind::Operator,
                    account_id: None,
                    user_id: None,
                    impersonator_account_id: None,
                    ttl_millis: ttl,
                },
                permit,
            )
        }
    };
    permit.succeeded().await;
    Ok(state.store.create_session(actor, new, None).await?)
}

/// Ends the session `token` (the API's bearer, the console's cookie).
pub async fn close_session(state: &AppState, caller: &Caller, token: &str) -> ApiResult<()> {
    Ok(state.store.revoke_session(caller.actor(), token).await?)
}

async fn sign_out(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> Res {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_owned()))
        .ok_or(ApiError::Unauthorized)?;
    if is_operator_token(&state, &token) {
        return Err(ApiError::bad_request("the operator token is not a session"));
    }
    close_session(&state, &caller, &token).await?;
    no_content()
}
