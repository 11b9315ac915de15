//! The users of an account (`/admin/v1/accounts/{n}/users`, `/advanced-users`): the users table,
//! creating standard and advanced users, viewing, editing and deleting them.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sesame_domain::model::{Account, User, UserKind, UserStatus};
use sesame_domain::{Login, RightSet, Tag};
use sesame_store::{NewAdvancedUser, NewStandardUser, UserFilter, UserUpdate};

use super::table::Routes;
use crate::auth::{account_for, AccountPath, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::forms::{check_new_password, check_text, lang_of, parse_id, ProfileForm, UserEditIn};
use crate::openapi::{lang, max_len, obj, op, profile_props, rights, s, ADMIN, REQUIRED_PROFILE};
use crate::views::{
    created, no_content, ok, rights_detail, Page, Res, RightView, SentView, UserView,
};
use crate::{mail, AppState};

pub fn routes(r: Routes) -> Routes {
    let mut standard_required = REQUIRED_PROFILE.to_vec();
    standard_required.extend(["login", "password", "passwordConfirmation"]);
    r.route(
        "/admin/v1/accounts/{n}/users",
        get(list_users).post(create_standard_user),
        [
            op("get", "Users table: standard and linked advanced users (kind, q, page, perPage)", ADMIN, None, 200),
            op("post", "Add a standard user (seed 000 §4)", ADMIN, Some("StandardUser"), 201),
        ],
    )
    .route(
        "/admin/v1/accounts/{n}/advanced-users",
        post(create_advanced_user),
        [op("post", "Add an advanced user and e-mail the invitation (seed 000 §5.1)", ADMIN, Some("AdvancedUser"), 201)],
    )
    .route(
        "/admin/v1/accounts/{n}/users/{id}",
        get(get_user).put(update_user).delete(delete_user),
        [
            op("get", "View a user of the account with its rights", ADMIN, None, 200),
            op("put", "Edit a user's link (rights, tag, department; delegation rule applies) and the details the account owns: its standard users', an advanced user's before confirmation by the inviting account. A confirmed advanced user's identity is its own: 403 identity_owned naming the field (the attempt is audited)", ADMIN, Some("UserEdit"), 200),
            op("delete", "Delete a standard user; for an advanced user, remove the link only", ADMIN, None, 204),
        ],
    )
    .schemas([
        (
            "StandardUser",
            obj(
                &standard_required,
                &profile_props(&[
                    ("login", s("string")),
                    ("password", s("string")),
                    ("passwordConfirmation", s("string")),
                    ("rights", rights()),
                    ("departmentId", s("integer")),
                ]),
            ),
        ),
        (
            "AdvancedUser",
            obj(
                &REQUIRED_PROFILE,
                &profile_props(&[
                    ("tag", max_len(35)),
                    ("rights", rights()),
                    ("departmentId", s("integer")),
                    ("lang", lang()),
                ]),
            ),
        ),
        (
            "UserEdit",
            obj(
                &[],
                &profile_props(&[
                    (
                        "tag",
                        serde_json::json!({"type": "string", "maxLength": 35, "description": "empty string removes the tag"}),
                    ),
                    ("rights", rights()),
                    ("departmentId", s("integer")),
                ]),
            ),
        ),
    ])
}

async fn list_users(AccountPath { state, caller, n }: AccountPath, q: Query) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let kind = q.str("kind").map(|k| {
        UserKind::parse(k).map_err(|_| ApiError::invalid("kind", "kind: standard or advanced"))
    });
    let kind = kind.transpose()?;
    let search = q.str("q").map(str::to_owned);
    if let Some(s) = &search {
        check_text("q", s, 100)?;
    }
    let (page, per, offset) = q.page(25, 200)?;
    let (items, total) = state
        .store
        .list_account_users(
            a.id,
            &UserFilter {
                kind,
                q: search,
                offset,
                limit: per,
            },
        )
        .await?;
    ok(Page {
        items: items
            .iter()
            .map(|u| UserView::new(&u.user, Some(u.rights)))
            .collect(),
        page,
        per_page: per,
        total: Some(total),
    })
}

/// A standard user (seed 000 §4): identity, login and password set by the admin.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandardUserIn {
    #[serde(flatten, deserialize_with = "crate::extract::flattened")]
    profile: ProfileForm,
    login: Login,
    password: String,
    password_confirmation: String,
    #[serde(default)]
    rights: RightSet,
    #[serde(default)]
    department_id: Option<i64>,
}

async fn create_standard_user(
    AccountPath { state, caller, n }: AccountPath,
    Json(b): Json<StandardUserIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let rights = b.rights;
    let u = add_standard_user(&state, &caller, &a, b).await?;
    created(UserView::new(&u, Some(rights)))
}

/// Adds a standard user to account `a` (the API's and the console's form).
pub async fn add_standard_user(
    state: &AppState,
    caller: &Caller,
    a: &Account,
    b: StandardUserIn,
) -> ApiResult<User> {
    let profile = b.profile.into_profile()?;
    check_new_password(&b.password, &b.password_confirmation)?;
    Ok(state
        .store
        .create_standard_user(
            caller.actor(),
            a.id,
            NewStandardUser {
                profile,
                login: b.login,
                password: b.password,
                rights: b.rights,
                department_id: b.department_id,
            },
        )
        .await?)
}

/// An advanced user (seed 000 §5.1): identity, tag and rights; login and password come later,
/// from the user, through the invitation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdvancedUserIn {
    #[serde(flatten, deserialize_with = "crate::extract::flattened")]
    profile: ProfileForm,
    #[serde(default)]
    tag: Option<Tag>,
    #[serde(default)]
    rights: RightSet,
    #[serde(default)]
    department_id: Option<i64>,
    #[serde(default)]
    lang: Option<String>,
}

#[derive(Serialize)]
struct Invited {
    invitation: SentView,
}

async fn create_advanced_user(
    AccountPath { state, caller, n }: AccountPath,
    Json(b): Json<AdvancedUserIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let rights = b.rights;
    let (u, invitation) = add_advanced_user(&state, &caller, &a, b).await?;
    created(UserView::with(&u, Some(rights), Invited { invitation }))
}

/// Adds an advanced user to account `a` and mails the invitation (the API's and the console's
/// form).
pub async fn add_advanced_user(
    state: &AppState,
    caller: &Caller,
    a: &Account,
    b: AdvancedUserIn,
) -> ApiResult<(User, SentView)> {
    let lang = lang_of(state, b.lang.as_deref())?;
    let profile = b.profile.into_profile()?;
    let (u, inv, token) = state
        .store
        .create_advanced_user(
            caller.actor(),
            a.id,
            NewAdvancedUser {
                profile,
                tag: b.tag,
                rights: b.rights,
                department_id: b.department_id,
            },
        )
        .await?;
    let sent = super::invitations::send(state, &u, &a.company, &token, &lang, inv.expires_at).await;
    Ok((u, sent))
}

/// What viewing one user adds: its rights with their labels, and what they allow on this
/// account.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RightsOnAccount {
    rights_detail: Vec<RightView>,
    effective_rights: RightSet,
}

async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let u = state.store.user_in_account(a.id, parse_id(&id)?).await?;
    let link = state.store.link(u.id, a.id).await?;
    ok(UserView::with(
        &u,
        Some(link.rights),
        RightsOnAccount {
            rights_detail: rights_detail(link.rights),
            effective_rights: RightSet::effective(link.rights, a.entitlements),
        },
    ))
}

async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    Json(b): Json<UserEditIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let (after, rights) = edit_user(&state, &caller, &a, parse_id(&id)?, b).await?;
    ok(UserView::new(&after, Some(rights)))
}

/// Edits a user of account `a`: the identity where the editor owns it, the link's rights, tag
/// and department; an advanced user is told of new rights (the API's and the console's form).
/// Returns the user and the link's rights after.
pub async fn edit_user(
    state: &AppState,
    caller: &Caller,
    a: &Account,
    id: i64,
    b: UserEditIn,
) -> ApiResult<(User, RightSet)> {
    let u = state.store.user_in_account(a.id, id).await?;
    let profile = b.profile.apply(&u.profile)?;
    let tag = match &b.tag {
        None => u.tag.clone(),
        Some(t) if t.trim().is_empty() => None,
        Some(t) => Some(Tag::parse(t)?),
    };
    let department_id = b.department_id.or(u.department_id);
    let old_rights = state.store.link(u.id, a.id).await?.rights;
    let after = state
        .store
        .update_user(
            caller.actor(),
            a.id,
            u.id,
            UserUpdate {
                profile,
                tag,
                department_id,
                rights: b.rights,
            },
        )
        .await?;
    let link = state.store.link(u.id, a.id).await?;
    if u.kind == UserKind::Advanced
        && link.rights != old_rights
        && after.status == UserStatus::Active
    {
        let lang = &state.cfg.default_lang;
        mail::notify_rights(&state.store, &after, &a.company, link.rights, lang).await;
    }
    Ok((after, link.rights))
}

/// Deleting a standard user deletes it; for an advanced user it removes the link only (seed 000 §7).
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    remove_user(&state, &caller, &a, parse_id(&id)?).await?;
    no_content()
}

/// Deletes a standard user of account `a`; for an advanced user, removes the link only ("Suppression
/// des liens", seed 000 §7). Returns the user's kind.
pub async fn remove_user(
    state: &AppState,
    caller: &Caller,
    a: &Account,
    id: i64,
) -> ApiResult<UserKind> {
    let u = state.store.user_in_account(a.id, id).await?;
    match u.kind {
        UserKind::Standard => {
            state
                .store
                .delete_standard_user(caller.actor(), a.id, u.id)
                .await?
        }
        UserKind::Advanced => state.store.unlink(caller.actor(), a.id, u.id).await?,
    }
    Ok(u.kind)
}
