//! The phases every handler runs, as functions (pingora's `ProxyHttp` model): authenticate →
//! select account → authorize → rewrite → forward → filter. Parsing is `request.rs`, where
//! each service's credentials sit is `credentials.rs`; answers that span accounts go through
//! `fanout.rs`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method};
use serde_json::{Map, Value};
use sesame_domain::Right;

use super::credentials::is_key_name;
use super::kind::Service;
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
        (None, Some((login, password))) => gw.auth.by_password(&login, &password, ip).await?,
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
    let link = match explicit {
        Some(n) => p
            .link(n)
            .filter(|l| l.rights.has(right))
            .ok_or(GatewayError::Forbidden(right.id()))?,
        None => {
            let mut it = p.with_right(right);
            let first = it.next().ok_or(GatewayError::Forbidden(right.id()))?;
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

/// Authorize for every account: the links holding `right` (none → forbidden), each within its
/// account's rate limit.
pub(crate) fn every_link<'p>(gw: &Inner, p: &'p Principal, right: Right) -> R<Vec<&'p Link>> {
    let links: Vec<&Link> = p.with_right(right).collect();
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

fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h
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
    let body = serde_json::to_vec(m)
        .map(Bytes::from)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    let up = gw
        .upstream
        .call(
            svc.upstream_label(),
            Method::POST,
            path,
            json_headers(),
            body,
            timeout(gw, fanout),
        )
        .await?;
    upstream_ok(up)
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
