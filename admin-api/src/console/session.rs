//! Who is at the console: the cookie session (the same store sessions as the API's bearer
//! tokens, opened by the same sign-in rule and throttle), the language and the CSRF seed.
//!
//! Cookies: `sesame_session` (the session token: `HttpOnly`, `SameSite=Strict`, `Path=/console`,
//! `Secure` when the public URL is https), `sesame_pre` (a random value before sign-in, the seed
//! of the sign-in form's CSRF token, same attributes) and `sesame_lang` (`fr`/`en`). The API
//! itself never reads a cookie: bearer tokens only, so it needs no CSRF defence.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use sesame_domain::secrets::new_token;

use super::csrf;
use super::i18n::Lang;
use sesame_domain::model::Account;

use crate::auth::{account_for, caller_of_session, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub const SESSION_COOKIE: &str = "sesame_session";
pub const PRE_COOKIE: &str = "sesame_pre";
pub const LANG_COOKIE: &str = "sesame_lang";

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value. `max_age` 0 deletes the cookie; `None` lasts the browser session.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    // Names and values are ours (tokens are URL-safe base64): always a valid header.
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The visitor could not be told (the store did not answer): shown as a bare page in `lang`
/// (`layout` renders it).
pub struct Unreadable(pub Lang, pub ApiError);

/// Everything a console page needs about its visitor.
#[derive(Clone)]
pub struct Visitor {
    pub lang: Lang,
    /// Who is signed in, if anyone (a session that expired or was revoked is no one).
    pub caller: Option<Caller>,
    /// The session token (the cookie), when signed in.
    pub session: Option<String>,
    /// This visitor's CSRF token: every form carries it.
    pub csrf: String,
    /// Cookies are `Secure` (the public URL is https).
    pub secure: bool,
    /// The path and query of the page, for the language switch to come back to.
    pub here: String,
    /// The portal's tools of a signed-in user (its navigation); none for anyone else.
    pub portal: super::portal::tools::Tools,
    /// The pre-session seed to set with the answer (first visit).
    new_pre: Option<String>,
}

impl Visitor {
    /// The `Set-Cookie` headers the page must carry.
    pub fn cookies(&self) -> Vec<HeaderValue> {
        self.new_pre
            .iter()
            .map(|p| set_cookie(PRE_COOKIE, p, None, self.secure))
            .collect()
    }
    pub fn t<'a>(&self, fr: &'a str, en: &'a str) -> &'a str {
        self.lang.t(fr, en)
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Unreadable;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Unreadable> {
        let headers = &parts.headers;
        let lang = cookie(headers, LANG_COOKIE)
            .and_then(Lang::parse)
            .or_else(|| Lang::parse(&state.cfg.default_lang))
            .unwrap_or(Lang::Fr);
        let secure = state.cfg.public_url.starts_with("https://");
        let session = cookie(headers, SESSION_COOKIE).map(str::to_owned);
        let caller = match &session {
            Some(token) => match caller_of_session(state, token).await {
                Ok(c) => Some(c),
                Err(ApiError::Unauthorized) => None,
                Err(e) => return Err(Unreadable(lang, e)),
            },
            None => None,
        };
        let session = session.filter(|_| caller.is_some());
        let portal = match &caller {
            Some(c) => super::portal::tools::Tools::of(state, c)
                .await
                .map_err(|e| Unreadable(lang, e))?,
            None => super::portal::tools::Tools::default(),
        };
        // Signed in, the session token seeds the CSRF token; before, the pre-session cookie
        // does (set on the first page). Either way a page on another site cannot read it.
        let (seed, new_pre) = match (&session, cookie(headers, PRE_COOKIE)) {
            (Some(s), _) => (s.clone(), None),
            (None, Some(p)) => (p.to_owned(), None),
            (None, None) => {
                let p = new_token();
                (p.clone(), Some(p))
            }
        };
        // Where the language switch and the sign-in come back to: this page, unless it was a
        // form's POST (its address answers only POST: the console's start instead).
        let here = match parts.uri.path_and_query() {
            Some(p) if parts.method == axum::http::Method::GET => p.as_str().to_owned(),
            _ => "/console/".to_owned(),
        };
        Ok(Visitor {
            lang,
            caller,
            session,
            csrf: csrf::token(&seed),
            secure,
            here,
            portal,
            new_pre,
        })
    }
}

/// A signed-in visitor: anyone else is sent to the sign-in page (and back here after).
pub struct SignedIn {
    pub v: Visitor,
    pub caller: Caller,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let v = Visitor::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match v.caller.clone() {
            Some(caller) => Ok(SignedIn { v, caller }),
            None => Err(to_sign_in(&v.here)),
        }
    }
}

impl SignedIn {
    /// The account the signed-in account admin manages; anyone else is refused.
    pub async fn account(&self, state: &AppState) -> ApiResult<Account> {
        account_for(state, &self.caller, "me").await
    }
}

/// The sign-in page, coming back to `here` after (a console page only).
pub fn to_sign_in(here: &str) -> Response {
    let next = if here.starts_with("/console/")
        && here != "/console/"
        && !here.starts_with("/console/sign")
    {
        format!("?next={}", super::url_encode(here))
    } else {
        String::new()
    };
    Redirect::to(&format!("/console/sign-in{next}")).into_response()
}
