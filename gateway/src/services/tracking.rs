//! Tracking (`timelineCompany`): key in the body (`apiKey`), the parcel's own account found by
//! asking every linked account holding `ws_tracking` (concurrently), carrier errors in HTTP 200.
//! [`find_parcel`] is also the lookup of the tracking link and of claims.

use std::borrow::Cow;
use std::ops::ControlFlow;

use serde_json::Value;
use sesame_domain::Right;

use super::credentials::{credentials, is_key_name};
use super::fanout::fan_out;
use super::kind::Service;
use super::members::Members;
use super::phases::{
    authenticate, authenticate_creds, every_link, forward_bytes, members_except, object_body, pass,
    strip_keys, Field,
};
use super::request::{parse_object, read_body, Req};
use crate::auth::{Link, Principal};
use crate::error::GatewayError;
use crate::error::R;
use crate::response::Resp;
use crate::state::Inner;
use crate::upstream::UpResp;

pub(crate) const PATH: &str = "/tracking-timeline-ws/rest/tracking/timelineCompany";

pub(crate) async fn handle(gw: &Inner, r: Req) -> R<Resp> {
    let body = read_body(r.body, &r.headers, gw.cfg.max_body_bytes).await?;
    // The common body (a key, a parcel, a few more members) is edited in place; the rest
    // (legacy login/password, invalid JSON, the key not a string…) goes the general way.
    if let Some(fast) = Members::parse(&body) {
        if let Some(key) = fast.str("apiKey") {
            // Key and parcel borrowed from the body (no copies on the hot path).
            let parcel = fast.text("parcelNumber");
            let p = authenticate(gw, Some(key.as_bytes()), None, r.ip).await?;
            // Rewrite: the caller's key goes no further; login, password and parcel are
            // written per account in front of the other members.
            let mut members = Vec::with_capacity(body.len());
            fast.write_except(&mut members, |k| {
                !is_key_name(k) && !matches!(k, "login" | "password" | "parcelNumber")
            });
            return track(gw, &p, parcel.as_deref(), &members).await;
        }
    }
    let mut m = parse_object(&body)?;
    let mut c = credentials(Service::Tracking, &r.headers, &m);
    let p = authenticate_creds(gw, &mut c, r.ip).await?;
    // Rewrite: the caller's key goes no further (its password is replaced per account below).
    strip_keys(&mut m);
    // The caller's other fields, serialised once for every account's call.
    let members = members_except(&m, &["login", "password", "parcelNumber"])?;
    track(gw, &p, c.parcel.as_deref(), &members).await
}

/// The parcel looked up on every account holding `ws_tracking`; the answer relayed.
async fn track(gw: &Inner, p: &Principal, parcel: Option<&str>, members: &[u8]) -> R<Resp> {
    let parcel = parcel
        .ok_or_else(|| GatewayError::BadRequest("le champ parcelNumber est obligatoire".into()))?;
    let links = every_link(gw, p, Right::WsTracking)?;
    // `ws_tracking` covers every parcel of the account: whatever an account finds is visible.
    match find_parcel(gw, &links, parcel, members, |_, _| true).await? {
        Lookup::Found(_, up) | Lookup::Other(up) => Ok(pass(up)),
        Lookup::Unknown => Err(GatewayError::UnknownParcel {
            id: parcel.to_owned(),
        }),
    }
}

/// Code of a timelineCompany answer (`status[0].code`), read without building the whole JSON
/// tree: serde skips every other field (timelines can be long; this is the proxy's hot path).
pub(crate) fn timeline_code(body: &[u8]) -> Option<Cow<'_, str>> {
    // Fast path: the carrier writes `status` first, so the code is usually read off the first
    // bytes without scanning the timeline (a few KiB) at all.
    const HEAD: &[u8] = br#"{"status":[{"code":""#;
    if let Some(rest) = body.strip_prefix(HEAD) {
        if let Some(end) = rest.iter().take(16).position(|b| *b == b'"') {
            let code = &rest[..end];
            if code.iter().all(u8::is_ascii_alphanumeric) {
                // Borrowed: the hot path allocates nothing for the code.
                return std::str::from_utf8(code).ok().map(Cow::Borrowed);
            }
        }
    }
    #[derive(serde::Deserialize)]
    struct Head {
        status: Vec<Code>,
    }
    #[derive(serde::Deserialize)]
    struct Code {
        code: Value,
    }
    let head: Head = serde_json::from_slice(body).ok()?;
    match &head.status.first()?.code {
        Value::String(s) => Some(Cow::Owned(s.clone())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// What asking every account for a parcel gave.
pub(crate) enum Lookup<'p> {
    /// The account that knows the parcel, and its answer.
    Found(&'p Link, UpResp),
    Unknown,
    /// An answer that does not depend on the account (invalid number…): relayed as is.
    Other(UpResp),
}

/// Asks each account (concurrently) for the parcel; the first that knows it and where
/// `visible` accepts it wins. A parcel of another account is unknown upstream, so this finds
/// the parcel's own account. A parcel `visible` refuses (outside the caller's scope) counts as
/// unknown on that account, and the other accounts are still awaited: the answer and its timing
/// are then those of an unknown parcel, whatever the other accounts do (failing, slow).
/// `members`: the caller's other members (JSON, without braces), sent after each account's
/// login, password and the parcel number.
pub(crate) async fn find_parcel<'p>(
    gw: &Inner,
    links: &[&'p Link],
    parcel: &str,
    members: &[u8],
    visible: impl Fn(&Link, &UpResp) -> bool,
) -> R<Lookup<'p>> {
    let fan = links.len() > 1;
    let mut failure = None;
    let mut other_answer = None;
    let found = fan_out(
        gw,
        Service::Tracking,
        fan,
        links,
        |l| {
            let body = object_body(
                &[
                    ("login", Field::Json(&l.account.login_json)),
                    ("password", Field::Json(&l.account.password_json)),
                    ("parcelNumber", Field::Text(parcel)),
                ],
                members,
            );
            async move { forward_bytes(gw, Service::Tracking, PATH, &body?, fan).await }
        },
        |_, &l, res| {
            match res {
                Ok(up) => match timeline_code(&up.body).as_deref() {
                    Some("0") if visible(l, &up) => {
                        return ControlFlow::Break(Lookup::Found(l, up))
                    }
                    Some("0" | "105") => {}
                    // (A refusal of the account's own credentials never gets here: the
                    // upstream client turns it into `UpstreamCredentialsRefused`.)
                    _ => other_answer = Some(up),
                },
                Err(e) => failure = Some(e),
            }
            ControlFlow::Continue(())
        },
    )
    .await;
    if let Some(found) = found {
        return Ok(found);
    }
    if let Some(up) = other_answer {
        return Ok(Lookup::Other(up));
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(Lookup::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::timeline_code;

    #[test]
    fn timeline_code_fast_path_agrees_with_the_parser() {
        let code = |b: &'static [u8]| timeline_code(b);
        assert_eq!(
            code(br#"{"status":[{"code":"0","message":"ok"}],"parcel":{}}"#).as_deref(),
            Some("0")
        );
        // Not first, a number, an escape: the full parse.
        assert_eq!(
            code(br#"{"parcel":{},"status":[{"code":"105"}]}"#).as_deref(),
            Some("105")
        );
        assert_eq!(
            code(br#"{"status":[{"code":201}]}"#).as_deref(),
            Some("201")
        );
        assert_eq!(
            code(br#"{"status":[{"code":"a\"b"}]}"#).as_deref(),
            Some("a\"b")
        );
        assert_eq!(code(br#"{"status":[{"code":""#), None);
        assert_eq!(code(b"garbage"), None);
    }
}
