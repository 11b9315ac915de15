//! Self-service ("Mon compte > Editer mon compte", `/admin/v1/me`): who I am, my details, my
//! connection key, my password.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sesame_domain::model::now_millis;
use sesame_domain::{AccountNumber, RightSet, Tag};

use super::table::Routes;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{optional_json, Json};
use crate::forms::{check_new_password, check_text, UserEditIn};
use crate::openapi::{obj, op, s, SESSION};
use crate::views::{no_content, ok, rights_detail, AccountView, Res, RightView, UserView};
use crate::AppState;

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/me",
        get(me).patch(update_me),
        [
            op(
                "get",
                "My account: details, user key, rights per account",
                SESSION,
                None,
                200,
            ),
            op("patch", "Change my details", "user", Some("UserEdit"), 200),
        ],
    )
    .route(
        "/admin/v1/me/connection-key",
        post(regenerate_key),
        [op(
            "post",
            "Regenerate my connection key (optional graceSeconds); shown once",
            "user",
            Some("Regenerate"),
            200,
        )],
    )
    .route(
        "/admin/v1/me/password",
        post(change_password),
        [op(
            "post",
            "Change my password (user or account admin; current one required)",
            "user, account admin",
            Some("Password"),
            204,
        )],
    )
    .schemas([
        (
            "Regenerate",
            obj(
                &[],
                &[(
                    "graceSeconds",
                    serde_json::json!({"type": "integer", "maximum": 604800}),
                )],
            ),
        ),
        (
            "Password",
            obj(
                &["currentPassword", "password", "passwordConfirmation"],
                &[
                    ("currentPassword", s("string")),
                    ("password", s("string")),
                    ("passwordConfirmation", s("string")),
                ],
            ),
        ),
    ])
}

/// What the operator is.
#[derive(Serialize)]
struct OperatorView {
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminView {
    kind: &'static str,
    account: AccountView,
    entitlements_detail: Vec<RightView>,
}

/// A user's rights on one of its accounts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MyAccount {
    number: AccountNumber,
    company: String,
    rights: RightSet,
    effective_rights: RightSet,
    rights_detail: Vec<RightView>,
    account_status: &'static str,
    /// The tag this account gives the user.
    tag: Option<Tag>,
}

#[derive(Serialize)]
struct MyAccounts {
    accounts: Vec<MyAccount>,
    impersonated: bool,
}

async fn me(State(state): State<AppState>, caller: Caller) -> Res {
    match caller {
        Caller::Operator => ok(OperatorView { kind: "operator" }),
        Caller::Admin { account_id } => {
            let a = state.store.account(account_id).await?;
            ok(AdminView {
                kind: "account_admin",
                account: AccountView::from(&a),
                entitlements_detail: rights_detail(a.entitlements),
            })
        }
        Caller::User { user_id } | Caller::Impersonating { user_id, .. } => {
            let u = state.store.user(user_id).await?;
            let mut accounts = Vec::new();
            for l in state.store.links_of_user(user_id).await? {
                let a = state.store.account(l.account_id).await?;
                let eff = RightSet::effective(l.rights, a.entitlements);
                accounts.push(MyAccount {
                    number: a.number,
                    company: a.company,
                    rights: l.rights,
                    effective_rights: eff,
                    rights_detail: rights_detail(eff),
                    account_status: a.status.as_str(),
                    tag: l.tag,
                });
            }
            ok(UserView::with(
                &u,
                None,
                MyAccounts {
                    accounts,
                    impersonated: matches!(caller, Caller::Impersonating { .. }),
                },
            ))
        }
    }
}

async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    Json(b): Json<UserEditIn>,
) -> Res {
    let user_id = caller
        .self_user()
        .ok_or_else(|| ApiError::forbidden("only users edit their own details here"))?;
    let set_by_admin = if b.rights.is_some() {
        Some("rights")
    } else if b.tag.is_some() {
        Some("tag")
    } else if b.department_id.is_some() {
        Some("departmentId")
    } else {
        None
    };
    if let Some(f) = set_by_admin {
        return Err(ApiError::Forbidden {
            code: "forbidden",
            message: format!("{f} is set by the account admin").into(),
            field: Some(f),
        });
    }
    let u = state.store.user(user_id).await?;
    let profile = b.profile.apply(&u.profile)?;
    let after = state
        .store
        .update_own_profile(caller.actor(), user_id, profile)
        .await?;
    ok(UserView::new(&after, None))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegenerateIn {
    #[serde(default)]
    grace_seconds: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewKey {
    connection_key: String,
    previous_key_valid_until: Option<i64>,
    notice: &'static str,
}

async fn regenerate_key(State(state): State<AppState>, caller: Caller, body: Bytes) -> Res {
    let user_id = match caller {
        Caller::User { user_id } => user_id,
        Caller::Impersonating { .. } => {
            return Err(ApiError::forbidden(
                "an impersonation session cannot regenerate the key",
            ))
        }
        _ => return Err(ApiError::forbidden("only the key's holder regenerates it")),
    };
    let b: RegenerateIn = optional_json(&body)?;
    let grace = b.grace_seconds.map(|s| i64::from(s) * 1000);
    let key = state
        .store
        .regenerate_connection_key(caller.actor(), user_id, grace)
        .await?;
    let old_valid_until = grace.filter(|g| *g > 0).map(|g| now_millis() + g);
    ok(NewKey {
        connection_key: key.expose().to_owned(),
        previous_key_valid_until: old_valid_until,
        notice: "Cette clé de connexion n'est affichée qu'une fois. This connection key is shown only once.",
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PasswordIn {
    current_password: String,
    password: String,
    password_confirmation: String,
}

async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(b): Json<PasswordIn>,
) -> Res {
    check_text("currentPassword", &b.current_password, 128)?;
    check_new_password(&b.password, &b.password_confirmation)?;
    match caller {
        Caller::User { user_id } => {
            state
                .store
                .change_password(caller.actor(), user_id, &b.current_password, &b.password)
                .await?
        }
        Caller::Admin { account_id } => {
            state
                .store
                .change_admin_password(caller.actor(), account_id, &b.current_password, &b.password)
                .await?
        }
        _ => return Err(ApiError::forbidden("only the holder changes its password")),
    }
    no_content()
}
