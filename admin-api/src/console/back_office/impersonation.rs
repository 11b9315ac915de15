//! "Connexion à l'espace client" (seed 004 §4): the operator opens a short, audited
//! impersonation session (the API's own rule, `routes::back_office::open_impersonation`) and
//! sees the console as the collaborator does, with a banner on every page; "Terminer" ends it
//! and brings the operator back to the contact's sheet.
//!
//! While it lasts, the session cookie holds the impersonation's token and `sesame_operator`
//! keeps the operator's own session token (same attributes: `HttpOnly`, `SameSite=Strict`,
//! `Path=/console`). Only ending an operator's impersonation restores it; signing out instead
//! leaves it unused until it expires.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;

use super::{account_of, contact_path, require_operator};
use crate::auth::Caller;
use crate::console::form::Form;
use crate::console::layout::{self, see_other, OrPage};
use crate::console::session::{cookie, set_cookie, SESSION_COOKIE};
use crate::forms::parse_id;
use crate::routes::back_office::open_impersonation;
use crate::routes::sessions::close_session;
use crate::AppState;

/// The operator's own session, kept while it impersonates.
pub const OPERATOR_COOKIE: &str = "sesame_operator";

pub fn routes(r: axum::Router<AppState>) -> Router<AppState> {
    r.route(
        "/console/back-office/accounts/{n}/contacts/{id}/impersonate",
        post(start),
    )
    .route("/console/back-office/impersonation/end", post(end))
}

async fn start(
    State(state): State<AppState>,
    Path((n, id)): Path<(String, String)>,
    req_headers: axum::http::HeaderMap,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let a = account_of(&state, &v, &n).await?;
    let id = parse_id(&id).or_page(&v)?;
    let (token, _, _) =
        open_impersonation(&state, &Caller::Operator, &a, id, fields.get("comment"))
            .await
            .or_page(&v)?;
    let operator_session = cookie(&req_headers, SESSION_COOKIE)
        .unwrap_or("")
        .to_owned();
    let mut resp = see_other("/console/account");
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &token,
            Some(state.cfg.impersonation_ttl_secs),
            v.secure,
        ),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(
            OPERATOR_COOKIE,
            &operator_session,
            Some(state.cfg.session_ttl_secs),
            v.secure,
        ),
    );
    Ok(resp)
}

async fn end(
    State(state): State<AppState>,
    req_headers: axum::http::HeaderMap,
    Form { v, .. }: Form,
) -> Result<Response, Response> {
    let Some(Caller::Impersonating {
        account_id,
        user_id,
        by_operator: true,
    }) = v.caller.clone()
    else {
        // Not the operator's impersonation: nothing to end here, nothing done.
        return Err(layout::message_page(
            &v,
            StatusCode::FORBIDDEN,
            v.t("Action non autorisée", "Not allowed"),
            v.t(
                "Aucune session d'assistance de l'opérateur n'est en cours.",
                "No operator assistance session is under way.",
            ),
        ));
    };
    if let Some(token) = &v.session {
        close_session(&state, &Caller::Operator, token)
            .await
            .or_page(&v)?;
    }
    let account = state.store.account(account_id).await.or_page(&v)?;
    let back = format!(
        "{}?done=impersonation-ended",
        contact_path(account.number.as_str(), user_id)
    );
    let operator_session = cookie(&req_headers, OPERATOR_COOKIE).unwrap_or("");
    let mut resp = see_other(&back);
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            operator_session,
            Some(state.cfg.session_ttl_secs),
            v.secure,
        ),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(OPERATOR_COOKIE, "", Some(0), v.secure),
    );
    Ok(resp)
}
