//! The phases every handler runs, as functions (pingora's `ProxyHttp` model): authenticate →
//! select account → authorize → rewrite → forward → filter. Parsing is `request.rs`, where
//! each service's credentials sit is `credentials.rs`; answers that span accounts go through
//! `fanout.rs`.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::{header, Method};
use serde_json::{Map, Value};
use sesame_domain::Right;

use super::credentials::{is_key_name, Credentials};
use super::kind::Service;
use super::members::write_str;
use super::request::percent_decode;
use crate::auth::{Link, Principal};
use crate::error::{GatewayError, R};
use crate::response::Resp;
use crate::state::Inner;
use crate::upstream::UpResp;

/// Authenticate: the connection key, else the legacy login/password; then the per-key rate
/// limit.
pub(crate) async fn authenticate(
    gw: &Inner,
    key: Option<&[u8]>,
    legacy: Option<(String, String)>,
    ip: IpAddr,
) -> R<Arc<Principal>> {
    let p = match (key, legacy) {
        (Some(k), _) => gw.auth.by_key(k, ip).await?,
        (None, Some((login, password))) => {
            Box::pin(gw.auth.by_password(&login, &password, ip)).await?
        }
        (None, None) => {
            gw.metrics
                .auth_failures
                .with_label_values(&["missing_credentials"])
                .inc();
            return Err(GatewayError::Unauthenticated);
        }
    };
    gw.limits.check_user(&p)?;
    Ok(p)
}

/// A portal or admin-API session (`Authorization: Bearer <token>`) as the caller: the user it
/// speaks for (its own, or the impersonated one), under that user's own limit.
pub(crate) async fn authenticate_session(gw: &Inner, token: &str, ip: IpAddr) -> R<Arc<Principal>> {
    let p = gw.auth.by_session(token, ip).await?;
    gw.limits.check_user(&p)?;
    Ok(p)
}

/// Authenticate from what a service's clients send ([`Credentials`]): the connection key, else
/// login/password, where the password may be the connection key of the holder of a link to
/// the login's account. Such a caller is a key caller acting for that account: `c.account`
/// names it and `c.legacy` is cleared.
pub(crate) async fn authenticate_creds(
    gw: &Inner,
    c: &mut Credentials,
    ip: IpAddr,
) -> R<Arc<Principal>> {
    if c.key.is_none() {
        if let Some((login, password)) = &c.legacy {
            // Boxed, as every path other than a cached key: a password check's state would
            // otherwise sit in every request's future (issue 17: futures are moved whole).
            let (p, by_key) = Box::pin(gw.auth.by_login(login, password, ip)).await?;
            if by_key {
                c.account = Some(login.trim().to_owned());
                c.legacy = None;
            }
            gw.limits.check_user(&p)?;
            return Ok(p);
        }
    }
    authenticate(gw, c.key.as_deref(), None, ip).await
}

/// Select account + authorize: the explicit account if any, else the only linked account
/// holding the right (several → the error names the field to fill); then the account's rate
/// limit.
pub(crate) fn select<'p>(
    gw: &Inner,
    p: &'p Principal,
    explicit: Option<&str>,
    right: Right,
    field: &'static str,
) -> R<&'p Link> {
    select_by(gw, p, explicit, right.id(), |l| l.rights.has(right), field)
}

/// [`select`] for any right `holds` tells (a declared route's plain or scoped right); `id`
/// names it in the refusal.
#[inline]
pub(crate) fn select_by<'p>(
    gw: &Inner,
    p: &'p Principal,
    explicit: Option<&str>,
    id: &'static str,
    holds: impl Fn(&Link) -> bool,
    field: &'static str,
) -> R<&'p Link> {
    let link = match explicit {
        Some(n) => p
            .link(n)
            .filter(|l| holds(l))
            .ok_or(GatewayError::Forbidden(id))?,
        None => {
            let mut it = p.links.iter().filter(|l| holds(l));
            let first = it.next().ok_or(GatewayError::Forbidden(id))?;
            if it.next().is_some() {
                return Err(GatewayError::AccountRequired { field });
            }
            first
        }
    };
    gw.limits.check_account(link.account_id)?;
    Ok(link)
}

/// [`select`], then the single-account rewrite of a JSON body: any key removed, the selected
/// account's upstream credentials in (its login under `field`, the field that names it).
pub(crate) fn select_into<'p>(
    gw: &Inner,
    p: &'p Principal,
    explicit: Option<&str>,
    right: Right,
    field: &'static str,
    m: &mut Map<String, Value>,
) -> R<&'p Link> {
    let link = select(gw, p, explicit, right, field)?;
    strip_keys(m);
    inject_credentials(m, field, link);
    Ok(link)
}

/// The links a request spans: on the stack up to four (most keys reach one account; no
/// allocation per request for them).
pub(crate) type Links<'p> = smallvec::SmallVec<[&'p Link; 4]>;

/// Authorize for every account: the links holding `right` (none → forbidden), each within its
/// account's rate limit.
pub(crate) fn every_link<'p>(gw: &Inner, p: &'p Principal, right: Right) -> R<Links<'p>> {
    let links: Links<'p> = p.with_right(right).collect();
    if links.is_empty() {
        return Err(GatewayError::Forbidden(right.id()));
    }
    for l in &links {
        gw.limits.check_account(l.account_id)?;
    }
    Ok(links)
}

/// The timeout of one upstream call: per account when fanned out.
pub(crate) fn timeout(gw: &Inner, fanout: bool) -> Duration {
    Duration::from_millis(if fanout {
        gw.cfg.fanout_timeout_ms
    } else {
        gw.cfg.request_timeout_ms
    })
}

/// Rewrite: removes every spelling of the caller's key from a body about to be forwarded.
pub(crate) fn strip_keys(m: &mut Map<String, Value>) {
    m.retain(|k, _| !is_key_name(k));
}

/// Rewrite: the account's upstream login (under `login_field`) and password replace the
/// caller's.
pub(crate) fn inject_credentials(m: &mut Map<String, Value>, login_field: &str, l: &Link) {
    m.insert(
        login_field.into(),
        Value::String(l.account.upstream_login.clone()),
    );
    m.insert(
        "password".into(),
        Value::String(l.account.upstream_password.clone()),
    );
}

/// The credentials body of Sesame's private upstream APIs (tracking tool, invoices).
pub(crate) fn private_creds(l: &Link) -> Map<String, Value> {
    let mut m = Map::new();
    inject_credentials(&mut m, "contractNumber", l);
    m
}

/// Rewrite: the query forwarded to the carrier, without any key parameter (names compared
/// after percent-decoding: `%61pikey` is `apikey`). `None` when nothing is left.
pub(crate) fn forwarded_query(q: &str) -> Option<String> {
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !pair.is_empty() && !is_key_name(&percent_decode(name))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// Forward: POSTs a rewritten JSON body to the carrier for `svc` (latency labelled with its
/// upstream label); a carrier 5xx is the carrier's failure.
pub(crate) async fn forward_json(
    gw: &Inner,
    svc: Service,
    path: &str,
    m: &Map<String, Value>,
    fanout: bool,
) -> R<UpResp> {
    let body = serde_json::to_vec(m).map_err(|e| GatewayError::Internal(e.to_string()))?;
    forward_bytes(gw, svc, path, &body, fanout).await
}

/// Forward, a JSON body already serialised. The upstream call's future with the check
/// mapped onto it, not an `async fn` around it: each level of futures is copied whole when
/// awaited (issue 17).
pub(crate) fn forward_bytes<'a>(
    gw: &'a Inner,
    svc: Service,
    path: &'a str,
    body: &'a [u8],
    fanout: bool,
) -> impl Future<Output = R<UpResp>> + Send + 'a {
    gw.upstream
        .call_json(
            svc.upstream_label(),
            Method::POST,
            path,
            body,
            timeout(gw, fanout),
        )
        .map(|up| up.and_then(upstream_ok))
}

/// Rewrite, for bodies sent once per account: the caller's fields other than `replaced`,
/// serialised once as object members (`"k":v,…`, no braces), so each account's body is its
/// own fields then these, without cloning and re-serialising the map per account.
pub(crate) fn members_except(m: &Map<String, Value>, replaced: &[&str]) -> R<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    for (k, v) in m.iter().filter(|(k, _)| !replaced.contains(&k.as_str())) {
        if !out.is_empty() {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, k)
            .and_then(|()| {
                out.push(b':');
                serde_json::to_writer(&mut out, v)
            })
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
    }
    Ok(out)
}

/// A member value for [`object_body`].
pub(crate) enum Field<'a> {
    /// A text, written as a JSON string.
    Text(&'a str),
    /// A JSON string already written (an account's login and password: `AccountInfo`).
    Json(&'a [u8]),
}

/// A JSON object body: `fields` (name, value) first, then `members` from [`members_except`]
/// (which left those names out). The names are Sesame's own literals, which need no escape.
pub(crate) fn object_body(fields: &[(&'static str, Field<'_>)], members: &[u8]) -> R<Vec<u8>> {
    let mut out = Vec::with_capacity(members.len() + 128);
    out.push(b'{');
    for (i, (k, v)) in fields.iter().enumerate() {
        debug_assert!(!k.bytes().any(|c| c < 0x20 || c == b'"' || c == b'\\'));
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        match v {
            Field::Text(t) => write_str(&mut out, t),
            Field::Json(j) => out.extend_from_slice(j),
        }
    }
    if !members.is_empty() {
        if !fields.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(members);
    }
    out.push(b'}');
    // A `Vec`, not `Bytes`: the upstream client borrows it (into `Bytes`, a vector whose
    // length is not its capacity costs an allocation more).
    Ok(out)
}

/// Forward, for Sesame's private upstream APIs: the body as a JSON value.
pub(crate) async fn forward_private(
    gw: &Inner,
    svc: Service,
    path: &str,
    body: Map<String, Value>,
    fanout: bool,
) -> R<UpResp> {
    let up = gw
        .upstream
        .post_json(
            svc.upstream_label(),
            path,
            &Value::Object(body),
            timeout(gw, fanout),
        )
        .await?;
    upstream_ok(up)
}

/// 5xx from the upstream is its own failure: report it as such rather than relaying a body
/// that might not match the envelope the client expects.
pub(crate) fn upstream_ok(up: UpResp) -> R<UpResp> {
    if up.status.is_server_error() {
        return Err(GatewayError::UpstreamUnavailable(format!(
            "upstream answered {}",
            up.status
        )));
    }
    Ok(up)
}

/// Filter, when the answer needs none: the upstream answer unchanged (status, content type,
/// disposition, body).
pub(crate) fn pass(up: UpResp) -> Resp {
    let mut r = http::Response::new(http_body_util::Full::new(up.body));
    *r.status_mut() = up.status;
    if let Some(ct) = up.content_type {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    if let Some(cd) = up.content_disposition {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, cd);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AccountInfo;

    #[test]
    fn an_account_s_credentials_are_written_as_the_json_strings_they_are() {
        // A password with every character JSON escapes: the carrier must get it exactly.
        let password = "p\"a\\s\u{1}s\tw\u{e9}\u{20ac}";
        let a = AccountInfo::new("ACME".into(), "900138".into(), password.into());
        let body = object_body(
            &[
                ("login", Field::Json(&a.login_json)),
                ("password", Field::Json(&a.password_json)),
                ("parcelNumber", Field::Text("6A\"1")),
            ],
            br#""lang":"fr_FR""#,
        )
        .expect("body");
        let v: Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(
            v,
            serde_json::json!({"login": "900138", "password": password, "parcelNumber": "6A\"1", "lang": "fr_FR"})
        );
    }
}
