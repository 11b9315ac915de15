//! The web console (issue 13): the screens of seed 000 §3–8 for account admins and users, and
//! the operator's back office (seed 004 §3–4), served by the admin listener under `/console/`.
//!
//! Server-rendered HTML (maud, checked at compile time), CSS and a little JavaScript embedded
//! in the binary; every screen works with plain forms, the script only improves them. Pages
//! call the same functions as the JSON API (`crate::routes::*`): one implementation of every
//! rule, audited alike. Sessions are the store's sessions in a cookie ([`session`]); every form
//! carries a CSRF token ([`csrf`]); texts are French first, English through the switch
//! ([`i18n`]).
//!
//! The operator signs in to the console with the operator token once (throttled like a
//! password); that opens an `operator` store session in the cookie, so the token itself never
//! sits in the browser, and signing out ends it.

mod account;
mod assets;
mod assistance;
mod associate;
mod back_office;
pub mod csrf;
pub mod form;
mod guide;
pub mod i18n;
mod import;
pub mod layout;
mod outbox;
pub mod portal;
pub mod session;
mod sign_in;
mod user_form;
mod users;
pub mod widgets;

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;
use session::{Visitor, LANG_COOKIE};

/// Every console route (`max_import_bytes`: the import upload's bound).
pub fn routes(max_import_bytes: usize) -> Router<AppState> {
    let r = Router::new()
        .route("/", get(to_console))
        .route("/console", get(to_console))
        .route("/console/", get(home))
        .route("/console/lang/{code}", get(switch_lang));
    let r = assets::routes(r);
    let r = sign_in::routes(r);
    let r = account::routes(r);
    let r = users::routes(r);
    let r = user_form::routes(r);
    let r = associate::routes(r);
    let r = import::routes(r, max_import_bytes);
    let r = back_office::routes(r);
    let r = outbox::routes(r);
    let r = portal::routes(r);
    guide::routes(r)
}

async fn to_console() -> Redirect {
    Redirect::to("/console/")
}

/// The start: the signed-in visitor's home, or the sign-in page (where the tracking link's OK
/// button leads).
async fn home(v: Visitor) -> Response {
    match v.caller {
        Some(crate::auth::Caller::Operator) => Redirect::to("/console/back-office").into_response(),
        Some(_) => Redirect::to(portal::tools::landing(&v.portal)).into_response(),
        None => Redirect::to("/console/sign-in").into_response(),
    }
}

/// The "Langue" preference: a cookie, then back to the page (a console page only: never a
/// redirect to another site).
async fn switch_lang(v: Visitor, Path(code): Path<String>, q: crate::extract::Query) -> Response {
    let Some(lang) = i18n::Lang::parse(&code) else {
        return layout::fail(&v, &crate::error::ApiError::NotFound("language"));
    };
    let back = q
        .str("back")
        .filter(|b| local_path(b))
        .unwrap_or("/console/");
    let mut resp = layout::see_other(back);
    let c = format!(
        "{LANG_COOKIE}={}; Path=/console; Max-Age=31536000; SameSite=Lax{}",
        lang.code(),
        if v.secure { "; Secure" } else { "" }
    );
    if let Ok(c) = axum::http::HeaderValue::from_str(&c) {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    resp
}

/// A path of this console (`/console/…`), never `//host` or a scheme: safe to redirect to.
pub fn local_path(p: &str) -> bool {
    p.starts_with("/console/")
        && !p.contains("//")
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_console_paths_are_redirect_targets() {
        for ok in ["/console/", "/console/users?q=a"] {
            assert!(super::local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example/",
            "/console//evil",
            "https://evil",
            "/admin/v1/me",
            "/console/\\evil",
            "/console/\nx",
        ] {
            assert!(!super::local_path(bad), "{bad}");
        }
        assert_eq!(
            super::url_encode("/console/a b?c=d&e"),
            "/console/a%20b%3Fc%3Dd%26e"
        );
    }
}
