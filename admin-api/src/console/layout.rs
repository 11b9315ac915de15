//! The page frame every console screen renders into: header (product, navigation for who is
//! signed in, the "Langue" switch, sign-out), the main content, and the security headers. Plus
//! the pages that only say something (refusals, notices) and the redirect after a post.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::i18n::Lang;
use super::session::{Unreadable, Visitor};
use super::{csrf, url_encode};
use crate::auth::Caller;
use crate::error::ApiError;

/// Every page: no caching (pages show personal data), no framing, scripts and styles from the
/// console only, forms posted to the console only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(v: &Visitor) -> Markup {
    html! { input type="hidden" name=(csrf::FIELD) value=(v.csrf); }
}

/// The navigation for who is signed in.
fn nav(v: &Visitor) -> Markup {
    html! {
        @match &v.caller {
            Some(Caller::Operator) => {
                a href="/console/back-office" { (v.t("Back office", "Back office")) }
                a href="/console/outbox" { (v.t("E-mails envoyés", "Sent e-mails")) }
            }
            Some(Caller::Admin { .. }) => {
                a href="/console/account" { (v.t("Mon compte", "My account")) }
                a href="/console/users" { (v.t("Gestion des utilisateurs", "User management")) }
                a href="/console/guide" { (v.t("Guide d'utilisation", "User guide")) }
            }
            Some(_) => {
                (super::portal::tools::nav(&v.portal, v.lang))
                a href="/console/guide" { (v.t("Guide d'utilisation", "User guide")) }
            }
            None => {
                a href="/console/sign-in" { (v.t("Se connecter", "Sign in")) }
                a href="/console/guide" { (v.t("Guide d'utilisation", "User guide")) }
            }
        }
    }
}

/// The language switch: links (no form, nothing to forge) that come back to this page.
fn lang_switch(v: &Visitor) -> Markup {
    let back = url_encode(&v.here);
    html! {
        div.lang role="group" aria-label=(v.t("Langue", "Language")) {
            span { (v.t("Langue", "Language")) " : " }
            @for (l, name) in [(Lang::Fr, "Français"), (Lang::En, "English")] {
                @if l == v.lang {
                    strong aria-current="true" lang=(l.code()) { (name) }
                } @else {
                    a href={ "/console/lang/" (l.code()) "?back=" (back) } lang=(l.code()) hreflang=(l.code()) { (name) }
                }
                " "
            }
        }
    }
}

/// A full page with `status`.
pub fn page_with(v: &Visitor, status: StatusCode, title: &str, body: Markup) -> Response {
    let doc = html! {
        (DOCTYPE)
        html lang=(v.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Sesame" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { (v.t("Aller au contenu", "Skip to content")) }
                header.top {
                    a.brand href="/console/" { "Sesame" }
                    nav aria-label=(v.t("Navigation principale", "Main navigation")) { (nav(v)) }
                    (lang_switch(v))
                    @if v.caller.is_some() {
                        form.signout method="post" action="/console/sign-out" {
                            (csrf_field(v))
                            button type="submit" { (v.t("Se déconnecter", "Sign out")) }
                        }
                    }
                }
                (super::assistance::banner(v))
                main #main {
                    h1 { (title) }
                    (body)
                }
                footer { (v.t("Sesame — console de gestion des utilisateurs", "Sesame — user management console")) }
            }
        }
    };
    let mut resp = (status, axum::response::Html(doc.into_string())).into_response();
    headers(&mut resp);
    for c in v.cookies() {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// A full page (200).
pub fn page(v: &Visitor, title: &str, body: Markup) -> Response {
    page_with(v, StatusCode::OK, title, body)
}

/// A page that only says something.
pub fn message_page(v: &Visitor, status: StatusCode, title: &str, message: &str) -> Response {
    page_with(
        v,
        status,
        title,
        html! { p.notice.error role="alert" { strong { (v.t("Erreur", "Error")) " : " } (message) } p { a href="/console/" { (v.t("Retour à l'accueil", "Back to the start")) } } },
    )
}

/// A refusal before the visitor is known (the store could not be read): a bare page.
impl IntoResponse for Unreadable {
    fn into_response(self) -> Response {
        let Unreadable(lang, e) = self;
        let doc = html! {
            (DOCTYPE)
            html lang=(lang.code()) {
                head { meta charset="utf-8"; title { "Sesame" } link rel="stylesheet" href="/console/assets/console.css"; }
                body { main #main { h1 { (lang.t("Erreur", "Error")) } p.notice.error role="alert" { (lang.error(&e)) } } }
            }
        };
        let mut resp = (e.status(), axum::response::Html(doc.into_string())).into_response();
        headers(&mut resp);
        resp
    }
}

/// What a refused action shows: a page in the visitor's language; a session that ended sends
/// to the sign-in page.
pub fn fail(v: &Visitor, e: &ApiError) -> Response {
    if matches!(e, ApiError::Unauthorized) {
        return super::session::to_sign_in(&v.here);
    }
    let title = match e.status().as_u16() {
        403 => v.t("Action non autorisée", "Not allowed"),
        404 => v.t("Introuvable", "Not found"),
        _ => v.t("Action impossible", "Could not be done"),
    };
    message_page(v, e.status(), title, &v.lang.error(e))
}

/// Turns any refusal into the page that shows it: `store.x().await.or_page(&v)?`.
pub trait OrPage<T> {
    // The refusal is the page the handler returns at once (axum's `Result<_, Response>` idiom):
    // it does not travel up a call chain, so its size costs nothing worth a box.
    #[allow(clippy::result_large_err)]
    fn or_page(self, v: &Visitor) -> Result<T, Response>;
}

impl<T, E: Into<ApiError>> OrPage<T> for Result<T, E> {
    fn or_page(self, v: &Visitor) -> Result<T, Response> {
        self.map_err(|e| fail(v, &e.into()))
    }
}

/// After a successful post: see `to` (303), with a notice shown there (`?done=<what>`, one of
/// the notices the page knows: no text travels in the URL).
pub fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(loc) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    headers(&mut resp);
    resp
}

/// A notice at the top of a page (a success: said in words and marked with an icon, not by
/// colour alone).
pub fn notice(text: &str) -> Markup {
    html! { p.notice.ok role="status" { span aria-hidden="true" { "✔ " } (text) } }
}

/// An error at the top of a form (what went wrong as a whole).
pub fn form_error(v: &Visitor, text: &str) -> Markup {
    html! { p.notice.error role="alert" { strong { (v.t("Erreur", "Error")) " : " } (text) } }
}
