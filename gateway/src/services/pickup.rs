//! Pickup points (`findRDVPointRetraitAcheminement`): key in the body (`apikey`), account in
//! `accountNumber` or `codTiersPourPartenaire`, right `ws_pickup_point`; errors in HTTP 200.

use sesame_domain::Right;

use super::credentials::credentials;
use super::kind::Service;
use super::phases::{authenticate_creds, forward_json, pass, select_into};
use super::request::{parse_object, read_body, Req};
use crate::error::R;
use crate::response::Resp;
use crate::state::Inner;

pub(crate) const PATH: &str =
    "/pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement";

pub(crate) async fn handle(gw: &Inner, r: Req) -> R<Resp> {
    let body = read_body(r.body, &r.headers, gw.cfg.max_body_bytes).await?;
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
