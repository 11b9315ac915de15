//! Sign-in and sign-out (`/admin/v1/sessions`).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::routing::{delete, post};
use serde::Deserialize;
use sesame_domain::model::{AccountStatus, Actor};
use sesame_domain::AccountNumber;
use sesame_store::{NewSession, SessionKind};

use super::table::Routes;
use crate::auth::Caller;
use crate::error::ApiError;
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

/// A sign-in. Each password check is reserved with the throttle first (counted as a failure
/// until it succeeds), so parallel guesses cannot all be verified. A disabled account or user
/// answers exactly like a wrong password: the answer is no oracle for the password.
async fn sign_in(State(state): State<AppState>, peer: Peer, Json(body): Json<SignIn>) -> Res {
    check_text("password", &body.password, 128)?;
    let ip = peer_ip(&peer);
    let ttl = (state.cfg.session_ttl_secs as i64).saturating_mul(1000);
    let (actor, new, permit) = match (&body.account_number, &body.login) {
        (Some(n), None) => {
            let number = AccountNumber::parse(n)?;
            let permit = state
                .throttle
                .reserve(&format!("account:{number}"), ip)
                .await?;
            let account = state
                .store
                .verify_account_admin(&number, &body.password)
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
        (None, Some(login)) => {
            check_text("login", login, 64)?;
            if login.trim().is_empty() {
                return Err(ApiError::invalid("login", "login: must not be empty"));
            }
            let permit = state
                .throttle
                .reserve(&format!("login:{}", login.trim()), ip)
                .await?;
            // A right password of a collaborator without "Accès au site" is refused with its
            // own message (403 no_site_access), and the attempt stays counted as failed.
            let user = state
                .store
                .sign_in_user(login, &body.password)
                .await?
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
        _ => {
            return Err(ApiError::invalid(
                "accountNumber",
                "give either accountNumber or login, with password",
            ))
        }
    };
    permit.succeeded().await;
    let kind = new.kind;
    let (token, session) = state.store.create_session(actor, new, None).await?;
    created(SessionView {
        token,
        token_type: "Bearer",
        kind: kind.as_str(),
        expires_at: session.expires_at,
        user: None,
    })
}

async fn sign_out(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> Res {
    if caller == Caller::Operator {
        return Err(ApiError::bad_request("the operator token is not a session"));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_owned()))
        .ok_or(ApiError::Unauthorized)?;
    state.store.revoke_session(caller.actor(), &token).await?;
    no_content()
}
