//! The users' portal (issue 14, seed 000 §8–9): "Suivi colis" (the tracking tool), and the
//! screens other files add ("Mes factures", "Editer mon compte", Coliship). Part of the console:
//! same listener, cookie session, page frame, CSRF and languages. Users of every kind
//! (advanced, standard, collaborators) and an operator or account admin impersonating one use
//! it; the account admin and the operator themselves do not.
//!
//! Parcels, invoices and labels are reached **through the gateway over HTTP**
//! ([`gateway::PortalGateway`]) with the visitor's session as `Authorization: Bearer`: scopes,
//! stamping, credential injection and refusals stay the gateway's, one rule path for the JSON
//! API and the screens. The portal reads the store only to know which tools to offer
//! ([`tools::Tools`]); what a screen shows is exactly what the gateway answers.

mod coliship;
pub mod gateway;
mod invoices;
pub mod my_account;
mod parcel;
mod pins;
pub mod tools;
mod tracking;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::layout;
use super::session::Visitor;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Every portal route.
pub fn routes(r: Router<AppState>) -> Router<AppState> {
    let r = tracking::routes(r);
    let r = parcel::routes(r);
    let r = invoices::routes(r);
    let r = coliship::routes(r);
    let r = my_account::routes(r);
    pins::routes(r)
}

/// A visitor of the portal: a signed-in user, or an impersonation of one (the operator's or
/// an account admin's), with the session the gateway calls carry. Nobody signed in → the
/// sign-in page (and back here after); the operator or an account admin → a 403 page.
pub struct PortalUser {
    pub v: Visitor,
    /// The visitor's session token (the cookie): the gateway's `Authorization: Bearer`.
    pub token: String,
}

impl FromRequestParts<AppState> for PortalUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let v = Visitor::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        PortalUser::of(v)
    }
}

impl PortalUser {
    /// The portal visitor behind `v` (a posted form's, `Form { v, .. }`), or the refusal.
    #[allow(clippy::result_large_err)] // the refusal is the page returned at once
    pub fn of(v: Visitor) -> Result<PortalUser, Response> {
        match v.caller {
            Some(Caller::User { .. } | Caller::Impersonating { .. }) => {}
            Some(Caller::Operator | Caller::Admin { .. }) => {
                return Err(layout::message_page(
                    &v,
                    StatusCode::FORBIDDEN,
                    v.t("Action non autorisée", "Not allowed"),
                    v.t(
                        "Cet espace est celui des utilisateurs : connectez-vous avec votre identifiant d'utilisateur.",
                        "This area is for users: sign in with your user login.",
                    ),
                ));
            }
            None => return Err(super::session::to_sign_in(&v.here)),
        }
        let Some(token) = v.session.clone() else {
            return Err(super::session::to_sign_in(&v.here));
        };
        Ok(PortalUser { v, token })
    }

    /// Calls the gateway as this visitor; a refusal comes back as the error that says it.
    pub async fn call(
        &self,
        state: &AppState,
        method: http::Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> ApiResult<gateway::Answer> {
        state
            .gateway
            .call(method, path_and_query, &self.token, body)
            .await?
            .ok()
    }

    /// `GET path_and_query` as this visitor, the answer as JSON.
    pub async fn get_json(
        &self,
        state: &AppState,
        path_and_query: &str,
    ) -> ApiResult<serde_json::Value> {
        self.call(state, http::Method::GET, path_and_query, None)
            .await?
            .json()
    }
}

/// What a refused portal action shows: the gateway down → "Le service de suivi ne répond
/// pas" (503), never a stack; the rest as every console page shows it.
pub fn fail(v: &Visitor, e: &ApiError) -> Response {
    match e {
        ApiError::Unavailable(m) if m.starts_with(gateway::GATEWAY_DOWN) => layout::message_page(
            v,
            StatusCode::SERVICE_UNAVAILABLE,
            v.t("Service indisponible", "Service unavailable"),
            v.t(
                "Le service de suivi ne répond pas. Réessayez dans quelques instants.",
                "The tracking service is not answering. Try again in a moment.",
            ),
        ),
        _ => layout::fail(v, e),
    }
}

/// Turns a refusal into the portal's page for it: `x.await.or_portal(&v)?`.
pub trait OrPortal<T> {
    // As `layout::OrPage`: the refusal is the page the handler returns at once.
    #[allow(clippy::result_large_err)]
    fn or_portal(self, v: &Visitor) -> Result<T, Response>;
}

impl<T, E: Into<ApiError>> OrPortal<T> for Result<T, E> {
    fn or_portal(self, v: &Visitor) -> Result<T, Response> {
        self.map_err(|e| fail(v, &e.into()))
    }
}

/// The answer of a download (a CSV export, a PDF, a zip): the gateway's bytes with its type
/// and file name, never cached, never sniffed.
pub fn download(a: gateway::Answer, default_name: &str) -> Response {
    use axum::http::{header, HeaderValue};
    let ct = a
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let cd = a
        .content_disposition
        .as_deref()
        .filter(|c| c.starts_with("attachment"))
        .and_then(|c| HeaderValue::from_str(c).ok())
        .or_else(|| {
            HeaderValue::from_str(&format!("attachment; filename=\"{default_name}\"")).ok()
        });
    let mut resp = (StatusCode::OK, a.body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, ct);
    if let Some(cd) = cd {
        h.insert(header::CONTENT_DISPOSITION, cd);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
