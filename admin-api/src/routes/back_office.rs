//! Back office (seed 004 §4): enabling or disabling a user, impersonating it, writing to it, and
//! the operator's outbox.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use sesame_domain::model::{Account, Millis, User, UserKind, UserStatus};
use sesame_domain::Email;
use sesame_store::{NewSession, OutboxMail, Session, SessionKind};

use super::table::Routes;
use crate::auth::{account_for, Caller, OperatorOnly};
use crate::error::{ApiError, ApiResult};
use crate::extract::{optional_json, Json, Query};
use crate::forms::{check_comment, check_text, lang_of, parse_id, StatusIn};
use crate::openapi::{max_len, obj, op, s, ADMIN, OPERATOR};
use crate::views::{created, ok, Items, Res, SessionView, UserView};
use crate::AppState;

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/accounts/{n}/users/{id}/status",
        put(set_user_status),
        [op(
            "put",
            "Enable or disable a user's access with a comment (audited)",
            ADMIN,
            Some("Status"),
            200,
        )],
    )
    .route(
        "/admin/v1/accounts/{n}/users/{id}/impersonate",
        post(impersonate),
        [op(
            "post",
            "Open a short, audited session acting as the user",
            ADMIN,
            Some("Impersonate"),
            201,
        )],
    )
    .route(
        "/admin/v1/accounts/{n}/users/{id}/messages",
        post(write_message),
        [op(
            "post",
            "Write an e-mail to the user (outbox)",
            ADMIN,
            Some("Message"),
            201,
        )],
    )
    .route(
        "/admin/v1/outbox",
        get(outbox),
        [op(
            "get",
            "E-mails queued or sent (to, limit)",
            OPERATOR,
            None,
            200,
        )],
    )
    .route(
        "/admin/v1/outbox/{id}",
        get(one_mail),
        [op("get", "One e-mail of the outbox", OPERATOR, None, 200)],
    )
    .schemas([
        ("Impersonate", obj(&[], &[("comment", max_len(500))])),
        (
            "Message",
            obj(
                &["subject", "body"],
                &[
                    ("subject", max_len(200)),
                    ("body", s("string")),
                    ("lang", s("string")),
                ],
            ),
        ),
    ])
}

/// Actions that reach beyond the account (disabling, impersonating, resetting the password of an
/// advanced user shared with other accounts) are the operator's.
pub async fn check_exclusive(
    state: &AppState,
    caller: &Caller,
    account_id: i64,
    u: &User,
) -> ApiResult<()> {
    if u.kind == UserKind::Advanced && *caller != Caller::Operator {
        let links = state.store.links_of_user(u.id).await?;
        if links.iter().any(|l| l.account_id != account_id) {
            return Err(ApiError::SharedUser);
        }
    }
    Ok(())
}

/// Enables or disables a user of `account` with a comment (seed 004 §4 "Accès autorisé"): the
/// rule of `PUT …/status` and of the console's toggle.
pub(crate) async fn set_status(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    user_id: i64,
    enabled: bool,
    comment: Option<&str>,
) -> ApiResult<User> {
    check_comment(comment)?;
    let u = state.store.user_in_account(account.id, user_id).await?;
    if u.main_contact {
        return Err(ApiError::Rule(
            "the main contact follows its account".into(),
        ));
    }
    check_exclusive(state, caller, account.id, &u).await?;
    Ok(state
        .store
        .set_user_status(caller.actor(), Some(account.id), u.id, enabled, comment)
        .await?)
}

async fn set_user_status(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    Json(b): Json<StatusIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    check_comment(b.comment.as_deref())?;
    let after = set_status(
        &state,
        &caller,
        &a,
        parse_id(&id)?,
        b.enabled,
        b.comment.as_deref(),
    )
    .await?;
    ok(UserView::new(&after, None))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImpersonateIn {
    #[serde(default)]
    comment: Option<String>,
}

/// Opens a short, audited session acting as a user of `account` (seed 004 §4 "Connexion à
/// l'espace client"): the rule of `POST …/impersonate` and of the console's action. Returns the
/// session's token, the session and the user.
pub(crate) async fn open_impersonation(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    user_id: i64,
    comment: Option<&str>,
) -> ApiResult<(String, Session, User)> {
    check_comment(comment)?;
    let u = state.store.user_in_account(account.id, user_id).await?;
    if u.status != UserStatus::Active {
        return Err(ApiError::Rule(
            "only an active user can be impersonated".into(),
        ));
    }
    check_exclusive(state, caller, account.id, &u).await?;
    let ttl = (state.cfg.impersonation_ttl_secs as i64).saturating_mul(1000);
    let (token, session) = state
        .store
        .create_session(
            caller.actor(),
            NewSession {
                // The operator's impersonation is recorded as the operator's, not the admin's.
                kind: if *caller == Caller::Operator {
                    SessionKind::OperatorImpersonation
                } else {
                    SessionKind::Impersonation
                },
                account_id: None,
                user_id: Some(u.id),
                impersonator_account_id: Some(account.id),
                ttl_millis: ttl,
            },
            comment,
        )
        .await?;
    Ok((token, session, u))
}

async fn impersonate(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    body: Bytes,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let b: ImpersonateIn = optional_json(&body)?;
    let (token, session, u) =
        open_impersonation(&state, &caller, &a, parse_id(&id)?, b.comment.as_deref()).await?;
    created(SessionView {
        token,
        token_type: "Bearer",
        kind: "impersonation",
        expires_at: session.expires_at,
        user: Some(UserView::new(&u, None)),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MessageIn {
    subject: String,
    body: String,
    #[serde(default)]
    lang: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageView {
    id: i64,
    sent_to: Email,
}

/// A required text of at most `max` characters.
fn check_required(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.trim().is_empty() {
        return Err(ApiError::invalid(field, format!("{field}: is required")));
    }
    check_text(field, v, max)
}

/// Writes an e-mail to a user of `account` (seed 004 §4 "Ecrire un e-mail"): the rule of
/// `POST …/messages` and of the console's form. Returns the mail's id and its address.
pub(crate) async fn send_message(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    user_id: i64,
    subject: &str,
    body: &str,
    lang: &str,
) -> ApiResult<(i64, Email)> {
    check_required("subject", subject, 200)?;
    check_required("body", body, 20_000)?;
    let u = state.store.user_in_account(account.id, user_id).await?;
    let to = u
        .profile
        .email
        .ok_or_else(|| ApiError::invalid("email", "the user has no e-mail address"))?;
    state
        .store
        .record_user_message(caller.actor(), Some(account.id), u.id, subject.trim())
        .await?;
    let id = state
        .store
        .enqueue_mail(to.as_str(), subject.trim(), body, lang)
        .await?;
    Ok((id, to))
}

async fn write_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    Json(b): Json<MessageIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let lang = lang_of(&state, b.lang.as_deref())?;
    let (id, sent_to) = send_message(
        &state,
        &caller,
        &a,
        parse_id(&id)?,
        &b.subject,
        &b.body,
        &lang,
    )
    .await?;
    created(MessageView { id, sent_to })
}

/// A mail of the outbox.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MailView {
    id: i64,
    at: Millis,
    to: String,
    subject: String,
    body: String,
    lang: String,
    sent_at: Option<Millis>,
    error: Option<String>,
}

impl From<OutboxMail> for MailView {
    fn from(m: OutboxMail) -> Self {
        MailView {
            id: m.id,
            at: m.at,
            to: m.to,
            subject: m.subject,
            body: m.body,
            lang: m.lang,
            sent_at: m.sent_at,
            error: m.error,
        }
    }
}

/// The outbox's mails, newest first, `to` one recipient if given. Without SMTP the outbox is
/// the delivery channel (the demo, the tests, the console's outbox view): links are shown live,
/// unsealed for this answer only. With SMTP, the mail carries them: masked here.
pub(crate) async fn outbox_mails(
    state: &AppState,
    to: Option<&str>,
    limit: i64,
) -> ApiResult<Vec<OutboxMail>> {
    Ok(if state.cfg.smtp.is_none() {
        state.store.outbox_live(to, limit).await?
    } else {
        state.store.outbox(to, limit).await?
    })
}

/// One mail of the outbox, its links shown as [`outbox_mails`] shows them.
pub(crate) async fn outbox_mail(state: &AppState, id: &str) -> ApiResult<OutboxMail> {
    let id = id.parse::<i64>().map_err(|_| ApiError::NotFound("mail"))?;
    let found = if state.cfg.smtp.is_none() {
        state.store.outbox_mail_live(id).await?
    } else {
        state.store.outbox_mail(id).await?
    };
    found.ok_or(ApiError::NotFound("mail"))
}

async fn outbox(State(state): State<AppState>, _op: OperatorOnly, q: Query) -> Res {
    let limit = q.int("limit")?.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit: must be 1 to 1000"));
    }
    if let Some(to) = q.str("to") {
        check_text("to", to, 254)?;
    }
    let items = outbox_mails(&state, q.str("to"), limit).await?;
    ok(Items {
        items: items.into_iter().map(MailView::from).collect::<Vec<_>>(),
    })
}

async fn one_mail(State(state): State<AppState>, _op: OperatorOnly, Path(id): Path<String>) -> Res {
    ok(MailView::from(outbox_mail(&state, &id).await?))
}
