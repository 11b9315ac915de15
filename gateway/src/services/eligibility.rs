//! Eligibility (`additionalinformations`): key in `credential.apiKey`, account in
//! `partnerClientCode`, else one answer per linked account holding `ws_eligibility`.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, value::RawValue, Map, Value};
use sesame_domain::Right;

use super::credentials::credentials;
use super::fanout::fan_all;
use super::kind::Service;
use super::phases::{authenticate_creds, forward_json, pass, select, strip_keys};
use super::request::{parse_object, read_body, Req};
use crate::auth::Link;
use crate::envelope::account_entry;
use crate::error::GatewayError;
use crate::error::R;
use crate::response::{bytes_resp, Resp};
use crate::state::Inner;
use crate::upstream::UpResp;

pub(crate) const PATH: &str = "/api-ewe/v1/rest/additionalinformations";

/// Rewrite: the caller's body with the account's credentials in `credential`.
fn body_for(m: &Map<String, Value>, l: &Link) -> Map<String, Value> {
    let mut b = m.clone();
    strip_keys(&mut b);
    b.insert(
        "credential".into(),
        json!({"login": l.account.upstream_login, "password": l.account.upstream_password}),
    );
    b.insert(
        "partnerClientCode".into(),
        Value::String(l.account.upstream_login.clone()),
    );
    b
}

pub(crate) async fn handle(gw: &Inner, r: Req) -> R<Resp> {
    let body = read_body(r.body, &r.headers, gw.cfg.max_body_bytes).await?;
    let m = parse_object(&body)?;
    if !matches!(
        m.get("credential"),
        None | Some(Value::Null) | Some(Value::Object(_))
    ) {
        return Err(GatewayError::BadRequest(
            "le champ credential doit être un objet".into(),
        ));
    }
    let mut c = credentials(Service::Eligibility, &r.headers, &m);
    let p = authenticate_creds(gw, &mut c, r.ip).await?;
    let is_legacy = c.legacy.is_some();
    let explicit = c.account;

    if explicit.is_some() || is_legacy {
        let link = select(
            gw,
            &p,
            explicit.as_deref(),
            Right::WsEligibility,
            "partnerClientCode",
        )?;
        let up = forward_json(gw, Service::Eligibility, PATH, &body_for(&m, link), false).await?;
        return Ok(pass(up));
    }

    // No account named: one answer per linked account holding the right (seed 000 §1).
    let links: Vec<&Link> = p.with_right(Right::WsEligibility).collect();
    if links.is_empty() {
        return Err(GatewayError::Forbidden(Right::WsEligibility.id()));
    }
    let results = fan_all(gw, Service::Eligibility, &links, |l| {
        let b = body_for(&m, l);
        async move {
            gw.limits.check_account(l.account_id)?;
            forward_json(gw, Service::Eligibility, PATH, &b, true).await
        }
    })
    .await;
    let answers: Vec<Answer> = links
        .iter()
        .zip(results)
        .map(|(l, res)| answer(l.number.as_str(), res))
        .collect();
    #[derive(serde::Serialize)]
    struct Answers<'a> {
        answers: Vec<Answer<'a>>,
    }
    let body = serde_json::to_vec(&Answers { answers })
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(bytes_resp(
        StatusCode::OK,
        "application/json;charset=UTF-8",
        Bytes::from(body),
    ))
}

/// One account's answer. Fields in alphabetical order, as the rest of the envelope.
#[derive(serde::Serialize)]
struct Answer<'a> {
    #[serde(rename = "accountNumber")]
    account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
    /// The carrier's answer as received (checked to be JSON, not rebuilt: with 20 accounts,
    /// parsing and re-serialising every offer list was most of the merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<Box<RawValue>>,
    status: &'static str,
}

fn answer(account: &str, res: R<UpResp>) -> Answer<'_> {
    let failed = |error| Answer {
        account,
        error: Some(error),
        response: None,
        status: "error",
    };
    match res {
        Ok(up) if up.status.is_success() => match serde_json::from_slice::<Box<RawValue>>(&up.body)
        {
            Ok(raw) => Answer {
                account,
                error: None,
                response: Some(raw),
                status: "ok",
            },
            Err(_) => failed(json!({"code": "upstream_error", "message": "Réponse illisible"})),
        },
        Ok(up) => {
            let msg = up
                .json()
                .and_then(|v| {
                    v.pointer("/messages/0/messageContent")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "Erreur du service".to_owned());
            failed(json!({"code": up.status.as_u16(), "message": msg}))
        }
        Err(e) => failed(account_entry(&e)),
    }
}
