//! Labels (`/sls-ws/SlsServiceWSRest/{2.0,3.1}/{generateLabel,checkGenerateLabel}`): key in the
//! `apiKey` header, account in `contractNumber` or the free field ACCOUNT_NUMBER, right
//! `ws_postage`; labels are stamped with the user's key and tag. The portal's Coliship form
//! calls the same path with the user's session (`Authorization: Bearer`): the right is then
//! `coliship` (the labelling interface's), everything else the same.

use serde_json::{json, Map, Value};
use sesame_domain::Right;

use super::credentials::credentials;
use super::kind::Service;
use super::parcels::{bearer, own_auth};
use super::phases::{authenticate_creds, forward_json, pass, select_into};
use super::request::{header_bytes, parse_object, read_body, text, Req};
use crate::auth::{Link, Principal};
use crate::error::GatewayError;
use crate::error::R;
use crate::response::Resp;
use crate::state::Inner;

pub(crate) const PREFIX: &str = "/sls-ws/SlsServiceWSRest/";

/// Whether `rest` (after [`PREFIX`]) is one of the label operations.
pub(crate) fn routes(rest: &str) -> bool {
    matches!(
        rest,
        "2.0/generateLabel"
            | "3.1/generateLabel"
            | "2.0/checkGenerateLabel"
            | "3.1/checkGenerateLabel"
    )
}

pub(crate) async fn handle(gw: &Inner, r: Req) -> R<Resp> {
    // A key or a session in the headers is checked before the body is read: a bad one costs
    // no body.
    let (early, right) = if header_bytes(&r.headers, "apikey").is_some() {
        (Some(own_auth(gw, &r).await?), Right::WsPostage)
    } else if bearer(&r.headers).is_some() {
        (Some(own_auth(gw, &r).await?), Right::Coliship)
    } else {
        (None, Right::WsPostage)
    };
    let Req {
        uri,
        headers,
        body,
        ip,
        ..
    } = r;
    let body = read_body(body, &headers, gw.cfg.max_body_bytes).await?;
    let mut m = parse_object(&body)?;
    let mut c = credentials(Service::Labels, &headers, &m);
    if right == Right::Coliship {
        // A session names its account in `contractNumber`, as a key caller does (and has no
        // legacy login/password to read).
        c.account = text(m.get("contractNumber"));
        c.legacy = None;
    }
    let p = match early {
        Some(p) => p,
        None => authenticate_creds(gw, &mut c, ip).await?,
    };

    // Account: `contractNumber`, or the free field ACCOUNT_NUMBER (key callers only: a legacy
    // caller's contractNumber is its login and it acts for its own account).
    let fields_ok = match m.get("fields") {
        None | Some(Value::Null) => true,
        Some(Value::Object(f)) => matches!(
            f.get("field"),
            None | Some(Value::Null) | Some(Value::Array(_))
        ),
        Some(_) => false,
    };
    if !fields_ok {
        return Err(GatewayError::BadRequest(
            "le champ fields.field doit être un tableau".into(),
        ));
    }
    // Rewrite: credentials, and the stamps that let the tracking tool find the parcel later. A
    // caller cannot stamp someone else's key or tag: any stamp it sent is replaced.
    let link = select_into(
        gw,
        &p,
        c.account.as_deref(),
        right,
        "contractNumber",
        &mut m,
    )?;
    stamp(&mut m, &p, link);
    let up = forward_json(gw, Service::Labels, uri.path(), &m, false).await?;
    Ok(pass(up))
}

/// `fields.field[]` gets the caller's USER_KEY and the TAG_USER the label's account gives it (and
/// loses ACCOUNT_NUMBER and any stamp the caller sent).
fn stamp(m: &mut Map<String, Value>, p: &Principal, link: &Link) {
    let fields = m.entry("fields").or_insert_with(|| json!({}));
    if fields.is_null() {
        *fields = json!({});
    }
    if let Some(f) = fields.as_object_mut() {
        let list = f.entry("field").or_insert_with(|| json!([]));
        if list.is_null() {
            *list = json!([]);
        }
        if let Some(arr) = list.as_array_mut() {
            arr.retain(|e| {
                !matches!(
                    e.get("key").and_then(Value::as_str),
                    Some("ACCOUNT_NUMBER" | "USER_KEY" | "TAG_USER")
                )
            });
            if let Some(k) = &p.user_key {
                arr.push(json!({"key": "USER_KEY", "value": k.as_str()}));
            }
            if let Some(t) = &link.tag {
                arr.push(json!({"key": "TAG_USER", "value": t.as_str()}));
            }
        }
    }
}
