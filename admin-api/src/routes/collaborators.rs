//! Seed 004's back office for collaborators: the sub-accounts module switched on per account
//! (§2) and the collaborators' validation status (§4), both the operator's. The account admin's
//! collaborator routes (`…/users`) answer 403 `sub_accounts_off` while the module is off.

use axum::extract::{Path, State};
use axum::routing::put;
use serde::Deserialize;
use sesame_domain::model::{Account, Actor, User, ValidationStatus};

use super::table::Routes;
use crate::auth::{account_for, Caller, OperatorOnly};
use crate::error::ApiResult;
use crate::extract::Json;
use crate::forms::{check_comment, parse_id};
use crate::openapi::{max_len, obj, op, s, OPERATOR};
use crate::views::{ok, AccountView, Res, UserView};
use crate::AppState;

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/accounts/{n}/modules",
        put(set_modules),
        [op(
            "put",
            "Switch the account's sub-accounts module (seed 004 §2: off, its admin manages no collaborators: 403 sub_accounts_off) and whether the collaborators its admin creates wait for validation",
            OPERATOR,
            Some("Modules"),
            200,
        )],
    )
    .route(
        "/admin/v1/accounts/{n}/users/{id}/validation",
        put(set_validation),
        [op(
            "put",
            "Accept or refuse a collaborator (seed 004 §4); only an accepted one signs in (403 validation_pending / validation_refused); audited with the comment",
            OPERATOR,
            Some("Validation"),
            200,
        )],
    )
    .schemas([
        (
            "Modules",
            obj(
                &["subAccounts", "collaboratorValidation"],
                &[("subAccounts", s("boolean")), ("collaboratorValidation", s("boolean"))],
            ),
        ),
        (
            "Validation",
            obj(
                &["status"],
                &[
                    (
                        "status",
                        serde_json::json!({"type": "string", "enum": ["accepted", "pending", "refused"]}),
                    ),
                    ("comment", max_len(500)),
                ],
            ),
        ),
    ])
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ModulesIn {
    sub_accounts: bool,
    collaborator_validation: bool,
}

async fn set_modules(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path(n): Path<String>,
    Json(b): Json<ModulesIn>,
) -> Res {
    let a = switch_modules(&state, &n, b.sub_accounts, b.collaborator_validation).await?;
    ok(AccountView::from(&a))
}

/// The operator switches account `n`'s sub-accounts module and its collaborators' validation
/// (the API's `PUT …/modules` and the back office's form): audited as the operator.
pub(crate) async fn switch_modules(
    state: &AppState,
    n: &str,
    sub_accounts: bool,
    collaborator_validation: bool,
) -> ApiResult<Account> {
    let a = account_for(state, &Caller::Operator, n).await?;
    Ok(state
        .store
        .set_account_modules(Actor::Operator, a.id, sub_accounts, collaborator_validation)
        .await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ValidationIn {
    status: ValidationStatus,
    #[serde(default)]
    comment: Option<String>,
}

async fn set_validation(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path((n, id)): Path<(String, String)>,
    Json(b): Json<ValidationIn>,
) -> Res {
    let u = validate_collaborator(&state, &n, &id, b.status, b.comment.as_deref()).await?;
    ok(UserView::new(&u, None))
}

/// The operator accepts or refuses collaborator `id` of account `n` (the API's
/// `PUT …/users/{id}/validation` and the back office's buttons): audited with the comment.
pub(crate) async fn validate_collaborator(
    state: &AppState,
    n: &str,
    id: &str,
    status: ValidationStatus,
    comment: Option<&str>,
) -> ApiResult<User> {
    check_comment(comment)?;
    let a = account_for(state, &Caller::Operator, n).await?;
    Ok(state
        .store
        .set_user_validation(Actor::Operator, a.id, parse_id(id)?, status, comment)
        .await?)
}
