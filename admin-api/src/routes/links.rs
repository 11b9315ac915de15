//! Association by user key (seed 000 §6): finding an advanced user by its key, linking it to
//! the account with rights, removing the link.

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use sesame_domain::model::{Account, User};
use sesame_domain::{Email, RightSet, Tag, UserKey};
use sesame_store::{RuleViolation, StoreError};

use super::table::Routes;
use crate::auth::{account_for, AccountPath, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::forms::{lang_of, parse_id};
use crate::openapi::{obj, op, rights, s, ADMIN};
use crate::views::{created, no_content, ok, Res, UserView};
use crate::{mail, AppState};

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/accounts/{n}/links",
        post(associate),
        [op(
            "post",
            "Associate an existing advanced user found by user key, with rights",
            ADMIN,
            Some("Associate"),
            201,
        )],
    )
    .route(
        "/admin/v1/accounts/{n}/links/{id}",
        delete(unlink),
        [op(
            "delete",
            "Remove the link with an advanced user (the user is kept)",
            ADMIN,
            None,
            204,
        )],
    )
    .route(
        "/admin/v1/advanced-users/{userKey}",
        get(find_advanced),
        [op(
            "get",
            "Find an advanced user by user key to confirm its identity",
            ADMIN,
            None,
            200,
        )],
    )
    .schemas([(
        "Associate",
        obj(
            &["userKey"],
            &[
                (
                    "userKey",
                    serde_json::json!({"type": "string", "pattern": "^[0-9A-Fa-f]{32}$"}),
                ),
                ("rights", rights()),
                ("lang", s("string")),
            ],
        ),
    )])
}

/// What an account admin sees of an advanced user before linking it: enough to confirm who it
/// is.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FoundUser {
    user_key: Option<UserKey>,
    last_name: String,
    first_name: String,
    function: String,
    email: Option<Email>,
    phone: String,
    address: String,
    postal_code: String,
    city: String,
    country: String,
    tag: Option<Tag>,
    status: &'static str,
}

async fn find_advanced(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Res {
    if !matches!(caller, Caller::Operator | Caller::Admin { .. }) {
        return Err(ApiError::forbidden(
            "this action needs the account admin or the operator",
        ));
    }
    let key = UserKey::parse(&key).map_err(|_| ApiError::NotFound("user"))?;
    let u = state.store.find_advanced_by_user_key(&key).await?;
    let p = u.profile;
    ok(FoundUser {
        user_key: u.user_key,
        last_name: p.last_name,
        first_name: p.first_name,
        function: p.function,
        email: p.email,
        phone: p.phone,
        address: p.address,
        postal_code: p.postal_code,
        city: p.city,
        country: p.country,
        tag: u.tag,
        status: u.status.as_str(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssociateIn {
    user_key: UserKey,
    #[serde(default)]
    rights: RightSet,
    #[serde(default)]
    lang: Option<String>,
}

/// A link refused: already there (409 naming `userKey`), or no such advanced user.
fn associate_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Rule(rule @ RuleViolation::AlreadyLinked) => {
            ApiError::conflict("userKey", rule.to_string())
        }
        StoreError::NotFound(_) => ApiError::NotFound("advanced user"),
        other => other.into(),
    }
}

async fn associate(
    AccountPath { state, caller, n }: AccountPath,
    Json(b): Json<AssociateIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let rights = b.rights;
    let u = associate_user(&state, &caller, &a, b).await?;
    created(UserView::new(&u, Some(rights)))
}

/// Links the advanced user of `b.user_key` to account `a` with `b.rights` and tells the user
/// (the API's and the console's form).
pub async fn associate_user(
    state: &AppState,
    caller: &Caller,
    a: &Account,
    b: AssociateIn,
) -> ApiResult<User> {
    let lang = lang_of(state, b.lang.as_deref())?;
    let u = state
        .store
        .associate(caller.actor(), a.id, &b.user_key, b.rights)
        .await
        .map_err(associate_error)?;
    mail::notify_rights(&state.store, &u, &a.company, b.rights, &lang).await;
    Ok(u)
}

async fn unlink(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    state
        .store
        .unlink(caller.actor(), a.id, parse_id(&id)?)
        .await?;
    no_content()
}
