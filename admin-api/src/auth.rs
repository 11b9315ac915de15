//! Who is calling: the operator (operator token), an account admin, a user, or a back-office
//! admin impersonating a user (session tokens).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use sesame_domain::model::{Account, AccountStatus, Actor, User, UserStatus};
use sesame_domain::secrets::ct_eq;
use sesame_domain::AccountNumber;
use sesame_store::SessionKind;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Operator,
    Admin {
        account_id: i64,
    },
    User {
        user_id: i64,
    },
    /// `by_operator`: the operator, not the account admin, opened the session (audited so).
    Impersonating {
        account_id: i64,
        user_id: i64,
        by_operator: bool,
    },
}

impl Caller {
    pub fn actor(&self) -> Actor {
        match *self {
            Caller::Operator => Actor::Operator,
            Caller::Admin { account_id } => Actor::AccountAdmin { account_id },
            Caller::User { user_id } => Actor::User { user_id },
            Caller::Impersonating {
                account_id,
                user_id,
                by_operator: false,
            } => Actor::Impersonating {
                account_id,
                user_id,
            },
            Caller::Impersonating {
                account_id,
                user_id,
                by_operator: true,
            } => Actor::OperatorImpersonating {
                account_id,
                user_id,
            },
        }
    }
    pub fn require_operator(&self) -> ApiResult<()> {
        match self {
            Caller::Operator => Ok(()),
            _ => Err(ApiError::forbidden("operator only")),
        }
    }
    /// The user a self-service call acts on.
    pub fn self_user(&self) -> Option<i64> {
        match *self {
            Caller::User { user_id } | Caller::Impersonating { user_id, .. } => Some(user_id),
            _ => None,
        }
    }
}

/// The raw bearer token of the request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        if is_operator_token(state, token) {
            return Ok(Caller::Operator);
        }
        caller_of_session(state, token).await
    }
}

/// The operator token, compared in constant time (an empty configured token matches nothing).
pub fn is_operator_token(state: &AppState, token: &str) -> bool {
    !state.operator_token.is_empty() && ct_eq(token.as_bytes(), state.operator_token.as_bytes())
}

/// Who a session token speaks for: the API's bearer tokens and the console's session cookie
/// resolve through here alike, so a disabled account or user ends both at once.
pub async fn caller_of_session(state: &AppState, token: &str) -> ApiResult<Caller> {
    let session = state
        .store
        .session_by_token(token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    // A disabled account or user authenticates nothing, even with a session opened before.
    match (
        session.kind,
        session.account_id,
        session.user_id,
        session.impersonator_account_id,
    ) {
        (SessionKind::Admin, Some(account_id), ..) => {
            active_account(state, account_id).await?;
            Ok(Caller::Admin { account_id })
        }
        (SessionKind::User, _, Some(user_id), _) => {
            let user = active_user(state, user_id).await?;
            // A standard user belongs to its account: a disabled account ends its sessions.
            if let Some(home) = user.home_account_id {
                active_account(state, home).await?;
            }
            Ok(Caller::User { user_id })
        }
        (
            kind @ (SessionKind::Impersonation | SessionKind::OperatorImpersonation),
            _,
            Some(user_id),
            Some(account_id),
        ) => {
            // Disabling the user ends the impersonation at once, as it ends the user's own.
            active_user(state, user_id).await?;
            active_account(state, account_id).await?;
            Ok(Caller::Impersonating {
                account_id,
                user_id,
                by_operator: kind == SessionKind::OperatorImpersonation,
            })
        }
        (SessionKind::Operator, None, None, None) => Ok(Caller::Operator),
        _ => Err(ApiError::Unauthorized),
    }
}

/// The account a session speaks for, if active: disabling it ends its sessions at once.
async fn active_account(state: &AppState, account_id: i64) -> ApiResult<()> {
    let account = state
        .store
        .account(account_id)
        .await
        .map_err(|_| ApiError::Unauthorized)?;
    if account.status != AccountStatus::Active {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// The user a session speaks for, if active: disabling it ends its sessions at once.
async fn active_user(state: &AppState, user_id: i64) -> ApiResult<User> {
    let user = state
        .store
        .user(user_id)
        .await
        .map_err(|_| ApiError::Unauthorized)?;
    if user.status != UserStatus::Active {
        return Err(ApiError::Unauthorized);
    }
    Ok(user)
}

/// The operator, resolved before the body is read: an operator-only endpoint refuses anyone else
/// before validating anything, so its field errors tell a stranger nothing.
pub struct OperatorOnly;

impl FromRequestParts<AppState> for OperatorOnly {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Caller::from_request_parts(parts, state)
            .await?
            .require_operator()
            .map(|()| OperatorOnly)
    }
}

/// The extractors of a route on one account (`/…/accounts/{n}/…`): the state, the caller, then
/// the path's `{n}`, each rejecting as it does alone; [`account_for`] resolves the account.
pub struct AccountPath {
    pub state: AppState,
    pub caller: Caller,
    pub n: String,
}

impl FromRequestParts<AppState> for AccountPath {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(n) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(AccountPath {
            state: state.clone(),
            caller,
            n,
        })
    }
}

/// The account named in a path (`{n}`: six digits, or `me` for an account admin), if the caller
/// may act on it. Another account is "not found", whatever exists.
pub async fn account_for(state: &AppState, caller: &Caller, n: &str) -> ApiResult<Account> {
    match caller {
        Caller::Operator => {
            let number = AccountNumber::parse(n).map_err(|_| ApiError::NotFound("account"))?;
            Ok(state.store.account_by_number(&number).await?)
        }
        Caller::Admin { account_id } => {
            let account = state.store.account(*account_id).await?;
            if n == "me" || n == account.number.as_str() {
                Ok(account)
            } else {
                Err(ApiError::NotFound("account"))
            }
        }
        Caller::User { .. } | Caller::Impersonating { .. } => Err(ApiError::forbidden(
            "this action needs the account admin or the operator",
        )),
    }
}
