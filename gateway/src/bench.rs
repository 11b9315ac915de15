//! Benchmark hooks for `sesame-benches` (not an API: hidden from the docs, changes with the code
//! it exposes). Each function runs the gateway's own phase code without the sockets around it;
//! where a handler's few lines of glue cannot be called on their own, they are mirrored here
//! line for line (and say which handler they mirror).

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{json, Map, Value};
use sesame_domain::{KeyHash, Right};
use sesame_store::PrincipalRecord;

use crate::auth::{Link, Principal};
use crate::error::GatewayError;
use crate::services::{self, PAGE_SIZE};
use crate::Gateway;

pub use crate::services::ParcelFilter;

/// Caches a principal as a load from the store would (shared account data, user index), without
/// the database read: memory benchmarks fill the cache with a million of them.
pub async fn cache_principal(gw: &Gateway, hash: KeyHash, rec: PrincipalRecord) {
    gw.inner.auth.insert_loaded(hash, rec).await;
}

/// Runs the principal cache's pending maintenance (entry counts and memory settle).
pub async fn settle_cache(gw: &Gateway) {
    gw.inner.auth.settle().await;
}

/// Phases 3+4 as a request with a connection key runs them: the caller's rate limit, then the
/// account (explicit, else the only one holding the right), the right on it, the account's rate
/// limit.
pub fn authorize<'p>(
    gw: &Gateway,
    p: &'p Principal,
    explicit: Option<&str>,
    right: Right,
) -> Result<&'p Link, GatewayError> {
    gw.inner.limits.check_user(p)?;
    services::select(&gw.inner, p, explicit, right, "contractNumber")
}

/// The parse phase's JSON object parser (every body-carrying service).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    services::parse_object(body)
}

/// The web services whose body carries the key or the account.
#[derive(Clone, Copy, Debug)]
pub enum BodyService {
    Labels,
    Tracking,
    Pickup,
    Eligibility,
}

/// What the parse phase extracts: the connection key (or legacy login/password) and the explicit
/// account, if any.
#[derive(Debug, Default)]
pub struct Credentials {
    pub key: Option<Vec<u8>>,
    pub legacy: Option<(String, String)>,
    pub account: Option<String>,
    /// Tracking: the parcel number (the account is the parcel's own).
    pub parcel: Option<String>,
}

/// Key and account out of a request, as each handler's parse phase reads them (mirrors the first
/// lines of `labels`, `tracking`, `pickup` and `eligibility` in `services.rs`).
pub fn key_and_account(
    svc: BodyService,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Credentials, GatewayError> {
    let m = services::parse_object(body)?;
    let text = |k: &str| services::text(m.get(k));
    Ok(match svc {
        BodyService::Labels => {
            let key = services::header_bytes(headers, "apikey").map(<[u8]>::to_vec);
            let legacy = if key.is_none() {
                services::legacy_creds(&m)
            } else {
                None
            };
            let account = if key.is_some() {
                text("contractNumber").or_else(|| services::free_field(&m, "ACCOUNT_NUMBER"))
            } else {
                None
            };
            Credentials {
                key,
                legacy,
                account,
                ..Credentials::default()
            }
        }
        BodyService::Tracking => {
            let key = m
                .get("apiKey")
                .and_then(Value::as_str)
                .map(|s| s.as_bytes().to_vec());
            let legacy = if key.is_none() {
                services::legacy_creds(&m)
            } else {
                None
            };
            Credentials {
                key,
                legacy,
                // No account: every linked account holding the right is asked for the parcel.
                account: None,
                parcel: text("parcelNumber"),
            }
        }
        BodyService::Pickup => {
            let key = m
                .get("apikey")
                .and_then(Value::as_str)
                .map(|s| s.as_bytes().to_vec());
            let legacy = if key.is_none() {
                services::legacy_creds(&m)
            } else {
                None
            };
            let account = if key.is_some() {
                text("accountNumber").or_else(|| text("codTiersPourPartenaire"))
            } else {
                None
            };
            Credentials {
                key,
                legacy,
                account,
                ..Credentials::default()
            }
        }
        BodyService::Eligibility => {
            let cred = m.get("credential").and_then(Value::as_object);
            let key = cred
                .and_then(|c| c.get("apiKey"))
                .and_then(Value::as_str)
                .map(|s| s.as_bytes().to_vec());
            let legacy = if key.is_none() {
                cred.and_then(|c| {
                    Some((
                        services::text(c.get("login"))?,
                        c.get("password")?.as_str()?.to_owned(),
                    ))
                })
            } else {
                None
            };
            Credentials {
                key,
                legacy,
                account: text("partnerClientCode"),
                ..Credentials::default()
            }
        }
    })
}

/// The tracking-tool search after the fan-out (mirrors `fan_private`'s merge and `search`'s
/// filter, sort, page and answer): each account's upstream answer is parsed, kept to the
/// account's own parcels inside the caller's scope that match `filter`, merged, sorted by deposit
/// date (most recent first), paged by 25 and serialised.
pub fn search_page(
    p: &Principal,
    answers: &[(&str, Bytes)],
    filter: &ParcelFilter,
    page: usize,
) -> Bytes {
    let mut items: Vec<Value> = Vec::new();
    let mut accounts = Vec::new();
    for (number, body) in answers {
        let Some(l) = p
            .link(number)
            .filter(|l| !Principal::tool_scope(l).is_none())
        else {
            continue;
        };
        let v: Option<Value> = serde_json::from_slice(body).ok();
        if let Some(list) = v
            .as_ref()
            .and_then(|v| v.get("parcels"))
            .and_then(Value::as_array)
        {
            items.extend(
                list.iter()
                    .filter(|parcel| {
                        parcel.get("accountNumber").and_then(Value::as_str)
                            == Some(l.number.as_str())
                            && p.in_scope(
                                Principal::tool_scope(l),
                                parcel.get("userKey").and_then(Value::as_str),
                                parcel.get("tag").and_then(Value::as_str),
                            )
                            && filter.matches(parcel)
                    })
                    .cloned(),
            );
        }
        accounts.push(json!({"accountNumber": l.number.as_str(), "status": "ok"}));
    }
    let mut parcels = items;
    parcels.sort_by(|a, b| {
        let d = |x: &Value| {
            x.get("depositDate")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let n = |x: &Value| {
            x.get("parcelNumber")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        d(b).cmp(&d(a)).then_with(|| n(a).cmp(&n(b)))
    });
    let total = parcels.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page_items: Vec<Value> = parcels
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    Bytes::from(
        json!({"total": total, "page": page, "pageSize": PAGE_SIZE, "pages": pages, "parcels": page_items, "accounts": accounts})
            .to_string(),
    )
}

/// Whether a parcel (owner key, tag) is visible on a link: the filter phase's per-parcel check.
pub fn parcel_visible(p: &Principal, l: &Link, user_key: Option<&str>, tag: Option<&str>) -> bool {
    p.in_scope(Principal::tool_scope(l), user_key, tag)
}
