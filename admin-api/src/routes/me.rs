//! Self-service ("Mon compte > Editer mon compte", `/admin/v1/me`): who I am, my details, my
//! connection key, my password.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sesame_domain::model::{now_millis, User};
use sesame_domain::{AccountNumber, RightSet, Tag};

use super::table::Routes;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
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
pub(crate) struct MyAccount {
    pub(crate) number: AccountNumber,
    pub(crate) company: String,
    rights: RightSet,
    /// What the user may do there: the link's rights within the account's entitlements.
    pub(crate) effective_rights: RightSet,
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
            ok(UserView::with(
                &u,
                None,
                MyAccounts {
                    accounts: my_accounts(&state, user_id).await?,
                    impersonated: matches!(caller, Caller::Impersonating { .. }),
                },
            ))
        }
    }
}

/// The user's accounts with its rights on each (the console's "Droits sur les comptes" too).
pub(crate) async fn my_accounts(state: &AppState, user_id: i64) -> ApiResult<Vec<MyAccount>> {
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
    Ok(accounts)
}

async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    Json(b): Json<UserEditIn>,
) -> Res {
    let after = update_my_details(&state, &caller, b).await?;
    ok(UserView::new(&after, None))
}

/// Changes the caller's own details (the rights, tag and department are the account admin's).
pub(crate) async fn update_my_details(
    state: &AppState,
    caller: &Caller,
    b: UserEditIn,
) -> ApiResult<User> {
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
    Ok(state
        .store
        .update_own_profile(caller.actor(), user_id, profile)
        .await?)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RegenerateIn {
    #[serde(default)]
    pub(crate) grace_seconds: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewKey {
    /// The new key in clear: shown once, never stored so.
    pub(crate) connection_key: String,
    pub(crate) previous_key_valid_until: Option<i64>,
    notice: &'static str,
}

async fn regenerate_key(State(state): State<AppState>, caller: Caller, body: Bytes) -> Res {
    let b: RegenerateIn = optional_json(&body)?;
    ok(regenerate_my_key(&state, &caller, b).await?)
}

/// Regenerates the holder's connection key, the old one valid `grace_seconds` more if asked.
pub(crate) async fn regenerate_my_key(
    state: &AppState,
    caller: &Caller,
    b: RegenerateIn,
) -> ApiResult<NewKey> {
    let user_id = match *caller {
        Caller::User { user_id } => user_id,
        Caller::Impersonating { .. } => {
            return Err(ApiError::forbidden(
                "an impersonation session cannot regenerate the key",
            ))
        }
        _ => return Err(ApiError::forbidden("only the key's holder regenerates it")),
    };
    let grace = b.grace_seconds.map(|s| i64::from(s) * 1000);
    let key = state
        .store
        .regenerate_connection_key(caller.actor(), user_id, grace)
        .await?;
    let old_valid_until = grace.filter(|g| *g > 0).map(|g| now_millis() + g);
    Ok(NewKey {
        connection_key: key.expose().to_owned(),
        previous_key_valid_until: old_valid_until,
        notice: "Cette clé de connexion n'est affichée qu'une fois. This connection key is shown only once.",
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PasswordIn {
    pub(crate) current_password: String,
    pub(crate) password: String,
    pub(crate) password_confirmation: String,
}

async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(b): Json<PasswordIn>,
) -> Res {
    change_my_password(&state, &caller, b).await?;
    no_content()
}

/// Changes the holder's password (a user's or an account admin's); the current one is required.
pub(crate) async fn change_my_password(
    state: &AppState,
    caller: &Caller,
    b: PasswordIn,
) -> ApiResult<()> {
    check_text("currentPassword", &b.current_password, 128)?;
    check_new_password(&b.password, &b.password_confirmation)?;
    match *caller {
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
    Ok(())
}
