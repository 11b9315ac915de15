//! Pickup points (`findRDVPointRetraitAcheminement`): key in the body (`apikey`), account in
//! `accountNumber` or `codTiersPourPartenaire`, right `ws_pickup_point`; errors in HTTP 200.

use sesame_domain::Right;

use super::credentials::{credentials, is_key_name};
use super::kind::Service;
use super::members::Members;
use super::phases::{
    authenticate, authenticate_creds, forward_bytes, forward_json, object_body, pass, select,
    select_into, Field,
};
use super::request::{parse_object, read_body, Req};
use crate::error::R;
use crate::response::Resp;
use crate::state::Inner;

pub(crate) const PATH: &str =
    "/pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement";

pub(crate) async fn handle(gw: &Inner, r: Req) -> R<Resp> {
    let body = read_body(r.body, &r.headers, gw.cfg.max_body_bytes).await?;
    // The common body (a key and the search) is edited in place (`members.rs`); legacy
    // login/password and anything unusual go the general way below.
    if let Some(fast) = Members::parse(&body) {
        if let Some(key) = fast.str("apikey") {
            // Key and account borrowed from the body (no copies on the hot path).
            let account = fast
                .text("accountNumber")
                .or_else(|| fast.text("codTiersPourPartenaire"));
            let p = authenticate(gw, Some(key.as_bytes()), None, r.ip).await?;
            let link = select(
                gw,
                &p,
                account.as_deref(),
                Right::WsPickupPoint,
                "accountNumber",
            )?;
            // Rewrite: no key, the account's own login and password, nothing else changed.
            let mut members = Vec::with_capacity(body.len());
            fast.write_except(&mut members, |k| {
                !is_key_name(k)
                    && !matches!(k, "accountNumber" | "password" | "codTiersPourPartenaire")
            });
            let body = object_body(
                &[
                    ("accountNumber", Field::Json(&link.account.login_json)),
                    ("password", Field::Json(&link.account.password_json)),
                ],
                &members,
            )?;
            let up = forward_bytes(gw, Service::Pickup, PATH, &body, false).await?;
            return Ok(pass(up));
        }
    }
    let mut m = parse_object(&body)?;
    let mut c = credentials(Service::Pickup, &r.headers, &m);
    let p = authenticate_creds(gw, &mut c, r.ip).await?;
    select_into(
        gw,
        &p,
        c.account.as_deref(),
        Right::WsPickupPoint,
        "accountNumber",
        &mut m,
    )?;
    m.remove("codTiersPourPartenaire");
    let up = forward_json(gw, Service::Pickup, PATH, &m, false).await?;
    Ok(pass(up))
}
