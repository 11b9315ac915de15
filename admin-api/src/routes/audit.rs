//! The audit log: an account's (`/admin/v1/accounts/{n}/audit`) and everyone's (operator).

use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use serde_json::Value;
use sesame_domain::model::{Actor, AuditEntry, Millis};
use sesame_domain::AccountNumber;
use sesame_store::AuditFilter;

use super::table::Routes;
use crate::auth::{account_for, AccountPath, OperatorOnly};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::openapi::{op, ADMIN, OPERATOR};
use crate::views::{ok, Items, Res};
use crate::AppState;

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/accounts/{n}/audit",
        get(account_audit),
        [op("get", "Audit log of the account, with what happened to its linked users since each link, whoever did it (userId, actor, actorUserId, action, from, to, page, perPage)", ADMIN, None, 200)],
    )
    .route(
        "/admin/v1/audit",
        get(all_audit),
        [op("get", "Audit log of every account (accountNumber and the same filters)", OPERATOR, None, 200)],
    )
}

const ACTOR_KINDS: [&str; 6] = [
    "operator",
    "account_admin",
    "user",
    "impersonating",
    "operator_impersonating",
    "system",
];

/// The filters every audit list reads from its query (`userId`, `actor`, `actorUserId`, `action`,
/// `from`, `to`, `page`, `perPage`).
pub(crate) fn audit_filter(q: &Query) -> ApiResult<AuditFilter> {
    let actor = q.str("actor").map(str::to_owned);
    if let Some(a) = &actor {
        if !ACTOR_KINDS.contains(&a.as_str()) {
            return Err(ApiError::invalid(
                "actor",
                "actor: operator, account_admin, user, impersonating, operator_impersonating or system",
            ));
        }
    }
    let action = q.str("action").map(str::to_owned);
    if let Some(a) = &action {
        if a.len() > 64
            || !a
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
        {
            return Err(ApiError::invalid(
                "action",
                "action: an action (user.status) or a family ending with a dot (user.)",
            ));
        }
    }
    let (_, per, offset) = q.page(100, 1000)?;
    Ok(AuditFilter {
        account_id: None,
        user_id: q.int("userId")?,
        actor_kind: actor,
        actor_user_id: q.int("actorUserId")?,
        from: q.time("from", false)?,
        to: q.time("to", true)?,
        action,
        offset: Some(offset),
        limit: Some(per),
    })
}

/// Who acted, as the log has always shown it (`{"kind", "account_id"?, "user_id"?}`): the
/// domain's kind name, then the ids the actor carries.
#[derive(Serialize)]
struct ActorView {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
}

impl From<&Actor> for ActorView {
    fn from(a: &Actor) -> Self {
        let (account_id, user_id) = a.ids();
        ActorView {
            kind: a.kind(),
            account_id,
            user_id,
        }
    }
}

/// An entry of the log; the snapshots are shown as the JSON they hold.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryView {
    id: i64,
    at: Millis,
    actor: ActorView,
    account_id: Option<i64>,
    user_id: Option<i64>,
    action: String,
    before: Option<Value>,
    after: Option<Value>,
    comment: Option<String>,
}

impl From<AuditEntry> for EntryView {
    fn from(e: AuditEntry) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str::<Value>(&s).ok());
        EntryView {
            id: e.id,
            at: e.at,
            actor: ActorView::from(&e.actor),
            account_id: e.account_id,
            user_id: e.user_id,
            action: e.action,
            before: parse(e.before),
            after: parse(e.after),
            comment: e.comment,
        }
    }
}

fn entries(items: Vec<AuditEntry>) -> Res {
    ok(Items {
        items: items.into_iter().map(EntryView::from).collect(),
    })
}

async fn account_audit(AccountPath { state, caller, n }: AccountPath, q: Query) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let mut f = audit_filter(&q)?;
    f.account_id = Some(a.id);
    entries(state.store.audit_log(&f).await?)
}

/// The operator's filters: those of every list, and `accountNumber`.
pub(crate) async fn operator_audit_filter(state: &AppState, q: &Query) -> ApiResult<AuditFilter> {
    let mut f = audit_filter(q)?;
    if let Some(n) = q.str("accountNumber") {
        let number = AccountNumber::parse(n)?;
        f.account_id = Some(state.store.account_by_number(&number).await?.id);
    }
    Ok(f)
}

async fn all_audit(State(state): State<AppState>, _op: OperatorOnly, q: Query) -> Res {
    let f = operator_audit_filter(&state, &q).await?;
    entries(state.store.audit_log(&f).await?)
}
