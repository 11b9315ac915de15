//! One call on a declared route, through the same phases as the built-in services
//! (`services/phases.rs`): authenticate → select account → authorize → rewrite (the caller's
//! credentials out, the account's in) → forward → filter by scope.

use std::net::IpAddr;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value};

use super::config::OwnerIs;
use super::table::{Auth, Route, ScopeMode, ScopeRule, Source};
use crate::auth::{Link, Principal};
use crate::error::{GatewayError, R};
use crate::response::{json_resp, Resp};
use crate::services::legacy_creds;
use crate::services::phases::{self, forwarded_query, pass, strip_keys, upstream_ok};
use crate::services::request::{
    header_bytes, parse_object, percent_decode, query_param, read_body, text, Req, ReqBody,
};
use crate::state::Inner;
use crate::upstream::UpResp;

/// Headers of the caller's request forwarded upstream; nothing else is (cookies, the caller's
/// `Authorization`, its key headers never leave).
const FORWARDED_HEADERS: [header::HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
];

/// How the caller proved who it is, read before the body when it is not in the body.
enum Caller<'a> {
    Key(Vec<u8>),
    Session(&'a str),
    Legacy(String, String),
}

pub(crate) async fn handle(
    gw: &Inner,
    route: &Route,
    values: &[String],
    req: http::Request<ReqBody>,
    ip: IpAddr,
) -> R<Resp> {
    let Req {
        uri,
        headers: h,
        body: req_body,
        ..
    } = Req::new(req, ip);
    let q = uri.query();
    let caller = outside_body(route, &h, q);
    // Phase 2 before the body when the credentials are not in it (a stranger's body is not read).
    let mut principal = match &caller {
        Some(c) => Some(authenticate(gw, c, ip).await?),
        None => None,
    };
    let raw = read_body(req_body, &h, gw.cfg.max_body_bytes).await?;
    let blank = raw.iter().all(u8::is_ascii_whitespace);
    let is_json = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    // A JSON object body is parsed (to strip the caller's credentials from it); other bodies
    // go as they came, unless the route needs a field of it.
    let mut obj = if blank {
        None
    } else if route.reads_json() {
        Some(parse_object(&raw)?)
    } else if is_json {
        match serde_json::from_slice::<Value>(&raw) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        }
    } else {
        None
    };
    let mut caller_key = match &caller {
        Some(Caller::Key(k)) => Some(k.clone()),
        _ => None,
    };
    let p = match principal.take() {
        Some(p) => p,
        None => {
            let m = obj.as_ref();
            let key = route.keys.iter().find_map(|s| match s {
                Source::Body(f) => m?.get(f)?.as_str().map(|v| v.as_bytes().to_vec()),
                _ => None,
            });
            let legacy = match (&key, route.legacy) {
                (None, true) => m.and_then(legacy_creds),
                _ => None,
            };
            let p = phases::authenticate(gw, key.as_deref(), legacy, ip).await?;
            caller_key = key;
            p
        }
    };
    let explicit = match &route.account {
        Some(Source::Header(name)) => h
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
        Some(Source::Query(n)) => query_param(q, n),
        Some(Source::Body(f)) => obj.as_ref().and_then(|m| text(m.get(f))),
        Some(Source::Path(i)) => values.get(*i).cloned(),
        None => None,
    };
    let right = route.right;
    let link = phases::select_by(
        gw,
        &p,
        explicit.as_deref(),
        right.id(),
        |l| right.held_by(l),
        route.account_field,
    )?;

    // Rewrite: only the allow-listed headers, the caller's credentials out of the body and the
    // query, the account's own credentials in.
    let mut headers = HeaderMap::new();
    for name in FORWARDED_HEADERS {
        if let Some(v) = h.get(&name) {
            headers.insert(name, v.clone());
        }
    }
    let body = match obj.as_mut() {
        Some(m) => {
            strip_caller(route, m);
            inject_body(&route.upstream.auth, link, m);
            Bytes::from(serde_json::to_vec(m).map_err(|e| GatewayError::Internal(e.to_string()))?)
        }
        None if matches!(route.upstream.auth, Auth::Body { .. }) => {
            let mut m = Map::new();
            inject_body(&route.upstream.auth, link, &mut m);
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Bytes::from(serde_json::to_vec(&m).map_err(|e| GatewayError::Internal(e.to_string()))?)
        }
        None => raw,
    };
    inject_headers(&route.upstream.auth, link, &mut headers)?;
    let path = route.upstream_path.fill(&route.pattern, values);
    let pq = match q.and_then(|q| kept_query(route, q)) {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    if let Some(k) = caller_key.as_deref() {
        // Belt and braces: whatever field the caller hid its key in, it does not leave.
        if contains(&body, k) || contains(pq.as_bytes(), k) {
            return Err(GatewayError::BadRequest(
                "la clé de connexion ne doit figurer que là où le service l'attend".into(),
            ));
        }
    }

    let origin = &route.upstream;
    if let Some(rule) = &route.scope {
        if let ScopeMode::Lookup(lookup) = &rule.mode {
            let mut lh = HeaderMap::new();
            inject_headers(&origin.auth, link, &mut lh)?;
            let lp = lookup.fill(&route.pattern, values);
            let up = origin
                .client
                .call(
                    origin.name,
                    http::Method::GET,
                    &lp,
                    lh,
                    lookup_body(&origin.auth, link)?,
                    origin.timeout,
                )
                .await?;
            let item = item_of(up)?;
            if !visible(&p, link, rule, &item) {
                return Err(GatewayError::UnknownItem);
            }
        }
    }
    let up = origin
        .client
        .call(
            origin.name,
            route.method.clone(),
            &pq,
            headers,
            body,
            origin.timeout,
        )
        .await?;
    let Some(rule) = &route.scope else {
        return Ok(pass(upstream_ok(up)?));
    };
    match &rule.mode {
        ScopeMode::Lookup(_) => {
            if up.status == StatusCode::NOT_FOUND {
                return Err(GatewayError::UnknownItem);
            }
            Ok(pass(upstream_ok(up)?))
        }
        // Other refusals of the upstream (a 400, a 409) carry no item: relayed as they are.
        _ if up.status.is_client_error() && up.status != StatusCode::NOT_FOUND => {
            Ok(pass(upstream_ok(up)?))
        }
        ScopeMode::Item => {
            let status = up.status;
            let item = item_of(up)?;
            if !visible(&p, link, rule, &item) {
                return Err(GatewayError::UnknownItem);
            }
            Ok(json_resp(status, &item))
        }
        ScopeMode::Items(pointer) => {
            if up.status == StatusCode::NOT_FOUND {
                return Err(GatewayError::UnknownItem);
            }
            let up = upstream_ok(up)?;
            let status = up.status;
            let mut v = up.json().ok_or_else(not_as_declared)?;
            // Fail closed: an answer without the declared array is not relayed unfiltered.
            let list = v
                .pointer_mut(pointer)
                .and_then(Value::as_array_mut)
                .ok_or_else(not_as_declared)?;
            list.retain(|item| visible(&p, link, rule, item));
            Ok(json_resp(status, &v))
        }
    }
}

fn not_as_declared() -> GatewayError {
    GatewayError::UpstreamUnavailable(
        "the upstream answer is not shaped as the route's scope declares".into(),
    )
}

/// One item answered by the upstream: unknown on 404, the upstream's failure otherwise.
fn item_of(up: UpResp) -> R<Value> {
    if up.status == StatusCode::NOT_FOUND {
        return Err(GatewayError::UnknownItem);
    }
    upstream_ok(up)?.json().ok_or_else(not_as_declared)
}

/// The caller's credentials found outside the body, in the route's order of preference.
fn outside_body<'h>(route: &Route, h: &'h HeaderMap, q: Option<&str>) -> Option<Caller<'h>> {
    for s in &route.keys {
        match s {
            Source::Header(n) => {
                if let Some(b) = header_bytes(h, n.as_str()) {
                    return Some(Caller::Key(b.to_vec()));
                }
            }
            Source::Query(n) => {
                if let Some(v) = query_param(q, n) {
                    return Some(Caller::Key(v.into_bytes()));
                }
            }
            Source::Body(_) | Source::Path(_) => {}
        }
    }
    let auth = h.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, value) = auth.split_once(' ')?;
    let value = value.trim();
    if route.sessions && scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
        return Some(Caller::Session(value));
    }
    if route.legacy && scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (login, password) = text.split_once(':')?;
        return Some(Caller::Legacy(login.to_owned(), password.to_owned()));
    }
    None
}

async fn authenticate(gw: &Inner, c: &Caller<'_>, ip: IpAddr) -> R<std::sync::Arc<Principal>> {
    match c {
        Caller::Key(k) => phases::authenticate(gw, Some(k), None, ip).await,
        Caller::Legacy(l, p) => {
            phases::authenticate(gw, None, Some((l.clone(), p.clone())), ip).await
        }
        Caller::Session(token) => phases::authenticate_session(gw, token, ip).await,
    }
}

/// Removes from a body every place the caller's credentials can sit: any spelling of the key,
/// the route's key fields, and the legacy login/password.
fn strip_caller(route: &Route, m: &mut Map<String, Value>) {
    strip_keys(m);
    for s in &route.keys {
        if let Source::Body(f) = s {
            m.remove(f);
        }
    }
    if route.legacy {
        m.remove("password");
        m.remove("login");
    }
}

/// The query without the caller's key (its spellings and the route's key parameters).
fn kept_query(route: &Route, q: &str) -> Option<String> {
    let q = forwarded_query(q)?;
    let names: Vec<&str> = route
        .keys
        .iter()
        .filter_map(|s| match s {
            Source::Query(n) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Some(q);
    }
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !names.contains(&percent_decode(name).as_str())
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

fn inject_body(auth: &Auth, l: &Link, m: &mut Map<String, Value>) {
    if let Auth::Body { login, password } = auth {
        m.insert(
            login.clone(),
            Value::String(l.account.upstream_login.clone()),
        );
        m.insert(
            password.clone(),
            Value::String(l.account.upstream_password.clone()),
        );
    }
}

fn inject_headers(auth: &Auth, l: &Link, h: &mut HeaderMap) -> R<()> {
    let value = |s: &str| {
        HeaderValue::from_str(s).map_err(|_| {
            GatewayError::Internal("an account's upstream credentials are not header-safe".into())
        })
    };
    match auth {
        Auth::Basic => {
            let b = l.account.basic_auth.clone().ok_or_else(|| {
                GatewayError::Internal(
                    "an account's upstream credentials are not header-safe".into(),
                )
            })?;
            h.insert(header::AUTHORIZATION, b);
        }
        Auth::Header { login, password } => {
            if let Some(n) = login {
                h.insert(n.clone(), value(&l.account.upstream_login)?);
            }
            let mut v = value(&l.account.upstream_password)?;
            v.set_sensitive(true);
            h.insert(password.clone(), v);
        }
        Auth::Body { .. } => {}
    }
    Ok(())
}

/// The body of a lookup call: the account's credentials when they travel in the body.
fn lookup_body(auth: &Auth, l: &Link) -> R<Bytes> {
    if !matches!(auth, Auth::Body { .. }) {
        return Ok(Bytes::new());
    }
    let mut m = Map::new();
    inject_body(auth, l, &mut m);
    serde_json::to_vec(&m)
        .map(Bytes::from)
        .map_err(|e| GatewayError::Internal(e.to_string()))
}

/// Whether `item` is inside the caller's scope of the rule's right on `l` (own: the owner field
/// is the caller; group: the department field is the caller's department). Outside ≡ unknown.
fn visible(p: &Principal, l: &Link, rule: &ScopeRule, item: &Value) -> bool {
    let scope = l.rights.scope(rule.right);
    let field = |name: &str| match item.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let owner = field(&rule.owner).is_some_and(|o| match rule.owner_is {
        OwnerIs::UserKey => p
            .user_key
            .as_ref()
            .is_some_and(|k| k.as_str().eq_ignore_ascii_case(&o)),
        OwnerIs::UserId => o == p.user_id.to_string(),
    });
    let group = matches!((p.department.as_deref(), field(&rule.department)), (Some(mine), Some(d)) if mine == d);
    scope.allows(owner, group)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
